"""Choose the compute device once, and move data to it and back.

Order of preference: ``cuda`` > ``mps`` > ``cpu``. The environment variable
``PLAYGROUND_DEVICE`` (e.g. ``cpu`` or ``cuda:1``) overrides the choice.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

import numpy as np
import torch

ENV_VAR = "PLAYGROUND_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(override: str | None = None) -> torch.device:
    """Return the device to compute on: explicit override, then env var, then cuda > mps > cpu."""
    choice = override or os.environ.get(ENV_VAR, "").strip()
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{ENV_VAR}={choice!r} but CUDA is not available on this machine")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"{ENV_VAR}={choice!r} but MPS is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


@lru_cache(maxsize=1)
def default_device() -> torch.device:
    """The device chosen for this process (cached: the environment is read once)."""
    return pick_device()


def device_label(device: torch.device | None = None) -> str:
    """Human-readable name, e.g. ``cuda (NVIDIA H200)``, ``mps`` or ``cpu``."""
    device = device or default_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def to_tensor(array: Any, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Array-like -> tensor on ``device`` (the default device when None)."""
    device = device or default_device()
    if isinstance(array, torch.Tensor):
        return array.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(array), dtype=dtype, device=device)


def to_numpy(tensor: Any) -> np.ndarray:
    """Tensor (any device, with or without grad) or array-like -> numpy array."""
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy()
    return np.asarray(tensor)


THREADS_ENV_VAR = "PLAYGROUND_THREADS"


@lru_cache(maxsize=1)
def configure_threads() -> int:
    """Set torch's intra-op thread count once per process and return it.

    ``PLAYGROUND_THREADS`` wins; otherwise a machine with at most 2 cores uses 1
    thread. Measured on such a machine serving several viewers: small tensor
    operations ran up to 100x slower with 2 threads spin-waiting for a busy core.
    """
    requested = os.environ.get(THREADS_ENV_VAR, "").strip()
    if requested:
        threads = max(1, int(requested))
    elif (os.cpu_count() or 1) <= 2:
        threads = 1
    else:
        threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run a block with ``count`` intra-op CPU threads (None: leave torch's setting alone).

    Small nets gain nothing from several threads, and on a shared machine the threads
    of concurrent sessions spin against each other (training ran ~20x slower here).
    """
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count is not None and count != previous:
            torch.set_num_threads(previous)
