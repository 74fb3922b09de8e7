"""Streamlit pieces of the EM step-through page: controls, the half-step views, EM vs
gradient descent, and the failure-mode presets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from playground.data import EmpiricalTarget, fingerprint
from playground.em import FAILURE_PRESETS, MANUAL_INIT, EMStepper, GradientDescentFitter, HalfStep, run_restarts
from playground.figures.mixture import (em_vs_gd_figure, log_likelihood_figure, mixture_1d_figure, mixture_2d_figure,
                                        responsibility_bar_figure, restarts_figure)
from playground.mixture import COVARIANCE_TYPES, mixture_curves_1d
from playground.seeding import derive_seed
from playground.stepper import lock_for
from playground.ui import deeplink
from playground.ui.controls import dataset_picker, formula_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext

STEPPER_KEY = "em_run"
FREE = "free"
INIT_LABELS = {"kmeans": "k-means (labels → one M-step)", "k-means++": "k-means++ points",
               "random_from_data": "random data points", "random": "random responsibilities",
               MANUAL_INIT: "manual means"}
REG_CHOICES = [0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1]
MAX_POINTS = 2000


@dataclass(frozen=True)
class EMConfig:
    """Everything that defines a run; a change rebuilds the stepper."""

    data_key: str
    n_components: int
    covariance_type: str
    init: str
    reg_covar: float
    page_seed: int
    init_seed: int
    means_text: str

    @property
    def seed(self) -> int:
        """The initialisation's seed: one stream per (page seed, initialisation seed)."""
        return init_seed_for(self.page_seed, self.init_seed)


def init_seed_for(page_seed: int, init_seed: int) -> int:
    return derive_seed(page_seed, "em-init", init_seed)


# ----------------------------------------------------------------------------------
# Controls
# ----------------------------------------------------------------------------------

def _apply_preset() -> None:
    """Scenario callback: write the preset's settings into the widgets' state."""
    preset = FAILURE_PRESETS.get(st.session_state.get("scn", FREE))
    if preset is None:
        return
    means = "; ".join(", ".join(f"{v:g}" for v in mean) for mean in preset.means) if preset.means else ""
    st.session_state.update({"data": preset.target, "n": preset.n_points, "k": preset.n_components,
                             "cov": preset.covariance_type, "init": preset.init, "reg": preset.reg_covar,
                             "outlier": bool(preset.extra_points), "means": means, "iseed": 0})


def scenario_picker() -> str:
    """Free play or one of the failure presets, with its one-line 'what to watch'."""
    labels = {FREE: "Free play", **{key: f"Failure: {p.label}" for key, p in FAILURE_PRESETS.items()}}
    scenario = linked(st.selectbox, "Scenario", key="scn", default=FREE, options=list(labels),
                      format_func=labels.get, on_change=_apply_preset,
                      help="A preset sets data, K, initialisation and reg_covar in one click.")
    if scenario in FAILURE_PRESETS:
        st.info(f"**What to watch:** {FAILURE_PRESETS[scenario].watch}", icon=":material/visibility:")
    return scenario


def outlier_point(bounds: tuple[tuple[float, float], ...]) -> np.ndarray:
    """One far point, right of the plotting box (x = 8 for 'three bumps')."""
    (x_low, x_high), *rest = bounds
    point = [x_high + (x_high - x_low) / 6]
    if rest:
        (y_low, y_high), = rest
        point.append((y_low + y_high) / 2)
    return np.array([point])


def data_controls(seed: int) -> tuple[np.ndarray, str, tuple[float, float] | None]:
    """Pick the data: registry target or CSV, size, optional outlier. Returns (X, key, x-range)."""
    target = dataset_picker("data", dims=(1, 2), default="three_bumps")
    if isinstance(target, EmpiricalTarget):
        X = target.data[:MAX_POINTS]
        if len(target.data) > MAX_POINTS:
            st.caption(f"Using the first {MAX_POINTS:,} of {len(target.data):,} rows.")
        key = "csv:" + fingerprint(X)
    else:
        n = linked(st.slider, "Number of points N", key="n", default=400, min_value=20, max_value=MAX_POINTS, step=10)
        X = target.sample(n, derive_seed(seed, "em-data", target.name))
        key = f"{target.name}:{n}"
    add_outlier = linked(st.toggle, "Add one far outlier", key="outlier", default=False,
                         help="A lone point a component can collapse onto.")
    if add_outlier:
        X = np.concatenate([X, outlier_point(target.bounds)])
        key += ":outlier"
    x_range = None
    if X.shape[1] == 1:
        low, high = float(X.min()), float(X.max())
        pad = 0.08 * (high - low + 1e-9)
        x_range = (low - pad, high + pad)
    return X, key, x_range


