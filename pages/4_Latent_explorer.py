"""AE / VAE latent explorer: from PCA to auto-encoders to VAEs, and what their latent spaces generate."""

import streamlit as st
from playground.ui.page import setup_page

# First: the title reaches the browser before the compute modules below are imported (seconds on a
# cold server; a background thread warms them meanwhile).
page = setup_page("AE / VAE latent explorer", "🧭")

from playground.ui import latent as ui
from playground.ui import vq as vq_ui

if not page.projection:
    st.markdown(
        "**PCA → auto-encoder → VAE**: squeeze an image $x$ into a code $z$, rebuild it, and see which codes "
        "*generate* new images when decoded."
    )

# --- Data and model ------------------------------------------------------------------
# Projected: the data and model choices in a narrow column beside the training and the latent map.
side, main = page.split()
with side:
    columns = [st.container()] * 4 if page.projection else st.columns([1.3, 1.5, 1, 1])
    with columns[0]:
        dataset = ui.choose_dataset()
    split = dataset.split(0.2, seed=page.seed)
    choice = ui.choose_model(dataset, page.seed, columns[1:])
page.explain(
    "An **auto-encoder** maps an image to a small code $z = f_\\phi(x)$ and back, $\\hat x = g_\\theta(z)$. "
    "With a linear $f$ and $g$ trained on squared error, the best code spans the same subspace as **PCA** (the "
    "models here use a Bernoulli likelihood for the grey levels, so a linear one would not be exactly PCA); "
    "with neural networks it can follow curved data. A **VAE** "
    "makes the code a distribution $q_\\phi(z|x)$ pulled towards the prior $\\mathcal N(0, I)$, so that "
    "decoding $z \\sim \\mathcal N(0, I)$ generates new images. "
    f"Data: {len(split.x_train):,} training and {len(split.x_test):,} test images of "
    f"{dataset.shape[0]}×{dataset.shape[1]} pixels.",
    title="The idea, and the data",
)

# --- Train, then explore the latent space ---------------------------------------------------
with main:
    if not page.projection:
        st.header(f"1 · {choice.label}: training and the latent map")
    model = ui.train_section(page, dataset, split, choice)
page.explain(
    "- Each dot is a **test** image encoded to its code (for a VAE: the mean of $q_\\phi(z|x)$); colours are "
    "the digit labels, which the model never saw (except the conditional VAE).\n"
    "- Red ellipses are the 2σ contours of $q_\\phi(z|x)$ for a few images: the VAE encodes each image as a "
    "small cloud, not a point.\n"
    "- **Decode anywhere**: hover over the map and the image under the cursor is drawn beside it (the decoder "
    "runs in your browser, so it follows the mouse); move the probe with the sliders or click empty space to "
    "keep one. Between the clusters an auto-encoder decodes nonsense; a VAE decodes something digit-like almost "
    "everywhere.\n"
    "- With a latent dimension above 2 the map shows the first two principal axes of the codes, and the "
    "probe moves in that plane."
)

# Sections 2-4 show the model being trained: while Play runs they are redrawn every few seconds.
def model_sections(current) -> None:
    st.header("2 · Manifold grid")
    ui.manifold_grid_section(page, dataset, split, current)

    st.header("3 · Interpolation")
    ui.interpolation_section(page, dataset, split, current)
    page.explain("Decode the straight line $z_t = (1-t)\\,z_a + t\\,z_b$ between two codes. Train both the AE "
                 "and the VAE (switch *Model*) and both strips appear: the VAE's path stays on digits, the AE's "
                 "may cross empty regions of its latent space.")

    st.header("4 · Generation: prior samples and post-hoc density")
    ui.generation_section(page, dataset, split, current, page.seed)
    page.explain(
        "A plain auto-encoder has no density on its codes: decoding $z \\sim \\mathcal N(0, I)$ lands in holes "
        "and gives garbage. The fix from the lecture is **post-hoc density estimation**: fit a Gaussian mixture "
        "(EM) or a kernel density to the training codes and sample $z$ from it. A VAE (or SWAE) builds the prior "
        "into training, so $\\mathcal N(0, I)$ works directly."
    )


ui.follow_training(model, model_sections)

st.header("5 · Loss ablation: only reconstruction, only KL, both")
ui.ablation_section(page, dataset, split, page.seed, choice.epochs)
page.explain(
    "Three VAEs, same data, same seed. **Only reconstruction** (β = 0) is an auto-encoder with noise: clusters "
    "spread far from $\\mathcal N(0, I)$ and prior samples are poor. **Only KL**: the encoder is trained on the "
    "KL term alone (the decoder still learns to reconstruct from the codes it gets), so every $q(z|x)$ becomes "
    "the prior, the codes carry no information about $x$, and the best the decoder can do is the average "
    "image: every $z$ decodes to the same blur. **Both** "
    "trade the two: a latent space that is both informative and sample-able."
)

st.header("6 · PCA is linear, the manifold is not")
ui.swiss_roll_section(page, page.seed)
page.explain("PCA can only project the 3D sheet onto its best plane, so points far apart along the roll "
             "land on top of each other (colours mix). A 2D auto-encoder can learn to unfold it: watch its "
             "trustworthiness (the share of code neighbours that were neighbours on the sheet) climb past PCA's "
             "while it trains.")

st.header("7 · VQ-VAE: discrete codes")
vq_ui.vq_section(page)
page.explain(
    "A **VQ-VAE** (van den Oord et al., 2017) replaces the continuous code by the nearest of $K$ learned vectors "
    "$e_1 \\dots e_K$ (the *codebook*). The nearest-neighbour step has no gradient, so the decoder's gradient is "
    "copied straight through to the encoder ($z_q = z_e + \\mathrm{sg}[e_k - z_e]$). The codebook loss pulls each "
    "used code towards its encodings (or, with **EMA**, each code becomes the running mean of its encodings); "
    "the commitment term, weighted by $\\beta$, keeps the encoder near its codes. On 2D points the encoder is "
    "the identity, so the codebook lives in the data space and training is online $k$-means: codes that win no "
    "point never move (**dead codes**), which a reset fixes. **Perplexity** $e^{H}$ of the code usage counts the "
    "codes effectively in use. To generate, fit a **prior over the codes** and decode its samples: here two codes "
    "per digit, so the prior can be uniform, one categorical per slot, or autoregressive $p(c_1)\\,p(c_2\\mid c_1)$.",
    title="How VQ-VAE works",
)

