"""Sections of the forward vs reverse KL page: widgets -> playground.divergences -> figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from playground.divergence_fit import (
    FitConfig,
    FitRace,
    fit_paths,
    kl_landscape_1d,
    mle_decomposition,
    moment_matching,
    reverse_kl_local_optima,
)
from playground.divergences import (
    DIVERGENCES,
    GridQuadrature,
    default_resolution,
    density_values,
    divergence_table,
    kl_discrete_terms,
    kl_gaussians,
    kl_grid,
    kl_monte_carlo,
    make_target,
)
from playground.figures.divergences import (
    FIT_LABELS,
    discrete_pair,
    fit_race_1d,
    fit_race_2d,
    gaussian_pair_1d,
    gaussian_pair_2d,
    kl_curves,
    kl_landscape,
)
from playground.quadrature import kl_normal_quad
from playground.seeding import derive_seed, rng
from playground.distributions import GaussianMixture, MixtureParams
from playground.targets import list_targets
from playground.ui.controls import format_number, formula_panel, stepper_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext

MAX_MODES = 5
LEARNING_RATES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0]
EXTRA_OBJECTIVES = ["js", "tv", "w1", "mmd"]
MMD_BANDWIDTH = 1.0
PLOT_POINTS_1D, PLOT_POINTS_2D = 600, 110
RACE_KEY = "kl_race"
MAX_TERMS_SHOWN = 5  # terms of a discrete KL sum written out


# ----------------------------------------------------------------------------------
# 1 · Controls of the fit race
# ----------------------------------------------------------------------------------

def _preset_mixtures(dim: int) -> dict[str, MixtureParams]:
    return {t.name: t.mixture for t in list_targets(dim) if t.mixture is not None}


def target_controls() -> MixtureParams:
    """The target p: a custom mixture (modes, separation, weights, widths) or a registry mixture."""
    left, right = st.columns(2)
    dim_label = linked(left.radio, "Dimension", key="dim", default="1D", options=["1D", "2D"], horizontal=True)
    dim = 1 if dim_label == "1D" else 2
    presets = _preset_mixtures(dim)
    labels = {t.name: t.label for t in list_targets(dim)}
    choice = linked(right.selectbox, "Target p", key=f"tgt{dim}", default="custom", options=["custom", *presets],
                    format_func=lambda name: "Custom mixture" if name == "custom" else labels[name])
    if choice != "custom":
        return presets[choice]
    columns = st.columns(2)
    n_modes = linked(columns[0].slider, "Modes of p", key="modes", default=2, min_value=1, max_value=MAX_MODES,
                     help="Add or remove modes of p.")
    separation = linked(columns[1].slider, "Separation", key="sep", default=5.0 if dim == 1 else 3.0,
                        min_value=0.0, max_value=8.0, step=0.25,
                        help="Distance between neighbouring modes (on a line in 1D, a circle in 2D).")
    weights, widths = [], []
    with st.expander("Weights and widths of the modes", expanded=False):
        for k in range(n_modes):
            left, right = st.columns(2)
            weights.append(linked(left.slider, f"Weight of mode {k + 1}", key=f"wt{k}", default=1.0,
                                  min_value=0.1, max_value=5.0, step=0.1))
            widths.append(linked(right.slider, f"Width (std) of mode {k + 1}", key=f"wd{k}", default=0.5,
                                 min_value=0.1, max_value=2.0, step=0.05))
    return make_target(dim, n_modes, separation, weights, widths)


def _new_start(dim: int, seed: int) -> None:
    """Button callback: a random start for q (before the sliders are drawn again)."""
    draws = st.session_state.get("_kl_starts", 0) + 1
    st.session_state["_kl_starts"] = draws
    generator = rng(derive_seed(seed, "kl-start", draws))
    st.session_state["x0"] = float(np.round(generator.uniform(-5, 5), 1))
    if dim == 2:
        st.session_state["y0"] = float(np.round(generator.uniform(-4, 4), 1))


def model_controls(dim: int, seed: int) -> tuple[FitConfig, tuple[str, ...]]:
    """The model q (K components, start, fixed variance), the optimiser, and extra objectives."""
    left, right = st.columns(2)
    n_components = linked(left.slider, "K", key="K", default=1, min_value=1, max_value=4,
                          help="Number of Gaussian components of q; K = 1: a single Gaussian.")
    start_std = linked(right.slider, "Start std of q", key="s0", default=1.0, min_value=0.2, max_value=4.0, step=0.1)
    left, right = st.columns(2)
    start_x = linked(left.slider, "Start mean x₁", key="x0", default=1.0, min_value=-6.0, max_value=6.0, step=0.1)
    if dim == 2:
        start_y = linked(right.slider, "Start mean x₂", key="y0", default=0.5, min_value=-6.0, max_value=6.0,
                         step=0.1)
        right = st
    learning_rate = linked(right.select_slider, "Learning rate (Adam)", key="lr", default=0.1, options=LEARNING_RATES)
    fixed = linked(st.toggle, "Fixed variance", key="fixvar", default=False,
                   help="Only the means (and weights) move; every std stays at the start std.")
    extra_options = [name for name in EXTRA_OBJECTIVES if dim == 1 or name != "w1"]
    extras = linked(st.multiselect, "Also fit with", key="also", default=[], options=extra_options,
                    format_func=lambda name: FIT_LABELS[name],
                    help="Race more objectives from the same start: which cover the modes, which seek one?")
    st.button("New start", icon=":material/shuffle:", on_click=_new_start, args=(dim, seed), key="newstart",
              help="A random start mean: the reverse-KL fit may land in another local optimum.")
    start = (start_x,) if dim == 1 else (start_x, start_y)
    config = FitConfig(n_components=n_components, start_mean=start, start_std=start_std, fixed_variance=fixed,
                       learning_rate=learning_rate, mmd_bandwidth=MMD_BANDWIDTH)
    return config, ("forward_kl", "reverse_kl", *[e for e in extras if e in extra_options])


# ----------------------------------------------------------------------------------
# Cached compute: optima and landscape depend on the target only
# ----------------------------------------------------------------------------------

def _key(params: MixtureParams) -> tuple:
    return (params.weights.tobytes(), params.means.tobytes(), params.covariances.tobytes(), params.means.shape)


def _from_key(key: tuple) -> GaussianMixture:
    weights_bytes, means_bytes, covs_bytes, shape = key
    k, d = shape
    return GaussianMixture(np.frombuffer(weights_bytes), np.frombuffer(means_bytes).reshape(k, d),
                   np.frombuffer(covs_bytes).reshape(k, d, d))


@st.cache_data(show_spinner=False, max_entries=32)
def _local_optima(key: tuple, fixed_std: float | None) -> list[dict]:
    return reverse_kl_local_optima(_from_key(key), fixed_std=fixed_std)


@st.cache_data(show_spinner=False, max_entries=16)
def _landscape(key: tuple, x_range: tuple[float, float], sigma_max: float) -> tuple[np.ndarray, np.ndarray, dict]:
    mus = np.linspace(x_range[0], x_range[1], 80)
    sigmas = np.linspace(0.08, sigma_max, 60)
    return mus, sigmas, kl_landscape_1d(_from_key(key), mus, sigmas, resolution=800)


def _plot_box(target: GaussianMixture, config: FitConfig) -> np.ndarray:
    """(d, 2) plotting box: the target's mass and the start of q."""
    box = target.bounds(3.5)
    start = np.broadcast_to(np.asarray(config.start_mean), (target.dim,))
    box[:, 0] = np.minimum(box[:, 0], start - 2 * config.start_std)
    box[:, 1] = np.maximum(box[:, 1], start + 2 * config.start_std)
    return box


