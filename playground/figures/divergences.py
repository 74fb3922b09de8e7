"""Figures of the forward vs reverse KL page: arrays in, ``go.Figure`` out."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves, ellipse
from playground.figures.theme import ROLE_COLORS, line

# One colour per fitting objective, the same in every figure of the page.
FIT_COLORS = {
    "forward_kl": "#0072B2",  # blue
    "reverse_kl": "#D55E00",  # vermillion
    "js": "#009E73",  # green
    "tv": "#CC79A7",  # purple
    "w1": "#E69F00",  # orange
    "mmd": "#56B4E9",  # sky blue
}
FIT_LABELS = {
    "forward_kl": "forward KL(p‖q)",
    "reverse_kl": "reverse KL(q‖p)",
    "js": "Jensen–Shannon",
    "tv": "total variation",
    "w1": "Wasserstein-1",
    "mmd": "MMD",
}
SHORT_LABELS = {"forward_kl": "forward", "reverse_kl": "reverse", "js": "JS", "tv": "TV", "w1": "W1", "mmd": "MMD"}
TARGET_FILL = "rgba(0, 0, 0, 0.12)"
OPTIMUM_COLOR = ROLE_COLORS["accent"]


def fit_race_1d(x: np.ndarray, target_density: np.ndarray, fit_densities: Mapping[str, np.ndarray], *,
                optimum_density: np.ndarray | None = None,
                local_optima: Sequence[np.ndarray] = ()) -> go.Figure:
    """p (shaded), each fitted q (one colour per objective), the forward-KL optimum and reverse-KL local optima."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=target_density, mode="lines", name="target p", fill="tozeroy",
                             fillcolor=TARGET_FILL, line={"color": ROLE_COLORS["truth"], "width": 2}))
    if optimum_density is not None:
        fig.add_trace(line(x, optimum_density, role=OPTIMUM_COLOR, name="forward-KL optimum (moment matching)",
                           dash="dash"))
    for index, density in enumerate(local_optima):
        fig.add_trace(line(x, density, role=OPTIMUM_COLOR, dash="dot", name="reverse-KL local optima",
                           legendgroup="local", showlegend=index == 0, line={"width": 1.5}))
    for name, density in fit_densities.items():
        fig.add_trace(line(x, density, role=FIT_COLORS[name], name=f"q fitted by {FIT_LABELS[name]}",
                           line={"width": 3}))
    fig.update_layout(xaxis_title="x", yaxis_title="density", legend={"orientation": "h", "y": -0.18},
                      hovermode="x unified")
    return fig


def fit_race_2d(axes: Sequence[np.ndarray], target_density: np.ndarray, fits: Mapping[str, Mapping[str, np.ndarray]],
                *, paths: Mapping[str, np.ndarray] | None = None, optimum: tuple[np.ndarray, np.ndarray] | None = None,
                local_optima: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> go.Figure:
    """Contours of p; each fitted q drawn as its components' 2-sigma ellipses (width ~ weight), with the path
    of its means; the forward-KL optimum (dashed ellipse) and reverse-KL local optima (stars)."""
    fig = go.Figure()
    fig.add_trace(go.Contour(x=axes[0], y=axes[1], z=target_density, colorscale="Greys", showscale=False,
                             contours={"coloring": "fill", "showlines": False}, ncontours=14, opacity=0.7,
                             name="target p", hoverinfo="skip"))
    if optimum is not None:
        ring = ellipse(*optimum, 2.0, n_points=80)
        fig.add_trace(line(ring[:, 0], ring[:, 1], role=OPTIMUM_COLOR, dash="dash",
                           name="forward-KL optimum (moment matching)"))
    if local_optima:
        centres = np.array([mean for mean, _ in local_optima])
        fig.add_trace(go.Scatter(x=centres[:, 0], y=centres[:, 1], mode="markers", name="reverse-KL local optima",
                                 marker={"symbol": "star", "size": 16, "color": OPTIMUM_COLOR,
                                         "line": {"color": "white", "width": 1}}))
    for name, fit in fits.items():
        color = FIT_COLORS[name]
        if paths is not None and name in paths and len(paths[name]) > 1:
            path = paths[name]
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", line={"color": color, "width": 1.5,
                                     "dash": "dot"}, name=f"path ({FIT_LABELS[name]})", showlegend=False,
                                     hoverinfo="skip"))
        for k, (weight, mean, cov) in enumerate(zip(fit["weights"], fit["means"], fit["covariances"])):
            ring = ellipse(mean, cov, 2.0, n_points=80)
            fig.add_trace(line(ring[:, 0], ring[:, 1], role=color, name=f"q fitted by {FIT_LABELS[name]}",
                               legendgroup=name, showlegend=k == 0,
                               line={"width": 1.5 + 3 * float(weight)}))
        fig.add_trace(go.Scatter(x=fit["means"][:, 0], y=fit["means"][:, 1], mode="markers", showlegend=False,
                                 legendgroup=name, marker={"color": color, "size": 9}, name=FIT_LABELS[name]))
    fig.update_layout(xaxis_title="x₁", yaxis_title="x₂", legend={"orientation": "h", "y": -0.15})
    # constrain="domain": equal scales shrink the plot to the heatmap instead of widening an axis past it
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_xaxes(range=[axes[0][0], axes[0][-1]], constrain="domain")
    fig.update_yaxes(range=[axes[1][0], axes[1][-1]])
    return fig


