"""``setup_page``: page config and the shared sidebar every page calls first."""

from __future__ import annotations

import threading

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.caching.cache_errors import UnhashableParamError

from playground.figures.theme import style_figure, use_playground_template
from playground.ui import deeplink, player
from playground.ui.navigation import HOME, available_pages

# A local image: Material/emoji favicons are fetched from the internet by the browser.
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

# Both modes: formulas break after a relation or an operator instead of running out of their panel,
# metric labels wrap, and metric values are a size smaller than Streamlit's (four fit a formula panel).
BASE_CSS = """
<style>
.st-key-pg_inject { display: none; }
.katex-display > .katex, .katex-display .katex-html { white-space: normal !important; }
.katex-display .katex-html > .base { margin-top: 0.25em; }
[data-testid="stMetricValue"] { font-size: 1.6rem; }
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; }
</style>
"""

PROJECTION_CSS = """
<style>
/* Projection mode: larger type for the back row, sized to the screen (1280 to 1920 px wide). */
html, body, [data-testid="stAppViewContainer"] { font-size: clamp(17px, 0.55vw + 10px, 21px); }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.1rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.05rem; }
.katex { font-size: 1.3em !important; }
/* A long formula breaks after a relation or an operator instead of running out of its panel. */
.katex-display > .katex, .katex-display .katex-html { white-space: normal !important; }
.katex-display .katex-html > .base { margin-top: 0.25em; }
/* The title is a one-line heading: the picture, not the header, owns the first screen. */
h1 { font-size: 1.7rem !important; padding: 0 0 0.2rem 0 !important; line-height: 1.15 !important; }
[data-testid="stMainBlockContainer"] { padding-top: 0.7rem; padding-bottom: 2rem;
  padding-left: 2rem; padding-right: 2rem; }
/* The title shares the top line with the sidebar's open arrow (top left), so it starts right of it. */
[data-testid="stMainBlockContainer"] h1 { margin-left: 2.2rem; }
[data-testid="stHeader"] { height: 2.2rem; background: transparent; }
[data-testid="stMain"] [data-testid="stVerticalBlock"] { gap: 0.7rem; }
/* The narrow side column beside a picture: formulas and numbers a size smaller, so that they fit. */
[class*="st-key-pg_side_"] .katex { font-size: 1.0em !important; }
[class*="st-key-pg_side_"] [data-testid="stMetricValue"] { font-size: 1.35rem; }
[class*="st-key-pg_side_"] [data-testid="stMetricValue"] * { overflow: visible !important;
  text-overflow: clip !important; }
/* Tabs: one compact line. */
[data-testid="stMain"] [data-baseweb="tab"] { height: 2.1rem; }
[data-testid="stMain"] [data-baseweb="tab-panel"] { padding-top: 0.3rem; }
/* A short screen (720 px): the heading, the tabs and the buttons a little tighter. */
@media (max-height: 800px) {
  h1 { font-size: 1.4rem !important; }
  [data-testid="stMain"] [data-baseweb="tab"] { height: 1.8rem; }
  [data-testid="stMain"] [data-testid^="stBaseButton"] { min-height: 2.2rem; padding-top: 0.1rem;
    padding-bottom: 0.1rem; }
}
/* The main picture fills the screen below its top edge (FIT_MAIN_PICTURE measures that edge). */
[class*="st-key-pg_main_"] { flex: none !important; min-height: 320px;
  height: calc(100vh - var(--pg-main-top, 300px) - 6px) !important; }
/* Page names, widget labels and button labels wrap between words instead of ending in "…". */
[data-testid="stWidgetLabel"], [data-testid="stWidgetLabel"] *, [data-testid="stMetricLabel"],
[data-testid="stMetricLabel"] * { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
[data-testid="stPageLink-NavLink"] span, [data-testid="stPageLink-NavLink"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}
[data-testid^="stBaseButton"] p { white-space: normal !important; overflow-wrap: normal !important;
  word-break: normal !important; }
[data-testid^="stBaseButton"] { padding-left: 0.6rem; padding-right: 0.6rem; }
/* Step / Play / Reset in a narrow column (a 1280-px projector): icons only, never "S…". */
:is([class*="__step"], [class*="__play"], [class*="__reset"]) [data-testid^="stBaseButton"] {
  container-type: inline-size;
}
@container (max-width: 125px) {
  [data-testid="stMarkdownContainer"] { display: none; }
}
</style>
"""

