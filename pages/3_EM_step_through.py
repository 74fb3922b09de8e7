"""EM step-through (lectures 000/001, 002, 004): expectation-maximisation for a Gaussian
mixture, one half-step at a time.

1. The data and the model: 1D/2D target or your CSV, K, covariance type, initialisation, reg_covar.
2. E-step / M-step / full step / play, with a history slider over every half-step.
3. EM vs gradient descent from the same start.
4. Failure modes: collapse onto a point, local optima (10 starts), too few components.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("EM step-through", ":material/stairs:")

from playground.mixture import SingularCovarianceError
from playground.ui.controls import stepper_panel
from playground.ui.em import (STEPPER_KEY, EMConfig, build_stepper, data_controls, em_converged, em_picture,
                              em_vs_gradient_descent, half_step_buttons, model_controls, render_views,
                              restarts_section, scenario_picker)

INTRO = (
    "A Gaussian mixture $p(x) = \\sum_k \\alpha_k \\mathcal N(x\\mid\\mu_k, \\Sigma_k)$ fitted by "
    "**expectation-maximisation**: the **E-step** computes, with the parameters fixed, how responsible each "
    "component is for each point; the **M-step** refits every component to the points, weighted by those "
    "responsibilities. The E-step leaves the log-likelihood unchanged and lifts its lower bound (the ELBO) onto "
    "it; the M-step raises the bound, and the log-likelihood with it: with reg_covar = 0 no iteration lowers "
    "the log-likelihood. reg_covar = ε adds εI to the covariances the M-step found, which can cost a small, "
    "computed amount (shown under the curve)."
)
if not page.projection:
    st.markdown(INTRO)
# Projected: the data and model controls in a narrow column, the picture beside them.
controls, main = page.split()

# 1 · Data and model -------------------------------------------------------------------
with controls:
    scenario = scenario_picker()
    with st.expander("Data and model", expanded=not page.projection):
        data_column, model_column = st.columns(2) if not page.projection else (st.container(), st.container())
        with data_column:
            X, data_key, x_range = data_controls(page.seed)
        with model_column:
            n_components, covariance_type, init, reg_covar, init_seed, means_text = model_controls(X)

config = EMConfig(data_key, n_components, covariance_type, init, reg_covar, page.seed, init_seed, means_text)
problem = None
if n_components > len(X):
    problem = f"K = {n_components} components need at least {n_components} points; the data has {len(X)}."
else:
    try:
        if st.session_state.get(f"{STEPPER_KEY}__config") != config:
            build_stepper(X, config)  # fail here, with a message, rather than inside the stepper panel
    except (ValueError, SingularCovarianceError) as error:
        problem = f"This start cannot be used: {error}"
if problem:
    st.error(problem, icon=":material/error:")
    st.stop()

# 2 · Step through ---------------------------------------------------------------------
with main:
    if not page.projection:
        st.header("Step through EM")
with controls if page.projection else main:  # projected, the half-step buttons sit beside the picture
    half_step_buttons(compact=page.projection)
with main:
    stepper = stepper_panel(
        STEPPER_KEY, lambda: build_stepper(X, config), config,
        lambda run: render_views(page, X, run, x_range),
        steps_per_tick=1, max_steps_per_tick=20, interval=0.7, step_label="Full step (E+M)", max_iterations=500,
        converged=em_converged, picture=lambda run: em_picture(page, X, run, x_range),
    )
page.explain(
    "- **Colours**: each point is painted with the mix of component colours given by its responsibilities "
    "$\\gamma_{nk}$ (1D: the bands under the curves show $\\gamma_k(x)$ everywhere, stacked to 1).\n"
    "- **Ellipses**: 1σ (solid) and 2σ (dotted) contours of each component; the cross at the mean grows with "
    "its weight $\\alpha_k$.\n"
    "- **The curve**: the mean log-likelihood (vermillion) and the lower bound (ELBO, green dotted) for the "
    "current responsibilities $q$. The E-step lifts the bound onto the log-likelihood; the M-step raises the "
    "bound, and the log-likelihood with it. That is why, with reg_covar = 0, EM never goes down; with "
    "reg_covar = ε the M-step's covariances are S_k + εI, not the maximiser S_k, and the caption under the table "
    "gives the most that can cost.\n"
    "- **log-sum-exp**: $\\log\\sum_k e^{z_k}$ is computed as $m + \\log\\sum_k e^{z_k - m}$, "
    "$m = \\max_k z_k$, so far-away points do not underflow to $\\log 0$.",
    title="How to read the pictures",
)

# 3 · EM vs gradient descent -------------------------------------------------------------
st.header("EM vs gradient descent")
st.markdown(
    "The same log-likelihood, maximised by **Adam** on unconstrained parameters: weights "
    "$\\alpha = \\operatorname{softmax}(w)$, variances $\\operatorname{softplus}(s) + 10^{-6}$ (diag / spherical) "
    "or $\\Sigma = LL^\\top$ with a softplus diagonal in $L$ (full / tied)."
)
em_vs_gradient_descent(page, X, stepper, config)
page.explain(
    "EM needs no learning rate and each M-step is the exact maximiser for the current responsibilities: "
    "fast and stable. Gradient descent works for any differentiable model and constraint, but needs a "
    "step size: try 0.001 (slow) and 5.0 (unstable).",
    title="When to prefer which",
)

# 4 · Local optima -----------------------------------------------------------------------
st.header("Local optima: ten starts")
restarts_section(page, X, config)
