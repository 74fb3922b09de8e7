"""Figures of the Samplers page: arrays in, ``go.Figure`` out (no Streamlit here).

Histograms arrive binned (``playground.sampling.binned_density`` and friends: objects with
``edges`` and ``density``), so the figures draw numbers and compute none.

Accepted and rejected points always differ by marker shape (filled circle vs cross),
not only by colour, so the pictures read in grey scale and for colour-blind viewers.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.theme import ROLE_COLORS, component_color, line, scatter

ACCEPTED = {"symbol": "circle", "color": ROLE_COLORS["data"]}
REJECTED = {"symbol": "x-thin-open", "color": ROLE_COLORS["model"], "line": {"width": 2, "color": ROLE_COLORS["model"]}}
MAX_LINE_POINTS = 600  # demo arrows / drawn proposals: enough to see, few enough to read


def _equal_axes(fig: go.Figure, row: int, col: int, index: int) -> None:
    """Same scale on x and y of one subplot (circles look round)."""
    suffix = "" if index == 1 else str(index)
    fig.update_yaxes(scaleanchor=f"x{suffix}", scaleratio=1, row=row, col=col)


def density_bars(binned, *, name: str, color: str, opacity: float = 0.7, horizontal: bool = False,
                 **kwargs) -> go.Bar:
    """Bars of a density histogram binned in NumPy (``binned.edges``, ``binned.density``): the browser
    gets len(edges) - 1 bars, not every sample."""
    edges, density = binned.edges, binned.density
    centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    axes = {"y": centres, "x": density, "orientation": "h"} if horizontal else {"x": centres, "y": density}
    return go.Bar(**axes, width=widths, name=name, marker={"color": color, "line": {"width": 0}}, opacity=opacity,
                  **kwargs)


def _curve(x, y, gl: bool, **kwargs) -> go.Scatter | go.Scattergl:
    """A line trace; WebGL when the points under it are WebGL (WebGL layers draw above SVG ones)."""
    return (go.Scattergl if gl else go.Scatter)(x=np.asarray(x), y=np.asarray(y), mode="lines", **kwargs)


def _circle(radius: float = 1.0, center=(0.0, 0.0), n: int = 181) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n)
    return center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)


# ----------------------------------------------------------------------------------
# 1. LCG
# ----------------------------------------------------------------------------------


def uniform_diagnostics(u: np.ndarray, histogram, reference_histogram, label: str = "LCG") -> go.Figure:
    """Histogram of U against the flat density (ours and NumPy's, binned on the same edges in [0, 1]),
    and consecutive pairs (U_t, U_t+1)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Histogram of U_t", "Consecutive pairs (U_t, U_t+1)"),
                        horizontal_spacing=0.1)
    edges = histogram.edges
    fig.add_trace(density_bars(histogram, name=label, color=ROLE_COLORS["samples"], opacity=0.8), row=1, col=1)
    reference_density = reference_histogram.density
    fig.add_trace(go.Scatter(x=edges, y=np.append(reference_density, reference_density[-1]), mode="lines",
                             line={"shape": "hv", "color": ROLE_COLORS["data"], "width": 2},
                             name="NumPy default (PCG64)"), row=1, col=1)
    fig.add_trace(line(edges[[0, -1]], [1, 1], role="truth", name="U(0, 1) density", dash="dash"), row=1, col=1)
    shown = u[: min(len(u), 5_001)]
    fig.add_trace(scatter(shown[:-1], shown[1:], role="samples", name=f"{label} pairs", size=3, opacity=0.5), row=1, col=2)
    fig.update_layout(bargap=0, legend={"orientation": "h", "y": -0.15})
    fig.update_yaxes(range=[0, 1.35], row=1, col=1)
    fig.update_xaxes(range=[0, 1], row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    _equal_axes(fig, 1, 2, 2)
    return fig


def consecutive_triples(u: np.ndarray, offsets: np.ndarray, along_planes: bool = False, normal=(9.0, -6.0, 1.0),
                        max_points: int = 12_000) -> go.Figure:
    """(U_t, U_t+1, U_t+2) in the unit cube, coloured by ``offsets`` = normal . (U_t, U_t+1, U_t+2)
    (``playground.sampling.randu_plane_offsets``: constant on each of RANDU's planes).

    ``along_planes`` looks along a direction inside the planes (normal x e_z), with ``normal`` pointing
    up and an orthographic camera: the planes then show edge-on, as horizontal lines.
    """
    u = u[: max_points + 2]
    offset = offsets[: max_points]
    fig = go.Figure(go.Scatter3d(x=u[:-2], y=u[1:-1], z=u[2:], mode="markers", name="triples",
                                 marker={"size": 1.6, "color": offset, "colorscale": "Viridis", "opacity": 0.8}))
    camera = {"eye": {"x": 1.6, "y": -1.6, "z": 1.0}}
    if along_planes:
        normal_vector = np.asarray(normal, dtype=float)
        direction = np.cross(normal_vector, [0.0, 0.0, 1.0])  # perpendicular to the normal: inside the planes
        direction = 2.2 * direction / np.linalg.norm(direction)
        up = normal_vector / np.linalg.norm(normal_vector)
        camera = {"eye": dict(zip("xyz", direction.tolist())), "up": dict(zip("xyz", up.tolist())),
                  "center": {"x": 0, "y": 0, "z": 0}, "projection": {"type": "orthographic"}}
    axis = {"nticks": 3, "tickfont": {"size": 11}, "title": {"font": {"size": 14}}}
    fig.update_layout(scene={"xaxis": {**axis, "title": {"text": "U_t", "font": {"size": 14}}},
                             "yaxis": {**axis, "title": {"text": "U_t+1", "font": {"size": 14}}},
                             "zaxis": {**axis, "title": {"text": "U_t+2", "font": {"size": 14}}},
                             "aspectmode": "cube", "camera": camera},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False, uirevision=str(along_planes))
    return fig


def lcg_orbit(states: np.ndarray, m: int, period: int) -> go.Figure:
    """X_t against t: the sequence repeats with the period (dotted lines mark each repeat)."""
    t = np.arange(1, len(states) + 1)
    fig = go.Figure(go.Scatter(x=t, y=states, mode="lines+markers", name="X_t",
                               line={"color": ROLE_COLORS["samples"], "width": 1}, marker={"size": 4}))
    if period:
        for start in range(period, len(states), period):
            fig.add_vline(x=start + 0.5, line_dash="dot", line_color=ROLE_COLORS["accent"])
    fig.update_layout(xaxis_title="t", yaxis_title="X_t", yaxis_range=[-0.5, m - 0.5], showlegend=False)
    return fig


# ----------------------------------------------------------------------------------
# 2-3. Box-Muller and the polar method
# ----------------------------------------------------------------------------------


def box_muller_panels(u1, u2, radius, angle, z1, z2, color_by: str = "U1") -> go.Figure:
    """(U1, U2) -> (Theta, R) -> (Z1, Z2): each point keeps its colour across the three panels."""
    color = u1 if color_by == "U1" else u2
    colorscale = "Viridis" if color_by == "U1" else "Twilight"
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=("Uniforms (U1, U2)", "Polar (Θ = 2πU2, R = √(−2 ln U1))", "Normals (Z1, Z2)"))
    marker = {"color": color, "colorscale": colorscale, "cmin": 0, "cmax": 1, "size": 5, "opacity": 0.85}
    panels = ((u1, u2), (angle, radius), (z1, z2))
    for col, (x, y) in enumerate(panels, start=1):
        trace_marker = dict(marker)
        if col == 3:
            trace_marker["colorbar"] = {"title": color_by, "thickness": 14}
        trace_type = go.Scattergl if len(x) > 1000 else go.Scatter
        fig.add_trace(trace_type(x=x, y=y, mode="markers", marker=trace_marker, showlegend=False), row=1, col=col)
    for radius_k in (1, 2, 3):
        cx, cy = _circle(radius_k)
        fig.add_trace(go.Scatter(x=cx, y=cy, mode="lines", line={"color": "#888", "width": 1, "dash": "dot"},
                                 showlegend=False, hoverinfo="skip"), row=1, col=3)
    fig.update_xaxes(title_text="U1", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="U2", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="Θ", range=[0, 2 * np.pi], row=1, col=2)
    fig.update_yaxes(title_text="R", row=1, col=2)
    fig.update_xaxes(title_text="Z1", range=[-4, 4], row=1, col=3)
    fig.update_yaxes(title_text="Z2", range=[-4, 4], row=1, col=3)
    _equal_axes(fig, 1, 1, 1)
    _equal_axes(fig, 1, 3, 3)
    return fig


