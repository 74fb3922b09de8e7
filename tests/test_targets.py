"""The target registry: shapes, seeding, normalisation, moments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from playground.targets import TARGETS, SampleOnlyError, get_target, list_targets

ALL = list(TARGETS.values())
WITH_DENSITY = [t for t in ALL if t.has_log_prob]


@pytest.mark.parametrize("target", ALL, ids=lambda t: t.name)
def test_sample_shape_and_seed_reproducibility(target):
    a = target.sample(257, seed=3)
    assert a.shape == (257, target.dim)
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, target.sample(257, seed=3))
    assert not np.array_equal(a, target.sample(257, seed=4))


def test_registry_holds_the_required_targets():
    one_d = {t.name for t in list_targets(1)}
    two_d = {t.name for t in list_targets(2)}
    assert {"gaussian1d", "three_bumps", "lognormal", "student_t", "uniform1d"} <= one_d
    assert {"gaussian2d", "mog2d", "ring8", "grid25", "banana", "moons", "circles", "spiral",
            "checkerboard"} <= two_d


def test_sample_only_targets_say_so():
    for name in ("moons", "circles", "spiral"):
        target = get_target(name)
        assert not target.has_log_prob
        with pytest.raises(SampleOnlyError, match="sample-only"):
            target.log_prob(np.zeros((1, 2)))


def test_unknown_target_names_the_known_ones():
    with pytest.raises(KeyError, match="ring8"):
        get_target("nope")


def _integral(target, resolution):
    """Midpoint rule on a box wide enough to hold all the mass."""
    if target.dim == 1:
        lo, hi = {"student_t": (-4000.0, 4000.0), "lognormal": (0.0, 60.0)}.get(target.name, (-30.0, 30.0))
        if target.name == "student_t":
            # heavy tail: integrate analytically beyond +-4000 is < 1e-9; use a log-spaced grid
            edges = np.concatenate([-np.geomspace(4000, 1e-3, 200_000), np.geomspace(1e-3, 4000, 200_000)])
            edges = np.unique(np.concatenate([edges, [0.0]]))
        else:
            edges = np.linspace(lo, hi, resolution + 1)
        mids = 0.5 * (edges[1:] + edges[:-1])
        return float(np.sum(target.prob(mids[:, None]) * np.diff(edges)))
    # The plotting box plus a margin holds all but a negligible part of the mass; the
    # midpoint rule with h = 0.02 is spectrally accurate for the smallest modes
    # (sd 0.08) and its cell edges fall on the checkerboard's integer edges.
    margin = 3.0
    axes = []
    for lo, hi in target.bounds:
        lo, hi = np.floor(lo) - margin, np.ceil(hi) + margin
        edges = np.linspace(lo, hi, int(round((hi - lo) / 0.02)) + 1)
        axes.append(0.5 * (edges[1:] + edges[:-1]))
    xx, yy = np.meshgrid(*axes)
    dens = target.prob(np.stack([xx.ravel(), yy.ravel()], axis=1))
    return float(dens.sum() * 0.02**2)


@pytest.mark.parametrize("target", WITH_DENSITY, ids=lambda t: t.name)
def test_log_prob_integrates_to_one(target):
    resolution = 400_000
    assert _integral(target, resolution) == pytest.approx(1.0, abs=1e-3)


def _mixture_moments(target):
    params = target.mixture
    mean = params.weights @ params.means
    second = sum(w * (c + np.outer(m, m)) for w, m, c in zip(params.weights, params.means, params.covariances))
    return mean, second - np.outer(mean, mean)


KNOWN_MOMENTS = {
    "gaussian1d": (np.array([1.0]), np.array([[2.25]])),
    "lognormal": (np.array([np.exp(0.18)]), np.array([[(np.exp(0.36) - 1) * np.exp(0.36)]])),
    "student_t": (np.array([0.0]), np.array([[3.0]])),
    "uniform1d": (np.array([0.0]), np.array([[16 / 12]])),
    # banana: x1 ~ N(0, 1.5^2); x2 = 0.5 (x1^2 - 2.25) + e -> E x2 = 0, Var x2 = 0.25 * 2 * 1.5^4 + 1
    "banana": (np.zeros(2), np.array([[2.25, 0.0], [0.0, 0.25 * 2 * 1.5**4 + 1.0]])),
    # checkerboard: 8 unit squares of a 4x4 board on [-2,2]^2 -> mean 0, per-axis variance 4^2 / 12
    "checkerboard": (np.zeros(2), np.array([[16 / 12, None], [None, 16 / 12]], dtype=object)),
}


@pytest.mark.parametrize("target", [t for t in ALL if t.mixture is not None or t.name in KNOWN_MOMENTS],
                         ids=lambda t: t.name)
def test_sampled_moments_match_known_moments(target):
    n = 200_000
    x = target.sample(n, seed=11)
    mean, cov = _mixture_moments(target) if target.mixture is not None else KNOWN_MOMENTS[target.name]
    sample_cov = np.atleast_2d(np.cov(x.T))
    for i in range(target.dim):
        sd = np.sqrt(float(cov[i, i]))
        # 6 standard errors of the mean: fails only for a wrong sampler
        assert abs(x[:, i].mean() - mean[i]) < 6 * sd / np.sqrt(n) + 1e-12
        if target.name != "student_t":  # infinite fourth moment: the variance estimate is too noisy
            assert sample_cov[i, i] == pytest.approx(float(cov[i, i]), rel=0.03)
    if target.dim == 2 and cov[0, 1] is not None:
        assert sample_cov[0, 1] == pytest.approx(float(cov[0, 1]), abs=0.03 * np.sqrt(float(cov[0, 0] * cov[1, 1])))


@pytest.mark.parametrize("name", ["gaussian1d", "lognormal", "student_t", "uniform1d", "three_bumps"])
def test_1d_samples_follow_their_density(name):
    """Kolmogorov-Smirnov against the CDF obtained by integrating log_prob numerically."""
    target = get_target(name)
    x = np.sort(target.sample(5000, seed=5)[:, 0])
    grid = np.linspace(x[0] - 1, x[-1] + 1, 200_001)
    dens = target.prob(grid[:, None])
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    result = stats.kstest(x, lambda v: np.interp(v, grid, cdf))
    assert result.pvalue > 1e-3


def test_mixture_log_prob_matches_scipy():
    target = get_target("mog2d")
    x = target.sample(50, seed=1)
    p = target.mixture
    expected = np.log(sum(w * stats.multivariate_normal(m, c).pdf(x)
                          for w, m, c in zip(p.weights, p.means, p.covariances)))
    np.testing.assert_allclose(target.log_prob(x), expected, rtol=1e-10)
