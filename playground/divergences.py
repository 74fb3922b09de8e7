"""Divergences between distributions: closed forms and estimators.

Lectures 000/004 (maximum likelihood = forward KL; forward KL covers modes, reverse KL
seeks them; TV and Wasserstein), 002 (the discrete KL example, KL between Gaussians),
003 (strong vs weak losses: KL, JS, W1, MMD).

- Closed forms: ``kl_discrete``, ``kl_gaussians``, ``gaussian_entropy``, ``mmd2_mixtures``.
- Estimators: ``kl_monte_carlo`` (either direction: swap the arguments), ``GridQuadrature``
  (forward/reverse KL, JS, TV, entropy on a grid), ``w1_cdf_1d`` and ``w1_samples_1d``,
  ``mmd2_samples``.
- Mixtures are ``playground.distributions.GaussianMixture`` (``log_prob``, ``sample``, ``cdf``).
- Fitting q to p by one of them (``DivergenceFit``, ``FitRace``) and the optima and
  landscapes of those fits are in ``playground.divergence_fit``.

>>> round(kl_discrete([9, 12, 4], [1, 1, 1]), 7), round(kl_discrete([1, 1, 1], [9, 12, 4]), 6)
(0.0852996, 0.097455)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
from scipy import special

from playground.device import default_device, to_numpy
from playground.metrics import gaussian_kernel, median_bandwidth, mmd2_samples, w1_samples_1d  # noqa: F401 (re-exported)
from playground.distributions import GaussianMixture, MixtureParams, compute_dtype, mixture_params  # noqa: F401

LOG_2 = math.log(2.0)

# ----------------------------------------------------------------------------------
# Closed forms (NumPy)
# ----------------------------------------------------------------------------------


def _probability_vector(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if np.any(array < 0):
        raise ValueError(f"{name} has negative entries: probabilities are >= 0")
    total = array.sum()
    if total <= 0:
        raise ValueError(f"{name} sums to 0: at least one entry must be positive")
    return array / total


def kl_discrete_terms(p: Sequence[float], q: Sequence[float]) -> np.ndarray:
    """The terms P(x) log(P(x)/Q(x)) of D_KL(P||Q), after normalising P and Q (0 log 0 = 0)."""
    p_vec, q_vec = _probability_vector(p, "P"), _probability_vector(q, "Q")
    if p_vec.shape != q_vec.shape:
        raise ValueError(f"P has {p_vec.size} entries but Q has {q_vec.size}")
    return special.rel_entr(p_vec, q_vec)  # p log(p/q), with 0 log(0/q) = 0 and p log(p/0) = inf


def kl_discrete(p: Sequence[float], q: Sequence[float]) -> float:
    """D_KL(P||Q) = sum_x P(x) log(P(x)/Q(x)) in nats; inf when Q(x) = 0 < P(x). Inputs are normalised."""
    return float(kl_discrete_terms(p, q).sum())


def _as_mean_cov(mean, cov) -> tuple[np.ndarray, np.ndarray]:
    mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim == 0:
        cov = cov.reshape(1, 1)
    elif cov.ndim == 1:
        cov = np.diag(cov)
    if cov.shape != (mean.size, mean.size):
        raise ValueError(f"covariance of shape {cov.shape} does not match a mean of size {mean.size}")
    return mean, cov


def kl_gaussians(mu1, cov1, mu2, cov2) -> float:
    """D_KL(N(mu1, S1) || N(mu2, S2)) = 1/2 [tr(S2^-1 S1) + (mu2-mu1)^T S2^-1 (mu2-mu1) - d + log det S2/det S1].

    1D: pass means and *variances* as scalars; a 1D covariance argument is read as a diagonal.
    """
    mu1, cov1 = _as_mean_cov(mu1, cov1)
    mu2, cov2 = _as_mean_cov(mu2, cov2)
    d = mu1.size
    chol2 = np.linalg.cholesky(cov2)
    chol1 = np.linalg.cholesky(cov1)
    solved = np.linalg.solve(chol2, chol1)  # L2^-1 L1: tr(S2^-1 S1) = ||L2^-1 L1||_F^2
    diff = np.linalg.solve(chol2, mu2 - mu1)
    log_det_ratio = 2 * (np.log(np.diag(chol2)).sum() - np.log(np.diag(chol1)).sum())
    return float(0.5 * ((solved**2).sum() + (diff**2).sum() - d + log_det_ratio))


def gaussian_entropy(cov) -> float:
    """H(N(mu, S)) = 1/2 log det(2 pi e S) in nats (1D: pass the variance)."""
    _, cov = _as_mean_cov(np.zeros(np.atleast_2d(cov).shape[0] if np.ndim(cov) else 1), cov)
    sign, log_det = np.linalg.slogdet(2 * np.pi * np.e * cov)
    if sign <= 0:
        raise ValueError("the covariance is not positive definite")
    return float(0.5 * log_det)


# ----------------------------------------------------------------------------------
# Gaussian mixtures on a device
# ----------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------
# Monte-Carlo and grid estimators
# ----------------------------------------------------------------------------------


def kl_monte_carlo(p: GaussianMixture, q: GaussianMixture, n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """D_KL(p||q) ~ (1/n) sum_i [log p(x_i) - log q(x_i)], x_i ~ p; returns (estimate, standard error).

    Reverse KL: ``kl_monte_carlo(q, p, ...)``.
    """
    x = p.sample(n, seed)
    log_ratio = p.log_prob(x) - q.log_prob(x)
    return float(log_ratio.mean()), float(log_ratio.std() / math.sqrt(n))


@lru_cache(maxsize=16)
def _gauss_hermite_nodes(dim: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    # Cached: the rule comes from an eigenvalue problem, and an optimiser asks for it at every evaluation.
    nodes_1d, weights_1d = np.polynomial.hermite_e.hermegauss(order)  # weight function exp(-z^2/2)
    weights_1d = weights_1d / np.sqrt(2 * np.pi)
    mesh = np.meshgrid(*[nodes_1d] * dim, indexing="ij")
    nodes = np.stack([m.ravel() for m in mesh], axis=1)
    weights = np.prod(np.meshgrid(*[weights_1d] * dim, indexing="ij"), axis=0).ravel()
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def gauss_hermite_rule(dim: int, order: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z (M, d) and weights (M,) with sum_m weight_m f(z_m) ~ E_{z ~ N(0, I_d)}[f(z)] (tensor product)."""
    nodes, weights = _gauss_hermite_nodes(int(dim), int(order))
    dtype = compute_dtype(device)
    return (torch.tensor(nodes, dtype=dtype, device=device),  # copies: the cached arrays stay read-only
            torch.tensor(weights, dtype=dtype, device=device))


