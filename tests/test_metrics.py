"""Sample-quality metrics against brute force, scikit-learn and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.neighbors import NearestNeighbors

from playground.metrics import (
    mmd,
    mode_coverage,
    precision_recall,
    random_directions,
    sliced_wasserstein,
    wasserstein_1d,
)


def _reference_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The same definition, with scikit-learn's exact neighbour search."""

    def radii(points: np.ndarray) -> np.ndarray:
        distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
        return distances[:, k]

    def coverage(queries: np.ndarray, centers: np.ndarray, r: np.ndarray) -> float:
        distances = np.linalg.norm(queries[:, None, :] - centers[None, :, :], axis=2)
        return float((distances <= r[None, :]).any(axis=1).mean())

    return coverage(fake, real, radii(real)), coverage(real, fake, radii(fake))


def test_precision_recall_match_sklearn_neighbours(device):
    generator = np.random.default_rng(0)
    real = generator.normal(size=(300, 2))
    fake = generator.normal(loc=1.5, scale=0.7, size=(250, 2))
    ours = precision_recall(real, fake, k=4, device=device)
    reference = _reference_precision_recall(real, fake, k=4)
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    assert 0.2 < ours[0] < 1.0 and 0.05 < ours[1] < 0.9  # a partial overlap, not a degenerate case


def test_precision_recall_one_for_identical_sets_and_zero_for_far_apart(device):
    points = np.random.default_rng(1).normal(size=(200, 2))
    assert precision_recall(points, points, k=3, device=device) == (1.0, 1.0)
    assert precision_recall(points, points + 100.0, k=3, device=device) == (0.0, 0.0)


def test_collapsed_samples_have_high_precision_low_recall(device):
    real = np.random.default_rng(2).normal(size=(400, 2))
    collapsed = 0.05 * np.random.default_rng(3).normal(size=(400, 2))  # all near the origin
    precision, recall = precision_recall(real, collapsed, k=5, device=device)
    assert precision > 0.95 and recall < 0.2


def test_precision_recall_rejects_bad_k(device):
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(np.zeros((3, 2)), np.ones((3, 2)), k=3, device=device)


def test_mode_coverage_counts_modes_and_off_mode_samples(device):
    centers = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    samples = np.concatenate([
        np.tile(centers[0], (50, 1)) + 0.01,  # 50 on mode 0
        np.tile(centers[1], (30, 1)) - 0.01,  # 30 on mode 1
        np.tile(centers[2], (1, 1)),  # 1 on mode 2: below 1% of 101 + 20 -> not covered
        np.full((20, 2), 2.5),  # 20 between the modes
    ])
    result = mode_coverage(samples, centers, radius=0.5, device=device)
    np.testing.assert_array_equal(result.counts, [50, 30, 1, 0])
    assert result.covered == 2
    assert result.high_quality == pytest.approx(81 / 101)
    assert mode_coverage(samples, centers, radius=0.5, min_fraction=0.0, device=device).covered == 3


def test_wasserstein_1d_matches_scipy_for_unequal_sizes(device):
    import torch

    generator = np.random.default_rng(4)
    u, v = generator.normal(size=37), generator.gamma(2.0, size=53)
    ours = wasserstein_1d(torch.tensor(u, device=device), torch.tensor(v, device=device), p=1).item()
    assert ours == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-9)
    ours_equal = wasserstein_1d(torch.tensor(u[:30], device=device), torch.tensor(v[:30], device=device), p=1).item()
    assert ours_equal == pytest.approx(stats.wasserstein_distance(u[:30], v[:30]), rel=1e-9)


def test_sliced_wasserstein_is_the_mean_of_scipy_projections(device):
    generator = np.random.default_rng(5)
    x, y = generator.normal(size=(120, 2)), generator.normal(loc=[1.0, -0.5], size=(90, 2))
    directions = random_directions(16, 2, seed=3, device=device).cpu().numpy().astype(np.float64)
    reference = np.mean([stats.wasserstein_distance(x @ d, y @ d) for d in directions])
    ours = sliced_wasserstein(x, y, n_proj=16, seed=3, p=1, device=device)
    assert ours == pytest.approx(reference, rel=1e-4)


def test_sliced_wasserstein_near_zero_for_same_distribution_and_grows_with_shift(device):
    generator = np.random.default_rng(6)
    x, y = generator.normal(size=(2000, 2)), generator.normal(size=(2000, 2))
    same = sliced_wasserstein(x, y, seed=0, device=device)
    distances = [sliced_wasserstein(x, y + shift, seed=0, device=device) for shift in (0.5, 1.0, 2.0)]
    assert same < 0.06
    assert same < distances[0] < distances[1] < distances[2]
    # A shift by s = (2, 2) moves each projection by theta.s: SW_2 = |s| sqrt(E cos^2) = |s| / sqrt(2) = 2 in 2D.
    assert distances[2] == pytest.approx(2.0, rel=0.1)


def test_mmd_matches_sklearn_kernel_formula(device):
    generator = np.random.default_rng(7)
    x, y = generator.normal(size=(60, 2)), generator.normal(loc=0.7, size=(45, 2))
    h = 0.8
    gamma = 1 / (2 * h * h)
    k_xx, k_yy, k_xy = rbf_kernel(x, x, gamma=gamma), rbf_kernel(y, y, gamma=gamma), rbf_kernel(x, y, gamma=gamma)
    biased = k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()
    unbiased = ((k_xx.sum() - np.trace(k_xx)) / (60 * 59) + (k_yy.sum() - np.trace(k_yy)) / (45 * 44)
                - 2 * k_xy.mean())
    assert mmd(x, y, h, unbiased=False, device=device) == pytest.approx(biased, rel=1e-4)
    assert mmd(x, y, h, device=device) == pytest.approx(unbiased, rel=1e-4, abs=1e-6)


def test_mmd_near_zero_for_same_distribution_and_grows_with_shift(device):
    generator = np.random.default_rng(8)
    x, y = generator.normal(size=(800, 2)), generator.normal(size=(800, 2))
    values = [mmd(x, y + shift, 1.0, device=device) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert abs(values[0]) < 5e-3
    assert values[0] < values[1] < values[2] < values[3]
