"""Sample-based quality metrics for generative models, usable on their own.

Each function compares two point clouds (real data and generated samples) and
returns a plain float (or a small result tuple):

- ``precision_recall(real, fake, k)``: improved precision and recall with k-NN balls
  (Kynkäänniemi et al., 2019). Precision: how much of the generated mass lies on the
  real data manifold; recall: how much of the real manifold the samples cover.
- ``mode_coverage(samples, centers, radius)``: which modes of a mixture get samples.
- ``sliced_wasserstein(x, y, n_proj, seed)``: average 1D Wasserstein distance over
  random projections, with the exact 1D formula on quantile functions.
- ``mmd(x, y, bandwidth)``: maximum mean discrepancy with a Gaussian kernel (the
  estimator of ``playground.divergences``, wrapped for arrays on any device).

Inputs are arrays or tensors of shape ``(n, d)``; the work runs on ``device``.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(200, 2))
>>> precision_recall(x, x, k=3)
(1.0, 1.0)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from playground.device import default_device, to_tensor
from playground.seeding import SeedLike, torch_generator

_CHUNK = 4096  # rows of a distance matrix computed at once (bounds memory)


def _as_points(points: Any, device: torch.device) -> torch.Tensor:
    """(n, d) float tensor on ``device``; a 1D input becomes one column."""
    tensor = to_tensor(points, device)
    if tensor.ndim == 1:
        tensor = tensor[:, None]
    if tensor.ndim != 2:
        raise ValueError(f"expected points of shape (n, d), got {tuple(tensor.shape)}")
    return tensor


def _kth_neighbour_distance(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest *other* point in the same set, (n,)."""
    n = points.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    radii = []
    for start in range(0, n, _CHUNK):
        distances = torch.cdist(points[start:start + _CHUNK], points)  # (chunk, n)
        # The smallest distance is the point to itself (0): the k-th other one is at k.
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _inside_any_ball(queries: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each query, whether it lies within radii[j] of some centers[j], (m,) bool."""
    inside = []
    for start in range(0, queries.shape[0], _CHUNK):
        distances = torch.cdist(queries[start:start + _CHUNK], centers)  # (chunk, n)
        inside.append((distances <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def precision_recall(real: Any, fake: Any, k: int = 5, *, device: torch.device | None = None) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    The real manifold is the union of balls around each real point with radius the
    distance to its k-th nearest real neighbour; likewise for the fake manifold.
    precision = fraction of fake points inside the real manifold,
    recall = fraction of real points inside the fake manifold.
    """
    device = device or default_device()
    real, fake = _as_points(real, device), _as_points(fake, device)
    real_radii, fake_radii = _kth_neighbour_distance(real, k), _kth_neighbour_distance(fake, k)
    precision = _inside_any_ball(fake, real, real_radii).float().mean().item()
    recall = _inside_any_ball(real, fake, fake_radii).float().mean().item()
    return precision, recall


class ModeCoverage(NamedTuple):
    """Result of ``mode_coverage``."""

    covered: int  # modes that received at least ``min_count`` samples
    counts: np.ndarray  # (K,) samples assigned to each mode (nearest centre within radius)
    high_quality: float  # fraction of samples within ``radius`` of some centre


def mode_coverage(samples: Any, centers: Any, radius: float, *, min_fraction: float = 0.01,
                  device: torch.device | None = None) -> ModeCoverage:
    """Count the modes of a mixture that the samples reach.

    Each sample is assigned to its nearest centre if it lies within ``radius`` of it
    (else it is "off-mode"). A mode is covered when it receives at least
    ``max(1, min_fraction * n)`` samples.
    """
    device = device or default_device()
    samples, centers = _as_points(samples, device), _as_points(centers, device)
    distances = torch.cdist(samples, centers)  # (n, K)
    nearest_distance, nearest = distances.min(dim=1)
    on_mode = nearest_distance <= radius
    counts = torch.bincount(nearest[on_mode], minlength=centers.shape[0])
    min_count = max(1, math.ceil(min_fraction * samples.shape[0]))
    covered = int((counts >= min_count).sum().item())
    return ModeCoverage(covered, counts.cpu().numpy(), float(on_mode.float().mean().item()))


def random_directions(n_proj: int, dim: int, seed: SeedLike = 0, *, device: torch.device | None = None
                      ) -> torch.Tensor:
    """``n_proj`` directions drawn uniformly on the unit sphere in R^dim, (n_proj, dim)."""
    device = device or default_device()
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**31 - 1))
    generator = torch_generator(0 if seed is None else int(seed), device)
    directions = torch.randn(n_proj, dim, generator=generator, device=device)
    return directions / directions.norm(dim=1, keepdim=True)