# ----------------------------------------------------------------------------------
# 1 + 2 · The race and the divergence table (redrawn at every tick)
# ----------------------------------------------------------------------------------

def fit_race_section(page: PageContext, target_params: MixtureParams, config: FitConfig,
                     divergences: tuple[str, ...]) -> FitRace:
    """Step / Play / Reset the race; draw the fits, the KL curves, the landscape and the divergence table."""
    try:
        target = GaussianMixture.from_params(target_params)
    except ValueError as error:
        st.error(f"This target cannot be used: {error}")
        st.stop()
    key = _key(target_params)
    single = config.n_components == 1
    fixed_std = config.start_std if config.fixed_variance else None
    optima = _local_optima(key, fixed_std) if single else []
    mean_p, cov_p = moment_matching(target)
    optimum_cov = cov_p if fixed_std is None else fixed_std**2 * np.eye(target.dim)
    box = _plot_box(target, config)

    def factory() -> FitRace:
        return FitRace(target, divergences, config, seed=page.seed)

    local = optima if single else []
    optimum = (mean_p, optimum_cov) if single else None

    def render(race: FitRace) -> None:
        _draw_race(page, race, target, box, local, optimum, key)

    def picture(race: FitRace):
        return page.themed(_race_figure(race, target, box, local, optimum), main=True)

    return stepper_panel(RACE_KEY, factory, (key, divergences, config, page.seed), render, steps_per_tick=5,
                         interval=0.5, max_iterations=3000, converged=race_converged, picture=picture)


