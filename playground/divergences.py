"""Divergences between distributions, and fitting a model by minimising one.

Lectures 000/004 (maximum likelihood = forward KL; forward KL covers modes, reverse KL
seeks them; TV and Wasserstein), 002 (the discrete KL example, KL between Gaussians),
003 (strong vs weak losses: KL, JS, W1, MMD).

- Closed forms: ``kl_discrete``, ``kl_gaussians``, ``gaussian_entropy``, ``mmd2_mixtures``.
- Estimators: ``kl_monte_carlo`` (either direction: swap the arguments), ``GridQuadrature``
  (forward/reverse KL, JS, TV, entropy on a grid), ``w1_cdf_1d`` and ``w1_samples_1d``,
  ``mmd2_samples``.
- ``Mixture``: a Gaussian mixture on a torch device with ``log_prob``, ``sample``, ``cdf``.
- ``DivergenceFit``: a stepper fitting a Gaussian / K-component mixture q to p by one
  divergence (forward KL by maximum likelihood on samples of p, reverse KL by
  reparameterised Monte-Carlo, or JS / TV / W1 / MMD); ``FitRace`` runs several from
  the same start.

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
from scipy import optimize, special

from playground.device import default_device, to_numpy
from playground.seeding import SeedLike, derive_seed, torch_generator
from playground.stepper import Stepper
from playground.targets import MixtureParams, mixture_params

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


def compute_dtype(device: torch.device) -> torch.dtype:
    """float64 for exact-looking numbers, except on MPS (no float64 there)."""
    return torch.float32 if device.type == "mps" else torch.float64


def mixture_log_prob_torch(x: torch.Tensor, log_weights: torch.Tensor, means: torch.Tensor,
                           chols: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(x; mu_k, L_k L_k^T); x (n, d), log_weights (K,), means (K, d), chols (K, d, d) -> (n,)."""
    d = x.shape[1]
    centred = x[None, :, :] - means[:, None, :]  # (K, n, d)
    # L_k^-1 of the tiny (d, d) factors first, then one batched product: much faster than a
    # triangular solve with n right-hand sides on the CPU
    eye = torch.eye(d, dtype=chols.dtype, device=chols.device).expand_as(chols)
    inverse_chols = torch.linalg.solve_triangular(chols, eye, upper=False)  # (K, d, d)
    solved = torch.einsum("kij,knj->kni", inverse_chols, centred)  # (K, n, d)
    log_det = torch.log(torch.diagonal(chols, dim1=1, dim2=2)).sum(dim=1)  # (K,)
    log_normal = -0.5 * d * math.log(2 * math.pi) - log_det[:, None] - 0.5 * (solved**2).sum(dim=2)  # (K, n)
    return torch.logsumexp(log_weights[:, None] + log_normal, dim=0)


