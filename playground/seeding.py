"""Explicit randomness: every stochastic function takes a seed, never the global RNG."""

from __future__ import annotations

import numpy as np
import torch

SeedLike = int | np.random.Generator | None


def rng(seed: SeedLike) -> np.random.Generator:
    """A NumPy generator from a seed (a generator passes through unchanged).

    ``None`` gives fresh OS entropy: only for callers that explicitly want it.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def torch_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def derive_seed(seed: int, *labels: int | str) -> int:
    """A reproducible child seed, so two parts of one demo do not share a stream."""
    sequence = np.random.SeedSequence([int(seed)] + [abs(hash_label(label)) for label in labels])
    return int(sequence.generate_state(1)[0])


def hash_label(label: int | str) -> int:
    """Stable (process-independent) integer for a label; Python's hash() is salted."""
    if isinstance(label, int):
        return label
    value = 0
    for char in label.encode():
        value = (value * 131 + char) % (2**31 - 1)
    return value
