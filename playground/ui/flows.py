"""Sections of the flow-warping page: widgets -> playground.flows -> figures."""

from __future__ import annotations

import numpy as np
import streamlit as st

from playground.data import fingerprint
from playground.figures.flows import (
    change_of_variables_figure,
    density_heatmap_figure,
    flow_1d_fit_figure,
    log_det_figure,
    nll_curve_figure,
    position_colors,
    warping_figure,
)
from playground.flow_layers import MonotoneTanh
from playground.flows import (
    FLOW_KINDS,
    layer_jacobian,
    FlowTrainer,
    change_of_variables_1d,
    likelihood_terms,
    make_trainer,
    view_1d,
    view_2d,
)
from playground.seeding import derive_seed
from playground.smoothing import running_mean
from playground.targets import SampleOnlyError, Target
from playground.ui.controls import dataset_picker, formula_panel, per_snapshot, stepper_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext

TRAIN_POINTS = 2000  # training sample drawn from a registry target
VIEW_POINTS = 400  # points pushed through the layers in the warping view
LEARNING_RATES = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
MIN_ROWS = 20


def _data_for(target: Target, seed: int, limit: int = TRAIN_POINTS) -> np.ndarray:
    """The training data: a seeded sample of a registry target, or (up to ``limit``) rows of a CSV."""
    data = getattr(target, "data", None)
    if data is not None and len(data) <= limit:
        return np.asarray(data, dtype=np.float64)
    return target.sample(limit, seed=derive_seed(seed, "flow-data", target.name))




def _enough_rows(data: np.ndarray) -> bool:
    """Too few rows: an error and no training. A constant column: a warning (the density degenerates)."""
    if len(data) < MIN_ROWS:
        st.error(f"Only {len(data)} data rows: a flow needs at least {MIN_ROWS} to be trained. "
                 "Pick another dataset or upload more rows.")
        return False
    spread = data.std(axis=0)
    if np.any(spread <= 1e-9 * (1.0 + np.abs(data).max(axis=0))):
        st.warning("A column of the data is constant: the data has no density in this dimension, so the "
                   "flow can only keep squeezing it (the likelihood grows without bound).")
    return True


# ----------------------------------------------------------------------------------
# 1 · The change of variables in 1D
# ----------------------------------------------------------------------------------

def change_of_variables_section(page: PageContext) -> None:
    """Shape a monotone map F and watch the induced density p(x) = q(F(x)) |F'(x)|."""
    controls, main = page.split()
    columns = [controls] * 5 if page.projection else controls.columns(5)
    with columns[0]:
        slope = linked(st.slider, "Slope a", key="a", default=0.5, min_value=0.1, max_value=3.0, step=0.05,
                       help="The ramp a·x: a small slope stretches x-space, spreading the density out.")
    with columns[1]:
        height = linked(st.slider, "Step height w", key="w", default=1.5, min_value=0.0, max_value=4.0, step=0.1,
                        help="How much z-mass the step squeezes into a short x-interval: a bump in p(x).")
    with columns[2]:
        center = linked(st.slider, "Step centre c", key="c", default=1.0, min_value=-3.0, max_value=3.0, step=0.1)
    with columns[3]:
        width = linked(st.slider, "Step width s", key="s", default=0.5, min_value=0.1, max_value=2.0, step=0.05,
                       help="A narrow step is steep: |F'| is large there, so the density is tall and thin.")
    with columns[4]:
        probe = linked(st.slider, "Probe x₀", key="x0", default=1.0, min_value=-5.0, max_value=5.0, step=0.1)

    layer = MonotoneTanh.from_values(slope, 0.0, heights=[height], centers=[center], widths=[width])
    x = np.linspace(-6.0, 6.0, 601)
    view = change_of_variables_1d(layer, x)
    at_probe = change_of_variables_1d(layer, np.array([probe]))
    figure_column, formula_column = (main, controls) if page.projection else st.columns([1.7, 1])
    with figure_column:
        page.show(change_of_variables_figure(view["x"], view["z"], view["base_density"], view["derivative"],
                                             view["density"], probe, z_axis=view["z_axis"], q_axis=view["q_axis"],
                                             probe={k: float(at_probe[k][0]) for k in ("z", "base_density", "density")}),
                  key="cov_fig", main=True)
    with formula_column:
        values = {name: float(at_probe[name][0]) for name in ("z", "derivative", "base_density", "density")}
        formula_panel(
            r"p(x_0) = \underbrace{%.3f}_{q(F(x_0))} \times \underbrace{%.3f}_{|F'(x_0)|} = %.3f"
            % (values["base_density"], values["derivative"], values["density"]),
            {"F(x₀)": values["z"], "∫ p(x) dx": float(np.trapezoid(view["density"], view["x"]))},
            title=r"Change of variables, F(x) = a·x + w·tanh((x − c)/s)",
            try_next="make the step narrow (s → 0.1): F gets steep there, |F′| is large and the density "
                     "piles up; then set w = 0: F is a straight line and p(x) is just a rescaled Gaussian.",
        )