def expectation_gauss_hermite(log_weights: torch.Tensor, means: torch.Tensor, chols: torch.Tensor, function,
                              order: int | None = None) -> torch.Tensor:
    """E_q[f(x)] for a Gaussian mixture q: sum_k w_k sum_m omega_m f(mu_k + L_k z_m) (differentiable).

    Unlike a fixed grid, the nodes follow every component wherever it goes.
    """
    n_components, dim = means.shape
    nodes, node_weights = gauss_hermite_rule(dim, order or (64 if dim == 1 else 28), means.device)
    x = means[:, None, :] + torch.einsum("kij,mj->kmi", chols, nodes)  # (K, M, d)
    values = function(x.reshape(-1, dim)).reshape(n_components, -1)  # (K, M)
    return (torch.exp(log_weights) * (values * node_weights).sum(dim=1)).sum()


@dataclass
class GridQuadrature:
    """Riemann-sum quadrature on a regular grid over a box: integral f ~ sum_j f(x_j) * cell volume."""

    points: torch.Tensor  # (M, d)
    axes: list[np.ndarray]
    cell_volume: float

    @classmethod
    def over(cls, bounds: np.ndarray, resolution: int, device: torch.device | None = None) -> "GridQuadrature":
        """Cell-centred grid with ``resolution`` points per dimension over ``bounds`` (d, 2)."""
        device = device or default_device()
        bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        widths = (bounds[:, 1] - bounds[:, 0]) / resolution
        axes = [low + width * (np.arange(resolution) + 0.5) for (low, _), width in zip(bounds, widths)]
        mesh = np.meshgrid(*axes, indexing="xy")
        points = np.stack([m.ravel() for m in mesh], axis=1)
        return cls(torch.as_tensor(points, dtype=compute_dtype(device), device=device), axes, float(np.prod(widths)))

    @classmethod
    def covering(cls, distributions: Sequence[GaussianMixture], resolution: int, spread: float = 7.0) -> "GridQuadrature":
        """A grid over a box holding the mass of every distribution given."""
        boxes = np.stack([dist.bounds(spread) for dist in distributions])
        bounds = np.stack([boxes[:, :, 0].min(0), boxes[:, :, 1].max(0)], axis=1)
        return cls.over(bounds, resolution, distributions[0].device)

    def integrate(self, values: torch.Tensor) -> torch.Tensor:
        return values.sum() * self.cell_volume


