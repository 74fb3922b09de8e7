"""Figures for the latent explorer: latent maps, image mosaics, loss curves, manifolds.

Images arrive as flat rows with their ``(height, width)``; mosaics are drawn as one
heatmap (ink dark on white), which stays fast even for a 20 x 20 manifold grid.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves, ellipse
from playground.figures.theme import PALETTE, ROLE_COLORS, line, scatter

# Ten classes need ten colours: the Okabe-Ito palette plus two from Paul Tol's "muted" set.
LABEL_COLORS = PALETTE + ["#882255", "#44AA99"]
PROBE_TRACE = "latent probe"
CLICK_TRACE = "click anywhere"
INK = [[0.0, "#ffffff"], [1.0, "#000000"]]


def label_color(label: int) -> str:
    return LABEL_COLORS[int(label) % len(LABEL_COLORS)]


def latent_map(codes: np.ndarray, labels: np.ndarray | None, *, ellipses: Sequence[tuple[np.ndarray, np.ndarray]] = (),
               probe: tuple[float, float] | None = None, click_grid: np.ndarray | None = None,
               axis_titles: tuple[str, str] = ("z₁", "z₂"), title: str | None = None) -> go.Figure:
    """Test codes coloured by label, 2-sigma ellipses of q(z|x), the probe, and an invisible click grid."""
    fig = go.Figure()
    codes = np.asarray(codes)
    if click_grid is not None:
        # Transparent points so that a click on empty latent space selects a position too.
        fig.add_trace(go.Scatter(x=click_grid[:, 0], y=click_grid[:, 1], mode="markers", name=CLICK_TRACE,
                                 marker={"size": 14, "opacity": 0.0, "color": "#888888"}, showlegend=False,
                                 hovertemplate="click: probe to (%{x:.2f}, %{y:.2f})<extra></extra>"))
    groups = [(None, np.arange(len(codes)))] if labels is None else [
        (int(k), np.flatnonzero(labels == k)) for k in np.unique(labels)]
    for label, index in groups:
        fig.add_trace(scatter(codes[index, 0], codes[index, 1], role=ROLE_COLORS["latent"] if label is None
                              else label_color(label), name="codes" if label is None else f"digit {label}",
                              size=7, opacity=0.8, customdata=index,
                              hovertemplate="test point %{customdata}<br>z = (%{x:.2f}, %{y:.2f})<extra></extra>"))
    for i, (center, covariance) in enumerate(ellipses):
        contour = ellipse(center, covariance, 2.0, n_points=60)
        fig.add_trace(line(contour[:, 0], contour[:, 1], role="model", name="q(z|x), 2σ", showlegend=i == 0,
                           legendgroup="ellipses", hoverinfo="skip"))
    if probe is not None:
        fig.add_trace(go.Scatter(x=[probe[0]], y=[probe[1]], mode="markers", name=PROBE_TRACE,
                                 marker={"symbol": "x-thin", "size": 22, "color": ROLE_COLORS["truth"],
                                         "line": {"width": 4, "color": ROLE_COLORS["truth"]}}))
    fig.update_layout(title=title, xaxis_title=axis_titles[0], yaxis_title=axis_titles[1],
                      legend={"itemsizing": "constant"}, clickmode="event+select", dragmode="zoom")  # box/lasso drag modes swallow clicks
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def mosaic(images: np.ndarray, shape: tuple[int, int], n_cols: int, pad: int = 1) -> np.ndarray:
    """Tile flat images row by row into one array, with ``pad`` blank pixels between tiles (NaN = gap)."""
    images = np.asarray(images, dtype=np.float64).reshape(-1, *shape)
    n_rows = int(np.ceil(len(images) / n_cols))
    height, width = shape
    canvas = np.full((n_rows * (height + pad) - pad, n_cols * (width + pad) - pad), np.nan)
    for i, image in enumerate(images):
        row, col = divmod(i, n_cols)
        canvas[row * (height + pad):row * (height + pad) + height, col * (width + pad):col * (width + pad) + width] = image
    return canvas


def image_mosaic(images: np.ndarray, shape: tuple[int, int], n_cols: int, *, title: str | None = None,
                 captions: Sequence[str] | None = None, height: int | None = None) -> go.Figure:
    """Images as one heatmap (ink dark on white); optional captions under the tiles of a single row."""
    canvas = mosaic(images, shape, n_cols)
    fig = go.Figure(go.Heatmap(z=canvas, colorscale=INK, zmin=0, zmax=1, showscale=False, hoverongaps=False,
                               hovertemplate="pixel value %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False,
                     scaleanchor="x", scaleratio=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    if captions is not None:
        width = shape[1] + 1
        fig.update_xaxes(showticklabels=True, tickmode="array",
                         tickvals=[i * width + (shape[1] - 1) / 2 for i in range(len(captions))],
                         ticktext=list(captions))
    fig.update_layout(title=title, height=height, plot_bgcolor="#ffffff")
    return fig


def loss_curves(iterations: np.ndarray, histories: dict[str, np.ndarray], *, title: str = "Training",
                y_title: str = "nats per image") -> go.Figure:
    """One line per metric against the epoch; NaN gaps (metrics not computed every epoch) are bridged."""
    series = {name: Series(values, role=PALETTE[i % len(PALETTE)], dash="dot" if name.startswith("test") else None,
                           finite_only=True) for i, (name, values) in enumerate(histories.items())}
    return curves(series, x=iterations, x_title="epoch", y_title=y_title, title=title)


def side_by_side_maps(panels: dict[str, tuple[np.ndarray, np.ndarray | None]], *, title: str | None = None,
                      axis_titles: tuple[str, str] = ("z₁", "z₂")) -> go.Figure:
    """Several latent maps next to each other (same label colours), one per named model, on shared axes
    (each panel autoscaled would blow a collapsed map of width 0.005 up to the size of a spread one)."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.06,
                        shared_xaxes=True, shared_yaxes=True)
    for col, (codes, labels) in enumerate(panels.values(), start=1):
        labels = np.zeros(len(codes), dtype=int) if labels is None else labels
        for label in np.unique(labels):
            index = labels == label
            fig.add_trace(scatter(codes[index, 0], codes[index, 1], role=label_color(label), name=f"digit {label}",
                                  size=5, legendgroup=str(label), showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text=axis_titles[0], row=1, col=col)
    fig.update_yaxes(title_text=axis_titles[1], row=1, col=1)
    fig.update_xaxes(matches="x")
    fig.update_yaxes(matches="y")
    fig.update_layout(title=title, legend={"itemsizing": "constant"})
    return fig


def manifold_figure(points: np.ndarray, position: np.ndarray, codes: dict[str, np.ndarray],
                    reconstructions: dict[str, np.ndarray] | None = None) -> go.Figure:
    """The 3D data (coloured by position on the sheet) and each model's 2D codes with the same colours."""
    names = list(codes)
    specs = [[{"type": "scene"}] + [{"type": "xy"}] * len(names)]
    fig = make_subplots(rows=1, cols=1 + len(names), specs=specs, horizontal_spacing=0.06,
                        subplot_titles=["data (3D) and reconstructions"] + [f"{n}: 2D codes" for n in names])
    colour = {"color": position, "colorscale": "Viridis", "size": 3}
    fig.add_trace(go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="markers", name="data",
                               marker=colour, hoverinfo="skip"), row=1, col=1)
    for i, (name, recon) in enumerate((reconstructions or {}).items()):
        fig.add_trace(go.Scatter3d(x=recon[:, 0], y=recon[:, 1], z=recon[:, 2], mode="markers",
                                   name=f"{name} reconstruction", hoverinfo="skip",
                                   marker={"size": 2, "color": PALETTE[(i + 1) % len(PALETTE)]}), row=1, col=1)
    for col, name in enumerate(names, start=2):
        fig.add_trace(go.Scattergl(x=codes[name][:, 0], y=codes[name][:, 1], mode="markers", name=name,
                                   marker={**colour, "size": 5}, showlegend=False, hoverinfo="skip"), row=1, col=col)
    fig.update_layout(legend={"orientation": "h", "y": -0.1})
    return fig


