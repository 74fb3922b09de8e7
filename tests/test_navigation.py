"""Moving between pages the way a lecturer does: by the sidebar, Back and Forward, and
in the middle of Play, in a real browser (headless Chromium against ``streamlit run``).

Every ordered pair of pages (Home included) is walked once per mode, as one Eulerian
circuit of sidebar clicks: 8 pages give 56 switches, each starting from a page that has
finished drawing. After every switch the destination's title and main chart must be on
screen, with no exception element and no browser error. Projection mode is walked at
1280x720 (the small projector), normal mode at 1920x1080. A screenshot after each
switch goes to ``artifacts/screenshots/navigation/``.

This test failed on every switch before the fix in ``setup_page``: the sidebar's
"link to this view" slot of the previous run (another page, with other element indices)
was written before the new page had built it, and the front end threw
"Bad delta path index 14 (should be between [0, 12])", leaving a white window.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest

from bench.appserver import CHROMIUM, wait_not_running
from playground.ui.navigation import HOME, ROOT, PageInfo, available_pages
from conftest import import_playwright

SHOTS = ROOT / "artifacts" / "screenshots" / "navigation"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

sync_api = import_playwright()  # a skip locally, a failure in CI

PAGES: list[PageInfo] = [HOME, *available_pages()]
HOME_TITLE = "Generative-models playground"
NAV_LINK = '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'
PLAY_BUTTON = '[class*="__play"] button'

# Console messages that are the browser's, not the app's (software WebGL in headless Chromium).
BENIGN_CONSOLE = ("GPU stall due to ReadPixels", "willReadFrequently", "GL Driver Message")


def eulerian_circuit(n: int, start: int = 0) -> list[int]:
    """A walk through the complete directed graph on ``n`` nodes that uses every ordered
    pair (i, j), i != j, exactly once (Hierholzer's algorithm); starts and ends at ``start``."""
    unused = {i: [j for j in range(n) if j != i] for i in range(n)}
    stack, walk = [start], []
    while stack:
        node = stack[-1]
        if unused[node]:
            stack.append(unused[node].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def test_the_circuit_uses_every_ordered_pair_once():
    walk = eulerian_circuit(len(PAGES))
    pairs = list(zip(walk, walk[1:]))
    assert len(pairs) == len(set(pairs)) == len(PAGES) * (len(PAGES) - 1)
    assert walk[0] == walk[-1] == 0


def title_of(info: PageInfo) -> str:
    return HOME_TITLE if info is HOME else info.title


class Watcher:
    """Collects every page error and console error (and KaTeX's warnings: a formula the
    student sees broken) of one browser page."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        text = message.text
        if any(benign in text for benign in BENIGN_CONSOLE):
            return
        if message.type == "error" or "LaTeX-incompatible" in text:
            self.problems.append(f"console {message.type}: {text[:500]}")

    def check(self, where: str) -> None:
        assert not self.problems, f"{where}: {self.problems}"


def arrived(page, info: PageInfo, watcher: Watcher, where: str) -> None:
    """The destination's title and main chart are on screen, and nothing went wrong."""
    try:
        for _ in range(60):  # up to 120 s, but a white screen fails at once with the front end's error
            try:
                page.wait_for_function(
                    """t => { const h = document.querySelector('[data-testid="stMain"] h1');
                              return h !== null && h.innerText.includes(t); }""",
                    arg=title_of(info), timeout=2_000)
                break
            except sync_api.TimeoutError:
                watcher.check(where)
        else:
            raise sync_api.TimeoutError(f"{where}: the title never appeared")
        if info is not HOME:
            page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"] .main-svg').first.wait_for(
                state="visible", timeout=120_000)
        wait_not_running(page)
    except sync_api.TimeoutError:
        watcher.check(where)  # a white screen shows up here as the front end's error
        raise
    watcher.check(where)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{where}: {exceptions.first.inner_text()}"
    assert page.locator(NAV_LINK).count() == len(PAGES), f"{where}: the sidebar lost its page list"


def open_sidebar(page) -> None:
    """Projection mode opens with the sidebar folded away (the picture gets the screen): a
    lecturer opens it with the arrow at the top left, as this does."""
    arrow = page.locator('[data-testid="stExpandSidebarButton"]')
    if arrow.count() and arrow.first.is_visible():
        arrow.first.click()
        page.locator(NAV_LINK).first.wait_for(state="visible")


def click_sidebar(page, target: int) -> None:
    open_sidebar(page)
    page.locator(NAV_LINK).nth(target).click()


@pytest.mark.parametrize("projection, viewport", [(True, (1280, 720)), (False, (1920, 1080))],
                         ids=["projection-1280", "normal-1920"])
def test_every_sidebar_switch_draws_the_destination(app_url, browser, projection, viewport):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    watcher = Watcher(page)
    mode = "projection" if projection else "normal"
    shots = SHOTS / mode
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{app_url}/?projection={int(projection)}", wait_until="domcontentloaded")
        arrived(page, HOME, watcher, "opening Home")
        walk = eulerian_circuit(len(PAGES))
        for number, (source, target) in enumerate(zip(walk, walk[1:]), start=1):
            where = f"{mode}: {title_of(PAGES[source])} -> {title_of(PAGES[target])}"
            click_sidebar(page, target)
            arrived(page, PAGES[target], watcher, where)
            # Projection mode is kept across pages (the sidebar toggle persists).
            toggle = page.locator('[data-testid="stSidebar"] [data-testid="stCheckbox"] input').first
            assert toggle.is_checked() == projection, f"{where}: projection mode was not kept"
            page.mouse.move(5, 5)  # off the links: the screenshot shows the active page, not a hover
            page.screenshot(path=str(shots / f"{number:02d}_{Path(PAGES[source].path).stem}"
                                     f"_to_{Path(PAGES[target].path).stem}.png"))
    finally:
        context.close()


def _query(page) -> dict[str, str]:
    return dict(parse_qsl(urlparse(page.url).query))


def test_back_and_forward_reopen_the_pages(app_url, browser):
    """One Back press returns to the previous page (a page switch is one history entry,
    opening a page writes nothing to the URL), with the session's seed and projection
    mode; a control moved on a page is one entry too, and Back undoes it."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(f"{app_url}/?projection=1&seed=7", wait_until="domcontentloaded")
        arrived(page, HOME, watcher, "opening Home")
        start_length = page.evaluate("history.length")
        visited = [0, 3, 7, 2]  # Home -> EM -> KL -> KDE by the sidebar
        for target in visited[1:]:
            click_sidebar(page, target)
            arrived(page, PAGES[target], watcher, f"sidebar to {title_of(PAGES[target])}")
            assert _query(page) == {"seed": "7", "projection": "1"}, page.url
        assert page.evaluate("history.length") == start_length + len(visited) - 1
        for target in reversed(visited[:-1]):
            page.go_back()
            arrived(page, PAGES[target], watcher, f"Back to {title_of(PAGES[target])}")
            assert _query(page) == {"seed": "7", "projection": "1"}, page.url
        for target in visited[1:]:
            page.go_forward()
            arrived(page, PAGES[target], watcher, f"Forward to {title_of(PAGES[target])}")
        # On KDE vs GMM: move the bandwidth (a URL change), then Back puts it back.
        handle = page.locator('[data-testid="stMain"] .st-key-h input[type="range"]').first
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function("() => new URLSearchParams(location.search).has('h')", timeout=30_000)
        wait_not_running(page)
        moved = _query(page)["h"]
        page.go_back()
        page.wait_for_function("() => !new URLSearchParams(location.search).has('h')", timeout=30_000)
        arrived(page, PAGES[2], watcher, "Back after moving the bandwidth")
        shown = page.locator('[data-testid="stMain"] .st-key-h [data-testid="stSliderThumbValue"]').first.inner_text()
        assert shown != moved and float(shown) == 0.3, (shown, moved)
        link = page.locator("#pg-view-link-text").inner_text()
        assert link == page.url, "the sidebar's link to this view is not the page's address"
        page.screenshot(path=str(SHOTS / "back_forward_last.png"))
    finally:
        context.close()


# Pages whose stepper sits on the first screen (no tab to open first), and where the
# sidebar click during Play goes.
PLAYING = [("pages/3_EM_step_through.py", 6), ("pages/6_GAN_training.py", 7), ("pages/7_KL_divergences.py", 0)]


@pytest.mark.parametrize("path, target", PLAYING, ids=[Path(p).stem for p, _ in PLAYING])
def test_switching_pages_while_play_runs(app_url, browser, path, target):
    index = next(i for i, info in enumerate(PAGES) if info.path == path)
    if not PAGES[index].exists:
        pytest.skip(f"{path} is not installed")
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    watcher = Watcher(page)
    try:
        page.goto(f"{app_url}/?projection=1", wait_until="domcontentloaded")
        arrived(page, HOME, watcher, "opening Home")
        click_sidebar(page, index)
        arrived(page, PAGES[index], watcher, f"sidebar to {title_of(PAGES[index])}")
        play = page.locator(PLAY_BUTTON).first
        play.click()
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('[class*="__play"] button'))
                      .some(b => b.innerText.includes('Pause'))""", timeout=30_000)
        page.wait_for_timeout(2500)  # a few ticks of Play
        watcher.check("during Play")
        click_sidebar(page, target)
        arrived(page, PAGES[target], watcher, f"from Play on {title_of(PAGES[index])} to {title_of(PAGES[target])}")
        page.wait_for_timeout(2000)  # a stray tick of the old page's Play would show up now
        watcher.check("after the switch")
        assert page.locator('[data-testid="stMain"] h1').first.inner_text().startswith(title_of(PAGES[target]))
        # And back: the page opens again and can still be stepped.
        click_sidebar(page, index)
        arrived(page, PAGES[index], watcher, f"back to {title_of(PAGES[index])}")
        page.screenshot(path=str(SHOTS / f"play_switch_{Path(path).stem}.png"))
    finally:
        context.close()
