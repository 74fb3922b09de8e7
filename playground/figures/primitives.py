"""Drawing primitives shared by the figure builders (geometry only: no densities)."""

from __future__ import annotations

import numpy as np


def ellipse(mean, covariance, n_sigma: float = 2.0, n_points: int = 120) -> np.ndarray:
    """Points ``(n_points, 2)`` on the ellipse {x : (x - mu)^T Sigma^{-1} (x - mu) = n_sigma^2},
    the n_sigma contour of N(mean, covariance). From the eigen-decomposition, so a singular
    covariance still draws (as a segment) instead of failing like a Cholesky factor would."""
    values, vectors = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    angles = np.linspace(0, 2 * np.pi, n_points)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.asarray(mean, dtype=np.float64) + n_sigma * (circle * np.sqrt(np.clip(values, 0, None))) @ vectors.T