RACE_WINDOW, RACE_TOLERANCE = 50, 0.02  # iterations, nats


def race_converged(race: FitRace) -> str | None:
    """Play stops when, over the last ``RACE_WINDOW`` iterations, no fit's own objective (its KL on the
    grid, or its divergence) moved by more than ``RACE_TOLERANCE``. (A reverse-KL fit's *forward* KL keeps
    swinging: it is very sensitive to the tails of a q that sits on one mode.)"""
    if race.iteration < RACE_WINDOW + 1:
        return None
    for name in race.fits:
        metric = f"{name}:{name}" if name in ("forward_kl", "reverse_kl") else f"{name}:loss"
        recent = race.metric(metric)[-RACE_WINDOW - 1:]
        if not np.all(np.isfinite(recent)) or np.ptp(recent) > RACE_TOLERANCE:
            return None
    return (f"The fits have settled: over the last {RACE_WINDOW} iterations no objective moved by more than "
            f"{RACE_TOLERANCE:g}. Play stopped; try another start (🎲) or learning rate.")


def _race_figure(race: FitRace, target: GaussianMixture, box: np.ndarray, optima: list[dict],
                 optimum: tuple[np.ndarray, np.ndarray] | None):
    """The race's main picture: the target and every fit, now."""
    snapshot = race.snapshot()
    models = race.models()
    if target.dim == 1:
        x = np.linspace(box[0, 0], box[0, 1], PLOT_POINTS_1D)
        density = lambda mixture: density_values(mixture, x[:, None])  # noqa: E731
        optimum_density = density(GaussianMixture.gaussian(*optimum)) if optimum is not None else None
        local = [density(GaussianMixture.gaussian(o["mean"], o["cov"])) for o in optima]
        figure = fit_race_1d(x, density(target), {n: density(m) for n, m in models.items()},
                             optimum_density=optimum_density, local_optima=local)
    else:
        grid = GridQuadrature.over(box, PLOT_POINTS_2D)
        target_density = density_values(target, grid.points).reshape(PLOT_POINTS_2D, -1)
        paths = fit_paths(race)
        figure = fit_race_2d(grid.axes, target_density, snapshot, paths=paths, optimum=optimum,
                             local_optima=[(o["mean"], o["cov"]) for o in optima])
    return figure


def _draw_race(page: PageContext, race: FitRace, target: GaussianMixture, box: np.ndarray, optima: list[dict],
               optimum: tuple[np.ndarray, np.ndarray] | None, key: tuple) -> None:
    models = race.models()
    page.show(_race_figure(race, target, box, optima, optimum), key="race_fig", main=True)

    table = {name: divergence_table(target, model, mmd_bandwidth=MMD_BANDWIDTH) for name, model in models.items()}
    if race.history:
        curves = {name: {"forward_kl": race.metric(f"{name}:forward_kl"),
                         "reverse_kl": race.metric(f"{name}:reverse_kl")} for name in race.fits}
        page.show(kl_curves(race.metric("iteration"), curves), key="race_curves")
    else:
        st.info("Press **Step** or **▶ Play**: both fits start from the same q.")
    _kl_formulas(table)
    if target.dim == 1 and optimum is not None:
        _landscape_view(page, race, key, box, optimum, optima)
    st.subheader("2 · Other divergences on the same pair")
    _divergence_table(table, target.dim)


