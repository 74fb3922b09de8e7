"""Shared fixtures: the repo root on sys.path, and a `device` fixture that runs torch
tests on the CPU always and on CUDA too when it is available."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    """One torch thread, as the app uses on small machines (playground.device.configure_threads)."""
    import os

    os.environ.setdefault("PLAYGROUND_THREADS", "1")
    from playground.device import configure_threads

    configure_threads()


def _devices() -> list[str]:
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


@pytest.fixture(params=_devices())
def device(request):
    """A torch.device: cpu, and cuda when present."""
    import torch

    return torch.device(request.param)
