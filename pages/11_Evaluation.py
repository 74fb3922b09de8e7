"""Evaluating generative models: a metric sandbox.

A real set and a "generated" set with defects you choose; the k-nearest-neighbour balls behind
precision, recall, density and coverage; the Fréchet distance, exact and sliced W₂ and MMD on the
same two sets; and how each number moves with the sample size.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Evaluating generative models", ":material/leaderboard:")

import numpy as np
import pandas as pd

from playground import evaluation as E
from playground import metrics as M
from playground.figures import evaluation as F
from playground.targets import get_target
from playground.ui.controls import formula_panel
from playground.ui import deeplink
from playground.ui.deeplink import linked
from playground.ui.evaluation import digits_section, leaderboard_section

INTRO = (
    "Good samples need **fidelity** (they look real: precision, density), **diversity** (they cover the data: "
    "recall, coverage), and **novelty** (they are not copies of the training set). No single number measures "
    "all three. Here the generator is made up: a copy of the real distribution with defects you choose, so you "
    "know the truth and can see which metric notices what."
)
if not page.projection:
    st.markdown(INTRO)

TARGETS = ["mog2d", "ring8", "grid25", "banana", "gaussian2d", "moons"]
PRESETS = {
    "custom": {},
    "perfect copy": {"ev_shift": 0.0, "ev_scale": 1.0, "ev_drop": 0, "ev_out": 0.0, "ev_mem": 0.0},
    "too narrow (precision up, recall down)": {"ev_shift": 0.0, "ev_scale": 0.5, "ev_drop": 0, "ev_out": 0.0,
                                                 "ev_mem": 0.0},
    "too wide (recall up, precision down)": {"ev_shift": 0.0, "ev_scale": 1.8, "ev_drop": 0, "ev_out": 0.0,
                                               "ev_mem": 0.0},
    "mode collapse (one mode dropped)": {"ev_shift": 0.0, "ev_scale": 1.0, "ev_drop": 1, "ev_out": 0.0,
                                         "ev_mem": 0.0},
    "outliers (10 %)": {"ev_shift": 0.0, "ev_scale": 1.0, "ev_drop": 0, "ev_out": 0.1, "ev_mem": 0.0},
    "memorised training points (50 %)": {"ev_shift": 0.0, "ev_scale": 1.0, "ev_drop": 0, "ev_out": 0.0,
                                          "ev_mem": 0.5},
}

def _apply_preset() -> None:
    for key, value in PRESETS[st.session_state["ev_pre"]].items():
        st.session_state[key] = value

def _mark_custom() -> None:
    st.session_state["ev_pre"] = "custom"

@st.cache_data(show_spinner=False, max_entries=64)
def _size_curves(name: str, defects: E.Defects, k: int, seed: int) -> dict:
    """Against N: 12 fresh sets up to 3,000 points (the slowest part of the page), once per setting."""
    return E.sample_size_curves(get_target(name), defects, [20, 50, 100, 300, 1000, 3000], k, seed=seed)

@st.cache_data(show_spinner=False, max_entries=64)
def _distances(real: np.ndarray, fake: np.ndarray, bandwidth: float | None, seed: int) -> dict:
    """The exact W₂ (an assignment problem) and the 200-permutation MMD test, once per pair of sets:
    moving the ball radio or k does not redo them."""
    mmd2, p_value = E.mmd_permutation_test(real, fake, bandwidth, permutations=200, seed=seed)
    return {"w2": E.wasserstein2_exact(real, fake), "mmd2": mmd2, "p": p_value}

def sandbox(page) -> None:
    side, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
    with side:
        linked(st.selectbox, "Preset", key="ev_pre", default="too narrow (precision up, recall down)",
               options=list(PRESETS), on_change=_apply_preset)
        name = linked(st.selectbox, "Real distribution", key="ev_t", default="mog2d", options=TARGETS,
                      format_func=lambda t: get_target(t).label)
        target = get_target(name)
        modes = len(target.mixture.weights) if getattr(target, "mixture", None) is not None else 0
        columns = st.columns(2)
        shift = linked(columns[0].select_slider, "Shift →", key="ev_shift", default=0.0,
                       options=[0.0, 0.25, 0.5, 1.0, 2.0], on_change=_mark_custom)
        scale = linked(columns[1].select_slider, "Spread ×", key="ev_scale", default=0.5,
                       options=[0.25, 0.5, 0.75, 1.0, 1.4, 1.8, 2.5], on_change=_mark_custom)
        dropped = linked(columns[0].select_slider, "Dropped modes", key="ev_drop", default=0,
                         options=list(range(0, max(modes, 1))), on_change=_mark_custom, disabled=modes < 2,
                         help="Mixture targets only: the largest modes are never generated (mode collapse).")
        outliers = linked(columns[1].select_slider, "Outliers", key="ev_out", default=0.0,
                          options=[0.0, 0.02, 0.05, 0.1, 0.2], format_func=lambda v: f"{v:.0%}", on_change=_mark_custom)
        memorised = linked(columns[0].select_slider, "Memorised", key="ev_mem", default=0.0,
                           options=[0.0, 0.1, 0.25, 0.5, 1.0], format_func=lambda v: f"{v:.0%}", on_change=_mark_custom,
                           help="Copies of training points: perfect fidelity, no novelty.")
        n = linked(columns[1].select_slider, "N per set", key="ev_n", default=300, options=[50, 100, 300, 1000, 3000])
        k = linked(st.slider, "k (nearest neighbours)", key="ev_k", default=5, min_value=1, max_value=20)
        around = linked(st.radio, "Balls around", key="ev_balls", default="real", options=["real", "generated"],
                        horizontal=True, help="Real balls: precision, density, coverage. Generated balls: recall.")
        numbers = st.container()

    defects = E.Defects(shift=float(shift), scale=float(scale), dropped_modes=int(dropped) if modes >= 2 else 0,
                        outliers=float(outliers), memorised=float(memorised))
    real = np.asarray(target.sample(int(n), page.seed), dtype=np.float64)  # fresh real data (held out)
    training = np.asarray(target.sample(int(n), page.seed + 1), dtype=np.float64)  # what the generator saw
    fake = E.generated_set(target, int(n), defects, seed=page.seed, training=training)
    scores = E.precision_recall_density_coverage(real, fake, int(k))
    centers = real if around == "real" else fake
    radii = E.knn_radii(centers, int(k))
    inside = E.balls_holding(centers, radii, fake if around == "real" else real)
    novelty = E.closer_to_training(training, real, fake)

    def _hint() -> str:
        if defects.memorised > 0:
            return ("every metric above is fooled by copies: see 'closer to training', which compares each generated "
                    "point with the training set and with fresh data.")
        if defects.scale < 1:
            return "switch the balls to 'generated': the narrow set's small balls miss much of the real data (recall)."
        if defects.scale > 1:
            return "precision falls, but recall barely moves: the wide balls swallow the real points."
        if defects.dropped_modes:
            return "coverage counts the real balls left empty: compare it with precision, which does not notice."
        if defects.outliers:
            return ("precision falls by about the outlier fraction, while coverage barely moves: it only asks whether "
                    "each real ball holds some generated point.")
        return "pick a preset with a defect, or lower N to 50 and watch the Fréchet distance of a perfect copy."

    with main:
        page.show(F.balls_figure(real, fake, radii, inside, around=around, bounds=target.bounds,
                                 title=f"{k}-NN balls around the {'real' if around == 'real' else 'generated'} points"),
                  key="ev_balls_fig", height=560, main=True)

    with numbers:
        formula_panel(
            r"\begin{gathered}B_i = B(x_i, r_i),\ r_i = \text{k-NN radius} \\ "
            r"\text{precision} = \tfrac1M \textstyle\sum_j \mathbb 1[\hat y_j \in \cup_i B_i] \\ "
            r"\text{density} = \tfrac{1}{kM} \textstyle\sum_{i,j} \mathbb 1[\hat y_j \in B_i] \\ "
            r"\text{coverage} = \tfrac1N \textstyle\sum_i \mathbb 1[\exists j: \hat y_j \in B_i]\end{gathered}",
            {"precision": scores.precision, "recall": scores.recall, "density": scores.density,
             "coverage": scores.coverage, "closer to training": novelty},
            title="Fidelity, diversity, novelty", try_next=_hint())

    st.header("Distances between the two sets")
    bandwidth = linked(st.select_slider, "MMD kernel bandwidth h", key="ev_h", default="median",
                       options=["median", 0.1, 0.3, 1.0, 3.0],
                       help="The Gaussian kernel's width: 'median' = the median distance between the pooled points. "
                            "A tiny h sees only the points themselves, a huge one only the means.")
    W2_MAX = 1000
    with st.spinner("Exact optimal transport and the permutation test…"):
        slow = _distances(real[:W2_MAX], fake[:W2_MAX], None if bandwidth == "median" else float(bandwidth), page.seed)
    exact, mmd2, p_value = slow["w2"], slow["mmd2"], slow["p"]
    distances = {
        "Fréchet distance (FID's formula on the points)": (E.frechet_distance(real, fake),
                                                           r"\lVert\mu_r-\mu_g\rVert^2+\mathrm{Tr}(\Sigma_r+\Sigma_g-2(\Sigma_r^{1/2}\Sigma_g\Sigma_r^{1/2})^{1/2})"),
        "exact W₂ (optimal transport)": (exact, r"W_2 = \big(\min_{\pi}\tfrac1N\textstyle\sum_i \lVert x_i - y_{\pi(i)}\rVert^2\big)^{1/2}"),
        "sliced W₂ (64 directions)": (M.sliced_wasserstein(real, fake, 64, seed=page.seed), r"\big(\mathbb E_\theta W_2^2(\theta^\top x, \theta^\top y)\big)^{1/2}"),
    }
    distances["MMD² and its two-sample test"] = (
        mmd2, r"\mathbb E k(x,x') + \mathbb E k(y,y') - 2\,\mathbb E k(x,y),\ k = e^{-\lVert x-y\rVert^2/2h^2}")
    columns = st.columns(len(distances))
    for column, (label, (value, latex)) in zip(columns, distances.items()):
        with column:
            shown = {label.split(" (")[0].split(" and")[0]: value}
            if label.startswith("MMD"):
                shown["p-value (200 permutations)"] = p_value
            formula_panel(latex, shown, title=label)
    st.caption(f"Exact W₂ and the MMD test on the first {min(int(n), W2_MAX)} points of each set (W₂ is an "
               "assignment problem; the p-value is the share of 200 random relabellings of the pooled points whose MMD² "
               "is at least the observed one: small = the sets differ). The Fréchet "
               "distance only sees means and covariances: a dropped mode that leaves them unchanged goes unnoticed; "
               "memorised points look perfect to every distance here, and only a comparison with the training set "
               "reveals them (*closer to training*: the fraction of generated points nearer to a training point than to "
               "a fresh real one; about 1/2 without copying).")

    st.header("The same numbers against the sample size")
    curves = _size_curves(name, defects, int(k), page.seed)
    sizes = list(curves["sizes"])
    page.show(F.size_curves(curves), key="ev_sizes", height=380)
    table = pd.DataFrame({"N": sizes, **{name: np.round(curves[name], 3) for name in
                                         ("precision", "recall", "density", "coverage", "frechet")}})
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Each N draws both sets afresh. With the same distribution on both sides the true Fréchet distance is "
               "0: what you see at small N is its bias. Compare metrics at equal N only.")

    page.explain(
        (INTRO + "\n\n" if page.projection else "")
        + "**Precision and recall** (Kynkäänniemi et al., 2019) put a ball around each real point reaching its k-th "
        "nearest real neighbour; a generated point inside any real ball is *precise*. Recall swaps the roles. "
        "**Density and coverage** (Naeem et al., 2020) count how many real balls hold a generated point (density, "
        "which can exceed 1) and which real balls hold at least one (coverage): one outlier far from the data no "
        "longer buys a large generated ball. Here a point on a ball's boundary counts as inside (the `prdc` package "
        "uses a strict <, which makes identical sets score 0).\n\n"
        "**FID** is the Fréchet distance between Gaussians fitted to Inception features; here it is computed on the "
        "2D points themselves.",
        title="How to read the page",
    )

SECTIONS = {
    "1 Metric sandbox": sandbox,
    "2 Leaderboard": leaderboard_section,
    "3 Digits: a classifier's features": digits_section,
}
# Bound to the URL (?evtab=...): only the open tab runs, and a link reopens it.
tabs = st.tabs(list(SECTIONS), key="evtab", bind="query-params")
for tab, section in zip(tabs, SECTIONS.values()):
    if tab.open:
        with tab:
            section(page)
deeplink.prune(keep=("evtab",))