def normal_check(reference, label: str = "samples") -> go.Figure:
    """Histogram of Z against the N(0, 1) density, and a QQ plot against the normal quantiles.

    ``reference`` (``playground.sampling.normal_reference(z)``) holds the histogram of z, the density
    on its ``grid`` and the QQ pairs ``theoretical`` (normal quantiles) and ``sample`` (order statistics)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Histogram vs N(0, 1) density", "QQ plot"),
                        horizontal_spacing=0.1)
    fig.add_trace(density_bars(reference.histogram, name=label, color=ROLE_COLORS["samples"]), row=1, col=1)
    fig.add_trace(line(reference.grid, reference.density, role="truth", name="N(0, 1) density"), row=1, col=1)
    fig.add_trace(scatter(reference.theoretical, reference.sample, role="samples", name="sample quantiles", size=4),
                  row=1, col=2)
    fig.add_trace(line([-4.5, 4.5], [-4.5, 4.5], role="truth", name="y = x", dash="dash"), row=1, col=2)
    fig.update_xaxes(title_text="z", range=[-4.5, 4.5], row=1, col=1)
    fig.update_xaxes(title_text="N(0, 1) quantile", range=[-4.5, 4.5], row=1, col=2)
    fig.update_yaxes(title_text="sample quantile", range=[-4.5, 4.5], row=1, col=2)
    fig.update_layout(bargap=0, legend={"orientation": "h", "y": -0.2})
    return fig


def polar_square(v1: np.ndarray, v2: np.ndarray, accepted: np.ndarray, z1: np.ndarray | None = None,
                 z2: np.ndarray | None = None, linked: int = 8) -> go.Figure:
    """Left: candidates in [-1, 1]^2, inside the unit disk accepted (circles), outside rejected (crosses).
    Right (with ``z1``, ``z2``): the normal pairs the accepted candidates become; the first ``linked``
    accepted candidates are numbered in both panels, so each can be followed to its pair."""
    pairs = z1 is not None and z2 is not None
    fig = make_subplots(rows=1, cols=2 if pairs else 1, horizontal_spacing=0.1,
                        subplot_titles=("candidates V", "Z = V √(−2 ln S / S)") if pairs else None)
    fig.add_trace(scatter(v1[accepted], v2[accepted], role=ACCEPTED["color"], name="accepted (S < 1)",
                          size=5, marker={"symbol": ACCEPTED["symbol"]}), row=1, col=1)
    fig.add_trace(scatter(v1[~accepted], v2[~accepted], role=REJECTED["color"], name="rejected (S ≥ 1)", size=7,
                          marker={"symbol": REJECTED["symbol"], "line": REJECTED["line"]}), row=1, col=1)
    cx, cy = _circle()
    fig.add_trace(_curve(cx, cy, len(v1) > 1000, name="unit circle", line={"color": ROLE_COLORS["truth"], "width": 3}),
                  row=1, col=1)
    fig.update_xaxes(range=[-1.05, 1.05], title_text="V1 = 2U1 − 1", constrain="domain", row=1, col=1)
    fig.update_yaxes(range=[-1.05, 1.05], title_text="V2 = 2U2 − 1", scaleanchor="x", constrain="domain", row=1, col=1)
    if pairs:
        fig.add_trace(scatter(z1, z2, role=ROLE_COLORS["samples"], name="normal pairs (Z1, Z2)", size=4, opacity=0.5),
                      row=1, col=2)
        shown = min(int(linked), len(z1))
        labels = [str(i + 1) for i in range(shown)]
        followed = {"color": "#FFFFFF", "size": 22, "line": {"color": "#000000", "width": 2}}
        text = {"mode": "markers+text", "textposition": "middle center",
                "textfont": {"color": "#000000", "size": 13, "family": "Arial Black, sans-serif"}}
        fig.add_trace(go.Scatter(x=v1[accepted][:shown], y=v2[accepted][:shown], text=labels, name="followed",
                                 marker=followed, **text), row=1, col=1)
        fig.add_trace(go.Scatter(x=z1[:shown], y=z2[:shown], text=labels, showlegend=False, name="followed",
                                 marker=followed, **text), row=1, col=2)
        fig.update_xaxes(range=[-3.6, 3.6], title_text="Z1", constrain="domain", row=1, col=2)
        fig.update_yaxes(range=[-3.6, 3.6], title_text="Z2", scaleanchor="x2", constrain="domain", row=1, col=2)
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    return fig


# ----------------------------------------------------------------------------------
# 4. Inverse CDF
# ----------------------------------------------------------------------------------


def inverse_cdf_figure(grid: np.ndarray, cdf: np.ndarray, pdf: np.ndarray, u_demo: np.ndarray, x_demo: np.ndarray,
                       histogram) -> go.Figure:
    """Top: uniforms on the vertical axis pass through F to x. Bottom: histogram of x (binned on the
    plotted interval, ``playground.sampling.binned_in_window``) against p."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.55, 0.45], vertical_spacing=0.06,
                        subplot_titles=("u on the vertical axis → across to F → down to x = F⁻¹(u)",
                                        "Histogram of x = F⁻¹(U) against the density p"))
    fig.add_trace(line(grid, cdf, role="model", name="CDF F(x)"), row=1, col=1)
    left = grid[0]
    xs, ys = [], []
    for u, x in zip(u_demo[:MAX_LINE_POINTS], x_demo[:MAX_LINE_POINTS]):
        xs += [left, x, x, None]
        ys += [u, u, 0.0, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="u → x", line={"color": ROLE_COLORS["latent"], "width": 1},
                             opacity=0.7), row=1, col=1)
    fig.add_trace(go.Scatter(x=np.full(len(u_demo), left), y=u_demo, mode="markers", name="u ~ U(0, 1)",
                             marker={"color": ROLE_COLORS["latent"], "size": 8, "symbol": "triangle-right"}),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=x_demo, y=np.zeros(len(x_demo)), mode="markers", name="x = F⁻¹(u)",
                             marker={"color": ROLE_COLORS["samples"], "size": 8, "symbol": "triangle-down"}),
                  row=1, col=1)
    fig.add_trace(density_bars(histogram, name="samples", color=ROLE_COLORS["samples"]), row=2, col=1)
    fig.add_trace(line(grid, pdf, role="truth", name="density p(x)"), row=2, col=1)
    fig.update_xaxes(range=[grid[0], grid[-1]])
    fig.update_xaxes(title_text="x", row=2, col=1)
    fig.update_yaxes(title_text="u = F(x)", range=[-0.02, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="density", row=2, col=1)
    fig.update_layout(bargap=0, legend={"orientation": "h", "y": -0.12}, height=640)
    return fig


# ----------------------------------------------------------------------------------
# 5. Cholesky
# ----------------------------------------------------------------------------------


def cholesky_panels(z: np.ndarray, lz: np.ndarray, x: np.ndarray, mean: np.ndarray,
                    ellipses: dict[float, np.ndarray]) -> go.Figure:
    """z ~ N(0, I) with circles, L z with the same curves mapped by L, and mu + L z: 1-2-3 sigma."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06,
                        subplot_titles=("z ~ N(0, I)", "L z  (Cov = L Lᵀ = Σ)", "x = μ + L z"))
    angle = (np.arctan2(z[:, 1], z[:, 0]) + np.pi) / (2 * np.pi)
    gl = len(z) > 1000
    trace_type = go.Scattergl if gl else go.Scatter
    marker = {"color": angle, "colorscale": "Viridis", "cmin": 0, "cmax": 1, "size": 4, "opacity": 0.6}
    for col, points in enumerate((z, lz, x), start=1):
        fig.add_trace(trace_type(x=points[:, 0], y=points[:, 1], mode="markers", marker=marker, showlegend=False,
                                 hoverinfo="skip"), row=1, col=col)
    dashes = {1.0: "solid", 2.0: "dash", 3.0: "dot"}
    for radius, curve in ellipses.items():
        style = {"color": ROLE_COLORS["model"], "width": 3, "dash": dashes.get(radius, "solid")}
        cx, cy = _circle(radius)
        fig.add_trace(_curve(cx, cy, gl, line=style, name=f"{radius:g}σ", legendgroup=str(radius)), row=1, col=1)
        centred = curve - mean
        fig.add_trace(_curve(centred[:, 0], centred[:, 1], gl, line=style, showlegend=False, legendgroup=str(radius)),
                      row=1, col=2)
        fig.add_trace(_curve(curve[:, 0], curve[:, 1], gl, line=style, showlegend=False, legendgroup=str(radius)),
                      row=1, col=3)
    fig.add_trace((go.Scattergl if gl else go.Scatter)(x=[mean[0]], y=[mean[1]], mode="markers", name="μ",
                             marker={"symbol": "x", "size": 12, "color": ROLE_COLORS["accent"]}), row=1, col=3)
    extent = max(3.5, float(np.abs(np.concatenate([ellipses[max(ellipses)], ellipses[max(ellipses)] - mean])).max()) * 1.05)
    for col in (1, 2, 3):
        fig.update_xaxes(range=[-extent, extent], row=1, col=col)
        fig.update_yaxes(range=[-extent, extent], row=1, col=col)
        _equal_axes(fig, 1, col, col)
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    return fig


# ----------------------------------------------------------------------------------
# 6. Mixture: ancestral sampling
# ----------------------------------------------------------------------------------


def ancestral_figure(weights: np.ndarray, uniforms: np.ndarray, components: np.ndarray, x: np.ndarray,
                     ellipses: list[np.ndarray], max_ticks: int = 120,
                     density: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> go.Figure:
    """Top: the cumulative-weight bar and where each uniform lands. Bottom: x coloured by its component,
    over the mixture's density p(x) = sum_k pi_k N(x | mu_k, Sigma_k) (``density`` = (xs, ys, p) on a grid)."""
    fig = make_subplots(rows=2, cols=1, row_heights=[0.16, 0.84], vertical_spacing=0.1,
                        subplot_titles=("1. k ~ Cat(π): u lands between prefix sums, c(k−1) ≤ u < c(k)",
                                        "2. x ~ N(μ(k), Σ(k)), coloured by k"))
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    for k, weight in enumerate(weights):
        fig.add_trace(go.Bar(x=[weight], y=["π"], base=[cumulative[k]], orientation="h", name=f"component {k + 1}",
                             marker={"color": component_color(k), "opacity": 0.45, "line": {"color": "white", "width": 2}},
                             legendgroup=str(k), showlegend=False), row=1, col=1)
    shown = slice(0, max_ticks)
    fig.add_trace(go.Scatter(x=uniforms[shown], y=["π"] * len(uniforms[shown]), mode="markers", name="uniforms u",
                             marker={"symbol": "line-ns-open", "size": 26, "line": {"width": 1.5},
                                     "color": [component_color(k) for k in components[shown]]}, showlegend=False),
                  row=1, col=1)
    gl = len(x) > 1000
    if density is not None:
        xs, ys, values = density
        fig.add_trace(go.Contour(x=xs, y=ys, z=values, colorscale="Greys", showscale=False, opacity=0.45,
                                 ncontours=12, contours={"coloring": "fill"}, line={"width": 0.5},
                                 name="p(x)", hoverinfo="skip"), row=2, col=1)
    for k in range(len(weights)):
        mine = components == k
        fig.add_trace((go.Scattergl if gl else go.Scatter)(
            x=x[mine, 0], y=x[mine, 1], mode="markers", name=f"k = {k + 1} (π = {weights[k]:.2f})",
            marker={"color": component_color(k), "size": 4, "opacity": 0.6}, legendgroup=str(k)), row=2, col=1)
        if k < len(ellipses):
            fig.add_trace(_curve(ellipses[k][:, 0], ellipses[k][:, 1], gl, showlegend=False,
                                 line={"color": "black", "width": 2.5, "dash": "dash"}, legendgroup=str(k)),
                          row=2, col=1)
    for k in range(1, len(weights)):
        fig.add_vline(x=cumulative[k], line_color="black", line_width=2, row=1, col=1)
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    fig.update_yaxes(showticklabels=False, row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", scaleratio=1, row=2, col=1)
    fig.update_layout(barmode="overlay", height=680, legend={"orientation": "h", "y": -0.08})
    return fig


# ----------------------------------------------------------------------------------
# 7. Rejection sampling
# ----------------------------------------------------------------------------------


def rejection_figure(grid: np.ndarray, density: np.ndarray, envelope: np.ndarray, x: np.ndarray,
                     height: np.ndarray, accepted: np.ndarray, accepted_histogram) -> go.Figure:
    """Top: proposals (x, u M q(x)) under the envelope, accepted below p. Bottom: the histogram of the
    accepted x on the plotted interval against p."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.07,
                        subplot_titles=("Proposals under the envelope M q(x)", "Accepted samples against p(x)"))
    shown = slice(0, 4000)
    xs, hs, acc = x[shown], height[shown], accepted[shown]
    gl = len(xs) > 1000
    fig.add_trace(scatter(xs[acc], hs[acc], role=ACCEPTED["color"], name="accepted", size=4,
                          marker={"symbol": ACCEPTED["symbol"]}), row=1, col=1)
    fig.add_trace(scatter(xs[~acc], hs[~acc], role=REJECTED["color"], name="rejected", size=5,
                          marker={"symbol": REJECTED["symbol"], "line": REJECTED["line"]}), row=1, col=1)
    fig.add_trace(_curve(grid, envelope, gl, name="envelope M q(x)",
                         line={"color": ROLE_COLORS["latent"], "width": 3, "dash": "dash"}), row=1, col=1)
    fig.add_trace(_curve(grid, density, gl, name="target p(x)", line={"color": ROLE_COLORS["truth"], "width": 3}),
                  row=1, col=1)
    fig.add_trace(density_bars(accepted_histogram, name="accepted x", color=ROLE_COLORS["data"], opacity=0.6,
                               showlegend=False), row=2, col=1)
    fig.add_trace(line(grid, density, role="truth", name="p(x)", showlegend=False), row=2, col=1)
    fig.update_xaxes(range=[grid[0], grid[-1]])
    fig.update_xaxes(title_text="x", row=2, col=1)
    fig.update_yaxes(title_text="height u·M q(x)", row=1, col=1)
    fig.update_layout(height=640, bargap=0, legend={"orientation": "h", "y": -0.12})
    return fig


# ----------------------------------------------------------------------------------
# 8. MCMC
# ----------------------------------------------------------------------------------


def mcmc_figure(axes: tuple[np.ndarray, np.ndarray], log_density: np.ndarray, path: np.ndarray,
                positions: np.ndarray, proposals: list[tuple[np.ndarray, bool]],
                histograms, marginals: tuple[np.ndarray, np.ndarray], show_energy: bool = True,
                trail: int = 200, last_start: np.ndarray | None = None,
                leapfrog: np.ndarray | None = None) -> go.Figure:
    """Energy contours with chain 1's recent path, its last proposals (circle = accepted, cross = rejected),
    an arrow from where chain 1 stood to its latest proposal (``last_start``), HMC's last leapfrog
    trajectory (``leapfrog``, L + 1 points from the start to the proposal),
    every chain's current position, and the marginal histograms of the kept samples (x1 then x2,
    ``playground.sampling.marginal_histograms``) against the truth.

    Axes are laid out by hand (main x/y, top marginal x/y2, right marginal x2/y): this figure is rebuilt
    on every animation tick and ``make_subplots`` costs more than everything else together.
    """
    ax, ay = axes
    values = -log_density if show_energy else np.exp(log_density)
    if show_energy:  # clip the energy far above the minimum so the modes' contours stay readable
        values = np.minimum(values, np.nanmin(values) + 12)
    data: list[dict] = [dict(
        type="contour", x=ax, y=ay, z=values, colorscale="Greys" if show_energy else "Blues", showscale=False,
        ncontours=18, opacity=0.55, contours={"coloring": "lines" if show_energy else "fill", "showlines": True},
        line={"width": 1}, name="energy E = −log p" if show_energy else "density p", hoverinfo="skip")]
    if len(positions) > 1:
        data.append(dict(type="scatter", x=positions[:, 0], y=positions[:, 1], mode="markers", name="all chains now",
                         marker={"color": ROLE_COLORS["samples"], "size": 5, "opacity": 0.7}))
    recent = path[-trail:]
    data.append(dict(type="scatter", x=recent[:, 0], y=recent[:, 1], mode="lines+markers", name="chain 1 path",
                     line={"color": ROLE_COLORS["data"], "width": 2}, marker={"size": 3}))
    for accepted_flag, name in ((True, "proposal accepted"), (False, "proposal rejected")):
        chosen = np.array([p for p, a in proposals if a == accepted_flag]).reshape(-1, 2)
        style = ACCEPTED if accepted_flag else REJECTED
        marker = {"symbol": style["symbol"], "size": 9 if accepted_flag else 11, "color": style["color"]}
        if not accepted_flag:
            marker["line"] = style["line"]
        data.append(dict(type="scatter", x=chosen[:, 0], y=chosen[:, 1], mode="markers", name=name, marker=marker))
    if leapfrog is not None and len(leapfrog) > 1:
        data.append(dict(type="scatter", x=leapfrog[:, 0], y=leapfrog[:, 1], mode="lines+markers",
                         name=f"last HMC trajectory ({len(leapfrog) - 1} leapfrog steps)",
                         line={"color": ROLE_COLORS["model"], "width": 2, "dash": "dot"}, marker={"size": 5}))
    if last_start is not None and proposals:
        target = proposals[-1][0]
        data.append(dict(type="scatter", x=[last_start[0], target[0]], y=[last_start[1], target[1]],
                         mode="lines+markers", name="last proposal", hoverinfo="skip",
                         line={"color": ROLE_COLORS["accent"], "width": 2},
                         marker={"symbol": "arrow", "angleref": "previous", "size": [0, 12],
                                 "color": ROLE_COLORS["accent"]}))
    data.append(dict(type="scatter", x=path[-1:, 0], y=path[-1:, 1], mode="markers", name="chain 1 now",
                     marker={"symbol": "star", "size": 16, "color": ROLE_COLORS["accent"],
                             "line": {"color": "black", "width": 1}}))
    for j, histogram in enumerate(histograms):
        edges, density = histogram.edges, histogram.density
        centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
        bar = {"x": centres, "y": density, "xaxis": "x", "yaxis": "y2"} if j == 0 else \
            {"y": centres, "x": density, "orientation": "h", "xaxis": "x2", "yaxis": "y"}
        data.append(dict(type="bar", **bar, width=widths, marker={"color": ROLE_COLORS["samples"], "line": {"width": 0}},
                         opacity=0.7, showlegend=False, name=f"x{j + 1} samples"))
    truth = {"color": ROLE_COLORS["truth"], "width": 2}
    data.append(dict(type="scatter", x=ax, y=marginals[0], xaxis="x", yaxis="y2", mode="lines", line=truth,
                     name="true marginal", showlegend=False))
    data.append(dict(type="scatter", x=marginals[1], y=ay, xaxis="x2", yaxis="y", mode="lines", line=truth,
                     name="true marginal", showlegend=False))
    layout = dict(
        xaxis={"domain": [0, 0.8], "range": [ax[0], ax[-1]], "title": {"text": "x1"}},
        yaxis={"domain": [0, 0.8], "range": [ay[0], ay[-1]], "title": {"text": "x2"}},
        xaxis2={"domain": [0.82, 1], "showticklabels": False},
        yaxis2={"domain": [0.82, 1], "showticklabels": False},
        height=700, bargap=0, legend={"orientation": "h", "y": -0.1}, uirevision="mcmc",
    )
    return go.Figure(data=data, layout=layout)


def trace_figure(path: np.ndarray, acceptance: np.ndarray) -> go.Figure:
    """Trace plot of chain 1 (x1, x2 against t) and the running acceptance rate (axes laid out by hand)."""
    t = np.arange(len(path))
    data = [
        dict(type="scatter", x=t, y=path[:, 0], mode="lines", name="x1", line={"color": ROLE_COLORS["data"]}),
        dict(type="scatter", x=t, y=path[:, 1], mode="lines", name="x2", line={"color": ROLE_COLORS["samples"]}),
        dict(type="scatter", x=np.arange(1, len(acceptance) + 1), y=acceptance, mode="lines", name="acceptance",
             xaxis="x2", yaxis="y2", line={"color": ROLE_COLORS["model"]}),
    ]
    layout = dict(
        xaxis={"domain": [0, 0.6], "title": {"text": "step"}},
        yaxis={"title": {"text": "chain 1"}},
        xaxis2={"domain": [0.72, 1], "title": {"text": "step"}, "anchor": "y2"},
        yaxis2={"range": [0, 1.02], "anchor": "x2", "title": {"text": "acceptance"}},
        height=300, legend={"orientation": "h", "y": -0.35},
    )
    return go.Figure(data=data, layout=layout)


def pvalue_histogram(pvalues: np.ndarray, level: float = 0.05) -> go.Figure:
    """The p-values of many seeds in 20 bins on [0, 1], against the flat line a right generator gives;
    the bins below ``level`` in the accent colour."""
    counts, edges = np.histogram(pvalues, bins=20, range=(0.0, 1.0))
    centres = 0.5 * (edges[1:] + edges[:-1])
    colors = [ROLE_COLORS["accent"] if c < level else ROLE_COLORS["data"] for c in centres]
    fig = go.Figure(go.Bar(x=centres, y=counts, width=np.diff(edges), marker={"color": colors}, name="seeds"))
    fig.add_hline(y=len(pvalues) / 20, line={"color": ROLE_COLORS["model"], "dash": "dash"},
                  annotation_text="uniform: what a right generator gives", annotation_position="top right")
    fig.update_layout(title=f"KS p-values of {len(pvalues)} seeds ({np.mean(pvalues < level):.0%} below {level})",
                      xaxis_title="p-value", yaxis_title="seeds", showlegend=False, bargap=0)
    return fig
