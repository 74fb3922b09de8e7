"""Figures of the KDE vs GMM page: estimates over the data, held-out likelihood curves,
samples from each fitted model, and the curse of dimensionality. Arrays in, go.Figure out."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves
from playground.figures.theme import PALETTE, ROLE_COLORS, line, scatter

ESTIMATOR_COLORS = {
    "Histogram": PALETTE[5],
    "Gaussian (MLE)": PALETTE[2],
    "KDE": ROLE_COLORS["model"],
    "GMM": PALETTE[4],
    "Truth": ROLE_COLORS["truth"],
}


def estimator_color(name: str) -> str:
    """The fixed colour of an estimator (histogram, Gaussian, KDE, GMM, truth)."""
    return ESTIMATOR_COLORS.get(name, PALETTE[0])


def density_1d(axis: np.ndarray, curves: Mapping[str, np.ndarray], *, histogram: tuple[np.ndarray, np.ndarray] | None = None,
               rug: np.ndarray | None = None, title: str = "",
               bumps: Mapping[str, np.ndarray] | None = None) -> go.Figure:
    """Density curves over a histogram (bars) and a rug of training points; the truth dashed.
    ``bumps`` maps an estimator to the terms that add up to its curve (the KDE's kernels, the GMM's
    weighted components), drawn thin in the estimator's colour under it."""
    fig = go.Figure()
    for name, terms in (bumps or {}).items():
        terms = np.asarray(terms)
        xs = np.concatenate([np.append(axis, np.nan)] * len(terms))
        ys = np.concatenate([np.append(term, np.nan) for term in terms])
        label = f"{name}: its {len(terms)} kernels (each 1/N)" if name == "KDE" else f"{name}: its {len(terms)} components"
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=label, hoverinfo="skip", opacity=0.45,
                                 line={"color": estimator_color(name), "width": 1}))
    if histogram is not None:
        edges, heights = histogram
        fig.add_trace(go.Bar(x=0.5 * (edges[:-1] + edges[1:]), y=heights, width=np.diff(edges), name="Histogram",
                             marker={"color": estimator_color("Histogram"), "line": {"width": 0}}, opacity=0.55))
    for name, values in curves.items():
        fig.add_trace(line(axis, values, role=estimator_color(name), name=name,
                           dash="dash" if name == "Truth" else None))
    if rug is not None and len(rug):
        fig.add_trace(scatter(rug, np.zeros_like(rug), role="data", name="training points", size=7, opacity=0.5,
                              marker={"symbol": "line-ns-open"}))
    fig.update_layout(title=title, xaxis_title="x", yaxis_title="density p(x)", bargap=0,
                      legend={"orientation": "h", "y": -0.18})
    return fig


