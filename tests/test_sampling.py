"""The classical samplers against SciPy, closed forms and seeded statistical tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from playground import sampling as S
from playground.targets import THREE_BUMPS, get_target, list_targets

N_BIG = 100_000


# --- LCG ---------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", list(S.LCG_PRESETS))
def test_lcg_reproduces_the_recurrence_exactly(preset):
    params = S.LCG_PRESETS[preset]
    m, a, c = params["m"], params["a"], params["c"]
    seed = 12345 % m or 1
    expected, x = [], seed
    for _ in range(1000):  # exact integer arithmetic in Python
        x = (a * x + c) % m
        expected.append(x)
    assert S.lcg(1000, m, a, c, seed).tolist() == expected


def test_lcg_uniform_is_state_over_m():
    states = S.lcg(50, 2**31 - 1, 16807, 0, 7)
    np.testing.assert_array_equal(S.lcg_uniform(50, 2**31 - 1, 16807, 0, 7), states / (2**31 - 1))


def test_randu_triples_satisfy_the_three_term_recurrence():
    x = S.lcg(5000, 2**31, 65539, 0, 1).astype(object)  # Python ints: no overflow
    residual = [(x[k + 2] - 6 * x[k + 1] + 9 * x[k]) % 2**31 for k in range(len(x) - 2)]
    assert set(residual) == {0}


def test_randu_triples_lie_on_15_planes():
    u = S.lcg_uniform(30_000, 2**31, 65539, 0, 1)
    offsets = S.randu_plane_offsets(u)
    np.testing.assert_allclose(offsets, np.round(offsets), atol=1e-6)
    assert len(np.unique(np.round(offsets))) == 15
    # A good generator's triples do not: the same combination takes many non-integer values.
    good = S.randu_plane_offsets(np.random.default_rng(0).random(30_000))
    assert np.abs(good - np.round(good)).max() > 0.4


def test_serial_test_flags_randu_but_not_minstd_or_numpy():
    randu = S.lcg_uniform(30_000, 2**31, 65539, 0, 1)
    minstd = S.lcg_uniform(30_000, 2**31 - 1, 16807, 0, 1)
    assert S.serial_test(randu, 3, 12)[1] < 1e-10
    assert S.serial_test(minstd, 3, 12)[1] > 0.01
    assert S.serial_test(np.random.default_rng(3).random(30_000), 3, 12)[1] > 0.01


def test_uniformity_test_matches_scipy():
    u = np.random.default_rng(1).random(5000)
    result = S.uniformity_test(u, bins=20)
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    reference = stats.chisquare(counts)
    assert result.chi2 == pytest.approx(reference.statistic)
    assert result.chi2_pvalue == pytest.approx(reference.pvalue)
    assert result.ks == pytest.approx(stats.kstest(u, "uniform").statistic)


def test_uniformity_test_rejects_a_non_uniform_sequence():
    u = np.random.default_rng(2).random(5000) ** 1.3
    assert S.uniformity_test(u).chi2_pvalue < 1e-6


@pytest.mark.parametrize("m,a,c", [(64, 21, 11), (64, 19, 11), (81, 28, 5), (100, 21, 3), (97, 5, 0), (50, 11, 10)])
def test_lcg_period_matches_brute_force_and_hull_dobell(m, a, c):
    seen, x, t = {}, 1, 0
    while x not in seen:
        seen[x] = t
        x, t = (a * x + c) % m, t + 1
    tail, period = S.lcg_period(m, a, c, 1)
    assert (tail, period) == (seen[x], t - seen[x])
    if c:
        assert S.hull_dobell(m, a, c)["full period m"] == (period == m)


@pytest.mark.parametrize("m", [97, 101, 128, 1024, 3 * 7 * 11, 2**12 + 1])
def test_lcg_period_theory_matches_brute_force(m):
    for a in (3, 5, 7, 13, 17):
        for seed in (1, 2, 6, 33):
            predicted = S.lcg_period_theory(m, a % m, 0, seed % m)
            if predicted is not None:
                assert predicted == S.lcg_period(m, a % m, 0, seed % m)[1]
    assert S.lcg_period_theory(m, 1, 1, 0) == m  # a = 1, c = 1 always has full period


def test_famous_periods():
    assert S.lcg_period_theory(2**31 - 1, 16807, 0, 1) == 2**31 - 2  # MINSTD: 16807 is a primitive root
    assert S.lcg_period_theory(2**31, 65539, 0, 1) == 2**29  # RANDU with an odd seed
    assert S.lcg_period_theory(2**32, 1664525, 1013904223, 0) == 2**32


def test_lcg_rejects_bad_parameters():
    with pytest.raises(ValueError, match="modulus"):
        S.lcg(10, 2**40, 3, 1, 1)
    with pytest.raises(ValueError, match="seed"):
        S.lcg(10, 16, 3, 1, 20)


# --- Box-Muller and polar ---------------------------------------------------------------

@pytest.mark.parametrize("sampler", [S.box_muller, S.marsaglia_polar])
def test_normal_samplers_pass_ks_and_moments(sampler):
    z = sampler(N_BIG, 2024)
    assert z.shape == (N_BIG,)
    assert stats.kstest(z, "norm").pvalue > 0.01
    assert abs(z.mean()) < 4 / math.sqrt(N_BIG)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / N_BIG)  # SE of the sample variance of N(0, 1)


def test_box_muller_pairs_are_uncorrelated_and_same_seed_same_draws():
    stages = S.box_muller_stages(50_000, 5)
    assert abs(np.corrcoef(stages.z1, stages.z2)[0, 1]) < 4 / math.sqrt(50_000)
    np.testing.assert_array_equal(S.box_muller(10, 3), S.box_muller(10, 3))
    np.testing.assert_allclose(stages.radius**2, stages.z1**2 + stages.z2**2)


def test_box_muller_torch_is_standard_normal(device):
    z = S.box_muller_torch(N_BIG, 0, device=device)
    assert z.device.type == device.type
    assert stats.kstest(z.cpu().numpy(), "norm").pvalue > 0.01


def test_polar_acceptance_rate_is_pi_over_4():
    stages = S.polar_stages(N_BIG, 9)
    se = math.sqrt(math.pi / 4 * (1 - math.pi / 4) / N_BIG)
    assert abs(stages.acceptance_rate - math.pi / 4) < 4 * se
    assert stages.z1.size == stages.accepted.sum()


# --- inverse CDF ------------------------------------------------------------------------

SCIPY_REFERENCES = {"exponential": stats.expon(scale=1 / 1.5), "cauchy": stats.cauchy(scale=0.7),
                    "laplace": stats.laplace(scale=0.7), "logistic": stats.logistic(scale=0.7)}


@pytest.mark.parametrize("name", list(SCIPY_REFERENCES))
def test_closed_form_inverse_cdf_matches_scipy(name):
    dist = S.closed_form_inverse_cdfs(rate=1.5, scale=0.7)[name]
    reference = SCIPY_REFERENCES[name]
    u = np.linspace(0.01, 0.99, 99)
    np.testing.assert_allclose(dist.quantile(u), reference.ppf(u), rtol=1e-10, atol=1e-12)
    xs = np.linspace(*dist.bounds, 50)
    np.testing.assert_allclose(dist.cdf(xs), reference.cdf(xs), atol=1e-12)
    np.testing.assert_allclose(dist.pdf(xs), reference.pdf(xs), rtol=1e-9, atol=1e-12)
    samples = S.inverse_cdf_sample(20_000, dist.quantile, seed=4)
    assert stats.kstest(samples, reference.cdf).pvalue > 0.01


def _registry_cdf(name):
    if name == "three_bumps":
        params = THREE_BUMPS
        return lambda x: sum(w * stats.norm.cdf(x, m[0], math.sqrt(c[0, 0]))
                             for w, m, c in zip(params.weights, params.means, params.covariances))
    return {"gaussian1d": stats.norm(1.0, 1.5).cdf, "lognormal": stats.lognorm(s=0.6).cdf,
            "student_t": stats.t(df=3).cdf, "uniform1d": stats.uniform(-2.0, 4.0).cdf}[name]


@pytest.mark.parametrize("target", [t.name for t in list_targets(1, with_log_prob=True)])
def test_numerical_inverse_cdf_matches_each_registry_target(target):
    target = get_target(target)
    low, high = target.bounds[0]
    dist = S.numerical_inverse_cdf(lambda x: target.log_prob(x), (low, high), grid_size=4001)
    samples = S.inverse_cdf_sample(20_000, dist.quantile, seed=8)
    reference = _registry_cdf(target.name)
    # Truncation to the plotting box removes a sliver of tail mass: compare the truncated CDF.
    mass = reference(high) - reference(low)
    truncated = lambda x: (reference(np.clip(x, low, high)) - reference(low)) / mass  # noqa: E731
    assert stats.kstest(samples, truncated).pvalue > 0.01
    assert np.all((samples >= low) & (samples <= high))


def test_numerical_inverse_cdf_rejects_a_zero_density():
    with pytest.raises(ValueError, match="zero"):
        S.numerical_inverse_cdf(lambda x: np.full_like(x, -np.inf), (0.0, 1.0))


# --- Cholesky -----------------------------------------------------------------------------

def test_cholesky_samples_have_the_requested_mean_and_covariance():
    mean = np.array([1.0, -2.0])
    cov = S.covariance_2d(1.5, 0.5, -0.7)
    n = N_BIG
    x = S.mvn_cholesky(mean, cov, n, seed=11)
    sample_cov = np.cov(x.T)
    # SE of a sample covariance entry of a Gaussian: sqrt((S_ij^2 + S_ii S_jj) / n)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(sample_cov - cov) < 4 * se)
    assert np.all(np.abs(x.mean(0) - mean) < 4 * np.sqrt(np.diag(cov) / n))


def test_cholesky_stages_compose_to_mu_plus_lz():
    stages = S.mvn_cholesky_stages([0.5, 0.5], S.covariance_2d(2, 1, 0.3), 10, seed=0)
    np.testing.assert_allclose(stages.chol @ stages.chol.T, S.covariance_2d(2, 1, 0.3))
    np.testing.assert_allclose(stages.x, stages.z @ stages.chol.T + 0.5)


@pytest.mark.parametrize("cov", [S.covariance_2d(1, 1, 1.0), [[1, 2], [2, 1]], [[0, 0], [0, 1]], [[1, 0.5], [0.2, 1]],
                                 [[np.nan, 0], [0, 1]]])
def test_non_positive_definite_covariance_gets_a_clear_error(cov):
    with pytest.raises(S.NotPositiveDefiniteError):
        S.mvn_cholesky([0, 0], cov, 5, seed=0)


def test_sigma_ellipses_hold_the_chi_square_mass():
    cov = S.covariance_2d(1.0, 2.0, 0.6)
    x = S.mvn_cholesky([0, 0], cov, 50_000, seed=3)
    d2 = S.mahalanobis_squared(x, [0, 0], cov)
    for radius in (1, 2, 3):
        expected = 1 - math.exp(-radius**2 / 2)
        assert S.mass_inside_sigma_ellipse(radius) == pytest.approx(expected)
        assert abs((d2 <= radius**2).mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / 50_000)
    from playground.figures.primitives import ellipse  # the drawn 2-sigma contour, checked by the sampler's metric

    np.testing.assert_allclose(S.mahalanobis_squared(ellipse([0, 0], cov, 2.0), [0, 0], cov), 4.0)


# --- mixtures and rejection ---------------------------------------------------------------

def test_prefix_sum_categorical_matches_the_definition():
    weights = np.array([0.2, 0.5, 0.3])
    u = np.array([0.0, 0.19999, 0.2, 0.69999, 0.7, 0.99999])
    assert S.categorical_by_prefix_sums(weights, u).tolist() == [0, 0, 1, 1, 2, 2]


def test_mixture_component_frequencies_match_weights():
    weights = [0.1, 0.6, 0.3]
    means = [[-2, 0], [0, 2], [2, 0]]
    covs = [np.eye(2) * 0.3] * 3
    x, components = S.mixture_sample(weights, means, covs, 30_000, seed=5)
    counts = np.bincount(components, minlength=3)
    assert stats.chisquare(counts, np.array(weights) * 30_000).pvalue > 0.01
    for k in range(3):  # each component's points come from its own Gaussian
        assert np.abs(x[components == k].mean(0) - means[k]).max() < 4 * math.sqrt(0.3 / counts[k])


def test_mixture_rejects_bad_parameters():
    with pytest.raises(ValueError, match="non-negative"):
        S.mixture_sample([-1, 2], [[0, 0], [1, 1]], [np.eye(2)] * 2, 5, seed=0)
    with pytest.raises(S.NotPositiveDefiniteError, match="component 2"):
        S.mixture_sample([1, 1], [[0, 0], [1, 1]], [np.eye(2), [[1, 1], [1, 1]]], 5, seed=0)


def test_rejection_sampling_is_exact_and_accepts_one_over_m():
    target = get_target("three_bumps")
    pdf = lambda x: target.prob(x)  # noqa: E731
    proposal = stats.norm(0, 3)
    grid = np.linspace(-8, 8, 4001)
    envelope = S.envelope_constant(pdf, proposal.pdf, grid) * 1.05
    draw = S.rejection_sample(60_000, pdf, lambda n, g: proposal.rvs(n, random_state=g), proposal.pdf, envelope, seed=6)
    se = math.sqrt((1 / envelope) * (1 - 1 / envelope) / 60_000)
    assert abs(draw.acceptance_rate - 1 / envelope) < 4 * se
    assert stats.kstest(draw.samples, _registry_cdf("three_bumps")).pvalue > 0.01
    assert S.envelope_violation(pdf, proposal.pdf, envelope, grid) <= 0
    assert S.envelope_violation(pdf, proposal.pdf, envelope / 2, grid) > 0


# --- figures ------------------------------------------------------------------------------

def test_histogram_density_integrates_to_one_and_never_divides_by_zero():
    from playground.sampling import histogram_density

    edges = np.linspace(-3, 3, 31)
    density = histogram_density(np.random.default_rng(0).standard_normal(5000), edges)
    assert (density * np.diff(edges)).sum() == pytest.approx(1.0)
    assert not histogram_density(np.array([10.0, 11.0]), edges).any()


def test_randu_edge_on_view_looks_along_a_direction_inside_the_planes():
    from playground.figures.sampling import consecutive_triples

    u = S.lcg_uniform(300, 2**31, 65539, 0, 1)
    fig = consecutive_triples(u, S.randu_plane_offsets(u), along_planes=True)
    eye = fig.layout.scene.camera.eye
    assert 9 * eye.x - 6 * eye.y + 1 * eye.z == pytest.approx(0.0, abs=1e-12)
    colours = np.asarray(fig.data[0].marker.color)
    np.testing.assert_allclose(colours, np.round(colours), atol=1e-6)  # one integer value per plane


def test_ancestral_figure_bar_splits_unit_interval_by_weights():
    from playground.figures.sampling import ancestral_figure

    weights = np.array([0.2, 0.5, 0.3])
    draw = S.ancestral_sample(weights, [[0, 0], [2, 0], [0, 2]], [np.eye(2)] * 3, 50, seed=0)
    fig = ancestral_figure(weights, draw.uniforms, draw.components, draw.x, [])
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.base[0] for b in bars] == pytest.approx([0.0, 0.2, 0.7])
    assert sum(b.x[0] for b in bars) == pytest.approx(1.0)


def test_mixture_density_grid_matches_scipy_and_integrates_to_one():
    from scipy import stats

    from playground.sampling import mixture_density_grid

    weights, means = np.array([2.0, 1.0]), np.array([[0.0, 0.0], [3.0, 1.0]])
    covariances = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 0.8]]])
    xs, ys, p = mixture_density_grid(weights, means, covariances, np.array([[-6.0, 9.0], [-6.0, 7.0]]), resolution=200)
    x, y = np.meshgrid(xs, ys)
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    reference = (2 / 3) * stats.multivariate_normal(means[0], covariances[0]).pdf(points) \
        + (1 / 3) * stats.multivariate_normal(means[1], covariances[1]).pdf(points)
    np.testing.assert_allclose(p.ravel(), reference, rtol=1e-10)
    assert np.trapezoid(np.trapezoid(p, xs, axis=1), ys) == pytest.approx(1.0, abs=1e-3)


def test_polar_figure_numbers_each_followed_candidate_and_its_normal_pair():
    from playground.figures.sampling import polar_square
    from playground.sampling import polar_stages

    stages = polar_stages(500, seed=3)
    fig = polar_square(stages.v1, stages.v2, stages.accepted, stages.z1, stages.z2)
    followed = [trace for trace in fig.data if trace.name == "followed"]
    assert len(followed) == 2 and list(followed[0].text) == [str(i) for i in range(1, 9)]
    v = np.stack([followed[0].x, followed[0].y], axis=1)
    s = (v**2).sum(axis=1)
    expected = v * np.sqrt(-2 * np.log(s) / s)[:, None]  # Marsaglia's map, written out
    np.testing.assert_allclose(np.stack([followed[1].x, followed[1].y], axis=1), expected, rtol=1e-12)
