"""Drawing primitives shared by the figure builders: ellipses (geometry only: no densities)
and ``curves``, the one builder of metric histories (losses, likelihoods, divergences)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go

from playground.figures.theme import ROLE_COLORS, line


def ellipse(mean, covariance, n_sigma: float = 2.0, n_points: int = 120) -> np.ndarray:
    """Points ``(n_points, 2)`` on the ellipse {x : (x - mu)^T Sigma^{-1} (x - mu) = n_sigma^2},
    the n_sigma contour of N(mean, covariance). From the eigen-decomposition, so a singular
    covariance still draws (as a segment) instead of failing like a Cholesky factor would."""
    values, vectors = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    angles = np.linspace(0, 2 * np.pi, n_points)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.asarray(mean, dtype=np.float64) + n_sigma * (circle * np.sqrt(np.clip(values, 0, None))) @ vectors.T


# ----------------------------------------------------------------------------------
# Metric histories: every loss / likelihood / divergence curve of the playground
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One curve of a metric history: ``y`` against ``x`` (or the figure's shared x).

    ``role`` is a theme role ("model", "latent", ...) or a colour; ``mode="markers"``
    draws points, ``"lines+markers"`` both (``marker`` is the Plotly marker dict; extra
    trace properties, e.g. ``customdata``, go in ``trace``); ``finite_only`` drops NaN/inf
    points (metrics not computed every epoch), so the line bridges the gaps.
    """

    y: Any
    x: Any = None
    role: str = "model"
    dash: str | None = None
    width: float | None = None
    opacity: float | None = None
    mode: str = "lines"
    marker: Mapping[str, Any] | None = None
    finite_only: bool = False
    trace: Mapping[str, Any] | None = None


CURRENT_LINE = {"width": 2, "dash": "dash"}


def data_plane(fig: go.Figure, x_range: Any, y_range: Any, *, title: str | None = None) -> go.Figure:
    """Lay ``fig`` out as a 2D data plane: the given ranges, one unit the same length on both axes,
    and the legend in a row below."""
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.08},
                      xaxis={"range": list(x_range), "constrain": "domain"},
                      yaxis={"range": list(y_range), "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"})
    return fig


def mark_current(fig: go.Figure, x: float | None, *, role: str = "accent") -> go.Figure:
    """A dashed vertical line at the current iteration (on every subplot of ``fig``)."""
    if x is not None:
        fig.add_vline(x=x, line={"color": ROLE_COLORS.get(role, role), **CURRENT_LINE})
    return fig


def curves(series: Mapping[str, Series | Any], *, x: Any = None, x_title: str | None = None,
           y_title: str | None = None, log_y: bool = False, y_axis: Mapping[str, Any] | None = None,
           references: Mapping[str, float] | None = None, current: float | None = None,
           current_role: str = "accent", title: str | None = None, empty_text: str | None = None,
           fig: go.Figure | None = None, row: int | None = None, col: int | None = None,
           secondary_y: bool | None = None) -> go.Figure:
    """Metric histories as lines: the one builder behind every loss / likelihood / divergence curve.

    ``series`` maps a legend name to a ``Series`` (or a bare array of y values against ``x``).
    ``references`` maps a label to a horizontal reference level (a target value, the true KL),
    drawn dashed in the "truth" role. ``current`` marks the current iteration with a vertical
    line. With ``fig`` (and ``row``/``col``/``secondary_y``) the curves go into one panel of an
    existing figure; the caller then sets the figure-wide layout. Numbers in, no computation
    beyond dropping non-finite points.
    """
    fig = go.Figure() if fig is None else fig
    place: dict[str, Any] = {} if row is None else {"row": row, "col": col}
    if secondary_y is not None:
        place["secondary_y"] = secondary_y
    drawn = 0
    for name, spec in series.items():
        spec = spec if isinstance(spec, Series) else Series(spec)
        xs = np.asarray(spec.x if spec.x is not None else x)
        ys = np.asarray(spec.y) if not spec.finite_only else np.asarray(spec.y, dtype=np.float64)
        if spec.finite_only:
            keep = np.isfinite(ys)
            xs, ys = xs[keep], ys[keep]
        drawn += len(ys)
        extra = {**({} if spec.opacity is None else {"opacity": spec.opacity}), **(spec.trace or {})}
        if spec.mode.startswith("lines"):
            style = {} if spec.width is None else {"width": spec.width}
            trace = line(xs, ys, role=spec.role, name=name, dash=spec.dash, line=style, **extra)
            if spec.mode != "lines":
                trace.mode = spec.mode
            if spec.marker:
                trace.marker = spec.marker
        else:
            marker = {"color": ROLE_COLORS.get(spec.role, spec.role), **(spec.marker or {})}
            trace = go.Scatter(x=xs, y=ys, mode=spec.mode, name=name, marker=marker, **extra)
        fig.add_trace(trace, **place)
    if not drawn and empty_text:
        fig.add_annotation(text=empty_text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_xaxes(range=[0, 10], **place)
        fig.update_yaxes(showticklabels=False, **place)
    for label, level in (references or {}).items():
        fig.add_hline(y=level, line={"color": ROLE_COLORS["truth"], "dash": "dash"}, annotation_text=label,
                      annotation_position="top right")
    axis_x = {} if x_title is None else {"title_text": x_title}
    axis_y = {**({} if y_title is None else {"title_text": y_title}), **({"type": "log"} if log_y else {}),
              **(y_axis or {})}
    if axis_x:
        fig.update_xaxes(**axis_x, **{k: v for k, v in place.items() if k != "secondary_y"})
    if axis_y:
        fig.update_yaxes(**axis_y, **place)
    mark_current(fig, current, role=current_role)
    if title is not None:
        fig.update_layout(title=title)
    return fig


def drawing_plane(grid: np.ndarray, data: np.ndarray, box: float, height: int = 320) -> go.Figure:
    """The plane you draw data on: faint clickable grid points (trace 0) under the points drawn so far."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid[:, 0], y=grid[:, 1], mode="markers", name="click to add",
                             marker={"size": 7, "color": "rgba(120, 120, 120, 0.18)"},
                             hovertemplate="add points at (%{x:.1f}, %{y:.1f})<extra></extra>"))
    if len(data):
        fig.add_trace(go.Scatter(x=data[:, 0], y=data[:, 1], mode="markers", name="your data",
                                 marker={"size": 4, "color": "#0072B2", "opacity": 0.7}, hoverinfo="skip"))
    fig.update_layout(height=height, showlegend=False, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"range": [-box - 0.3, box + 0.3], "constrain": "domain", "fixedrange": True},
                      yaxis={"range": [-box - 0.3, box + 0.3], "scaleanchor": "x", "constrain": "domain",
                             "fixedrange": True},
                      # a click selects a point only outside the box/lasso drag modes (Chromium, Plotly 3):
                      # pan on fixed axes does nothing, and the toolbar's lasso still paints regions
                      dragmode="pan", clickmode="event+select")
    return fig
