"""What a lecturer feels, measured in headless Chromium: ``python -m bench.interaction [page ...]``.

For each page with a stepper, opened in projection mode at 1920x1080 on a fresh server:

- **chart updates per second during Play**: Play is pressed, and every redraw of the main picture
  (Plotly's ``plotly_afterplot`` event on the chart, or a new chart element) is counted for 10 s;
- **Pause latency**: Pause is pressed (a real click, while the page is busy redrawing) and the
  time until the button reads "Play" again and the main picture stops changing is measured;
- **slider-to-redraw**: the page's main control is moved one notch by the keyboard and the time
  until the main picture has been redrawn is measured.

GAN Lab, the anchor for smooth training animation, draws about 30 frames per second in the
browser. Results go to ``bench/interaction_results.json`` and are printed as a table.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from bench.appserver import CHROMIUM, CHROMIUM_ARGS, AppServer, wait_idle

HERE = Path(__file__).resolve().parent

# page path, tab to open (query), the control moved for slider-to-redraw (widget key)
PAGES = {
    "Samplers (MCMC)": ("Samplers", "section=8+MCMC", "mc_h"),
    "EM step-through": ("EM_step_through", "data=mog2d&k=8", None),  # K = 8 for 4 modes: a long run
    "Flow warping (2D)": ("Flow_warping", "fsection=3+%C2%B7+2D+flows%3A+NICE+and+Real-NVP", "layer"),
    "GAN training": ("GAN_training", "", None),
    "Forward vs reverse KL": ("KL_divergences", "", "sep"),
    "Diffusion": ("Diffusion", "", "t"),
    "Energy-based models": ("Energy_based_models", "", None),
    "KDE vs GMM": ("KDE_vs_GMM", "", "h"),
    "Latent explorer (VAE)": ("Latent_explorer", "", None),  # Play on the server (a fragment)
}

# A redraw is a plotly_afterplot event of a main-picture chart, or a new main-picture chart element
# (Streamlit may replace the element; its first plot happens before a hook could be attached).
COUNTER = """() => {
  window.__pgRedraws = 0;
  const hook = (counting) => {
    for (const gd of document.querySelectorAll('[class*="st-key-pg_main_"] .js-plotly-plot')) {
      if (!gd.__pgHooked && gd.on) {
        gd.__pgHooked = true;
        if (counting) { window.__pgRedraws += 1; }
        const player = gd.classList.contains('pg-player-chart');  // Play drawn in the browser
        const count = () => {
          window.__pgRedraws += 1;
          if (player) { window.__pgLastPlayer = performance.now(); } else { window.__pgLast = performance.now(); }
        };
        gd.on('plotly_afterplot', count);
        gd.on('plotly_animated', count);  // the browser-side player moves traces without a full redraw
      }
    }
  };
  hook(false);
  if (!window.__pgHookTimer) { window.__pgHookTimer = setInterval(() => hook(true), 20); }
}"""

PLAY = '[data-testid="stMain"] [class*="__play"] button'


def _visible_play(page):
    buttons = page.locator(PLAY)
    for i in range(buttons.count()):
        if buttons.nth(i).is_visible():
            return buttons.nth(i)
    return None


def measure(page, base_url: str, path: str, query: str, control: str | None) -> dict:
    url = f"{base_url}/{path}?projection=1&seed=7" + (f"&{query}" if query else "")
    page.goto(url, wait_until="domcontentloaded")
    wait_idle(page)
    result: dict = {}
    play = _visible_play(page)
    if play is not None:
        page.evaluate(COUNTER)
        play.click()
        page.wait_for_timeout(1500)  # the first ticks
        page.evaluate("() => { window.__pgRedraws = 0; }")
        start = time.perf_counter()
        # up to 10 s, or until Play stops by itself (a fit that converged): the rate while playing
        try:
            page.wait_for_function(f"""() => Array.from(document.querySelectorAll('{PLAY}'))
                                       .some(b => b.offsetParent !== null && b.innerText.includes('Play'))""",
                                   timeout=10_000, polling=50)
            result["stopped_by_itself"] = True
        except Exception:  # noqa: BLE001 - still playing after 10 s
            pass
        redraws = page.evaluate("() => window.__pgRedraws")
        result["updates_per_s"] = redraws / (time.perf_counter() - start)
        if result.get("stopped_by_itself"):
            _visible_play(page).click()  # play on (a converged fit steps on when asked)
            page.wait_for_timeout(1500)
        latencies, stops = [], []
        for _ in range(3):
            button = _visible_play(page)
            page.evaluate("() => { window.__pgRedraws = 0; }")
            start = time.perf_counter()
            clicked = page.evaluate("(sel) => { const t = performance.now(); "
                                    "Array.from(document.querySelectorAll(sel)).find(b => b.offsetParent !== null)"
                                    ".click(); return t; }", PLAY)
            try:
                page.wait_for_function(f"""() => Array.from(document.querySelectorAll('{PLAY}'))
                                           .some(b => b.offsetParent !== null && b.innerText.includes('Play'))""",
                                       timeout=20_000, polling=20)
                latencies.append(time.perf_counter() - start)
            except Exception:  # noqa: BLE001 - a lost Pause: counted, then pressed again
                result["lost_pauses"] = result.get("lost_pauses", 0) + 1
                latencies.append(float("inf"))
                _visible_play(page).click()
                wait_idle(page)
            page.wait_for_timeout(1500)
            after = page.evaluate("() => window.__pgRedraws")
            result.setdefault("redraws_after_pause", []).append(after)
            # the animation's own stop: the last redraw of the main picture after the click
            # (0 if none came); the button's relabel above also waits for the server's rerun
            # With Play in the browser, the picture stops with the player's last frame (the chart the
            # page draws after the server's rerun shows that same frame).
            last = page.evaluate("() => (window.__pgLastPlayer || 0) > 0 ? window.__pgLastPlayer : (window.__pgLast || 0)")
            stops.append(max(0.0, (last - clicked) / 1000.0))
            page.evaluate("() => { window.__pgLastPlayer = 0; window.__pgLast = 0; }")
            _visible_play(page).click()  # play again for the next sample
            page.wait_for_timeout(2000)
        for _ in range(5):  # pause before the slider test
            button = _visible_play(page)
            if "Pause" not in button.inner_text():
                break
            button.dispatch_event("click")
            page.wait_for_timeout(2000)
        wait_idle(page)
        result["pause_latency_s"] = statistics.median(latencies)
        result["picture_stop_s"] = statistics.median(stops)
        result["picture_stop_max_s"] = max(stops)
        result["pause_latency_max_s"] = max(latencies)
    if control:
        slider = page.locator(f'[data-testid="stMain"] .st-key-{control} input[type="range"]').first
        if slider.count():
            timings = []
            for _ in range(3):
                page.evaluate(COUNTER)
                page.evaluate("() => { window.__pgRedraws = 0; }")
                slider.focus()
                start = time.perf_counter()
                slider.press("ArrowRight")
                try:
                    page.wait_for_function("() => window.__pgRedraws > 0", timeout=20_000, polling=10)
                    timings.append(time.perf_counter() - start)
                except Exception:  # noqa: BLE001 - this control does not redraw the main picture
                    break
                wait_idle(page)
            if timings:
                result["slider_to_redraw_s"] = statistics.median(timings)
    return result


def main() -> None:  # pragma: no cover - a measuring tool
    from playwright.sync_api import sync_playwright

    only = sys.argv[1:]
    rows = {}
    with AppServer() as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, (path, query, control) in PAGES.items():
            if only and not any(o.lower() in name.lower() for o in only):
                continue
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            try:
                rows[name] = measure(page, server.url, path, query, control)
            except Exception as error:  # noqa: BLE001 - report and go on
                rows[name] = {"error": str(error)[:200]}
            finally:
                context.close()
            print(f"{name:<24} {json.dumps(rows[name])}", flush=True)
        browser.close()
    (HERE / "interaction_results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
