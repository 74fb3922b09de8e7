"""One look for every figure: colour-blind-safe colours with fixed roles, and a
projection mode that scales fonts, markers and lines for a lecture hall."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=1)
def _template() -> go.layout.Template:
    """plotly_white, resolved once (looking a template up by name costs ~0.1 s per figure)."""
    import plotly.io as pio

    return pio.templates["plotly_white"]


def style_figure(fig: go.Figure, projection: bool = False, *, height: int | None = None) -> go.Figure:
    """Apply the playground theme in place (and return the figure).

    In projection mode, fonts, marker sizes and line widths grow by the ratio of the
    two scales, so builders only ever think in normal sizes.
    """
    scale = scale_for(projection)
    ratio_marker = scale.marker / NORMAL.marker
    ratio_line = scale.line / NORMAL.line
    fig.update_layout(
        template=_template(),
        font={"size": scale.font, "family": "Source Sans Pro, Arial, sans-serif"},
        title_font={"size": scale.title_font},
        legend={"font": {"size": scale.font}},
        height=height or fig.layout.height or scale.height,
        colorway=PALETTE,
    )
    if fig.layout.margin.to_plotly_json() == {}:  # keep a builder's own margins
        fig.update_layout(margin={"l": 60, "r": 20, "t": 60 if fig.layout.title.text else 30, "b": 50})
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
