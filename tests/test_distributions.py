"""playground.distributions.GaussianMixture against independent references: SciPy's densities
and CDFs, scikit-learn's score_samples, torch.distributions, autograd, and seeded moments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.mixture import GaussianMixture as SklearnMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

from playground.distributions import GaussianMixture, mixture_params
from playground.targets import get_target

WEIGHTS = np.array([0.2, 0.5, 0.3])
MEANS = np.array([[-2.0, 0.5], [1.0, 1.0], [0.5, -2.0]])
COVARIANCES = np.array([[[1.0, 0.6], [0.6, 0.8]], [[0.3, -0.1], [-0.1, 0.5]], [[2.0, 0.0], [0.0, 0.1]]])
POINTS = np.random.default_rng(0).normal(size=(300, 2)) * 2.5


@pytest.fixture(scope="module")
def mixture() -> GaussianMixture:
    return GaussianMixture(WEIGHTS, MEANS, COVARIANCES, device="cpu")


def test_log_prob_equals_scipy_and_scikit_learn(mixture):
    expected = np.log(sum(w * stats.multivariate_normal(m, c).pdf(POINTS) for w, m, c in zip(WEIGHTS, MEANS, COVARIANCES)))
    np.testing.assert_allclose(mixture.log_prob(POINTS), expected, rtol=1e-11)
    peer = SklearnMixture(3).fit(POINTS[:50])
    peer.weights_, peer.means_, peer.covariances_ = WEIGHTS, MEANS, COVARIANCES
    peer.precisions_cholesky_ = _compute_precision_cholesky(COVARIANCES, "full")
    np.testing.assert_allclose(mixture.log_prob(POINTS), peer.score_samples(POINTS), rtol=1e-11)
    np.testing.assert_allclose(mixture.posterior(POINTS), peer.predict_proba(POINTS), atol=1e-11)


def test_far_points_give_finite_log_densities_not_nan(mixture):
    far = np.array([[1e4, -1e4], [300.0, 0.0]])
    expected = np.log(sum(w * stats.multivariate_normal(m, c).pdf(far) for w, m, c in zip(WEIGHTS, MEANS, COVARIANCES)))
    values = mixture.log_prob(far)
    assert np.isfinite(values).all()
    # SciPy underflows to -inf there; compare with its log-density of the dominant component instead.
    assert np.isneginf(expected).all()
    best = np.max([np.log(w) + stats.multivariate_normal(m, c).logpdf(far)
                   for w, m, c in zip(WEIGHTS, MEANS, COVARIANCES)], axis=0)
    np.testing.assert_allclose(values, best, rtol=1e-9)


def test_a_single_gaussian_equals_torch_distributions():
    mean, cov = np.array([0.3, -1.0]), np.array([[2.0, 0.7], [0.7, 1.0]])
    ours = GaussianMixture.gaussian(mean, cov, device="cpu")
    reference = torch.distributions.MultivariateNormal(torch.tensor(mean), torch.tensor(cov))
    x = torch.as_tensor(POINTS)
    assert torch.allclose(ours.log_prob(x), reference.log_prob(x), rtol=1e-12)
    assert torch.allclose(ours.scale_tril[0], reference.scale_tril)
    assert torch.allclose(ours.mean, reference.mean) and torch.allclose(ours.covariance_matrix, reference.covariance_matrix)


def test_score_equals_autograd_and_tensor_in_gives_tensor_out(mixture):
    x = torch.as_tensor(POINTS).requires_grad_(True)
    log_p = mixture.log_prob(x)
    assert torch.is_tensor(log_p)
    grad, = torch.autograd.grad(log_p.sum(), x)
    log_p2, score = mixture.log_prob_and_score(x.detach())
    assert torch.allclose(score, grad, rtol=1e-9, atol=1e-12)
    assert torch.allclose(log_p2, log_p.detach())
    assert isinstance(mixture.score(POINTS), np.ndarray)


def test_moments_and_samples_agree(mixture):
    mean = WEIGHTS @ MEANS
    second = sum(w * (c + np.outer(m, m)) for w, m, c in zip(WEIGHTS, MEANS, COVARIANCES))
    np.testing.assert_allclose(mixture.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(mixture.covariance_matrix.numpy(), second - np.outer(mean, mean), rtol=1e-12)
    n = 200_000
    samples = mixture.sample(n, seed=3).numpy()
    # each coordinate's sample mean within 4 standard errors
    assert (np.abs(samples.mean(0) - mean) < 4 * np.sqrt(np.diag(second - np.outer(mean, mean)) / n)).all()
    np.testing.assert_allclose(np.cov(samples.T), second - np.outer(mean, mean), atol=0.03)
    numpy_samples = mixture.sample(n, np.random.default_rng(3))
    assert isinstance(numpy_samples, np.ndarray)
    np.testing.assert_allclose(np.cov(numpy_samples.T), second - np.outer(mean, mean), atol=0.03)
    assert torch.equal(mixture.sample(7, seed=1), mixture.sample(7, seed=1))


def test_samples_pass_a_kolmogorov_smirnov_test_against_the_exact_cdf():
    one_d = GaussianMixture([0.3, 0.7], [-2.0, 1.5], [0.25, 1.0], device="cpu")
    samples = one_d.sample(20_000, seed=4).numpy()[:, 0]
    assert stats.kstest(samples, lambda v: one_d.cdf(np.asarray(v)[:, None])).pvalue > 0.01
    grid = np.linspace(-5, 5, 21)
    expected = 0.3 * stats.norm.cdf(grid, -2, 0.5) + 0.7 * stats.norm.cdf(grid, 1.5, 1.0)
    np.testing.assert_allclose(one_d.cdf(grid[:, None]), expected, rtol=1e-12, atol=1e-15)


def test_marginal_is_the_mixture_of_the_marginals(mixture):
    marginal = mixture.marginal(1)
    grid = np.linspace(-4, 4, 50)
    expected = sum(w * stats.norm.pdf(grid, m[1], np.sqrt(c[1, 1])) for w, m, c in zip(WEIGHTS, MEANS, COVARIANCES))
    np.testing.assert_allclose(np.exp(marginal.log_prob(grid[:, None])), expected, rtol=1e-11)


def test_rsample_is_differentiable_in_the_means_and_the_scale():
    means = torch.tensor([[0.0, 0.0], [3.0, 0.0]], dtype=torch.float64, requires_grad=True)
    tril = torch.eye(2, dtype=torch.float64).repeat(2, 1, 1).requires_grad_(True)
    q = GaussianMixture(torch.tensor([0.5, 0.5], dtype=torch.float64), means, scale_tril=tril, device="cpu")
    x = q.rsample(1000, seed=0)
    x.sum().backward()
    assert means.grad is not None and means.grad.sum().item() == pytest.approx(2000.0)
    assert tril.grad is not None and torch.isfinite(tril.grad).all()


def test_targets_use_it_and_keep_their_numpy_draws():
    """The ring target's draws are NumPy draws of the target's seed (pages keep their numbers)."""
    target = get_target("ring8")
    draws = target.sample(5, seed=11)
    generator = np.random.default_rng(11)
    params = target.mixture
    components = generator.choice(len(params.weights), size=5, p=params.weights)
    noise = generator.standard_normal((5, 2))
    expected = params.means[components] + noise * np.sqrt(params.covariances[components, 0, 0])[:, None]
    np.testing.assert_allclose(draws, expected, rtol=1e-12)


def test_bad_parameters_give_clear_errors():
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]], device="cpu")
    with pytest.raises(ValueError, match="non-negative"):
        mixture_params([-1.0, 2.0], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="weights"):
        mixture_params([1.0], [0.0, 1.0], [1.0, 1.0])