def _kl_formulas(table: dict[str, dict[str, float]]) -> None:
    forward, reverse = table["forward_kl"], table["reverse_kl"]
    for column, (name, latex, title, hint) in zip(st.columns(2), (
        ("forward_kl", r"D_{KL}(p\,\|\,q) = \mathbb{E}_p\!\left[\log\frac{p(x)}{q(x)}\right]", "Forward KL (mode covering)",
         "where p > 0 and q ≈ 0 the log-ratio explodes: q must cover every mode."),
        ("reverse_kl", r"D_{KL}(q\,\|\,p) = \mathbb{E}_q\!\left[\log\frac{q(x)}{p(x)}\right]", "Reverse KL (mode seeking)",
         "only where q puts mass counts: hiding inside one mode is cheap."),
    )):
        with column:
            formula_panel(latex, {"forward fit": forward[name], "reverse fit": reverse[name]}, title=title,
                          try_next=hint)


def _landscape_view(page: PageContext, race: FitRace, key: tuple, box: np.ndarray,
                    optimum: tuple[np.ndarray, np.ndarray], optima: list[dict]) -> None:
    sigma_max = float(max(2.0 * math.sqrt(optimum[1][0, 0]), race.fits["forward_kl"].config.start_std * 1.5))
    # Rounded outwards, so that moving the start a little reuses the cached landscape (4,800 KLs).
    x_range = (float(math.floor(box[0, 0])), float(math.ceil(box[0, 1])))
    mus, sigmas, landscapes = _landscape(key, x_range, math.ceil(2 * sigma_max) / 2)
    paths = {name: path for name, path in fit_paths(race, mean_and_std=True).items()
             if name in ("forward_kl", "reverse_kl")}
    figure = kl_landscape(mus, sigmas, landscapes, paths=paths,
                          optimum=(float(optimum[0][0]), math.sqrt(optimum[1][0, 0])),
                          local_optima=[(float(o["mean"][0]), math.sqrt(o["cov"][0, 0])) for o in optima])
    page.show(figure, key="race_landscape")
    st.caption("Each point of these maps is one Gaussian q = N(μ, σ²); colour = log₁₀ of the divergence. The forward "
               "map has a single bowl (at the ✕, moment matching); the reverse map has several local minima (★, "
               f"{len(optima)} here): one on each mode and, when the modes are close enough, a wide Gaussian "
               "covering them. Where the reverse fit ends depends on where it starts.")


def _divergence_table(table: dict[str, dict[str, float]], dim: int) -> None:
    frame = pd.DataFrame({f"q by {FIT_LABELS[name]}": [values[d] for d in DIVERGENCES]
                          for name, values in table.items()}, index=list(DIVERGENCES.values()))
    st.dataframe(frame.style.format(lambda v: "n/a (1D only)" if isinstance(v, float) and math.isnan(v)
                                    else format_number(v)), width="stretch")
    forward, reverse = table["forward_kl"], table["reverse_kl"]
    pair = lambda name: {"forward fit": forward[name], "reverse fit": reverse[name]}  # noqa: E731
    formula_panel(r"JS(p, q) = \tfrac12 D_{KL}(p\,\|\,m) + \tfrac12 D_{KL}(q\,\|\,m),\quad m = \tfrac{p+q}{2}",
                  pair("js"), title="Jensen–Shannon (≤ log 2 ≈ 0.693)",
                  try_next="separate the modes: JS saturates at log 2 when q and p stop overlapping.")
    formula_panel(r"\mathrm{MMD}^2 = \mathbb{E}\,k(x,x') + \mathbb{E}\,k(y,y') - 2\,\mathbb{E}\,k(x,y)",
                  pair("mmd"), title=f"MMD (Gaussian kernel k(x, y) = exp(−‖x − y‖²/2h²), h = {MMD_BANDWIDTH})",
                  try_next="add an MMD fit: it compares smoothed densities and tends to cover.")
    columns = st.columns(2)
    with columns[0]:
        formula_panel(r"TV(p, q) = \tfrac12 \int \left|p - q\right| dx", pair("tv"), title="Total variation (≤ 1)")
    if dim == 1:
        with columns[1]:
            formula_panel(r"W_1(p, q) = \int \left|F_p - F_q\right| dx", pair("w1"),
                          title="Wasserstein-1 (1D, by CDFs)",
                          try_next="W1 keeps growing with distance, where JS and TV are already flat.")