# Projection mode: the top edge of the visible main picture (in page coordinates), kept in
# the CSS variable --pg-main-top so that PROJECTION_CSS gives the picture the rest of the
# screen. Measured in the browser, four times a second (tabs, reruns and window resizes move
# it); one timer per tab. Plotly follows its box's size (the chart is drawn with height
# "stretch").
FIT_MAIN_PICTURE = """
<script>
(function () {
  if (window.__playgroundFitMain) { return; }
  function fit() {
    var boxes = document.querySelectorAll('[class*="st-key-pg_main_"]');
    for (var i = 0; i < boxes.length; i += 1) {
      if (boxes[i].offsetParent === null) { continue; }
      var top = Math.round(boxes[i].getBoundingClientRect().top + window.scrollY) + "px";
      var root = document.documentElement.style;
      if (root.getPropertyValue("--pg-main-top") !== top) { root.setProperty("--pg-main-top", top); }
      return;
    }
  }
  window.__playgroundFitMain = window.setInterval(fit, 250);
  fit();
})();
</script>
"""


# "Link to this view": the browser's own address, read in the browser. The server never
# rewrites this element after drawing it. (It used to: a slot kept in the session and
# rewritten on every control change was, after a sidebar click, the previous page's
# element, and its write reached the browser before the new page had built that path:
# "Bad delta path index", a white window. From inside a fragment such a write is refused
# outright.) One timer per tab keeps the text equal to location.href, which Streamlit
# updates on every control change, Back and Forward.
LINK_HTML = """
<div data-testid="pg-view-link" style="display:flex; gap:0.5rem; align-items:flex-start;">
  <code id="pg-view-link-text" style="flex:1; word-break:break-all; white-space:pre-wrap; font-size:0.8rem;
    padding:0.4rem 0.5rem; border-radius:0.4rem; background:rgba(128,128,128,0.12);"></code>
  <button id="pg-view-link-copy" type="button" title="Copy the link"
    style="border:1px solid rgba(128,128,128,0.4); border-radius:0.4rem; background:transparent;
    padding:0.2rem 0.5rem; cursor:pointer;">Copy</button>
</div>
<script>
(function () {
  if (window.__playgroundViewLink) { return; }
  function sync() {
    var text = document.getElementById("pg-view-link-text");
    if (text && text.textContent !== window.location.href) { text.textContent = window.location.href; }
  }
  window.__playgroundViewLink = window.setInterval(sync, 250);
  sync();
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("#pg-view-link-copy") : null;
    if (!button) { return; }
    var href = window.location.href;
    function done() { button.textContent = "Copied"; window.setTimeout(function () { button.textContent = "Copy"; }, 1500); }
    function select() {  // no clipboard API (plain http on a LAN): select the text for Ctrl+C
      var text = document.getElementById("pg-view-link-text");
      var range = document.createRange();
      range.selectNodeContents(text);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(href).then(done, select);
    } else {
      select();
    }
  });
})();
</script>
"""