def wasserstein_1d(u: torch.Tensor, v: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Exact p-Wasserstein distance between 1D empirical distributions, batched.

    ``u`` (..., n) and ``v`` (..., m): W_p^p = int_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p dt,
    computed on the merged breakpoints of the two piecewise-constant quantile functions.
    """
    n, m = u.shape[-1], v.shape[-1]
    u_sorted, v_sorted = u.sort(dim=-1).values, v.sort(dim=-1).values
    if n == m:
        return ((u_sorted - v_sorted).abs() ** p).mean(dim=-1) ** (1.0 / p)
    steps = {"device": u.device, "dtype": u.dtype}
    levels = torch.cat([torch.arange(1, n + 1, **steps) / n, torch.arange(1, m + 1, **steps) / m]).sort().values
    widths = torch.diff(levels, prepend=levels.new_zeros(1))
    # Quantile at the left-closed interval ending at each level: index ceil(t * n) - 1.
    mid = levels - widths / 2
    u_index = torch.clamp(torch.ceil(mid * n).long() - 1, 0, n - 1)
    v_index = torch.clamp(torch.ceil(mid * m).long() - 1, 0, m - 1)
    gaps = (u_sorted[..., u_index] - v_sorted[..., v_index]).abs() ** p
    return (gaps * widths).sum(dim=-1) ** (1.0 / p)


def sliced_wasserstein(x: Any, y: Any, n_proj: int = 64, seed: SeedLike = 0, *, p: float = 2.0,
                       device: torch.device | None = None) -> float:
    """Sliced p-Wasserstein distance: (mean over random directions theta of W_p(theta.x, theta.y)^p)^(1/p)."""
    device = device or default_device()
    x, y = _as_points(x, device), _as_points(y, device)
    if x.shape[1] != y.shape[1]:
        raise ValueError("x and y must have the same dimension")
    directions = random_directions(n_proj, x.shape[1], seed, device=device)  # (P, d)
    return float(sliced_wasserstein_power(x, y, directions, p).item() ** (1.0 / p))


def sliced_wasserstein_power(x: torch.Tensor, y: torch.Tensor, directions: torch.Tensor,
                             p: float = 2.0) -> torch.Tensor:
    """SW_p^p = mean over the unit rows theta of ``directions`` of W_p(theta.x, theta.y)^p, as a
    differentiable tensor (sorting is differentiable): the loss of a sliced-Wasserstein
    auto-encoder and, through ``sliced_wasserstein``, the metric."""
    return (wasserstein_1d(directions @ x.T, directions @ y.T, p) ** p).mean()


def w1_samples_1d(x, y) -> float:
    """W1 between two 1D empirical distributions (any sizes), in float64: ``wasserstein_1d`` with p = 1."""
    x = torch.as_tensor(x).reshape(-1).to(torch.float64)
    y = torch.as_tensor(y, device=x.device).reshape(-1).to(torch.float64)
    return float(wasserstein_1d(x, y, p=1.0))


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


def mmd(x: Any, y: Any, bandwidth: float | None = None, *, unbiased: bool = True,
        device: torch.device | None = None) -> float:
    """Squared maximum mean discrepancy with k(a, b) = exp(-|a - b|^2 / (2 h^2)), as a float.

    MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y); the unbiased estimate leaves the
    diagonal out of the first two means (it can be slightly negative when P = Q).
    ``bandwidth=None`` uses the median heuristic. The estimator itself is the one of
    ``playground.divergences.mmd2_samples`` (shared with the divergences page).
    """
    device = device or default_device()
    if bandwidth is not None and bandwidth <= 0:
        raise ValueError("bandwidth must be positive")
    return float(mmd2_samples(_as_points(x, device), _as_points(y, device), bandwidth, unbiased).item())