# ----------------------------------------------------------------------------------
# 3 · Calculators
# ----------------------------------------------------------------------------------

def _parse_vector(text: str, name: str) -> np.ndarray:
    parts = [part for part in text.replace(";", ",").split(",") if part.strip()]
    try:
        values = np.array([float(part) for part in parts])
    except ValueError:
        raise ValueError(f"{name} must be numbers separated by commas, e.g. 9, 12, 4") from None
    return values


def _sum_latex(p: np.ndarray, q: np.ndarray, left: str, right: str, terms: np.ndarray) -> str:
    pieces = [rf"{a:.4g}\ln\tfrac{{{a:.4g}}}{{{b:.4g}}}" for a, b in zip(p, q) if a > 0]
    if len(pieces) > MAX_TERMS_SHOWN:
        pieces = pieces[:MAX_TERMS_SHOWN] + [r"\cdots"]
    total = terms.sum()
    value = r"\infty" if math.isinf(total) else f"{total:.7f}"
    return rf"D_{{KL}}({left}\,\|\,{right}) = " + " + ".join(pieces) + rf" = {value}"


DISCRETE_PRESETS = {  # name: (label, P, Q, what it shows)
    "lecture": ("The lecture's example", "9, 12, 4", "1, 1, 1", "P = (9, 12, 4)/25 against a uniform Q."),
    "support": ("Q misses an outcome", "1, 1, 1", "1, 1, 0",
                "Q(3) = 0 where P(3) > 0: KL(P‖Q) = ∞ (Q must cover P), while KL(Q‖P) stays finite."),
    "equal": ("Q = P", "1, 2, 3", "2, 4, 6", "The same distribution written twice: KL = 0 both ways, and only then."),
    "negative": ("A negative term", "5, 3, 2", "3, 5, 2",
                 "The term 0.3 ln(0.3/0.5) is negative, yet the sum is not: KL ≥ 0 (Gibbs' inequality)."),
}


def _apply_discrete_preset() -> None:
    _, p, q, _ = DISCRETE_PRESETS[st.session_state["kl_dpre"]]
    st.session_state["P"], st.session_state["Q"] = p, q


