"""``setup_page``: page config and the shared sidebar every page calls first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.caching.cache_errors import UnhashableParamError

from playground.figures.theme import style_figure, use_playground_template
from playground.ui import deeplink
from playground.ui.navigation import HOME, available_pages

# A local image: Material/emoji favicons are fetched from the internet by the browser.
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

PROJECTION_CSS = """
<style>
/* Projection mode: larger type everywhere, for the back row of a lecture hall. */
html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.15rem; }
.katex { font-size: 1.5em !important; }
h1 { font-size: 3rem !important; }
[data-testid="stSidebar"] { min-width: 340px; }
/* Less empty space above the title, so the first figure starts higher on the screen. */
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
/* Page names and button labels wrap between words instead of ending in "…" at large font sizes. */
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


@dataclass
class PageContext:
    """What a page needs from the shared sidebar."""

    seed: int
    projection: bool
    device_label: str

    def show(self, figure: go.Figure | Callable[..., go.Figure], *args: Any, key: str | None = None,
             height: int | None = None, **kwargs: Any) -> None:
        """Theme a figure for the current mode and draw it full width.

        Pass a builder and its arguments instead of a built figure,
        ``page.show(F.density_1d, axis, curves, key="main")``, to share the built and
        themed figure between viewers: a class moving the same slider to the same value
        builds each picture once (building a Plotly figure costs more than drawing it).
        ``key`` and ``height`` belong to ``show``; every other keyword goes to the builder.
        """
        if isinstance(figure, go.Figure):
            fig = style_figure(figure, self.projection, height=height)
        else:
            fig = shared_figure(figure, args, kwargs, self.projection, height)
        st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})

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
                   height: int | None) -> go.Figure:
    return style_figure(_builder(*args, **kwargs), projection, height=height)


def shared_figure(builder: Callable[..., go.Figure], args: tuple, kwargs: dict, projection: bool,
                  height: int | None = None) -> go.Figure:
    """``builder(*args, **kwargs)``, themed, built once per distinct input for all viewers."""
    name = f"{builder.__module__}.{builder.__qualname__}"
    try:
        return _cached_figure(name, builder, args, kwargs, projection, height)
    except UnhashableParamError:  # an argument Streamlit cannot hash: build it for this run only
        return style_figure(builder(*args, **kwargs), projection, height=height)


def _navigation_links() -> None:
    """The page list. A script run outside the app (AppTest of one file) has no page
    registry, so links cannot resolve there: the list is then skipped."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(HOME.path, label=HOME.title, icon=HOME.icon)
        for number, page in enumerate(available_pages(), start=1):
            st.page_link(page.path, label=f"{number}. {page.title}", icon=page.icon)
    except StreamlitAPIException:
        st.caption("Navigation appears when the app runs with `streamlit run app.py`.")


def _device_label() -> str:
    # Imported lazily so that the home page never pays for importing torch.
    from playground.device import configure_threads, device_label

    configure_threads()
    return device_label()


def setup_page(title: str, icon: str = ":material/science:", *, uses_torch: bool = True) -> PageContext:
    """Configure the page and draw the shared sidebar; call it first on every page.

    ``icon`` is kept for the page's own use; the browser tab shows the playground's icon.
    ``uses_torch=False`` (the home page) shows the device without importing torch.
    """
    # The link slot is an element of one script run. Left over from the previous run (on
    # another page after a sidebar click, its sidebar has other indices), a write into it
    # would send the browser a delta for a path the new page has not built yet: the front
    # end throws "Bad delta path index" and the window turns white. It is recreated below.
    st.session_state.pop(deeplink.LINK_SLOT_KEY, None)
    projection_default = st.session_state.get(deeplink.PERSIST_PREFIX + "projection", False)
    raw = st.query_params.get("projection")
    wide = projection_default or raw in ("1", "true")
    use_playground_template()  # Streamlit installs its own Plotly default when imported
    st.set_page_config(page_title=f"{title} · Generative-models playground", page_icon=str(FAVICON),
                       layout="wide" if wide else "centered", initial_sidebar_state="expanded")
    with st.sidebar:
        st.markdown("### Generative-models playground")
        _navigation_links()
        st.divider()
        device = _device_label() if uses_torch else _device_label_without_torch()
        st.markdown(f"**Compute device:** `{device}`")
        seed = deeplink.linked(st.number_input, "Global seed", key="seed", default=0, persist=True,
                               min_value=0, max_value=2**31 - 1, step=1,
                               help="Every random draw on the page derives from this seed: same seed, same picture.")
        projection = deeplink.linked(st.toggle, "Projection mode", key="projection", default=False, persist=True,
                                     help="Larger fonts, markers and lines, wide layout, explanations collapsed.")
        st.markdown("**Link to this view**")
        st.session_state[deeplink.LINK_SLOT_KEY] = st.empty()
        deeplink._refresh_link()
        st.caption("Copy it: it reopens this page with the same controls.")
    if projection:
        st.markdown(PROJECTION_CSS, unsafe_allow_html=True)
    st.title(title)
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
