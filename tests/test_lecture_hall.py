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

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

pytest.importorskip("playwright.sync_api")

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
