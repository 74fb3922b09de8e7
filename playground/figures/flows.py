"""Figures of the flow page: the 1D change of variables, a 1D fit, the layer-by-layer
warping of a grid and of samples, the density heatmap and per-layer log-determinants."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves
from playground.figures.theme import ROLE_COLORS, line, scatter

POSITION_COLORSCALE = "Twilight"  # cyclic: the angle around the centre wraps without a seam


def position_colors(points: np.ndarray) -> np.ndarray:
    """A colour value per point from its angle around the cloud's centre (so transport is visible)."""
    centred = points - np.median(points, axis=0)
    return np.arctan2(centred[:, 1], centred[:, 0])


def change_of_variables_figure(x: np.ndarray, z: np.ndarray, base_density: np.ndarray, derivative: np.ndarray,
                               density: np.ndarray, probe_x: float, *, z_axis: np.ndarray, q_axis: np.ndarray,
                               probe: dict[str, float]) -> go.Figure:
    """Three linked panels: q(z) on the z axis, the map z = F(x), and p(x) = q(F(x)) |F'(x)| below.

    ``z_axis``, ``q_axis``: the base density N(0, 1) drawn on the left; ``probe``: z, base_density and
    density at ``probe_x`` (``playground.flows.change_of_variables_1d`` gives all of them)."""
    fig = make_subplots(rows=2, cols=2, column_widths=[0.22, 0.78], row_heights=[0.55, 0.45],
                        shared_yaxes=True, horizontal_spacing=0.03, vertical_spacing=0.16,
                        subplot_titles=("base q(z)", "the map z = F(x)", "", "induced density p(x)"))
    fig.add_trace(go.Scatter(x=q_axis, y=z_axis, mode="lines", fill="tozerox", name="q(z) = N(0, 1)",
                             line={"color": ROLE_COLORS["latent"], "width": 2}), row=1, col=1)
    fig.add_trace(line(x, z, role="model", name="z = F(x)"), row=1, col=2)
    fig.add_trace(go.Scatter(x=x, y=density, mode="lines", fill="tozeroy", name="p(x) = q(F(x))·|F′(x)|",
                             line={"color": ROLE_COLORS["samples"], "width": 2}), row=2, col=2)
    fig.add_trace(line(x, derivative, role="accent", name="|F′(x)| (stretch factor)", dash="dot"), row=2, col=2)

    probe_z, probe_q, probe_p = probe["z"], probe["base_density"], probe["density"]
    guide = {"color": ROLE_COLORS["truth"], "width": 1, "dash": "dash"}
    fig.add_trace(go.Scatter(x=[probe_x, probe_x, x[0]], y=[-3.5, probe_z, probe_z], mode="lines", line=guide,
                             showlegend=False, hoverinfo="skip"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0, probe_q], y=[probe_z, probe_z], mode="lines+markers", line=guide,
                             showlegend=False, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[probe_x, probe_x], y=[0, probe_p], mode="lines+markers", line=guide,
                             name="probe x₀", hoverinfo="skip"), row=2, col=2)
    fig.update_yaxes(range=[-3.5, 3.5], title_text="z", row=1, col=1)
    fig.update_xaxes(autorange="reversed", showticklabels=False, row=1, col=1)
    fig.update_xaxes(matches="x4", row=1, col=2)
    fig.update_xaxes(title_text="x", row=2, col=2)
    # keep p(x) readable: the stretch-factor curve may leave the panel where it is very steep
    top = max(float(np.max(density)), min(float(np.max(derivative)), 3 * float(np.max(density))), 1e-3)
    fig.update_yaxes(range=[0, 1.15 * top], row=2, col=2)
    fig.update_layout(legend={"orientation": "h", "y": -0.12}, height=560)
    return fig


