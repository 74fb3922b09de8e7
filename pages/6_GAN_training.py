"""Adversarial training in 2D, step by step (lectures 003 and 004).

A GAN Lab-class playground: pick data and an objective, step the discriminator or the
generator alone, or play the alternating game; watch the critic's heatmap, the force
on each generated point, the warped latent grid, and the loss and quality curves.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("GAN training", ":material/swords:")

from playground.ui.gan import (preset_picker, rejection_section, single_step_buttons, training_controls,
                              training_section, view_toggles)

INTRO = (
    "A **generator** $G$ turns noise $z \\sim Q$ into points $G(z)$; a **discriminator** $D$ scores points, "
    "high on real data, low on generated ones. Train them against each other and watch."
)
if not page.projection:  # on a projector the picture comes first; the intro opens below
    st.markdown(INTRO)

controls, main = page.split() if page.projection else st.columns([1, 2.5], gap="medium")
with controls:
    preset = preset_picker()
    seeded = (f" This preset sets the page's seed to {preset.seed} (in the sidebar): the run it describes "
              "happens at that seed." if preset.seed is not None else "")
    st.info(f"**What to watch:** {preset.watch}{seeded}", icon=":material/visibility:")
    single_step_buttons()
    target, config = training_controls(preset)
    views = view_toggles()
with main:
    training_section(page, target, config, views)
rejection_section(page)

page.explain(
    (INTRO + "\n\n" if page.projection else "")
    + "Training alternates: $m$ steps make $D$ a better judge, then one step moves $G$ where $D$ says the data "
    "are (lecture 003). With the log loss and the best possible $D$, the game is the **Jensen–Shannon "
    "divergence** in its weak (dual) form, $2\\,\\mathrm{JS}(P, P') - \\log 4 = \\sup_q \\mathbb{E}_P \\log q + "
    "\\mathbb{E}_{P'} \\log(1 - q)$ over $q: \\mathbb{R}^d \\to [0, 1]$. The WGAN objectives use a different dual, "
    "Kantorovich–Rubinstein's: $W_1(P, P') = \\sup_{\\|f\\|_L \\le 1} \\mathbb{E}_P f - \\mathbb{E}_{P'} f$, with no "
    "logarithm and no $[0, 1]$: the critic $f$ only has to be 1-Lipschitz. Weight clipping makes it $K$-Lipschitz "
    "for some $K$ it does not control, the gradient penalty pushes $\\|\\nabla f\\|$ towards 1 softly (at sampled "
    "points), spectral normalisation bounds $K$ by the product of the layers' norms. So the critic's score gap "
    "is at most $K \\cdot W_1$ (in the standardised units $D$ is trained in): the formula panel shows the gap, "
    "the bound on $K$ and the exact $W_1$ of the two clouds.\n\n"
    "**The heatmap** is $D$ over the plane: green where $D$ believes points are real, purple where it "
    "believes they are generated (for the WGAN and hinge objectives, the raw critic score).\n\n"
    "**The arrows** are $-\\nabla_x L_G$ at each generated point $x = G(z)$: the direction the next generator "
    "step pushes that sample, before the push is shared out over $G$'s weights. Their length is rescaled "
    "for display; the legend's factor tells how much (a huge factor means a vanishing gradient).\n\n"
    "**The grey mesh** is the image of a square grid of latent codes under $G$: the generator is a warp of "
    "the latent plane, and mode collapse shows as the whole mesh folding onto a few points.\n\n"
    "**Quality curves** use a fixed real set and fixed noise: *precision* is the fraction of generated points "
    "that land on the real data manifold (k-NN balls around real points), *recall* the fraction of real "
    "points covered by the generated manifold, *modes covered* counts the mixture's modes that receive at "
    "least 1% of the samples within 3 standard deviations, and sliced $W_2$ / MMD$^2$ measure the distance "
    "between the two clouds. The losses alone do not tell whether training works: compare them.\n\n"
    "**f-GAN** (Nowozin et al., 2016): any f-divergence $D_f(P\\|Q) = \\mathbb{E}_Q f(p/q)$ has the variational "
    "lower bound $\\sup_T \\mathbb{E}_P T - \\mathbb{E}_Q f^*(T)$ ($f^*$ the convex conjugate), tight at "
    "$T = f'(p/q)$. $D$ outputs $V(x)$ and $T = g_f(V)$ keeps $T$ where $f^*$ is defined. The generator "
    "step here is the paper's practical one (maximise $\\mathbb{E}_z T(G(z))$); with $f$ = Jensen–Shannon the "
    "game is exactly the non-saturating GAN. The curve compares the bound with the divergence between the "
    "real and generated clouds, each smoothed by the same Gaussian (a lower bound on the true divergence too).\n\n"
    "**Discriminator rejection sampling** (Azadi et al., 2019): at the optimum, $D = p/(p+q)$, so its logit "
    "$s(x)$ is $\\log p(x)/q(x)$. Accepting $G(z)$ with probability $e^{s - D_M}$ ($D_M$ the largest logit seen) "
    "is rejection sampling from $q$ towards $p$; the shift $\\gamma$ trades samples for fidelity.\n\n"
    "**Try next:** the *Vanishing generator gradient* preset, then switch the objective to non-saturating "
    "without resetting anything else; the *Mode collapse* preset, then raise D steps per G step or switch to "
    "WGAN-GP; spectral normalisation with the hinge loss.",
    title="How to read the picture",
)
