"""Image data sets for the auto-encoder pages, and 3D manifolds for "PCA is linear".

Images are flat float32 rows in [0, 1] with their ``shape`` kept beside them, so a
model never cares whether it sees scikit-learn's 8x8 digits or a 28x28 set read from
an ``.npz`` file on disk.

>>> digits = load_digits()
>>> digits.images.shape, digits.shape
((1797, 64), (8, 8))
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from playground.seeding import SeedLike, rng

# Keys tried, in order, when reading an .npz file (Keras' MNIST uses x_train / y_train).
IMAGE_KEYS = ("images", "x", "X", "x_train", "data")
LABEL_KEYS = ("labels", "y", "Y", "y_train", "targets", "target")
TEST_SUFFIXES = (("x_train", "x_test"), ("y_train", "y_test"))
MAX_IMAGES = 20_000  # a page trains on a CPU: larger files are subsampled


class ImageDataError(ValueError):
    """An image file that cannot be used, with a message a student can act on."""


@dataclass(frozen=True)
class ImageDataset:
    """Flat images in [0, 1], optional integer labels, and the image shape."""

    name: str
    images: np.ndarray = field(repr=False)  # (n, height * width) float32 in [0, 1]
    labels: np.ndarray | None = field(repr=False)  # (n,) int64 in 0..n_classes-1, or None
    shape: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return 0 if self.labels is None else int(self.labels.max()) + 1

    @property
    def dim(self) -> int:
        return int(self.images.shape[1])

    def split(self, test_fraction: float = 0.2, seed: SeedLike = 0) -> "ImageSplit":
        """A seeded random train/test split (the same seed gives the same split)."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError("test_fraction must be in (0, 1)")
        n = len(self.images)
        order = rng(seed).permutation(n)
        n_test = max(1, int(round(test_fraction * n)))
        test, train = order[:n_test], order[n_test:]
        labels = self.labels
        return ImageSplit(
            dataset=self,
            x_train=self.images[train], y_train=None if labels is None else labels[train],
            x_test=self.images[test], y_test=None if labels is None else labels[test],
        )


@dataclass(frozen=True)
class ImageSplit:
    """Train and test parts of one ``ImageDataset``."""

    dataset: ImageDataset
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray | None = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray | None = field(repr=False)


def load_digits() -> ImageDataset:
    """scikit-learn's bundled 1,797 handwritten digits (8x8, grey levels 0..16), scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = (bunch.data / 16.0).astype(np.float32)
    return ImageDataset("digits", images, bunch.target.astype(np.int64), (8, 8),
                        notes=("scikit-learn's handwritten digits: 1,797 images of 8x8 pixels.",))


def _first_key(keys: tuple[str, ...], archive) -> str | None:
    return next((key for key in keys if key in archive.files), None)


def _image_shape(raw: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Flatten (n, h, w), (n, h, w, 1) or (n, h*w) arrays; a flat side must be a square."""
    if raw.ndim == 4 and raw.shape[-1] == 1:
        raw = raw[..., 0]
    if raw.ndim == 3:
        return raw.reshape(len(raw), -1), (int(raw.shape[1]), int(raw.shape[2]))
    if raw.ndim == 2:
        side = math.isqrt(raw.shape[1])
        if side * side != raw.shape[1]:
            raise ImageDataError(f"flat images need a square number of pixels; got {raw.shape[1]}. "
                                 "Save them as an (n, height, width) array instead.")
        return raw, (side, side)
    raise ImageDataError(f"images must be an (n, height, width) or (n, pixels) array of grey levels; "
                         f"got shape {raw.shape}")