def flow_1d_fit_figure(x: np.ndarray, density: np.ndarray, z: np.ndarray, data: np.ndarray,
                       true_density: np.ndarray | None = None) -> go.Figure:
    """Left: data histogram, model density (and the truth when known). Right: the learned map F."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.08,
                        subplot_titles=("density: data vs flow", "learned map z = F(x)"))
    fig.add_trace(go.Histogram(x=data.ravel(), histnorm="probability density", nbinsx=60, name="data",
                               marker={"color": ROLE_COLORS["data"]}, opacity=0.35), row=1, col=1)
    if true_density is not None:
        fig.add_trace(line(x, true_density, role="truth", name="true p(x)", dash="dash"), row=1, col=1)
    fig.add_trace(line(x, density, role="model", name="flow p(x)"), row=1, col=1)
    fig.add_trace(line(x, z, role="model", name="F(x)", showlegend=False), row=1, col=2)
    fig.update_xaxes(range=[x[0], x[-1]], title_text="x")
    fig.update_yaxes(title_text="z", row=1, col=2)
    fig.update_layout(legend={"orientation": "h", "y": -0.2}, bargap=0.02)
    return fig


def nll_curve_figure(nll: np.ndarray, reference: float | None = None, reference_label: str = "", *,
                     running: tuple[int, np.ndarray] | None = None) -> go.Figure:
    """Training curve: NLL per step (faint) and its running mean ``running = (window, values)``
    (``playground.smoothing.running_mean``), with an optional reference level."""
    steps = np.arange(1, len(nll) + 1)
    series = {}
    if len(nll):
        series["minibatch NLL"] = Series(nll, x=steps, opacity=0.3, width=1)
        if running is not None:
            window, smooth = running
            series[f"running mean ({window})"] = Series(smooth, x=steps[window - 1:])
    fig = curves(series, x_title="step", y_title="NLL (nats)", empty_text="press Step or ▶ Play to train",
                 references=None if reference is None else {reference_label: reference})
    fig.update_layout(height=320, legend={"orientation": "h", "y": 1.15})
    return fig


def _with_gaps(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lines, points, 2) -> x, y arrays with NaN between lines (one trace draws the whole grid)."""
    gap = np.full((grid.shape[0], 1, 2), np.nan, dtype=grid.dtype)
    flat = np.concatenate([grid, gap], axis=1).reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


BASE_BOX = 3.5  # the base N(0, I) is always shown on at least [-3.5, 3.5]^2


def _robust_range(arrays: Sequence[np.ndarray], pad: float = 0.08,
                  at_least: float | None = None) -> tuple[list[float], list[float]]:
    """Axis ranges that hold (almost) every point of the given stages (the grids' far-flung lines are
    left to run off the view), covering [-at_least, at_least]^2 when given."""
    stacked = np.concatenate([a.reshape(-1, 2) for a in arrays])
    stacked = stacked[np.isfinite(stacked).all(1)]
    low, high = np.percentile(stacked, 0.5, axis=0), np.percentile(stacked, 99.5, axis=0)
    span = np.maximum(high - low, 1e-6)
    low, high = low - pad * span, high + pad * span
    if at_least is not None:
        low, high = np.minimum(low, -at_least), np.maximum(high, at_least)
    return [float(low[0]), float(high[0])], [float(low[1]), float(high[1])]


