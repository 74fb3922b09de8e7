"""Sections of the GAN training page: presets, controls, the live view and the scrubber."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from playground.figures.gan import f_divergence_curves, gan_plane, loss_curves, quality_curves, rejection_figure
from playground.gan import (ACTIVATIONS, NOISES, OBJECTIVES, OPTIMIZERS, PROBABILITY_OBJECTIVES, GANConfig, GANTrainer,
                            f_name, trainer_for_target)
from playground.stepper import lock_for
from playground.data import fingerprint
from playground.targets import Target
from playground.ui.controls import dataset_picker, formula_panel, stepper_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext

MIN_ROWS = 10
MAX_CURVE_POINTS = 1500  # loss curves are thinned beyond this many iterations
LEARNING_RATES = [1e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
STATE_KEY = "gan_trainer"

# Every main control: URL key -> default. Presets override some of them.
DEFAULTS: dict[str, Any] = {
    "data": "ring8", "obj": "nonsaturating", "m": 1, "sn": False, "opt": "adam", "lrg": 1e-3, "lrd": 1e-3,
    "bs": 256, "clip": 0.01, "gp": 0.1, "zdim": 2, "noise": "gaussian",
    "gdep": 2, "gwid": 128, "gact": "relu", "ddep": 2, "dwid": 128, "dact": "relu",
}


@dataclass(frozen=True)
class Preset:
    """A named configuration and the one thing to watch when it runs."""

    label: str
    watch: str
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # the seed that reproduces the failure


PRESETS: dict[str, Preset] = {
    "custom": Preset("Your own settings", "Set the controls below, then press Play."),
    "collapse": Preset(
        "Mode collapse",
        "The generated points (orange) crowd onto one to three of the eight modes and hop between them "
        "instead of spreading out: **modes covered** stays between 1 and 3, recall below 0.35, for about 800 "
        "iterations; then the cloud finally spreads.",
        {"data": "ring8", "obj": "nonsaturating", "m": 1, "opt": "adam", "lrg": 1e-3, "lrd": 1e-3}, seed=1),
    "oscillation": Preset(
        "Oscillation",
        "A weight-clipped critic with a large clip and Adam: the critic's slope flips every few dozen "
        "iterations and the whole orange cloud swings from one side of the ring to the other instead of settling.",
        {"data": "ring8", "obj": "wgan_clip", "m": 1, "opt": "adam", "lrg": 1e-3, "lrd": 1e-3, "clip": 0.1},
        seed=0),
    "vanishing": Preset(
        "Vanishing generator gradient",
        "A strong D (5 steps per G step, larger learning rate) rejects every generated point: D(G(z)) → 0 where "
        "log(1 − D) is flat, so **G's gradient norm** (dotted, right axis) collapses and the arrows need a huge "
        "magnification (the norm falls below 10⁻⁴ within 50 iterations and stays there). Then switch the objective to "
        "non-saturating: both networks are kept, and the same D now gives G a strong push (the norm jumps above 1).",
        {"data": "ring8", "obj": "minimax", "m": 5, "opt": "adam", "lrg": 1e-4, "lrd": 5e-3}, seed=0),
    "wgan_gp": Preset(
        "WGAN-GP covers all modes",
        "The critic is kept 1-Lipschitz by the gradient penalty, so it gives useful gradients everywhere: the "
        "generated points spread to all eight modes (**modes covered** reaches 8 by iteration 100 and stays there).",
        {"data": "ring8", "obj": "wgan_gp", "m": 5, "opt": "adam", "lrg": 1e-3, "lrd": 1e-3, "gp": 0.1}, seed=0),
    "f_kl": Preset(
        "f-GAN, forward KL covers the modes",
        "The KL divergence KL(P‖Q) punishes every real mode the generator misses, as on the KL page's forward "
        "fit: with 5 D steps per G step the orange points reach all eight modes and recall passes 0.9 by "
        "iteration 1,000. Watch the bound (−D loss) climb towards the smoothed divergence.",
        {"data": "ring8", "obj": "f_kl", "m": 5, "opt": "adam", "lrg": 2e-4, "lrd": 2e-4}, seed=0),
}

OBJECTIVE_FORMULAS: dict[str, tuple[str, str]] = {
    "minimax": (r"\max_D\; \mathbb{E}_x \log D(x) + \mathbb{E}_z \log(1 - D(G(z)))",
                r"\min_G\; \mathbb{E}_z \log(1 - D(G(z)))"),
    "nonsaturating": (r"\max_D\; \mathbb{E}_x \log D(x) + \mathbb{E}_z \log(1 - D(G(z)))",
                      r"\min_G\; -\mathbb{E}_z \log D(G(z))"),
    "least_squares": (r"\min_D\; \tfrac12\mathbb{E}_x (D(x) - 1)^2 + \tfrac12\mathbb{E}_z D(G(z))^2",
                      r"\min_G\; \tfrac12\mathbb{E}_z (D(G(z)) - 1)^2"),
    "wgan_clip": (r"\max_{|w_i| \le c}\; \mathbb{E}_x D(x) - \mathbb{E}_z D(G(z))",
                  r"\min_G\; -\mathbb{E}_z D(G(z))"),
    "wgan_gp": (r"\max_D\; \mathbb{E}_x D(x) - \mathbb{E}_z D(G(z)) - \lambda\, \mathbb{E}_{\hat x}"
                r"(\lVert \nabla_{\hat x} D(\hat x) \rVert - 1)^2",
                r"\min_G\; -\mathbb{E}_z D(G(z))"),
    "hinge": (r"\min_D\; \mathbb{E}_x \max(0, 1 - D(x)) + \mathbb{E}_z \max(0, 1 + D(G(z)))",
              r"\min_G\; -\mathbb{E}_z D(G(z))"),
}
# f-GAN: (f(u), g_f(v), f*(t)) as in Nowozin et al. (2016), Table 2.
F_LATEX: dict[str, tuple[str, str, str]] = {
    "kl": (r"u \log u", r"v", r"e^{t-1}"),
    "reverse_kl": (r"-\log u", r"-e^{-v}", r"-1-\log(-t)"),
    "js": (r"u\log u-(u{+}1)\log\tfrac{u+1}{2}", r"\log 2-\log(1{+}e^{-v})", r"-\log(2-e^{t})"),
    "pearson": (r"(u-1)^2", r"v", r"t + t^2/4"),
    "hellinger": (r"(\sqrt u-1)^2", r"1-e^{-v}", r"t/(1-t)"),
    "tv": (r"\tfrac12|u-1|", r"\tfrac12\tanh v", r"t"),
}
for _name, (_f, _g, _conj) in F_LATEX.items():
    OBJECTIVE_FORMULAS[f"f_{_name}"] = (
        r"\max_V\; \mathbb{E}_x T(x) - \mathbb{E}_z f^*(T(G(z))),\ T = g_f(V) \\ "
        + rf"f(u) = {_f},\ g_f(v) = {_g},\ f^*(t) = {_conj}",
        r"\min_G\; -\mathbb{E}_z\, T(G(z))")


def _apply_preset() -> None:
    """on_change of the preset box: write the preset's values into the controls' state."""
    preset = PRESETS[st.session_state["preset"]]
    for key, value in {**DEFAULTS, **preset.settings}.items():
        if key != "data" or preset.settings:
            st.session_state[key] = value
    if preset.seed is not None:
        st.session_state["seed"] = preset.seed
    st.session_state.pop(STATE_KEY, None)


def preset_picker() -> Preset:
    """The preset box and its one-line "what to watch"."""
    name = linked(st.selectbox, "Preset", key="preset", default="custom", options=list(PRESETS),
                  format_func=lambda key: PRESETS[key].label, on_change=_apply_preset,
                  help="Ready-made runs that show a failure (or its cure). Each is seeded so it reproduces.")
    return PRESETS[name]


def _defaults(preset: Preset) -> dict[str, Any]:
    """Control defaults: a preset given in the link (first run) sets the controls it names."""
    return {**DEFAULTS, **preset.settings}


def training_controls(preset: Preset) -> tuple[Target, GANConfig]:
    """Data, objective, networks and optimiser controls -> (target, config)."""
    d = _defaults(preset)
    target = dataset_picker("data", dims=(2,), default=d["data"])
    objective = linked(st.selectbox, "Objective", key="obj", default=d["obj"], options=list(OBJECTIVES),
                       format_func=OBJECTIVES.get)
    # One above the other: side by side, the projected side column wrapped the toggle's label a few letters a line
    d_steps = linked(st.number_input, "D steps per G step (m)", key="m", default=d["m"], min_value=1,
                     max_value=10, step=1)
    spectral = linked(st.toggle, "Spectral norm on D", key="sn", default=d["sn"],
                      help="Divide each weight matrix of D by its largest singular value: D becomes 1-Lipschitz.")
    with st.expander("Networks, noise and optimiser", expanded=False):
        optimizer = linked(st.selectbox, "Optimiser", key="opt", default=d["opt"], options=list(OPTIMIZERS))
        lr_g = linked(st.select_slider, "Learning rate G", key="lrg", default=d["lrg"], options=LEARNING_RATES)
        lr_d = linked(st.select_slider, "Learning rate D", key="lrd", default=d["lrd"], options=LEARNING_RATES)
        batch = linked(st.select_slider, "Batch size", key="bs", default=d["bs"], options=[32, 64, 128, 256, 512])
        pair = st.columns(2)
        latent_dim = linked(pair[0].number_input, "Latent dim", key="zdim", default=d["zdim"], min_value=1,
                            max_value=8, step=1, help="2 lets the warped latent grid show the whole generator.")
        noise = linked(pair[1].selectbox, "Noise z ~ Q", key="noise", default=d["noise"], options=list(NOISES))
        pair = st.columns(2)
        clip = linked(pair[0].select_slider, "Clip c (WGAN)", key="clip", default=d["clip"],
                      options=[0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5])
        gp = linked(pair[1].select_slider, "Penalty λ (GP)", key="gp", default=d["gp"],
                    options=[0.01, 0.1, 1.0, 10.0])
        triple = st.columns(3)
        g_depth = linked(triple[0].number_input, "G layers", key="gdep", default=d["gdep"], min_value=1, max_value=5)
        g_width = linked(triple[1].select_slider, "G width", key="gwid", default=d["gwid"],
                         options=[8, 16, 32, 64, 128, 256])
        g_act = linked(triple[2].selectbox, "G activation", key="gact", default=d["gact"], options=list(ACTIVATIONS))
        triple = st.columns(3)
        d_depth = linked(triple[0].number_input, "D layers", key="ddep", default=d["ddep"], min_value=1, max_value=5)
        d_width = linked(triple[1].select_slider, "D width", key="dwid", default=d["dwid"],
                         options=[8, 16, 32, 64, 128, 256])
        d_act = linked(triple[2].selectbox, "D activation", key="dact", default=d["dact"], options=list(ACTIVATIONS))
    config = GANConfig(objective=objective, latent_dim=int(latent_dim), noise=noise, depth=int(g_depth),
                       width=int(g_width), activation=g_act, d_depth=int(d_depth), d_width=int(d_width),
                       d_activation=d_act, spectral_norm=bool(spectral), optimizer=optimizer, lr_g=float(lr_g),
                       lr_d=float(lr_d), d_steps=int(d_steps), batch_size=int(batch), clip=float(clip),
                       gp_weight=float(gp))
    return target, config


def view_toggles() -> dict[str, bool]:
    """Which layers of the plane to draw."""
    names = [("crit", "Critic heatmap"), ("real", "Real data"), ("fake", "Generated points"),
             ("arrows", "G's gradient arrows"), ("mesh", "Warped latent grid"), ("loss", "Loss curves"),
             ("qual", "Quality curves")]
    st.markdown("**Show**")
    return {name: linked(st.toggle, label, key=f"v{name}", default=True) for name, label in names}




def single_step_buttons() -> None:
    """D only / G only / one full iteration, acting on the trainer the stepper panel keeps."""
    st.markdown("**One update of**")
    columns = st.columns(3)
    trainer: GANTrainer | None = st.session_state.get(STATE_KEY)
    actions = [("D only", "gan_d", "step_discriminator",
                "One gradient step of the discriminator only: watch the heatmap."),
               ("G only", "gan_g", "step_generator",
                "One gradient step of the generator only: the points follow the arrows."),
               ("Both", "gan_it", "step", "One full iteration: m discriminator steps, then one generator step.")]
    for column, (label, key, method, help_text) in zip(columns, actions):
        if column.button(label, key=key, width="stretch", help=help_text) and trainer is not None:
            with lock_for(trainer):
                getattr(trainer, method)()


def _thin(values: np.ndarray) -> np.ndarray:
    stride = max(1, len(values) // MAX_CURVE_POINTS)
    return values[::stride]


def _snapshot_choice(trainer: GANTrainer) -> tuple[dict[str, Any], int | None]:
    """The frame to draw: live, or a past snapshot picked on the history scrubber (drawn below the plane)."""
    live = trainer.snapshot()
    past = [s for s in trainer.snapshots if s["iteration"] < trainer.iteration]
    if not past:
        return live, None
    options = list(range(len(past))) + [-1]
    choice = st.select_slider(
        "History scrubber (snapshots)", options=options, value=-1, key=f"gan_scrub_{len(past)}_{trainer.iteration}",
        format_func=lambda i: f"now · it {trainer.iteration}" if i == -1 else f"it {past[i]['iteration']}",
        help=f"A snapshot is kept every {trainer.config.snapshot_every} iterations; pause, then drag back in time.")
    if choice == -1:
        return live, None
    return past[choice], int(past[choice]["iteration"])


def _formula(trainer: GANTrainer, frame_iteration: int | None) -> None:
    objective = trainer.config.objective
    d_formula, g_formula = OBJECTIVE_FORMULAS[objective]
    last = trainer.history[-1] if trainer.history else {}
    probability = objective in ("minimax", "nonsaturating")
    values = {"D loss": last.get("d_loss", float("nan")), "G loss": last.get("g_loss", float("nan")),
              "mean D(x), real" if probability else "mean score, real": last.get("d_real", float("nan")),
              "mean D(G(z))" if probability else "mean score, fake": last.get("d_fake", float("nan"))}
    if objective in ("wgan_clip", "wgan_gp") and trainer.snapshots and "critic_gap" in trainer.snapshots[-1]["quality"]:
        check = trainer.snapshots[-1]["quality"]
        values["critic gap"] = check["critic_gap"]
        values["Lipschitz bound K"] = check["critic_lipschitz"]
        values["W₁ of the clouds"] = check["w1_standardised"]
    if objective == "wgan_gp":
        values["gradient penalty"] = last.get("penalty", float("nan"))
    if probability:  # -D loss <= 2 JS - log 4 for every D: the log loss is a bound on JS, tight at D's optimum
        values["JS ≥ (log 4 − D loss)/2"] = (math.log(4.0) - last.get("d_loss", float("nan"))) / 2
        if trainer.snapshots and "js_smoothed" in trainer.snapshots[-1]["quality"]:
            values["JS, smoothed clouds"] = trainer.snapshots[-1]["quality"]["js_smoothed"]
    if f_name(objective) is not None:
        values["bound on D_f (−D loss)"] = -last.get("d_loss", float("nan"))
        if trainer.snapshots and "f_smoothed" in trainer.snapshots[-1]["quality"]:
            values["D_f, smoothed clouds"] = trainer.snapshots[-1]["quality"]["f_smoothed"]
    values["‖∇θ L_G‖"] = last.get("g_grad_norm", float("nan"))
    values = {name: value for name, value in values.items() if np.isfinite(value)}
    if not values:
        st.caption("No step yet: press **Step D only**, **Step G only** or **▶ Play** to see the live values.")
    both = r"\begin{gathered}" + d_formula + r"\\[4pt]" + g_formula + r"\end{gathered}"  # one per line
    try_next = ("Step D only a few times and watch the heatmap sharpen; then Step G only and see the orange points "
                "move along the arrows.")
    if f_name(objective) is not None:
        try_next = ("the bound (−D loss) stays below the divergence of the smoothed clouds; switch f and compare "
                    "which modes the generator keeps.")
    formula_panel(both, values, title=f"{OBJECTIVES[objective]} · D steps m = {trainer.config.d_steps}",
                  try_next=try_next)
    quality = (trainer.snapshots[-1] if frame_iteration is None else
               next(s for s in trainer.snapshots if s["iteration"] == frame_iteration))["quality"]
    summary = [f"precision **{quality['precision']:.2f}**", f"recall **{quality['recall']:.2f}**",
               f"sliced W₂ **{quality['sliced_w2']:.3f}**"]
    if "modes_covered" in quality:
        summary.insert(0, f"modes covered **{int(quality['modes_covered'])}/{len(trainer.modes)}**")
    st.markdown("Quality at the last snapshot: " + " · ".join(summary))


def _plane(trainer: GANTrainer, frame: dict[str, Any], views: dict[str, bool], title: str | None = None):
    probability = trainer.config.objective in ("minimax", "nonsaturating")
    return gan_plane(frame, trainer.bounds, show_critic=views["crit"], show_real=views["real"],
                     show_fake=views["fake"], show_arrows=views["arrows"], show_manifold=views["mesh"],
                     critic_label="D(x)" if probability else "critic D(x)", title=title)


def live_view(page: PageContext, trainer: GANTrainer, views: dict[str, bool]) -> None:
    """One refresh of the page's picture: plane + formula, then the curves."""
    plane_slot = st.container()  # the plane goes above the scrubber that chooses its frame
    frame, scrubbed = _snapshot_choice(trainer)
    probability = trainer.config.objective in ("minimax", "nonsaturating")
    with plane_slot:
        title = f"Snapshot at iteration {frame['iteration']}" if scrubbed is not None else None
        page.show(_plane(trainer, frame, views, title), key="gan_plane", main=True)
    _formula(trainer, scrubbed)
    if trainer.switches:
        iteration, objective = trainer.switches[-1]
        st.caption(f"Objective switched to {OBJECTIVES[objective]} at iteration {iteration:,}: both networks and "
                   "the run so far were kept. Reset starts afresh.")
    curves = st.columns(2)
    if trainer.history and views.get("loss", True):
        history = {name: _thin(trainer.metric(name)) for name in ("iteration", "d_loss", "g_loss", "g_grad_norm")}
        with curves[0]:
            page.show(loss_curves(history, marker_iteration=scrubbed), key="gan_loss", height=380)
    snapshots = trainer.snapshots
    if len(snapshots) > 1 and views.get("qual", True):
        names = {name for s in snapshots for name in s["quality"]}  # a switched objective adds or drops some
        quality = {name: np.array([s["quality"].get(name, np.nan) for s in snapshots]) for name in names}
        iterations = np.array([s["iteration"] for s in snapshots])
        with curves[1]:
            page.show(quality_curves(iterations, quality, n_modes=None if trainer.modes is None else len(trainer.modes),
                                     marker_iteration=scrubbed), key="gan_quality", height=380)
        if "f_smoothed" in quality and trainer.history:
            page.show(f_divergence_curves(_thin(trainer.metric("iteration")), -_thin(trainer.metric("d_loss")),
                                          iterations, quality["f_smoothed"],
                                          OBJECTIVES[trainer.config.objective].split(": ")[1],
                                          marker_iteration=scrubbed), key="gan_f", height=340)


