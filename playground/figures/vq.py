"""Figures of the VQ-VAE section: the codebook in the data space, its training curves."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves, data_plane
from playground.figures.theme import PALETTE, ROLE_COLORS, component_color


def codebook_plane(points: np.ndarray, codes: np.ndarray, codebook: np.ndarray, usage: np.ndarray,
                   bounds: Sequence[Sequence[float]], *, title: str | None = None) -> go.Figure:
    """2D data coloured by their code (each point's Voronoi cell), the codebook vectors as stars sized by
    how many points use them, and the dead codes (used by none) as red crosses."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name="data, coloured by code",
                             marker={"color": [component_color(int(c)) for c in codes], "size": 4, "opacity": 0.6},
                             hoverinfo="skip"))
    alive = usage > 0
    share = usage / max(usage.sum(), 1)
    fig.add_trace(go.Scatter(x=codebook[alive, 0], y=codebook[alive, 1], mode="markers", name="codes in use",
                             marker={"symbol": "star", "size": 10 + 40 * np.sqrt(share[alive]), "color": "#222222",
                                     "line": {"color": "#ffffff", "width": 1}},
                             customdata=np.column_stack([np.nonzero(alive)[0], usage[alive]]),
                             hovertemplate="code %{customdata[0]}<br>%{customdata[1]} points<extra></extra>"))
    if (~alive).any():
        fig.add_trace(go.Scatter(x=codebook[~alive, 0], y=codebook[~alive, 1], mode="markers",
                                 name=f"dead codes ({int((~alive).sum())})",
                                 marker={"symbol": "x", "size": 12, "color": PALETTE[3]}))
    low = [min(b[0], float(codebook[:, d].min())) for d, b in enumerate(bounds)]
    high = [max(b[1], float(codebook[:, d].max())) for d, b in enumerate(bounds)]
    return data_plane(fig, (low[0], high[0]), (low[1], high[1]), title=title)


def vq_curves(iterations: np.ndarray, losses: Mapping[str, np.ndarray], eval_iterations: np.ndarray,
              perplexity: np.ndarray, dead: np.ndarray, n_codes: int) -> go.Figure:
    """Left: the losses; right: codebook perplexity (codes effectively in use) and dead codes."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Losses", f"Codebook use (K = {n_codes})"),
                        horizontal_spacing=0.12)
    roles = [PALETTE[0], PALETTE[1], PALETTE[2]]
    curves({name: Series(values, x=iterations, role=role) for (name, values), role in zip(losses.items(), roles)},
           fig=fig, row=1, col=1, log_y=True)
    curves({"perplexity": Series(perplexity, x=eval_iterations, role=ROLE_COLORS["samples"], mode="lines+markers"),
            "dead codes": Series(dead, x=eval_iterations, role=PALETTE[3], dash="dot", mode="lines+markers")},
           fig=fig, row=1, col=2, y_axis={"range": [0, n_codes * 1.05]})
    fig.update_xaxes(title_text="step")
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0}, uirevision="vq-curves")
    return fig
