"""Figures of the autoregressive page: grid joints side by side, a conditional, next-character bars."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves
from playground.figures.theme import ROLE_COLORS


def joint_panels(centers: tuple[np.ndarray, np.ndarray], tables: Mapping[str, np.ndarray], *,
                 slice_at: float | None = None, slice_axis: str = "x1", points: np.ndarray | None = None,
                 title: str | None = None) -> go.Figure:
    """Cell probabilities as heatmaps, one panel per table (indexed [x1 cell, x2 cell]), on one
    colour scale; ``slice_at`` draws the line of the conditional shown below; ``points`` go on the
    last panel (samples of the model)."""
    names = list(tables)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.04,
                        shared_yaxes=True)
    top = max(float(np.max(t)) for t in tables.values())
    for i, name in enumerate(names, start=1):
        fig.add_trace(go.Heatmap(x=centers[0], y=centers[1], z=np.asarray(tables[name]).T, zmin=0, zmax=top,
                                 colorscale="Viridis", showscale=i == len(names), name=name,
                                 colorbar={"title": "P(cell)", "thickness": 12},
                                 hovertemplate="x₁ %{x:.2f}, x₂ %{y:.2f}: P = %{z:.4f}<extra></extra>"),
                      row=1, col=i)
        # square cells: each panel shrinks to the grid's box instead of widening its axes
        fig.update_xaxes(title_text="x₁", constrain="domain", row=1, col=i)
        fig.update_yaxes(scaleanchor=f"x{'' if i == 1 else i}", scaleratio=1, constrain="domain", row=1, col=i)
    fig.update_yaxes(title_text="x₂", row=1, col=1)
    if slice_at is not None:
        for i in range(1, len(names) + 1):
            if slice_axis == "x1":
                fig.add_vline(x=slice_at, line={"color": ROLE_COLORS["accent"], "width": 2, "dash": "dot"}, row=1, col=i)
            else:
                fig.add_hline(y=slice_at, line={"color": ROLE_COLORS["accent"], "width": 2, "dash": "dot"}, row=1, col=i)
    if points is not None and len(points):
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name="samples",
                                 marker={"color": ROLE_COLORS["samples"], "size": 5, "line": {"width": 0.5,
                                                                                             "color": "white"}}),
                      row=1, col=len(names))
    fig.update_layout(title=title, showlegend=False, margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return fig


def conditional_bars(centers: np.ndarray, model: np.ndarray, empirical: np.ndarray | None,
                     truth: np.ndarray | None, *, given: str, value: float, axis: str) -> go.Figure:
    """p(axis | given = value) of the model as bars, with the data's and the truth's conditionals as lines."""
    fig = go.Figure(go.Bar(x=centers, y=model, name="model", marker={"color": ROLE_COLORS["model"]}, opacity=0.8))
    if empirical is not None:
        fig.add_trace(go.Scatter(x=centers, y=empirical, name="training data", mode="lines+markers",
                                 line={"color": ROLE_COLORS["data"], "shape": "hvh"}, marker={"size": 4}))
    if truth is not None:
        fig.add_trace(go.Scatter(x=centers, y=truth, name="truth", mode="lines",
                                 line={"color": ROLE_COLORS["truth"], "dash": "dash"}))
    fig.update_layout(title=f"p({axis} | {given} = {value:.2f})", xaxis_title=axis, yaxis_title="probability",
                      legend={"orientation": "h", "y": -0.25}, bargap=0.05)
    return fig


def next_char_bars(vocabulary: Sequence[str], model: np.ndarray, filtered: np.ndarray, *, prefix: str,
                   chosen: str | None = None) -> go.Figure:
    """The model's p(next character | prefix) (grey) and the distribution actually sampled from after
    temperature / top-k / top-p (coloured); "." is the end of the word."""
    labels = ["end ." if c == "." else c for c in vocabulary]
    fig = go.Figure(go.Bar(x=labels, y=model, name="model p(next | prefix)", marker={"color": "#BBBBBB"}))
    colors = [ROLE_COLORS["accent"] if chosen is not None and c == chosen else ROLE_COLORS["samples"]
              for c in vocabulary]
    fig.add_trace(go.Bar(x=labels, y=filtered, name="sampled from (after the rules)", marker={"color": colors}))
    fig.update_layout(title=f"Next character after “{prefix or '(start)'}”", barmode="group", bargap=0.15,
                      yaxis_title="probability", legend={"orientation": "h", "y": -0.2})
    return fig


def nll_curves(history: Mapping[str, np.ndarray], *, truth: float | None = None, unit: str = "nats",
               y_title: str = "negative log-likelihood") -> go.Figure:
    """Training and held-out negative log-likelihood against the iteration."""
    series = {"training batch": Series(history["loss"], x=history["iteration"], role="data"),
              "held out": Series(history["held_out_nll"], x=history["iteration"], role="model",
                                 finite_only=True)}  # evaluated every few steps
    return curves(series, x_title="iteration", y_title=f"{y_title} ({unit})",
                  references=None if truth is None else {"truth (held out)": truth}, empty_text="press Step or Play")