def _scale_to_unit(images: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Grey levels to [0, 1]: 0..255 or 0..16 integers are divided by their maximum."""
    low, high = float(images.min()), float(images.max())
    if low < 0:
        raise ImageDataError(f"grey levels must be non-negative; the smallest is {low:g}")
    if high <= 1.0:
        return images.astype(np.float32), None
    top = 255.0 if high > 16 else 16.0
    return (images / top).clip(0, 1).astype(np.float32), f"Grey levels were divided by {top:g}."


def _encode_labels(labels: np.ndarray, n: int) -> tuple[np.ndarray, str | None]:
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != n:
        raise ImageDataError(f"{len(labels)} labels for {n} images")
    classes, codes = np.unique(labels, return_inverse=True)
    note = None
    if not (np.issubdtype(labels.dtype, np.integer) and classes[0] == 0 and classes[-1] == len(classes) - 1):
        note = f"Labels were renumbered 0..{len(classes) - 1} (classes: {', '.join(map(str, classes[:12]))})."
    return codes.astype(np.int64), note


def load_npz(source: str | Path | bytes | BinaryIO, *, name: str | None = None, max_images: int = MAX_IMAGES,
             seed: SeedLike = 0) -> ImageDataset:
    """Read grey-level images (and labels if present) from an ``.npz`` file.

    Images under one of ``IMAGE_KEYS`` as ``(n, h, w)`` or ``(n, h*w)``; labels, optional,
    under one of ``LABEL_KEYS``. Keras-style ``x_train``/``x_test`` are concatenated.
    More than ``max_images`` images are subsampled (seeded) to keep training fast.
    """
    if isinstance(source, (str, Path)):
        name = name or Path(source).stem
    elif isinstance(source, bytes):
        source = io.BytesIO(source)
    name = name or "your images"
    try:
        archive = np.load(source, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ImageDataError(f"not a readable .npz file ({error})") from error
    if not hasattr(archive, "files"):
        raise ImageDataError("expected an .npz archive (np.savez), not a single .npy array")
    with archive:
        image_key = _first_key(IMAGE_KEYS, archive)
        if image_key is None:
            raise ImageDataError(f"no images found: name the array one of {', '.join(IMAGE_KEYS)} "
                                 f"(the file holds {', '.join(archive.files) or 'nothing'})")
        raw = np.asarray(archive[image_key])
        label_key = _first_key(LABEL_KEYS, archive)
        raw_labels = None if label_key is None else np.asarray(archive[label_key])
        for train_key, test_key in TEST_SUFFIXES:
            if test_key in archive.files and image_key == train_key:
                raw = np.concatenate([raw, np.asarray(archive[test_key])])
            if test_key in archive.files and label_key == train_key and raw_labels is not None:
                raw_labels = np.concatenate([raw_labels, np.asarray(archive[test_key])])
    if raw.dtype.kind not in "biuf":
        raise ImageDataError(f"images must be numbers; got dtype {raw.dtype}")
    if len(raw) < 10:
        raise ImageDataError(f"at least 10 images are needed; the file has {len(raw)}")
    images, shape = _image_shape(raw)
    images = images.astype(np.float64)
    if not np.isfinite(images).all():
        raise ImageDataError("the images contain NaN or infinite values")
    notes: list[str] = [f"{len(images):,} images of {shape[0]}x{shape[1]} pixels from '{image_key}'."]
    images, scale_note = _scale_to_unit(images)
    labels = None
    if raw_labels is not None:
        labels, label_note = _encode_labels(raw_labels, len(images))
        notes += [label_note] if label_note else []
    if len(images) > max_images:
        keep = np.sort(rng(seed).choice(len(images), max_images, replace=False))
        images, labels = images[keep], None if labels is None else labels[keep]
        notes.append(f"Subsampled to {max_images:,} images so that training stays fast on a CPU.")
    notes += [scale_note] if scale_note else []
    return ImageDataset(name, images, labels, shape, tuple(notes))


def find_image_files(directory: str | Path) -> list[Path]:
    """The ``.npz`` files in ``directory`` (sorted); none when it does not exist."""
    directory = Path(directory)
    return sorted(directory.glob("*.npz")) if directory.is_dir() else []


MANIFOLDS = {"swiss_roll": "Swiss roll", "s_curve": "S-curve"}


def load_manifold(name: str = "swiss_roll", n: int = 1500, noise: float = 0.05,
                  seed: SeedLike = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 3D swiss roll or S-curve, standardised per axis: ``(points (n, 3), position t (n,))``.

    ``t`` is the coordinate along the rolled-up sheet: a good 2D code must keep it in order.
    """
    from sklearn.datasets import make_s_curve, make_swiss_roll

    if name not in MANIFOLDS:
        raise ValueError(f"unknown manifold {name!r}; choose one of {', '.join(MANIFOLDS)}")
    random_state = int(rng(seed).integers(2**31 - 1))
    maker = make_swiss_roll if name == "swiss_roll" else make_s_curve
    points, position = maker(n_samples=int(n), noise=float(noise), random_state=random_state)
    points = (points - points.mean(axis=0)) / points.std(axis=0)
    return points.astype(np.float32), position.astype(np.float32)
