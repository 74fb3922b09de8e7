"""Diffusion and flow matching in 2D (lecture 004's last part, and the course's diffusion lectures).

Noise the data along a path, train a network to undo the noise, and sample by running the
path backwards: as a stochastic process (reverse SDE, DDPM) or as an ODE (probability flow,
DDIM with η = 0, flow matching), from the same network and the same starting noise.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Diffusion and flow matching", ":material/blur_on:")

import numpy as np

from playground import diffusion as D
from playground.figures import diffusion as F
from playground.stepper import lock_for
from playground.ui import diffusion as U
from playground.ui.controls import formula_panel, stepper_panel

INTRO = (
    "Add Gaussian noise to the data little by little until nothing is left but noise: "
    "$x_t = s(t)\\,x_0 + \\sigma(t)\\,\\varepsilon$. A network learns to predict the noise $\\varepsilon$ from $x_t$, "
    "which is the same as learning the **score** $\\nabla \\log q_t(x) = -\\varepsilon/\\sigma(t)$. Generating runs the "
    "noising backwards, from pure noise to data."
)
if not page.projection:
    st.markdown(INTRO)

# 1. The forward process, the training and the score field: the main picture
controls, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
with controls:
    preset = U.preset_picker()
    time_slot = st.container()  # the time slider, first under the preset: the control moved most
    st.info(f"**What to watch:** {preset.watch}", icon=":material/visibility:")
    target, config = U.training_controls(preset, page.seed)
    schedule = D.SCHEDULES[config.schedule]
    with time_slot:
        t = U.time_control(preset, schedule)
    show_exact = target.mixture is not None

def picture(trainer: D.DiffusionTrainer):
    """The main picture: noised data at t, the learned (and exact) score, q(x_t)."""
    noised = D.forward_noise(trainer.data[:800], schedule, t, page.seed).cpu().numpy()
    grid, learned = D.score_field(trainer.model.noise_predictor(), schedule, t, target.bounds)
    exact = D.score_field(D.ExactNoisePredictor(target.mixture, schedule), schedule, t, target.bounds)[1] \
        if show_exact else None
    density = U.density_grid(target, target.name, config.schedule, t, target.bounds) if show_exact else None
    return page.themed(F.score_plane(target.bounds, noised=noised, grid=grid, learned=learned, exact=exact,
                                     density=None if density is None else density[2],
                                     density_axes=None if density is None else density[:2], t=t,
                                     title=f"q(x_t) and its score at t = {t:.2f}"), height=520, main=True)

def render(trainer: D.DiffusionTrainer) -> None:
    page.show(picture(trainer), key="diffusion_plane", main=True)
    c = D.coefficients(schedule, t)
    loss = trainer.history[-1]["loss"] if trainer.history else float("nan")
    values = {"t": t, "s(t)": c["s"], "σ(t)": c["sigma"], "training loss": loss}
    if show_exact:
        gap = D.score_gap(trainer.model.noise_predictor(), target.mixture, schedule, [t], n=256, seed=page.seed)
        values["E|ε̂ − ε*|² at t"] = float(gap[0])
    loss_formula = (r"\mathcal{L} = \mathbb{E}_{x_0, t, \varepsilon}\,\lVert \hat\varepsilon_\theta(x_t, t) - "
                    r"\varepsilon\rVert^2" if config.objective == "eps" else
                    r"\mathcal{L} = \mathbb{E}_{x_0, t, \varepsilon}\,\lVert \hat u_\theta(x_t, t) - "
                    r"(\dot s\, x_0 + \dot\sigma\, \varepsilon)\rVert^2")
    formula_panel(r"x_t = s(t)\,x_0 + \sigma(t)\,\varepsilon,\qquad " + loss_formula, values,
                  title=f"{schedule.label} · {D.OBJECTIVES[config.objective]}",
                  try_next="move t from 0.9 down to 0.05: the arrows point towards the data at every noise level, "
                  "and sharpen into the modes as t falls.")

with main:
    trainer: D.DiffusionTrainer = stepper_panel(
        U.STATE_KEY, lambda: D.DiffusionTrainer(target, config), (config, target.name, page.seed), render,
        steps_per_tick=50, max_steps_per_tick=200, interval=0.5, step_label="Train ×speed", picture=picture)

# 2. Sampling: SDE against ODE from one network and one noise
st.header("Sampling: the reverse SDE against the ODE")
choice = U.sampling_controls(preset, target, trainer)
if not choice["samplers"]:
    st.info("Pick at least one sampler.")
else:
    runs = U.run_samplers(trainer, target, choice, page.seed)
    reference = U.reference_samples(target, target.name, 1500, page.seed + 1)
    page.show(F.trajectories(runs, D.SAMPLERS, target.bounds, reference), key="diffusion_paths",
              height=460 if page.projection else 420)
    quality = {name: D.sample_quality(run["final"], reference, seed=page.seed) for name, run in runs.items()}
    columns = st.columns(len(quality))
    for column, (name, q) in zip(columns, quality.items()):
        column.metric(f"{name} · precision / recall", f"{q['precision']:.2f} / {q['recall']:.2f}",
                      help=f"sliced W₂ {q['sliced_w2']:.3f}, MMD² {q['mmd2']:.4f} against fresh target samples")
    source = "the exact score" if choice["source"] == "exact" else f"the network at iteration {trainer.iteration}"
    st.caption(f"{len(runs[next(iter(runs))]['final'])} points per sampler, all from the same initial noise, with "
               f"{source}. Press **▶ Animate** under the figure to watch them travel from noise to data.")
formula_panel(
    r"\begin{gathered}\text{reverse SDE: } dx = [f(t)\,x - g(t)^2 \nabla\log q_t(x)]\,dt + g(t)\,d\bar w \\[3pt]"
    r"\text{probability-flow ODE: } dx = [f(t)\,x - \tfrac12 g(t)^2 \nabla\log q_t(x)]\,dt \\[3pt]"
    r"\text{DDIM: } x_{s} = s_s \hat x_0 + \sqrt{\sigma_s^2 - c^2}\,\hat\varepsilon + c\,z,\quad "
    r"c = \eta\,\sigma_s \sqrt{1 - \tfrac{s_t^2\sigma_s^2}{s_s^2\sigma_t^2}}\end{gathered}",
    {"f(t) at t": D.coefficients(schedule, t)["f"], "g(t)² at t": D.coefficients(schedule, t)["g2"],
     "steps": choice["steps"], "η": choice["eta"]},
    title="The samplers", try_next="pick the exact score and 10 steps: the differences you see are the samplers' "
    "alone. Then switch back to the network: what is left is the network's error.")

# 3. How many steps? Quality against network evaluations
st.header("How many steps? Quality against network evaluations")
nfe_key = ("diffusion_nfe", id(trainer), trainer.iteration, choice["source"], choice["label"], choice["guidance"],
           page.seed)
if st.button("Measure quality against NFE (a few seconds)", key="nfe_go", icon=":material/speed:"):
    with lock_for(trainer):
        reference = U.reference_samples(target, target.name, 1000, page.seed + 2)
        results = D.quality_against_nfe(U.noise_predictor(trainer, target, choice), schedule, reference,
                                         list(D.SAMPLERS), [2, 4, 8, 16, 32, 64, 128, 256, 512, 1000], n=1000, seed=page.seed,
                                         eta=choice["eta"])
        floor = D.sample_quality(U.reference_samples(target, target.name, 1000, page.seed + 3), reference)
    st.session_state["diffusion_nfe"] = (nfe_key, results, floor)
measured = st.session_state.get("diffusion_nfe")
if measured is not None and measured[0][1:] == nfe_key[1:]:
    _, results, floor = measured
    metric = st.radio("Measure", ["mmd2", "sliced_w2", "precision", "recall"], horizontal=True, key="nfe_metric",
                      format_func={"mmd2": "MMD²", "sliced_w2": "sliced W₂", "precision": "precision",
                                   "recall": "recall"}.get)
    page.show(F.nfe_curves(results, D.SAMPLERS, metric, floor=floor[metric]), key="diffusion_nfe_chart")
    st.caption("1,000 points per run, the same initial noise for every sampler and budget; the dotted line is the "
               "same measure between two honest samples of the target (the best any sampler can reach).")
else:
    st.caption("Press the button: every sampler runs with 2 to 1,000 network evaluations, from the same noise "
               "(about half a minute on a laptop's CPU).")

# 4. Guidance
if trainer.n_classes:
    st.header("Classifier-free guidance: precision against coverage")
    if st.button("Sweep the guidance scale w (a few seconds)", key="cfg_go", icon=":material/tune:"):
        with lock_for(trainer):
            reference = U.reference_samples(target, target.name, 1000, page.seed + 5)
            sweep = D.guidance_sweep(trainer.model, schedule, choice["label"], target.mixture.means[choice["label"]],
                                     reference, [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0], seed=page.seed)
        st.session_state["diffusion_cfg"] = ((id(trainer), trainer.iteration, choice["label"]), sweep)
    swept = st.session_state.get("diffusion_cfg")
    if swept is not None and swept[0] == (id(trainer), trainer.iteration, choice["label"]):
        page.show(F.guidance_curves(swept[1], current=choice["guidance"]), key="diffusion_cfg_chart", height=380)
        st.caption("w = 0 is the unconditional model, w = 1 the conditional one; larger w pushes further towards the "
                   "class: the samples leave the other modes (recall falls), then overshoot the chosen one.")

# 5. The noise schedule, and where the network is wrong
st.header("The noise schedule, and where the network is wrong")
left, right = st.columns(2)
with left:
    page.show(F.schedule_figure(U.schedule_curves(config.schedule), t=t), key="diffusion_schedule", height=380)
with right:
    if show_exact:
        times = np.linspace(max(schedule.t_min, 0.01), schedule.t_max, 24)
        with lock_for(trainer):
            gap = D.score_gap(trainer.model.noise_predictor(), target.mixture, schedule, times, n=512, seed=page.seed)
        page.show(F.gap_curve(times, gap, t=t), key="diffusion_gap", height=380)
    else:
        st.info("The exact score is known for mixture targets only: pick a ring, grid or mixture to see the gap.")

# 6. Exact likelihood through the ODE
st.header("Exact likelihood through the probability-flow ODE")
if not show_exact:
    st.info("The true density is known for mixture targets only.")
elif st.button("Compute log-likelihoods of 150 data points (a few seconds)", key="ll_go", icon=":material/functions:"):
    points = U.reference_samples(target, target.name, 150, page.seed + 4)
    with lock_for(trainer):
        truth, estimates = D.log_likelihoods(
            {"exact score": D.ExactNoisePredictor(target.mixture, schedule),
             "learned score": trainer.model.noise_predictor()}, target.mixture, schedule, points)
    page.show(F.likelihood_scatter(truth, estimates), key="diffusion_ll", height=420)
    st.caption(f"Mean log-likelihood: true {truth.mean():.3f}, ODE with the exact score "
               f"{estimates['exact score'].mean():.3f}, ODE with the network {estimates['learned score'].mean():.3f}.")

page.explain(
    (INTRO + "\n\n" if page.projection else "")
    + "**The plane** shows the noised data $x_t$ (blue dots), the exact noised density $q_t$ for mixture targets "
    "(blue shade: a noised mixture is again a mixture, with covariances $s^2\\Sigma_k + \\sigma^2 I$), and the score "
    "arrows on a grid: learned (vermillion) and exact (black), drawn with one common scale.\n\n"
    "**Training** draws a batch $x_0$, a time $t$ and noise $\\varepsilon$, and regresses the network's output on "
    "$\\varepsilon$ (or, for flow matching, on the velocity $\\dot s x_0 + \\dot\\sigma\\varepsilon$ of the path; on "
    "the straight path $x_t = (1-t)x_0 + t\\varepsilon$ that is $\\varepsilon - x_0$).\n\n"
    "**The samplers** all start from the same noise. The reverse SDE and DDPM add fresh noise at every step, so their "
    "paths jitter; the probability-flow ODE and DDIM with $\\eta = 0$ are deterministic, so their paths are smooth. "
    "Both have the same marginals $q_t$ when the score is exact and the steps are small.\n\n"
    "**Try next:** the *Too few steps* and *SDE vs ODE at 10 steps* presets (exact score); then train on the ring "
    "for a few seconds, switch the score to the network and compare.",
    title="How to read the page",
)
