"""How fast a page opens, measured in headless Chromium against ``streamlit run app.py``.

    python -m bench.page_open            # every page
    python -m bench.page_open EM KL      # pages whose file name contains one of the words

Three figures per page, each from the moment the user acts to the moment the browser shows it:
- *cold*: the first page opened right after the server answers its health check (only for the
  first page of the list: the server is then warm);
- *new tab*: the page opened by its URL in a new tab of a browser that has opened the app once
  (its cache holds the front end, as a student's browser does after the first page), warm server;
- *new browser*: the same in a fresh browser context (empty cache: the whole front end loads);
- *sidebar*: the page reached by clicking its link in the sidebar from the previous page.
"Title" is the page's h1; "chart" the first Plotly chart drawn (its SVG present). Results go to
``bench/page_open_results.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.appserver import CHROMIUM, CHROMIUM_ARGS, AppServer

RESULTS = Path(__file__).with_name("page_open_results.json")


def _wait_times(page, title: str, start: float, timeout_s: float = 120.0) -> tuple[float, float]:
    """(seconds to the title, seconds to the first chart) after ``start``."""
    title_s = chart_s = float("nan")
    deadline = start + timeout_s
    while time.perf_counter() < deadline and (title_s != title_s or chart_s != chart_s):
        state = page.evaluate(
            """(title) => {
                const h = [...document.querySelectorAll('h1')].some(e => e.innerText.includes(title));
                const c = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].some(
                    e => e.querySelector('.main-svg') && e.getBoundingClientRect().height > 50);
                return [h, c];
            }""",
            title,
        )
        now = time.perf_counter() - start
        if state[0] and title_s != title_s:
            title_s = now
        if state[1] and chart_s != chart_s:
            chart_s = now
        time.sleep(0.02)
    return title_s, chart_s


def main(argv: list[str]) -> int:  # pragma: no cover - a measuring tool
    from playwright.sync_api import sync_playwright

    from playground.ui.navigation import available_pages

    pages = [info for info in available_pages() if not argv or any(word in Path(info.path).stem for word in argv)]
    rows = []
    with AppServer() as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        first = True
        shared = browser.new_context(viewport={"width": 1920, "height": 1080})
        for info in pages:
            slug = Path(info.path).stem.split("_", 1)[1]
            for how in ("cold (first page after start)" if first else "new browser", "new tab"):
                fresh = how != "new tab"
                context = browser.new_context(viewport={"width": 1920, "height": 1080}) if fresh else shared
                page = context.new_page()
                start = time.perf_counter()
                page.goto(f"{server.url}/{slug}?seed=7", wait_until="commit")
                title_s, chart_s = _wait_times(page, info.title, start)
                rows.append({"page": info.title, "how": how, "title_s": title_s, "chart_s": chart_s})
                print(f"{info.title:<36} {how:<30} title {title_s:6.2f} s  chart {chart_s:6.2f} s", flush=True)
                page.close()
                if fresh:
                    context.close()
            first = False
        shared.close()
        # Sidebar: from each page to the next one, in one tab.
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        page.goto(f"{server.url}/?seed=7", wait_until="domcontentloaded")
        nav = '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'
        page.wait_for_selector(nav, timeout=60_000)
        time.sleep(1.0)
        for info in pages:
            link = page.locator(nav, has_text=info.title).first
            start = time.perf_counter()
            link.click()
            title_s, chart_s = _wait_times(page, info.title, start)
            rows.append({"page": info.title, "how": "sidebar", "title_s": title_s, "chart_s": chart_s})
            print(f"{info.title:<36} {'sidebar':<30} title {title_s:6.2f} s  chart {chart_s:6.2f} s", flush=True)
            time.sleep(0.5)
        context.close()
        browser.close()
    RESULTS.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
