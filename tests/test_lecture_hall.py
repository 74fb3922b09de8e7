"""The lecture hall: on a projector, the picture and its Step / Play controls are the first screen.

For every page and each of its top-level tabs, opened in projection mode at 1920x1080 and
1280x720 in headless Chromium: the main picture lies wholly in the first screen and covers at
least half of it; the Step, Play and Reset buttons (where the view has a stepper) lie wholly in
the first screen; and no text is cut (no element whose content is wider than its box while its
overflow is hidden, no formula wider than its panel). Normal mode, at 1920x1080, is checked for
cut text too. The measurements are ``bench.layout_probe``'s (``python -m bench.layout_probe``
prints them for every view).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.appserver import CHROMIUM, wait_idle
from bench.layout_probe import MEASURE, measure_tabs, settle
from playground.ui.navigation import available_pages
from conftest import import_playwright

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

sync_api = import_playwright()  # a skip locally, a failure in CI

PAGES = available_pages()
MIN_SHARE = 0.5  # the picture covers at least half of the screen


def _url(app_url: str, info, projection: bool) -> str:
    return f"{app_url}/{Path(info.path).stem.split('_', 1)[1]}?projection={int(projection)}&seed=7"


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720)], ids=["1920x1080", "1280x720"])
@pytest.mark.parametrize("info", PAGES, ids=lambda p: Path(p.path).stem)
def test_projected_picture_and_controls_fill_the_first_screen(app_url, browser, info, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    try:
        page.goto(_url(app_url, info, True), wait_until="domcontentloaded")
        wait_idle(page)
        problems = []
        for label, result in measure_tabs(page, wait_idle):
            where = f"{Path(info.path).stem} [{label}] at {size[0]}x{size[1]}"
            if not result["picture_visible"]:
                problems.append(f"{where}: the main picture is not wholly on the first screen")
            if result["picture_share"] < MIN_SHARE:
                problems.append(f"{where}: the picture covers {result['picture_share']:.0%} of the screen")
            if result["has_stepper"] and not result["controls_visible"]:
                problems.append(f"{where}: Step / Play / Reset are not all on the first screen")
            for clip in result["clipped"]:
                problems.append(f"{where}: text cut: {clip['text']!r} ({clip['scroll']} px in {clip['client']} px)")
        assert not problems, "\n".join(problems)
    finally:
        context.close()


@pytest.mark.parametrize("info", PAGES, ids=lambda p: Path(p.path).stem)
def test_normal_mode_uses_the_screen_and_cuts_no_text(app_url, browser, info):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        page.goto(_url(app_url, info, False), wait_until="domcontentloaded")
        wait_idle(page)
        settle(page)
        measure = page.evaluate(MEASURE)
        assert not measure["clipped"], measure["clipped"]
        main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
        assert main["width"] >= 0.6 * 1920, f"the page is a {main['width']:.0f}-px column on a 1920-px screen"
    finally:
        context.close()


def _iteration(page) -> int:
    text = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').filter(
        has_text="Iteration").first.inner_text()
    return int(text.split()[1])


def _wait_for_iteration(page, condition: str, timeout_ms: int = 60_000) -> None:
    """Wait until the iteration caption satisfies ``condition`` (JS, on ``n``): the rerun a key
    starts may begin after ``wait_idle`` has already looked on a loaded machine."""
    try:
        page.wait_for_function(
            """(condition) => { const c = Array.from(document.querySelectorAll('[data-testid="stMain"] '
                 + '[data-testid="stCaptionContainer"]')).find(e => e.innerText.startsWith('Iteration'));
               if (!c) { return false; } const n = parseInt(c.innerText.split(' ')[1]); return eval(condition); }""",
            arg=condition, timeout=timeout_ms, polling=200)
    except sync_api.TimeoutError:
        pass


def _play_label(page) -> str:
    return page.locator('[data-testid="stMain"] [class*="__play"] button').first.inner_text()


def test_a_presenters_clicker_drives_the_stepper(app_url, browser):
    """-> and PageDown step, Space plays and pauses, R resets, as the buttons do; keys typed into a
    control are left to the control."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        info = next(p for p in PAGES if "KL_divergences" in p.path)
        page.goto(_url(app_url, info, True), wait_until="domcontentloaded")
        wait_idle(page)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no control has focus
        assert _iteration(page) == 0
        page.keyboard.press("ArrowRight")
        _wait_for_iteration(page, "n > 0")
        wait_idle(page)
        after_one = _iteration(page)
        assert after_one > 0, "-> did not step"
        page.keyboard.press("PageDown")
        _wait_for_iteration(page, f"n > {after_one}")
        wait_idle(page)
        assert _iteration(page) > after_one, "PageDown did not step"
        # one step per frame: the race plays for several seconds before it settles
        page.locator('.st-key-kl_race__speed input[type="range"]').focus()
        page.keyboard.press("Home")
        wait_idle(page)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.keyboard.press("Space")
        page.wait_for_function("""() => Array.from(document.querySelectorAll('[class*="__play"] button'))
                                  .some(b => b.innerText.includes('Pause'))""", timeout=30_000)
        page.wait_for_function("() => !!document.querySelector('.pg-player-caption')", timeout=30_000)
        page.wait_for_timeout(1500)
        # Space pauses, at once and never lost: the picture is animated in the browser, which stops it at
        # the frame on the screen (playground.ui.player); the server then puts the run back to that frame.
        on_screen = page.evaluate("""() => {
            const caption = document.querySelector('.pg-player-caption').textContent;
            document.dispatchEvent(new KeyboardEvent('keydown', {key: ' ', bubbles: true}));
            return caption; }""")
        page.wait_for_function("""() => Array.from(document.querySelectorAll('[class*="__play"] button'))
                                  .some(b => b.innerText.includes('Play'))""", timeout=30_000)
        assert "Play" in _play_label(page), "Space did not pause"
        wait_idle(page)
        assert _iteration(page) == int(on_screen.split()[1]), "the run did not stop at the frame on the screen"
        wait_idle(page)
        page.keyboard.press("r")
        _wait_for_iteration(page, "n === 0")
        wait_idle(page)
        assert _iteration(page) == 0, "R did not reset"
        # In a number field the keys belong to the field: nothing steps.
        field = page.locator('[data-testid="stMain"] input[type="number"]').first
        if field.count():
            field.click()
            page.keyboard.press("ArrowRight")
            wait_idle(page)
            assert _iteration(page) == 0
    finally:
        context.close()