def reparameterisation_figure(mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray, z: np.ndarray) -> go.Figure:
    """Left: eps ~ N(0, I) (the 1- and 2-sigma circles). Right: z = mu + sigma * eps on the encoder's
    q(z|x) = N(mu, diag sigma^2) (its 1- and 2-sigma ellipses), each z numbered as its eps."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ε ~ N(0, I): the only randomness",
                                                        "z = μ + σ ⊙ ε on q(z|x) = N(μ, diag σ²)"),
                        horizontal_spacing=0.1)
    labels = [str(i + 1) for i in range(len(eps))]
    for col, (centre, scale, points) in enumerate(((np.zeros(2), np.ones(2), eps), (mu[:2], sigma[:2], z)), start=1):
        for n_sigma in (1, 2):
            curve = ellipse(centre, np.diag(scale**2), n_sigma)
            fig.add_trace(go.Scatter(x=curve[:, 0], y=curve[:, 1], mode="lines", hoverinfo="skip", showlegend=False,
                                     line={"color": ROLE_COLORS["model"], "width": 2 if n_sigma == 1 else 1,
                                           "dash": "solid" if n_sigma == 1 else "dot"}), row=1, col=col)
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers+text", text=labels,
                                 textposition="top center", showlegend=False, name="samples",
                                 marker={"color": ROLE_COLORS["samples"], "size": 9}), row=1, col=col)
    fig.add_trace(go.Scatter(x=[mu[0]], y=[mu[1]], mode="markers", name="μ", showlegend=False,
                             marker={"symbol": "x", "size": 12, "color": ROLE_COLORS["model"]}), row=1, col=2)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(height=360)
    return fig


def slicing_figure(codes: np.ndarray, view: dict[str, np.ndarray]) -> go.Figure:
    """Left: the codes and a prior sample with the random directions. Right: for each direction the
    sorted projections of both (quantile functions); the gap between each pair is that slice's W2."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("codes, prior sample and the slicing directions",
                                        "sorted projections: codes (solid) vs prior (dotted)"))
    fig.add_trace(scatter(view["prior"][:, 0], view["prior"][:, 1], role=ROLE_COLORS["truth"], name="z ~ N(0, I)",
                          size=3, opacity=0.35), row=1, col=1)
    fig.add_trace(scatter(codes[:, 0], codes[:, 1], role=ROLE_COLORS["samples"], name="codes f(x)", size=3,
                          opacity=0.5), row=1, col=1)
    reach = float(np.abs(np.concatenate([codes, view["prior"]])).max())
    quantiles = (np.arange(view["sorted_codes"].shape[1]) + 0.5) / view["sorted_codes"].shape[1]
    for k, direction in enumerate(view["directions"]):
        color = PALETTE[(k + 2) % len(PALETTE)]
        fig.add_trace(go.Scatter(x=[-reach * direction[0], reach * direction[0]],
                                 y=[-reach * direction[1], reach * direction[1]], mode="lines",
                                 line={"color": color, "width": 3}, name=f"θ{k + 1}: W₂² = {view['w2_squared'][k]:.3f}"),
                      row=1, col=1)
        fig.add_trace(line(quantiles, view["sorted_codes"][k], role=color, name=f"θ{k + 1} codes", showlegend=False),
                      row=1, col=2)
        fig.add_trace(line(quantiles, view["sorted_prior"][k], role=color, dash="dot", name=f"θ{k + 1} prior",
                           showlegend=False), row=1, col=2)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    fig.update_xaxes(title_text="quantile level", row=1, col=2)
    fig.update_yaxes(title_text="θ · z", row=1, col=2)
    fig.update_layout(height=380, legend={"orientation": "h", "y": -0.2})
    return fig