class Mixture:
    """A Gaussian mixture sum_k w_k N(mu_k, Sigma_k) with its tensors on ``device``.

    A single Gaussian is the case K = 1. ``weights`` (K,), ``means`` (K, d), ``covariances`` (K, d, d).
    """

    def __init__(self, weights, means, covariances, device: torch.device | None = None) -> None:
        params = mixture_params(weights, means, covariances)
        self.device = device or default_device()
        dtype = compute_dtype(self.device)
        self.params = params
        self.dim = params.means.shape[1]
        self.weights = torch.tensor(np.array(params.weights), dtype=dtype, device=self.device)
        self.means = torch.tensor(np.array(params.means), dtype=dtype, device=self.device)
        self.covariances = torch.tensor(np.array(params.covariances), dtype=dtype, device=self.device)
        try:
            self.chols = torch.linalg.cholesky(self.covariances)
        except RuntimeError as error:  # torch raises a LinAlgError subclass of RuntimeError
            raise ValueError("a covariance is not positive definite") from error

    @classmethod
    def from_params(cls, params: MixtureParams, device: torch.device | None = None) -> "Mixture":
        return cls(params.weights, params.means, params.covariances, device=device)

    @classmethod
    def gaussian(cls, mean, cov, device: torch.device | None = None) -> "Mixture":
        """One Gaussian (1D: scalar mean and variance)."""
        mean, cov = _as_mean_cov(mean, cov)
        return cls([1.0], mean[None, :], cov[None, :, :], device=device)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def log_prob(self, x) -> torch.Tensor:
        """log q(x) for each row of x, shape (n,)."""
        x = torch.as_tensor(x, dtype=self.means.dtype, device=self.device).reshape(-1, self.dim)
        return mixture_log_prob_torch(x, torch.log(self.weights), self.means, self.chols)

    def sample(self, n: int, seed: int | torch.Generator) -> torch.Tensor:
        """Ancestral sampling: k ~ Cat(w), x = mu_k + L_k eps; shape (n, d)."""
        generator = seed if isinstance(seed, torch.Generator) else torch_generator(seed, self.device)
        components = torch.multinomial(self.weights, int(n), replacement=True, generator=generator)
        noise = torch.randn(int(n), self.dim, 1, dtype=self.means.dtype, device=self.device, generator=generator)
        return self.means[components] + (self.chols[components] @ noise)[..., 0]

    def cdf(self, x) -> torch.Tensor:
        """1D only: F(x) = sum_k w_k Phi((x - mu_k)/sigma_k)."""
        if self.dim != 1:
            raise ValueError("the CDF is only defined here for 1D mixtures")
        x = torch.as_tensor(x, dtype=self.means.dtype, device=self.device).reshape(-1)
        stds = self.chols[:, 0, 0]
        return (self.weights[:, None] * torch.special.ndtr((x[None, :] - self.means[:, :1]) / stds[:, None])).sum(0)

    def mean(self) -> np.ndarray:
        """E[x] = sum_k w_k mu_k, shape (d,)."""
        return to_numpy(self.weights @ self.means)

    def covariance(self) -> np.ndarray:
        """Cov[x] = sum_k w_k (Sigma_k + mu_k mu_k^T) - mean mean^T, shape (d, d)."""
        mean = self.weights @ self.means
        second = torch.einsum("k,kij->ij", self.weights, self.covariances + self.means[:, :, None] * self.means[:, None, :])
        return to_numpy(second - mean[:, None] * mean[None, :])

    def bounds(self, spread: float = 4.5) -> np.ndarray:
        """A box (d, 2) holding the mass: every component's mean +- spread standard deviations."""
        stds = torch.sqrt(torch.diagonal(self.covariances, dim1=1, dim2=2))
        low = to_numpy((self.means - spread * stds).min(0).values)
        high = to_numpy((self.means + spread * stds).max(0).values)
        return np.stack([low, high], axis=1)


# ----------------------------------------------------------------------------------
# Monte-Carlo and grid estimators
# ----------------------------------------------------------------------------------


def kl_monte_carlo(p: Mixture, q: Mixture, n: int = 10_000, seed: int = 0) -> tuple[float, float]:
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
    def covering(cls, distributions: Sequence[Mixture], resolution: int, spread: float = 7.0) -> "GridQuadrature":
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


def kl_grid(p: Mixture, q: Mixture, resolution: int | None = None) -> float:
    """D_KL(p||q) by quadrature on a grid covering both (reverse KL: swap the arguments)."""
    grid = GridQuadrature.covering([p, q], resolution or _default_resolution(p.dim))
    return float(kl_from_log_densities(p.log_prob(grid.points), q.log_prob(grid.points), grid))


def entropy_grid(p: Mixture, resolution: int | None = None) -> float:
    """H(p) = -integral p log p dx by quadrature."""
    grid = GridQuadrature.covering([p], resolution or _default_resolution(p.dim))
    log_p = p.log_prob(grid.points)
    return float(-grid.integrate(torch.exp(log_p) * log_p))


def _default_resolution(dim: int) -> int:
    return 4000 if dim == 1 else 200