def training_section(page: PageContext, target: Target, config: GANConfig, views: dict[str, bool]) -> None:
    """The step buttons, the stepper panel (play / pause / reset / speed) and the live view."""
    rows = len(getattr(target, "data", ())) if getattr(target, "data", None) is not None else None
    if rows is not None and rows < MIN_ROWS:
        st.error(f"Only {rows} data rows: a GAN needs at least {MIN_ROWS}. Pick another dataset or upload more rows.")
        return
    key = (config, fingerprint(target), page.seed)
    previous, previous_key = st.session_state.get(STATE_KEY), st.session_state.get(f"{STATE_KEY}__config")

    def factory() -> GANTrainer:
        # Only the objective changed (same data, seed and settings): keep the networks and train on.
        if previous is not None and previous_key is not None and previous_key[1:] == key[1:] \
                and previous.can_switch_to(config):
            with lock_for(previous):
                previous.switch_objective(config.objective)
            return previous
        return trainer_for_target(target, config, seed=page.seed)

    stepper_panel(STATE_KEY, factory, key,
                  lambda trainer: live_view(page, trainer, views), steps_per_tick=10, max_steps_per_tick=100,
                  interval=0.6, step_label="Step ×speed",
                  picture=lambda trainer: page.themed(_plane(trainer, trainer.snapshot(), views), main=True))


