"""The evaluation page's second and third sections: the leaderboard of every family on one data
set, and the digits scored in a small classifier's feature space (widgets -> compute -> figures)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from playground import evaluation as E
from playground import leaderboard as L
from playground.figures import evaluation as F
from playground.targets import get_target
from playground.ui.controls import formula_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext

BOARD_TARGETS = ["ring8", "mog2d", "grid25", "moons", "banana", "spiral"]
BUDGET_LABELS = {"tiny": "tiny (untrained: seconds)", "quick": "quick (≈ a minute)",
                 "standard": "standard (a few minutes)"}


@st.cache_data(show_spinner=False, max_entries=256)
def _board_row(name: str, family: str, budget: str, seed: int) -> tuple[dict, np.ndarray]:
    """One family trained and scored: cached per (data set, family, budget, seed) for every viewer."""
    return L.run_family(get_target(name), family, budget, seed)


@st.cache_data(show_spinner=False, max_entries=16)
def _split(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return L.split(get_target(name), seed)


def _done_key(name: str, budget: str, seed: int) -> str:
    return f"ev_board_done::{name}::{budget}::{seed}"


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "−∞" if value < 0 else "∞"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def leaderboard_section(page: PageContext) -> None:
    side, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
    with side:
        name = linked(st.selectbox, "Data set (2D)", key="lb_t", default="ring8", options=BOARD_TARGETS,
                      format_func=lambda t: get_target(t).label)
        budget = linked(st.radio, "Training budget", key="lb_b", default="quick", options=list(BUDGET_LABELS),
                        format_func=BUDGET_LABELS.get, horizontal=False,
                        help="Counted in training steps, not seconds, so that the board is the same on every "
                             "machine: " + "; ".join(f"{f} {n}" for f, n in L.BUDGETS["quick"].items())
                             + " (quick; a VAE step is one epoch).")
        train = st.button("Train every family", key="lb_go", type="primary", width="stretch")
        status = st.empty()
    seed = page.seed
    done = _done_key(name, budget, seed)
    if train:
        st.session_state[done] = True
    target = get_target(name)
    training, real = _split(name, seed)
    if not st.session_state.get(done):
        with main:
            page.show(F.training_set(training, real, target.bounds,
                                     title=f"{target.label}: the points every family is trained on"),
                      key="lb_main", height=560, main=True)
        status.info("Press **Train every family**: each is trained on these points with its page's defaults, then "
                    "scored on 1,000 held-out points.")
        _explain(page)
        return

    rows, samples = [], {}
    bar = status.progress(0.0, text="Training…")
    for i, family in enumerate(L.FAMILIES):
        bar.progress(i / len(L.FAMILIES), text=f"Training and scoring: {L.FAMILIES[family]}")
        rows.append((row := _board_row(name, family, budget, seed))[0])
        samples[family] = row[1]
    bar.empty()
    table = L.board_table(rows)
    labels = {family: L.SHORT[family] for family in samples}
    with main:
        page.show(F.board_samples(samples, labels, real, target.bounds), key="lb_main", height=560, main=True)
    with side:
        best = table.drop(index=L.FAMILIES["truth"]).replace(-np.inf, np.nan)
        short_names = {L.FAMILIES[f]: L.SHORT[f] for f in L.FAMILIES}
        values = {}
        for column, short in (("precision", "precision"), ("recall", "recall"), ("held-out log-lik", "log-lik")):
            if best[column].notna().any():
                family = best[column].idxmax()
                values[f"best {short}: {short_names[family]}"] = float(best.loc[family, column])
        formula_panel(
            r"\begin{gathered}\text{same } x_{\text{train}}\ (2{,}000) \\ \text{same } x_{\text{test}}\ (1{,}000)"
            r"\end{gathered}",
            values, title="One data set, every family", try_next=_hint(table, budget),
            columns=2 if page.projection else 3)
    shown = table.drop(columns=["how"]).copy()
    st.dataframe(shown.map(_fmt), width="stretch")
    columns = st.columns([1, 1.4])
    with columns[0]:
        page.show(F.precision_recall_map(table.assign(label=[L.SHORT[f] for f in samples]).set_index("label")),
                  key="lb_pr", height=440)
    with columns[1]:
        st.markdown("**How each family was trained and sampled**")
        st.dataframe(pd.DataFrame({"how": table["how"]}), width="stretch")
        st.caption("Held-out log-likelihood: the mean of log p(x) over the 1,000 held-out points, in nats (−∞ as soon "
                   "as one point gets zero density: see *zero-density points*; a GAN has no density). The first row "
                   "scores fresh samples of the true distribution: what a perfect model gets with these sample sizes "
                   "(no metric is exactly 0 or 1 there).")
    if st.button("Re-run (train again and time it)", key="lb_rerun"):
        _board_row.clear()
        st.rerun()
    _explain(page)


def _hint(table: pd.DataFrame, budget: str) -> str:
    truth = table.loc[L.FAMILIES["truth"]]
    trained = table.drop(index=L.FAMILIES["truth"])
    weak = trained[trained["precision"] < truth["precision"] - 0.2]
    if budget == "tiny":
        return "a tiny budget shows the untrained models: switch to quick and compare the trained families' rows."
    if len(weak):
        family = weak["precision"].idxmin()
        return (f"{family} has the lowest precision: look at its panel, then at its recall. High recall with low "
                "precision means samples spread between the modes.")
    return "compare the log-likelihood column with precision: a family can rank high on one and low on the other."


def _explain(page: PageContext) -> None:
    page.explain(
        "Every family is trained on the same 2,000 points (a seeded draw of the data set), for a fixed number of "
        "steps, with the defaults of its own page, then draws 1,000 points. The same metrics compare those points "
        "with the same 1,000 held-out real points: precision, recall, density and coverage (k = 5), the sliced and "
        "exact W₂, MMD² (Gaussian kernel, median bandwidth; unbiased, so it can dip below 0), and, for the families "
        "with a density, the held-out log-likelihood. Budgets are counted in steps so that the board is the same on "
        "any machine; the wall times are this server's. Each family's result is cached per data set, budget and "
        "seed, for every viewer.",
        title="How the board is made",
    )


@st.cache_data(show_spinner=False, max_entries=4)
def _digits(seed: int) -> dict:
    return E.digits_report(seed=seed)


def digits_section(page: PageContext) -> None:
    with st.spinner("Training the digit classifier and a VAE (once per seed)…"):
        report = _digits(page.seed)
    names = list(report["sets"])
    side, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
    with side:
        chosen = linked(st.radio, "Generated set", key="dg_set", default="VAE samples", options=names)
    scores = report["scores"][chosen]
    with main:
        images = np.concatenate([report["sets"][name][:12] for name in names])
        page.show(F.image_rows(images, (8, 8), names, 12, title="Twelve images of each set"), key="dg_main",
                  height=560, main=True)
    with side:
        formula_panel(
            r"\begin{gathered}\text{IS} = e^{\,\mathbb E_x \mathrm{KL}(p(y|x)\,\Vert\, p(y))} \\ "
            r"\text{FD} = \lVert\mu_r-\mu_g\rVert^2 \\ +\,\mathrm{Tr}\big(\Sigma_r+\Sigma_g-2(\Sigma_r\Sigma_g)^{1/2}\big)"
            r"\end{gathered}",
            scores, title=chosen, try_next=_digits_hint(chosen), columns=2 if page.projection else 5)
    table = pd.DataFrame(report["scores"]).T
    st.dataframe(table.map(lambda v: f"{v:.3g}"), width="stretch")
    st.caption(f"The classifier (64 → 128 → 32 → 10) is trained on the training digits; it labels "
               f"{report['accuracy']:.1%} of the {report['n_reference']} reference digits correctly. Its 32 "
               "penultimate activations are the feature space. Each set holds 300 images; the reference set is 359 "
               f"held-out digits none of the sets contains. The VAE is the latent explorer's default VAE after "
               f"{report['vae_epochs']} epochs (decoded means of z ~ N(0, I)).")
    page.explain(
        "**This is not Inception.** FID and the Inception score are computed with Inception-v3, a network trained on "
        "ImageNet photographs. Here a small classifier of 8×8 digits plays its role, so the numbers compare the sets "
        "on this page with each other and never with published values. The Inception-like score only looks at the "
        "generated images through the classifier: sure, varied class predictions score high (up to 10) even if the "
        "images are copies; one class scores about 1. The Fréchet distance compares the generated features with the "
        "reference features (a Gaussian fit of each); precision and recall are the k-NN-ball metrics of the sandbox, "
        "in the feature space.",
        title="How to read the digits section",
    )


def _digits_hint(chosen: str) -> str:
    return {
        "copies of training digits": "the best scores here except 'closer to training' (1.0): only a comparison with "
                                     "the training set sees memorisation.",
        "one class only (collapse)": "precision stays high (each image is a real 1) while recall and the "
                                     "Inception-like score collapse.",
        "uniform noise": "even noise gets an Inception-like score above 1: the classifier is sure of something.",
        "real + pixel noise": "the class is still recognised (the score barely falls) but the Fréchet distance "
                              "rises ten-fold: it sees the texture.",
        "VAE samples": "high precision and low recall: the VAE's samples are blurry averages of a few kinds of digit.",
    }.get(chosen, "pick 'copies of training digits': which number notices?")
