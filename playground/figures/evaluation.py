"""Figures of the evaluation page: the k-NN balls behind precision / recall / density / coverage,
and metrics against the sample size."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from playground.figures.primitives import Series, curves
from playground.figures.theme import ROLE_COLORS


def _circles(centers: np.ndarray, radii: np.ndarray, n_vertices: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """All circles as one polyline, separated by gaps (one trace draws hundreds of balls)."""
    angles = np.append(np.linspace(0, 2 * np.pi, n_vertices), np.nan)
    xs = centers[:, :1] + radii[:, None] * np.cos(angles)[None, :]
    ys = centers[:, 1:2] + radii[:, None] * np.sin(angles)[None, :]
    return xs.ravel(), ys.ravel()


def balls_figure(real: np.ndarray, fake: np.ndarray, radii: np.ndarray, inside: np.ndarray, *, around: str,
                 bounds: Sequence[Sequence[float]], title: str | None = None) -> go.Figure:
    """Real (blue) and generated (orange) points and the k-NN balls of one set: ``around="real"``
    draws the real balls (precision, density, coverage count fake points in them), ``"fake"`` the
    generated ones (recall). ``inside`` marks the balls that hold at least one point of the other
    set (solid) or none (faint)."""
    centers = real if around == "real" else fake
    color = ROLE_COLORS["data"] if around == "real" else ROLE_COLORS["samples"]
    fig = go.Figure()
    for hit, opacity, name in ((True, 0.55, "balls that hold a point of the other set"),
                               (False, 0.18, "empty balls")):
        chosen = inside == hit
        if chosen.any():
            xs, ys = _circles(centers[chosen], radii[chosen])
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                                     line={"color": color, "width": 1}, opacity=opacity))
    fig.add_trace(go.Scatter(x=real[:, 0], y=real[:, 1], mode="markers", name="real",
                             marker={"color": ROLE_COLORS["data"], "size": 5}))
    fig.add_trace(go.Scatter(x=fake[:, 0], y=fake[:, 1], mode="markers", name="generated",
                             marker={"color": ROLE_COLORS["samples"], "size": 5, "symbol": "x"}))
    low = [min(b[0], float(np.nanmin(p))) for b, p in zip(bounds, (np.r_[real[:, 0], fake[:, 0]],
                                                                     np.r_[real[:, 1], fake[:, 1]]))]
    high = [max(b[1], float(np.nanmax(p))) for b, p in zip(bounds, (np.r_[real[:, 0], fake[:, 0]],
                                                                      np.r_[real[:, 1], fake[:, 1]]))]
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.08},
                      xaxis={"range": [low[0], high[0]], "constrain": "domain"},
                      yaxis={"range": [low[1], high[1]], "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"})
    return fig


def size_curves(data: Mapping[str, np.ndarray]) -> go.Figure:
    """The metrics against the sample size N (log axis), each set drawn afresh at every N."""
    roles = {"precision": "data", "recall": "samples", "density": "latent", "coverage": "accent"}
    series = {name: Series(data[name], x=data["sizes"], mode="lines+markers", role=role)
              for name, role in roles.items()}
    fig = curves(series, x_title="N (points in each set)", y_title="value", title="Against the sample size")
    fig.add_trace(go.Scatter(x=data["sizes"], y=data["frechet"], name="Fréchet distance (right axis)",
                             mode="lines+markers", yaxis="y2", line={"dash": "dot", "color": ROLE_COLORS["truth"]}))
    fig.update_layout(xaxis={"type": "log"}, yaxis2={"overlaying": "y", "side": "right", "title": "Fréchet",
                                                     "showgrid": False, "rangemode": "tozero"},
                      legend={"orientation": "h", "y": -0.25})
    return fig
