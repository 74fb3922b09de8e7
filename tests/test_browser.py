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


# Where a data point of the chart whose x-range is ``x_range`` lands on the screen (Plotly's axes).
_PIXEL = """([xRange, x, y]) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const xa = gd._fullLayout && gd._fullLayout.xaxis, ya = gd._fullLayout && gd._fullLayout.yaxis;
    if (!xa || Math.abs(xa.range[0] - xRange[0]) > 1e-6 || Math.abs(xa.range[1] - xRange[1]) > 1e-6) continue;
    const r = gd.getBoundingClientRect();
    return [r.left + xa._offset + xa.l2p(x), r.top + ya._offset + ya.l2p(y)];
  }
  return null;
}"""


def _click_data_point(page, x_range, x, y) -> None:
    position = page.evaluate(_PIXEL, [list(x_range), x, y])
    assert position is not None, f"no chart with x range {x_range}"
    page.mouse.move(*position)
    page.wait_for_timeout(300)
    page.mouse.click(*position)
    page.wait_for_timeout(500)
    wait_idle(page)


def test_clicks_draw_data_on_the_gan_page(app_url, browser):
    """'Draw your own…': two clicks on the plane add 60 points (box/lasso drag modes swallowed clicks)."""
    from playground.data import DRAW_BOX

    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{app_url}/GAN_training?projection=1&data=draw", wait_until="domcontentloaded")
        wait_idle(page)
        page.wait_for_selector(".js-plotly-plot", state="attached", timeout=60_000)
        page.wait_for_timeout(1500)
        box = (-DRAW_BOX - 0.3, DRAW_BOX + 0.3)
        _click_data_point(page, box, -2.0, 0.0)
        _click_data_point(page, box, 2.0, 0.0)
        page.wait_for_selector("text=60 points drawn in 2 clicks", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors
    finally:
        context.close()


def test_a_click_on_the_latent_map_moves_the_probe(app_url, browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        page.goto(f"{app_url}/Latent_explorer", wait_until="domcontentloaded")
        wait_idle(page)
        page.wait_for_selector(".js-plotly-plot", state="attached", timeout=60_000)
        page.wait_for_timeout(1500)
        span = page.evaluate("""() => { for (const gd of document.querySelectorAll('.js-plotly-plot')) {
            const t = gd._fullLayout && gd._fullLayout.title && gd._fullLayout.title.text;
            if (t && t.startsWith('Latent map')) return gd._fullLayout.xaxis.range; } return null; }""")
        assert span is not None, "no latent map"
        _click_data_point(page, span, 0.5 * span[1], -0.5 * span[1])  # empty space: the probe moves there
        page.wait_for_function("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(gd =>
            gd._fullLayout && gd._fullLayout.title && /^decode\\((?!0\\.00, 0\\.00)/.test(gd._fullLayout.title.text))""",
                               timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
