"""The pages of the playground, in teaching order.

Pages use Streamlit's ``pages/`` folder (auto-discovery, ordered by the numeric
prefix); the built-in sidebar list is hidden (``.streamlit/config.toml``) and this
registry draws the navigation instead, with proper titles. A page appears only once
its file exists, so there are never placeholder pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to the project root, as st.page_link wants it
    title: str
    icon: str  # a Material Symbols name (bundled with Streamlit, so it works offline)
    summary: str
    families: tuple[str, ...] = ()  # rows of the home page's model map this page shows

    @property
    def exists(self) -> bool:
        return (ROOT / self.path).is_file()


HOME = PageInfo("app.py", "Home", ":material/home:", "What the playground is, the map of generative models, a lecture path.")

# Teaching order: the lecture path goes from sampling to density estimation, latent
# variables, flows, adversarial training and divergences.
PLANNED: tuple[PageInfo, ...] = (
    PageInfo("pages/1_Samplers.py", "Samplers", ":material/casino:",
             "From pseudo-random bits to Gaussians, mixtures and MCMC.", ()),
    PageInfo("pages/2_KDE_vs_GMM.py", "KDE vs GMM", ":material/bar_chart:",
             "Histograms, kernels and mixtures estimating one density, and how each fails.", ()),
    PageInfo("pages/3_EM_step_through.py", "EM step-through", ":material/stairs:",
             "Expectation-maximisation one half-step at a time.", ()),
    PageInfo("pages/4_Latent_explorer.py", "AE / VAE latent explorer", ":material/explore:",
             "From PCA to auto-encoders to VAEs, and what their latent spaces generate.", ("VAE",)),
    PageInfo("pages/5_Flow_warping.py", "Normalizing-flow warping", ":material/waves:",
             "Flows as a visible, invertible warping of space.", ("Flows",)),
    PageInfo("pages/6_GAN_training.py", "GAN training", ":material/swords:",
             "Adversarial training in 2D, step by step.", ("GAN",)),
    PageInfo("pages/7_KL_divergences.py", "Forward vs reverse KL", ":material/compare_arrows:",
             "What the choice of divergence does to a fitted model.", ()),
    PageInfo("pages/8_Diffusion.py", "Diffusion and flow matching", ":material/blur_on:",
             "Noise the data, learn the score, and sample back by SDE or ODE.", ("Diffusion",)),
    PageInfo("pages/9_Energy_based_models.py", "Energy-based models", ":material/landscape:",
             "Learn an energy, sample it with Langevin, and see the partition function.", ("Energy-based",)),
    PageInfo("pages/10_Autoregressive.py", "Autoregressive models", ":material/format_list_numbered:",
             "The chain rule made visible: a 2D grid one coordinate at a time, then next-character prediction.",
             ("Autoregressive",)),
    PageInfo("pages/11_Evaluation.py", "Evaluating generative models", ":material/leaderboard:",
             "Precision, recall, density, coverage, FID and W₂ on a generator with known defects.", ()),
)


def available_pages() -> list[PageInfo]:
    """The pages that exist, in teaching order."""
    return [page for page in PLANNED if page.exists]


def page_for_family(family: str) -> PageInfo | None:
    for page in available_pages():
        if family in page.families:
            return page
    return None
