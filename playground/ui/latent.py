"""The latent explorer's sections: data and model controls, training, and what a latent space does.

Trained models are kept per configuration in ``st.session_state`` (one cache per
viewer), so switching from the VAE to the AE and back does not retrain anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import streamlit as st

from playground.autoencoders import (
    ABLATIONS, KINDS, PCA, AutoencoderConfig, AutoencoderTrainer, decoder_program, fit_latent_density, interpolate,
    latent_grid,
    loss_ablation, posterior_kl, slicing_view, trustworthiness,
)
from playground.figures import latent as figures
from playground.images import ImageDataError, ImageDataset, ImageSplit, find_image_files, load_digits, load_npz
from playground.seeding import derive_seed
from playground.stepper import lock_for
from playground.ui import decode_hover
from playground.ui.controls import formula_panel, per_snapshot, stepper_panel
from playground.ui.deeplink import linked
from playground.ui.navigation import ROOT
from playground.ui.page import PageContext

CACHE_KEY = "latent__models"
MAX_CACHED_MODELS = 8  # per viewer: bounds the memory one session can hold
IMAGE_DIR = ROOT / "data"
UPLOAD = "upload"
MODEL_CHOICES = {"pca": "PCA (linear baseline)", "ae": "Auto-encoder", "vae": "VAE", "beta_vae": "β-VAE",
                 "swae": "Sliced-Wasserstein AE", "cvae": "Conditional VAE (on the digit)"}
PRIOR_KINDS = ("vae", "cvae", "swae")  # latent spaces shaped like N(0, I)
FOLLOW_SECONDS = 3.0  # while the model trains, the sections below the trainer are redrawn this often


@st.cache_resource(show_spinner=False)
def _digits() -> ImageDataset:
    return load_digits()


@st.cache_resource(show_spinner=False)
def _npz_on_disk(path: str) -> ImageDataset:
    return load_npz(path)


def choose_dataset(container=st) -> ImageDataset:
    """Digits, any ``.npz`` in ``data/``, or an uploaded ``.npz``; a bad file explains itself and falls back."""
    files = {path.stem: path for path in find_image_files(IMAGE_DIR)}
    options = ["digits", *files, UPLOAD]
    labels = {"digits": "Digits (8×8, scikit-learn)", UPLOAD: "📄 Your .npz images…"}
    choice = linked(container.selectbox, "Images", key="images", default="digits", options=options,
                    format_func=lambda name: labels.get(name, f"{name}.npz (data/)"))
    try:
        if choice in files:
            return _npz_on_disk(str(files[choice]))
        if choice == UPLOAD:
            upload = st.file_uploader("An .npz with grey-level images under 'images' or 'x' (n, height, width), "
                                      "labels optional under 'labels' or 'y'", type=["npz"], key="images__upload")
            if upload is None:
                st.info("Upload a file to use your images; showing the digits meanwhile.")
                return _digits()
            dataset = _uploaded(upload.getvalue(), upload.name)
            for note in dataset.notes:
                st.caption(note)
            return dataset
    except ImageDataError as error:
        st.error(f"These images cannot be used: {error}. Showing the digits instead.", icon=":material/error:")
    return _digits()


@st.cache_data(show_spinner=False, max_entries=2)
def _uploaded(payload: bytes, name: str) -> ImageDataset:
    return load_npz(payload, name=name.removesuffix(".npz"))


@dataclass(frozen=True)
class ModelChoice:
    """What the controls ask for: a model name, its config (None for PCA) and the epochs to train."""

    name: str
    config: AutoencoderConfig | None
    epochs: int
    latent_dim: int

    @property
    def label(self) -> str:
        return MODEL_CHOICES[self.name]


def choose_model(dataset: ImageDataset, seed: int, columns) -> ModelChoice:
    """Model, latent dimension and the model's own knobs (beta, projections, lambda), in three columns."""
    name = linked(columns[0].selectbox, "Model", key="model", default="vae", options=list(MODEL_CHOICES),
                  format_func=MODEL_CHOICES.get)
    latent_dim = linked(columns[1].select_slider, "Latent dimension", key="m", default=2, options=[2, 3, 4, 8, 16])
    epochs = linked(columns[2].number_input, "Epochs to train", key="epochs", default=60, min_value=5,
                    max_value=500, step=5, help="Play stops there; Step trains further.")
    if name == "cvae" and dataset.labels is None:
        st.warning("These images have no labels, so there is nothing to condition on: showing a plain VAE.")
        name = "vae"
    if name == "pca":
        return ModelChoice(name, None, epochs, latent_dim)
    config = AutoencoderConfig(kind="vae" if name == "beta_vae" else name, latent_dim=latent_dim, seed=seed)
    knobs = st.columns(2)
    if name == "beta_vae":
        beta = linked(knobs[0].select_slider, "β (weight of the KL term)", key="beta", default=4.0,
                      options=[0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
        config = replace(config, beta=float(beta))
    if name == "swae":
        projections = linked(knobs[0].select_slider, "Random projections L", key="L", default=50,
                             options=[1, 5, 10, 25, 50, 100, 200])
        sw_lambda = linked(knobs[1].select_slider, "λ (weight of SW²)", key="lam", default=10.0,
                           options=[0.0, 1.0, 3.0, 10.0, 30.0, 100.0])
        config = replace(config, n_projections=int(projections), sw_lambda=float(sw_lambda))
    return ModelChoice(name, config, epochs, latent_dim)


# ----------------------------------------------------------------------------------
# Trained models, cached per configuration
# ----------------------------------------------------------------------------------

def _cache() -> dict:
    return st.session_state.setdefault(CACHE_KEY, {})


def cached_trainer(dataset: ImageDataset, split: ImageSplit, config: AutoencoderConfig, *,
                   fresh: bool = False) -> AutoencoderTrainer:
    """The session's trainer for (images, config): built once, kept while the viewer explores."""
    cache, key = _cache(), (dataset.name, dataset.images.shape, config)
    if fresh or key not in cache:
        cache.pop(key, None)
        if len(cache) >= MAX_CACHED_MODELS:
            cache.pop(next(iter(cache)))
        cache[key] = AutoencoderTrainer(split.x_train, split.x_test, split.y_train, split.y_test, config=config)
    return cache[key]


def other_trained_models(dataset: ImageDataset, current: Any) -> dict[str, AutoencoderTrainer]:
    """Other models this viewer trained on the same images (for side-by-side strips)."""
    found = {}
    for (name, shape, config), trainer in _cache().items():
        if trainer is not current and name == dataset.name and shape == dataset.images.shape and trainer.iteration:
            label = KINDS[config.kind] + (f" β={config.beta:g}" if config.kind == "vae" and config.beta != 1 else "")
            found[f"{label} (m={config.latent_dim}, {trainer.iteration} epochs)"] = trainer
    return found


def _pca_model(split: ImageSplit, latent_dim: int) -> PCA:
    return PCA(latent_dim, clip=(0.0, 1.0)).fit(split.x_train)


def train_section(page: PageContext, dataset: ImageDataset, split: ImageSplit, choice: ModelChoice):
    """PCA is fitted in closed form; the networks train in a stepper panel with live curves and map."""
    if choice.config is None:
        latent_dim = choice.latent_dim
        model = _pca_model(split, latent_dim)
        st.success(f"PCA is fitted in closed form (SVD): the {latent_dim} principal directions keep "
                   f"{100 * model.explained_variance_ratio_.sum():.1f}% of the variance.", icon=":material/straighten:")
        explorer(page, dataset, split, model)
        return model

    def factory() -> AutoencoderTrainer:
        return cached_trainer(dataset, split, choice.config, fresh=bool(st.session_state.get("train__reset")))

    def render(trainer: AutoencoderTrainer) -> None:
        done = min(1.0, trainer.iteration / choice.epochs)
        progress = st.container()  # projected, under the map (the map sits right under Step / Play)
        explorer(page, dataset, split, trainer)
        with (st.container() if page.projection else progress):
            st.progress(done, text=f"Epoch {trainer.iteration} of {choice.epochs}")

    return stepper_panel("train", factory, (dataset.name, dataset.images.shape, choice.config), render,
                         steps_per_tick=2, max_steps_per_tick=20, interval=0.5, step_label="Step",
                         max_iterations=choice.epochs)


def follow_training(model, sections: Callable[[Any], None]) -> None:
    """Draw ``sections(model)`` so that they show the model being trained, not the one of the last full rerun.

    Play reruns only the trainer's fragment; the sections below it (manifold grid, interpolation,
    generation) run in their own fragment, redrawn every ``FOLLOW_SECONDS`` while the trainer
    plays, with the trainer in the session (under its lock: no step runs while they read it).
    A Pause, the end of Play or any control rerun the whole page, which draws them once more."""
    state = st.session_state
    training = isinstance(model, AutoencoderTrainer)
    playing = training and bool(state.get("train__playing"))

    @st.fragment(run_every=FOLLOW_SECONDS if playing else None)
    def following() -> None:
        current = state.get("train", model) if training else model
        if not isinstance(current, type(model)):
            current = model
        with lock_for(current):
            if playing:
                st.caption(f"Following the training: the sections below show epoch {current.iteration} and are "
                           f"redrawn every {FOLLOW_SECONDS:g} s while Play runs.")
            sections(current)

    following()


# ----------------------------------------------------------------------------------
# Latent map, decode anywhere, the formulas
# ----------------------------------------------------------------------------------

@dataclass
class LatentView:
    """Codes drawn in 2D: the codes themselves when m = 2, else their first two principal axes."""

    codes: np.ndarray  # (n, m)
    sigma: np.ndarray | None  # (n, m) posterior std, VAEs only
    labels: np.ndarray | None
    projection: PCA | None

    @classmethod
    def of(cls, model, split: ImageSplit) -> "LatentView":
        """The view of ``model``'s current state: built once per epoch (a page draws it three times per run)."""
        return per_snapshot(model, "latent_view", lambda: cls._build(model, split), len(split.x_test))

    @classmethod
    def _build(cls, model, split: ImageSplit) -> "LatentView":
        codes, sigma = model.encode(split.x_test, split.y_test if getattr(model, "kind", "") == "cvae" else None)
        projection = PCA(2, device="cpu").fit(codes) if codes.shape[1] > 2 else None
        return cls(codes, sigma, split.y_test, projection)

    @property
    def points(self) -> np.ndarray:
        return self.codes if self.projection is None else self.projection.transform(self.codes)

    def lift(self, points: np.ndarray) -> np.ndarray:
        """2D map positions back to latent codes (through the plane of the first two principal axes)."""
        points = np.atleast_2d(points)
        return points if self.projection is None else self.projection.inverse_transform(points)

    def ellipse(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        covariance = np.diag(self.sigma[i] ** 2)
        if self.projection is not None:
            covariance = self.projection.components_ @ covariance @ self.projection.components_.T
        return self.points[i], covariance

    def span(self, kind: str) -> float:
        """Half-width of the slider/grid box: 4 for N(0, I)-shaped spaces, else from a fixed ladder."""
        extent = float(np.percentile(np.abs(self.points), 99)) if len(self.points) else 1.0
        if kind in PRIOR_KINDS and extent <= 4:
            return 4.0
        return next((s for s in (4.0, 8.0, 16.0, 32.0, 64.0, 128.0) if extent * 1.1 <= s), 256.0)

    @property
    def lift_map(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(A, c) with code = A p + c for a map position p (``lift`` as an affine map); None when m = 2."""
        return None if self.projection is None else (self.projection.components_.T, self.projection.mean_)

    @property
    def axis_titles(self) -> tuple[str, str]:
        return ("z₁", "z₂") if self.projection is None else ("PC 1 of the codes", "PC 2 of the codes")


def _condition(model, dataset: ImageDataset) -> int | None:
    if getattr(model, "kind", "") != "cvae":
        return None
    return linked(st.selectbox, "Condition on the digit", key="cond", default=3,
                  options=list(range(dataset.n_classes)))


def _read_selection(view: LatentView) -> int | None:
    """Apply a click on the map: a code selects that test point, empty space moves the probe."""
    event = st.session_state.get("latent_map")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points:
        return st.session_state.get("latent__picked")
    point = points[0]
    if point.get("customdata") is not None:
        st.session_state["latent__picked"] = int(np.ravel(point["customdata"])[0])
    elif "x" in point and (point["x"], point["y"]) != st.session_state.get("latent__clicked"):
        st.session_state["latent__clicked"] = (point["x"], point["y"])
        st.session_state["z1"], st.session_state["z2"] = float(point["x"]), float(point["y"])
    return st.session_state.get("latent__picked")


def explorer(page: PageContext, dataset: ImageDataset, split: ImageSplit, model) -> None:
    """Latent map with q(z|x) ellipses, the probe decoded live, and a test image beside its reconstruction."""
    view = LatentView.of(model, split)
    kind = getattr(model, "kind", "pca")
    span = view.span(kind)
    picked = _read_selection(view)
    for key in ("z1", "z2"):  # keep the probe inside the current box
        if key in st.session_state:
            st.session_state[key] = float(np.clip(st.session_state[key], -span, span))
    left, right = st.columns([1.5, 1])
    with right:
        probe_slot = st.container()  # the decoded image above its sliders: both pictures start at one height
        st.markdown("**Decode anywhere**")
        z1 = linked(st.slider, "Probe z₁" if view.projection is None else "Probe along PC 1", key="z1",
                    default=0.0, min_value=-span, max_value=span, step=span / 80)
        z2 = linked(st.slider, "Probe z₂" if view.projection is None else "Probe along PC 2", key="z2",
                    default=0.0, min_value=-span, max_value=span, step=span / 80)
        condition = _condition(model, dataset)
        labels = None if condition is None else [condition]
        probe_image = model.decode(view.lift([z1, z2]), labels)
    with probe_slot:
        page.show(figures.image_mosaic(probe_image, dataset.shape, 1, title=f"decode({z1:.2f}, {z2:.2f})",
                                       height=300), key="probe_image", main=page.projection)
    ellipse_index = _ellipse_points(view, picked)
    grid = latent_grid(25, -span, span)
    fig = figures.latent_map(view.points, view.labels, ellipses=[view.ellipse(i) for i in ellipse_index],
                             probe=(z1, z2), click_grid=grid, axis_titles=view.axis_titles,
                             title=f"Latent map: {len(view.points)} test images")
    fig.update_xaxes(range=[-span, span])
    fig.update_yaxes(range=[-span, span])
    with left:
        from playground.figures.theme import style_figure

        style_figure(fig, page.projection, fill=page.projection)
        with st.container(key="pg_main_latent_map") if page.projection else st.container():
            st.plotly_chart(fig, key="latent_map", on_select="rerun", selection_mode=("points",), theme=None,
                            config={"displaylogo": False}, height="stretch" if page.projection else "content")
        decode_hover.mount("latent_map", decoder_program(model, view.lift_map, condition).to_json(), dataset.shape)
        st.caption("Hover anywhere on the map: the image it decodes to follows the cursor (your browser runs the "
                   "decoder). Click a code to see that image and its reconstruction; click empty space to move "
                   "the probe.")
    _picked_pair(page, dataset, split, model, view, picked)
    if getattr(model, "kind", "") in ("vae", "cvae") and model.latent_dim == 2:
        _reparameterisation(page, dataset, split, model, picked)
    if getattr(model, "kind", "") == "swae" and model.latent_dim == 2:
        with st.expander("How SWAE compares the codes with N(0, I): slices", expanded=False):
            view_slices = slicing_view(view.codes, 3, seed=derive_seed(page.seed, "slices", model.iteration))
            page.show(figures.slicing_figure(view.codes, view_slices), key="swae_slices")
            st.caption("Project the codes and a prior sample on a random direction θ, sort both: the 1D optimal "
                       "transport pairs them in order, and the mean squared gap is W₂² along θ. SW² averages that over "
                       f"many directions ({model.config.n_projections} per step in training); the penalty is λ·SW².")
    _formulas(model, split, view, picked)


def _reparameterisation(page, dataset, split, model, picked: int | None) -> None:
    """z = mu + sigma * eps for the picked test image: eps drawn, the samples on q(z|x), what they decode to."""
    index = picked if picked is not None and picked < len(split.x_test) else 0
    labels = None if model.kind != "cvae" else split.y_test[index:index + 1]
    with st.expander(f"The reparameterisation trick for test image {index}", expanded=False):
        draw = int(st.session_state.get("reparam_draw", 0))
        if st.button("Draw new ε", key="reparam_new", icon=":material/casino:"):
            draw = st.session_state["reparam_draw"] = draw + 1

        def views() -> tuple:
            trick = model.reparameterised(split.x_test[index], n=6, seed=derive_seed(page.seed, "reparam", index, draw),
                                          labels=labels)
            picture = page.themed(figures.reparameterisation_figure(trick["mu"], trick["sigma"], trick["eps"],
                                                                    trick["z"]))
            images = page.themed(figures.image_mosaic(trick["decoded"], dataset.shape, 6, height=170,
                                                      captions=[f"decode z{i + 1}" for i in range(6)]))
            return trick, picture, images

        trick, picture, images = per_snapshot(model, "reparam", views, index, draw, page.seed, page.projection)
        left, right = st.columns([1.6, 1])
        with left:
            page.show(picture, key="reparam_fig")
            page.show(images, key="reparam_images")
        with right:
            formula_panel(r"\begin{gathered}z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon \\ "
                          r"\varepsilon \sim \mathcal N(0, I) \\ \tfrac{\partial z}{\partial \mu} = 1,\ "
                          r"\tfrac{\partial z}{\partial \sigma} = \varepsilon\end{gathered}",
                          {"μ₁": float(trick["mu"][0]), "σ₁": float(trick["sigma"][0]), "ε₁ of z1": float(trick["eps"][0, 0]),
                           "∂z/∂σ₁ (autograd)": float(trick["dz_dsigma"][0])},
                          title="Sampling as a differentiable function of (μ, σ)",
                          try_next="the randomness sits in ε, outside the network: the gradient reaches μ and σ "
                                   "(∂z/∂σ is the ε drawn), so the encoder learns by backpropagation. "
                                   "Draw new ε: same ellipse, other samples, other decodings.")


def _ellipse_points(view: LatentView, picked: int | None) -> list[int]:
    if view.sigma is None:
        return []
    chosen = [int(i) for i in np.linspace(0, len(view.codes) - 1, 6).astype(int)]
    return ([picked] if picked is not None and picked < len(view.codes) else []) + chosen


CURVES = {"loss": "loss (train)", "reconstruction": "−log p(x|z) (train)", "kl": "KL (train)",
          "sw": "SW² (train)", "test_reconstruction": "test −log p(x|z)", "test_kl": "test KL"}


def loss_curves(page: PageContext, trainer: AutoencoderTrainer) -> None:
    """Live curves of the loss and its parts (train every epoch, test every few epochs)."""
    curves = {label: trainer.metric(name) for name, label in CURVES.items()
              if any(name in m for m in trainer.history)}
    elbo = trainer.metric("test_elbo") if any("test_elbo" in m for m in trainer.history) else None
    if elbo is not None:
        curves["−ELBO (test)"] = -elbo
    page.show(figures.loss_curves(trainer.metric("iteration"), curves, title="Loss terms per epoch"),
              key="curves", height=360)


def _picked_pair(page, dataset, split, model, view: LatentView, picked: int | None) -> None:
    index = picked if picked is not None and picked < len(split.x_test) else 0
    labels = None if getattr(model, "kind", "") != "cvae" else split.y_test[index:index + 1]
    reconstruction = model.reconstruct(split.x_test[index:index + 1], labels)
    label = "" if split.y_test is None else f" (digit {split.y_test[index]})"
    pair = np.vstack([split.x_test[index:index + 1], reconstruction])
    left, right = st.columns([1, 1.5])
    with left:
        page.show(figures.image_mosaic(pair, dataset.shape, 2, captions=["input x", "reconstruction x̂"],
                                       title=f"Test image {index}{label}", height=360), key="pair")
    with right:
        if getattr(model, "history", None):
            loss_curves(page, model)
        else:
            st.info("Press **Step** or **Play** to train; the loss curves appear here.")


def _formulas(model, split: ImageSplit, view: LatentView, picked: int | None) -> None:
    kind = getattr(model, "kind", "pca")
    if kind == "pca":
        formula_panel(r"z = W^\top(x - \bar x),\quad \hat x = W z + \bar x,\quad "
                      r"\min_{W^\top W = I}\ \mathbb{E}\,\|x - \hat x\|^2",
                      {"test ‖x − x̂‖²": model.reconstruction_error(split.x_test),
                       "variance kept": float(model.explained_variance_ratio_.sum())},
                      title="PCA: the best linear code",
                      try_next="switch to the auto-encoder with the same latent dimension: its error is lower.")
        return
    metrics = model.evaluate()
    if kind in ("vae", "cvae"):
        gap = model.elbo_gap()
        values = {"ELBO (test, nats)": -metrics["reconstruction"] - metrics["kl"],
                  "E_q[log p(x|z)]": -metrics["reconstruction"], "KL(q‖p)": metrics["kl"],
                  "β": model.config.beta, "log p(x), IS (100 images)": gap["log_px"],
                  "gap ≈ KL(q(z|x)‖p(z|x))": gap["gap"]}
        formula_panel(r"\mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q_\phi(z|x)}[\log p_\theta(x|z)]}_{\text{"
                      r"reconstruction}} - \underbrace{D_{KL}(q_\phi(z|x)\,\|\,\mathcal{N}(0, I))}_{\text{KL}}"
                      r"\ \le\ \log p_\theta(x)", values, title="The evidence lower bound (test-set mean)",
                      try_next="β-VAE with β = 8: the KL shrinks, the codes crowd into N(0, I), the digits blur. "
                               "The gap is how far q(z|x) is from the true posterior p(z|x): log p(x) is estimated "
                               "by importance sampling (200 draws from q per image) on the first 100 test images.")
        if picked is not None and view.sigma is not None and picked < len(view.codes):
            mu, sigma = view.codes[picked], view.sigma[picked]
            kl = posterior_kl(mu, sigma)
            formula_panel(r"D_{KL}\big(\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(0, I)\big) = \tfrac12 \sum_j "
                          r"\left(\sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2\right)",
                          {"μ₁": float(mu[0]), "σ₁": float(sigma[0]), "KL for this image": kl},
                          title=f"Closed-form KL of test image {picked}")
    else:
        values = {"test −log p(x|z)": metrics["reconstruction"]}
        latex = r"\mathcal{L}_{AE} = -\log p_\theta(x \mid z = f_\phi(x)) = \text{binary cross-entropy}"
        if kind == "swae":
            values["λ"] = model.config.sw_lambda
            values["SW² (train)"] = model.history[-1].get("sw", float("nan")) if model.history else float("nan")
            latex = (r"\mathcal{L}_{SWAE} = \mathbb{E}_x\big[-\log p_\theta(x|f_\phi(x))\big] + \lambda\, "
                     r"SW_2^2\big(f_\phi(x),\ z \sim \mathcal{N}(0, I)\big)")
        formula_panel(latex, values, title="The training loss (test-set mean)",
                      try_next="decode z ~ N(0, I) below: the AE has no reason to put digits there.")



# ----------------------------------------------------------------------------------
# Manifold grid, interpolation, generation
# ----------------------------------------------------------------------------------

def manifold_grid_section(page: PageContext, dataset: ImageDataset, split: ImageSplit, model) -> None:
    """Decode a K x K grid of latent points (the map's box, or its principal plane) into one mosaic."""
    view = LatentView.of(model, split)
    size = linked(st.slider, "Grid size K", key="K", default=15, min_value=3, max_value=25)
    span = view.span(getattr(model, "kind", "pca"))
    condition = _condition_for_grid(model, dataset)
    images = model.decode(view.lift(latent_grid(size, -span, span)),
                          None if condition is None else np.full(size * size, condition))
    page.show(figures.image_mosaic(images, dataset.shape, size,
                                   title=f"Decoded {size}×{size} grid over [−{span:g}, {span:g}]²", height=640),
              key="grid")


def _condition_for_grid(model, dataset: ImageDataset) -> int | None:
    if getattr(model, "kind", "") != "cvae":
        return None
    return int(st.session_state.get("cond", 3))


def interpolation_section(page: PageContext, dataset: ImageDataset, split: ImageSplit, model) -> None:
    """Straight lines in latent space between two test images, for this model and the others trained."""
    n = len(split.x_test)
    columns = st.columns(3)
    start = linked(columns[0].number_input, "From test image", key="ia", default=0, min_value=0, max_value=n - 1)
    other = 1 if split.y_test is None else int(np.argmax(split.y_test != split.y_test[0]))  # another class
    end = linked(columns[1].number_input, "To test image", key="ib", default=min(other, n - 1), min_value=0,
                 max_value=n - 1)
    steps = linked(columns[2].slider, "Steps", key="steps", default=10, min_value=3, max_value=16)
    models = {MODEL_CHOICES.get(getattr(model, "kind", "pca"), "this model") + " (current)": model,
              **other_trained_models(dataset, model)}
    for name, each in models.items():
        labels = None if getattr(each, "kind", "") != "cvae" else (int(split.y_test[start]), int(split.y_test[end]))
        strip = interpolate(each, split.x_test[start], split.x_test[end], steps, labels)
        row = np.vstack([split.x_test[start:start + 1], strip, split.x_test[end:end + 1]])
        captions = ["x_a"] + [f"{t:.2f}" for t in np.linspace(0, 1, steps)] + ["x_b"]
        page.show(figures.image_mosaic(row, dataset.shape, len(row), captions=captions, title=name, height=230),
                  key=f"interp_{name}")


def generation_section(page: PageContext, dataset: ImageDataset, split: ImageSplit, model, seed: int) -> None:
    """Decode z ~ N(0, I), then z ~ a density fitted to the training codes (post-hoc density estimation)."""
    columns = st.columns(3)
    method = linked(columns[0].radio, "Post-hoc density on the codes", key="dens", default="gmm",
                    options=["gmm", "kde"], format_func={"gmm": "Gaussian mixture (EM)", "kde": "Kernel density"}.get,
                    horizontal=True)
    components = linked(columns[1].slider, "Mixture components", key="gk", default=10, min_value=1, max_value=30)
    bandwidth = linked(columns[2].select_slider, "KDE bandwidth (× code std)", key="bw", default=0.2,
                       options=[0.05, 0.1, 0.2, 0.3, 0.5, 1.0])
    n = 16
    labels = None if getattr(model, "kind", "") != "cvae" else np.arange(n) % dataset.n_classes
    train_codes = model.encode(split.x_train, split.y_train if labels is not None else None)[0]
    prior_z = np.random.default_rng(derive_seed(seed, "prior")).standard_normal((n, train_codes.shape[1]))
    density = per_snapshot(model, "post-hoc density", lambda: fit_latent_density(
        train_codes, method, components, bandwidth * float(train_codes.std()), seed=derive_seed(seed, "post-hoc")),
        method, components, bandwidth, seed, len(train_codes))
    posthoc_z = density.sample(n, seed=derive_seed(seed, "post-hoc sample"))
    rows = np.vstack([model.decode(prior_z, labels), model.decode(posthoc_z, labels)])
    page.show(figures.image_mosaic(rows, dataset.shape, n, height=260,
                                   title="Top: decode z ~ N(0, I). Bottom: decode z ~ post-hoc density of the codes"),
              key="generated")
    view = LatentView.of(model, split)
    fig = figures.latent_map(view.points, view.labels, axis_titles=view.axis_titles,
                             title="Where the samples fall: codes, N(0, I) draws (◆) and post-hoc draws (★)")
    project = (lambda z: z) if view.projection is None else view.projection.transform
    for name, z, symbol in (("z ~ N(0, I)", prior_z, "diamond"), ("z ~ post-hoc", posthoc_z, "star")):
        points = project(z)
        fig.add_scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                        marker={"symbol": symbol, "size": 13, "color": "#000000", "line": {"width": 1}})
    page.show(fig, key="generation_map")
    for name, other in other_trained_models(dataset, model).items():
        other_labels = None if other.kind != "cvae" else np.arange(n) % dataset.n_classes
        prior = np.random.default_rng(derive_seed(seed, "prior")).standard_normal((n, other.latent_dim))
        page.show(figures.image_mosaic(other.decode(prior, other_labels), dataset.shape, n, height=200,
                                       title=f"{name}: decode z ~ N(0, I)"), key=f"gen_{name}")


# ----------------------------------------------------------------------------------
# Loss ablation and the swiss roll
# ----------------------------------------------------------------------------------

def ablation_section(page: PageContext, dataset: ImageDataset, split: ImageSplit, seed: int, epochs: int) -> None:
    """Only reconstruction / only KL / both: three VAEs with the same seed, trained side by side."""
    config = AutoencoderConfig(kind="vae", seed=seed)

    def factory():
        return loss_ablation(split.x_train, split.x_test, split.y_test, config=config)

    def views(side_by_side) -> tuple:
        snapshot = side_by_side.snapshot()
        panels = {name: (_to_2d(snap["codes"]), snap["labels"]) for name, snap in snapshot.items()}
        maps = page.themed(figures.side_by_side_maps(panels, title="Test codes (posterior means)"))
        prior = np.random.default_rng(derive_seed(seed, "ablation")).standard_normal((12, config.latent_dim))
        each = []
        for name, trainer in side_by_side.trainers.items():
            kl, reconstruction = (side_by_side.latest(f"{name}/{k}") for k in ("kl", "reconstruction"))
            numbers = f"KL {kl:.2f}, −log p(x|z) {reconstruction:.1f}" if kl is not None else "not trained yet"
            each.append((name, numbers, page.themed(figures.image_mosaic(trainer.decode(prior), dataset.shape, 4,
                                                                         height=260, title="decode z ~ N(0, I)"))))
        return maps, each

    def render(side_by_side) -> None:
        st.progress(min(1.0, side_by_side.iteration / epochs), text=f"Epoch {side_by_side.iteration} of {epochs}")
        maps, each = per_snapshot(side_by_side, "ablation", lambda: views(side_by_side), page.projection)
        page.show(maps, key="ablation_maps")
        for column, (name, numbers, mosaic) in zip(st.columns(len(each)), each):
            with column:
                st.markdown(f"**{name}** — {numbers}")
                page.show(mosaic, key=f"ablation_{name}")

    stepper_panel("ablation", factory, (dataset.name, dataset.images.shape, seed), render, steps_per_tick=2,
                  max_steps_per_tick=10, interval=0.8, step_label="Step", max_iterations=epochs)


def _to_2d(codes: np.ndarray) -> np.ndarray:
    return codes if codes.shape[1] <= 2 else PCA(2, device="cpu").fit(codes).transform(codes)


def swiss_roll_section(page: PageContext, seed: int) -> None:
    """PCA vs a 2D auto-encoder on a 3D swiss roll or S-curve: linear projection vs unrolling."""
    from playground.images import MANIFOLDS, load_manifold

    name = linked(st.radio, "3D data", key="roll", default="swiss_roll", options=list(MANIFOLDS),
                  format_func=MANIFOLDS.get, horizontal=True)
    points, position = load_manifold(name, n=1200, seed=derive_seed(seed, name))
    config = AutoencoderConfig(kind="ae", hidden=(64, 64), likelihood="gaussian", noise_std=0.1,
                               learning_rate=3e-3, batch_size=100, seed=seed)

    def factory() -> AutoencoderTrainer:
        return AutoencoderTrainer(points, points, config=config, eval_every=10)

    def views(trainer: AutoencoderTrainer) -> tuple:  # once per epoch shown (per_snapshot), not per rerun
        pca = PCA(2, device="cpu").fit(points)
        pca_trust = trustworthiness(points, pca.transform(points))
        ae_codes = trainer.encode(points)[0]
        reconstructions = {"PCA": pca.inverse_transform(pca.transform(points)), "AE": trainer.reconstruct(points)}
        codes = {"PCA": pca.transform(points), f"AE ({trainer.iteration} epochs)": ae_codes}
        fig = page.themed(figures.manifold_figure(points, position, codes, reconstructions), height=560)
        errors = {k: float(((points - v) ** 2).sum(1).mean()) for k, v in reconstructions.items()}
        values = {f"{k} error": v for k, v in errors.items()}
        values.update({"PCA trust": pca_trust, "AE trust": trustworthiness(points, ae_codes)})
        return fig, values

    def render(trainer: AutoencoderTrainer) -> None:
        fig, values = per_snapshot(trainer, "roll", lambda: views(trainer), page.projection)
        page.show(fig, key="roll_fig")
        formula_panel(r"\text{error} = \tfrac1n \sum_i \|x_i - \hat x_i\|^2", values,
                      title="Reconstruction error on the 3D points (standardised axes); trustworthiness of the codes",
                      try_next="train ~100 epochs: PCA folds the sheet onto itself (points far apart along the roll "
                               "become code neighbours: trust ≈ 0.86); the AE's codes keep neighbours apart "
                               "(trust ≈ 0.98) and its error falls far below PCA's. Its codes are the sheet unfolded, "
                               "not necessarily a straight colour band.")

    stepper_panel("rollae", factory, (name, seed), render, steps_per_tick=5, max_steps_per_tick=50,
                  interval=0.6, step_label="Step", max_iterations=300)