def w1_cdf_1d(p: Mixture, q: Mixture, resolution: int = 4000) -> torch.Tensor:
    """W1(p, q) = integral |F_p(x) - F_q(x)| dx in 1D, from the exact CDFs (differentiable in q)."""
    grid = GridQuadrature.covering([p, q], resolution)
    return grid.integrate(torch.abs(p.cdf(grid.points) - q.cdf(grid.points)))


def w1_samples_1d(x, y) -> float:
    """W1 between two 1D empirical distributions: integral |F_x - F_y| over the merged sorted values."""
    x = torch.as_tensor(x).reshape(-1).to(torch.float64)
    y = torch.as_tensor(y, device=x.device).reshape(-1).to(torch.float64)
    x_sorted, y_sorted = torch.sort(x).values, torch.sort(y).values
    merged = torch.sort(torch.cat([x_sorted, y_sorted])).values
    deltas = merged[1:] - merged[:-1]
    cdf_x = torch.searchsorted(x_sorted, merged[:-1], right=True).to(torch.float64) / x.numel()
    cdf_y = torch.searchsorted(y_sorted, merged[:-1], right=True).to(torch.float64) / y.numel()
    return float((torch.abs(cdf_x - cdf_y) * deltas).sum())


# ----------------------------------------------------------------------------------
# Maximum mean discrepancy (Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)))
# ----------------------------------------------------------------------------------


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """k(x_i, y_j) = exp(-|x_i - y_j|^2 / (2 h^2)), shape (n, m)."""
    return torch.exp(-torch.cdist(x, y).pow(2) / (2 * bandwidth**2))


def median_bandwidth(x: torch.Tensor, y: torch.Tensor) -> float:
    """Median heuristic: h = median pairwise distance of the pooled samples."""
    pooled = torch.cat([x, y])[:1000]
    distances = torch.cdist(pooled, pooled)
    upper = distances[torch.triu(torch.ones_like(distances, dtype=torch.bool), diagonal=1)]
    return float(upper.median().clamp_min(1e-6))


def mmd2_samples(x, y, bandwidth: float | None = None, unbiased: bool = True) -> torch.Tensor:
    """MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y) from samples x (n, d) and y (m, d).

    ``unbiased`` drops the diagonal terms (the U-statistic of Gretton et al. 2012, can be
    slightly negative); otherwise the V-statistic (>= 0, exactly 0 for identical samples).
    ``bandwidth=None`` uses the median heuristic. Differentiable in x and y.
    """
    x = torch.as_tensor(x)
    y = torch.as_tensor(y, device=x.device, dtype=x.dtype)
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    h = bandwidth if bandwidth is not None else median_bandwidth(x.detach(), y.detach())
    k_xx, k_yy, k_xy = gaussian_kernel(x, x, h), gaussian_kernel(y, y, h), gaussian_kernel(x, y, h)
    n, m = x.shape[0], y.shape[0]
    if unbiased:
        if n < 2 or m < 2:
            raise ValueError("the unbiased MMD needs at least 2 samples on each side")
        term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
        term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    else:
        term_xx, term_yy = k_xx.mean(), k_yy.mean()
    return term_xx + term_yy - 2 * k_xy.mean()


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


def mmd2_mixtures(p: Mixture, q: Mixture, bandwidth: float = 1.0) -> torch.Tensor:
    """Exact MMD^2 between two Gaussian mixtures for the Gaussian kernel of width h (closed form)."""
    return _mmd2_parts(p.weights, p.means, p.covariances, q.weights, q.means, q.covariances, bandwidth)


def _mmd2_parts(wp, mp, cp, wq, mq, cq, bandwidth: float) -> torch.Tensor:
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


def divergence_table(p: Mixture, q: Mixture, *, resolution: int | None = None,
                     mmd_bandwidth: float = 1.0) -> dict[str, float]:
    """Every divergence of the pair (p, q): KL both ways, JS, TV (grid), W1 (1D only, CDFs), MMD (closed form)."""
    grid = GridQuadrature.covering([p, q], resolution or _default_resolution(p.dim))
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
# Fitting q to p by one divergence
# ----------------------------------------------------------------------------------

