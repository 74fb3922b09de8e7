"""Figures of the diffusion page: the noised plane with score arrows, sampler trajectories
(animated in the browser), steps against quality, the schedule, the likelihood check.

Every builder receives numbers computed by ``playground.diffusion``."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.gan import _segments
from playground.figures.primitives import Series, curves
from playground.figures.theme import PALETTE, ROLE_COLORS, line

LEARNED_COLOR = ROLE_COLORS["model"]
EXACT_COLOR = ROLE_COLORS["truth"]
SAMPLER_COLORS = {"ddpm": PALETTE[3], "ddim": PALETTE[0], "euler_maruyama": PALETTE[4], "euler": PALETTE[2],
                  "heun": PALETTE[1]}


def _points(points: np.ndarray, color: str, name: str, opacity: float = 0.6, size: float = 4,
            legend: bool = True) -> dict:
    return {"type": "scattergl" if len(points) > 1000 else "scatter", "x": points[:, 0], "y": points[:, 1],
            "mode": "markers", "name": name, "showlegend": legend,
            "marker": {"color": color, "size": size, "opacity": opacity, "line": {"width": 0}}}


def _arrows(points: np.ndarray, vectors: np.ndarray, factor: float, color: str, name: str, width: float) -> dict:
    xs, ys = _segments(points, points + factor * vectors)
    return {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": name,
            "line": {"color": color, "width": width}, "hoverinfo": "skip"}


def _clip(vectors: np.ndarray, factor: float, spacing: float) -> np.ndarray:
    """Arrows drawn at most 1.5 grid spacings long (near a sharp mode the score is huge)."""
    if factor <= 0:
        return vectors
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True) * factor
    return vectors * np.minimum(1.0, 1.5 * spacing / np.maximum(lengths, 1e-12))


def score_plane(bounds: Sequence[Sequence[float]], *, noised: np.ndarray | None, grid: np.ndarray,
                learned: np.ndarray | None, exact: np.ndarray | None, density: np.ndarray | None = None,
                density_axes: tuple[np.ndarray, np.ndarray] | None = None, t: float = 0.0,
                title: str | None = None) -> go.Figure:
    """The plane at time t: the noised cloud q(x_t), the exact density (mixture targets), and
    the score arrows, learned (vermillion) and exact (black), drawn with one common scale."""
    fig = go.Figure()
    if density is not None and density_axes is not None:
        fig.add_trace(go.Heatmap(x=density_axes[0], y=density_axes[1], z=density, colorscale="Blues",
                                 showscale=False, name="exact q(x_t)", hoverinfo="skip", opacity=0.8))
    if noised is not None:
        fig.add_trace(_points(noised, ROLE_COLORS["data"], "noised data x_t", opacity=0.35, size=3))
    spacing = float(bounds[0][1] - bounds[0][0]) / max(1.0, np.sqrt(len(grid)) - 1)
    reference = exact if exact is not None else learned
    factor = 0.0
    if reference is not None:
        typical = float(np.percentile(np.linalg.norm(reference, axis=1), 90))
        factor = 0.8 * spacing / typical if typical > 0 else 0.0
    if exact is not None:
        fig.add_trace(_arrows(grid, _clip(exact, factor, spacing), factor, EXACT_COLOR, "exact score ∇log q_t", 2.2))
    if learned is not None:
        fig.add_trace(_arrows(grid, _clip(learned, factor, spacing), factor, LEARNED_COLOR, "learned score", 2.2))
    fig.update_layout(title=title or f"t = {t:.3f}", legend={"orientation": "h", "y": -0.08},
                      xaxis={"range": list(bounds[0]), "constrain": "domain"},
                      yaxis={"range": list(bounds[1]), "scaleanchor": "x", "scaleratio": 1})
    if factor > 0:
        fig.add_annotation(text=f"arrows × {factor:.3g} (at most 1.5 grid steps)", xref="paper", yref="paper", x=1, y=1.04,
                           showarrow=False, xanchor="right")
    return fig


def trajectories(runs: Mapping[str, Mapping[str, np.ndarray]], labels: Mapping[str, str],
                 bounds: Sequence[Sequence[float]], reference: np.ndarray, *, n_paths: int = 40,
                 n_frames: int = 24) -> go.Figure:
    """One panel per sampler, all from the same initial noise: the paths of ``n_paths`` points
    and the cloud at each time. ``runs[name]["path"]`` is (steps + 1, n, 2). Plotly animates the
    frames in the browser (Play under the figure): no round trip to the server."""
    names = list(runs)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[labels[n] for n in names],
                        horizontal_spacing=0.03)
    frame_data: list[list[dict]] = [[] for _ in range(n_frames)]
    for col, name in enumerate(names, start=1):
        path = runs[name]["path"]
        color = SAMPLER_COLORS.get(name, PALETTE[col % len(PALETTE)])
        fig.add_trace(go.Scatter(**{k: v for k, v in _points(reference, ROLE_COLORS["data"], "target samples",
                                                              0.25, 3, col == 1).items() if k != "type"}),
                      row=1, col=col)
        tracks = path[:, :n_paths, :]
        gap = np.full((1, 2), np.nan)
        joined = np.concatenate([np.concatenate([tracks[:, i, :], gap]) for i in range(tracks.shape[1])])
        fig.add_trace(go.Scatter(x=joined[:, 0], y=joined[:, 1], mode="lines", name="paths", showlegend=col == 1,
                                 line={"color": "rgba(60,60,60,0.45)", "width": 1}, hoverinfo="skip"), row=1, col=col)
        fig.add_trace(go.Scatter(x=path[-1, :, 0], y=path[-1, :, 1], mode="markers", name="samples",
                                 showlegend=col == 1, marker={"color": color, "size": 4, "opacity": 0.7}),
                      row=1, col=col)
        steps = np.unique(np.linspace(0, len(path) - 1, n_frames).round().astype(int))
        for f in range(n_frames):
            index = steps[min(f, len(steps) - 1)]
            frame_data[f].append({"x": path[index, :, 0], "y": path[index, :, 1]})
        fig.update_xaxes(range=list(bounds[0]), row=1, col=col, showticklabels=False)
        fig.update_yaxes(range=list(bounds[1]), row=1, col=col, showticklabels=col == 1,
                         scaleanchor=f"x{'' if col == 1 else col}", scaleratio=1)
    sample_traces = [3 * i + 2 for i in range(len(names))]  # the "samples" trace of each panel
    frames = [go.Frame(data=[go.Scatter(**d) for d in data], traces=sample_traces, name=str(f))
              for f, data in enumerate(frame_data)]
    fig.frames = frames
    fig.update_layout(
        legend={"orientation": "h", "y": -0.12},
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0, "y": -0.22, "xanchor": "left",
                      "buttons": [
                          {"label": "▶ Animate", "method": "animate",
                           "args": [None, {"frame": {"duration": 120, "redraw": False}, "fromcurrent": False,
                                           "transition": {"duration": 0}}]},
                          {"label": "❚❚", "method": "animate",
                           "args": [[None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}]}]}],
    )
    return fig


def nfe_curves(results: Mapping[str, Mapping[str, np.ndarray]], labels: Mapping[str, str],
               metric: str = "mmd2", *, floor: float | None = None) -> go.Figure:
    """Quality against network evaluations, one curve per sampler (log x)."""
    titles = {"mmd2": "MMD² to fresh target samples (lower is better)", "sliced_w2": "sliced W₂ (lower is better)",
              "precision": "precision (higher is better)", "recall": "recall (higher is better)"}
    logarithmic = metric in ("mmd2", "sliced_w2")
    series = {labels.get(name, name): Series(np.clip(rows[metric], 1e-5, None) if metric == "mmd2" else rows[metric],
                                             x=rows["nfe"], role=SAMPLER_COLORS.get(name, PALETTE[0]),
                                             mode="lines+markers")
              for name, rows in results.items()}
    reference = None if floor is None else {"two honest target samples": max(floor, 1e-5) if metric == "mmd2"
                                            else floor}
    fig = curves(series, x_title="network evaluations (NFE)", y_title=titles.get(metric, metric), log_y=logarithmic,
                 references=reference)
    fig.update_xaxes(type="log")
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


def schedule_figure(curves: Mapping[str, np.ndarray], t: float | None = None) -> go.Figure:
    """s(t) (= sqrt(alpha_bar)), sigma(t) and log10 SNR against t."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(line(curves["t"], curves["scale"], role=PALETTE[0], name="s(t) = √ᾱ_t"), secondary_y=False)
    fig.add_trace(line(curves["t"], curves["sigma"], role=PALETTE[3], name="σ(t)"), secondary_y=False)
    fig.add_trace(line(curves["t"], curves["log10_snr"], role=PALETTE[2], name="log₁₀ SNR", dash="dot"),
                  secondary_y=True)
    if t is not None:
        fig.add_vline(x=t, line_color=ROLE_COLORS["accent"], line_width=2)
    fig.update_layout(xaxis_title="t (0 = data, 1 = noise)", legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="s, σ", secondary_y=False)
    fig.update_yaxes(title_text="log₁₀ SNR", secondary_y=True)
    return fig


