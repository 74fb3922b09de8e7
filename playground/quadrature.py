"""Numerical integration behind the pages' reference numbers (NumPy and SciPy; no torch).

- ``kl_normal_quad``: KL between two 1D normals by adaptive quadrature (SciPy ``quad``), the
  numeric column next to the closed form on the KL page.
- ``grid_marginals``: a density known up to its constant on a regular 2D grid, normalised,
  and its two marginals by Riemann sums (the "true marginal" curves of the MCMC section).
- ``trapezoid_marginals``: the two marginals of a 2D density on a grid by the trapezoid rule
  (the marginal panels of the KDE vs GMM page).

Grids follow ``np.meshgrid(x, y)``: rows are y, columns are x.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import integrate

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _log_normal(t: float, mean: float, std: float) -> float:
    """log N(t | mean, std^2) for a scalar (``quad`` calls it ~10^3 times: no NumPy overhead)."""
    return -0.5 * ((t - mean) / std) ** 2 - math.log(std) - HALF_LOG_2PI


def kl_normal_quad(mean_p: float, std_p: float, mean_q: float, std_q: float, *, width: float = 12.0,
                   limit: int = 200) -> float:
    """D_KL(N(mean_p, std_p^2) || N(mean_q, std_q^2)) = int p log(p/q) dx by SciPy ``quad``, over
    mean_p +- ``width`` std_p (the mass of p beyond 12 sigma is below 1e-32)."""

    def integrand(t: float) -> float:
        log_p = _log_normal(t, mean_p, std_p)
        return math.exp(log_p) * (log_p - _log_normal(t, mean_q, std_q))

    value, _ = integrate.quad(integrand, mean_p - width * std_p, mean_p + width * std_p, limit=limit)
    return value


def grid_marginals(log_density: np.ndarray, axes: Sequence[np.ndarray]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Normalise exp(log_density) on the regular grid ``axes = (x, y)`` (shape (len(y), len(x)))
    so that sum * dx * dy = 1; return it with the marginals (p(x) on x, p(y) on y) as Riemann sums."""
    density = np.exp(log_density - np.max(log_density))
    dx, dy = axes[0][1] - axes[0][0], axes[1][1] - axes[1][0]
    density /= density.sum() * dx * dy
    return density, (density.sum(axis=0) * dy, density.sum(axis=1) * dx)


def trapezoid_marginals(density: np.ndarray, axes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Marginals (p(x) on x, p(y) on y) of a 2D density on the grid ``axes = (x, y)`` by the trapezoid rule."""
    return np.trapezoid(density, axes[1], axis=0), np.trapezoid(density, axes[0], axis=1)