# ----------------------------------------------------------------------------------
# 2 · A 1D flow trained by maximum likelihood
# ----------------------------------------------------------------------------------

def flow_1d_section(page: PageContext) -> None:
    """Fit a monotone 1D flow to a 1D target or CSV column by maximum likelihood."""
    controls, main = page.split()
    picker_column, steps_column = (controls, controls) if page.projection else controls.columns([2, 1])
    with picker_column:
        target = dataset_picker("d1", dims=(1,), default="three_bumps", label="1D data")
    with steps_column:
        num_steps = linked(st.slider, "Steps K in F", key="k1", default=8, min_value=1, max_value=16,
                           help="F(x) = a x + b + Σₖ wₖ tanh((x − cₖ)/sₖ): each step can make one bump.")
    data = _data_for(target, page.seed)
    if not _enough_rows(data):
        return
    config = ("flow1d", target.label, fingerprint(data), num_steps, page.seed)

    def factory() -> FlowTrainer:
        return make_trainer("monotone", data, num_layers=1, num_steps=num_steps, learning_rate=2e-2,
                            batch_size=256, seed=page.seed)

    low, high = target.bounds[0]

    def picture(trainer: FlowTrainer):
        view = view_1d(trainer.flow, (low, high))
        return page.themed(flow_1d_fit_figure(view.x, view.density, view.z, data, _true_density(target, view.x)),
                           height=430, main=True)

    def numbers(trainer: FlowTrainer) -> tuple:
        return likelihood_terms(trainer.flow, data), view_1d(trainer.flow, (low, high))

    def render(trainer: FlowTrainer) -> None:  # figures and numbers rebuilt only when this flow moved
        figure_column, formula_column = (st.container(), formula_slot) if page.projection else st.columns([1.7, 1])
        with figure_column:
            page.show(per_snapshot(trainer, "fit1d", lambda: picture(trainer), page.projection), key="fit1d_fig",
                      main=True)
        with formula_column:
            (log_base, log_derivative), view = per_snapshot(trainer, "numbers1d", lambda: numbers(trainer))
            values = {"mass in view": float(np.trapezoid(view.density, view.x))}
            if _true_density(target, view.x) is not None:
                values["NLL of the truth"] = float(-np.mean(target.log_prob(data)))
            formula_panel(
                r"\underbrace{%.3f}_{\mathrm{NLL}} = -\Big(\underbrace{%.3f}_{\overline{\log q(F(x_i))}}"
                r" + \underbrace{%.3f}_{\overline{\log F'(x_i)}}\Big)"
                % (-(log_base + log_derivative), log_base, log_derivative),
                values, title="Maximum likelihood (nats)",
                try_next="compare K = 1 with K = 8 on the three bumps: one step makes one bump.")
        page.show(_nll_figure(trainer.metric("nll")), key="nll1d_fig", height=260)

    with controls:
        formula_slot = st.container()  # projected, the formula sits under the controls
    with main:
        stepper_panel("flow1d", factory, config, render, steps_per_tick=20, max_steps_per_tick=100, interval=0.5,
                      max_iterations=3000, picture=picture)


def _true_density(target: Target, x: np.ndarray) -> np.ndarray | None:
    try:
        return np.exp(target.log_prob(x[:, None]))
    except SampleOnlyError:
        return None


# ----------------------------------------------------------------------------------
# 3 · 2D flows: NICE and Real-NVP, trained live, warping shown layer by layer
# ----------------------------------------------------------------------------------

