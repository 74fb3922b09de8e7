"""Figures of the energy-based models page: the model's density with data and negatives, the
Langevin chains (animated in the browser), and the training curves. Numbers in, figures out."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from playground.figures.primitives import Series, curves
from playground.figures.theme import ROLE_COLORS


def _cloud(points: np.ndarray, role: str, name: str, size: float = 4, opacity: float = 0.6) -> go.Scatter:
    return go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                      marker={"color": ROLE_COLORS[role], "size": size, "opacity": opacity, "line": {"width": 0}})


def energy_plane(axes: tuple[np.ndarray, np.ndarray], density: np.ndarray, bounds: Sequence[Sequence[float]], *,
                 data: np.ndarray | None, negatives: np.ndarray | None, title: str,
                 negatives_label: str = "Langevin negatives: push E up") -> go.Figure:
    """p_theta = exp(-E) / Z on the grid (heatmap), the data ("pull E down", blue) and the
    negative samples ("push E up", orange)."""
    fig = go.Figure(go.Heatmap(x=axes[0], y=axes[1], z=density, colorscale="Viridis", name="p_θ",
                               colorbar={"title": "p_θ(x)", "thickness": 12}, hovertemplate="p = %{z:.3f}<extra></extra>"))
    if data is not None:
        fig.add_trace(_cloud(data, "data", "data: pull E down", 4, 0.55))
    if negatives is not None:
        fig.add_trace(_cloud(negatives, "samples", negatives_label, 5, 0.85))
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.08},
                      xaxis={"range": list(bounds[0]), "constrain": "domain"},
                      yaxis={"range": list(bounds[1]), "scaleanchor": "x", "scaleratio": 1})
    return fig


def chains_figure(axes: tuple[np.ndarray, np.ndarray], density: np.ndarray, bounds: Sequence[Sequence[float]],
                  path: np.ndarray, n_frames: int = 30) -> go.Figure:
    """A few Langevin chains on the current model: their tracks, and frames the browser animates."""
    fig = go.Figure(go.Contour(x=axes[0], y=axes[1], z=density, colorscale="Greys", showscale=False,
                               contours={"coloring": "lines"}, name="p_θ", hoverinfo="skip"))
    gap = np.full((1, 2), np.nan)
    joined = np.concatenate([np.concatenate([path[:, i, :], gap]) for i in range(path.shape[1])])
    fig.add_trace(go.Scatter(x=joined[:, 0], y=joined[:, 1], mode="lines", name="chain tracks",
                             line={"color": "rgba(213, 94, 0, 0.45)", "width": 1}, hoverinfo="skip"))
    fig.add_trace(_cloud(path[-1], "samples", "chains now", 7, 0.9))
    steps = np.unique(np.linspace(0, len(path) - 1, n_frames).round().astype(int))
    fig.frames = [go.Frame(data=[go.Scatter(x=path[i, :, 0], y=path[i, :, 1])], traces=[2], name=str(i))
                  for i in steps]
    fig.update_layout(
        title="Langevin chains on the current energy", legend={"orientation": "h", "y": -0.1},
        xaxis={"range": list(bounds[0]), "constrain": "domain"},
        yaxis={"range": list(bounds[1]), "scaleanchor": "x", "scaleratio": 1},
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0, "y": -0.2, "xanchor": "left", "buttons": [
            {"label": "▶ Animate", "method": "animate",
             "args": [None, {"frame": {"duration": 100, "redraw": False}, "transition": {"duration": 0}}]},
            {"label": "❚❚", "method": "animate",
             "args": [[None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}]}]}])
    return fig


def likelihood_curves(history: Mapping[str, np.ndarray], truth: float | None) -> go.Figure:
    """Held-out log-likelihood (exact, through the grid's Z) against the truth."""
    return curves({"held-out log-likelihood": Series(history["held_out_log_likelihood"], x=history["iteration"],
                                                     role="model", mode="lines+markers")},
                  x_title="iteration", y_title="mean log p_θ(x), held out",
                  references=None if truth is None else {"true log-likelihood": truth},
                  empty_text="no evaluation yet")


def training_curves(history: Mapping[str, np.ndarray]) -> go.Figure:
    """The energies of data and negatives, and how far the chains are from the model."""
    series = {}
    if "energy_data" in history:
        series["mean E(data)"] = Series(history["energy_data"], x=history["step"], role="data")
        series["mean E(negatives)"] = Series(history["energy_negatives"], x=history["step"], role="samples")
    if "chains_vs_model_sw2" in history:
        series["sliced W₂(chains, p_θ)"] = Series(history["chains_vs_model_sw2"], x=history["eval_step"],
                                                  role="accent", mode="lines+markers")
    return curves(series, x_title="iteration", y_title="energy / distance", empty_text="no step yet")
