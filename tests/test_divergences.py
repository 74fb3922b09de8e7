"""Divergences and divergence fits, checked against closed forms, SciPy and seeded statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, spatial, stats

from playground.divergence_fit import (
    DivergenceFit,
    FitConfig,
    FitRace,
    kl_landscape_1d,
    mle_decomposition,
    moment_matching,
    reverse_kl_local_optima,
)
from playground.distributions import GaussianMixture
from playground.divergences import (
    GridQuadrature,
    divergence_table,
    entropy_grid,
    gaussian_entropy,
    js_from_log_densities,
    kl_discrete,
    kl_discrete_terms,
    kl_gaussians,
    kl_grid,
    kl_monte_carlo,
    make_target,
    mmd2_mixtures,
    mmd2_samples,
    tv_from_log_densities,
    w1_cdf_1d,
    w1_samples_1d,
)


def bimodal(device=None) -> GaussianMixture:
    """Two well-separated equal modes at -3 and +3, standard deviation 0.5."""
    return GaussianMixture.from_params(make_target(1, 2, 6.0, [1, 1], [0.5, 0.5]), device=device)


# ----------------------------------------------------------------------------------
# Discrete KL: the lecture's worked example
# ----------------------------------------------------------------------------------


def test_discrete_kl_matches_the_lecture_example():
    p, q = np.array([9, 12, 4]) / 25, np.ones(3) / 3
    assert kl_discrete(p, q) == pytest.approx(0.0852996, abs=1e-6)
    assert kl_discrete(q, p) == pytest.approx(0.097455, abs=1e-6)
    # the exact forms written on the slide
    assert kl_discrete(p, q) == pytest.approx((32 * math.log(2) + 55 * math.log(3) - 50 * math.log(5)) / 25, abs=1e-12)
    assert kl_discrete(q, p) == pytest.approx((-4 * math.log(2) - 6 * math.log(3) + 6 * math.log(5)) / 3, abs=1e-12)


def test_discrete_kl_matches_scipy_entropy_and_normalises_counts():
    generator = np.random.default_rng(3)
    for _ in range(5):
        p, q = generator.random(6), generator.random(6)
        assert kl_discrete(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)
        assert kl_discrete_terms(p, q).sum() == pytest.approx(kl_discrete(p, q), rel=1e-12)
    assert kl_discrete([9, 12, 4], [1, 1, 1]) == pytest.approx(0.0852996, abs=1e-6)


def test_discrete_kl_edge_cases():
    assert kl_discrete([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]) == pytest.approx(math.log(1.25))  # 0 log 0 = 0
    assert kl_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf  # Q misses mass P has
    for p, q in ([[1, -1], [1, 1]], [[1, 2], [1, 2, 3]], [[0, 0], [1, 1]], [[1, np.nan], [1, 1]]):
        with pytest.raises(ValueError):
            kl_discrete(p, q)


# ----------------------------------------------------------------------------------
# Gaussians: closed form vs quadrature and Monte-Carlo
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mu1, s1, mu2, s2", [(0.0, 1.0, 1.0, 2.0), (2.0, 0.5, -1.0, 1.5), (0.3, 3.0, 0.0, 0.7)])
def test_gaussian_kl_closed_form_equals_quadrature_1d(mu1, s1, mu2, s2):
    def integrand(x):
        return stats.norm.pdf(x, mu1, s1) * (stats.norm.logpdf(x, mu1, s1) - stats.norm.logpdf(x, mu2, s2))

    reference, _ = integrate.quad(integrand, mu1 - 15 * s1, mu1 + 15 * s1, limit=200)
    assert kl_gaussians(mu1, s1**2, mu2, s2**2) == pytest.approx(reference, abs=1e-8)


def test_gaussian_kl_closed_form_equals_monte_carlo_2d():
    mu1, cov1 = np.array([0.5, -1.0]), np.array([[1.5, 0.6], [0.6, 0.8]])
    mu2, cov2 = np.array([-0.5, 0.5]), np.array([[1.0, -0.3], [-0.3, 2.0]])
    x = stats.multivariate_normal(mu1, cov1).rvs(200_000, random_state=1)
    log_ratio = stats.multivariate_normal(mu1, cov1).logpdf(x) - stats.multivariate_normal(mu2, cov2).logpdf(x)
    standard_error = log_ratio.std() / math.sqrt(len(x))
    assert abs(kl_gaussians(mu1, cov1, mu2, cov2) - log_ratio.mean()) < 4 * standard_error
    assert kl_gaussians(mu1, cov1, mu1, cov1) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_entropy_matches_scipy():
    cov = np.array([[1.5, 0.6], [0.6, 0.8]])
    assert gaussian_entropy(cov) == pytest.approx(stats.multivariate_normal(np.zeros(2), cov).entropy(), rel=1e-12)
    assert gaussian_entropy(2.0**2) == pytest.approx(stats.norm(0, 2.0).entropy(), rel=1e-12)


def test_grid_and_monte_carlo_kl_match_closed_form_both_directions(device):
    mu1, cov1 = np.array([0.5, -1.0]), np.array([[1.5, 0.6], [0.6, 0.8]])
    mu2, cov2 = np.array([-0.5, 0.5]), np.array([[1.0, -0.3], [-0.3, 2.0]])
    p, q = GaussianMixture.gaussian(mu1, cov1, device), GaussianMixture.gaussian(mu2, cov2, device)
    forward, backward = kl_gaussians(mu1, cov1, mu2, cov2), kl_gaussians(mu2, cov2, mu1, cov1)
    assert kl_grid(p, q) == pytest.approx(forward, abs=1e-3)
    assert kl_grid(q, p) == pytest.approx(backward, abs=1e-3)
    estimate, standard_error = kl_monte_carlo(p, q, 50_000, seed=0)
    assert abs(estimate - forward) < 4 * standard_error
    estimate, standard_error = kl_monte_carlo(q, p, 50_000, seed=1)
    assert abs(estimate - backward) < 4 * standard_error
    one_d_p, one_d_q = GaussianMixture.gaussian(0.0, 1.0, device), GaussianMixture.gaussian(1.0, 4.0, device)
    assert kl_grid(one_d_p, one_d_q) == pytest.approx(kl_gaussians(0.0, 1.0, 1.0, 4.0), abs=1e-8)


def test_mixture_log_prob_sample_and_cdf_match_references(device):
    params = make_target(2, 3, 2.5, [1, 2, 3], [0.5, 0.7, 0.4])
    mixture = GaussianMixture.from_params(params, device)
    x = np.random.default_rng(0).normal(size=(50, 2)) * 2
    expected = np.log(sum(w * stats.multivariate_normal(m, c).pdf(x) for w, m, c in zip(*params)))
    np.testing.assert_allclose(mixture.log_prob(torch.as_tensor(x)).cpu().numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(mixture.log_prob(x), expected, rtol=1e-10)  # NumPy in, NumPy out
    samples = mixture.sample(40_000, seed=2).cpu().numpy()
    np.testing.assert_allclose(samples.mean(0), mixture.mean.cpu().numpy(), atol=0.03)
    np.testing.assert_allclose(np.cov(samples.T), mixture.covariance_matrix.cpu().numpy(), atol=0.06)
    one_d = GaussianMixture.from_params(make_target(1, 2, 3.0, [1, 3], [0.5, 1.0]), device)
    grid = np.linspace(-5, 5, 11)
    reference = 0.25 * stats.norm.cdf(grid, -1.5, 0.5) + 0.75 * stats.norm.cdf(grid, 1.5, 1.0)
    np.testing.assert_allclose(one_d.cdf(torch.as_tensor(grid)).cpu().numpy(), reference, rtol=1e-9, atol=1e-14)
    assert torch.equal(mixture.sample(5, seed=9), mixture.sample(5, seed=9))


# ----------------------------------------------------------------------------------
# JS, TV, W1, MMD
# ----------------------------------------------------------------------------------


def test_w1_of_samples_equals_scipy():
    generator = np.random.default_rng(4)
    x, y = generator.normal(size=300), generator.standard_t(3, size=170) + 0.5
    assert w1_samples_1d(x, y) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-10)
    assert w1_samples_1d(x, x) == 0.0


def test_w1_by_cdfs_equals_scipy_and_closed_form(device):
    p = GaussianMixture.from_params(make_target(1, 3, 2.0, [1, 2, 1], [0.5, 0.3, 0.8]), device)
    q = GaussianMixture.gaussian(0.7, 1.5, device)
    grid = GridQuadrature.covering([p, q], 4000)
    points = grid.points[:, 0].cpu().numpy()
    weights_p = torch.exp(p.log_prob(grid.points)).cpu().numpy()
    weights_q = torch.exp(q.log_prob(grid.points)).cpu().numpy()
    reference = stats.wasserstein_distance(points, points, weights_p, weights_q)
    assert float(w1_cdf_1d(p, q)) == pytest.approx(reference, abs=2e-3)
    # equal widths: W1 is the shift between the means
    assert float(w1_cdf_1d(GaussianMixture.gaussian(0.0, 1.0, device), GaussianMixture.gaussian(1.3, 1.0, device))) == pytest.approx(
        1.3, abs=1e-4)


def test_js_and_tv_match_references_and_bounds(device):
    sigma, shift = 1.0, 1.7
    p, q = GaussianMixture.gaussian(0.0, sigma**2, device), GaussianMixture.gaussian(shift, sigma**2, device)
    table = divergence_table(p, q)
    # TV of two Gaussians with equal widths: 2 Phi(|shift| / (2 sigma)) - 1
    assert table["tv"] == pytest.approx(2 * stats.norm.cdf(shift / (2 * sigma)) - 1, abs=1e-5)
    grid = GridQuadrature.covering([p, q], 4000)
    density_p = torch.exp(p.log_prob(grid.points)).cpu().numpy()
    density_q = torch.exp(q.log_prob(grid.points)).cpu().numpy()
    assert table["js"] == pytest.approx(spatial.distance.jensenshannon(density_p, density_q) ** 2, abs=1e-5)
    far = GaussianMixture.gaussian(40.0, 1.0, device)
    grid = GridQuadrature.covering([p, far], 8000)
    log_p, log_far = p.log_prob(grid.points), far.log_prob(grid.points)
    assert float(js_from_log_densities(log_p, log_far, grid)) == pytest.approx(math.log(2), abs=1e-4)
    assert float(tv_from_log_densities(log_p, log_far, grid)) == pytest.approx(1.0, abs=1e-4)
    generator = np.random.default_rng(5)
    for _ in range(4):
        a = GaussianMixture.gaussian(generator.normal() * 3, generator.uniform(0.1, 4), device)
        b = GaussianMixture.gaussian(generator.normal() * 3, generator.uniform(0.1, 4), device)
        values = divergence_table(a, b)
        assert 0 < values["js"] <= math.log(2) + 1e-9
        assert 0 < values["tv"] <= 1 + 1e-9


@pytest.mark.parametrize("dim", [1, 2])
def test_every_divergence_is_zero_for_identical_and_positive_otherwise(device, dim):
    p = GaussianMixture.from_params(make_target(dim, 3, 2.0, [1, 2, 1], [0.5, 0.6, 0.4]), device)
    same = divergence_table(p, GaussianMixture.from_params(p.params, device))
    other = divergence_table(p, GaussianMixture.gaussian(np.full(dim, 0.3), np.eye(dim) * 1.5, device))
    names = ["forward_kl", "reverse_kl", "js", "tv", "mmd"] + (["w1"] if dim == 1 else [])
    for name in names:
        assert same[name] == pytest.approx(0.0, abs=1e-6), name
        assert other[name] > 1e-3, name
    if dim == 2:
        assert math.isnan(other["w1"])


def test_mmd_closed_form_matches_sample_estimate(device):
    p = GaussianMixture.from_params(make_target(2, 3, 2.0, [1, 2, 1], [0.5, 0.6, 0.4]), device)
    q = GaussianMixture.gaussian([0.4, 0.1], [[1.0, 0.3], [0.3, 0.8]], device)
    exact = float(mmd2_mixtures(p, q, bandwidth=0.8))
    estimates = [float(mmd2_samples(p.sample(1500, seed=s), q.sample(1500, seed=100 + s), bandwidth=0.8))
                 for s in range(4)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.1)
    assert float(mmd2_mixtures(p, p, bandwidth=0.8)) == pytest.approx(0.0, abs=1e-12)


def test_mmd_samples_matches_naive_formula_and_is_zero_on_identical_samples():
    generator = np.random.default_rng(6)
    x, y = generator.normal(size=(40, 2)), generator.normal(size=(30, 2)) + 0.5
    h = 0.7

    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * h**2))

    k_xx, k_yy, k_xy = k(x, x), k(y, y), k(x, y)
    unbiased = ((k_xx.sum() - np.trace(k_xx)) / (40 * 39) + (k_yy.sum() - np.trace(k_yy)) / (30 * 29)
                - 2 * k_xy.mean())
    biased = k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()
    tx, ty = torch.as_tensor(x), torch.as_tensor(y)
    assert float(mmd2_samples(tx, ty, h)) == pytest.approx(unbiased, rel=1e-10)
    assert float(mmd2_samples(tx, ty, h, unbiased=False)) == pytest.approx(biased, rel=1e-10)
    assert float(mmd2_samples(tx, tx, h, unbiased=False)) == pytest.approx(0.0, abs=1e-12)
    assert float(mmd2_samples(tx, ty)) > 0  # median-heuristic bandwidth


# ----------------------------------------------------------------------------------
# MLE = forward KL
# ----------------------------------------------------------------------------------


def test_mle_decomposition_of_a_mixture_matches_scipy_quadrature_and_the_sample_mean(device):
    # p = 0.25 N(-2.5, 0.5^2) + 0.5 N(0, 0.6^2) + 0.25 N(2.5, 0.4^2), q = N(0.3, variance 2), written
    # out for SciPy: the references never call the playground's densities or its grid.
    weights, means, sds = np.array([0.25, 0.5, 0.25]), np.array([-2.5, 0.0, 2.5]), np.array([0.5, 0.6, 0.4])
    p = GaussianMixture.from_params(make_target(1, 3, 2.5, [1, 2, 1], [0.5, 0.6, 0.4]), device)
    q = GaussianMixture.gaussian(0.3, 2.0, device)
    n = 20_000
    parts = mle_decomposition(p, q, n=n, seed=0)

    def p_pdf(x):
        return float(np.sum(weights * stats.norm.pdf(x, means, sds)))

    def log_q(x):
        return stats.norm.logpdf(x, 0.3, math.sqrt(2.0))

    def quad(f):
        return integrate.quad(f, -12, 12, points=list(means), limit=400, epsabs=1e-12, epsrel=1e-12)[0]

    cross = quad(lambda x: p_pdf(x) * log_q(x))  # E_p[log q]
    entropy = -quad(lambda x: p_pdf(x) * math.log(p_pdf(x)) if p_pdf(x) > 0 else 0.0)
    kl = quad(lambda x: p_pdf(x) * (math.log(p_pdf(x)) - log_q(x)) if p_pdf(x) > 0 else 0.0)
    assert parts["expected_log_q"] == pytest.approx(cross, abs=1e-6)
    assert parts["entropy_p"] == pytest.approx(entropy, abs=1e-6)
    assert entropy_grid(p) == pytest.approx(entropy, abs=1e-6)
    assert parts["forward_kl"] == pytest.approx(kl, abs=1e-6)
    assert kl > 0.3  # q is far from p: a check that would notice the KL and entropy swapped or dropped
    # the average log-likelihood is a sample mean: within 4 standard errors of E_p[log q], the
    # variance of log q under p again by quadrature
    variance = quad(lambda x: p_pdf(x) * (log_q(x) - cross) ** 2)
    assert parts["average_log_likelihood"] == pytest.approx(cross, abs=4 * math.sqrt(variance / n))


def test_mle_decomposition_of_two_gaussians_in_2d_matches_the_closed_forms(device):
    # KL(N0 || N1) = (tr(S1^-1 S0) + (m1 - m0)' S1^-1 (m1 - m0) - d + ln(det S1 / det S0)) / 2,
    # H(N0) = (d ln(2 pi e) + ln det S0) / 2, and E_p[log q] = -KL - H: written out here, by hand
    m0, s0 = np.zeros(2), np.array([[1.0, 0.3], [0.3, 0.5]])
    m1, s1 = np.array([0.5, -0.3]), np.array([[2.0, 0.5], [0.5, 1.0]])
    p = GaussianMixture([1.0], m0[None], s0[None], device=device)
    q = GaussianMixture([1.0], m1[None], s1[None], device=device)
    n = 20_000
    parts = mle_decomposition(p, q, n=n, seed=0)
    s1_inv = np.linalg.inv(s1)
    kl = 0.5 * (np.trace(s1_inv @ s0) + (m1 - m0) @ s1_inv @ (m1 - m0) - 2 + math.log(np.linalg.det(s1) / np.linalg.det(s0)))
    entropy = 0.5 * (2 * math.log(2 * math.pi * math.e) + math.log(np.linalg.det(s0)))
    assert parts["forward_kl"] == pytest.approx(kl, abs=1e-4)
    assert parts["entropy_p"] == pytest.approx(entropy, abs=1e-4)
    assert parts["expected_log_q"] == pytest.approx(-kl - entropy, abs=1e-4)
    assert entropy == pytest.approx(stats.multivariate_normal(m0, s0).entropy(), rel=1e-12)  # the formula itself
    # the sample mean of log q: within 4 standard errors, the spread of log q from a SciPy sample of p
    x = stats.multivariate_normal(m0, s0).rvs(n, random_state=np.random.default_rng(1))
    log_q = stats.multivariate_normal(m1, s1).logpdf(x)
    assert parts["average_log_likelihood"] == pytest.approx(-kl - entropy, abs=4 * log_q.std() / math.sqrt(n))


# ----------------------------------------------------------------------------------
# Fits: forward KL covers modes, reverse KL seeks one
# ----------------------------------------------------------------------------------


def test_forward_kl_fit_converges_to_moment_matching(device):
    p = bimodal(device)
    fit = DivergenceFit(p, "forward_kl", FitConfig(start_mean=(2.5,), start_std=0.6, learning_rate=0.2,
                                                   n_samples=4000), seed=0)
    fit.step(150)
    q = fit.snapshot()
    data = fit.data.cpu().numpy()[:, 0]
    # the exact MLE on the sample is its mean and (biased) variance ...
    assert q["means"][0, 0] == pytest.approx(data.mean(), abs=0.02)
    assert q["covariances"][0, 0, 0] == pytest.approx(data.var(), rel=0.01)
    # ... which estimates the mixture's mean and variance (moment matching)
    mean, cov = moment_matching(p)
    assert q["means"][0, 0] == pytest.approx(mean[0], abs=0.15)
    assert q["covariances"][0, 0, 0] == pytest.approx(cov[0, 0], rel=0.05)


def test_reverse_kl_fit_started_near_a_mode_converges_to_that_mode(device):
    p = bimodal(device)
    fit = DivergenceFit(p, "reverse_kl", FitConfig(start_mean=(2.0,), start_std=1.0, learning_rate=0.1,
                                                   batch_size=256), seed=0)
    fit.step(150)
    q = fit.snapshot()
    assert q["means"][0, 0] == pytest.approx(3.0, abs=0.1)
    assert math.sqrt(q["covariances"][0, 0, 0]) == pytest.approx(0.5, abs=0.06)
    assert fit.history[-1]["reverse_kl"] == pytest.approx(math.log(2), abs=0.03)  # KL(q||p) = -log w_k


def test_race_shows_mode_covering_versus_mode_seeking_and_is_reproducible():
    p = bimodal()
    config = FitConfig(start_mean=(-1.5,), start_std=1.0, learning_rate=0.12)
    race = FitRace(p, ("forward_kl", "reverse_kl"), config, seed=7)
    race.step(120)
    forward, reverse = race.snapshot()["forward_kl"], race.snapshot()["reverse_kl"]
    forward_std, reverse_std = math.sqrt(forward["covariances"][0, 0, 0]), math.sqrt(reverse["covariances"][0, 0, 0])
    assert forward_std > 2.5  # covers both modes (the mixture's std is 3.04)
    assert reverse_std < 0.6 and reverse["means"][0, 0] == pytest.approx(-3.0, abs=0.15)  # sits in one mode
    last = race.history[-1]
    assert last["forward_kl:forward_kl"] < last["reverse_kl:forward_kl"]
    assert last["reverse_kl:reverse_kl"] < last["forward_kl:reverse_kl"]
    again = FitRace(p, ("forward_kl", "reverse_kl"), config, seed=7)
    again.step(120)
    assert again.history[-1] == race.history[-1]
    assert len(race.paths["reverse_kl"]) == 121


def test_reverse_kl_local_optima_are_the_modes():
    p = bimodal()
    optima = reverse_kl_local_optima(p)
    means = sorted(o["mean"][0] for o in optima if o["reverse_kl"] < 1.0)
    assert means == pytest.approx([-3.0, 3.0], abs=0.02)
    best = optima[0]
    assert best["reverse_kl"] == pytest.approx(math.log(2), abs=1e-3)
    assert best["cov"][0, 0] == pytest.approx(0.25, rel=0.02)
    # close modes merge: one optimum between them
    merged = reverse_kl_local_optima(GaussianMixture.from_params(make_target(1, 2, 0.8, [1, 1], [0.5, 0.5])))
    assert len(merged) == 1 and merged[0]["mean"][0] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("divergence", ["js", "tv", "mmd", "w1"])
def test_other_objectives_reduce_their_divergence(divergence):
    p = GaussianMixture.from_params(make_target(1, 2, 4.0, [2, 1], [0.5, 0.5]))
    fit = DivergenceFit(p, divergence, FitConfig(start_mean=(-0.5,), start_std=1.5, learning_rate=0.05), seed=0)
    fit.step(60)
    losses = fit.metric("loss")
    assert losses[-1] < losses[0]
    before = divergence_table(p, GaussianMixture.gaussian(-0.5, 1.5**2))
    after = divergence_table(p, fit.model())
    assert after[divergence] < before[divergence]


def test_mixture_q_in_2d_and_fixed_variance(device):
    p = GaussianMixture.from_params(make_target(2, 3, 3.0, [1, 1, 1], [0.4, 0.4, 0.4]), device)
    fit = DivergenceFit(p, "forward_kl", FitConfig(n_components=3, start_mean=(0.0, 0.0), start_std=0.8,
                                                   learning_rate=0.1, n_samples=1500), seed=1)
    fit.step(150)
    assert fit.history[-1]["forward_kl"] < 0.5 * fit.history[0]["forward_kl"]
    assert fit.snapshot()["weights"].sum() == pytest.approx(1.0)
    fixed = DivergenceFit(p, "reverse_kl", FitConfig(start_mean=(0.5, 1.0), start_std=0.7, fixed_variance=True),
                          seed=1)
    fixed.step(20)
    np.testing.assert_allclose(fixed.snapshot()["covariances"][0], 0.49 * np.eye(2), atol=1e-12)
    assert not np.allclose(fixed.snapshot()["means"][0], [0.5, 1.0])


def test_diverging_fit_stops_and_keeps_the_last_good_state():
    p = bimodal()
    race = FitRace(p, ("forward_kl", "reverse_kl"), FitConfig(start_mean=(1.0,), learning_rate=1e6), seed=0)
    race.step(30)
    assert race.stopped
    assert "diverged" in race.message or "NaN or infinite" in race.message
    assert race.state_is_finite()
    for path in race.paths.values():
        assert len(path) == race.iteration + 1


def test_make_target_spacing_and_validation():
    params = make_target(2, 5, 2.0)
    distances = np.linalg.norm(params.means - np.roll(params.means, 1, axis=0), axis=1)
    np.testing.assert_allclose(distances, 2.0)
    np.testing.assert_allclose(np.diff(make_target(1, 3, 1.5).means[:, 0]), 1.5)
    with pytest.raises(ValueError):
        make_target(1, 2, 1.0, [1, 0], [1, 1])
    with pytest.raises(ValueError):
        DivergenceFit(GaussianMixture.from_params(params), "w1")


def test_kl_landscape_matches_closed_form_for_a_gaussian_target(device):
    p = GaussianMixture.gaussian(0.5, 1.2**2, device)
    mus, sigmas = np.linspace(-2, 3, 7), np.linspace(0.3, 3.0, 5)
    landscape = kl_landscape_1d(p, mus, sigmas)
    for i, sigma in enumerate(sigmas):
        for j, mu in enumerate(mus):
            assert landscape["forward_kl"][i, j] == pytest.approx(kl_gaussians(0.5, 1.44, mu, sigma**2), abs=1e-6)
            assert landscape["reverse_kl"][i, j] == pytest.approx(kl_gaussians(mu, sigma**2, 0.5, 1.44), abs=1e-5)


def test_the_guard_rolls_back_adam_with_the_parameters():
    """The fit uses torch.optim.Adam (playground.nets); its snapshot holds Adam's moments and
    step count, so a rolled-back step leaves no trace: stepping again from the restored
    state gives exactly what the first step gave."""
    fit = DivergenceFit(bimodal(), "forward_kl", FitConfig(start_mean=(1.0,), learning_rate=0.1))
    fit.step(5)
    saved = fit.get_state()
    fit.step(1)
    after_one = {name: getattr(fit, name).detach().clone() for name in ("means", "logits", "log_diag")}
    fit.set_state(saved)
    assert fit.optimizer.state_dict()["state"][0]["step"] == 5
    fit._step()
    for name, value in after_one.items():
        assert torch.equal(getattr(fit, name).detach(), value), name
    assert not torch.equal(saved["named"]["means"], fit.means.detach())  # the snapshot was not aliased


def test_figures_hold_the_fits_optima_and_paths():
    from playground.figures import divergences as figures

    x = np.linspace(-3, 3, 50)
    bump = np.exp(-x**2)
    race = figures.fit_race_1d(x, bump, {"forward_kl": bump / 2, "reverse_kl": bump / 3}, optimum_density=bump / 4,
                               local_optima=[bump / 5, bump / 6])
    names = [trace.name for trace in race.data]
    assert names[0] == "target p" and "q fitted by reverse KL(q‖p)" in names
    assert sum(trace.name == "reverse-KL local optima" for trace in race.data) == 2
    np.testing.assert_allclose(race.data[-1].y, bump / 3)

    fit = {"weights": np.array([0.25, 0.75]), "means": np.array([[0.0, 0.0], [1.0, 1.0]]),
           "covariances": np.stack([np.eye(2), 0.25 * np.eye(2)])}
    plane = figures.fit_race_2d([x, x], np.ones((50, 50)), {"reverse_kl": fit},
                                paths={"reverse_kl": np.array([[2.0, 2.0], [1.0, 1.0]])},
                                optimum=(np.zeros(2), np.eye(2)), local_optima=[(np.ones(2), np.eye(2))])
    ellipses = [t for t in plane.data if t.name == "q fitted by reverse KL(q‖p)"]
    assert len(ellipses) == 2
    radius = np.hypot(np.asarray(ellipses[1].x) - 1.0, np.asarray(ellipses[1].y) - 1.0)
    np.testing.assert_allclose(radius, 2 * 0.5)  # the 2-sigma ellipse of a component with sigma = 0.5
    assert ellipses[1].line.width > ellipses[0].line.width  # heavier component, thicker line

    landscape = figures.kl_landscape(np.arange(3.0), np.arange(1.0, 3.0), {"forward_kl": np.ones((2, 3))},
                                     paths={"forward_kl": np.array([[0.0, 1.0], [1.0, 2.0]])}, optimum=(1.0, 2.0))
    assert any(t.name == "forward-KL optimum" for t in landscape.data)
    curves = figures.kl_curves(np.arange(1, 4), {"js": {"forward_kl": np.ones(3), "reverse_kl": np.ones(3) * 2}})
    assert [t.line.dash for t in curves.data] == [None, "dash"]
    bars = figures.discrete_pair(np.array([0.36, 0.48, 0.16]), np.ones(3) / 3)
    np.testing.assert_allclose(bars.data[0].y, [0.36, 0.48, 0.16])
