"""Real-browser smoke test: every page served by ``streamlit run`` opens in headless
Chromium without an exception and with its charts drawn. Screenshots (1920x1080,
projection mode) go to ``artifacts/screenshots/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.appserver import CHROMIUM, wait_idle
from playground.ui.navigation import ROOT, available_pages
from conftest import import_playwright

SHOTS = ROOT / "artifacts" / "screenshots"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

sync_api = import_playwright()  # a skip locally, a failure in CI


def url_path(page_path: str) -> str:
    """Streamlit's URL for a pages/ file: the name without number prefix and extension."""
    stem = Path(page_path).stem
    return "" if page_path == "app.py" else stem.split("_", 1)[1]


PAGES = [("app.py", "Home")] + [(p.path, p.title) for p in available_pages()]




@pytest.mark.parametrize("path, title", PAGES, ids=[Path(p).stem for p, _ in PAGES])
def test_page_renders_in_a_real_browser(app_url, browser, path, title):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith((app_url, "data:", "blob:"))
            else foreign.append(request.url))
    try:
        page.goto(f"{app_url}/{url_path(path)}?projection=1", wait_until="domcontentloaded")
        wait_idle(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{Path(path).stem}.png"))
        assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
            '[data-testid="stException"]').first.inner_text()
        heading = page.locator("h1").first.inner_text()
        assert title in heading or path == "app.py"
        if path != "app.py":
            charts = page.locator('[data-testid="stPlotlyChart"] .main-svg')
            assert charts.count() >= 1, "no chart rendered"
        assert not errors, errors
        assert not foreign, f"the page fetched from outside its own origin (breaks offline use): {foreign}"
    finally:
        context.close()
