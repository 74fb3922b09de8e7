"""Forward vs reverse KL: what the choice of divergence does to a fitted model (lectures 000, 002, 003, 004).

1. The fit race: the same q fitted to the same p by forward KL (maximum likelihood) and by
   reverse KL (reparameterised Monte-Carlo), from the same start, with the optima marked.
2. Other divergences on the same pair (JS, TV, W1, MMD), live, and optionally as objectives.
3. Calculators: the lecture's discrete example, KL between two Gaussians, MLE = forward KL.
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Forward vs reverse KL", "↔️")

from playground.ui.divergences import (
    RACE_KEY,
    discrete_calculator,
    fit_race_section,
    gaussian_calculator,
    mle_calculator,
    model_controls,
    target_controls,
)

INTRO = (
    "Fitting $q$ to $p$ = minimising a **divergence** $\\mathcal D(p\\,\\|\\,q)$. When $q$ is too simple, the "
    "choice decides the compromise: the **same** $q$ fitted from the **same** start by **forward KL** "
    "$D_{KL}(p\\|q)$ (blue) and by **reverse KL** $D_{KL}(q\\|p)$ (vermillion)."
)
if not page.projection:
    st.markdown(INTRO)
    st.header("1 · The fit race")
controls_area, race_area = page.split()
with controls_area, st.container(border=True):
    target_params = target_controls()
    dim = target_params.means.shape[1]
    config, divergences = model_controls(dim, page.seed)
with race_area:
    race = fit_race_section(page, target_params, config, divergences)
page.explain(
    "- **Forward KL** $D_{KL}(p\\|q) = \\mathbb E_p[\\log p - \\log q]$ needs only *samples* of $p$: "
    "minimising it is **maximum likelihood**, $\\max_\\theta \\frac1n\\sum_i \\log q_\\theta(x_i)$. "
    "It punishes $q \\approx 0$ where $p > 0$, so $q$ stretches to **cover every mode**.\n"
    "- **Reverse KL** $D_{KL}(q\\|p) = \\mathbb E_q[\\log q - \\log p]$ needs $\\log p$ and samples of $q$: "
    "draw $x = \\mu + L\\varepsilon$, $\\varepsilon \\sim \\mathcal N(0, I)$ (reparameterisation), so the "
    "gradient flows through $\\mu$ and $L$. It punishes mass where $p \\approx 0$, so $q$ **seeks one mode**.",
    title="The two directions of KL",
)
page.explain(
    "- **Same start, same p**: both fits begin from the q drawn as your start; blue follows forward KL, "
    "vermillion reverse KL.\n"
    "- **Marked optima** (single Gaussian q): the forward-KL optimum is *moment matching*, "
    "$\\mu^* = \\mathbb E_p[x]$, $\\Sigma^* = \\mathrm{Cov}_p[x]$ (dashed); the reverse KL has one "
    "local optimum per well-separated mode (dotted curves / stars), found by L-BFGS from every mode.\n"
    "- **Restart** with *🎲 New start* or the start sliders: the reverse fit lands in the mode nearest its "
    "start, the forward fit always lands in the same place.\n"
    "- **Fixed variance**: only the means move. **K > 1**: a mixture q can cover several modes; reverse KL "
    "still tends to leave small modes out.\n"
    "- **A learning rate of 1 or 5** is too large: the fits jump around, the reverse fit's variance can collapse. "
    "If a value ever becomes NaN or infinite, the race stops and keeps the last good state.",
    title="Details and things to try",
)

st.header("3 · Calculators")
st.subheader("The lecture's discrete example")
st.markdown("$P = (9, 12, 4)/25$ against the uniform $Q$ on three outcomes. Edit either row.")
discrete_calculator(page)

st.subheader("KL between two Gaussians")
gaussian_calculator(page)

st.subheader("MLE = forward KL, in numbers")
st.markdown(
    "$D_{KL}(p\\|q) = \\mathbb E_p[\\log p] - \\mathbb E_p[\\log q] = -H(p) - \\mathbb E_p[\\log q]$. "
    "The entropy $H(p)$ does not depend on $q$: the average log-likelihood and the forward KL move together."
)
mle_calculator(page, target_params, st.session_state.get(RACE_KEY, race))