# A presenter's clicker drives the page: -> or PageDown = Step, Space = Play / Pause, R = Reset. The
# keys press the visible buttons of the page's stepper (the first one on the screen), so they do
# exactly what a click does, in the browser, with no extra round trip. Keys typed into a text field,
# a number input, a select box or a slider (where the arrows move the value) are left alone. One
# listener per tab.
KEYBOARD_SHORTCUTS = """
<script>
(function () {
  if (window.__playgroundKeys) { return; }
  window.__playgroundKeys = true;
  var KEYS = {"ArrowRight": "step", "PageDown": "step", " ": "play", "r": "reset", "R": "reset"};
  function onScreen(button) {
    var box = button.getBoundingClientRect();
    return button.offsetParent !== null && box.bottom > 0 && box.top < window.innerHeight;
  }
  function target(part) {
    var buttons = Array.prototype.slice.call(
      document.querySelectorAll('[data-testid="stMain"] [class*="__' + part + '"] button'));
    var shown = buttons.filter(onScreen);
    return shown.length ? shown[0] : buttons.filter(function (b) { return b.offsetParent !== null; })[0];
  }
  document.addEventListener("keydown", function (event) {
    var part = KEYS[event.key];
    if (!part || event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var focus = document.activeElement;
    if (focus && (focus.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(focus.tagName) ||
                  focus.getAttribute("role") === "slider" || focus.getAttribute("role") === "combobox")) { return; }
    var button = target(part);
    if (!button || button.disabled) { return; }
    event.preventDefault();  // Space and PageDown would scroll the page
    if (focus && focus.tagName === "BUTTON") { focus.blur(); }  // Space would also press the focused button
    button.click();
  }, true);
})();
</script>
"""


@dataclass
class PageContext:
    """What a page needs from the shared sidebar."""

    seed: int
    projection: bool
    device_label: str
    _splits: int = 0  # side columns made in this run (their keys must differ)

    def show(self, figure: go.Figure | Callable[..., go.Figure], *args: Any, key: str | None = None,
             height: int | None = None, main: bool = False, **kwargs: Any) -> None:
        """Theme a figure for the current mode and draw it full width.

        ``main=True`` marks the page's (or tab's) main picture: in projection mode it fills
        the screen below its top edge (see ``FIT_MAIN_PICTURE``), so that the picture and the
        Step / Play controls above it are the first screen at any projector resolution.

        Pass a builder and its arguments instead of a built figure,
        ``page.show(F.density_1d, axis, curves, key="main")``, to share the built and
        themed figure between viewers: a class moving the same slider to the same value
        builds each picture once (building a Plotly figure costs more than drawing it).
        ``key`` and ``height`` belong to ``show``; every other keyword goes to the builder.
        """
        fill = main and self.projection
        mount_player = player.ACTIVE.get() if main else None
        if mount_player is not None:  # this picture is playing in the browser (see playground.ui.player)
            player.ACTIVE.set(None)
            with st.container(key=f"pg_main_{key or 'picture'}"):
                mount_player(fill)
            return
        if isinstance(figure, go.Figure):
            fig = figure if getattr(figure, "_pg_themed", False) else \
                style_figure(figure, self.projection, height=height, fill=fill)
        else:
            fig = shared_figure(figure, args, kwargs, self.projection, height, fill)
        if not main:
            st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})
            return
        with st.container(key=f"pg_main_{key or 'picture'}"):
            st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False},
                            height="stretch" if fill else "content")

    def themed(self, figure: go.Figure, *, height: int | None = None, main: bool = False) -> go.Figure:
        """``figure`` themed exactly as ``show`` would draw it (what a stepper's ``picture`` returns)."""
        fig = style_figure(figure, self.projection, height=height, fill=main and self.projection)
        fig._pg_themed = True  # show() draws it as it is
        return fig

    def split(self, ratio: float = 3.0) -> tuple[Any, Any]:
        """(side, main) containers. Projected: a narrow column of controls and numbers beside the
        picture column (1 : ``ratio``); the side column's formulas and metrics are set a size
        smaller so that they fit it. Otherwise both are the page's own flow, side above main."""
        if not self.projection:
            return st.container(), st.container()
        self._splits += 1
        side, main = st.columns([1, ratio], gap="medium")
        return side.container(key=f"pg_side_{self._splits}"), main

    @property
    def link_params(self) -> dict[str, str]:
        """Query parameters for an ``st.page_link`` to another page (seed, projection mode)."""
        return session_params(self.seed, self.projection)

    def explain(self, markdown: str, *, title: str = "What is going on here") -> None:
        """Secondary text: open normally, collapsed in projection mode."""
        with st.expander(title, expanded=not self.projection):
            st.markdown(markdown)


