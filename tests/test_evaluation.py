"""Sample-based evaluation metrics against the reference packages (prdc, POT) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import evaluation as E

prdc = pytest.importorskip("prdc")
ot = pytest.importorskip("ot")


@pytest.mark.parametrize("path", ["trees", "chunks"])
@pytest.mark.parametrize("n_real, n_fake, k, shift, dim", [(300, 300, 5, 0.0, 2), (400, 250, 3, 0.7, 2),
                                                           (200, 500, 10, 2.0, 2), (300, 200, 4, 0.3, 3)])
def test_prdc_matches_the_prdc_package(n_real, n_fake, k, shift, dim, path, capsys):
    rng = np.random.default_rng(n_real + k)
    real = rng.normal(size=(n_real, dim))
    fake = rng.normal(size=(n_fake, dim)) * 1.3 + shift
    ours = E.precision_recall_density_coverage(real, fake, k, device=torch.device("cpu"), method=path)
    theirs = prdc.compute_prdc(real, fake, k)  # continuous data: no ties, so <= and < agree
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(ours, name) == pytest.approx(float(theirs[name]), abs=1e-12), name


def test_ties_count_inside_unlike_prdc():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(100, 2))
    for method in ("trees", "chunks"):
        ours = E.precision_recall_density_coverage(real, real.copy(), 5, method=method)
        assert ours.precision == ours.recall == ours.coverage == 1.0 and ours.density >= 1.0


def test_metric_directions_on_constructed_sets():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(1500, 2))
    narrow = E.precision_recall_density_coverage(real, rng.normal(size=(1500, 2)) * 0.5, 5)
    wide = E.precision_recall_density_coverage(real, rng.normal(size=(1500, 2)) * 2.0, 5)
    assert narrow.precision > wide.precision and narrow.recall < wide.recall
    centers = np.array([[-4.0, 0.0], [0.0, 0.0], [4.0, 0.0]])
    modes = centers[rng.integers(0, 3, 1500)] + 0.4 * rng.normal(size=(1500, 2))
    all_modes = E.precision_recall_density_coverage(modes, centers[rng.integers(0, 3, 1500)]
                                                    + 0.4 * rng.normal(size=(1500, 2)), 5)
    one_dropped = E.precision_recall_density_coverage(modes, centers[rng.integers(0, 2, 1500)]
                                                      + 0.4 * rng.normal(size=(1500, 2)), 5)
    assert one_dropped.recall < all_modes.recall - 0.2 and one_dropped.coverage < all_modes.coverage - 0.2


def test_frechet_distance_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    m1, m2 = np.array([0.0, 1.0]), np.array([1.5, -0.5])
    c1, c2 = np.array([[1.0, 0.6], [0.6, 2.0]]), np.array([[0.5, -0.2], [-0.2, 0.8]])
    from scipy.linalg import sqrtm

    root = sqrtm(c1)
    closed = float(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * np.real(sqrtm(root @ c2 @ root))))
    x = rng.multivariate_normal(m1, c1, 200_000)
    y = rng.multivariate_normal(m2, c2, 200_000)
    assert E.frechet_distance(x, y) == pytest.approx(closed, rel=0.01)
    assert E.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    # small samples: biased upwards (the pitfall), and always a real number
    small = [E.frechet_distance(rng.multivariate_normal(m1, c1, 20), rng.multivariate_normal(m1, c1, 20))
             for _ in range(50)]
    assert np.mean(small) > 0.05 and all(np.isfinite(small))


@pytest.mark.parametrize("n, m", [(200, 200), (120, 90)])
def test_exact_w2_equals_pot(n, m):
    rng = np.random.default_rng(n + m)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + [1.0, 0.5]
    cost = ot.dist(x, y)  # squared Euclidean
    reference = np.sqrt(ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), cost))
    assert E.wasserstein2_exact(x, y) == pytest.approx(reference, rel=1e-7)


def test_knn_radii_are_the_k_th_other_neighbour():
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)
    points = rng.normal(size=(500, 2))
    distances, _ = cKDTree(points).query(points, k=6)  # itself first, then 5 others
    np.testing.assert_allclose(E.knn_radii(points, 5), distances[:, 5], rtol=1e-4)  # float32 on the device


def test_the_sandbox_defects_move_the_metrics_the_documented_way():
    from playground.targets import get_target

    target = get_target("mog2d")
    real = np.asarray(target.sample(1500, 1))
    clean = E.generated_set(target, 1500, seed=2)
    assert clean.shape == (1500, 2) and np.isfinite(clean).all()
    base = E.precision_recall_density_coverage(real, clean, 5)
    narrow = E.precision_recall_density_coverage(real, E.generated_set(target, 1500, E.Defects(scale=0.5), seed=2), 5)
    dropped = E.precision_recall_density_coverage(real, E.generated_set(target, 1500, E.Defects(dropped_modes=1),
                                                                        seed=2), 5)
    noisy = E.generated_set(target, 1500, E.Defects(outliers=0.2), seed=2)
    copied = E.generated_set(target, 1500, E.Defects(memorised=0.5), seed=2, training=real)
    assert narrow.precision > base.precision - 0.01 and narrow.recall < base.recall - 0.1
    assert dropped.recall < base.recall - 0.1 and dropped.coverage < base.coverage - 0.1
    assert E.precision_recall_density_coverage(real, noisy, 5).precision < base.precision - 0.1
    # memorised points sit exactly on training points: half of the set is found in the training set
    assert np.mean([np.any(np.all(real == p, axis=1)) for p in copied[-750:]]) == 1.0
    assert E.frechet_distance(real, E.generated_set(target, 1500, E.Defects(shift=1.0), seed=2)) > \
        E.frechet_distance(real, clean) + 0.8  # a shift of 1 adds ~1 to the squared mean difference
    with pytest.raises(ValueError):
        E.generated_set(get_target("banana"), 10, E.Defects(dropped_modes=1))


def test_sample_size_bias_density_and_frechet_move_with_n():
    from playground.targets import get_target

    curves = E.sample_size_curves(get_target("gaussian2d"), E.Defects(), [20, 2000], seed=0)
    # the same distribution on both sides: the Fréchet distance (true value 0) shrinks with N
    assert curves["frechet"][0] > 5 * curves["frechet"][1]
    assert abs(curves["coverage"][1] - curves["coverage"][0]) < 0.3


def test_balls_holding_and_closer_to_training():
    from playground.targets import get_target

    rng = np.random.default_rng(4)
    centers = rng.normal(size=(300, 2))
    others = rng.normal(size=(200, 2)) + 3
    radii = E.knn_radii(centers, 5)
    direct = (np.linalg.norm(centers[:, None] - others[None], axis=2) <= radii[:, None]).any(axis=1)
    np.testing.assert_array_equal(E.balls_holding(centers, radii, others), direct)
    target = get_target("mog2d")
    training, fresh = np.asarray(target.sample(1000, 1)), np.asarray(target.sample(1000, 2))
    honest = E.generated_set(target, 1000, seed=3)
    copying = E.generated_set(target, 1000, E.Defects(memorised=0.5), seed=3, training=training)
    assert abs(E.closer_to_training(training, fresh, honest) - 0.5) < 0.06
    assert E.closer_to_training(training, fresh, copying) > 0.7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_pages_hints_hold(seed):
    """What the page's hints promise, on its default sizes (N = 300, k = 5, the 3-Gaussian mixture)."""
    from playground.targets import get_target

    target = get_target("mog2d")
    real = np.asarray(target.sample(300, seed))

    def scores(defects):
        return E.precision_recall_density_coverage(real, E.generated_set(target, 300, defects, seed=seed), 5)

    clean, wide = scores(E.Defects()), scores(E.Defects(scale=1.8))
    dropped, noisy = scores(E.Defects(dropped_modes=1)), scores(E.Defects(outliers=0.1))
    assert wide.precision < clean.precision - 0.2 and wide.recall >= clean.recall - 0.02  # wide: recall barely moves
    assert dropped.precision > clean.precision - 0.05 and dropped.coverage < clean.coverage - 0.3  # collapse
    assert abs((clean.precision - noisy.precision) - 0.1) < 0.05 and noisy.coverage > clean.coverage - 0.05


def test_mmd_permutation_test_statistic_and_calibration():
    from playground.metrics import mmd

    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(150, 2)), rng.normal(size=(120, 2)) + [0.6, 0.0]
    value, p = E.mmd_permutation_test(x, y, bandwidth=1.0, permutations=200, seed=1)
    assert value == pytest.approx(mmd(x, y, bandwidth=1.0, device=torch.device("cpu")), rel=1e-5)
    assert p < 0.01
    # under the null the p-values are roughly uniform: about 10 % fall below 0.1
    small = [E.mmd_permutation_test(rng.normal(size=(60, 2)), rng.normal(size=(60, 2)), permutations=99,
                                    seed=s)[1] < 0.1 for s in range(60)]
    assert 0.0 <= np.mean(small) <= 0.25