def density_2d(axes: Sequence[np.ndarray], panels: Mapping[str, np.ndarray | None], points: np.ndarray, *,
               columns: int = 3) -> go.Figure:
    """One heatmap of the density per estimator (log densities in), training points on top."""
    names = list(panels)
    rows = int(np.ceil(len(names) / columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=names, horizontal_spacing=0.05,
                        vertical_spacing=0.1, shared_xaxes=True, shared_yaxes=True)
    for i, name in enumerate(names):
        row, col = i // columns + 1, i % columns + 1
        values = panels[name]
        if values is not None:
            fig.add_trace(go.Heatmap(x=axes[0], y=axes[1], z=np.exp(values), colorscale="Viridis", showscale=False,
                                     name=name, hovertemplate="x=%{x:.2f}<br>y=%{y:.2f}<br>p=%{z:.3g}<extra></extra>"),
                          row=row, col=col)
        fig.add_trace(scatter(points[:, 0], points[:, 1], role="#FFFFFF", name="training points", size=3, opacity=0.6,
                              showlegend=False), row=row, col=col)
    fig.update_layout(height=300 * rows, showlegend=False)
    return fig


def marginals_2d(axes: Sequence[np.ndarray], marginals: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 points: np.ndarray) -> go.Figure:
    """p(x1) and p(x2) of each estimator (integrated from its grid) over histograms of the data."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["marginal p(x₁)", "marginal p(x₂)"])
    for axis_index in range(2):
        fig.add_trace(go.Histogram(x=points[:, axis_index], histnorm="probability density", nbinsx=60,
                                   marker={"color": ROLE_COLORS["data"]}, opacity=0.3, name="data",
                                   showlegend=axis_index == 0), row=1, col=axis_index + 1)
        for name, pair in marginals.items():
            fig.add_trace(line(axes[axis_index], pair[axis_index], role=estimator_color(name), name=name,
                               dash="dash" if name == "Truth" else None, showlegend=axis_index == 0),
                          row=1, col=axis_index + 1)
    fig.update_layout(barmode="overlay", legend={"orientation": "h", "y": -0.2})
    return fig


def likelihood_curve(values: np.ndarray, test: np.ndarray, train: np.ndarray, *, current: float, xlabel: str,
                     marks: Mapping[str, float] | None = None, log_x: bool = True, bic: np.ndarray | None = None,
                     title: str = "") -> go.Figure:
    """Mean train and test log-likelihood against a complexity knob (h or K), the current value marked."""
    fig = make_subplots(specs=[[{"secondary_y": True}]]) if bic is not None else go.Figure()
    curves({"train": Series(train, role=ROLE_COLORS["data"], dash="dot", mode="lines+markers"),
            "test (held out)": Series(test, role=ROLE_COLORS["model"], mode="lines+markers")}, x=values, fig=fig)
    if bic is not None:
        curves({"BIC (right axis)": Series(bic, role=PALETTE[4], dash="dash")}, x=values, fig=fig, secondary_y=True,
               y_title="BIC (lower is better)", y_axis={"showgrid": False})
    finite = np.isfinite(test)
    if finite.any():
        best = int(np.nanargmax(np.where(finite, test, np.nan)))
        curves({"best test": Series([test[best]], x=[values[best]], role=ROLE_COLORS["model"], mode="markers",
                                    marker={"size": 14, "opacity": 0.7, "symbol": "star"})}, fig=fig)
    fig.add_vline(x=current, line={"color": ROLE_COLORS["accent"], "width": 3},
                  annotation_text=f"current {current:.3g}", annotation_position="top left")
    for i, (name, value) in enumerate((marks or {}).items()):
        fig.add_vline(x=value, line={"color": PALETTE[(i + 1) % len(PALETTE)], "width": 1.5, "dash": "dot"},
                      annotation_text=name, annotation_position="bottom right" if i % 2 else "top right")
    low = np.nanmin(np.where(np.isfinite(test), test, np.nan)) if finite.any() else -1.0
    high = np.nanmax(np.where(np.isfinite(train), train, np.nan)) if np.isfinite(train).any() else 0.0
    if finite.any():  # a held-out curve collapsing to -10,000 would flatten everything else: clip, and say so
        best_test = float(np.nanmax(np.where(finite, test, np.nan)))
        floor = best_test - 2.5 * max(high - best_test, 0.5)
        if low < floor:
            worst = int(np.nanargmin(np.where(finite, test, np.nan)))
            fig.add_annotation(text=f"held out falls to {test[worst]:,.0f} at {xlabel.split()[0]} = {values[worst]:.3g} "
                                    "(below the axis)", xref="paper", yref="paper", x=0.0, y=0.02, xanchor="left",
                               showarrow=False, font={"color": ROLE_COLORS["model"]})
            low = floor
    fig.update_xaxes(title_text=xlabel, type="log" if log_x else "linear")
    y_range = [low - 0.1 * abs(high - low) - 0.05, high + 0.1 * abs(high - low) + 0.05]
    if bic is not None:
        fig.update_yaxes(title_text="mean log-likelihood per point", range=y_range, secondary_y=False)
    else:
        fig.update_yaxes(title_text="mean log-likelihood per point", range=y_range)
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.25})
    return fig


def samples_1d(heights: Mapping[str, np.ndarray], bins: np.ndarray) -> go.Figure:
    """The data's histogram beside the histogram of samples drawn from each fitted model: ``heights``
    maps "Data" and each model to its density histogram on ``bins`` (``kde_vs_gmm.density_histograms``)."""
    names = list(heights)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True, horizontal_spacing=0.02)
    for i, name in enumerate(names):
        color = ROLE_COLORS["data"] if name == "Data" else estimator_color(name)
        fig.add_trace(go.Bar(x=0.5 * (bins[:-1] + bins[1:]), y=heights[name], width=np.diff(bins), name=name,
                             marker={"color": color, "line": {"width": 0}}), row=1, col=i + 1)
    fig.update_layout(showlegend=False, bargap=0, height=320)
    return fig


def samples_2d(data: np.ndarray, samples: Mapping[str, np.ndarray], bounds: Sequence[tuple[float, float]]) -> go.Figure:
    """The data beside samples drawn from each fitted model, same axes."""
    names = ["Data"] + list(samples)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True, horizontal_spacing=0.02)
    for i, name in enumerate(names):
        values = data if name == "Data" else samples[name]
        role = "data" if name == "Data" else estimator_color(name)
        fig.add_trace(scatter(values[:, 0], values[:, 1], role=role, name=name, size=3, opacity=0.6), row=1, col=i + 1)
        fig.update_xaxes(range=list(bounds[0]), row=1, col=i + 1)
    fig.update_yaxes(range=list(bounds[1]))
    fig.update_layout(showlegend=False, height=340)
    return fig


def curse_of_dimensionality_figure(result: Mapping[str, np.ndarray], n_samples: int) -> go.Figure:
    """Left: % of empty histogram cells against d (the cell count is in the hover). Right: KDE vs true
    held-out log-likelihood per dimension."""
    dims = result["dim"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=[f"Empty histogram cells, N = {n_samples:,}",
                                        "Held-out log-likelihood per dimension"])
    hover = {"customdata": result["cells"],
             "hovertemplate": "d=%{x}: %{y:.1f}% of %{customdata:,.0f} cells empty<extra></extra>"}
    curves({"empty cells (%)": Series(100 * result["empty_fraction"], role=PALETTE[5], mode="lines+markers",
                                      trace=hover)}, x=dims, fig=fig, row=1, col=1,
           y_title="% of the bins^d cells with no point", y_axis={"range": [0, 105]})
    curves({name: Series(result[key] / dims, role=role, dash=dash, mode="lines+markers")
            for key, name, role, dash in (("truth", "truth N(0, I)", ROLE_COLORS["truth"], "dash"),
                                          ("kde_best", "KDE, best h", ROLE_COLORS["model"], None),
                                          ("kde_scott", "KDE, Scott's h", PALETTE[1], "dot"))},
           x=dims, fig=fig, row=1, col=2, y_title="mean log-likelihood / d")
    fig.update_xaxes(title_text="dimension d", dtick=1)
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig
