"""Smoothing of metric histories for display (NumPy only)."""

from __future__ import annotations

import numpy as np


def running_mean(values: np.ndarray, max_window: int = 25) -> tuple[int, np.ndarray]:
    """``(window, means)``: the mean of every ``window`` consecutive values, window = len / 5 in
    [1, max_window], so a short history is smoothed a little and a long one by ``max_window``.
    ``means`` has ``len(values) - window + 1`` entries (the first ends at value ``window``)."""
    values = np.asarray(values, dtype=np.float64)
    window = max(1, min(max_window, len(values) // 5))
    return window, np.convolve(values, np.ones(window) / window, mode="valid")
