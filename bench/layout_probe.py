"""Where the main picture and its controls sit on a projected screen, and what text is clipped.

Shared by ``tests/test_lecture_hall.py`` (the assertions) and ``python -m bench.layout_probe``
(a table of the numbers for every page and both projector sizes).

The main picture of a page is the visible chart drawn with ``page.show(..., main=True)`` (else
its largest visible Plotly chart); its controls are the visible
Step, Play/Pause and Reset buttons of the page's stepper. "Clipped" is an element whose
content is wider than its box (scrollWidth > clientWidth + 1) among metric values, formula
blocks, table cells, button labels and captions, where the overflow is hidden.
"""

from __future__ import annotations

MEASURE = """() => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const visible = el => { const r = el.getBoundingClientRect(); return el.offsetParent !== null && r.width > 0 && r.height > 0; };
  const box = el => { const r = el.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  const charts = Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')).filter(visible);
  // The main picture: every visible chart drawn with main=True (two side by side count together),
  // as their bounding box and the sum of their areas; else the largest visible chart.
  let main = null, area = 0;
  const marked = charts.filter(c => c.closest('[class*="st-key-pg_main_"]')).map(box);
  if (marked.length) {
    const x0 = Math.min(...marked.map(b => b.x)), y0 = Math.min(...marked.map(b => b.y));
    const x1 = Math.max(...marked.map(b => b.x + b.w)), y1 = Math.max(...marked.map(b => b.y + b.h));
    main = {x: x0, y: y0, w: x1 - x0, h: y1 - y0, area: marked.reduce((a, b) => a + b.w * b.h, 0)};
  } else {
    for (const c of charts) { const b = box(c); if (b.w * b.h > area) { area = b.w * b.h; main = {...b, area}; } }
  }
  const buttons = {};
  for (const part of ['step', 'play', 'reset']) {
    const el = Array.from(document.querySelectorAll(`[data-testid="stMain"] [class*="__${part}"] button`)).find(visible);
    buttons[part] = el ? box(el) : null;
  }
  // Clipped text: any element holding text of its own whose content is wider than its box while
  // the overflow is hidden or ended with an ellipsis (metric values, formulas, table cells, labels,
  // buttons, captions), outside the charts (Plotly clips its own layers on purpose).
  const clipped = [];
  const scope = document.querySelectorAll('[data-testid="stMain"] *, [data-testid="stSidebar"] *');
  for (const el of scope) {
    if (el.closest('.js-plotly-plot, svg, [data-testid="stDataFrame"], iframe, code, pre')) continue;
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    if (!visible(el)) continue;
    let box = el;  // the text's own element or one of its three nearest ancestors may do the clipping
    for (let depth = 0; depth < 4 && box; depth += 1, box = box.parentElement) {
      const style = getComputedStyle(box);
      const hides = ['hidden', 'clip'].includes(style.overflowX) || style.textOverflow === 'ellipsis';
      if (hides && box.scrollWidth > box.clientWidth + 1) {
        if (!clipped.some(c => c.el === box)) {
          clipped.push({el: box, text: el.innerText.slice(0, 40), scroll: box.scrollWidth, client: box.clientWidth});
        }
        break;
      }
    }
  }
  clipped.forEach(c => { delete c.el; });
  for (const el of document.querySelectorAll('.katex-display')) {  // a formula wider than its panel
    // (4 px of slack: KaTeX's last glyph may overhang its box by a pixel or two without being cut)
    if (visible(el) && el.scrollWidth > el.clientWidth + 4) {
      clipped.push({text: el.innerText.slice(0, 40), scroll: el.scrollWidth, client: el.clientWidth});
    }
  }
  return {viewport: {w: vw, h: vh}, main, buttons, clipped, pageWidth: document.documentElement.scrollWidth};
}"""


SETTLED = """() => {
  const box = Array.from(document.querySelectorAll('[class*="st-key-pg_main_"]')).find(e => e.offsetParent !== null);
  if (!box) { return true; }
  const top = Math.round(box.getBoundingClientRect().top + window.scrollY) + 'px';
  return document.documentElement.style.getPropertyValue('--pg-main-top') === top;
}"""


def settle(page) -> None:
    """Wait until the main picture has been fitted to the screen (FIT_MAIN_PICTURE runs 4x a second)."""
    try:
        page.wait_for_function(SETTLED, timeout=5000)
    except Exception:  # noqa: BLE001 - measured as it is then
        pass
    page.wait_for_timeout(400)  # Plotly follows its box's new size


def inside(box: dict | None, viewport: dict, slack: float = 1.0) -> bool:
    """True when ``box`` lies wholly in the first screen."""
    return (box is not None and box["x"] >= -slack and box["y"] >= -slack
            and box["x"] + box["w"] <= viewport["w"] + slack and box["y"] + box["h"] <= viewport["h"] + slack)


def verdict(measure: dict) -> dict:
    """The numbers a lecturer cares about, from one ``MEASURE`` result."""
    viewport, main = measure["viewport"], measure["main"]
    visible_fraction = 0.0 if main is None or main["h"] <= 0 else \
        max(0.0, min(main["y"] + main["h"], viewport["h"]) - max(main["y"], 0)) / main["h"]
    share = 0.0 if main is None else visible_fraction * main["area"] / (viewport["w"] * viewport["h"])
    return {
        "picture_visible": inside(main, viewport),
        "picture_share": share,
        "controls_visible": all(inside(b, viewport) for b in measure["buttons"].values() if b is not None),
        "has_stepper": any(b is not None for b in measure["buttons"].values()),
        "clipped": measure["clipped"],
    }


def measure_tabs(page, wait_idle) -> list[tuple[str, dict]]:
    """(tab label, ``verdict``) for the page as opened and for each of its top-level tabs."""
    settle(page)
    results = [("as opened", verdict(page.evaluate(MEASURE)))]
    tabs = page.locator('[data-testid="stMain"] [role="tablist"]').first.locator('[role="tab"]')
    count = tabs.count() if page.locator('[data-testid="stMain"] [role="tablist"]').count() else 0
    for i in range(1, count):  # the first tab is the page as opened
        label = tabs.nth(i).inner_text().strip()
        tabs.nth(i).click()
        wait_idle(page)
        page.evaluate("() => window.scrollTo(0, 0)")
        settle(page)
        results.append((label, verdict(page.evaluate(MEASURE))))
    if count > 1:
        tabs.nth(0).click()
        wait_idle(page)
    return results


def main() -> None:  # pragma: no cover - a measuring tool
    import sys
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from bench.appserver import CHROMIUM, CHROMIUM_ARGS, AppServer, wait_idle
    from playground.ui.navigation import available_pages

    only = sys.argv[1:]
    with AppServer() as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for info in available_pages():
            stem = Path(info.path).stem
            if only and not any(o in stem for o in only):
                continue
            for width, height in ((1920, 1080), (1280, 720)):
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                page.goto(f"{server.url}/{stem.split('_', 1)[1]}?projection=1&seed=7", wait_until="domcontentloaded")
                wait_idle(page)
                for label, result in measure_tabs(page, wait_idle):
                    print(f"{stem:<24} {width}x{height} {label[:28]:<28}: picture visible "
                          f"{result['picture_visible']!s:<5} share {result['picture_share']:.2f} controls "
                          f"{result['controls_visible']!s:<5} stepper {result['has_stepper']!s:<5} clipped "
                          f"{len(result['clipped'])} {[c['text'][:30] for c in result['clipped']][:3]}", flush=True)
                page.screenshot(path=f"/tmp/probe_{stem}_{width}.png")
                context.close()
        browser.close()


if __name__ == "__main__":
    main()