def warping_figure(point_stages: Sequence[np.ndarray], grid_stages: Sequence[np.ndarray], colors: np.ndarray,
                   stage_labels: Sequence[str], active: int, base_stage: int | None = None) -> go.Figure:
    """Points and a grid after ``active`` layers, with a ▶ button that animates through every
    stage in the browser (frames hold only positions and the title). ``base_stage``: the index of
    the stage in the base space (z), shown at the base distribution's scale."""
    active = int(np.clip(active, 0, len(point_stages) - 1))
    # Frame the start, the end and the shown stage (their points: a grid line flung far out would
    # shrink the picture to a blob); intermediate stages may spill over while animating.
    framed = {0, len(point_stages) - 1, active}
    x_range, y_range = _robust_range([point_stages[i] for i in framed],
                                     at_least=BASE_BOX if base_stage is not None and base_stage in framed else None)

    def stage_traces(i: int) -> list[go.Scatter]:
        grid_x, grid_y = _with_gaps(grid_stages[i])
        points = point_stages[i]
        return [go.Scatter(x=grid_x, y=grid_y), go.Scatter(x=points[:, 0], y=points[:, 1])]

    grid_trace, point_trace = stage_traces(active)
    grid_trace.update(mode="lines", name="grid", hoverinfo="skip",
                      line={"color": "rgba(80, 80, 80, 0.55)", "width": 1})
    point_trace.update(mode="markers", name="points (colour = starting position)",
                       marker={"color": colors, "colorscale": POSITION_COLORSCALE, "size": 5, "opacity": 0.85,
                               "cmin": -np.pi, "cmax": np.pi})
    frames = [go.Frame(data=stage_traces(i), traces=[0, 1], name=str(i), layout={"title": {"text": label}})
              for i, label in enumerate(stage_labels)]
    fig = go.Figure(data=[grid_trace, point_trace], frames=frames)
    animation = {"frame": {"duration": 900, "redraw": False}, "transition": {"duration": 600, "easing": "cubic-in-out"},
                 "fromcurrent": False, "mode": "immediate"}
    stop = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}
    fig.update_layout(
        title={"text": stage_labels[active]},
        xaxis={"range": x_range, "zeroline": False, "constrain": "domain"},
        yaxis={"range": y_range, "scaleanchor": "x", "scaleratio": 1, "zeroline": False, "constrain": "domain"},
        showlegend=False,
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.01, "y": 0.99, "xanchor": "left",
                      "yanchor": "top", "showactive": False, "bgcolor": "rgba(255, 255, 255, 0.85)",
                      "buttons": [{"label": "▶ animate layers", "method": "animate", "args": [None, animation]},
                                  {"label": "■ stop", "method": "animate", "args": [[None], stop]}]}],
        height=600,
    )
    return fig


def density_heatmap_figure(axes: tuple[np.ndarray, np.ndarray], density: np.ndarray,
                           data: np.ndarray | None = None) -> go.Figure:
    """The model density p(x) by change of variables, with the training data on top."""
    fig = go.Figure(go.Heatmap(x=axes[0], y=axes[1], z=density, colorscale="Viridis", name="p(x)",
                               colorbar={"title": {"text": "p(x)"}}))
    if data is not None:
        fig.add_trace(scatter(data[:, 0], data[:, 1], role="#FFFFFF", name="data", size=3, opacity=0.45))
    # constrain="domain": equal scales shrink the plot to the grid instead of widening an axis past it
    fig.update_layout(xaxis={"range": [axes[0][0], axes[0][-1]], "title": "x₁", "constrain": "domain"},
                      yaxis={"range": [axes[1][0], axes[1][-1]], "title": "x₂", "scaleanchor": "x", "scaleratio": 1,
                             "constrain": "domain"},
                      showlegend=False, height=600)
    return fig


def log_det_figure(labels: Sequence[str], values: np.ndarray) -> go.Figure:
    """Mean log|det J_l| of each layer (normalizing direction) and their sum."""
    layer_numbers = np.arange(1, len(labels) + 1)
    colors = [ROLE_COLORS["latent"] if label == "scale" else ROLE_COLORS["model"] for label in labels]
    fig = go.Figure(go.Bar(x=layer_numbers, y=values, marker={"color": colors}, hovertext=list(labels),
                           text=[f"{v:+.2f}" for v in values], textposition="outside"))
    fig.add_hline(y=0, line={"color": ROLE_COLORS["truth"], "width": 1})
    kinds = " · ".join(dict.fromkeys(label.split(" (")[0] for label in labels if label != "scale"))
    # "NICE (keeps x₁)" -> tick "2: keeps x₁": which coordinate each coupling passes through unchanged
    ticks = [f"{n}: {label.split(' (')[1].rstrip(')')}" if " (" in label else f"{n}: {label}"
             for n, label in zip(layer_numbers, labels)]
    fig.update_layout(title=f"mean log|det J_l| per layer, sum = {float(np.sum(values)):+.3f}",
                      xaxis={"title": f"layer l (1 = scale, then {kinds})", "tickmode": "array",
                             "tickvals": layer_numbers, "ticktext": ticks},
                      yaxis_title="log|det J_l|", height=400, showlegend=False)
    span = float(np.max(np.abs(values))) if len(values) else 1.0
    fig.update_yaxes(range=[-1.35 * max(span, 0.05), 1.35 * max(span, 0.05)])
    return fig
