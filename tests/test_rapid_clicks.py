"""Rapid clicks in a real browser: a student double- and triple-clicking every stepping
button of every page. Each burst fires 3 clicks within ~150 ms at one button; afterwards
the page shows no exception element and no browser error, the server still answers its
health check, and one more Step still changes the picture.

Before the one-writer lock (``playground.stepper.lock_for``) a double click on the GAN
page's Step could run two steps of one model and optimiser in two threads at once:
autograd's "modified by an inplace operation" error box, and at worst a crash of the
whole server.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from bench.appserver import CHROMIUM, wait_idle
from playground.ui.navigation import ROOT, available_pages
from conftest import import_playwright

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

sync_api = import_playwright()  # a skip locally, a failure in CI

from tests.test_journeys import CHART_SIGNATURE, _open_stepper_tab, _visible, url_path  # noqa: E402

# Buttons that step a model, by the widget key's suffix or the page's own keys.
STEPPING = ['[class*="__step"] button', '[class*="st-key-em_e"] button', '[class*="st-key-em_m"] button',
            '[class*="st-key-gan_d"] button', '[class*="st-key-gan_g"] button', '[class*="st-key-gan_it"] button',
            '[class*="__reset"] button']
PLAY = '[class*="__play"] button'
# the KDE page (instant estimators) and the evaluation page (a metric sandbox) have nothing to step
STEPPER_PAGES = [p for p in available_pages() if "KDE" not in p.title and "Evaluating" not in p.title]


def _burst(page, locator, clicks: int = 3) -> None:
    """``clicks`` clicks within ~150 ms, without waiting for the app in between."""
    for i in range(clicks):
        locator.dispatch_event("click")
        if i < clicks - 1:
            page.wait_for_timeout(60)


def _base_path_probe(message) -> bool:
    """Streamlit's front end, opened at /Page, first looks for its server under /Page/_stcore
    (the app may be served under a prefix) and then under /_stcore: the first try is a 404
    of Streamlit's own, not the app's."""
    url = (message.location or {}).get("url", "")
    return "404" in message.text and url.endswith(("/_stcore/host-config", "/_stcore/health"))


def _healthy(app_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{app_url}/_stcore/health", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def _server_log_tail(lines: int = 40) -> str:
    log = ROOT / "artifacts" / "app_server_rapid.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def _pause(page) -> None:
    for _ in range(5):
        button = _visible(page, PLAY)
        if button is None or "Play" in button.inner_text():
            return
        button.dispatch_event("click")
        try:
            page.wait_for_function(
                """() => Array.from(document.querySelectorAll('[class*="__play"] button'))
                          .some(b => b.offsetParent !== null && b.innerText.includes('Play'))""", timeout=20_000)
            return
        except sync_api.TimeoutError:
            continue


@pytest.fixture(scope="module")
def app_url():
    """This module's own server (log: ``artifacts/app_server_rapid.log``). On the server shared
    with the ~70 browser tests before it, one page of this module lost its WebSocket once per
    full run (a different page each time, the server still healthy); on a server of its own it
    has not. See the README's testing notes."""
    from bench.appserver import AppServer

    log = ROOT / "artifacts" / "app_server_rapid.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with AppServer(log_path=log) as server:
        yield server.url


@pytest.mark.parametrize("info", STEPPER_PAGES, ids=lambda p: Path(p.path).stem)
def test_rapid_clicks_never_break_the_page(app_url, browser, info):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("console", lambda m: problems.append(f"console: {m.text[:300]} at {m.location}")
            if m.type == "error" and not _base_path_probe(m) else None)
    try:
        _exercise(page, app_url, info, problems)
    except Exception as error:
        alive = "answers" if _healthy(app_url) else "does NOT answer"
        state = page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]')"
                              "?.getAttribute('data-test-connection-state')")
        raise AssertionError(f"{info.title}: {error}\nThe page's connection state: {state}; browser problems: "
                             f"{problems}\nThe server {alive} /_stcore/health; its log ends with:\n"
                             f"{_server_log_tail()}") from error
    finally:
        context.close()


def _exercise(page, app_url: str, info, problems: list[str]) -> None:
    page.goto(f"{app_url}/{url_path(info.path)}?projection=1", wait_until="domcontentloaded")
    wait_idle(page)
    assert _open_stepper_tab(page), f"{info.title}: no Step button found"
    bursts = 0
    for selector in STEPPING:
        button = _visible(page, selector)
        if button is None:
            continue
        _burst(page, button)
        bursts += 1
    wait_idle(page)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    play = _visible(page, PLAY)
    assert play is not None
    _burst(page, play)  # three presses: Play, Pause, Play while the runs overlap
    page.wait_for_timeout(1500)
    step = _visible(page, STEPPING[0])
    _burst(page, step)  # Step while playing
    _pause(page)
    wait_idle(page)
    assert bursts >= 2
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert not problems, problems
    assert _healthy(app_url), "the server stopped answering"
    before = page.evaluate(CHART_SIGNATURE)
    _visible(page, STEPPING[0]).click()
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.evaluate(CHART_SIGNATURE) != before, f"{info.title}: Step no longer changes the picture"
