"""Samplers: from pseudo-random bits to Gaussians, mixtures and MCMC (lecture 004, first part).

The page follows the lecture: uniform numbers first (LCG), then transformations of
uniforms into Gaussians (Box–Muller, Marsaglia polar), the inverse CDF, correlated
Gaussians by Cholesky, mixtures by ancestral sampling, rejection sampling, and MCMC
for densities known only up to a constant (energy-based models).
"""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("Samplers", "🎲")

from playground.ui import deeplink, samplers

def intro() -> None:
    page.explain(
        "Generating an image, a sentence or a molecule means drawing from a probability distribution. "
        "Everything starts from the simplest case, uniform numbers, which we transform step by step into "
        "Gaussians, mixtures and finally any density known only up to a constant. One tab per step; the same "
        "seed (sidebar) always gives the same picture, and the link in the sidebar reopens the open tab.",
        title="What is sampling?",
    )

if not page.projection:  # projected, the tabs and the picture come first; the intro goes below
    intro()

SECTIONS = {
    "1 LCG": samplers.lcg_section,
    "2 Box-Muller": samplers.box_muller_section,
    "3 Polar": samplers.polar_section,
    "4 Inverse CDF": samplers.inverse_cdf_section,
    "5 Cholesky": samplers.cholesky_section,
    "6 Mixture": samplers.mixture_section,
    "7 Rejection": samplers.rejection_section,
    "8 MCMC": samplers.mcmc_section,
}

# Bound to the URL (?section=...): only the open tab runs, and a link reopens it.
tabs = st.tabs(list(SECTIONS), key="section", bind="query-params")
for tab, (label, section) in zip(tabs, SECTIONS.items()):
    if tab.open:
        with tab:
            section(page)
deeplink.prune(keep=("section",))  # the link carries the open tab's controls only

if page.projection:
    intro()