# Figures shared between sessions. The cached object is only ever read (st.plotly_chart
# serialises a copy), so sharing is safe. Bounded: at most SHARED_FIGURES figures, each
# dropped after an hour unused.
SHARED_FIGURES = 96


@st.cache_resource(show_spinner=False, max_entries=SHARED_FIGURES, ttl=3600)
def _cached_figure(name: str, _builder: Callable[..., go.Figure], args: tuple, kwargs: dict, projection: bool,
                   height: int | None, fill: bool = False) -> go.Figure:
    return style_figure(_builder(*args, **kwargs), projection, height=height, fill=fill)


def shared_figure(builder: Callable[..., go.Figure], args: tuple, kwargs: dict, projection: bool,
                  height: int | None = None, fill: bool = False) -> go.Figure:
    """``builder(*args, **kwargs)``, themed, built once per distinct input for all viewers."""
    name = f"{builder.__module__}.{builder.__qualname__}"
    try:
        return _cached_figure(name, builder, args, kwargs, projection, height, fill)
    except UnhashableParamError:  # an argument Streamlit cannot hash: build it for this run only
        return style_figure(builder(*args, **kwargs), projection, height=height, fill=fill)


def _navigation_links(params: dict[str, str]) -> None:
    """The page list; each link carries the session-wide controls (seed, projection mode)
    so that the destination opens with them in its URL: a page switch is then one browser
    history entry, and Back returns to the previous page at once. A script run outside the
    app (AppTest of one file) has no page registry, so links cannot resolve there: the
    list is then skipped."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(HOME.path, label=HOME.title, icon=HOME.icon, query_params=params)
        for number, page in enumerate(available_pages(), start=1):
            st.page_link(page.path, label=f"{number}. {page.title}", icon=page.icon, query_params=params)
    except StreamlitAPIException:
        st.caption("Navigation appears when the app runs with `streamlit run app.py`.")


def session_params(seed: int, projection: bool) -> dict[str, str]:
    """The URL parameters that follow the user from page to page (defaults left out, as
    ``deeplink.linked`` writes them): pass them to every ``st.page_link``."""
    params = {}
    if seed != 0:
        params["seed"] = str(seed)
    if projection:
        params["projection"] = "1"
    return params


def _device_label() -> str:
    # Imported lazily so that the home page never pays for importing torch.
    from playground.device import configure_threads, device_label

    configure_threads()
    return device_label()


# Heavy imports warmed in the background by the first page any viewer opens (the home page imports
# none of them itself): by the time the lecturer clicks a page, torch and the compute are loaded.
WARM_MODULES = ("torch", "scipy.stats", "scipy.optimize", "sklearn.neighbors", "playground.device",
                "playground.distributions", "playground.mixture", "playground.density", "playground.sampling",
                "playground.mcmc", "playground.em", "playground.kde_vs_gmm", "playground.divergence_fit",
                "playground.flows", "playground.gan", "playground.autoencoders", "playground.diffusion",
                "playground.energy", "playground.autoregressive", "playground.evaluation", "playground.leaderboard")


_warm_started = threading.Event()


def warm_imports() -> None:
    """Import ``WARM_MODULES`` in a daemon thread, once per server process (idempotent);
    ``PLAYGROUND_WARM_IMPORTS=0`` turns it off."""
    import os

    if _warm_started.is_set() or os.environ.get("PLAYGROUND_WARM_IMPORTS", "1") == "0":
        return
    _warm_started.set()
    # pandas first, in this thread: Plotly looks it up in sys.modules without importing it, and a
    # half-imported pandas (the warm-up thread in the middle of it) breaks a figure being built.
    import pandas  # noqa: F401

    def run() -> None:
        import importlib

        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a warm-up must never break a page
                pass

    threading.Thread(target=run, name="playground-warm-imports", daemon=True).start()


def setup_page(title: str, icon: str = ":material/science:", *, uses_torch: bool = True) -> PageContext:
    """Configure the page and draw the shared sidebar; call it first on every page.

    ``icon`` is kept for the page's own use; the browser tab shows the playground's icon.
    ``uses_torch=False`` (the home page) shows the device without importing torch.
    """
    state = st.session_state
    warm_imports()
    deeplink.start_run()
    raw = st.query_params.get("projection")
    if "projection" in state and raw == state.get(deeplink.WRITTEN_KEY, {}).get("projection", raw):
        wide = bool(state["projection"])  # the toggle's new value: the layout follows on the same rerun
    else:
        wide = bool(state.get(deeplink.PERSIST_PREFIX + "projection", False)) or raw in ("1", "true")
    use_playground_template()  # Streamlit installs its own Plotly default when imported
    st.set_page_config(page_title=f"{title} · Generative-models playground", page_icon=str(FAVICON),
                       layout="wide",  # both modes use the screen's width
                       # projected, the picture gets the whole screen; the sidebar opens from its arrow
                       initial_sidebar_state="collapsed" if wide else "expanded")
    with st.sidebar:
        st.markdown("### Generative-models playground")
        navigation = st.container()  # filled below, once the seed and projection mode are known
        st.divider()
        device_slot = st.empty()  # filled after the title: the label may import torch (seconds, cold)
        seed = deeplink.linked(st.number_input, "Global seed", key="seed", default=0, persist=True,
                               min_value=0, max_value=2**31 - 1, step=1,
                               help="Every random draw on the page derives from this seed: same seed, same picture.")
        projection = deeplink.linked(st.toggle, "Projection mode", key="projection", default=False, persist=True,
                                     help="Larger fonts, markers and lines, wide layout, explanations collapsed.")
        st.markdown("**Link to this view**")
        st.html(LINK_HTML, unsafe_allow_javascript=True)
        st.caption("Copy it: it reopens this page with the same controls.")
        st.caption("**Keys** (a presenter's clicker works): → or PageDown = Step, Space = Play / Pause, "
                   "R = Reset.")
        with navigation:
            _navigation_links(session_params(int(seed), bool(projection)))
    # Styles and scripts in one hidden box: empty elements would each add a gap above the title.
    with st.container(key="pg_inject"):
        st.markdown(BASE_CSS, unsafe_allow_html=True)
        st.html(KEYBOARD_SHORTCUTS, unsafe_allow_javascript=True)
        if projection:
            st.markdown(PROJECTION_CSS, unsafe_allow_html=True)
            st.html(FIT_MAIN_PICTURE, unsafe_allow_javascript=True)
    st.title(title)
    device = _device_label() if uses_torch else _device_label_without_torch()
    device_slot.markdown(f"**Compute device:** `{device}`")
    return PageContext(seed=int(seed), projection=bool(projection), device_label=device)


def _device_label_without_torch() -> str:
    """Device name without importing torch (the home page must start fast).

    Once any page has imported torch in this server process, the exact label is used.
    Before that, the same rule as ``playground.device.pick_device`` is applied to what
    the machine shows without torch: the override variable, then an NVIDIA device node,
    then Apple silicon, else the CPU.
    """
    import os
    import platform
    import sys

    if "torch" in sys.modules:
        return _device_label()
    override = os.environ.get("PLAYGROUND_DEVICE", "").strip()
    if override:
        return override
    if os.path.exists("/dev/nvidia0"):
        return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"
