"""KDE vs GMM: estimating a density from samples, and how each estimator fails.

Lectures 000/001 (histogram, KDE demo, single-Gaussian MLE, GMM, "three bumps but only
two Gaussians"), 003 (basis expansions with a bandwidth), 004 (GMM with K = 1, 5, 150).
The four estimators are fitted to the same training points and judged on held-out ones.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("KDE vs GMM", "📊")

from playground.density import BIN_RULES, KERNELS, scott_bandwidth, silverman_bandwidth
from playground.mixture import COVARIANCE_TYPES
from playground.ui import kde
from playground.ui.controls import dataset_picker
from playground.ui.deeplink import linked

if not page.projection:
    st.markdown(
        "Four estimators fitted to the same **training** samples, judged by their log-likelihood on **held-out** "
        "ones: each is a weighted sum of bumps, $\\hat p(x) = \\sum_j a_j\\, k_h(x, \\mu_j)$."
    )
controls, main = page.split(3.2) if page.projection else st.columns([1, 3.2], gap="medium")

# --- Data ------------------------------------------------------------------------------
with controls:
    target = dataset_picker("target", dims=(1, 2), default="three_bumps")
    dim = target.dim
    uploaded = getattr(target, "data", None)
    if uploaded is not None:
        data = uploaded
        st.caption(f"{len(data):,} points in your file.")
    else:
        # One fixed range for 1D and 2D (a slider whose range changes loses its value); 2D is capped below.
        n = linked(st.select_slider, "Sample size N", key="n", default=1_000, options=kde.SAMPLE_SIZES,
                   help="Up to 100,000 points in 1D and 50,000 in 2D.")
        if dim == 2 and n > 50_000:
            st.caption("2D uses at most 50,000 points.")
            n = 50_000
        data = target.sample(n, seed=page.seed)
    test_fraction = linked(st.slider, "Held-out fraction", key="test", default=0.3, min_value=0.1, max_value=0.5,
                           step=0.05, help="This share of the points is never seen by the estimators.")
train, test = kde.split(data, test_fraction, page.seed)

# --- Estimators ------------------------------------------------------------------------
with controls:
    shown = linked(st.multiselect, "Estimators shown", key="show", default=list(kde.ESTIMATORS),
                   options=kde.ESTIMATORS)
    show_bumps = linked(st.toggle, "Show the bumps (1D)", key="bumps", default=True,
                        help="The KDE as a sum of N kernels, each of area 1/N; the GMM as a sum of K weighted "
                             "Gaussians.")
    with st.expander("Histogram", expanded=False):
        rule = linked(st.radio, "Bins", key="bins", default="sturges", options=[*BIN_RULES, "count"],
                      horizontal=True, format_func={"sturges": "Sturges", "fd": "Freedman–Diaconis",
                                                    "count": "count"}.get)
        count = linked(st.slider, "Bins per axis", key="nbins", default=30, min_value=2, max_value=200,
                       disabled=rule != "count")
    bins = count if rule == "count" else rule
    st.markdown("**Kernel density estimate**")
    slider_h = linked(st.select_slider, "Bandwidth h", key="h", default=0.3, options=kde.BANDWIDTH_OPTIONS)
    bandwidth_from = linked(st.radio, "Bandwidth from", key="rule", default="slider", horizontal=True,
                            options=["slider", "scott", "silverman", "cv"],
                            format_func={"slider": "slider", "scott": "Scott", "silverman": "Silverman",
                                         "cv": "cross-val."}.get)
    kernel = linked(st.selectbox, "Kernel", key="kernel", default="gaussian", options=KERNELS)
rules = {"Scott": scott_bandwidth(train), "Silverman": silverman_bandwidth(train)}
if bandwidth_from == "cv":  # 5-fold cross-validation: computed (and cached) only when asked for
    # above CV_POINTS, CV runs on a seeded subsample and its h is carried over by (m/N)^(1/(d+4))
    cv_label = "CV" if len(train) <= kde.CV_POINTS else "CV, rescaled"
    rules[cv_label] = kde.cv_bandwidth(train, kernel, page.seed)
if bandwidth_from == "slider":
    bandwidth = slider_h
elif bandwidth_from == "cv":
    bandwidth = rules[cv_label]
else:
    bandwidth = rules[{"scott": "Scott", "silverman": "Silverman"}[bandwidth_from]]
with controls:
    st.markdown("**Gaussian mixture (EM)**")
    n_components = linked(st.select_slider, "Components K", key="K", default=3, options=kde.K_CHOICES,
                          help="Log-like steps: each step of the slider matters as much at K = 2 as at K = 100.")
    covariance_type = linked(st.selectbox, "Covariances", key="cov", default="full", options=COVARIANCE_TYPES)

fitted = kde.fit_all(train, bins=bins, bandwidth=bandwidth, kernel=kernel, n_components=n_components,
                     covariance_type=covariance_type, seed=page.seed)
with main:
    for fit in fitted.values():
        if fit.model is None:
            st.warning(f"**{fit.name}**: {fit.error}")
    if not shown:
        st.info("Choose at least one estimator to draw.")

# --- The picture, the formula, the numbers -----------------------------------------------
# One view at a time (a radio, not tabs): only what is on screen is computed and drawn.
with main:
    VIEWS = ("Estimates", "Held-out likelihood", "Generation", "Curse of dimensionality")
    view = linked(st.radio, "View", key="view", default=VIEWS[0], options=VIEWS, horizontal=True,
                  label_visibility="collapsed")
    if view == "Estimates":
        picture, formula = (st.container(), controls) if page.projection else st.columns([1.5, 1])
        with picture:
            kde.estimates_section(page, target, train, fitted, shown, show_bumps=show_bumps)
        with formula:
            focus = linked(st.selectbox, "Formula of", key="focus", default="KDE", options=kde.ESTIMATORS)
            kde.formula_section(focus, fitted, train, rules, dataset=target.name)
        st.caption(f"N = {len(data):,} points: {len(train):,} for training, {len(test):,} held out. "
                   f"KDE bandwidth h = {bandwidth:.3g} ({bandwidth_from})."
                   + (f" The GMM is fitted on {kde.gmm_fit_points(n_components):,} of them (a random subset: "
                      f"EM costs N × K per iteration, capped at {kde.GMM_FIT_WORK:,})."
                      if "GMM" in shown and len(train) > kde.gmm_fit_points(n_components) else ""))
        kde.table_section(kde.likelihood_table(fitted, train, test, target, page.seed))
    elif view == "Held-out likelihood":
        kde.table_section(kde.likelihood_table(fitted, train, test, target, page.seed))
        kde.likelihood_section(page, train, test, kernel=kernel, bandwidth=bandwidth, rules=rules,
                               n_components=n_components, covariance_type=covariance_type, seed=page.seed)
    elif view == "Generation":
        kde.generation_section(page, target, train, fitted, shown, page.seed)
    else:
        left, right = st.columns(2)
        curse_n = linked(left.slider, "Points N (fixed for every d)", key="cn", default=1_000, min_value=100,
                         max_value=5_000, step=100)
        curse_bins = linked(right.slider, "Histogram bins per axis", key="cb", default=10, min_value=2, max_value=20)
        kde.curse_section(page, curse_n, curse_bins, page.seed)

page.explain(
    "- **Histogram**: the density is flat inside each cell and jumps at the edges; the answer depends on where "
    "the edges fall, and a test point in an empty cell gets log-likelihood −∞. In d dimensions it needs "
    "bins^d cells: the curse of dimensionality.\n"
    "- **One Gaussian** is the maximum-likelihood fit of the wrong family: on three bumps it covers the gaps.\n"
    "- **KDE**: small h follows every sample (training log-likelihood → +∞, test → −∞), large h blurs the modes. "
    "The held-out curve has its maximum in between; Scott's and Silverman's rules assume Gaussian data, "
    "cross-validation does not (above 2,000 training points it runs on a random 2,000 and its h is multiplied "
    "by (2000/N)^(1/(d+4)), the rate of Scott's rule: \"h (CV, rescaled)\"). Our rules are SciPy's (`gaussian_kde`'s factor n^(−1/(d+4)) times the data's "
    "spread σ); scikit-learn's `bandwidth=\"scott\"` is the factor alone, right only for standardised data.\n"
    "- **GMM**: K too small merges bumps (\"three bumps, two Gaussians\"); K = 150 puts narrow components on "
    "single points. BIC = −2 log-likelihood + P log N penalises the extra parameters P.\n"
    "- **Try next**: Three bumps, N = 200, drag h from 0.01 to 3; then K from 1 to 150; switch to 2D *Ring of 8 "
    "Gaussians*; upload your own CSV.",
    title="What to look for, and what to try next",
)