def discrete_calculator(page: PageContext) -> None:
    """The lecture's example P = (9, 12, 4)/25 vs uniform Q, editable, both directions written out;
    presets for the support condition, equality and Gibbs' inequality."""
    preset = linked(st.selectbox, "Example", key="kl_dpre", default="lecture", options=list(DISCRETE_PRESETS),
                    format_func=lambda key: DISCRETE_PRESETS[key][0], on_change=_apply_discrete_preset)
    st.caption(f"{DISCRETE_PRESETS[preset][3]} KL(P‖Q) = Σ P log(P/Q) ≥ 0, with equality only when P = Q; it is "
               "infinite as soon as Q(x) = 0 < P(x).")
    columns = st.columns(2)
    p_text = linked(columns[0].text_input, "P (weights, normalised for you)", key="P", default="9, 12, 4")
    q_text = linked(columns[1].text_input, "Q (weights, normalised for you)", key="Q", default="1, 1, 1")
    try:
        p_raw, q_raw = _parse_vector(p_text, "P"), _parse_vector(q_text, "Q")
        forward_terms, reverse_terms = kl_discrete_terms(p_raw, q_raw), kl_discrete_terms(q_raw, p_raw)
    except ValueError as error:
        st.error(f"Cannot compute the KL: {error}.")
        return
    p, q = p_raw / p_raw.sum(), q_raw / q_raw.sum()
    forward, reverse = forward_terms.sum(), reverse_terms.sum()
    figure_column, numbers_column = st.columns([1.4, 1])
    with figure_column:
        page.show(discrete_pair, p, q, key="discrete_fig")
    with numbers_column:
        st.metric("KL(P‖Q)", "∞" if np.isinf(forward) else f"{forward:.7f}")
        st.metric("KL(Q‖P)", "∞" if np.isinf(reverse) else f"{reverse:.7f}")
    with st.container(border=True):
        st.latex(_sum_latex(p, q, "P", "Q", forward_terms))
        st.latex(_sum_latex(q, p, "Q", "P", reverse_terms))
    if np.isinf(forward) or np.isinf(reverse):
        st.warning("An infinite KL: one distribution puts mass where the other has none "
                   "(a zero in the denominator). KL needs the second argument to cover the first.")
    st.caption("**Try next:** make Q = P (KL = 0 both ways); put a 0 in Q; the two directions differ: "
               "KL is not symmetric.")


def _gaussian_controls_2d(index: int) -> tuple[np.ndarray, np.ndarray]:
    columns = st.columns(5)
    defaults = {1: (0.0, 0.0, 1.0, 1.0, 0.0), 2: (1.0, 0.5, 1.5, 0.7, 0.5)}[index]
    mx = linked(columns[0].slider, f"μ{index} x₁", key=f"g{index}x", default=defaults[0], min_value=-3.0,
                max_value=3.0, step=0.1)
    my = linked(columns[1].slider, f"μ{index} x₂", key=f"g{index}y", default=defaults[1], min_value=-3.0,
                max_value=3.0, step=0.1)
    sx = linked(columns[2].slider, f"σ{index} x₁", key=f"g{index}a", default=defaults[2], min_value=0.2,
                max_value=3.0, step=0.1)
    sy = linked(columns[3].slider, f"σ{index} x₂", key=f"g{index}b", default=defaults[3], min_value=0.2,
                max_value=3.0, step=0.1)
    rho = linked(columns[4].slider, f"ρ{index}", key=f"g{index}r", default=defaults[4], min_value=-0.9,
                 max_value=0.9, step=0.05)
    return np.array([mx, my]), np.array([[sx**2, rho * sx * sy], [rho * sx * sy, sy**2]])


