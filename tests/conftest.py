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


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright, one per test module (each test opens
    its own context). Not one per run: Playwright's sync API keeps an event loop running
    while it is open, and the load tool's tests need asyncio.run."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from bench.appserver import CHROMIUM, CHROMIUM_ARGS

    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def app_url():
    """Base URL of ``streamlit run app.py`` on a free loopback port, one server for the
    whole run (every browser test opens its own session on it)."""
    from bench.appserver import AppServer

    log = ROOT / "artifacts" / "app_server.log"  # the server's own output: a failed browser test says why
    log.parent.mkdir(parents=True, exist_ok=True)
    with AppServer(log_path=log) as server:
        yield server.url
