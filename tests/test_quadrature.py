"""The numbers moved out of ui/ and figures/ (issue #14), each against an independent reference:
SciPy's own integrals and distributions, closed forms, scikit-learn and pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from playground.quadrature import grid_marginals, kl_normal_quad, trapezoid_marginals
from playground.smoothing import running_mean


def _kl_normal_closed_form(m1: float, s1: float, m2: float, s2: float) -> float:
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


@pytest.mark.parametrize("m1, s1, m2, s2", [(0.0, 1.0, 1.0, 2.0), (1.0, 2.0, 0.0, 1.0), (-3.0, 0.2, 4.0, 3.0),
                                            (0.5, 1.5, 0.5, 1.5)])
def test_kl_normal_quad_matches_the_closed_form(m1, s1, m2, s2):
    assert kl_normal_quad(m1, s1, m2, s2) == pytest.approx(_kl_normal_closed_form(m1, s1, m2, s2), abs=1e-9)


def test_kl_normal_quad_matches_scipy_densities_integrated_separately():
    p, q = stats.norm(0.3, 0.7), stats.norm(-1.0, 1.3)
    reference, _ = integrate.quad(lambda t: p.pdf(t) * (p.logpdf(t) - q.logpdf(t)), -np.inf, np.inf)
    assert kl_normal_quad(0.3, 0.7, -1.0, 1.3) == pytest.approx(reference, rel=1e-8)


def test_grid_marginals_of_a_correlated_gaussian_are_its_normal_marginals():
    x, y = np.linspace(-6, 6, 241), np.linspace(-5, 7, 221)
    mean, cov = np.array([0.5, 1.0]), np.array([[1.2, 0.6], [0.6, 0.9]])
    mesh = np.stack(np.meshgrid(x, y), axis=-1)
    log_p = stats.multivariate_normal(mean, cov).logpdf(mesh) + 17.0  # any constant: normalised away
    density, (px, py) = grid_marginals(log_p, (x, y))
    assert density.shape == (len(y), len(x))
    assert density.sum() * (x[1] - x[0]) * (y[1] - y[0]) == pytest.approx(1.0)
    np.testing.assert_allclose(px, stats.norm.pdf(x, mean[0], math.sqrt(cov[0, 0])), atol=2e-4)
    np.testing.assert_allclose(py, stats.norm.pdf(y, mean[1], math.sqrt(cov[1, 1])), atol=2e-4)


def test_trapezoid_marginals_of_a_product_density():
    x, y = np.linspace(-5, 5, 201), np.linspace(-4, 8, 181)
    fx, fy = stats.norm.pdf(x, 0.0, 1.0), stats.gamma.pdf(y + 4, a=3.0)
    px, py = trapezoid_marginals(fy[:, None] * fx[None, :], (x, y))
    np.testing.assert_allclose(px, fx * integrate.trapezoid(fy, y), rtol=1e-12)
    np.testing.assert_allclose(py, fy * integrate.trapezoid(fx, x), rtol=1e-12)
    np.testing.assert_allclose(px, fx, atol=2e-3)


def test_energy_landscape_marginals_match_the_gaussian_target():
    from playground.mcmc import energy_landscape
    from playground.targets import get_target

    axes, log_p, (px, py) = energy_landscape("gaussian2d", resolution=160)
    target = get_target("gaussian2d")
    assert log_p.shape == (160, 160)
    mesh = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    differences = log_p.ravel() - target.log_prob(mesh)  # the same density up to a constant
    assert np.ptp(differences) < 1e-9
    inside = stats.norm.cdf(3.5) - stats.norm.cdf(-3.5)  # the box holds this much of each marginal
    np.testing.assert_allclose(px, stats.norm.pdf(axes[0]) / inside, atol=3e-3)
    np.testing.assert_allclose(py, stats.norm.pdf(axes[1]) / inside, atol=3e-3)


@pytest.mark.parametrize("n", [1, 4, 5, 57, 200, 1000])
def test_running_mean_matches_pandas_rolling_mean(n):
    values = np.random.default_rng(n).normal(size=n)
    window, means = running_mean(values)
    assert window == max(1, min(25, n // 5))
    reference = pd.Series(values).rolling(window).mean().to_numpy()[window - 1:]
    np.testing.assert_allclose(means, reference, atol=1e-12)


# ----------------------------------------------------------------------------------
# Densities, KL and paths behind the KL, EM, latent and samplers pages
# ----------------------------------------------------------------------------------

def test_mixture_curves_match_scipy_and_a_collapsed_component_draws_without_nan():
    from playground.mixture import mixture_curves_1d

    collapsed = mixture_curves_1d(np.array([[0.0], [1.0]]), np.array([0.5, 0.5]), np.array([[0.0], [1.0]]),
                                  np.array([0.0, 1.0]))
    assert np.isfinite(collapsed.weighted).all() and np.isfinite(collapsed.responsibilities).all()
    weights, means, variances = np.array([0.3, 0.7]), np.array([[-1.0], [2.0]]), np.array([0.5, 1.5])
    data = np.array([[-2.0], [3.0]])
    curves = mixture_curves_1d(data, weights, means, variances.reshape(2, 1, 1))
    assert curves.grid[0] == -3.0 and curves.grid[-1] == 4.0 and len(curves.grid) >= 600  # + points near each mean
    assert np.isin(np.linspace(-3.0, 4.0, 600), curves.grid).all()
    expected = np.stack([w * stats.norm.pdf(curves.grid, m[0], math.sqrt(v)) for w, m, v in zip(weights, means, variances)])
    np.testing.assert_allclose(curves.weighted, expected, rtol=1e-12)
    np.testing.assert_allclose(curves.mixture, expected.sum(0), rtol=1e-12)
    np.testing.assert_allclose(curves.responsibilities.sum(0), 1.0)
    narrow = mixture_curves_1d(data, weights, means, variances, x_range=(-1, 1), n_points=11).grid
    assert narrow[0] == -1 and narrow[-1] == 1 and np.isin(np.linspace(-1, 1, 11), narrow).all()


def test_density_values_match_scipy_for_a_mixture():
    from playground.distributions import GaussianMixture
    from playground.divergences import density_values

    weights, means = np.array([0.4, 0.6]), np.array([[0.0, 1.0], [2.0, -1.0]])
    covariances = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 2.0]]])
    points = np.random.default_rng(0).normal(size=(30, 2))
    expected = sum(w * stats.multivariate_normal(m, c).pdf(points) for w, m, c in zip(weights, means, covariances))
    values = density_values(GaussianMixture(weights, means, covariances), points)
    assert isinstance(values, np.ndarray)
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_fit_paths_follow_the_recorded_snapshots():
    from playground.distributions import GaussianMixture
    from playground.divergence_fit import FitConfig, FitRace, fit_paths
    from playground.divergences import make_target

    race = FitRace(GaussianMixture.from_params(make_target(1, 2, 4.0)),
                   config=FitConfig(start_mean=(1.0,), n_samples=200, batch_size=32), seed=0)
    race.step(3)
    means, mean_std = fit_paths(race), fit_paths(race, mean_and_std=True)
    for name, path in race.paths.items():
        assert means[name].shape == (len(path), 1) and mean_std[name].shape == (len(path), 2)
        for row, snapshot in zip(means[name], path):
            np.testing.assert_allclose(row, (snapshot["weights"][:, None] * snapshot["means"]).sum(0))
        np.testing.assert_allclose(mean_std[name][:, 1] ** 2, [s["covariances"][0, 0, 0] for s in path])
    assert mean_std["forward_kl"][0, 1] == pytest.approx(1.0)  # the start std


def test_posterior_kl_is_the_closed_form_and_the_general_gaussian_kl():
    from playground.autoencoders import posterior_kl
    from playground.divergences import kl_gaussians

    mu, sigma = np.array([0.3, -1.2, 2.0]), np.array([0.5, 1.7, 1.0])
    direct = 0.5 * float(np.sum(sigma**2 + mu**2 - 1 - np.log(sigma**2)))
    assert posterior_kl(mu, sigma) == pytest.approx(direct, rel=1e-12)
    assert posterior_kl(mu, sigma) == pytest.approx(kl_gaussians(mu, np.diag(sigma**2), np.zeros(3), np.eye(3)),
                                                    rel=1e-12)
    assert posterior_kl(np.zeros(2, dtype=np.float32), np.ones(2, dtype=np.float32)) == 0.0


def test_normal_reference_density_and_quantiles():
    from playground.sampling import normal_reference

    z = np.random.default_rng(1).standard_normal(10_000)
    reference = normal_reference(z)
    np.testing.assert_allclose(reference.density, np.exp(-0.5 * reference.grid**2) / math.sqrt(2 * math.pi))
    assert integrate.trapezoid(reference.density, reference.grid) == pytest.approx(1.0, abs=1e-4)
    assert len(reference.theoretical) == len(reference.sample) == 2000  # every 5th of 10,000
    assert np.all(np.diff(reference.sample) >= 0) and np.all(np.diff(reference.theoretical) > 0)
    # the empirical CDF at the sample quantile is the probability of the normal quantile
    probabilities = np.searchsorted(np.sort(z), reference.sample, side="right") / len(z)
    np.testing.assert_allclose(probabilities, 0.5 * (1 + np.vectorize(math.erf)(reference.theoretical / math.sqrt(2))),
                               atol=1e-4)
    assert np.max(np.abs(reference.sample - reference.theoretical)[50:-50]) < 0.1  # QQ plot on the diagonal


def test_rejection_proposals_have_their_textbook_densities():
    from playground.sampling import REJECTION_PROPOSALS, rejection_proposal

    x = np.linspace(-3, 3, 13)
    s = 1.7
    np.testing.assert_allclose(rejection_proposal("gaussian", s, (-3, 3)).pdf(x),
                               np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi)))
    np.testing.assert_allclose(rejection_proposal("cauchy", s, (-3, 3)).pdf(x), 1 / (math.pi * s * (1 + (x / s) ** 2)))
    np.testing.assert_allclose(rejection_proposal("uniform", s, (-2, 4)).pdf(x), np.where((x >= -2) & (x <= 4), 1 / 6, 0))
    assert set(REJECTION_PROPOSALS) == {"gaussian", "cauchy", "uniform"}


def test_goodness_of_fit_tests():
    from playground.sampling import chisquare_pvalue, ks_test

    z = np.random.default_rng(2).standard_normal(2000)
    result = ks_test(z)
    reference = np.max(np.abs(np.arange(1, 2001) / 2000 - stats.norm.cdf(np.sort(z))))  # D+ side
    assert result.statistic >= reference and result.statistic == pytest.approx(reference, abs=1 / 2000)
    assert result.pvalue > 0.01 and ks_test(z + 0.5).pvalue < 1e-6
    assert ks_test(z, stats.norm(0, 1).cdf).statistic == result.statistic
    counts, expected = np.array([18, 22, 60]), np.array([20.0, 20.0, 60.0])
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    assert chisquare_pvalue(counts, expected) == pytest.approx(math.exp(-statistic / 2))  # chi^2 with 2 dof


def test_binned_densities_match_numpy_density_histograms():
    from playground.sampling import binned_density, binned_in_window, marginal_histograms

    values = np.random.default_rng(3).normal(size=4000)
    edges = np.linspace(-2, 2, 41)
    with_nan = np.r_[values, np.nan, np.inf]
    inside = values[(values >= -2) & (values <= 2)]
    expected = np.histogram(inside, bins=edges, density=True)[0]
    np.testing.assert_allclose(binned_density(with_nan, edges).density, expected)
    window = binned_in_window(values, -2.0, 2.0, bins=40)
    np.testing.assert_array_equal(window.edges, edges)
    np.testing.assert_allclose(window.density, expected * inside.size / values.size)  # a density of all samples
    assert (window.density * np.diff(edges)).sum() == pytest.approx(inside.size / values.size)
    np.testing.assert_allclose(binned_in_window(values, -2.0, 2.0, bins=40, of_all=False).density, expected)
    assert not binned_density(np.array([5.0]), edges).density.any()

    samples = np.random.default_rng(4).normal(size=(100, 5, 2))
    axes = (np.linspace(-3, 3, 30), np.linspace(-2, 4, 30))
    first, second = marginal_histograms(samples, axes, bins=25)
    for histogram, column, axis in ((first, 0, axes[0]), (second, 1, axes[1])):
        np.testing.assert_array_equal(histogram.edges, np.linspace(axis[0], axis[-1], 26))
        np.testing.assert_allclose(histogram.density,
                                   np.histogram(samples.reshape(-1, 2)[:, column], bins=histogram.edges, density=True)[0])
