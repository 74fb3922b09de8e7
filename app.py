"""Home page: what the playground is, the map of generative models, a lecture path.

This page must start fast: it imports neither torch nor any compute module.
"""

import streamlit as st

from playground.ui.navigation import available_pages, page_for_family
from playground.ui.page import setup_page

page = setup_page("Generative-models playground", ":material/science:", uses_torch=False)

st.markdown(
    "An interactive companion to a course on generative models. Every page turns one "
    "lecture into pictures you can poke: **step** through an algorithm, **play** a "
    "training loop, change a control and watch the numbers move. The same seed gives the "
    "same picture, and the *link to this view* in the sidebar reopens a page exactly as "
    "you left it. All computation lives in the `playground` Python package, so anything "
    "you see here can be reproduced in a notebook."
)

st.header("The map of generative models")
st.markdown(
    "A generative model learns a distribution $p_\\theta(x)$ from samples so that it can "
    "**generate** new ones and, for some families, **evaluate** how likely a point is. "
    "The families differ in what they can compute:"
)

# family, density, sampling speed, training objective, latent space
MODEL_MAP = [
    ("Autoregressive", "Exact (product of conditionals)", "Slow: one dimension at a time",
     "Maximum likelihood", "None"),
    ("Flows", "Exact (change of variables)", "Fast to moderate: one pass through the inverse",
     "Maximum likelihood", "ℝᵈ, same size as x, invertible"),
    ("Energy-based", "Unnormalised (partition function unknown)", "Slow: MCMC, e.g. Langevin",
     "Approximate maximum likelihood", "Optional"),
    ("VAE", "Lower bound (ELBO)", "Fast: one decoder pass", "Maximise the ELBO", "ℝᵐ, usually smaller than x"),
    ("GAN", "None (implicit model)", "Fast: one generator pass",
     "Min–max game (≈ Jensen–Shannon, Wasserstein…)", "ℝᵐ"),
    ("Diffusion", "Lower bound (or exact via the probability-flow ODE)", "Slow: many denoising steps",
     "Denoising score matching (ELBO)", "ℝᵈ, same size as x"),
]

header = st.columns([1.3, 1.6, 1.6, 1.6, 1.4, 1.2])
for column, name in zip(header, ["Family", "Density", "Sampling", "Training objective", "Latent space", "Page"]):
    column.markdown(f"**{name}**")
for family, density, sampling, objective, latent in MODEL_MAP:
    row = st.columns([1.3, 1.6, 1.6, 1.6, 1.4, 1.2])
    row[0].markdown(f"**{family}**")
    row[1].markdown(density)
    row[2].markdown(sampling)
    row[3].markdown(objective)
    row[4].markdown(latent)
    target = page_for_family(family)
    if target is not None:
        row[5].page_link(target.path, label=target.title, icon=target.icon, query_params=page.link_params)
    else:
        row[5].markdown("—")

st.header("A lecture path")
pages = available_pages()
if pages:
    for number, info in enumerate(pages, start=1):
        st.page_link(info.path, label=f"{number}. {info.title} — {info.summary}", icon=info.icon,
                     query_params=page.link_params)
else:
    st.info("The pages arrive one lecture at a time; none is installed yet.")

page.explain(
    "- **Lecturers**: switch on *projection mode* in the sidebar before class; set the seed "
    "you rehearsed with; copy the *link to this view* into your slides.\n"
    "- **Students**: every figure has its formula beside it and a *try next* hint. Bring your "
    "own data as a CSV of one or two numeric columns wherever a page offers *Your CSV file*.\n"
    "- **In a notebook**: `from playground.targets import get_target` and friends; see the README.",
    title="How to use it",
)
