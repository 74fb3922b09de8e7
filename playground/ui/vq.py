"""The latent explorer's VQ-VAE section: discrete codes, the codebook learning, dead codes, and
priors over the codes to generate with (widgets -> compute -> figures)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from playground import vq
from playground.figures.evaluation import image_rows
from playground.figures.latent import image_mosaic
from playground.figures.vq import codebook_plane, vq_curves
from playground.images import load_digits
from playground.stepper import lock_for
from playground.targets import get_target
from playground.ui.controls import formula_panel, per_snapshot, stepper_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext

STATE_KEY = "vq_trainer"
TARGETS_2D = ["ring8", "mog2d", "moons", "banana"]
FORMULA = (r"\begin{gathered}k = \arg\min_k \lVert z_e - e_k\rVert \\ z_q = z_e + \mathrm{sg}[e_k - z_e] \\ "
           r"L = -\log p(x\mid z_q) \\ +\, \lVert \mathrm{sg}[z_e] - e_k\rVert^2 + \beta\,\lVert z_e - "
           r"\mathrm{sg}[e_k]\rVert^2\end{gathered}")


@st.cache_data(show_spinner=False, max_entries=2)
def _digits(seed: int):
    split = load_digits().split(0.2, seed=seed)
    return split.x_train, split.x_test


def _data(source: str, seed: int) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    if source == "digits":
        x_train, x_test = _digits(seed)
        return x_train, x_test, None
    target = get_target(source)
    return target.sample(2000, seed), target.sample(500, seed + 1), target.bounds


def vq_section(page: PageContext) -> None:
    side, main = st.columns([1, 2.4], gap="medium")
    with side:
        source = linked(st.selectbox, "Data", key="vq_d", default="ring8", options=TARGETS_2D + ["digits"],
                        format_func=lambda s: "digits (two codes per image)" if s == "digits"
                        else f"2D: {get_target(s).label} (codebook in the data space)")
        pair = st.columns(2)
        codes = linked(pair[0].select_slider, "Codes K", key="vq_k", default=16, options=[4, 8, 16, 32, 64])
        beta = linked(pair[1].select_slider, "Commitment β", key="vq_b", default=0.25,
                      options=[0.0, 0.1, 0.25, 0.5, 1.0, 2.0])
        ema = linked(st.toggle, "Codebook by moving averages (EMA)", key="vq_ema", default=False,
                     help="Off: the codebook loss moves each used code towards its encodings by gradient. On: each "
                          "code becomes the running mean of the encodings assigned to it.")
        start = linked(st.radio, "Codes start", key="vq_init", default="data", options=["data", "corner"],
                       horizontal=True, format_func={"data": "on random encodings", "corner": "all in one corner"}.get,
                       help="In one corner, one code wins every point and the others never move: dead codes.")
        reset = linked(st.toggle, "Reset dead codes (every 50 steps)", key="vq_reset", default=False,
                       help="A code no encoding used in the last 50 steps jumps onto a random encoding.")
    config = vq.VQConfig(data="digits" if source == "digits" else "2d", codes=int(codes), beta=float(beta),
                         ema=bool(ema), init=start, reset_dead=bool(reset), seed=page.seed)
    x_train, x_test, bounds = _data(source, page.seed)

    def picture(trainer: vq.VQTrainer):
        if config.data == "2d":
            shown = x_train[:1000]
            assigned = trainer.codes_of(shown)
            usage = np.bincount(trainer.codes_of(x_train), minlength=config.codes)
            return page.themed(codebook_plane(shown, assigned, trainer.snapshot()["codebook"], usage, bounds,
                                              title=f"Step {trainer.iteration}: the codebook in the data space"))
        originals = x_test[:12]
        rebuilt = trainer.decode_codes(trainer.codes_of(originals))
        return page.themed(image_rows(np.concatenate([originals, rebuilt]), (8, 8), ["test digits", "through the codes"],
                                      12, title=f"Step {trainer.iteration}: reconstructions from two codes each"))

    def render(trainer: vq.VQTrainer) -> None:
        page.show(per_snapshot(trainer, "vq picture", lambda: picture(trainer), page.projection), key="vq_main",
                  height=500)
        numbers, plots = st.columns([1.4, 1.6], gap="medium")
        with numbers:
            last = trainer.history[-1] if trainer.history else {}
            values = {"reconstruction": last.get("reconstruction", float("nan")),
                      "commitment": last.get("commitment", float("nan"))}
            if trainer.latest("perplexity") is not None:
                values.update(perplexity=trainer.latest("perplexity"), **{"dead codes": int(trainer.latest("dead"))})
            values = {k: v for k, v in values.items() if v == v}
            formula_panel(FORMULA, values, title="VQ: the nearest code, straight through", columns=2,
                          try_next=_hint(config, trainer))
        if trainer.history:
            iterations = trainer.metric("iteration")
            perplexity, dead = trainer.metric("perplexity"), trainer.metric("dead")
            seen = ~np.isnan(perplexity)
            with plots:
                page.show(vq_curves(iterations, {"reconstruction": trainer.metric("reconstruction"),
                                                 "commitment": trainer.metric("commitment")},
                                    iterations[seen], perplexity[seen], dead[seen], config.codes),
                          key="vq_curves", height=340)

    with main:
        trainer = stepper_panel(STATE_KEY, lambda: vq.VQTrainer(x_train, x_test, config),
                                (config, source), render, steps_per_tick=5, max_steps_per_tick=50, interval=0.5,
                                step_label="Step", max_iterations=3000)
    if config.data == "digits":
        _priors_section(page, trainer, x_train, x_test, config)


def _hint(config: vq.VQConfig, trainer: vq.VQTrainer) -> str:
    dead = int(trainer.latest("dead") or 0)
    if config.init == "corner" and not config.reset_dead:
        return "most codes stay dead in their corner: turn on 'reset dead codes' and press Play again."
    if dead and not config.reset_dead:
        return f"{dead} code{'s are' if dead > 1 else ' is'} never used: turn on 'reset dead codes'."
    if config.data == "2d":
        return "with EMA on, the codes settle faster; the cells are a k-means partition of the data."
    return "train a few hundred steps, then compare the priors below: which one's samples look like digits?"


def _priors_section(page: PageContext, trainer: vq.VQTrainer, x_train: np.ndarray, x_test: np.ndarray,
                    config: vq.VQConfig) -> None:
    st.subheader("Generating: a prior over the codes")
    if trainer.iteration < 50:
        st.info("Train at least 50 steps (Play) before fitting a prior to the codes.")
        return
    with lock_for(trainer):
        train_codes, test_codes = trainer.codes_of(x_train), trainer.codes_of(x_test)
        rows, names, nll = [], [], {}
        for kind, label in vq.PRIORS.items():
            prior = vq.fit_prior(train_codes, config.codes, kind)
            nll[label] = float(-prior.log_prob(test_codes).mean())
            rows.append(trainer.decode_codes(prior.sample(12, page.seed)))
            names.append(label.split(":")[0])
        used = np.argsort(-np.bincount(train_codes.ravel(), minlength=config.codes))[:8]
        grid = trainer.decode_codes(np.array([(a, b) for a in used for b in used]))
    columns = st.columns([1, 2.2], gap="medium")
    with columns[0]:
        formula_panel(r"p(c_1, c_2) = p(c_1)\,p(c_2 \mid c_1)", {f"NLL, {k.split(':')[0]}": v for k, v in nll.items()},
                      title="Held-out codes: −log p (nats per image)", columns=1,
                      try_next="the autoregressive prior gives the held-out codes the highest probability (the "
                               "lowest NLL); train longer and compare the rows of samples.")
    with columns[1]:
        page.show(image_rows(np.concatenate(rows), (8, 8), names, 12, title="Samples: codes from each prior, decoded"),
                  key="vq_priors", height=300)
    page.show(image_mosaic(grid, (8, 8), 8, title="Decoded code pairs (c₁, c₂) of the 8 most used codes: row c₁, "
                                                "column c₂"), key="vq_grid", height=420)