def kl_from_log_densities(log_p: torch.Tensor, log_q: torch.Tensor, grid: GridQuadrature) -> torch.Tensor:
    """D_KL(p||q) = integral p (log p - log q) dx on the grid (0 where p = 0)."""
    p = torch.exp(log_p)
    integrand = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
    return grid.integrate(integrand)


def js_from_log_densities(log_p: torch.Tensor, log_q: torch.Tensor, grid: GridQuadrature) -> torch.Tensor:
    """JS(p, q) = 1/2 KL(p||m) + 1/2 KL(q||m), m = (p + q)/2; in [0, log 2]."""
    log_m = torch.logaddexp(log_p, log_q) - LOG_2
    return 0.5 * kl_from_log_densities(log_p, log_m, grid) + 0.5 * kl_from_log_densities(log_q, log_m, grid)


def tv_from_log_densities(log_p: torch.Tensor, log_q: torch.Tensor, grid: GridQuadrature) -> torch.Tensor:
    """TV(p, q) = 1/2 integral |p - q| dx; in [0, 1]."""
    return 0.5 * grid.integrate(torch.abs(torch.exp(log_p) - torch.exp(log_q)))


def kl_grid(p: GaussianMixture, q: GaussianMixture, resolution: int | None = None) -> float:
    """D_KL(p||q) by quadrature on a grid covering both (reverse KL: swap the arguments)."""
    grid = GridQuadrature.covering([p, q], resolution or default_resolution(p.dim))
    return float(kl_from_log_densities(p.log_prob(grid.points), q.log_prob(grid.points), grid))


def entropy_grid(p: GaussianMixture, resolution: int | None = None) -> float:
    """H(p) = -integral p log p dx by quadrature."""
    grid = GridQuadrature.covering([p], resolution or default_resolution(p.dim))
    log_p = p.log_prob(grid.points)
    return float(-grid.integrate(torch.exp(log_p) * log_p))


def default_resolution(dim: int) -> int:
    return 4000 if dim == 1 else 200


def w1_cdf_1d(p: GaussianMixture, q: GaussianMixture, resolution: int = 4000) -> torch.Tensor:
    """W1(p, q) = integral |F_p(x) - F_q(x)| dx in 1D, from the exact CDFs (differentiable in q)."""
    grid = GridQuadrature.covering([p, q], resolution)
    return grid.integrate(torch.abs(p.cdf(grid.points) - q.cdf(grid.points)))


# ----------------------------------------------------------------------------------
# Maximum mean discrepancy (Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)))
# ----------------------------------------------------------------------------------


def _expected_kernel(weights_a, means_a, covs_a, weights_b, means_b, covs_b, bandwidth: float) -> torch.Tensor:
    """E k(X, Y), X ~ mixture a, Y ~ mixture b: sum_ij a_i b_j h^d det(C_ij)^-1/2 exp(-1/2 d_ij^T C_ij^-1 d_ij),
    C_ij = Sigma_i + Sigma_j + h^2 I, d_ij = mu_i - mu_j (X - Y is Gaussian, the kernel is a scaled Gaussian)."""
    d = means_a.shape[1]
    eye = torch.eye(d, dtype=means_a.dtype, device=means_a.device)
    combined = covs_a[:, None] + covs_b[None, :] + bandwidth**2 * eye  # (Ka, Kb, d, d)
    diff = means_a[:, None, :] - means_b[None, :, :]  # (Ka, Kb, d)
    chol = torch.linalg.cholesky(combined)
    solved = torch.linalg.solve_triangular(chol, diff[..., None], upper=False)[..., 0]
    log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    values = bandwidth**d * torch.exp(-0.5 * log_det - 0.5 * (solved**2).sum(-1))
    return weights_a @ values @ weights_b


