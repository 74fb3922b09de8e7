"""Figures of the evaluation page: the k-NN balls behind precision / recall / density / coverage,
and metrics against the sample size."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.latent import image_mosaic
from playground.figures.primitives import Series, curves, data_plane
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
    return data_plane(fig, (low[0], high[0]), (low[1], high[1]), title=title)


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


def board_samples(samples: Mapping[str, np.ndarray], labels: Mapping[str, str], real: np.ndarray,
                  bounds: Sequence[Sequence[float]], *, columns: int = 5, max_points: int = 1000) -> go.Figure:
    """Small multiples: each family's samples (orange) over the held-out real points (faint blue),
    on one shared box so that the panels compare at a glance."""
    names = list(samples)
    rows = int(np.ceil(len(names) / columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[labels[name] for name in names],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    shown_real = real[:max_points]
    for i, name in enumerate(names):
        row, col = i // columns + 1, i % columns + 1
        fake = samples[name]
        if len(fake) > max_points:  # a spread-out subset: some samplers return their points grouped by mode
            fake = fake[np.linspace(0, len(fake) - 1, max_points).astype(int)]
        fig.add_trace(go.Scatter(x=shown_real[:, 0], y=shown_real[:, 1], mode="markers", name="held-out real",
                                 marker={"color": ROLE_COLORS["data"], "size": 3}, opacity=0.35, hoverinfo="skip",
                                 showlegend=i == 0, legendgroup="real"), row=row, col=col)
        fig.add_trace(go.Scatter(x=fake[:, 0], y=fake[:, 1], mode="markers", name="generated",
                                 marker={"color": ROLE_COLORS["samples"], "size": 3}, showlegend=i == 0,
                                 legendgroup="fake"), row=row, col=col)
    fig.update_xaxes(range=list(bounds[0]), showticklabels=False, constrain="domain")
    fig.update_yaxes(range=list(bounds[1]), showticklabels=False, constrain="domain")
    for i in range(len(names)):
        fig.update_yaxes(scaleanchor=f"x{i + 1 if i else ''}", scaleratio=1, row=i // columns + 1,
                         col=i % columns + 1)
    fig.update_layout(legend={"orientation": "h", "y": -0.04}, margin={"t": 40})
    return fig


def precision_recall_map(table: Any) -> go.Figure:
    """Precision against recall, one labelled point per family (top right = faithful and diverse)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=table["recall"], y=table["precision"], mode="markers+text", text=list(table.index),
                             textposition="top center", marker={"size": 12, "color": ROLE_COLORS["samples"]},
                             name="families", showlegend=False,
                             hovertemplate="%{text}<br>recall %{x:.3f}<br>precision %{y:.3f}<extra></extra>"))
    fig.update_layout(xaxis={"title": "recall (diversity)", "range": [-0.05, 1.08]},
                      yaxis={"title": "precision (fidelity)", "range": [-0.05, 1.12]},
                      title="Fidelity against diversity")
    return fig


def training_set(training: np.ndarray, held_out: np.ndarray, bounds: Sequence[Sequence[float]], *,
                 title: str | None = None) -> go.Figure:
    """The leaderboard's data: the training points (every family learns from them) and the held-out
    points (every family is scored against them)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=training[:, 0], y=training[:, 1], mode="markers", name=f"training ({len(training):,})",
                             marker={"color": ROLE_COLORS["data"], "size": 4}))
    fig.add_trace(go.Scatter(x=held_out[:, 0], y=held_out[:, 1], mode="markers", name=f"held out ({len(held_out):,})",
                             marker={"color": ROLE_COLORS["truth"], "size": 4, "symbol": "x"}, opacity=0.5))
    return data_plane(fig, bounds[0], bounds[1], title=title)


def image_rows(images: np.ndarray, shape: tuple[int, int], row_names: Sequence[str], per_row: int, *,
               title: str | None = None) -> go.Figure:
    """``per_row`` images of each named set, one set per row, the set's name beside its row."""
    fig = image_mosaic(images, shape, per_row, title=title)
    step = shape[0] + 1
    fig.update_yaxes(showticklabels=True, tickmode="array", ticktext=list(row_names),
                     tickvals=[i * step + (shape[0] - 1) / 2 for i in range(len(row_names))])
    return fig