def gaussian_calculator(page: PageContext) -> None:
    """KL between two Gaussians: closed form next to numeric quadrature (and Monte-Carlo in 2D)."""
    dim_label = linked(st.radio, "Gaussians in", key="gdim", default="1D", options=["1D", "2D"], horizontal=True)
    if dim_label == "1D":
        columns = st.columns(4)
        m1 = linked(columns[0].slider, "μ₁", key="m1", default=0.0, min_value=-4.0, max_value=4.0, step=0.1)
        s1 = linked(columns[1].slider, "σ₁", key="s1", default=1.0, min_value=0.2, max_value=3.0, step=0.05)
        m2 = linked(columns[2].slider, "μ₂", key="m2", default=1.0, min_value=-4.0, max_value=4.0, step=0.1)
        s2 = linked(columns[3].slider, "σ₂", key="s2", default=2.0, min_value=0.2, max_value=3.0, step=0.05)
        gaussians = [(np.array([m1]), np.array([[s1**2]])), (np.array([m2]), np.array([[s2**2]]))]
        x = np.linspace(min(m1 - 4 * s1, m2 - 4 * s2), max(m1 + 4 * s1, m2 + 4 * s2), 400)
        figure = (gaussian_pair_1d, x, density_values(GaussianMixture.gaussian(m1, s1**2, "cpu"), x[:, None]),
                  density_values(GaussianMixture.gaussian(m2, s2**2, "cpu"), x[:, None]))  # builder, args
        numeric = {"forward": kl_normal_quad(m1, s1, m2, s2), "reverse": kl_normal_quad(m2, s2, m1, s1)}
        method = "numeric quadrature (SciPy quad)"
        latex = (r"D_{KL}(\mathcal N_1\|\mathcal N_2) = \log\frac{\sigma_2}{\sigma_1}"
                 r" + \frac{\sigma_1^2 + (\mu_1-\mu_2)^2}{2\sigma_2^2} - \frac12")
    else:
        gaussians = [_gaussian_controls_2d(1), _gaussian_controls_2d(2)]
        figure = (gaussian_pair_2d, gaussians)
        first, second = (GaussianMixture.gaussian(m, c) for m, c in gaussians)
        numeric = {"forward": kl_grid(first, second), "reverse": kl_grid(second, first)}
        monte_carlo = kl_monte_carlo(first, second, 20_000, seed=derive_seed(page.seed, "kl-mc"))
        size = default_resolution(2)
        method = f"grid quadrature ({size}×{size} cells)"
        latex = (r"D_{KL}(\mathcal N_1\|\mathcal N_2) = \tfrac12\left[\operatorname{tr}(\Sigma_2^{-1}\Sigma_1)"
                 r" + (\mu_2-\mu_1)^\top\Sigma_2^{-1}(\mu_2-\mu_1) - d + \log\frac{\det\Sigma_2}{\det\Sigma_1}\right]")
    forward = kl_gaussians(gaussians[0][0], gaussians[0][1], gaussians[1][0], gaussians[1][1])
    reverse = kl_gaussians(gaussians[1][0], gaussians[1][1], gaussians[0][0], gaussians[0][1])
    figure_column, formula_column = st.columns([1, 1.6])
    with figure_column:
        page.show(*figure, key="gauss_fig")
    with formula_column:
        values = {"N₁‖N₂ closed": forward, "N₁‖N₂ numeric": numeric["forward"],
                  "N₂‖N₁ closed": reverse, "N₂‖N₁ numeric": numeric["reverse"]}
        formula_panel(latex, values, title="KL between two Gaussians",
                      try_next="equal widths make KL symmetric (½ Δμ²/σ²); unequal widths do not.")
        if dim_label == "2D":
            st.caption(f"Monte-Carlo check, 20 000 draws of N₁: KL(N₁‖N₂) ≈ {monte_carlo[0]:.4f} "
                       f"± {2 * monte_carlo[1]:.4f} (2 standard errors).")
        st.caption(f"Numeric column: {method}, computed independently of the closed form.")


def mle_calculator(page: PageContext, target_params: MixtureParams, race: FitRace | None) -> None:
    """MLE = forward KL: average log-likelihood = -KL(p||q) - H(p), with the forward fit's current q."""
    if race is None or "forward_kl" not in race.fits:
        st.info("Run the fit race above first.")
        return
    n = linked(st.select_slider, "Sample size n drawn from p", key="n", default=2000,
               options=[100, 500, 2000, 10000, 50000])
    target, q = GaussianMixture.from_params(target_params), race.fits["forward_kl"].model()
    parts = mle_decomposition(target, q, n=n, seed=derive_seed(page.seed, "mle", n))
    formula_panel(r"\frac1n\sum_{i=1}^n \log q(x_i)\ \approx\ \mathbb{E}_p[\log q]"
                  r" = -D_{KL}(p\,\|\,q) - H(p)",
                  {"average log-likelihood": parts["average_log_likelihood"],
                   "E_p[log q] (quadrature)": parts["expected_log_q"],
                   "−KL(p‖q)": -parts["forward_kl"], "−H(p)": -parts["entropy_p"]},
                  title=f"MLE = forward KL, with the forward fit's q at iteration {race.iteration}",
                  try_next="step the race: the log-likelihood rises exactly as much as KL(p‖q) falls; "
                           "H(p) never moves, so maximising likelihood = minimising forward KL.")