def mmd2_mixtures(p: GaussianMixture, q: GaussianMixture, bandwidth: float = 1.0) -> torch.Tensor:
    """Exact MMD^2 between two Gaussian mixtures for the Gaussian kernel of width h (closed form)."""
    return mmd2_parts(p.weights, p.means, p.covariances, q.weights, q.means, q.covariances, bandwidth)


def mmd2_parts(wp, mp, cp, wq, mq, cq, bandwidth: float) -> torch.Tensor:
    return (_expected_kernel(wp, mp, cp, wp, mp, cp, bandwidth) + _expected_kernel(wq, mq, cq, wq, mq, cq, bandwidth)
            - 2 * _expected_kernel(wp, mp, cp, wq, mq, cq, bandwidth))


# ----------------------------------------------------------------------------------
# All divergences of one pair, as the page's table shows them
# ----------------------------------------------------------------------------------

DIVERGENCES = {
    "forward_kl": "Forward KL(p‖q)",
    "reverse_kl": "Reverse KL(q‖p)",
    "js": "Jensen–Shannon",
    "tv": "Total variation",
    "w1": "Wasserstein-1",
    "mmd": "MMD",
}


def divergence_table(p: GaussianMixture, q: GaussianMixture, *, resolution: int | None = None,
                     mmd_bandwidth: float = 1.0) -> dict[str, float]:
    """Every divergence of the pair (p, q): KL both ways, JS, TV (grid), W1 (1D only, CDFs), MMD (closed form)."""
    grid = GridQuadrature.covering([p, q], resolution or default_resolution(p.dim))
    log_p, log_q = p.log_prob(grid.points), q.log_prob(grid.points)
    values = {
        "forward_kl": float(kl_from_log_densities(log_p, log_q, grid)),
        "reverse_kl": float(kl_from_log_densities(log_q, log_p, grid)),
        "js": float(js_from_log_densities(log_p, log_q, grid)),
        "tv": float(tv_from_log_densities(log_p, log_q, grid)),
        "w1": float(w1_cdf_1d(p, q)) if p.dim == 1 else float("nan"),
        "mmd": float(torch.sqrt(torch.clamp(mmd2_mixtures(p, q, mmd_bandwidth), min=0.0))),
    }
    return values


# ----------------------------------------------------------------------------------
# Targets built from the page's controls
# ----------------------------------------------------------------------------------


def make_target(dim: int, n_modes: int, separation: float, weights: Sequence[float] | None = None,
                widths: Sequence[float] | None = None) -> MixtureParams:
    """A mixture of ``n_modes`` isotropic Gaussians: on a line (1D) or a circle (2D) ``separation`` apart."""
    if dim not in (1, 2):
        raise ValueError("targets are 1D or 2D")
    if n_modes < 1:
        raise ValueError("a target needs at least one mode")
    weights = np.ones(n_modes) if weights is None else np.asarray(weights, dtype=np.float64)[:n_modes]
    widths = np.full(n_modes, 0.5) if widths is None else np.asarray(widths, dtype=np.float64)[:n_modes]
    if len(weights) != n_modes or len(widths) != n_modes:
        raise ValueError("one weight and one width per mode")
    if np.any(weights <= 0) or np.any(widths <= 0):
        raise ValueError("weights and widths must be positive")
    if dim == 1:
        means = ((np.arange(n_modes) - (n_modes - 1) / 2) * separation)[:, None]
    elif n_modes == 1:
        means = np.zeros((1, 2))
    else:
        # neighbouring modes on a circle are `separation` apart: chord = 2 r sin(pi/K)
        radius = separation / (2 * np.sin(np.pi / n_modes)) if n_modes > 2 else separation / 2
        angles = np.pi / 2 + 2 * np.pi * np.arange(n_modes) / n_modes
        means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    covariances = widths[:, None, None] ** 2 * np.eye(dim)[None]
    return mixture_params(weights, means, covariances)


# ----------------------------------------------------------------------------------
# Numbers for the page's pictures (NumPy out, for the figure builders)
# ----------------------------------------------------------------------------------


def density_values(distribution: GaussianMixture, points) -> np.ndarray:
    """q(x) at each row of ``points`` (an (n, d) array or tensor), as a NumPy array (n,)."""
    log_q = distribution.log_prob(points)
    return np.exp(to_numpy(log_q) if torch.is_tensor(log_q) else log_q)