OBJECTIVES = {
    "forward_kl": "Forward KL (maximum likelihood on samples of p)",
    "reverse_kl": "Reverse KL (reparameterised Monte-Carlo, needs log p)",
    "js": "Jensen–Shannon (grid quadrature)",
    "tv": "Total variation (grid quadrature)",
    "w1": "Wasserstein-1 (1D, CDFs)",
    "mmd": "MMD (closed form, Gaussian kernel)",
}


@dataclass(frozen=True)
class FitConfig:
    """How to fit q: its size, start, and optimiser settings."""

    n_components: int = 1  # K: 1 = a single Gaussian
    start_mean: tuple[float, ...] = (0.0,)  # centre of the start; components spread around it
    start_std: float = 1.0  # standard deviation of every component at the start
    fixed_variance: bool = False  # keep every std at start_std: only means (and weights) move
    learning_rate: float = 0.05  # Adam step size
    n_samples: int = 2000  # forward KL: size of the sample of p (the "data set")
    batch_size: int = 256  # reverse KL: reparameterised draws per component and step
    resolution: int | None = None  # grid points per dimension for the grid objectives and metrics
    mmd_bandwidth: float = 1.0  # h of the Gaussian kernel
    start_spread: float = 1.0  # K > 1: components start this far apart around start_mean