def flow_2d_controls(stacked: bool = False) -> dict:
    """The model, data-independent controls of the 2D flow (``stacked``: one under the other)."""
    columns = [st.container()] * 4 if stacked else st.columns([1.4, 1, 1, 1.2])
    with columns[0]:
        kind = linked(st.radio, "Coupling", key="kind", default="realnvp", options=list(FLOW_KINDS),
                      format_func=FLOW_KINDS.get, horizontal=True)
    with columns[1]:
        num_layers = linked(st.slider, "Coupling layers", key="L", default=6, min_value=1, max_value=12)
    with columns[2]:
        hidden = linked(st.select_slider, "Hidden width", key="h", default=32, options=[8, 16, 32, 64, 128])
    with columns[3]:
        learning_rate = linked(st.select_slider, "Learning rate", key="lr", default=1e-2, options=LEARNING_RATES,
                               help="Very large rates make Real-NVP's exponential scales blow up: the "
                                    "stepper stops and keeps the last good state.")
    bounded = kind == "nice" or linked(
        st.toggle, "Soft-bound Real-NVP scales (u = 3 tanh(u/3))", key="bound", default=True,
        help="Off: the raw exp(u) of the paper, which can overflow with a large learning rate.")
    return {"kind": kind, "num_layers": num_layers, "hidden": hidden, "learning_rate": learning_rate,
            "scale_bound": 3.0 if bounded else None}


def flow_2d_section(page: PageContext) -> None:
    """Train NICE / Real-NVP on 2D data and show the warping, density and log-determinants."""
    controls, main = page.split()
    with controls:
        model = flow_2d_controls(stacked=page.projection)
        target = dataset_picker("d2", dims=(2,), default="moons", label="2D data")
    data = _data_for(target, page.seed)
    if not _enough_rows(data):
        return
    stages = model["num_layers"] + 1  # the data-side scale layer, then the couplings
    view_columns = [controls, controls] if page.projection else controls.columns([1.2, 2])
    with view_columns[0]:
        direction = linked(st.radio, "Direction", key="dir", default="generative",
                           options=["generative", "normalizing"], horizontal=True,
                           format_func={"generative": "generative z → x", "normalizing": "normalizing x → z"}.get)
    with view_columns[1]:
        if st.session_state.get("layer", 0) > stages:
            st.session_state["layer"] = stages
        layer = linked(st.slider, "Layers applied", key="layer", default=stages, min_value=0, max_value=stages,
                       help="0 = the starting cloud; each step applies one more layer (▶ in the figure animates).")
    config = ("flow2d", tuple(sorted(model.items())), target.label, fingerprint(data), page.seed)

    def factory() -> FlowTrainer:
        return make_trainer(model["kind"], data, num_layers=model["num_layers"], hidden=model["hidden"],
                            learning_rate=model["learning_rate"], batch_size=256, seed=page.seed,
                            scale_bound=model["scale_bound"])

    def render(trainer: FlowTrainer) -> None:
        _render_2d(page, trainer, data, target, direction, layer)

    def picture(trainer: FlowTrainer):
        return _warp_figure(page, trainer, data, target, direction, layer)

    with main:  # Play draws the warping in the browser; the density and numbers follow once per chunk
        stepper_panel("flow2d", factory, config, render, steps_per_tick=10, max_steps_per_tick=60, interval=0.6,
                      max_iterations=5000, picture=picture)


def _stage_labels(labels: list[str], direction: str) -> list[str]:
    """Figure titles of stages 0..S: which layer was applied last, and how far along the flow is."""
    total = len(labels)
    if direction == "generative":
        names = [f"after {labels[total - k]} {total - k + 1}⁻¹" for k in range(1, total)]
        names = ["z ~ N(0, I)"] + names + ["x = F⁻¹(z)"]
    else:
        names = ["data x"] + [f"after {labels[k - 1]} {k}" for k in range(1, total)] + ["z = F(x)"]
    return [f"{name}  ({k} of {total} layers)" for k, name in enumerate(names)]


def _view_2d(page: PageContext, trainer: FlowTrainer, data: np.ndarray, target: Target):
    """The 2D view of the flow as it is now (computed once per training step, shared by its figures)."""
    return per_snapshot(trainer, "view2d", lambda: view_2d(trainer.flow, data[:VIEW_POINTS], target.bounds,
                                                           seed=page.seed, n_samples=VIEW_POINTS))


def _warp_figure(page: PageContext, trainer: FlowTrainer, data: np.ndarray, target: Target, direction: str,
                 layer: int):
    """The main picture: the points and the grid after ``layer`` layers, themed (Play draws it in the browser)."""
    view = _view_2d(page, trainer, data, target)
    if direction == "generative":
        points, grid = view.generative_points, view.generative_grid
    else:
        points, grid = view.normalizing_points, view.normalizing_grid
    labels = _stage_labels(view.layer_labels, direction)
    base_stage = 0 if direction == "generative" else len(points) - 1  # where the points are z ~ N(0, I)
    return per_snapshot(trainer, "warp2d", lambda: page.themed(warping_figure(
        points, grid, position_colors(points[0]), labels, layer, base_stage=base_stage), main=True),
        direction, layer, page.projection)


