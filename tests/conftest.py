"""Shared fixtures: the repo root on sys.path, a `device` fixture that runs torch
tests on the CPU always and on CUDA too when it is available, and `import_playwright`
for the browser tests (a skip locally, a failure in CI)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

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


def skip_or_fail_in_ci(reason: str) -> NoReturn:
    """What a browser test does when something it needs is missing: skip on a developer's
    machine, fail under CI (``CI`` set, as GitHub Actions and most CI services do), where a
    skipped browser suite would pass unnoticed. The same rule as the Chromium checks."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must install it", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def import_playwright() -> ModuleType:
    """``playwright.sync_api``, or ``skip_or_fail_in_ci`` when Playwright is not installed.
    Use instead of ``pytest.importorskip("playwright.sync_api")``, which skips in CI too."""
    try:
        from playwright import sync_api
    except ImportError as error:
        missing = str(error)
    else:
        return sync_api
    skip_or_fail_in_ci(f"Playwright is missing ({missing}; pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright, one per test module (each test opens
    its own context). Not one per run: Playwright's sync API keeps an event loop running
    while it is open, and the load tool's tests need asyncio.run."""
    sync_api = import_playwright()
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