def parse_means(text: str, X: np.ndarray, n_components: int) -> np.ndarray:
    """Means typed as 'x; x' (1D) or 'x, y; x, y' (2D), or '#i' for data point i. Raises ValueError."""
    entries = [entry.strip() for entry in text.replace("\n", ";").split(";") if entry.strip()]
    if len(entries) != n_components:
        raise ValueError(f"type {n_components} means separated by ';' (got {len(entries)})")
    means = []
    for entry in entries:
        if entry.startswith("#"):
            index = int(entry[1:])
            if not 0 <= index < len(X):
                raise ValueError(f"point {entry} does not exist (0 to {len(X) - 1})")
            means.append(X[index])
            continue
        values = [float(v) for v in entry.replace(",", " ").split()]
        if len(values) != X.shape[1]:
            raise ValueError(f"'{entry}' needs {X.shape[1]} number(s)")
        means.append(values)
    means = np.asarray(means, dtype=np.float64)
    if not np.isfinite(means).all():
        raise ValueError("means must be finite numbers")
    return means


def model_controls(X: np.ndarray) -> tuple[int, str, str, float, int, str]:
    """K, covariance type, initialisation (with seed or typed means), reg_covar."""
    n_components = linked(st.slider, "Components K", key="k", default=3, min_value=1, max_value=10)
    covariance_type = linked(st.selectbox, "Covariance type", key="cov", default="full", options=list(COVARIANCE_TYPES))
    init = linked(st.selectbox, "Initialisation", key="init", default="k-means++", options=list(INIT_LABELS),
                  format_func=INIT_LABELS.get)
    init_seed = linked(st.number_input, "Initialisation seed", key="iseed", default=0, min_value=0, max_value=999,
                       step=1, help="Different seeds, different starts: EM finds a local optimum near its start.")
    means_text = ""
    if init == MANUAL_INIT:
        example = "; ".join(["0"] * n_components) if X.shape[1] == 1 else "; ".join(["0, 0"] * n_components)
        means_text = linked(st.text_input, "Initial means (';' between means, '#12' = data point 12)", key="means",
                            default=example)
    reg_covar = linked(st.select_slider, "reg_covar (ε added to every variance)", key="reg", default=1e-6,
                       options=REG_CHOICES, format_func=lambda v: "0" if v == 0 else f"{v:g}")
    return n_components, covariance_type, init, reg_covar, init_seed, means_text


def build_stepper(X: np.ndarray, config: EMConfig) -> EMStepper:
    """The stepper for a configuration (the factory handed to ``stepper_panel``)."""
    means = parse_means(config.means_text, X, config.n_components) if config.init == MANUAL_INIT else None
    return EMStepper.start(X, config.n_components, covariance_type=config.covariance_type, init=config.init,
                           reg_covar=config.reg_covar, seed=config.seed, means=means)


EM_TOLERANCE = 1e-6  # nats per point: scikit-learn's default tol is 1e-3 on the same mean log-likelihood


def em_converged(stepper: EMStepper) -> str | None:
    """Play stops when an iteration raised the mean log-likelihood by less than ``EM_TOLERANCE``."""
    if not stepper.history or stepper.history[-1]["improvement"] >= EM_TOLERANCE:
        return None
    return (f"Converged after {stepper.iteration} iterations: the last one raised the mean log-likelihood by "
            f"{stepper.history[-1]['improvement']:.1e} nats (< {EM_TOLERANCE:g}). Play stopped; Step goes on.")