def gap_curve(times: np.ndarray, gap: np.ndarray, t: float | None = None) -> go.Figure:
    """E_x~q_t |eps_theta(x, t) - eps*(x, t)|^2 against t: where the network is wrong."""
    fig = curves({"learned vs exact": Series(gap, x=times, role="model")}, x_title="t", y_title="E |ε̂ − ε*|²",
                 log_y=True, current=t)
    fig.update_layout(showlegend=False)
    return fig


def likelihood_scatter(truth: np.ndarray, estimates: Mapping[str, np.ndarray]) -> go.Figure:
    """ODE log-likelihood against the true log density, one series per score (learned / exact)."""
    fig = go.Figure()
    low, high = float(np.min(truth)), float(np.max(truth))
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="equal",
                             line={"color": "grey", "dash": "dot", "width": 1.5}))
    colors = {"exact score": EXACT_COLOR, "learned score": LEARNED_COLOR}
    for name, values in estimates.items():
        fig.add_trace(go.Scatter(x=truth, y=values, mode="markers", name=name,
                                 marker={"color": colors.get(name, PALETTE[0]), "size": 6, "opacity": 0.7}))
    fig.update_layout(xaxis_title="true log density log p(x)", yaxis_title="ODE estimate",
                      legend={"orientation": "h", "y": -0.2})
    return fig


def guidance_curves(sweep: Mapping[str, np.ndarray], current: float | None = None) -> go.Figure:
    """On-mode fraction, precision and recall against the guidance scale w."""
    fig = curves({"on the chosen mode": Series(sweep["on_mode"], role="accent", mode="lines+markers"),
                  "precision (whole target)": Series(sweep["precision"], role="model", mode="lines+markers"),
                  "recall (whole target)": Series(sweep["recall"], role="data", mode="lines+markers")},
                 x=sweep["w"], x_title="guidance scale w", y_title="fraction", current=current,
                 y_axis={"range": [0, 1.05]})
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig
