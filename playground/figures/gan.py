"""Figures of GAN training: the plane (critic heatmap, samples, generator arrows, warped
latent grid) and the loss / quality curves. Arrays in, ``go.Figure`` out."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves, data_plane, mark_current
from playground.figures.theme import PALETTE, ROLE_COLORS, WEBGL_THRESHOLD

# Purple (fake) -> white -> green (real), as in GAN Lab; readable with the common colour-vision deficiencies.
CRITIC_COLORSCALE = [[0.0, "#762a83"], [0.25, "#c2a5cf"], [0.5, "#f7f7f7"], [0.75, "#a6dba0"], [1.0, "#1b7837"]]
ARROW_COLOR = "rgba(20, 20, 20, 0.65)"  # thin and translucent: the points under the arrows stay visible
MANIFOLD_COLOR = "rgba(90, 90, 90, 0.55)"
ARROW_FRACTION = 0.08  # the 90th-percentile arrow spans this fraction of the plot's width


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays drawing one line segment per row, separated by NaN gaps."""
    n = len(starts)
    xs = np.full(3 * n, np.nan)
    ys = np.full(3 * n, np.nan)
    xs[0::3], xs[1::3] = starts[:, 0], ends[:, 0]
    ys[0::3], ys[1::3] = starts[:, 1], ends[:, 1]
    return xs, ys


def arrow_scale(vectors: np.ndarray, width: float) -> float:
    """Factor that makes the 90th-percentile arrow ``ARROW_FRACTION`` of the plot width long."""
    lengths = np.linalg.norm(vectors, axis=1)
    typical = float(np.percentile(lengths, 90)) if len(lengths) else 0.0
    return ARROW_FRACTION * width / typical if typical > 0 else 0.0


def clip_arrows(vectors: np.ndarray) -> np.ndarray:
    """Arrows longer than the 90th percentile drawn at that length (directions kept): a few huge
    gradients would otherwise cover the points as long black wedges."""
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not len(lengths):
        return vectors
    cap = float(np.percentile(lengths, 90))
    return vectors * np.minimum(1.0, cap / np.maximum(lengths, 1e-300))


def _points(points: np.ndarray, role: str, name: str, opacity: float) -> dict[str, Any]:
    """A marker trace as a plain dict (WebGL above the theme's threshold)."""
    return {"type": "scattergl" if len(points) > WEBGL_THRESHOLD else "scatter", "x": points[:, 0],
            "y": points[:, 1], "mode": "markers", "name": name,
            "marker": {"color": ROLE_COLORS[role], "size": 4, "opacity": opacity, "line": {"width": 0}}}


def manifold_trace(mesh: np.ndarray) -> dict[str, Any]:
    """The warped latent grid: rows and columns of G(latent grid) as one line trace."""
    rows = [mesh[i] for i in range(mesh.shape[0])]
    columns = [mesh[:, j] for j in range(mesh.shape[1])]
    gap = np.full((1, 2), np.nan)
    path = np.concatenate([np.concatenate([part, gap]) for part in rows + columns])
    return {"type": "scatter", "x": path[:, 0], "y": path[:, 1], "mode": "lines", "name": "G(latent grid)",
            "line": {"color": MANIFOLD_COLOR, "width": 1.2}, "hoverinfo": "skip"}


def gan_plane(frame: Mapping[str, Any], bounds: Sequence[Sequence[float]], *, show_critic: bool = True,
              show_real: bool = True, show_fake: bool = True, show_arrows: bool = True,
              show_manifold: bool = True, critic_label: str = "D(x)", title: str | None = None) -> go.Figure:
    """The 2D picture of one training state (a ``GANTrainer.frame()`` dict).

    Drawn every few iterations while training plays, so it is assembled from plain dicts
    and handed to Plotly without per-property validation (6x faster; the test suite
    validates the same figure once).
    """
    traces: list[dict[str, Any]] = []
    (x0, x1), (y0, y1) = bounds
    if show_critic:
        probability = bool(frame.get("critic_is_probability"))
        values = np.asarray(frame["critic"])
        heat = {"zmin": 0.0, "zmax": 1.0} if probability else {"zmid": float(np.median(values))}
        traces.append({
            "type": "heatmap", "x": np.asarray(frame["grid_x"]), "y": np.asarray(frame["grid_y"]), "z": values,
            "colorscale": CRITIC_COLORSCALE, "opacity": 0.75, "name": critic_label, "zsmooth": "best",
            "colorbar": {"title": {"text": critic_label}, "thickness": 14, "len": 0.5, "y": 1.0, "yanchor": "top"},
            "hovertemplate": f"x=%{{x:.2f}}, y=%{{y:.2f}}<br>{critic_label}=%{{z:.3f}}<extra></extra>", **heat})
    if show_manifold and frame.get("manifold") is not None:
        traces.append(manifold_trace(np.asarray(frame["manifold"])))
    if show_real:
        traces.append(_points(np.asarray(frame["real"]), "data", "real data", 0.55))
    if show_fake:
        traces.append(_points(np.asarray(frame["fake"]), "samples", "generated", 0.8))
    if show_arrows:
        base, vector = np.asarray(frame["arrow_base"]), np.asarray(frame["arrow_vector"])
        factor = arrow_scale(vector, x1 - x0)
        xs, ys = _segments(base, base + factor * clip_arrows(vector))
        sizes = np.tile([0.0, 7.0, 0.0], len(base))  # an arrow head at each tip only
        traces.append({
            "type": "scatter", "x": xs, "y": ys, "mode": "lines+markers", "name": f"−∇ₓL_G ×{factor:.2g}",
            "line": {"color": ARROW_COLOR, "width": 1.0}, "hoverinfo": "skip",
            "marker": {"symbol": "arrow", "angleref": "previous", "size": sizes, "color": ARROW_COLOR}})
    annotations = []
    if show_fake:
        fake = np.asarray(frame["fake"])
        outside = int(np.sum((fake[:, 0] < x0) | (fake[:, 0] > x1) | (fake[:, 1] < y0) | (fake[:, 1] > y1)))
        if outside:  # the view stays fixed (frames compare); say what it does not show
            annotations.append({"text": f"{outside} of {len(fake)} generated points are outside this view",
                                "xref": "paper", "yref": "paper", "x": 0.0, "y": 1.0, "xanchor": "left",
                                "yanchor": "bottom", "showarrow": False, "font": {"color": ROLE_COLORS["samples"]}})
    layout = {
        "title": {"text": title}, "uirevision": "gan-plane", "annotations": annotations,
        "legend": {"yanchor": "bottom", "y": 0.0, "x": 1.02, "xanchor": "left"},
        "xaxis": {"range": [x0, x1], "title": {"text": "x₁"}, "constrain": "domain"},
        "yaxis": {"range": [y0, y1], "title": {"text": "x₂"}, "scaleanchor": "x", "scaleratio": 1,
                  "constrain": "domain"},
    }
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def loss_curves(history: Mapping[str, np.ndarray], *, marker_iteration: int | None = None) -> go.Figure:
    """D and G losses (left axis) and G's gradient norm (right axis, log scale) over iterations."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    iterations = np.asarray(history["iteration"])
    losses = {"D loss": Series(history["d_loss"], role=PALETTE[0]), "G loss": Series(history["g_loss"], role=PALETTE[1])}
    gradient = {"‖∇θ L_G‖": Series(history["g_grad_norm"], role=PALETTE[4], dash="dot", width=1.5)} \
        if "g_grad_norm" in history else {}
    curves(losses, x=iterations, y_title="loss", fig=fig, secondary_y=False)
    curves(gradient, x=iterations, y_title="G gradient norm", log_y=True, y_axis={"showgrid": False}, fig=fig,
           secondary_y=True)
    fig.update_xaxes(title_text="iteration")
    mark_current(fig, marker_iteration)
    fig.update_layout(title="Losses", legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
                      uirevision="gan-loss")
    return fig


def quality_curves(iterations: np.ndarray, quality: Mapping[str, np.ndarray], *, n_modes: int | None = None,
                   marker_iteration: int | None = None) -> go.Figure:
    """Left: precision, recall (and the fraction of modes covered); right: sliced W2 and MMD^2."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Precision / recall / modes", "Distance to the data"),
                        horizontal_spacing=0.12)
    fractions = {"precision": Series(quality["precision"], role=PALETTE[2]),
                 "recall": Series(quality["recall"], role=PALETTE[3])}
    if n_modes and "modes_covered" in quality:
        fractions[f"modes covered / {n_modes}"] = Series(np.asarray(quality["modes_covered"]) / n_modes,
                                                         role=PALETTE[4], dash="dash")
    distances = {"sliced W₂": Series(quality["sliced_w2"], role=PALETTE[0]),
                 "MMD²": Series(np.clip(quality["mmd2"], 1e-6, None), role=PALETTE[1], dash="dot")}  # log axis: > 0
    curves(fractions, x=iterations, y_axis={"range": [-0.02, 1.02]}, fig=fig, row=1, col=1)
    curves(distances, x=iterations, log_y=True, fig=fig, row=1, col=2)
    fig.update_xaxes(title_text="iteration")
    mark_current(fig, marker_iteration)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0}, uirevision="gan-quality")
    return fig



def f_divergence_curves(iterations: np.ndarray, bound: np.ndarray, snapshot_iterations: np.ndarray,
                        smoothed: np.ndarray, divergence: str, *, marker_iteration: int | None = None) -> go.Figure:
    """The f-GAN discriminator's variational lower bound (per batch) against the divergence between the
    two smoothed clouds (at the snapshots)."""
    series = {f"bound E_P[T] − E_Q[f*(T)] (−D loss)": Series(bound, x=iterations, role=PALETTE[0]),
              f"{divergence} of the smoothed clouds": Series(smoothed, x=snapshot_iterations, role=PALETTE[3],
                                                              mode="lines+markers")}
    fig = curves(series, x_title="iteration", y_title=divergence, title=f"f-GAN: the bound and the divergence")
    mark_current(fig, marker_iteration)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0}, uirevision="gan-f")
    return fig


def rejection_figure(real: np.ndarray, points: np.ndarray, accepted: np.ndarray,
                     bounds: Sequence[Sequence[float]], title: str | None = None) -> go.Figure:
    """Discriminator rejection sampling: candidates G(z) kept (orange) or rejected (grey) over the data."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=real[:, 0], y=real[:, 1], mode="markers", name="real", opacity=0.35,
                             marker={"color": ROLE_COLORS["data"], "size": 4}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=points[~accepted, 0], y=points[~accepted, 1], mode="markers", name="rejected",
                             marker={"color": "#9a9a9a", "size": 5, "symbol": "x"}))
    fig.add_trace(go.Scatter(x=points[accepted, 0], y=points[accepted, 1], mode="markers", name="accepted",
                             marker={"color": ROLE_COLORS["samples"], "size": 5}))
    return data_plane(fig, bounds[0], bounds[1], title=title)
