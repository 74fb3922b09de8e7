"""Real-browser smoke test: every page served by ``streamlit run`` opens in headless
Chromium without an exception and with its charts drawn. Screenshots (1920x1080,
projection mode) go to ``artifacts/screenshots/``."""

from __future__ import annotations

import os
from contextlib import contextmanager
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


@contextmanager
def _browser_page(browser, width: int = 1920, height: int = 1080):
    """A page in a fresh browser context, with the page errors it raises collected; closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, errors
    finally:
        context.close()




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

    with _browser_page(browser) as (page, errors):
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


def test_a_click_on_the_latent_map_moves_the_probe(app_url, browser):
    with _browser_page(browser) as (page, _):
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


_MAP = """() => { const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
  return {range: xa.range, yrange: ya.range, left: r.left + xa._offset, top: r.top + ya._offset,
          x0: xa.p2l(0), x1: xa.p2l(1)}; }"""
_TO_PIXEL = """([x, y]) => { const gd = document.querySelector('.st-key-latent_map .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
  return [r.left + xa._offset + xa.l2p(x), r.top + ya._offset + ya.l2p(y)]; }"""
_HOVER = """() => { const b = document.querySelector('[data-testid="pg-decode-hover"]');
  return b && b.style.display === 'block' && b.__pgDecoded ? b.__pgDecoded : null; }"""
_PROBE = """() => { for (const gd of document.querySelectorAll('.js-plotly-plot')) {
  const t = (gd._fullLayout.title && gd._fullLayout.title.text) || '';
  if (t.startsWith('decode(')) return {title: t, z: gd._fullData[0].z.map(row => Array.from(row))}; } return null; }"""


def test_hovering_the_latent_map_decodes_under_the_cursor_as_the_server_does(app_url, browser):
    """Decode-on-hover: the browser runs the exported decoder at the cursor. After a training Step,
    hover over a point of the click grid, then click it: the server decodes the same point for the
    probe, and the two images agree (to the cursor's sub-pixel offset); a far point decodes differently."""
    import numpy as np

    from playground.autoencoders import latent_grid

    with _browser_page(browser) as (page, errors):
        page.goto(f"{app_url}/Latent_explorer", wait_until="domcontentloaded")
        wait_idle(page)
        page.wait_for_selector(".st-key-latent_map .js-plotly-plot", timeout=60_000)
        page.locator(".st-key-train__step button").first.click()
        page.wait_for_selector("text=Epoch 2 of", timeout=60_000)
        wait_idle(page)
        page.wait_for_timeout(1000)
        geometry = page.evaluate(_MAP)
        span = min(geometry["range"][1], geometry["yrange"][1])  # the box [-span, span]²; equal aspect widens one axis
        grid = latent_grid(25, -span, span)
        target = grid[(25 * 25) // 2 + 25 * 4 + 5]  # a grid point away from the centre
        position = page.evaluate(_TO_PIXEL, [float(target[0]), float(target[1])])
        page.mouse.move(position[0] - 40, position[1] + 40)
        page.mouse.move(*position, steps=4)
        page.wait_for_function(_HOVER, timeout=10_000)
        hovered = page.evaluate(_HOVER)
        pixel = abs(geometry["x1"] - geometry["x0"])
        assert np.allclose(hovered["z"], target, atol=1.5 * pixel), (hovered["z"], target)
        page.mouse.move(*page.evaluate(_TO_PIXEL, [-0.8 * span, 0.8 * span]), steps=4)
        page.wait_for_timeout(300)
        far = page.evaluate(_HOVER)
        assert far is not None and np.abs(np.subtract(far["image"], hovered["image"])).max() > 0.05
        page.mouse.move(*position, steps=4)
        page.wait_for_timeout(300)
        page.mouse.click(*position)
        title = f"decode({target[0]:.2f}, {target[1]:.2f})"
        page.wait_for_function(f"() => {{ const p = ({_PROBE})(); return p && p.title === {title!r}; }}",
                               timeout=60_000)
        served = np.ravel(page.evaluate(_PROBE)["z"])
        # the cursor sits within a pixel of the grid point: the decoded images agree to far better than 0.05
        assert np.abs(np.asarray(hovered["image"]) - served).max() < 0.02
        page.mouse.move(5, 5)
        page.wait_for_timeout(300)
        assert page.evaluate(_HOVER) is None, "the decoded image stays after the mouse left the map"
        assert not errors, errors


_GRID = """() => { for (const gd of document.querySelectorAll('.js-plotly-plot')) {
  const t = (gd._fullLayout.title && gd._fullLayout.title.text) || '';
  if (t.startsWith('Decoded ')) return gd._fullData[0].z.map(row => Array.from(row, v => v === null ? 0 : v)); }
  return null; }"""


def test_sections_below_the_trainer_follow_the_training_during_play(app_url, browser):
    """Play reruns the trainer's fragment; the manifold grid below must show the model being trained
    (it showed epoch 0 until Pause). During Play the grid is redrawn and says which epoch it shows."""
    import numpy as np

    with _browser_page(browser) as (page, errors):
        page.goto(f"{app_url}/Latent_explorer", wait_until="domcontentloaded")
        wait_idle(page)
        page.wait_for_function(f"() => ({_GRID})() !== null", timeout=60_000)
        before = np.nan_to_num(np.asarray(page.evaluate(_GRID), dtype=float))
        page.locator(".st-key-train__play button").first.click()
        caption = page.get_by_text("Following the training: the sections below show epoch")
        caption.first.wait_for(timeout=60_000)
        page.wait_for_function("() => /show epoch ([4-9]|[1-9][0-9])\\b/.test(document.body.innerText)",
                               timeout=90_000)
        assert page.get_by_text("Pause").count() >= 1, "Play ended before the sections were redrawn"
        during = np.nan_to_num(np.asarray(page.evaluate(_GRID), dtype=float))
        assert np.abs(during - before).max() > 0.1, "the grid still shows the untrained model"
        page.locator(".st-key-train__play button").first.click()  # Pause
        page.get_by_text("Following the training").first.wait_for(state="detached", timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors


_NOTE_CHECK = """() => {
  window.__pgNotes = [];
  const check = (gd, kind) => {
    const fake = gd._fullData.find(t => t.name === 'generated');
    const x = gd.layout.xaxis.range, y = gd.layout.yaxis.range;
    if (!fake || !x || !y) { return; }
    let outside = 0;
    for (let i = 0; i < fake.x.length; i += 1) {
      if (fake.x[i] < x[0] || fake.x[i] > x[1] || fake.y[i] < y[0] || fake.y[i] > y[1]) { outside += 1; }
    }
    const notes = (gd.layout.annotations || []).map(a => a.text).filter(t => / outside this view/.test(t));
    window.__pgNotes.push([kind, outside, notes.length ? Number(notes[0].split(' ')[0]) : 0]);
  };
  const hook = () => {
    const gd = document.querySelector('.pg-player-chart');
    if (gd && gd.on && !gd.__pgNoteHook) {
      gd.__pgNoteHook = true;
      gd.on('plotly_afterplot', () => check(gd, 'redraw'));
      gd.on('plotly_relayout', () => check(gd, 'relabel'));
    }
  };
  setInterval(hook, 20);
}"""


def test_the_players_live_note_matches_the_points_it_draws(app_url, browser):
    """During Play the GAN picture says how many generated points fall outside the view. The player
    relabels that note without redrawing the chart and redraws the heatmap every few frames; whenever
    it redraws or relabels, the note must count the points on the screen (a stale or lost relabel fails)."""
    with _browser_page(browser) as (page, errors):
        page.goto(f"{app_url}/GAN_training?projection=1&seed=7", wait_until="domcontentloaded")
        wait_idle(page)
        page.evaluate(_NOTE_CHECK)
        page.locator('[data-testid="stMain"] [class*="gan_trainer__play"] button').first.click()
        page.wait_for_function("() => (window.__pgNotes || []).filter(r => r[2] > 0).length >= 4", timeout=90_000)
        records = page.evaluate("() => window.__pgNotes")
        mismatched = [r for r in records if r[1] != r[2]]
        assert not mismatched, f"notes that do not count the points drawn: {mismatched[:5]} of {len(records)}"
        assert not errors, errors