class Adam:
    """Adam (Kingma & Ba 2015) on a list of tensors: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    theta -= lr m_hat / (sqrt(v_hat) + eps). Written out (instead of torch.optim.Adam) so its state is
    three plain tensors per parameter, trivially saved and restored by the stepper's guard."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self.first = [torch.zeros_like(p) for p in self.params]
        self.second = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        for param, first, second in zip(self.params, self.first, self.second):
            if param.grad is None:
                continue
            first.mul_(beta1).add_(param.grad, alpha=1 - beta1)
            second.mul_(beta2).addcmul_(param.grad, param.grad, value=1 - beta2)
            first_hat = first / (1 - beta1**self.steps)
            second_hat = second / (1 - beta2**self.steps)
            param.sub_(self.lr * first_hat / (second_hat.sqrt() + self.eps))

    def get_state(self) -> tuple:
        return [t.clone() for t in self.first], [t.clone() for t in self.second], self.steps

    def set_state(self, state: tuple) -> None:
        first, second, self.steps = state
        for target, source in zip(self.first + self.second, list(first) + list(second)):
            target.copy_(source)


class DivergenceFit(Stepper):
    """Fit q (a Gaussian or a K-component mixture) to p by gradient descent (Adam) on one divergence.

    - ``forward_kl``: maximise (1/N) sum_i log q(x_i) on a fixed sample x_i ~ p (= minimise KL(p||q) - H(p)).
    - ``reverse_kl``: minimise KL(q||p) = E_q[log q - log p], each component's expectation by reparameterised
      draws x = mu_k + L_k eps (so the weights get an exact gradient through sum_k w_k E_k[...]).
    - ``js``, ``tv``: grid quadrature; ``w1``: 1D CDFs; ``mmd``: closed form for mixtures.
    Every step also reports the forward and reverse KL by grid quadrature.
    """

    def __init__(self, target: Mixture, divergence: str = "forward_kl", config: FitConfig = FitConfig(),
                 seed: int = 0) -> None:
        super().__init__()
        if divergence not in OBJECTIVES:
            raise ValueError(f"unknown divergence {divergence!r}; known: {', '.join(OBJECTIVES)}")
        if divergence == "w1" and target.dim != 1:
            raise ValueError("the Wasserstein-1 objective is implemented for 1D only")
        self.target, self.divergence, self.config, self.seed = target, divergence, config, seed
        self.device, dim = target.device, target.dim
        dtype = compute_dtype(self.device)
        start = np.broadcast_to(np.asarray(config.start_mean, dtype=np.float64), (dim,))
        means = start[None, :] + _start_offsets(config.n_components, dim, config.start_spread)
        self.means = torch.tensor(means, dtype=dtype, device=self.device, requires_grad=True)
        self.logits = torch.zeros(config.n_components, dtype=dtype, device=self.device, requires_grad=True)
        # Sigma_k = L_k L_k^T with L_k = diag(exp(log_diag)) + strictly lower part
        self.log_diag = torch.full((config.n_components, dim), math.log(config.start_std), dtype=dtype,
                                   device=self.device, requires_grad=not config.fixed_variance)
        self.lower = torch.zeros(config.n_components, dim, dim, dtype=dtype, device=self.device,
                                 requires_grad=not config.fixed_variance and dim > 1)
        trainable = [t for t in (self.means, self.logits, self.log_diag, self.lower) if t.requires_grad]
        if config.n_components == 1:
            trainable = [t for t in trainable if t is not self.logits]
        self.optimizer = Adam(trainable, lr=config.learning_rate)
        self.generator = torch_generator(derive_seed(seed, "reverse-kl", divergence), self.device)
        self.data = target.sample(config.n_samples, derive_seed(seed, "data")) if divergence == "forward_kl" else None
        self.grid: GridQuadrature | None = None
        self.log_p_grid: torch.Tensor | None = None
        if divergence in ("js", "tv", "w1"):  # grid objectives: a grid over p and the start of q
            start_q = Mixture(np.ones(len(means)), means, np.tile(config.start_std**2 * np.eye(dim), (len(means), 1, 1)),
                              device=self.device)
            self.grid = GridQuadrature.covering([target, start_q], config.resolution or _grid_resolution(dim))
            self.log_p_grid = target.log_prob(self.grid.points)

    # --- q's parameters ----------------------------------------------------------
    def chols(self) -> torch.Tensor:
        strict = torch.tril(self.lower, diagonal=-1)
        return strict + torch.diag_embed(torch.exp(self.log_diag))

    def log_weights(self) -> torch.Tensor:
        return torch.log_softmax(self.logits, dim=0)

    def model(self) -> Mixture:
        """The current q as a (detached) ``Mixture``."""
        chols = self.chols().detach()
        return Mixture(to_numpy(torch.exp(self.log_weights())), to_numpy(self.means),
                       to_numpy(chols @ chols.transpose(1, 2)), device=self.device)

    def log_q(self, x: torch.Tensor) -> torch.Tensor:
        return mixture_log_prob_torch(x, self.log_weights(), self.means, self.chols())

    # --- objectives --------------------------------------------------------------
    def objective(self) -> torch.Tensor:
        """The loss whose gradient moves q (see the class docstring)."""
        if self.divergence == "forward_kl":
            return -self.log_q(self.data).mean()
        if self.divergence == "reverse_kl":
            return self._reverse_kl_reparameterised()
        if self.divergence == "mmd":
            chols = self.chols()
            return _mmd2_parts(self.target.weights, self.target.means, self.target.covariances,
                               torch.exp(self.log_weights()), self.means, chols @ chols.transpose(1, 2),
                               self.config.mmd_bandwidth)
        if self.divergence == "w1":
            return self._w1_objective()
        log_q = self.log_q(self.grid.points)
        if self.divergence == "js":
            return js_from_log_densities(self.log_p_grid, log_q, self.grid)
        return tv_from_log_densities(self.log_p_grid, log_q, self.grid)

    def _reverse_kl_reparameterised(self) -> torch.Tensor:
        """KL(q||p) ~ sum_k w_k (1/B) sum_b [log q(x_kb) - log p(x_kb)], x_kb = mu_k + L_k eps_b."""
        n_components, dim = self.means.shape
        eps = torch.randn(n_components, self.config.batch_size, dim, dtype=self.means.dtype, device=self.device,
                          generator=self.generator)
        x = self.means[:, None, :] + torch.einsum("kij,kbj->kbi", self.chols(), eps)  # (K, B, d)
        flat = x.reshape(-1, dim)
        log_ratio = (self.log_q(flat) - self.target.log_prob(flat)).reshape(n_components, -1).mean(dim=1)
        return (torch.exp(self.log_weights()) * log_ratio).sum()

    def _w1_objective(self) -> torch.Tensor:
        points = self.grid.points[:, 0]
        stds = torch.exp(self.log_diag[:, 0])
        cdf_q = (torch.exp(self.log_weights())[:, None]
                 * torch.special.ndtr((points[None, :] - self.means[:, :1]) / stds[:, None])).sum(0)
        return self.grid.integrate(torch.abs(self.target.cdf(points) - cdf_q))

    # --- stepper protocol ----------------------------------------------------------
    def _step(self) -> dict[str, float]:
        self.optimizer.zero_grad()
        loss = self.objective()
        loss.backward()
        self.optimizer.step()
        if not (torch.isfinite(loss) and self.state_is_finite()):
            return {"loss": math.nan}  # the stepper's guard restores the last good state
        try:
            return {"loss": float(loss.detach()), **self.kl_metrics()}
        except ValueError as error:  # q degenerated (a covariance no longer positive definite)
            raise FloatingPointError(str(error)) from error

    def kl_metrics(self) -> dict[str, float]:
        """Forward and reverse KL of the current q by quadrature on a grid covering p and q."""
        with torch.no_grad():
            q = self.model()
            grid = GridQuadrature.covering([self.target, q], self.config.resolution or _grid_resolution(self.target.dim))
            log_p, log_q = self.target.log_prob(grid.points), q.log_prob(grid.points)
            return {"forward_kl": float(kl_from_log_densities(log_p, log_q, grid)),
                    "reverse_kl": float(kl_from_log_densities(log_q, log_p, grid))}

    def get_state(self) -> dict:
        tensors = {name: getattr(self, name).detach().clone() for name in ("means", "logits", "log_diag", "lower")}
        return {"tensors": tensors, "optimizer": self.optimizer.get_state()}

    def set_state(self, state: dict) -> None:
        with torch.no_grad():
            for name, value in state["tensors"].items():
                getattr(self, name).copy_(value)
        self.optimizer.set_state(state["optimizer"])

    def state_is_finite(self) -> bool:
        with torch.no_grad():
            tensors = (self.means, self.logits, self.log_diag, self.lower, self.chols())
            return all(bool(torch.isfinite(t).all()) for t in tensors)

    def snapshot(self) -> dict:
        """weights (K,), means (K, d), covariances (K, d, d) of q, as NumPy."""
        q = self.model()
        return {"weights": q.params.weights, "means": q.params.means, "covariances": q.params.covariances}


def _grid_resolution(dim: int) -> int:
    return 1500 if dim == 1 else 100


def _start_offsets(n_components: int, dim: int, spread: float) -> np.ndarray:
    """Deterministic start offsets (K, d): centred on a line (1D) or a circle (2D)."""
    if n_components == 1:
        return np.zeros((1, dim))
    if dim == 1:
        return ((np.arange(n_components) - (n_components - 1) / 2) * spread)[:, None]
    angles = 2 * np.pi * np.arange(n_components) / n_components
    return spread * np.stack([np.cos(angles), np.sin(angles)], axis=1)


class FitRace(Stepper):
    """Several ``DivergenceFit`` runs from the same start, advanced together (forward vs reverse KL...)."""

    def __init__(self, target: Mixture, divergences: Sequence[str] = ("forward_kl", "reverse_kl"),
                 config: FitConfig = FitConfig(), seed: int = 0) -> None:
        super().__init__()
        self.target = target
        self.fits = {name: DivergenceFit(target, name, config, seed) for name in dict.fromkeys(divergences)}
        self.paths: dict[str, list[dict]] = {name: [fit.snapshot()] for name, fit in self.fits.items()}

    def _step(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, fit in self.fits.items():
            result = fit.step()
            if fit.stopped:
                raise FloatingPointError(f"the {OBJECTIVES[name]} fit diverged")
            self.paths[name].append(fit.snapshot())
            metrics.update({f"{name}:{key}": value for key, value in result.items() if key != "iteration"})
        return metrics

    def get_state(self) -> dict:
        return {"fits": {name: fit.get_state() for name, fit in self.fits.items()},
                "lengths": {name: len(path) for name, path in self.paths.items()}}

    def set_state(self, state: dict) -> None:
        for name, fit in self.fits.items():
            fit.set_state(state["fits"][name])
            fit.stopped = False
            del self.paths[name][state["lengths"][name]:]

    def state_is_finite(self) -> bool:
        return all(fit.state_is_finite() for fit in self.fits.values())

    def snapshot(self) -> dict:
        return {name: fit.snapshot() for name, fit in self.fits.items()}

    def models(self) -> dict[str, Mixture]:
        return {name: fit.model() for name, fit in self.fits.items()}


# ----------------------------------------------------------------------------------
# Where the fits can end: the optimum of forward KL, local optima of reverse KL
# ----------------------------------------------------------------------------------


def moment_matching(p: Mixture) -> tuple[np.ndarray, np.ndarray]:
    """The forward-KL optimum over single Gaussians: q* = N(E_p[x], Cov_p[x]) (mean (d,), cov (d, d))."""
    return p.mean(), p.covariance()


def reverse_kl_local_optima(p: Mixture, *, fixed_std: float | None = None, tolerance: float = 0.05) -> list[dict]:
    """Local minima of KL(q||p) over single Gaussians q, by L-BFGS (Gauss-Hermite quadrature) from several starts.

    Starts: each mode of p (at its own width) and the moment-matched Gaussian. Returns distinct optima
    as dicts with mean (d,), cov (d, d) and the reverse KL, best first.
    """
    starts = [(to_numpy(m), to_numpy(torch.linalg.cholesky(c))) for m, c in zip(p.means, p.covariances)]
    mean, cov = moment_matching(p)
    starts.append((mean, np.linalg.cholesky(cov)))
    # a small deterministic nudge: a start on a symmetry axis would otherwise stay on a saddle point
    nudge = 0.05 * np.sqrt(np.diag(cov)) * np.linspace(1.0, 0.5, p.dim)
    starts = [(start_mean + nudge, start_chol) for start_mean, start_chol in starts]
    found: list[dict] = []
    for start_mean, start_chol in starts:
        optimum = _minimise_reverse_kl(p, start_mean, start_chol, fixed_std)
        if all(np.linalg.norm(optimum["mean"] - other["mean"]) > tolerance for other in found):
            found.append(optimum)
    return sorted(found, key=lambda o: o["reverse_kl"])


def _minimise_reverse_kl(p: Mixture, start_mean: np.ndarray, start_chol: np.ndarray, fixed_std: float | None) -> dict:
    """L-BFGS (SciPy) on KL(q||p) = -H(q) - E_q[log p] over one Gaussian q, gradients by torch autograd."""
    device, dtype = p.device, p.means.dtype
    dim = start_mean.size
    rows, cols = np.tril_indices(dim, k=-1)
    no_log_weight = torch.zeros(1, dtype=dtype, device=device)
    fixed_log_diag = None if fixed_std is None else torch.full((dim,), math.log(fixed_std), dtype=dtype, device=device)

    def unpack(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = theta[:dim]
        log_diag = fixed_log_diag if fixed_log_diag is not None else theta[dim:2 * dim]
        chol = torch.diag(torch.exp(log_diag))
        if fixed_log_diag is None and len(rows):
            chol = chol.index_put((torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)),
                                  theta[2 * dim:])
        return mean, chol

    def reverse_kl(theta: torch.Tensor) -> torch.Tensor:
        # H(q) = d/2 log(2 pi e) + log det L
        mean, chol = unpack(theta)
        entropy = 0.5 * dim * math.log(2 * math.pi * math.e) + torch.log(torch.diagonal(chol)).sum()
        return -entropy - expectation_gauss_hermite(no_log_weight, mean[None], chol[None], p.log_prob,
                                                    order=64 if dim == 1 else 20)

    def value_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.tensor(flat, dtype=dtype, device=device, requires_grad=True)
        value = reverse_kl(theta)
        value.backward()
        return float(value.detach()), to_numpy(theta.grad).astype(np.float64)

    start = [start_mean]
    if fixed_std is None:
        start += [np.log(np.diag(start_chol)), start_chol[rows, cols]]
    result = optimize.minimize(value_and_gradient, np.concatenate(start), jac=True, method="L-BFGS-B",
                               options={"maxiter": 300})
    with torch.no_grad():
        theta = torch.tensor(result.x, dtype=dtype, device=device)
        mean, chol = unpack(theta)
        return {"mean": to_numpy(mean), "cov": to_numpy(chol @ chol.T), "reverse_kl": float(reverse_kl(theta))}


def kl_landscape_1d(p: Mixture, mus: np.ndarray, sigmas: np.ndarray, resolution: int = 1500) -> dict[str, np.ndarray]:
    """Forward and reverse KL between a 1D p and every q = N(mu, sigma^2) of a parameter grid.

    Returns arrays of shape (len(sigmas), len(mus)). Forward: KL(p||q) = -H(p) + 1/2 log(2 pi sigma^2)
    + (Var_p + (E_p x - mu)^2) / (2 sigma^2) exactly (only H(p) by quadrature). Reverse:
    KL(q||p) = -H(q) - E_q[log p], E_q[log p] by quadrature on a grid covering every q.
    """
    if p.dim != 1:
        raise ValueError("the (mu, sigma) landscape is for 1D targets")
    mus, sigmas = np.asarray(mus, dtype=np.float64), np.asarray(sigmas, dtype=np.float64)
    mean, variance = p.mean()[0], p.covariance()[0, 0]
    mu_grid, sigma_grid = np.meshgrid(mus, sigmas)
    forward = (-entropy_grid(p) + 0.5 * np.log(2 * np.pi * sigma_grid**2)
               + (variance + (mean - mu_grid) ** 2) / (2 * sigma_grid**2))
    spread = 7 * sigmas.max()
    grid = GridQuadrature.over(np.array([[min(mus.min() - spread, p.bounds(7)[0, 0]),
                                          max(mus.max() + spread, p.bounds(7)[0, 1])]]), resolution, p.device)
    x = grid.points[:, 0]
    log_p = p.log_prob(grid.points)  # (M,)
    dtype, device = log_p.dtype, log_p.device
    mu_t = torch.as_tensor(mu_grid.ravel(), dtype=dtype, device=device)[:, None]
    sigma_t = torch.as_tensor(sigma_grid.ravel(), dtype=dtype, device=device)[:, None]
    q = torch.exp(-0.5 * ((x[None, :] - mu_t) / sigma_t) ** 2) / (sigma_t * math.sqrt(2 * math.pi))  # (P, M)
    expected_log_p = (q * log_p[None, :]).sum(dim=1) * grid.cell_volume
    entropy_q = 0.5 * np.log(2 * np.pi * np.e * sigma_grid**2)
    reverse = -entropy_q - to_numpy(expected_log_p).reshape(sigma_grid.shape)
    return {"forward_kl": forward, "reverse_kl": reverse}


def mle_decomposition(p: Mixture, q: Mixture, n: int = 5000, seed: SeedLike = 0) -> dict[str, float]:
    """MLE = forward KL, in numbers: E_p[log q] = -KL(p||q) - H(p).

    Returns the average log-likelihood of q on n samples of p, the exact E_p[log q] and the two terms
    (KL and entropy) by quadrature.
    """
    seed = int(seed) if not isinstance(seed, np.random.Generator) else int(seed.integers(2**31))
    x = p.sample(n, seed)
    grid = GridQuadrature.covering([p, q], _default_resolution(p.dim))
    log_p, log_q = p.log_prob(grid.points), q.log_prob(grid.points)
    density = torch.exp(log_p)
    return {
        "average_log_likelihood": float(q.log_prob(x).mean()),
        "expected_log_q": float(grid.integrate(density * log_q)),
        "forward_kl": float(kl_from_log_densities(log_p, log_q, grid)),
        "entropy_p": float(-grid.integrate(density * log_p)),
    }
