"""Image loading: scikit-learn's digits, generic .npz files, and the 3D manifolds."""

from __future__ import annotations

import io

import numpy as np
import pytest

from playground.images import ImageDataError, find_image_files, load_digits, load_manifold, load_npz


def test_digits_are_scaled_to_unit_interval_with_labels():
    from sklearn.datasets import load_digits as sklearn_digits

    digits = load_digits()
    assert digits.images.shape == (1797, 64) and digits.shape == (8, 8)
    assert digits.images.min() == 0.0 and digits.images.max() == 1.0
    np.testing.assert_allclose(digits.images * 16, sklearn_digits().data, atol=1e-5)
    assert digits.n_classes == 10


def test_split_is_seeded_disjoint_and_complete():
    digits = load_digits()
    first, again, other = digits.split(0.2, seed=3), digits.split(0.2, seed=3), digits.split(0.2, seed=4)
    assert len(first.x_test) == round(0.2 * 1797) and len(first.x_train) + len(first.x_test) == 1797
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.y_test, other.y_test)
    rows = {row.tobytes() for row in first.x_train}
    assert sum(row.tobytes() in rows for row in first.x_test) < 20  # only genuine duplicate digits overlap


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_npz_with_keras_keys_is_concatenated_scaled_and_shaped(tmp_path):
    generator = np.random.default_rng(0)
    x_train = generator.integers(0, 256, size=(30, 12, 12), dtype=np.uint8)
    x_test = generator.integers(0, 256, size=(10, 12, 12), dtype=np.uint8)
    y_train, y_test = generator.integers(0, 3, 30), generator.integers(0, 3, 10)
    path = tmp_path / "tiny_mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = load_npz(path)
    assert data.name == "tiny_mnist" and data.shape == (12, 12) and data.images.shape == (40, 144)
    np.testing.assert_allclose(data.images[-1], x_test[-1].ravel() / 255.0, atol=1e-6)
    np.testing.assert_array_equal(data.labels, np.concatenate([y_train, y_test]))
    assert data.images.dtype == np.float32 and 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert find_image_files(tmp_path) == [path]


def test_npz_flat_images_string_labels_and_subsampling():
    generator = np.random.default_rng(1)
    flat = generator.random((50, 16))
    labels = np.array(["cat", "dog"] * 25)
    data = load_npz(_npz_bytes(images=flat, labels=labels), max_images=20, seed=0)
    assert data.shape == (4, 4) and data.images.shape == (20, 16)
    assert set(data.labels) <= {0, 1} and any("renumbered" in note for note in data.notes)
    assert any("Subsampled" in note for note in data.notes)


@pytest.mark.parametrize("payload, message", [
    (b"not a zip file", "readable"),
    (_npz_bytes(weights=np.zeros((20, 4))), "no images"),
    (_npz_bytes(x=np.zeros((20, 15))), "square"),
    (_npz_bytes(x=np.zeros((3, 4, 4))), "at least 10"),
    (_npz_bytes(x=np.full((20, 4, 4), np.nan)), "NaN"),
    (_npz_bytes(x=-np.ones((20, 4, 4))), "non-negative"),
    (_npz_bytes(x=np.zeros((20, 4, 4)), y=np.zeros(7)), "labels"),
], ids=["not-npz", "no-image-key", "not-square", "too-few", "nan", "negative", "label-count"])
def test_bad_npz_files_raise_clear_errors(payload, message):
    with pytest.raises(ImageDataError, match=message):
        load_npz(payload)


@pytest.mark.parametrize("name", ["swiss_roll", "s_curve"])
def test_manifolds_are_standardised_3d_and_seeded(name):
    points, position = load_manifold(name, n=400, seed=5)
    assert points.shape == (400, 3) and position.shape == (400,)
    np.testing.assert_allclose(points.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(points.std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(points, load_manifold(name, n=400, seed=5)[0])
    assert not np.array_equal(points, load_manifold(name, n=400, seed=6)[0])
    with pytest.raises(ValueError):
        load_manifold("torus")
