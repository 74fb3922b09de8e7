"""Divergence kernels against the peers a user would reach for (SciPy, scikit-learn, torch.distributions)."""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy import stats
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.mixture import GaussianMixture as SklearnMixture

from playground.divergence_fit import (
    DivergenceFit,
    FitConfig,
)
from playground.distributions import GaussianMixture
from playground.divergences import (
    kl_discrete,
    kl_gaussians,
    kl_monte_carlo,
    make_target,
    mmd2_samples,
    w1_samples_1d,
)


def _sklearn_mixture(params) -> SklearnMixture:
    """A scikit-learn GaussianMixture holding the given parameters (no fitting)."""
    model = SklearnMixture(n_components=len(params.weights), covariance_type="full")
    model.weights_, model.means_, model.covariances_ = params.weights, params.means, params.covariances
    model.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(params.covariances))
    return model


def run(report) -> None:
    generator = np.random.default_rng(0)

    p_vec, q_vec = generator.random(100_000), generator.random(100_000)
    report("discrete KL, 100k outcomes", lambda: kl_discrete(p_vec, q_vec), lambda: stats.entropy(p_vec, q_vec),
           "peer: scipy.stats.entropy(p, q)")

    mu1, cov1 = np.array([0.5, -1.0]), np.array([[1.5, 0.6], [0.6, 0.8]])
    mu2, cov2 = np.array([-0.5, 0.5]), np.array([[1.0, -0.3], [-0.3, 2.0]])
    mvn1 = torch.distributions.MultivariateNormal(torch.tensor(mu1), torch.tensor(cov1))
    mvn2 = torch.distributions.MultivariateNormal(torch.tensor(mu2), torch.tensor(cov2))
    report("KL of two 2D Gaussians, closed form", lambda: kl_gaussians(mu1, cov1, mu2, cov2),
           lambda: float(torch.distributions.kl_divergence(mvn1, mvn2)),
           "peer: torch.distributions.kl_divergence on prebuilt MultivariateNormal objects")

    first, second = GaussianMixture.gaussian(mu1, cov1), GaussianMixture.gaussian(mu2, cov2)
    frozen1, frozen2 = stats.multivariate_normal(mu1, cov1), stats.multivariate_normal(mu2, cov2)

    def scipy_monte_carlo() -> float:
        x = frozen1.rvs(200_000, random_state=1)
        return float(np.mean(frozen1.logpdf(x) - frozen2.logpdf(x)))

    report("Monte-Carlo KL, 2D Gaussians, 200k draws", lambda: kl_monte_carlo(first, second, 200_000, seed=1),
           scipy_monte_carlo, "peer: scipy.stats.multivariate_normal rvs + logpdf")

    x, y = generator.normal(size=200_000), generator.standard_t(3, size=150_000)
    report("W1 of 1D samples, 200k vs 150k", lambda: w1_samples_1d(x, y), lambda: stats.wasserstein_distance(x, y),
           "peer: scipy.stats.wasserstein_distance")

    a, b = generator.normal(size=(2000, 2)), generator.normal(size=(2000, 2)) + 0.3
    ta, tb = torch.as_tensor(a), torch.as_tensor(b)
    gamma = 1 / (2 * 0.8**2)

    def sklearn_mmd() -> float:
        return float(rbf_kernel(a, a, gamma=gamma).mean() + rbf_kernel(b, b, gamma=gamma).mean()
                     - 2 * rbf_kernel(a, b, gamma=gamma).mean())

    report("MMD^2 (V-statistic), 2000 vs 2000 in 2D", lambda: float(mmd2_samples(ta, tb, 0.8, unbiased=False)),
           sklearn_mmd, "peer: sklearn.metrics.pairwise.rbf_kernel")

    params = make_target(2, 5, 2.0, [1, 2, 3, 2, 1], [0.4, 0.5, 0.6, 0.5, 0.4])
    mixture, peer = GaussianMixture.from_params(params), _sklearn_mixture(params)
    points = generator.normal(size=(200_000, 2)) * 2
    points_t = torch.as_tensor(points)
    report("mixture log-density, K=5, 200k points in 2D", lambda: mixture.log_prob(points_t),
           lambda: peer.score_samples(points), "peer: sklearn GaussianMixture.score_samples")

    target_1d = GaussianMixture.from_params(make_target(1, 2, 5.0, [1, 1], [0.5, 0.5]))
    target_2d = GaussianMixture.from_params(make_target(2, 3, 3.0))
    for label, target, start in (("1D", target_1d, (1.0,)), ("2D", target_2d, (0.5, 0.5))):
        for divergence in ("forward_kl", "reverse_kl"):
            fit = DivergenceFit(target, divergence, FitConfig(start_mean=start), seed=0)
            fit.step(3)
            begin = time.perf_counter()
            fit.step(50)
            report.measure(f"{divergence} fit step, {label} (incl. KL metrics)", (time.perf_counter() - begin) / 50 * 1e3,
                           "ms/step")
