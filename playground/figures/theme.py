"""One look for every figure: colour-blind-safe colours with fixed roles, and a
projection mode that scales fonts, markers and lines for a lecture hall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common
# forms of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

ROLE_COLORS = {
    "data": "#0072B2",  # blue: observed / training data
    "model": "#D55E00",  # vermillion: the fitted model (density curves, contours)
    "samples": "#E69F00",  # orange: samples drawn from a model
    "latent": "#009E73",  # green: latent codes / base distribution
    "truth": "#000000",  # black: the true density when known
    "accent": "#CC79A7",  # purple: highlights (selected point, current step)
}

WEBGL_THRESHOLD = 1000  # above this many points, scatter traces use WebGL


@dataclass(frozen=True)
class Scale:
    """Sizes for one display mode."""

    font: int
    title_font: int
    marker: float
    line: float
    height: int


NORMAL = Scale(font=14, title_font=18, marker=5, line=2, height=460)
PROJECTION = Scale(font=24, title_font=30, marker=9, line=4.5, height=620)


def scale_for(projection: bool) -> Scale:
    return PROJECTION if projection else NORMAL


def role_color(role: str) -> str:
    return ROLE_COLORS[role]


def component_color(k: int) -> str:
    """Colour of mixture component / class ``k`` (cycles through the palette)."""
    return PALETTE[k % len(PALETTE)]


def scatter(x, y, *, role: str = "data", name: str | None = None, size: float | None = None,
            opacity: float = 0.7, **kwargs) -> go.Scatter | go.Scattergl:
    """A marker trace in the role's colour; WebGL above ``WEBGL_THRESHOLD`` points."""
    x = np.asarray(x)
    trace_type = go.Scattergl if x.size > WEBGL_THRESHOLD else go.Scatter
    marker = {"color": ROLE_COLORS.get(role, role), "size": size or NORMAL.marker, "opacity": opacity}
    marker.update(kwargs.pop("marker", {}))
    return trace_type(x=x, y=np.asarray(y), mode="markers", name=name or role, marker=marker, **kwargs)


def line(x, y, *, role: str = "model", name: str | None = None, dash: str | None = None, **kwargs) -> go.Scatter:
    """A line trace in the role's colour."""
    style = {"color": ROLE_COLORS.get(role, role), "width": NORMAL.line}
    if dash:
        style["dash"] = dash
    style.update(kwargs.pop("line", {}))
    return go.Scatter(x=np.asarray(x), y=np.asarray(y), mode="lines", name=name or role, line=style, **kwargs)


TEMPLATE_NAME = "playground"
FONT_FAMILY = "Source Sans Pro, Arial, sans-serif"


def use_playground_template() -> None:
    """Register the playground look as Plotly's default template.

    It is plotly_white's *layout* (white background, light grid) with our palette and
    font, without plotly_white's per-trace-type defaults. Those defaults are what made
    theming slow: copying and validating the full template cost ~20 ms per figure,
    more than building most figures. A default template is attached to every new
    figure without validation, so this one costs nothing per figure. Importing the
    playground's figures therefore gives notebook figures the same look. Streamlit
    sets its own default when it is imported, so pages call this again (it is cheap).
    """
    import plotly.io as pio

    if TEMPLATE_NAME not in pio.templates:
        layout = pio.templates["plotly_white"].layout.to_plotly_json()
        layout.update(colorway=PALETTE, font={"family": FONT_FAMILY, "size": NORMAL.font})
        pio.templates[TEMPLATE_NAME] = go.layout.Template(layout=layout)
    pio.templates.default = TEMPLATE_NAME


use_playground_template()


def style_figure(fig: go.Figure, projection: bool = False, *, height: int | None = None,
                 fill: bool = False) -> go.Figure:
    """Apply the playground theme in place (and return the figure).

    Colours, background and grid come from the default template (registered above);
    this sets what depends on the display mode. In projection mode, fonts, marker
    sizes and line widths grow by the ratio of the two scales, so builders only ever
    think in normal sizes. ``fill`` leaves the height to the box the figure is drawn in
    (the main picture of a projected page fills the rest of the screen).
    """
    scale = scale_for(projection)
    ratio_marker = scale.marker / NORMAL.marker
    ratio_line = scale.line / NORMAL.line
    layout = fig.layout
    update = {
        "font": {"size": scale.font, "family": FONT_FAMILY},
        "title": {"font": {"size": scale.title_font}},
        "legend": {"font": {"size": scale.font}},
        "hoverlabel": {"font": {"size": scale.font}},  # Plotly's default is 13 px: unreadable on a projector
        "height": None if fill else (height or layout.height or scale.height),
    }
    template = layout.template
    if template is None or tuple(template.layout.colorway or ()) != tuple(PALETTE):
        update["template"] = TEMPLATE_NAME  # rare: built while another default template was set
    if not layout.margin.to_plotly_json():  # keep a builder's own margins
        update["margin"] = {"l": 60, "r": 20, "t": 60 if layout.title.text else 30, "b": 50}
    fig.update_layout(update)
    if fill:
        fig.layout.height = None
        fig.layout.autosize = True
    if layout.annotations:
        fig.update_annotations(font_size=scale.font)
    if projection:
        for trace in fig.data:
            marker = getattr(trace, "marker", None)
            if marker is not None and isinstance(getattr(marker, "size", None), (int, float)):
                marker.size = marker.size * ratio_marker
            trace_line = getattr(trace, "line", None)
            if trace_line is not None and isinstance(getattr(trace_line, "width", None), (int, float)):
                trace_line.width = trace_line.width * ratio_line
    return fig
