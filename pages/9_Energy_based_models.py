"""Energy-based models in 2D (lecture 003's energy models and lecture 004's EBM training and Langevin sampling).

Learn an energy E_theta with the contrastive gradient (Langevin negatives) or by denoising score
matching, and, because the data are 2D, see what is normally hidden: the partition function Z,
the normalised density, the exact held-out likelihood, and how far the chains are from the model.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Energy-based models", ":material/landscape:")

from playground import energy as E
from playground.figures import energy as F
from playground.stepper import lock_for
from playground.ui import energy as U
from playground.ui.controls import formula_panel, stepper_panel

INTRO = (
    "An energy-based model is any function $E_\\theta(x)$: low energy = likely, "
    "$p_\\theta(x) = e^{-E_\\theta(x)}/Z(\\theta)$. The normaliser $Z(\\theta) = \\int e^{-E_\\theta}$ is "
    "intractable in high dimension, yet maximum likelihood only needs samples of the model: "
    "$\\nabla_\\theta \\log p_\\theta(x) = -\\nabla_\\theta E_\\theta(x) + \\mathbb{E}_{u \\sim p_\\theta}"
    "[\\nabla_\\theta E_\\theta(u)]$."
)
if not page.projection:
    st.markdown(INTRO)

controls, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
with controls:
    preset = U.preset_picker()
    st.info(f"**What to watch:** {preset.watch}", icon=":material/visibility:")
    target, config = U.training_controls(preset, page.seed)

def picture(trainer: E.EnergyTrainer):
    """The main picture: the normalised model density on the grid, the data and the negatives."""
    axes_x, axes_y, density = E.grid_density(trainer.model, trainer.bounds, 100)
    negatives = trainer.negatives.cpu().numpy() if config.method != "dsm" and trainer.iteration else None
    return page.themed(F.energy_plane((axes_x, axes_y), density, trainer.bounds,
                                      data=trainer.data[:600].cpu().numpy(), negatives=negatives,
                                      negatives_label=("exact samples of p_θ (the grid): push E up"
                                                       if config.method == "exact" else
                                                       "Langevin negatives: push E up"),
                                      title=f"p_θ = e^(−E)/Z on the grid, iteration {trainer.iteration}"),
                       height=500, main=True)

def render(trainer: E.EnergyTrainer) -> None:
    page.show(picture(trainer), key="energy_plane", main=True)
    last = trainer.history[-1] if trainer.history else {}
    evaluated = [m for m in trainer.history if "held_out_log_likelihood" in m]
    values = {"loss": last.get("loss", float("nan"))}
    if evaluated:
        values["log Z (grid)"] = evaluated[-1]["log_z"]
        values["held-out log-lik."] = evaluated[-1]["held_out_log_likelihood"]
    if trainer.true_log_likelihood is not None:
        values["true log-lik."] = trainer.true_log_likelihood
    loss = (r"\mathcal{L} = \overline{E_\theta(x_{\rm data})} - \overline{E_\theta(u_{\rm Langevin})} + "
            r"\alpha\,(\overline{E^2_{\rm data}} + \overline{E^2_{u}}),\quad u \leftarrow u - \eta\nabla_u E + "
            r"\sqrt{2\eta}\,\xi" if config.method == "cd" else
            r"\mathcal{L} = \overline{E_\theta(x_{\rm data})} - \sum_{g} w_g\,E_\theta(g),\quad "
            r"w_g = \frac{e^{-E_\theta(g)}}{\sum_{g'} e^{-E_\theta(g')}}\ \text{over the grid: }"
            r"\nabla_\theta\mathcal{L} = -\nabla_\theta \overline{\log p_\theta(x_{\rm data})}"
            if config.method == "exact" else
            r"\mathcal{L} = \tfrac{\sigma^2}{2}\,\mathbb{E}\,\lVert -\nabla_x E_\theta(\tilde x) - "
            r"\tfrac{x - \tilde x}{\sigma^2}\rVert^2,\quad \tilde x = x + \sigma\varepsilon")
    formula_panel(loss, values, title=E.METHODS[config.method],
                  try_next="compare the held-out log-likelihood with the truth; then try the *Too few Langevin "
                  "steps* preset.")

with main:
    trainer: E.EnergyTrainer = stepper_panel(
        U.STATE_KEY, lambda: E.EnergyTrainer(target, config), (config, target.name, page.seed), render,
        steps_per_tick=10, max_steps_per_tick=100, interval=0.5, step_label="Train ×speed", picture=picture)

st.header("Training curves: what Z tells us")
left, right = st.columns(2)
with lock_for(trainer):
    history = trainer.curves()
with left:
    page.show(F.likelihood_curves(history, trainer.true_log_likelihood), key="energy_ll", height=380)
with right:
    page.show(F.training_curves(history), key="energy_curves", height=380)
st.caption("The likelihood is exact up to the box: Z is a sum over a 120 × 120 grid of the plotting box. The sliced "
           "W₂ compares the latest Langevin negatives with exact samples of the model drawn from the same grid: "
           "large values mean the chains do not sample the model they train.")

st.header("Langevin chains on the current energy")
with lock_for(trainer):
    path = trainer.chains(n=16, n_steps=max(config.langevin_steps, 40), seed=page.seed)
    axes_x, axes_y, density = E.grid_density(trainer.model, trainer.bounds, 80)
page.show(F.chains_figure((axes_x, axes_y), density, trainer.bounds, path), key="energy_chains", height=460)
st.caption(f"16 chains from uniform noise, {len(path) - 1} steps of size η = {config.step_size}. Press **▶ Animate**.")

page.explain(
    (INTRO + "\n\n" if page.projection else "")
    + "**Contrastive divergence** lowers the energy where the data are and raises it where the model's own samples "
    "are; when the two sets agree, the gradient vanishes. The negatives come from short Langevin runs, started from "
    "noise, from the previous chains (persistent), or from a replay buffer that restarts a few chains from noise. "
    "Too short a run and the model learns the sampler's bias instead of the data.\n\n"
    "**Denoising score matching** never samples: the score of the model, $-\\nabla_x E_\\theta$, is regressed on the "
    "score of the noise that was added to the data.\n\n"
    "**In 2D we can cheat**: $Z$ is a sum over the grid, so the page shows the normalised density and the exact "
    "held-out likelihood, which a real EBM can never compute. **Exact maximum likelihood** cheats in training too: "
    "the model's expectation in the gradient is a weighted sum over the grid instead of Langevin samples. It is the "
    "reference the two practical methods approximate: on the ring of 8 Gaussians it gets within 0.1 nats of the "
    "truth, where contrastive divergence with short runs stays about half a nat short: that gap is the sampler's "
    "bias.",
    title="How to read the page",
)
