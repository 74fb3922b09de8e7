"""The KDE vs GMM page below its top level: Streamlit caches around ``playground.kde_vs_gmm``
(splits, fits, curves, the cross-validated bandwidth), and one function per section.

Every cache holds read-only results keyed on the data and the settings (no per-viewer
state). Evaluations that would grow with N are capped (``EVAL_POINTS``...) and the
caption says so.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from playground import kde_vs_gmm as compute
from playground.figures import density as figures
from playground.kde_vs_gmm import (  # noqa: F401 (re-exported: the page and its tests use them from here)
    BANDWIDTHS,
    CURVE_TEST_POINTS,
    CURVE_TRAIN_POINTS,
    CV_POINTS,
    EVAL_POINTS,
    GMM_FIT_WORK,
    GMM_MIN_FIT_POINTS,
    K_CURVE_TRAIN_POINTS,
    K_VALUES,
    MAX_BUMPS,
    Fitted,
    bumps_1d,
    density_curves_1d,
    density_histograms,
    gmm_fit_points,
    likelihood_table,
    log_density_on_grid,
    log_density_panels_2d,
    panel_marginals,
    split,
    subsample,
)
from playground.seeding import derive_seed
from playground.targets import Target
from playground.ui.controls import formula_panel

ESTIMATORS = ("Histogram", "Gaussian (MLE)", "KDE", "GMM")
GRID_1D, GRID_2D = 1000, 110
K_CHOICES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150)  # the K slider's stops
SAMPLE_SIZES = (20, 50, 100, 200, 300, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
BANDWIDTH_OPTIONS = (0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4,
                     0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0)


# ----------------------------------------------------------------------------------
# Caches around the compute of playground.kde_vs_gmm
# ----------------------------------------------------------------------------------

@st.cache_resource(max_entries=24, show_spinner=False)
def fit_gmm(train: np.ndarray, n_components: int, covariance_type: str, seed: int) -> Fitted:
    """``kde_vs_gmm.fit_gmm``, cached (the fitted model is shared, read-only)."""
    return compute.fit_gmm(train, n_components, covariance_type, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def bandwidth_curve(train: np.ndarray, test: np.ndarray, kernel: str, seed: int) -> dict:
    """``kde_vs_gmm.bandwidth_curve``, cached."""
    return compute.bandwidth_curve(train, test, kernel, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def cv_bandwidth(train: np.ndarray, kernel: str, seed: int) -> float:
    """``kde_vs_gmm.cv_bandwidth``, cached."""
    return compute.cv_bandwidth(train, kernel, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def k_curve(train: np.ndarray, test: np.ndarray, covariance_type: str, seed: int) -> dict:
    """``kde_vs_gmm.k_curve``, cached."""
    return compute.k_curve(train, test, covariance_type, seed)


@st.cache_data(max_entries=8, show_spinner=False)
def curse(n_samples: int, bins_per_axis: int, seed: int) -> dict:
    """``kde_vs_gmm.curse``, cached."""
    return compute.curse(n_samples, bins_per_axis, seed)


def fit_all(train: np.ndarray, **settings) -> dict[str, Fitted]:
    """``kde_vs_gmm.fit_all`` with the cached GMM fit."""
    return compute.fit_all(train, **settings, gmm_fitter=fit_gmm)


# ----------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------

def estimates_section(page, target: Target, train: np.ndarray, fitted: dict[str, Fitted], shown: list[str],
                      show_bumps: bool = True) -> None:
    """The main picture: each chosen estimator over the data (1D curves, 2D heatmaps + marginals)."""
    dim = train.shape[1]
    bounds = [tuple(b) for b in target.bounds]
    if dim == 1:
        axis = np.linspace(*bounds[0], GRID_1D)
        curves = density_curves_1d(fitted, shown, target, axis)
        hist = fitted["Histogram"].model if "Histogram" in shown else None
        histogram = (hist.edges_[0], hist.density_) if hist is not None else None
        rug = train[:, 0] if len(train) <= 2_000 else None
        bumps = bumps_1d(fitted, shown, axis) if show_bumps else None
        page.show(figures.density_1d, axis, curves, histogram=histogram, rug=rug, bumps=bumps, key="kde_main",
                  main=True)
        if show_bumps and "KDE" in shown and len(train) > MAX_BUMPS:
            st.caption(f"The KDE's kernels are drawn up to N = {MAX_BUMPS}: lower N to see the sum of bumps.")
        return
    axes = [np.linspace(*bounds[0], GRID_2D), np.linspace(*bounds[1], GRID_2D)]
    panels = log_density_panels_2d(fitted, shown, target, axes)
    shown_points = subsample(train, 1_500, 0, "scatter")
    page.show(figures.density_2d, axes, panels, shown_points, columns=3 if len(panels) > 4 else 2, key="kde_main",
              main=True)
    page.show(figures.marginals_2d, axes, panel_marginals(panels, axes), train, key="kde_marginals", height=380)


def formula_section(focus: str, fitted: dict[str, Fitted], train: np.ndarray, rules: dict[str, float],
                    dataset: str = "three_bumps") -> None:
    """The focused estimator's formula with its fitted numbers and what to try next (a hint that
    depends on what is set: it never asks for what is already there)."""
    fit = fitted[focus]
    n, dim = train.shape
    if fit.model is None:
        st.warning(f"{focus} could not be fitted: {fit.error}")
        return
    model = fit.model
    dim = train.shape[1]
    if focus == "Histogram":
        widths = [float(np.diff(e).mean()) for e in model.edges_]
        formula_panel(r"\hat p(x) = \frac{n_j}{N\,\Delta^d}\quad\text{for } x \text{ in cell } j",
                      {"N": n, "cells": int(model.counts_.size), "bin width Δ": widths[0],
                       "empty cells %": 100.0 * float(np.mean(model.counts_ == 0))},
                      title="Histogram", try_next=(
                          "switch to 2D data and count the empty cells." if dim == 1 else
                          f"{100.0 * float(np.mean(model.counts_ == 0)):.0f}% of the cells are empty already in 2D: "
                          "open the curse-of-dimensionality view to see where that leads in 10D."))
    elif focus == "Gaussian (MLE)":
        values = {"N": n, "μ̂₁": float(model.mean_[0]), "σ̂₁": float(math.sqrt(model.covariance_[0, 0]))}
        if dim == 2:
            values["ρ̂"] = float(model.covariance_[0, 1] / math.sqrt(model.covariance_[0, 0] * model.covariance_[1, 1]))
        formula_panel(r"\begin{gathered}\hat\mu = \frac1N\sum_{n} x_n,\quad \hat\Sigma = \frac1N\sum_{n}(x_n-\hat\mu)"
                      r"(x_n-\hat\mu)^\top \\ \hat p = \mathcal N(\hat\mu, \hat\Sigma)\end{gathered}", values, title="One Gaussian by maximum likelihood",
                      try_next=("pick 'Three bumps': one Gaussian puts its mass between the modes, where there is no "
                                "data." if dataset != "three_bumps" else
                                "one Gaussian puts its mass between the three bumps, where there is no data: compare "
                                "its held-out log-likelihood with the KDE's in the table."))
    elif focus == "KDE":
        kernel_tex = {"gaussian": r"k_h(u) = (2\pi h^2)^{-d/2} e^{-\|u\|^2/2h^2}",
                      "epanechnikov": r"k_h(u) \propto (1 - \|u\|^2/h^2)_+",
                      "tophat": r"k_h(u) \propto \mathbb 1[\|u\| < h]",
                      "exponential": r"k_h(u) \propto e^{-\|u\|/h}",
                      "linear": r"k_h(u) \propto (1 - \|u\|/h)_+",
                      "cosine": r"k_h(u) \propto \cos(\pi\|u\|/2h)\,\mathbb 1[\|u\| < h]"}[model.kernel]
        formula_panel(r"\begin{gathered}\hat p_h(x) = \frac1N \sum_{i=1}^{N} k_h(x - x_i) \\ " + kernel_tex
                      + r"\end{gathered}",
                      {"h": model.bandwidth_, "N": n, **{f"h ({k})": v for k, v in rules.items()}},
                      title="Kernel density estimate",
                      try_next=("look at the left end of the h curve: as h → 0 the training log-likelihood grows "
                                "without bound (like −log h: a spike on every training point) while the held-out "
                                "one collapses." if model.bandwidth_ > 0.02 else
                                f"h = {model.bandwidth_:.3g} puts a spike on every training point: compare the training "
                                "and held-out log-likelihoods in the table, then drag h back to Silverman's "
                                f"{rules.get('Silverman', float('nan')):.3g}."))
    else:
        weights = np.sort(model.weights_)[::-1]
        formula_panel(r"\begin{gathered}p(x) = \sum_{k=1}^{K} \pi_k\, \mathcal N(x; \mu_k, \Sigma_k) \\ "
                      r"\mathrm{BIC} = -2\sum_n \log p(x_n) + P \log N\end{gathered}",
                      {"K": int(model.n_components), "EM iterations": int(model.n_iter_),
                       "largest π_k": float(weights[0]), "BIC": model.bic(train),
                       **({"fitted on": f"{gmm_fit_points(model.n_components):,} of {len(train):,} points"}
                          if len(train) > gmm_fit_points(model.n_components) else {})},
                      title=f"Gaussian mixture ({model.covariance_type} covariances), fitted by EM",
                      try_next=_gmm_hint(int(model.n_components), dataset))


def _gmm_hint(k: int, dataset: str) -> str:
    if dataset != "three_bumps":
        return "pick 'Three bumps' and set K = 2: two Gaussians for three bumps."
    if k == 2:
        return "K = 2 on three bumps: one Gaussian straddles two bumps. Now K = 3, then K = 150 (overfit)."
    if k == 3:
        return ("K = 3, one Gaussian per bump. Raise K to 150: the training log-likelihood keeps rising; watch the "
                "held-out one in the table.")
    if k < 3:
        return "set K = 2: two Gaussians for three bumps."
    return (f"K = {k} Gaussians for three bumps: compare the BIC with K = 3's (BIC charges P log N for every "
            "extra parameter).")


def table_section(table: pd.DataFrame) -> None:
    """Train LL, test LL, parameters and BIC of every estimator."""
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"train LL": st.column_config.NumberColumn(format="%.4f"),
                                "test LL": st.column_config.NumberColumn(format="%.4f"),
                                "BIC": st.column_config.NumberColumn(format="%.1f")})
    st.caption(f"Mean log-likelihood per point (over at most {EVAL_POINTS:,} random points of each set). "
               "-inf: a test point fell where the estimate is zero (an empty histogram cell, outside a compact kernel).")


def likelihood_section(page, train: np.ndarray, test: np.ndarray, *, kernel: str, bandwidth: float,
                       rules: dict[str, float], n_components: int, covariance_type: str, seed: int) -> None:
    """Held-out log-likelihood against h and against K."""
    left, right = st.columns(2)
    with left:
        curve = bandwidth_curve(train, test, kernel, seed)
        page.show(figures.likelihood_curve, curve["h"], curve["test"], curve["train"], current=bandwidth,
                  xlabel="bandwidth h (log scale)", marks=rules,
                  title=f"KDE ({kernel}): log-likelihood against h", key="kde_h_curve")
        if curve["capped"]:
            st.caption(f"Curve from at most {CURVE_TRAIN_POINTS:,} training and {CURVE_TEST_POINTS:,} test points.")
    with right:
        kc = k_curve(train, test, covariance_type, seed)
        if len(kc["K"]):
            page.show(figures.likelihood_curve, kc["K"], kc["test"], kc["train"], current=n_components,
                      xlabel="number of components K (log scale)", bic=kc["bic"],
                      title=f"GMM ({covariance_type}): log-likelihood and BIC against K",
                      key="kde_k_curve")
        if kc["capped"]:
            st.caption(f"Mixtures fitted on {K_CURVE_TRAIN_POINTS:,} random training points.")


def generation_section(page, target: Target, train: np.ndarray, fitted: dict[str, Fitted], shown: list[str],
                       seed: int) -> None:
    """Samples drawn from each fitted model beside the data."""
    count = min(len(train), 2_000)
    samples = {name: fitted[name].model.sample(count, seed=derive_seed(seed, "samples", name))
               for name in shown if fitted[name].model is not None}
    data = subsample(train, count, seed, "generation")
    if train.shape[1] == 1:
        bins = np.linspace(*target.bounds[0], 61)
        heights = density_histograms({"Data": data[:, 0], **{k: v[:, 0] for k, v in samples.items()}}, bins)
        page.show(figures.samples_1d, heights, bins, key="kde_samples")
    else:
        page.show(figures.samples_2d, data, samples, target.bounds, key="kde_samples")
    st.caption("Histogram: pick a cell by its count, then a uniform point in it. Gaussian: μ + L z. "
               "KDE: pick a training point, add kernel noise h·u. GMM: pick a component k ~ π, then x ~ N(μₖ, Σₖ).")


def curse_section(page, n_samples: int, bins_per_axis: int, seed: int) -> None:
    """The curse of dimensionality for histograms and KDEs on Gaussian data, d = 1..10."""
    result = curse(n_samples, bins_per_axis, seed)
    page.show(figures.curse_of_dimensionality_figure, result, n_samples, key="kde_curse")
    frame = pd.DataFrame({"d": result["dim"].astype(int), "cells": result["cells"],
                          "empty %": 100 * result["empty_fraction"],
                          "KDE test LL / d": result["kde_best"] / result["dim"],
                          "truth / d": result["truth"] / result["dim"],
                          "KL(p‖p̂) / d": result["kl_best"] / result["dim"],
                          "± 2 SE": 2 * result["kl_best_se"] / result["dim"]})
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"cells": st.column_config.NumberColumn(format="%.0e"),
                                "empty %": st.column_config.NumberColumn(format="%.1f"),
                                "KDE test LL / d": st.column_config.NumberColumn(format="%.3f"),
                                "truth / d": st.column_config.NumberColumn(format="%.3f"),
                                "KL(p‖p̂) / d": st.column_config.NumberColumn(format="%.3f"),
                                "± 2 SE": st.column_config.NumberColumn(format="%.3f")})
    st.caption("KL(p‖p̂) is estimated on the same test points as (1/M) Σ [log p(xⱼ) − log p̂(xⱼ)]; a small negative "
               "value is sampling noise (it lies within its ± 2 standard errors of 0).")
    row2, row6 = result["dim"] == 2, result["dim"] == 6
    st.markdown(
        f"**2 dimensions vs 6**: with {n_samples:,} points and {bins_per_axis} bins per axis, "
        f"{100 * result['empty_fraction'][row2][0]:.0f}% of the {result['cells'][row2][0]:,.0f} cells are empty in 2D, "
        f"{100 * result['empty_fraction'][row6][0]:.1f}% of the {result['cells'][row6][0]:,.0f} cells in 6D. "
        "Even the best bandwidth leaves the KDE further below the truth per dimension as d grows."
    )