def half_step_buttons(compact: bool = False) -> None:
    """E-step and M-step buttons acting on the stepper of the previous run (callbacks run first).
    ``compact``: side by side with short labels, the note under them (a narrow column)."""
    def run(kind: str) -> None:
        stepper = st.session_state.get(STEPPER_KEY)
        if stepper is not None:
            with lock_for(stepper):
                stepper.e_step() if kind == "E" else stepper.m_step()
            st.session_state[f"{STEPPER_KEY}__playing"] = False

    stepper = st.session_state.get(STEPPER_KEY)
    upcoming = stepper.next_half_step if stepper is not None else "E"
    left, right, note = (*st.columns(2), st.container()) if compact else st.columns([1, 1, 2.3])
    left.button("E-step" if compact else "E-step (responsibilities)", key="em_e", on_click=run, args=("E",),
                width="stretch", type="primary" if upcoming == "E" else "secondary",
                help="Responsibilities: which component explains each point.")
    right.button("M-step" if compact else "M-step (parameters)", key="em_m", on_click=run, args=("M",),
                 width="stretch", type="primary" if upcoming == "M" else "secondary",
                 help="Parameters: refit each component to its weighted points.")
    note.caption(f"Next half-step: **{upcoming}**. *Full step* below does the rest of one iteration; "
                 "pressing E twice changes nothing (q is already the posterior).")


# ----------------------------------------------------------------------------------
# The views of one half-step
# ----------------------------------------------------------------------------------

def frame_slider(stepper: EMStepper) -> int:
    """History slider over every half-step computed so far; follows the newest unless scrubbed back."""
    count = len(stepper.half_steps)
    state = st.session_state
    linked_frame = st.query_params.get("em_frame")
    if "em__frames_seen" not in state and linked_frame is not None:  # a link opened at a past half-step
        state["em__frames_seen"] = count
        state["em_frame"] = int(linked_frame) if linked_frame.isdigit() and int(linked_frame) < count else count - 1
    if state.get("em__frames_seen") != count or "em_frame" not in state or state["em_frame"] >= count:
        state["em_frame"] = count - 1
        state["em__frames_seen"] = count
    deeplink.drawn("em_frame")
    if count < 2:
        st.caption("History: only the start so far. Take a half-step.")
        return 0
    labels = {i: _frame_label(frame) for i, frame in enumerate(stepper.half_steps)}
    index = st.select_slider("History (scrub back through every half-step)", options=list(range(count)),
                             key="em_frame", format_func=labels.get)
    # The link keeps a scrubbed-back position (the newest half-step is the default, left out).
    wanted = None if index == count - 1 else str(index)
    if st.query_params.get("em_frame") != wanted:
        if wanted is None:
            del st.query_params["em_frame"]
        else:
            st.query_params["em_frame"] = wanted
    return index


def _frame_label(frame: HalfStep) -> str:
    if frame.kind == "init":
        return "start"
    return f"{frame.iteration + (1 if frame.kind == 'E' else 0)}{frame.kind}"


def _previous_frame(stepper: EMStepper, index: int) -> HalfStep | None:
    return stepper.half_steps[index - 1] if index > 0 else None


def main_figure(X: np.ndarray, frame: HalfStep, point: int, x_range, title: str):
    if X.shape[1] == 1:
        curves_1d = mixture_curves_1d(X, frame.weights, frame.means, frame.covariances, x_range=x_range)
        return mixture_1d_figure(X, curves_1d, frame.responsibilities, selected=point, title=title)
    return mixture_2d_figure(X, frame.weights, frame.means, frame.covariances, frame.responsibilities,
                             selected=point, title=title)


def _vector(values: np.ndarray) -> str:
    values = np.atleast_1d(values)
    return f"{values[0]:.3g}" if values.size == 1 else "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def _matrix_latex(matrix: np.ndarray) -> str:
    if matrix.shape == (1, 1):
        return f"{matrix[0, 0]:.3g}"
    rows = r" \\ ".join(" & ".join(f"{v:.3g}" for v in row) for row in matrix)
    return r"\begin{pmatrix}" + rows + r"\end{pmatrix}"


def half_step_formula(X: np.ndarray, frame: HalfStep, point: int, component: int) -> None:
    """The formula of the half-step on show, with its current numbers."""
    n_points = len(X)
    k = min(component, len(frame.weights) - 1)
    if frame.kind == "init" or frame.responsibilities is None:
        formula_panel(r"p(x) = \sum_{k=1}^{K} \alpha_k\, \mathcal N(x \mid \mu_k, \Sigma_k)",
                      {"N": n_points, "K": len(frame.weights), "mean log p(x)": frame.log_likelihood},
                      title="Start: a mixture, before any E-step",
                      try_next="press E-step and watch every point take the colours of the components that explain it.")
        return
    gamma = frame.responsibilities[point]
    if frame.kind == "E":
        formula_panel(
            r"\begin{gathered}\gamma_{nk} = \frac{\alpha_k\,\mathcal N(x_n\mid\mu_k,\Sigma_k)}"
            r"{\sum_j \alpha_j\,\mathcal N(x_n\mid\mu_j,\Sigma_j)} \\[4pt]"
            r"= \operatorname{softmax}_k\big(\log\alpha_k + \log\mathcal N(x_n\mid\mu_k,\Sigma_k)\big)"
            + rf"\\[4pt] \gamma_{{{point},{k + 1}}} = {gamma[k]:.4f}\end{{gathered}}",
            {f"γ(#{point}, {j + 1})": float(gamma[j]) for j in range(min(len(gamma), 4))},
            title=f"E-step {frame.iteration + 1}: responsibilities (parameters fixed)",
            try_next="press M-step: each component moves to the weighted mean of the points it is responsible for.")
        return
    nk = frame.responsibilities[:, k].astype(np.float64).sum()
    j = k + 1
    formula_panel(
        r"\begin{gathered}"
        + rf"N_{{{j}}} = \textstyle\sum_n \gamma_{{n{j}}} = {nk:.2f} \\[3pt]"
        + rf"\alpha_{{{j}}} = \frac{{N_{{{j}}}}}{{N}} = \frac{{{nk:.2f}}}{{{n_points}}} = {frame.weights[k]:.3f} \\[3pt]"
        + rf"\mu_{{{j}}} = \tfrac{{1}}{{N_{{{j}}}}}\textstyle\sum_n \gamma_{{n{j}}} x_n = {_vector(frame.means[k])} \\[3pt]"
        + rf"\Sigma_{{{j}}} = \tfrac{{1}}{{N_{{{j}}}}}\textstyle\sum_n \gamma_{{n{j}}}(x_n-\mu_{{{j}}})(x_n-\mu_{{{j}}})^\top"
          r" + \varepsilon I \\[3pt]"
        + rf"= {_matrix_latex(frame.covariances[k])}"
        + r"\end{gathered}",
        {f"N_{j}": float(nk), f"α_{j}": float(frame.weights[k]), "log-lik.": frame.log_likelihood,
         "ELBO": frame.lower_bound},
        title=f"M-step {frame.iteration}: weighted maximum likelihood (responsibilities fixed)",
        try_next="pick another Component k; press E-step to recompute who is responsible for what.")


def _change(value: float) -> str:
    return "0" if value == 0 else f"{value:+.1e}"


def parameter_table(frame: HalfStep, previous: HalfStep | None) -> pd.DataFrame:
    """alpha, mu, Sigma per component and what the last half-step changed."""
    rows = []
    for k in range(len(frame.weights)):
        row = {"k": k + 1, "α": f"{frame.weights[k]:.3f}", "μ": _vector(frame.means[k]),
               "Σ": _vector(frame.covariances[k].ravel()) if frame.covariances.shape[-1] > 1
               else f"{frame.covariances[k, 0, 0]:.4g}"}
        if previous is not None:
            row["Δα"] = _change(frame.weights[k] - previous.weights[k])
            row["|Δμ|"] = _change(np.linalg.norm(frame.means[k] - previous.means[k]))
            row["|ΔΣ|"] = _change(np.linalg.norm(frame.covariances[k] - previous.covariances[k]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("k")


def selection_controls(n_points: int, n_components: int) -> tuple[int, int]:
    """Which point's responsibilities and which component's M-step numbers to show."""
    for key, largest in (("pt", n_points - 1), ("comp", n_components)):  # keep old choices valid if N or K shrink
        if key in st.session_state and st.session_state[key] > largest:
            st.session_state[key] = largest
    left, right = st.columns(2)
    point = linked(left.number_input, "Point #", key="pt", default=0, min_value=0, max_value=n_points - 1, step=1,
                   help="The point whose responsibilities the bar chart shows (ringed in the picture).")
    component = linked(right.number_input, "Component k", key="comp", default=1, min_value=1,
                       max_value=n_components, step=1, help="The component whose M-step numbers the formula shows.")
    return int(point), int(component) - 1


HALF_STEP_TITLES = {"init": "Start", "E": "After the E-step: colours = responsibilities",
                    "M": "After the M-step: components moved"}


def em_picture(page: PageContext, X: np.ndarray, stepper: EMStepper, x_range):
    """The main picture at the newest half-step (what Play animates in the browser)."""
    frame = stepper.half_steps[-1]
    point = min(int(st.session_state.get("pt", 0)), len(X) - 1)
    return page.themed(main_figure(X, frame, point, x_range, HALF_STEP_TITLES[frame.kind]), main=True)


def render_views(page: PageContext, X: np.ndarray, stepper: EMStepper, x_range) -> None:
    """Everything drawn from the half-step on show (called inside the stepper panel's fragment)."""
    picture = st.container()  # the picture first, right under the buttons; the history scrubber under it
    index = frame_slider(stepper)
    frame = stepper.half_steps[index]
    previous = _previous_frame(stepper, index)
    title = HALF_STEP_TITLES[frame.kind]
    side = st.container()
    with side:
        point, component = selection_controls(len(X), len(frame.weights))
    with picture:
        page.show(main_figure, X, frame, point, x_range, title, key="em_main", main=True)
    with side:
        half_step_formula(X, frame, point, component)
        if frame.responsibilities is not None:
            page.show(responsibility_bar_figure, frame.responsibilities[point], point, key="em_bar", height=300)
    frames = stepper.half_steps
    page.show(log_likelihood_figure, [f.kind for f in frames], [f.log_likelihood for f in frames],
              [f.lower_bound for f in frames], current=index, key="em_ll")
    with st.container():
        st.markdown("**Parameters** (changes made by this half-step)")
        st.dataframe(parameter_table(frame, previous), width="stretch")
        change = frame.log_likelihood - previous.log_likelihood if previous is not None else 0.0
        st.caption(f"Mean log-likelihood {frame.log_likelihood:.5f} (change {change:+.2e}). "
                   + em_guarantee(frame.kind, stepper.reg_covar, frame.slack))


def em_guarantee(kind: str, reg_covar: float, slack: float) -> str:
    """What EM promises about this half-step, in words (the numbers come from the stepper)."""
    if kind == "E":
        return "An E-step leaves the log-likelihood unchanged: it lifts the bound (ELBO) onto it."
    if kind != "M":
        return "EM starts here."
    if reg_covar == 0:
        return "With reg_covar = 0 an M-step cannot lower it: it maximises the bound, which touches it."
    if math.isinf(slack):
        return (f"reg_covar = {reg_covar:g} rescued a singular covariance: no guarantee holds for this M-step.")
    return (f"An M-step with reg_covar = {reg_covar:g} uses S_k + εI instead of the maximiser S_k: it can lower "
            f"the log-likelihood by at most {slack:.1e} per point here (EM's guarantee is exact only at ε = 0).")


# ----------------------------------------------------------------------------------
# EM vs gradient descent, and many starts
# ----------------------------------------------------------------------------------

def em_vs_gradient_descent(page: PageContext, X: np.ndarray, stepper: EMStepper, config: EMConfig) -> None:
    """Run EM and Adam from the same start; draw both log-likelihood curves and both fits."""
    left, right = st.columns(2)
    learning_rate = linked(left.select_slider, "Adam learning rate", key="lr", default=0.05,
                           options=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
    iterations = linked(right.slider, "Iterations for both", key="gd_it", default=150, min_value=10, max_value=500,
                        step=10)
    run_key = (config, learning_rate, iterations)
    if st.button("Run EM and gradient descent from this start", key="em_gd_run", type="primary"):
        start = stepper.half_steps[0]
        em = build_stepper(X, config)
        gd = GradientDescentFitter(em.X, em.state, learning_rate=learning_rate)
        em.step(iterations)
        gd.step(iterations)
        st.session_state["em_gd"] = (run_key, em, gd, start.log_likelihood)
    stored = st.session_state.get("em_gd")
    if stored is None or stored[0] != run_key:
        st.caption("Press the button: both methods start from the current initialisation.")
        return
    _, em, gd, start_ll = stored
    for fitter in (em, gd):
        if fitter.stopped:
            st.warning(fitter.message)
    curves, fits = st.columns(2)
    with curves:
        page.show(em_vs_gd_figure(em.metric("log_likelihood"), gd.metric("log_likelihood"), start_ll), key="em_gd_ll")
    gd_state = gd.snapshot()
    em_frame = em.half_steps[-1]
    with fits:
        if X.shape[1] == 2:
            from playground.figures.mixture import add_components_2d

            fig = mixture_2d_figure(X, em_frame.weights, em_frame.means, em_frame.covariances,
                                    title="Final fits: EM solid, gradient descent dashed", name_prefix="EM ")
            add_components_2d(fig, gd_state["weights"], gd_state["means"], gd_state["covariances"], dashed=True,
                              name_prefix="GD ")
        else:
            curves_1d = mixture_curves_1d(X, gd_state["weights"], gd_state["means"], gd_state["covariances"])
            fig = mixture_1d_figure(X, curves_1d, title="Gradient-descent fit (the EM fit is the picture above)")
        page.show(fig, key="em_gd_fit")
    em_ll, gd_ll = em.metric("log_likelihood")[-1], gd.metric("log_likelihood")[-1]
    st.caption(f"After {iterations} iterations: EM {em_ll:.5f}, gradient descent {gd_ll:.5f} "
               f"(gap {abs(em_ll - gd_ll) / abs(em_ll) * 100:.2f} %).")


def restarts_section(page: PageContext, X: np.ndarray, config: EMConfig) -> None:
    """EM to convergence from 10 initialisation seeds; pick one to replay."""
    init = config.init if config.init != MANUAL_INIT else "random_from_data"
    key = (config.data_key, config.n_components, config.covariance_type, init, config.reg_covar, config.page_seed)
    if st.button("Run EM from 10 starts", key="em_restarts_run"):
        seeds = list(range(10))
        results = run_restarts(X, config.n_components, [init_seed_for(config.page_seed, s) for s in seeds],
                               covariance_type=config.covariance_type, init=init, reg_covar=config.reg_covar,
                               max_iter=300)
        st.session_state["em_restarts"] = (key, seeds, results)
    stored = st.session_state.get("em_restarts")
    if stored is None or stored[0] != key:
        st.caption("Press the button to run EM to convergence from initialisation seeds 0 to 9.")
        return
    _, seeds, results = stored
    values = [r.log_likelihood for r in results]
    page.show(restarts_figure, seeds, values, chosen=config.init_seed, key="em_restarts")
    collapsed = sum(1 for v in values if not np.isfinite(v))
    if collapsed:
        st.warning(f"{collapsed} of 10 starts collapsed (singular covariance): increase reg_covar.")
    finite = [(v, s) for v, s in zip(values, seeds) if np.isfinite(v)]
    if finite:
        worst, best = min(finite), max(finite)
        st.caption(f"Best: seed {best[1]} ({best[0]:.4f}); worst: seed {worst[1]} ({worst[0]:.4f}). "
                   "Set *Initialisation seed* to a seed to replay that start above.")

    def replay(seed: int) -> None:
        st.session_state["iseed"] = seed

    columns = st.columns(len(seeds))
    for column, seed in zip(columns, seeds):
        column.button(f"{seed}", key=f"em_replay_{seed}", on_click=replay, args=(seed,), width="stretch",
                      help=f"Replay seed {seed} above")