def _render_2d(page: PageContext, trainer: FlowTrainer, data: np.ndarray, target: Target, direction: str,
               layer: int) -> None:
    view_data = data[:VIEW_POINTS]
    view = _view_2d(page, trainer, data, target)
    warp_column, density_column = st.columns(2)
    with warp_column:
        page.show(_warp_figure(page, trainer, data, target, direction, layer), key="warp_fig", main=True)
    with density_column:
        def heat():
            figure = density_heatmap_figure(view.density_axes, view.density, view_data)
            # short enough for a projected half column at 1280x720; the formula panel below says how (change of variables)
            figure.update_layout(title="model density p(x)")
            return page.themed(figure, main=True)

        page.show(per_snapshot(trainer, "density2d", heat, page.projection), key="density_fig", main=True)
    bars_column, formula_column = st.columns([1.3, 1])
    with bars_column:
        page.show(log_det_figure(view.layer_labels, view.layer_log_dets), key="logdet_fig")
    with formula_column:
        formula_panel(
            r"\underbrace{%.3f}_{\text{mean}\,\log p(x)} = \underbrace{%.3f}_{\log q(F(x))}"
            r" + \underbrace{%.3f}_{\sum_l \log|\det J_l|}"
            % (view.mean_log_likelihood, view.mean_log_base, float(view.layer_log_dets.sum())),
            {"max |F⁻¹(F(x)) − x|": view.inverse_error, "max |F(F⁻¹(z)) − z|": view.forward_error,
             "mass in view": view.mass_in_view},
            title="Change of variables, averaged over the data",
            try_next="switch to NICE: every coupling bar is exactly 0 (volume preserving), only the "
                     "scale layer changes volume; then compare the densities both reach.")
    jacobian_panel(trainer, target)
    page.show(_nll_figure(trainer.metric("nll")), key="nll2d_fig", height=260)


def _matrix_tex(matrix: np.ndarray) -> str:
    rows = r" \\ ".join(" & ".join(f"{v:.3f}" for v in row) for row in matrix)
    return r"\begin{pmatrix}" + rows + r"\end{pmatrix}"


def jacobian_panel(trainer: FlowTrainer, target: Target) -> None:
    """One layer's 2x2 Jacobian (autograd) at a probe point: which coordinate it keeps, why its
    matrix is triangular, and its log|det| against the layer's own."""
    layers = len(trainer.flow.layers)
    (x_low, x_high), (y_low, y_high) = target.bounds
    with st.expander("One layer's Jacobian at a probe point", expanded=False):
        left, right = st.columns([1, 1.4])
        with left:
            number = linked(st.slider, "Layer", key="jl", default=min(2, layers), min_value=1, max_value=layers,
                            help="Layer 1 is the scale layer; the couplings follow.")
            px = linked(st.slider, "probe x₁", key="jx", default=round((x_low + x_high) / 2, 1),
                        min_value=float(x_low), max_value=float(x_high), step=0.1)
            py = linked(st.slider, "probe x₂", key="jy", default=round((y_low + y_high) / 2, 1),
                        min_value=float(y_low), max_value=float(y_high), step=0.1)
        jac = layer_jacobian(trainer.flow, number - 1, np.array([px, py]))
        kept = (f"keeps x_{jac.kept[0] + 1} and changes x_{2 - jac.kept[0]}: row {jac.kept[0] + 1} is the "
                "identity's, so the matrix is triangular and det J is the product of the diagonal"
                if jac.kept else "scales each coordinate: the matrix is diagonal")
        with right:
            formula_panel(r"J_{%d}(x) = \frac{\partial f_{%d}}{\partial x} = %s" % (number, number, _matrix_tex(jac.matrix)),
                          {"log|det J| (autograd)": float(np.log(abs(np.linalg.det(jac.matrix)))),
                           "log|det J| (the layer's)": jac.log_det,
                           "input x₁": float(jac.point[0]), "input x₂": float(jac.point[1])},
                          title=f"Layer {number} ({jac.label}) {kept}",
                          try_next="pick a NICE coupling: its diagonal is (1, 1) and log|det J| = 0 everywhere; a "
                                   "Real-NVP coupling's changed diagonal entry is e^{−u(x_A)}.")


def _nll_figure(nll: np.ndarray):
    """The training curve with its running mean (computed here, drawn by the figure)."""
    return nll_curve_figure(nll, running=running_mean(nll) if len(nll) else None)