def kl_curves(iterations: np.ndarray, histories: Mapping[str, Mapping[str, np.ndarray]]) -> go.Figure:
    """Forward KL (solid) and reverse KL (dashed) of each fit along the iterations, log scale."""
    series = {}
    for name, values in histories.items():
        color = FIT_COLORS[name]
        series[f"KL(p‖q) · {SHORT_LABELS[name]} fit"] = Series(values["forward_kl"], role=color)
        series[f"KL(q‖p) · {SHORT_LABELS[name]} fit"] = Series(values["reverse_kl"], role=color, dash="dash")
    fig = curves(series, x=iterations, x_title="iteration", y_title="KL (nats)", log_y=True)
    fig.update_layout(height=380, legend={"orientation": "v", "x": 1.02, "y": 1.0})
    return fig


def kl_landscape(mus: np.ndarray, sigmas: np.ndarray, landscapes: Mapping[str, np.ndarray], *,
                 paths: Mapping[str, np.ndarray] | None = None, optimum: tuple[float, float] | None = None,
                 local_optima: Sequence[tuple[float, float]] = ()) -> go.Figure:
    """KL over the (mu, sigma) plane of single Gaussians q, one panel per direction, with the fits' paths."""
    names = list(landscapes)
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"{FIT_LABELS[n]} over (μ, σ)" for n in names])
    for column, name in enumerate(names, start=1):
        values = np.log10(np.maximum(landscapes[name], 1e-3))
        fig.add_trace(go.Contour(x=mus, y=sigmas, z=values, colorscale="Viridis", ncontours=22, showscale=False,
                                 contours={"showlines": False}, name=FIT_LABELS[name],
                                 hovertemplate="μ=%{x:.2f}, σ=%{y:.2f}<br>log₁₀ KL=%{z:.2f}<extra></extra>"),
                      row=1, col=column)
        if optimum is not None:
            fig.add_trace(go.Scatter(x=[optimum[0]], y=[optimum[1]], mode="markers", name="forward-KL optimum",
                                     showlegend=column == 1, legendgroup="optimum",
                                     marker={"symbol": "x", "size": 14, "color": "white",
                                             "line": {"color": "black", "width": 1}}), row=1, col=column)
        if local_optima:
            centres = np.array(local_optima)
            fig.add_trace(go.Scatter(x=centres[:, 0], y=centres[:, 1], mode="markers", name="reverse-KL local optima",
                                     showlegend=column == 1, legendgroup="local",
                                     marker={"symbol": "star", "size": 15, "color": OPTIMUM_COLOR,
                                             "line": {"color": "white", "width": 1}}), row=1, col=column)
        for fit_name, path in (paths or {}).items():
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name=FIT_LABELS[fit_name],
                                     showlegend=False, line={"color": FIT_COLORS[fit_name], "width": 2.5},
                                     marker={"size": [0] * (len(path) - 1) + [10], "color": FIT_COLORS[fit_name]}),
                          row=1, col=column)
    fig.update_xaxes(title_text="μ (mean of q)", range=[mus[0], mus[-1]])
    fig.update_yaxes(title_text="σ (std of q)", range=[sigmas[0], sigmas[-1]], row=1, col=1)
    fig.update_layout(legend={"orientation": "h", "y": -0.22}, height=420)
    return fig


def discrete_pair(p: np.ndarray, q: np.ndarray, labels: Sequence[str] | None = None) -> go.Figure:
    """Bars of two discrete distributions P and Q side by side."""
    labels = list(labels) if labels is not None else [str(i) for i in range(len(p))]
    fig = go.Figure([go.Bar(x=labels, y=p, name="P", marker_color=ROLE_COLORS["data"]),
                     go.Bar(x=labels, y=q, name="Q", marker_color=ROLE_COLORS["model"])])
    fig.update_layout(barmode="group", xaxis_title="x", yaxis_title="probability", height=320,
                      legend={"orientation": "h", "y": 1.12})
    return fig


def gaussian_pair_1d(x: np.ndarray, density_1: np.ndarray, density_2: np.ndarray) -> go.Figure:
    """Two 1D Gaussian densities N1 and N2."""
    fig = go.Figure([line(x, density_1, role="data", name="N₁"), line(x, density_2, role="model", name="N₂")])
    fig.update_layout(xaxis_title="x", yaxis_title="density", height=320, legend={"orientation": "h", "y": 1.12})
    return fig


def gaussian_pair_2d(gaussians: Sequence[tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    """1- and 2-sigma ellipses of two 2D Gaussians N1 and N2."""
    fig = go.Figure()
    for (mean, cov), role, name in zip(gaussians, ("data", "model"), ("N₁", "N₂")):
        for radius, dash in ((1.0, None), (2.0, "dot")):
            ring = ellipse(mean, cov, radius, n_points=80)
            fig.add_trace(line(ring[:, 0], ring[:, 1], role=role, dash=dash, name=f"{name} ({radius:.0f}σ)"))
    fig.update_layout(xaxis_title="x₁", yaxis_title="x₂", height=360, legend={"orientation": "h", "y": 1.12})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig
