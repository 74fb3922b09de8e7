"""Figures for Gaussian mixtures and EM: responsibilities, components, log-likelihood curves.

Arrays in, ``go.Figure`` out; no Streamlit. Components are coloured with
``component_color(k)`` everywhere, so a colour means the same component in every view.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.primitives import Series, curves, ellipse
from playground.figures.theme import ROLE_COLORS, component_color, line

SIGMA_DASH = {1: None, 2: "dot"}


def _rgb(hex_color: str) -> np.ndarray:
    hex_color = hex_color.lstrip("#")
    return np.array([int(hex_color[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = _rgb(hex_color).astype(int)
    return f"rgba({r},{g},{b},{alpha})"


def blended_colors(responsibilities: np.ndarray) -> list[str]:
    """One colour per point: the responsibility-weighted mix of the component colours."""
    palette = np.stack([_rgb(component_color(k)) for k in range(responsibilities.shape[1])])  # (K, 3)
    mixed = np.clip(np.asarray(responsibilities, dtype=np.float64) @ palette, 0, 255).round().astype(int)
    return [f"rgb({r},{g},{b})" for r, g, b in mixed]


def mixture_2d_figure(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                      responsibilities: np.ndarray | None = None, *, selected: int | None = None,
                      title: str = "", bounds: Sequence[Sequence[float]] | None = None,
                      dashed: bool = False, name_prefix: str = "") -> go.Figure:
    """Points coloured by responsibilities (blended colours), 1- and 2-sigma ellipses, means."""
    fig = go.Figure()
    colors = blended_colors(responsibilities) if responsibilities is not None else ROLE_COLORS["data"]
    trace_type = go.Scattergl if len(X) > 1000 else go.Scatter
    fig.add_trace(trace_type(x=X[:, 0], y=X[:, 1], mode="markers", name="data (colour = responsibilities)",
                             marker={"color": colors, "size": 6, "opacity": 0.75}, showlegend=False,
                             hovertemplate="point #%{customdata}<extra></extra>", customdata=np.arange(len(X))))
    add_components_2d(fig, weights, means, covariances, dashed=dashed, name_prefix=name_prefix)
    if selected is not None and 0 <= selected < len(X):
        fig.add_trace(go.Scatter(x=[X[selected, 0]], y=[X[selected, 1]], mode="markers", name=f"point #{selected}",
                                 marker={"symbol": "circle-open", "size": 20, "color": ROLE_COLORS["truth"],
                                         "line": {"width": 3}}))
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.12})
    if bounds is not None:
        fig.update_xaxes(range=list(bounds[0]))
        fig.update_yaxes(range=list(bounds[1]))
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def add_components_2d(fig: go.Figure, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, *,
                      dashed: bool = False, name_prefix: str = "") -> None:
    """Add each component's 1- and 2-sigma ellipses and its mean (marker size grows with its weight)."""
    for k in range(len(weights)):
        color = component_color(k)
        for n_sigma in (1, 2):
            points = ellipse(means[k], covariances[k], n_sigma)
            fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="lines", hoverinfo="skip",
                                     name=f"{name_prefix}component {k + 1}", legendgroup=f"{name_prefix}{k}",
                                     showlegend=n_sigma == 1,
                                     line={"color": color, "width": 3 if n_sigma == 1 else 2,
                                           "dash": "dash" if dashed else SIGMA_DASH[n_sigma]}))
    # The means in one trace (a Play frame moves one trace, not K), each numbered beside it: with many
    # components colours alone are hard to tell apart.
    colors = [component_color(k) for k in range(len(weights))]
    fig.add_trace(go.Scatter(x=means[:, 0], y=means[:, 1], mode="markers+text", showlegend=False,
                             name=f"{name_prefix}means", customdata=np.column_stack([np.arange(1, len(weights) + 1),
                                                                                    weights]),
                             hovertemplate="μ%{customdata[0]} = (%{x:.3g}, %{y:.3g}), α = %{customdata[1]:.3f}"
                                           "<extra></extra>",
                             text=[f"<b>{k + 1}</b>" for k in range(len(weights))], textposition="top right",
                             textfont={"color": colors, "size": 16},
                             marker={"symbol": "x", "size": [10 + 30 * float(w) for w in weights], "color": colors,
                                     "line": {"width": 2, "color": "white"}}))


def mixture_1d_figure(X: np.ndarray, curves_1d, responsibilities: np.ndarray | None = None, *,
                      selected: int | None = None, title: str = "") -> go.Figure:
    """Top: histogram, weighted components alpha_k N(x | mu_k, sigma_k^2) and the mixture.
    Bottom: the responsibilities gamma_k(x) as stacked bands (they sum to one), data as ticks.

    ``curves_1d`` holds the numbers on the grid (``playground.mixture.mixture_curves_1d``): ``grid``,
    ``weighted`` (K, n), ``mixture`` (n,) and ``responsibilities`` (K, n)."""
    x_data = np.asarray(X).reshape(-1)
    grid, weighted, mixture, band = (curves_1d.grid, curves_1d.weighted, curves_1d.mixture,
                                     curves_1d.responsibilities)
    low, high = float(grid[0]), float(grid[-1])
    n_components = len(weighted)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.06)
    fig.add_trace(go.Histogram(x=x_data, histnorm="probability density", name="data", opacity=0.35,
                               marker={"color": ROLE_COLORS["data"]}, nbinsx=60), row=1, col=1)
    for k in range(n_components):
        fig.add_trace(line(grid, weighted[k], role=component_color(k), name=f"α{k + 1}·N(x | μ{k + 1}, σ{k + 1}²)"),
                      row=1, col=1)
    fig.add_trace(line(grid, mixture, role=ROLE_COLORS["truth"], name="mixture p(x)", dash="dash"), row=1, col=1)
    # stacked responsibility bands on the grid
    bottom = np.zeros_like(grid)
    for k in range(n_components):
        top = bottom + band[k]
        fig.add_trace(go.Scatter(x=np.r_[grid, grid[::-1]], y=np.r_[top, bottom[::-1]], fill="toself", mode="lines",
                                 line={"width": 0}, fillcolor=_rgba(component_color(k), 0.55), hoverinfo="skip",
                                 showlegend=False, name=f"γ{k + 1}(x)"), row=2, col=1)
        bottom = top
    tick_colors = blended_colors(responsibilities) if responsibilities is not None else ROLE_COLORS["data"]
    fig.add_trace(go.Scatter(x=x_data, y=np.full_like(x_data, -0.08), mode="markers", showlegend=False,
                             name="data", customdata=np.arange(len(x_data)),
                             hovertemplate="point #%{customdata}: x = %{x:.3g}<extra></extra>",
                             marker={"symbol": "line-ns-open", "size": 10, "color": tick_colors}), row=2, col=1)
    if selected is not None and 0 <= selected < len(x_data):
        fig.add_vline(x=float(x_data[selected]), line={"color": ROLE_COLORS["accent"], "width": 3},
                      annotation_text=f"point #{selected}")
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_yaxes(title_text="γₖ(x)", range=[-0.15, 1.02], row=2, col=1)
    fig.update_xaxes(range=[low, high])
    fig.update_layout(title=title, barmode="overlay", legend={"orientation": "h", "y": -0.15})
    return fig


def log_likelihood_figure(kinds: Sequence[str], log_likelihoods: Sequence[float], lower_bounds: Sequence[float],
                          current: int | None = None, *, title: str = "Log-likelihood per half-step") -> go.Figure:
    """Mean log p(x) and the ELBO after every half-step: E-steps lift the bound onto the
    log-likelihood, M-steps push both up. x = 0 is the start, E at t - 0.5, M at t."""
    kinds = list(kinds)
    positions = np.zeros(len(kinds))
    iteration = 0
    for i, kind in enumerate(kinds):
        if kind == "M":
            iteration += 1
            positions[i] = iteration
        elif kind == "E":
            positions[i] = iteration + 0.5
    ll = np.asarray(log_likelihoods, dtype=np.float64)
    lb = np.asarray(lower_bounds, dtype=np.float64)
    series = {"log-likelihood (1/N) Σ log p(xₙ)": Series(ll, role="model"),
              "lower bound (ELBO) with current q": Series(lb, role="latent", dash="dot")}
    for kind, symbol, label in (("E", "triangle-up", "E-step"), ("M", "square", "M-step")):
        mask = np.array([k == kind for k in kinds])
        if mask.any():
            series[label] = Series(ll[mask], x=positions[mask], role="accent" if kind == "E" else "model",
                                   mode="markers", marker={"symbol": symbol, "size": 9})
    shown = float(positions[current]) if current is not None and 0 <= current < len(kinds) else None
    fig = curves(series, x=positions, current=shown, current_role="truth")
    finite = ll[np.isfinite(ll)]
    if len(finite) > 2:  # keep the start from squashing the curve when it is far below
        spread = finite[-1] - np.median(finite)
        low = min(np.percentile(finite, 10), finite[-1] - 1e-3) - max(abs(spread), 1e-3)
        fig.update_yaxes(range=[low, finite.max() + 0.1 * (finite.max() - low)])
    fig.update_layout(title=title, xaxis_title="EM iteration (E at t − ½, M at t)",
                      yaxis_title="mean log-likelihood", legend={"orientation": "h", "y": -0.25})
    return fig


def responsibility_bar_figure(responsibilities: np.ndarray, point: int) -> go.Figure:
    """Bar chart of gamma_nk for one point n: who explains this point."""
    values = np.asarray(responsibilities, dtype=np.float64)
    labels = [f"k = {k + 1}" for k in range(len(values))]
    fig = go.Figure(go.Bar(x=labels, y=values, marker={"color": [component_color(k) for k in range(len(values))]},
                           text=[f"{v:.3f}" for v in values], textposition="outside"))
    fig.update_layout(title=f"Responsibilities γ of point #{point}", yaxis={"range": [0, 1.15], "title": "γₙₖ"},
                      height=300, showlegend=False)
    return fig


def em_vs_gd_figure(em_log_likelihoods: np.ndarray, gd_log_likelihoods: np.ndarray, start: float) -> go.Figure:
    """Mean log-likelihood against iteration for EM and for gradient descent from the same start."""
    fig = curves({"EM (closed-form M-step)": Series(np.r_[start, em_log_likelihoods],
                                                    x=np.arange(len(em_log_likelihoods) + 1), role="model"),
                  "gradient descent (Adam)": Series(np.r_[start, gd_log_likelihoods],
                                                    x=np.arange(len(gd_log_likelihoods) + 1), role="latent")})
    fig.update_layout(title="Same start: EM vs gradient descent", xaxis_title="iteration",
                      yaxis_title="mean log-likelihood", legend={"orientation": "h", "y": -0.25})
    values = np.r_[em_log_likelihoods, gd_log_likelihoods]
    values = values[np.isfinite(values)]
    if values.size:
        top, low = values.max(), np.percentile(values, 5)
        fig.update_yaxes(range=[low - 0.05 * (top - low + 1e-9), top + 0.05 * (top - low + 1e-9)])
    return fig


SAME_OPTIMUM = 1e-3  # nats per point: starts closer than this to the best reached the same optimum


def restarts_figure(seeds: Sequence[int], log_likelihoods: Sequence[float], chosen: int | None = None) -> go.Figure:
    """How far below the best start each start ends (mean log-likelihood, nats per point), on a
    zero-based axis at least 0.05 tall: equal starts show as equal (empty) bars, not as an
    autoscaled 1e-4 range that would invent differences. The bar labels give each final value."""
    values = np.asarray(log_likelihoods, dtype=np.float64)
    finite = np.isfinite(values)
    best = np.nanmax(values) if finite.any() else np.nan
    gaps = np.where(finite, best - values, np.nan)
    colors = [ROLE_COLORS["accent"] if s == chosen else ROLE_COLORS["model"] if v == best else ROLE_COLORS["data"]
              for s, v in zip(seeds, values)]
    fig = go.Figure(go.Bar(x=[f"seed {s}" for s in seeds], y=gaps, marker={"color": colors},
                           text=[f"{v:.4f}" if np.isfinite(v) else "failed" for v in values], textposition="outside"))
    top = float(np.nanmax(gaps)) if finite.any() else 0.0
    fig.update_yaxes(range=[0.0, max(1.3 * top, 0.05)], title_text="best − this start (nats per point)")
    if finite.any() and top < SAME_OPTIMUM:
        fig.add_annotation(text=f"all starts end within {SAME_OPTIMUM:g} of the best: one optimum", x=0.5, y=0.9,
                           xref="paper", yref="paper", showarrow=False)
    fig.update_layout(title="Final log-likelihood from each start: gap to the best (vermillion = best)",
                      showlegend=False)
    return fig