def rejection_section(page: PageContext) -> None:
    """Discriminator rejection sampling (Azadi et al., 2019) on the current trainer."""
    trainer = st.session_state.get(STATE_KEY)
    st.subheader("Discriminator rejection sampling")
    shown = linked(st.toggle, "Filter the generator's samples with D (after training: pause first)", key="drs",
                   default=False)
    if trainer is None or not shown:
        return
    if trainer.config.objective not in PROBABILITY_OBJECTIVES:
        st.info("Rejection sampling reads log p/q from D's logit: pick the minimax or non-saturating objective.")
        return
    columns = st.columns([1, 2.2], gap="medium")
    with columns[0]:
        gamma = linked(st.slider, "Shift γ", key="drs_g", default=0.0, min_value=-3.0, max_value=3.0, step=0.25,
                       help="γ = 0: accept with probability exp(s(x) − D_M), plain rejection sampling if D were "
                            "optimal. γ > 0 rejects more (sharper, fewer samples); γ < 0 accepts more.")
        n = linked(st.select_slider, "Candidates G(z)", key="drs_n", default=2000, options=[500, 1000, 2000, 5000])
    with lock_for(trainer):
        if trainer.iteration == 0:
            columns[1].info("Train the GAN first (Step or Play): an untrained D says nothing about p/q.")
            return
        result = trainer.rejection_sample(int(n), float(gamma), seed=page.seed)
        points, accepted = result["points"], result["accepted"]
        before = trainer.quality(points)
        after = trainer.quality(points[accepted]) if accepted.sum() > 6 else None
        real = trainer.real_show
        bounds = trainer.bounds
        iteration = trainer.iteration
        n_modes = None if trainer.modes is None else len(trainer.modes)
    with columns[1]:
        page.show(rejection_figure(real, points, accepted, bounds,
                                   title=f"Iteration {iteration}: {accepted.sum():,} of {len(points):,} kept"),
                  key="drs_fig", height=460)
    with columns[0]:
        values = {"acceptance rate": result["rate"], "D_M (max logit)": result["max_logit"],
                  "precision before": before["precision"], "recall before": before["recall"]}
        if after is not None:
            values.update({"precision after": after["precision"], "recall after": after["recall"]})
            if n_modes:
                values.update({"modes before": int(before["modes_covered"]), "modes after": int(after["modes_covered"])})
        formula_panel(
            r"\begin{gathered}F(x) = s(x) - D_M - \log\big(1 - e^{\,s(x) - D_M - \epsilon}\big) - \gamma \\ "
            r"P(\text{accept } x) = \sigma(F(x))\end{gathered}",
            values, title="Accept G(z) with D's density ratio", columns=2,
            try_next="raise γ: precision rises and the acceptance rate falls; at γ = 0 DRS is exact rejection "
                     "sampling only if D is the optimal discriminator.")
