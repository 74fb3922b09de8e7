"""The sections of the Samplers page, one function per lecture step (widgets -> compute -> figures)."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from playground import sampling as S
from playground.figures import sampling as F
from playground.figures.primitives import ellipse
from playground.targets import MOG2D, get_target, list_targets
from playground.ui.controls import formula_panel as _formula_panel
from playground.ui.deeplink import linked
from playground.ui.page import PageContext
from playground.seeding import derive_seed


def _short(value: float) -> str:
    """At most ~6 characters, so that numbers fit the narrow metric columns in projection mode."""
    if not math.isfinite(value):
        return "—"
    size = abs(value)
    if size == 0:
        return "0"
    if 1e-3 <= size < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def formula_panel(latex: str, values: dict | None = None, **kwargs) -> None:
    """The shared formula panel, with floats shortened (see ``_short``)."""
    compact = {k: _short(float(v)) if isinstance(v, (float, np.floating)) else v for k, v in (values or {}).items()}
    _formula_panel(latex, compact or None, **kwargs)


def _lines(*rows: str) -> str:
    """Several formulas stacked (narrow panels cut long single-line LaTeX)."""
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def _row(page: PageContext, side, spec) -> list:
    """A row of controls: stacked in the side column when projected, else ``st.columns(spec)``."""
    count = spec if isinstance(spec, int) else len(spec)
    return [side] * count if page.projection else side.columns(spec)


def _pair(page: PageContext, side, main, spec) -> tuple:
    """(picture, numbers): the main and side columns when projected, else ``st.columns(spec)``."""
    return (main, side) if page.projection else tuple(st.columns(spec))


def _apply_preset(presets: dict[str, dict], selector_key: str) -> None:
    """on_change callback: copy the chosen preset's values into the widgets' session state."""
    for key, value in presets.get(st.session_state[selector_key], {}).items():
        st.session_state[key] = value


# ----------------------------------------------------------------------------------
# 1. LCG
# ----------------------------------------------------------------------------------

LCG_KEYS = {"m": "lcg_m", "a": "lcg_a", "c": "lcg_c"}
LCG_WIDGET_PRESETS = {name: {LCG_KEYS[k]: v for k, v in params.items()} for name, params in S.LCG_PRESETS.items()}
PERIOD_SEARCH_LIMIT = 2**18


@st.cache_data(show_spinner=False, max_entries=32)
def _lcg_period(m: int, a: int, c: int, seed: int) -> tuple[int, int]:
    return S.lcg_period(m, a, c, seed, max_steps=PERIOD_SEARCH_LIMIT)


def _period_text(period: int) -> str:
    if not period:
        return f"> {PERIOD_SEARCH_LIMIT:,}"
    if period & (period - 1) == 0 and period > 1024:
        return f"2^{period.bit_length() - 1}"
    return f"{period:,}" if period < 10**6 else f"{period:.3g}"


def lcg_section(page: PageContext) -> None:
    """Pseudo-random numbers from X_{t+1} = (a X_t + c) mod m, good and bad."""
    names = list(S.LCG_PRESETS)
    side, main = page.split()
    controls = _row(page, side, [1.8, 1.5, 1.1, 1.1, 1.0, 1.5])
    linked(controls[0].selectbox, "Preset", key="lcg", default="RANDU (IBM, bad)", options=names,
           on_change=_apply_preset, args=(LCG_WIDGET_PRESETS, "lcg"))
    preset = S.LCG_PRESETS["RANDU (IBM, bad)"]
    m = linked(controls[1].number_input, "m (modulus)", key="lcg_m", default=preset["m"], min_value=2,
               max_value=S.MAX_LCG_MODULUS, step=1)
    a = linked(controls[2].number_input, "a (multiplier)", key="lcg_a", default=preset["a"], min_value=1,
               max_value=S.MAX_LCG_MODULUS, step=1)
    c = linked(controls[3].number_input, "c (increment)", key="lcg_c", default=preset["c"], min_value=0,
               max_value=S.MAX_LCG_MODULUS, step=1)
    x0 = linked(controls[4].number_input, "X₀ (seed)", key="lcg_x0", default=1, min_value=0,
                max_value=S.MAX_LCG_MODULUS, step=1)
    n = linked(controls[5].select_slider, "Numbers drawn", key="lcg_n", default=30_000,
               options=[300, 1_000, 3_000, 10_000, 30_000, 100_000])
    m, a, c, x0 = int(m), int(a), int(c), int(x0)
    try:
        states = S.lcg(n, m, a, c, x0)
    except ValueError as error:
        st.error(f"These constants do not define a generator: {error}.")
        return
    if c == 0 and x0 == 0:
        st.warning("With c = 0, the seed X₀ = 0 is a fixed point: every number is 0. Pick another seed.")
    u = states.astype(np.float64) / m
    reference = np.random.default_rng(derive_seed(page.seed, "lcg-numpy")).random(n)
    ours, theirs = S.uniformity_test(u), S.uniformity_test(reference)
    serial_ours, serial_theirs = S.serial_test(u, 3, 12), S.serial_test(reference, 3, 12)
    tail, period = _lcg_period(m, a, c, x0)
    if not period:
        tail, period = 0, S.lcg_period_theory(m, a, c, x0) or 0

    left, right = _pair(page, side, main, [1.6, 1])
    with left:
        edges = np.linspace(0, 1, 21)  # 20 bins of [0, 1]
        page.show(F.uniform_diagnostics, u, S.binned_density(u, edges),
                  S.binned_density(reference, edges, finite_only=False), key="lcg_hist", main=True)
    with right:
        formula_panel(_lines(r"X_{t+1} = (a\,X_t + c) \bmod m", r"U_t = X_t / m \in [0, 1)"),
                      {"X₁": int(states[0]), "U₁": float(u[0]), "period": _period_text(period),
                       **({"tail": tail} if tail else {})},
                      title="The generator")
        with st.container(border=True):
            st.markdown("**Uniformity tests** (p-value; small = not uniform)")
            table = {"test": ["χ² on 20 bins", "Kolmogorov–Smirnov", "χ² on 12³ cells of triples"],
                     "this LCG": [ours.chi2_pvalue, ours.ks_pvalue, serial_ours[1]],
                     "NumPy (PCG64)": [theirs.chi2_pvalue, theirs.ks_pvalue, serial_theirs[1]]}
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config={k: st.column_config.NumberColumn(format="%.3g") for k in table if k != "test"})
    if c:
        conditions = S.hull_dobell(m, a, c)
        verdict = "✅ full period m" if conditions.pop("full period m") else "❌ period shorter than m"
        st.caption(f"**Hull–Dobell theorem** ({verdict}): " +
                   " · ".join(("✅ " if ok else "❌ ") + name for name, ok in conditions.items()))

    along = linked(st.toggle, "View edge-on to RANDU's planes (normal (9, −6, 1) pointing up)", key="lcg_planes", default=False)
    offsets = S.randu_plane_offsets(u)
    left, right = st.columns([1.2, 1])
    with left:
        page.show(F.consecutive_triples, u, offsets, along_planes=along, key="lcg_3d", height=560)
    with right:
        on_planes = bool(np.allclose(offsets, np.round(offsets), atol=1e-6))
        planes = len(np.unique(np.round(offsets))) if on_planes else None
        formula_panel(_lines(r"a = 2^{16} + 3 \;\Rightarrow\; a^2 \equiv 6a - 9 \pmod{2^{31}}",
                             r"X_{t+2} = 6X_{t+1} - 9X_t \pmod{2^{31}}",
                             r"9U_t - 6U_{t+1} + U_{t+2} = k \in \mathbb{Z}"),
                      {"planes k": planes if planes else "none"},
                      title="Why RANDU fails in 3D",
                      try_next="rotate the cube, or switch on the toggle to look edge-on: all triples lie on "
                               "15 planes. Then pick MINSTD: the planes disappear.")
        if m <= 256:
            page.show(F.lcg_orbit, states[: min(n, 3 * m)], m, period, key="lcg_orbit", height=300)
    page.explain(
        "A computer makes *pseudo*-random numbers: a deterministic recurrence that only **looks** random, "
        "reproducible from its seed. The simplest is the linear congruential generator; its constants decide "
        "everything.\n\n"
        "- **Period**: the state takes at most m values, so the sequence must repeat. The *Tiny* presets show "
        "the whole cycle; the Hull–Dobell theorem says when c ≠ 0 gives the full period m.\n"
        "- **RANDU** passes the 1D tests (histogram, KS) and even looks fine in 2D, yet its consecutive "
        "triples fall on 15 planes: a 3D test (χ² on cells of triples) rejects it at once.\n"
        "- **MINSTD** (Park–Miller) has period m − 1 = 2³¹ − 2; NumPy's default PCG64 has period 2¹²⁸ and "
        "passes far stronger test batteries. Pseudo-random generators are reproducible: same seed, same numbers.")


# ----------------------------------------------------------------------------------
# 2. Box-Muller
# ----------------------------------------------------------------------------------


@st.cache_data(max_entries=8, show_spinner="Testing 100 seeds…")
def _box_muller_pvalues(n: int, seed: int) -> np.ndarray:
    """``sampling.box_muller_pvalues``, cached."""
    return S.box_muller_pvalues(min(n, 10_000), 100, derive_seed(seed, "box-muller-seeds"))


def box_muller_section(page: PageContext) -> None:
    """(U1, U2) -> (R, Theta) -> (Z1, Z2), linked panels, and the check against N(0, 1)."""
    side, main = page.split()
    controls = _row(page, side, 3)
    n_pairs = linked(controls[0].select_slider, "Pairs drawn in the panels", key="bm_n", default=1_000,
                     options=[100, 300, 1_000, 3_000])
    color_by = linked(controls[1].radio, "Colour points by", key="bm_col", default="U1", options=["U1", "U2"],
                      horizontal=True)
    n_check = linked(controls[2].select_slider, "Samples for the histogram", key="bm_N", default=100_000,
                     options=[1_000, 10_000, 100_000])
    stages = S.box_muller_stages(n_pairs, derive_seed(page.seed, "box-muller"))
    with main:
        page.show(F.box_muller_panels, stages.u1, stages.u2, stages.radius, stages.angle, stages.z1, stages.z2,
                  color_by, key="bm_panels", height=460, main=True)
    z = S.box_muller(n_check, derive_seed(page.seed, "box-muller-ks"))
    ks = S.ks_test(z)
    left, right = st.columns([1.6, 1])
    with left:
        page.show(F.normal_check, S.normal_reference(z), key="bm_check", height=420)
    with right:
        formula_panel(_lines(r"R = \sqrt{-2\ln U_1},\quad \Theta = 2\pi U_2",
                             r"Z_1 = R\cos\Theta,\quad Z_2 = R\sin\Theta"),
                      {"U1": stages.u1[0], "U2": stages.u2[0], "Z1": stages.z1[0], "Z2": stages.z2[0]},
                      title="Box–Muller, first point")
        formula_panel(r"D = \sup_z |F_n(z) - \Phi(z)|",
                      {"D (KS)": ks.statistic, "p-value": ks.pvalue, "mean": z.mean(), "var": z.var()},
                      title=f"Check on {n_check:,} samples",
                      try_next="colour by U2: the angle Θ becomes the colour wheel of the Gaussian cloud. Colour by "
                               "U1: small U1 give the far-out points (large R).")
        st.caption("A p-value is not a grade: when the generator is right, p is uniform on [0, 1], so one seed in "
                   "20 gives p < 0.05 by chance. Run many seeds to see it.")
        if st.button("Run 100 seeds", key="bm_seeds", icon=":material/casino:"):
            st.session_state["bm_pvalues"] = (n_check, page.seed, _box_muller_pvalues(n_check, page.seed))
    stored = st.session_state.get("bm_pvalues")
    if stored is not None and stored[:2] == (n_check, page.seed):
        page.show(F.pvalue_histogram, stored[2], key="bm_pvalues_fig", height=320)
    page.explain(
        "Why it works: the density of two independent N(0, 1) is e^{−r²/2}/(2π), which only depends on the radius. "
        "In polar coordinates the angle is uniform on [0, 2π) and R² = −2 ln U₁ is exponential with mean 2: "
        "both are easy to draw from uniforms. Each pair of uniforms gives a pair of independent normals.")


# ----------------------------------------------------------------------------------
# 3. Marsaglia polar
# ----------------------------------------------------------------------------------


def polar_section(page: PageContext) -> None:
    """Accept V in the unit disk, then Z = V sqrt(-2 ln S / S): no sine or cosine needed."""
    side, main = page.split()
    n = linked(side.select_slider, "Candidate pairs", key="pol_n", default=2_000,
               options=[200, 500, 2_000, 5_000, 20_000, 100_000])
    stages = S.polar_stages(n, derive_seed(page.seed, "polar"))
    z = np.concatenate([stages.z1, stages.z2])
    se = math.sqrt(math.pi / 4 * (1 - math.pi / 4) / n)
    left, right = _pair(page, side, main, [1.1, 1])
    with left:
        page.show(F.polar_square, stages.v1, stages.v2, stages.accepted, stages.z1, stages.z2, key="pol_square",
                  height=560, main=True)
    with right:
        formula_panel(_lines(r"\text{accept if } S = V_1^2 + V_2^2 < 1", r"Z_i = V_i\sqrt{\frac{-2\ln S}{S}}"),
                      {"accept": stages.acceptance_rate, "π/4": math.pi / 4,
                       "z-score": (stages.acceptance_rate - math.pi / 4) / se, "normals": z.size},
                      title="Marsaglia polar method",
                      try_next="raise the number of candidates: the acceptance rate closes in on π/4 ≈ 0.785 at "
                               "the rate 1/√n.")
        ks = S.ks_test(z) if z.size else None
        if ks is not None:
            st.metric("KS p-value against N(0, 1)", f"{ks.pvalue:.3g}")
    page.show(F.normal_check, S.normal_reference(z), label="polar samples", key="pol_check", height=380)
    page.explain(
        "A uniform point in the disk has S = |V|² uniform on (0, 1) and an angle independent of it, with "
        "cos Θ = V₁/√S and sin Θ = V₂/√S. So Box–Muller can use S in place of U₁ and these ratios in place of "
        "cos and sin: no trigonometry. The price is rejection: a fraction 1 − π/4 ≈ 21% of the candidate pairs "
        "is thrown away.")


# ----------------------------------------------------------------------------------
# 4. Inverse CDF
# ----------------------------------------------------------------------------------

CLOSED_FORMS = ["exponential", "cauchy", "laplace", "logistic"]


@st.cache_resource(show_spinner=False, max_entries=16)
def _numerical_inverse(target_name: str, grid_size: int) -> S.InverseCDF:
    target = get_target(target_name)
    return S.numerical_inverse_cdf(lambda x: target.log_prob(x), target.bounds[0], grid_size, name=target.label)


def inverse_cdf_section(page: PageContext) -> None:
    """X = F^{-1}(U): closed forms, and any 1D registry target by inverting a tabulated CDF."""
    registry = [t.name for t in list_targets(1, with_log_prob=True)]
    labels = {"exponential": "Exponential (closed form)", "cauchy": "Cauchy (closed form)",
              "laplace": "Laplace (closed form)", "logistic": "Logistic (closed form)",
              **{name: f"{get_target(name).label} (numerical)" for name in registry}}
    side, main = page.split()
    controls = _row(page, side, [2, 1, 1, 1])
    choice = linked(controls[0].selectbox, "Distribution", key="inv", default="exponential",
                    options=CLOSED_FORMS + registry, format_func=labels.get)
    n = linked(controls[2].select_slider, "Samples", key="inv_n", default=10_000, options=[100, 1_000, 10_000, 100_000])
    n_demo = linked(controls[3].slider, "Arrows shown", key="inv_k", default=12, min_value=1, max_value=60)
    if choice in CLOSED_FORMS:
        parameter = linked(controls[1].slider, "λ (rate)" if choice == "exponential" else "s (scale)", key="inv_s",
                           default=1.0, min_value=0.2, max_value=3.0, step=0.1)
        dist = S.closed_form_inverse_cdfs(rate=parameter, scale=parameter)[choice]
    else:
        grid_size = linked(controls[1].select_slider, "CDF grid points", key="inv_g", default=2001,
                           options=[11, 21, 51, 201, 2001])
        dist = _numerical_inverse(choice, grid_size)
    samples, u = S.inverse_cdf_sample(n, dist.quantile, derive_seed(page.seed, "inverse-cdf", choice),
                                      return_uniforms=True)
    grid = np.linspace(*dist.bounds, 600)
    inside = (samples >= dist.bounds[0]) & (samples <= dist.bounds[1])
    ks = S.ks_test(samples, dist.cdf)
    left, right = _pair(page, side, main, [1.6, 1])
    with left:
        page.show(F.inverse_cdf_figure, grid, dist.cdf(grid), dist.pdf(grid), u[:n_demo], samples[:n_demo],
                  S.binned_in_window(samples[inside], grid[0], grid[-1]), key="inv_fig", main=True)
    with right:
        formula_panel(dist.formula, {"u₁": u[0], "x₁": samples[0], "KS p": ks.pvalue,
                                     "off-plot": f"{100 * (1 - inside.mean()):.2f}%"},
                      title="Inverse transform: if U ~ U(0, 1) then F⁻¹(U) ~ p",
                      try_next="pick the Cauchy: a few uniforms near 0 or 1 are sent very far (heavy tails). "
                               "For a registry target, shrink the CDF grid to 11 points and watch the histogram "
                               "turn piecewise flat.")
        dimension = linked(st.slider, "Dimension d (for a grid-based joint CDF)", key="inv_d", default=2,
                           min_value=1, max_value=784)
        grid_points = 2001 if choice in CLOSED_FORMS else int(st.session_state.get("inv_g", 2001))
        formula_panel(r"\#\text{cells} = G^{d}\ \ (G \text{ points per axis})",
                      {"G": grid_points, "log₁₀ cells": dimension * math.log10(grid_points)},
                      title="Why it does not scale")
    page.explain(
        "**Why it works.** P(F⁻¹(U) ≤ x) = P(U ≤ F(x)) = F(x). The uniforms on the vertical axis are spread "
        "evenly; where F is steep (high density) many of them land on a short stretch of x.\n\n"
        "**When F has no closed-form inverse** (a mixture, a Student-t), tabulate F on a grid by the trapezoid "
        "rule and interpolate backwards, as done here for the registry's targets.\n\n"
        "**Why not in high dimension?** There is no single CDF to invert in d dimensions: one would sample "
        "x₁ from its marginal, then x₂ given x₁, ... and every conditional CDF needs integrals over the "
        "remaining coordinates. On a grid with G points per axis that is G^d cells: for a 28×28 image "
        "(d = 784) the number has thousands of digits. High-dimensional sampling needs structure "
        "(independence, a chain, a Gaussian) or the methods of the rest of the course.")


# ----------------------------------------------------------------------------------
# 5. Multivariate Gaussian by Cholesky
# ----------------------------------------------------------------------------------

MVN_PRESETS = {
    "isotropic": {"mvn_s1": 1.0, "mvn_s2": 1.0, "mvn_rho": 0.0},
    "diagonal": {"mvn_s1": 1.6, "mvn_s2": 0.6, "mvn_rho": 0.0},
    "full": {"mvn_s1": 1.5, "mvn_s2": 0.8, "mvn_rho": 0.7},
    "degenerate (ρ = 1)": {"mvn_s1": 1.0, "mvn_s2": 1.0, "mvn_rho": 1.0},
}


def _matrix(m: np.ndarray, digits: int = 2) -> str:
    rows = r" \\ ".join(" & ".join(f"{v:.{digits}f}" for v in row) for row in m)
    return r"\begin{pmatrix}" + rows + r"\end{pmatrix}"


def cholesky_section(page: PageContext) -> None:
    """x = mu + L z with L L^T = Sigma, drawn as three linked panels with 1-2-3 sigma curves."""
    side, main = page.split()
    top = _row(page, side, [2.4, 1])
    linked(top[0].radio, "Covariance type", key="mvn", default="full", options=list(MVN_PRESETS),
           on_change=_apply_preset, args=(MVN_PRESETS, "mvn"), horizontal=True)
    n = linked(top[1].select_slider, "Samples", key="mvn_n", default=2_000, options=[100, 500, 2_000, 10_000, 50_000])
    controls = [side] * 5 if page.projection else st.columns(5, gap="medium")
    s1 = linked(controls[0].slider, "σ₁", key="mvn_s1", default=1.5, min_value=0.0, max_value=3.0, step=0.1)
    s2 = linked(controls[1].slider, "σ₂", key="mvn_s2", default=0.8, min_value=0.0, max_value=3.0, step=0.1)
    rho = linked(controls[2].slider, "ρ", key="mvn_rho", default=0.7, min_value=-1.0, max_value=1.0, step=0.05)
    mu1 = linked(controls[3].slider, "μ₁", key="mvn_m1", default=1.0, min_value=-3.0, max_value=3.0, step=0.25)
    mu2 = linked(controls[4].slider, "μ₂", key="mvn_m2", default=0.5, min_value=-3.0, max_value=3.0, step=0.25)
    mean, cov = np.array([mu1, mu2]), S.covariance_2d(s1, s2, rho)
    try:
        stages = S.mvn_cholesky_stages(mean, cov, n, derive_seed(page.seed, "cholesky"))
    except S.NotPositiveDefiniteError as error:
        st.error(f"Σ = {_plain(cov)} cannot be sampled by Cholesky: {error}. "
                 "Move |ρ| below 1 and keep both σ above 0.", icon=":material/block:")
        return
    ellipses = {float(r): ellipse(mean, cov, r, n_points=121) for r in (1, 2, 3)}
    with main:
        page.show(F.cholesky_panels, stages.z, stages.lz, stages.x, mean, ellipses, key="mvn_fig", height=480,
                  main=True)
    sample_cov = np.cov(stages.x.T)
    d2 = S.mahalanobis_squared(stages.x, mean, cov)
    left, right = (side, side) if page.projection else st.columns(2)
    with left:
        formula_panel(_lines(r"\Sigma = " + _matrix(cov) + r" = L L^\top", r"L = " + _matrix(stages.chol),
                             r"\hat\Sigma = " + _matrix(sample_cov)),
                      {"σ̂₁": math.sqrt(sample_cov[0, 0]), "σ̂₂": math.sqrt(sample_cov[1, 1]),
                       "ρ̂": sample_cov[0, 1] / math.sqrt(sample_cov[0, 0] * sample_cov[1, 1]),
                       "max err": float(np.abs(sample_cov - cov).max())},
                      title="x = μ + L z  ⇒  Cov(x) = L I Lᵀ = Σ")
    with right:
        theory = ",\\ ".join(f"{100 * S.mass_inside_sigma_ellipse(k):.1f}\\%" for k in (1, 2, 3))
        formula_panel(_lines(r"d^2 = (x-\mu)^\top\Sigma^{-1}(x-\mu)", r"P(d^2 \le k^2) = 1 - e^{-k^2/2}",
                             r"k = 1, 2, 3:\ " + theory),
                      {f"inside {k}σ": f"{100 * (d2 <= k * k).mean():.1f}%" for k in (1, 2, 3)},
                      title="Mass inside the k-σ ellipses",
                      try_next="set ρ = 1 (the degenerate preset): Σ is singular and has no Cholesky factor. "
                               "Then compare isotropic, diagonal and full.")
    page.explain(
        "Recipe: draw z ~ N(0, I) (for instance by Box–Muller), factor Σ = L Lᵀ (Cholesky: L lower-triangular "
        "with a positive diagonal, unique when Σ is positive definite), return x = μ + L z. Linear maps of "
        "Gaussians are Gaussian, E[x] = μ and Cov(x) = L Cov(z) Lᵀ = Σ. The unit circle of z becomes the "
        "1σ ellipse. Isotropic Σ = σ²I gives circles, diagonal Σ gives axis-aligned ellipses (independent "
        "coordinates), a full Σ tilts them.")


def _plain(matrix: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.2f}" for v in row) + "]" for row in matrix) + "]"


# ----------------------------------------------------------------------------------
# 6. Gaussian mixture by ancestral sampling
# ----------------------------------------------------------------------------------


def _component_controls(k: int, narrow: bool = False) -> tuple[float, list[float], np.ndarray]:
    default_cov = MOG2D.covariances[k] if k < len(MOG2D.weights) else np.eye(2) * 0.3
    default_mean = MOG2D.means[k] if k < len(MOG2D.weights) else np.array([2.0, 2.0])
    default_weight = float(MOG2D.weights[k]) if k < len(MOG2D.weights) else 0.2
    s1d, s2d = math.sqrt(default_cov[0, 0]), math.sqrt(default_cov[1, 1])
    rhod = default_cov[0, 1] / (s1d * s2d)
    cols = [*st.columns(3), *st.columns(3)] if narrow else st.columns(6)  # narrow: two rows of three
    weight = linked(cols[0].number_input, f"π{k + 1}", key=f"mix_w{k}", default=round(default_weight, 2),
                    min_value=0.0, max_value=10.0, step=0.05)
    mx = linked(cols[1].number_input, f"μ{k + 1},x", key=f"mix_x{k}", default=float(default_mean[0]),
                min_value=-5.0, max_value=5.0, step=0.25)
    my = linked(cols[2].number_input, f"μ{k + 1},y", key=f"mix_y{k}", default=float(default_mean[1]),
                min_value=-5.0, max_value=5.0, step=0.25)
    s1 = linked(cols[3].number_input, f"σ{k + 1},x", key=f"mix_a{k}", default=round(s1d, 2), min_value=0.0,
                max_value=3.0, step=0.05)
    s2 = linked(cols[4].number_input, f"σ{k + 1},y", key=f"mix_b{k}", default=round(s2d, 2), min_value=0.0,
                max_value=3.0, step=0.05)
    rho = linked(cols[5].number_input, f"ρ{k + 1}", key=f"mix_r{k}", default=round(rhod, 2), min_value=-1.0,
                 max_value=1.0, step=0.05)
    return weight, [mx, my], S.covariance_2d(s1, s2, rho)


def mixture_section(page: PageContext) -> None:
    """k ~ Cat(pi) by prefix sums, then x ~ N(mu_k, Sigma_k); points coloured by component."""
    side, main = page.split()
    controls = _row(page, side, [1, 2])
    n_components = linked(controls[0].slider, "Components K", key="mix_k", default=3, min_value=1, max_value=5)
    n = linked(controls[1].select_slider, "Samples", key="mix_n", default=2_000,
               options=[50, 200, 2_000, 10_000, 50_000])
    with side.expander("Edit weights, means and covariances", expanded=not page.projection):
        parts = [_component_controls(k, narrow=page.projection) for k in range(n_components)]
    weights, means, covs = (np.array([p[i] for p in parts]) for i in range(3))
    try:
        draw = S.ancestral_sample(weights, means, covs, n, derive_seed(page.seed, "mixture"))
    except ValueError as error:
        st.error(f"This mixture cannot be sampled: {error}.", icon=":material/block:")
        return
    weights = weights / weights.sum()
    ellipses = [ellipse(m, c, 2.0, n_points=121) for m, c in zip(means, covs)]
    left, right = _pair(page, side, main, [1.6, 1])
    with left:
        low, high = draw.x.min(axis=0), draw.x.max(axis=0)
        pad = 0.1 * (high - low) + 0.5
        density = S.mixture_density_grid(weights, means, covs, np.stack([low - pad, high + pad], axis=1))
        page.show(F.ancestral_figure, weights, draw.uniforms, draw.components, draw.x, ellipses, density=density,
                  key="mix_fig", main=True)
    with right:
        counts = np.bincount(draw.components, minlength=n_components)
        prefix = np.cumsum(weights)
        formula_panel(_lines(r"c_k = \textstyle\sum_{j \le k}\pi_j", r"k = \min\{k : u < c_k\}",
                             r"x = \mu_k + L_k z"),
                      {f"c{k + 1}": prefix[k] for k in range(n_components)},
                      title="Ancestral sampling")
        positive = weights > 0
        chi2_p = S.chisquare_pvalue(counts[positive], weights[positive] * n) if positive.sum() > 1 else None
        formula_panel(r"f_k = \tfrac{1}{n}\#\{i : k_i = k\} \to \pi_k:\ " +
                      ",\\ ".join(f"{w:.2f}" for w in weights),
                      {**{f"f{k + 1}": counts[k] / n for k in range(n_components)},
                       **({"χ² p": chi2_p} if chi2_p is not None else {})},
                      title="Component frequencies",
                      try_next="set one weight to 0: its colour vanishes from the bar and the plot. "
                               "Drop to 50 samples: the frequencies wander around the weights.")
    page.explain(
        "A mixture p(x) = Σₖ πₖ N(x | μₖ, Σₖ) is sampled *ancestrally*: first the latent component k ~ Cat(π), "
        "then x from that component. The categorical draw needs one uniform u and the table of prefix sums "
        "c₁ < c₂ < ... < c_K = 1: k is the first index with u < c_k (a binary search for many components). "
        "Each Gaussian draw uses the Cholesky recipe of the previous tab. The ellipses are the 2σ curves.")


# ----------------------------------------------------------------------------------
# 7. Rejection sampling
# ----------------------------------------------------------------------------------

PROPOSALS = {
    "gaussian": "Gaussian N(0, s²)",
    "cauchy": "Cauchy(0, s)",
    "uniform": "Uniform on the plotted interval",
}


def rejection_section(page: PageContext) -> None:
    """Propose from q, accept under p: accepted and rejected points, acceptance rate against 1/M."""
    registry = [t.name for t in list_targets(1, with_log_prob=True)]
    side, main = page.split()
    controls = _row(page, side, [1.6, 1.6, 1, 1, 1])
    name = linked(controls[0].selectbox, "Target p", key="rej", default="three_bumps", options=registry,
                  format_func=lambda t: get_target(t).label)
    kind = linked(controls[1].selectbox, "Proposal q", key="rej_q", default="gaussian", options=list(PROPOSALS),
                  format_func=PROPOSALS.get)
    scale = linked(controls[2].slider, "s (scale of q)", key="rej_s", default=3.0, min_value=0.3, max_value=6.0,
                   step=0.1)
    factor = linked(controls[3].slider, "M / M*", key="rej_m", default=1.0, min_value=0.3, max_value=4.0, step=0.1,
                    help="M* = max p/q is the smallest valid envelope constant; below 1 the envelope is violated.")
    n = linked(controls[4].select_slider, "Proposals", key="rej_n", default=2_000,
               options=[200, 2_000, 20_000, 100_000])
    target = get_target(name)
    bounds = target.bounds[0]
    proposal = S.rejection_proposal(kind, scale, bounds)
    pdf = lambda x: target.prob(np.asarray(x).reshape(-1, 1))  # noqa: E731
    grid = np.linspace(*bounds, 2001)
    best = S.envelope_constant(pdf, proposal.pdf, grid)
    if not np.isfinite(best):
        st.error("q(x) = 0 where p(x) > 0: no constant M can make M q(x) an envelope. Widen the proposal.")
        return
    envelope = factor * best
    ratio = np.where(proposal.pdf(grid) > 0, pdf(grid) / proposal.pdf(grid), 0)
    draw = S.rejection_sample(n, pdf, lambda k, g: proposal.rvs(k, random_state=g), proposal.pdf, envelope,
                              derive_seed(page.seed, "rejection", name))
    if factor < 1:
        st.warning(f"M is below M* = {best:.3g}: M q(x) dips under p(x), the accepted samples are **not** "
                   "distributed as p (too few where p sticks out). Rejection sampling needs M q ≥ p everywhere.")
    if kind != "uniform" and (ratio[-1] > ratio[-2] or ratio[0] > ratio[1]):
        st.warning("p/q still grows at the edge of the plotted interval: p has heavier tails than q, so "
                   "sup p/q is infinite and no finite M works beyond this window (here M* is taken on the window).")
    left, right = _pair(page, side, main, [1.6, 1])
    with left:
        page.show(F.rejection_figure, grid, pdf(grid), envelope * proposal.pdf(grid), draw.x, draw.height,
                  draw.accepted, S.binned_in_window(draw.x[draw.accepted], grid[0], grid[-1], of_all=False),
                  key="rej_fig", main=True)
    with right:
        accepted = draw.samples
        inside = accepted[(accepted >= bounds[0]) & (accepted <= bounds[1])]
        reference = S.numerical_inverse_cdf(lambda x: target.log_prob(x), bounds, 4001)
        ks_p = S.ks_test(inside, reference.cdf).pvalue if inside.size > 1 else float("nan")
        se = math.sqrt(max(1 / envelope * (1 - 1 / envelope), 0) / n) if envelope >= 1 else float("nan")
        formula_panel(_lines(r"x \sim q,\ u \sim U(0,1)", r"\text{accept if } u\,M q(x) \le p(x)",
                             r"P(\text{accept}) = 1/M"),
                      {"M": envelope, "1/M": 1 / envelope, "accept": draw.acceptance_rate,
                       "z-score": (draw.acceptance_rate - 1 / envelope) / se if se == se and se > 0 else "—",
                       "kept": int(draw.accepted.sum()), "KS p": ks_p},
                      title="Rejection sampling",
                      try_next="make the Gaussian proposal narrow (s = 1): M* grows and most proposals are wasted. "
                               "Set M / M* = 0.5 and see the histogram lose the peaks.")
    page.explain(
        "Points (x, u M q(x)) are uniform under the curve M q; keeping those under p leaves points uniform under "
        "p, whose x-coordinates are distributed as p. The area ratio is 1/M, the acceptance rate. A good "
        "proposal hugs p; in d dimensions the best M typically grows exponentially with d, which is why "
        "rejection sampling alone does not scale either.")


# ----------------------------------------------------------------------------------
# 8. MCMC on 2D energy landscapes
# ----------------------------------------------------------------------------------

STEP_SIZES = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]
MCMC_PRESETS = {
    "custom": {},
    "well tuned (MALA on the banana)": {"mc_t": "banana", "mc_m": "mala", "mc_h": 0.1, "mc_c": 10, "mc_s": "one point"},
    "step size too small (RWM)": {"mc_t": "banana", "mc_m": "rwm", "mc_h": 0.02, "mc_c": 10, "mc_s": "one point"},
    "step size too large (RWM)": {"mc_t": "banana", "mc_m": "rwm", "mc_h": 10.0, "mc_c": 10, "mc_s": "one point"},
    "isolated modes (ring of 8)": {"mc_t": "ring8", "mc_m": "rwm", "mc_h": 0.1, "mc_c": 1, "mc_s": "one point"},
    "ULA is biased, MALA is not": {"mc_t": "gaussian2d", "mc_m": "ula", "mc_h": 0.15, "mc_c": 100,
                                   "mc_s": "spread"},
    "HMC on the mixture": {"mc_t": "mog2d", "mc_m": "hmc", "mc_h": 0.2, "mc_c": 10, "mc_s": "spread"},
}
MCMC_FORMULAS = {
    "rwm": _lines(r"y = x + \sigma\,\xi,\quad \xi \sim N(0, I)", r"\alpha = \min\big(1, p(y)/p(x)\big)"),
    "ula": _lines(r"x' = x + \varepsilon\,\nabla\log p(x) + \sqrt{2\varepsilon}\,\xi", r"\text{(always accepted)}"),
    "mala": _lines(r"y = x + \varepsilon\,\nabla\log p(x) + \sqrt{2\varepsilon}\,\xi",
                   r"\alpha = \min\Big(1, \frac{p(y)\,q(x|y)}{p(x)\,q(y|x)}\Big)"),
    "hmc": _lines(r"m \sim N(0, I),\ L \text{ leapfrog steps} \to (y, m')",
                  r"\alpha = \min\big(1, e^{H(x,m) - H(y,m')}\big)", r"H = -\log p + \tfrac12|m|^2"),
}
MAX_MCMC_ITERATIONS = 5_000


@st.cache_data(show_spinner=False, max_entries=16)
def _landscape(target_name: str, resolution: int = 120):
    """Log density on a grid and the exact marginals (``playground.mcmc.energy_landscape``), cached."""
    from playground.mcmc import energy_landscape

    return energy_landscape(target_name, resolution)


def _start_points(target_name: str, how: str, n_chains: int, seed: int) -> np.ndarray:
    (x_low, x_high), (y_low, y_high) = get_target(target_name).bounds
    if how == "spread":  # over-dispersed starts: the usual way to check that chains agree
        generator = np.random.default_rng(derive_seed(seed, "mcmc-start"))
        return generator.uniform([x_low, y_low], [x_high, y_high], size=(n_chains, 2))
    if target_name == "ring8":
        return np.array([2.0, 0.0])  # on one mode of the ring
    return np.array([x_low + 0.15 * (x_high - x_low), y_low + 0.85 * (y_high - y_low)])  # upper-left corner


def _mark_custom() -> None:
    """A control moved by hand: the view no longer matches a named preset."""
    st.session_state["mc_pre"] = "custom"


def mcmc_section(page: PageContext) -> None:
    """Random-walk MH, ULA, MALA and HMC as animated chains on an energy landscape."""
    from playground.mcmc import MCMC_TARGETS, METHODS, MCMCChains, energy_for
    from playground.ui.controls import stepper_panel

    side, main = page.split()
    controls = _row(page, side, [1.6, 1.3, 1.5, 1.4])
    linked(controls[0].selectbox, "Preset", key="mc_pre", default="well tuned (MALA on the banana)",
           options=list(MCMC_PRESETS), on_change=_apply_preset, args=(MCMC_PRESETS, "mc_pre"))
    target_name = linked(controls[1].selectbox, "Target", key="mc_t", default="banana", options=list(MCMC_TARGETS),
                         format_func=lambda t: get_target(t).label, on_change=_mark_custom)
    method = linked(controls[2].selectbox, "Sampler", key="mc_m", default="mala", options=list(METHODS),
                    format_func=METHODS.get, on_change=_mark_custom)
    step = linked(controls[3].select_slider, "Step size σ (RWM) or ε", key="mc_h", default=0.1,
                  options=STEP_SIZES, on_change=_mark_custom)
    controls = _row(page, side, [1.3, 1.3, 1.2, 1.2])
    n_chains = linked(controls[0].select_slider, "Parallel chains", key="mc_c", default=10,
                      options=[1, 10, 100, 200], on_change=_mark_custom)
    start = linked(controls[1].radio, "Start", key="mc_s", default="one point", options=["one point", "spread"],
                   horizontal=True, on_change=_mark_custom)
    leapfrog = linked(controls[2].slider, "HMC leapfrog steps L", key="mc_L", default=10, min_value=1, max_value=40,
                      disabled=method != "hmc")
    show_energy = linked(controls[3].toggle, "Energy contours", key="mc_E", default=True)

    config = (target_name, method, step, n_chains, start, leapfrog, page.seed)

    def factory() -> MCMCChains:
        return MCMCChains(energy_for(target_name), method, step, n_chains=n_chains,
                          seed=derive_seed(page.seed, "mcmc", target_name, method), leapfrog_steps=leapfrog,
                          start=_start_points(target_name, start, n_chains, page.seed))

    axes, log_p, marginals = _landscape(target_name)

    def picture(chains: MCMCChains):
        snapshot = chains.snapshot()
        flat = chains.samples(burn_in=0.5).reshape(-1, 2)
        return page.themed(F.mcmc_figure(axes, log_p, snapshot["path"], snapshot["positions"],
                                         snapshot["recent_proposals"], S.marginal_histograms(flat, axes), marginals,
                                         show_energy, last_start=snapshot["last_start"],
                                         leapfrog=snapshot["leapfrog"]), height=640, main=True)

    def render(chains: MCMCChains) -> None:
        snapshot = chains.snapshot()
        kept = chains.samples(burn_in=0.5)
        flat = kept.reshape(-1, 2)
        left, right = (st.container(), numbers_slot) if page.projection else st.columns([1.6, 1])
        with left:
            page.show(picture(chains), key="mc_fig", main=True)
        with right:
            ess = chains.effective_sample_size(burn_in=0.5) if len(kept) >= 4 else np.array([np.nan, np.nan])
            mean = flat.mean(axis=0) if len(flat) else np.array([np.nan, np.nan])
            formula_panel(MCMC_FORMULAS[method],
                          {"accept": chains.acceptance_rate, "ESS x1": ess[0], "ESS x2": ess[1],
                           "ESS/n": float(ess.min()) / flat.shape[0] if len(kept) >= 4 else "—",
                           "mean x1": mean[0], "mean x2": mean[1], "kept": flat.shape[0]},
                          title=METHODS[method],
                          try_next=_mcmc_hint(method, chains.acceptance_rate, target_name,
                                                st.session_state.get("mc_pre", "custom")))
            if len(snapshot["path"]) > 1:
                page.show(F.trace_figure(snapshot["path"], chains.metric("acceptance_rate")), key="mc_trace",
                          height=300)

    with side:
        numbers_slot = st.container()  # projected, the numbers sit under the controls
    with main:
        stepper_panel("mcmc_chains", factory, config, render, steps_per_tick=5, max_steps_per_tick=50,
                      interval=0.6, max_iterations=MAX_MCMC_ITERATIONS, picture=picture)
    page.explain(
        "An energy-based model gives p(x) = e^{−E(x)}/Z with an unknown Z. MCMC never needs Z: it builds a "
        "Markov chain whose stationary law is p, using only ratios p(y)/p(x) or the score ∇log p = −∇E.\n\n"
        "- **Random-walk MH** proposes blindly; a tiny σ accepts nearly everything but crawls, a huge σ is "
        "nearly always rejected. Both give a small effective sample size (ESS).\n"
        "- **Langevin (ULA)** follows the gradient downhill in energy plus noise; without a correction it samples "
        "a slightly wrong law, visibly too wide for large ε (try the *ULA is biased* preset, then switch to MALA).\n"
        "- **MALA** uses the Langevin move as a proposal and corrects it with the MH test: exact for any ε.\n"
        "- **HMC** rides the energy landscape with momentum for L leapfrog steps: long moves, high acceptance.\n"
        "- **Isolated modes**: a local sampler rarely crosses the empty space between modes; the marginals stay "
        "wrong for a very long time even though every step is exact.\n\n"
        "The marginal histograms use the second half of the recorded steps (first half = burn-in). ESS is the "
        "multi-chain estimate of Vehtari et al. (2021): chains that disagree lower it. Accepted proposals are "
        "circles, rejected ones are crosses.")


def _mcmc_hint(method: str, acceptance: float, target: str = "banana", preset: str = "custom") -> str:
    """What to try next, from the chains' state and the controls (never what is already set)."""
    if acceptance != acceptance:
        return "press Step or Play to run the chains."
    if method == "ula":
        if preset == "ULA is biased, MALA is not":
            return "now switch the sampler to MALA with the same ε: the histograms close in on the black marginals."
        return "ULA accepts everything: raise ε and compare the spread of the histograms with the black marginals."
    if acceptance > 0.95:
        return "almost every proposal is accepted: the steps are too small to explore. Raise the step size."
    if acceptance < 0.1:
        return "almost every proposal is rejected: the chain is stuck. Lower the step size."
    if target == "ring8":
        if method != "hmc":
            return ("the chain stays near the mode it started in: switch to HMC with a long trajectory (L = 40), "
                    "or spread the start points.")
        return ("compare the histograms with the black marginals: a mode no chain has reached is missing from "
                "them, however exact each step is.")
    return "switch to the isolated-modes preset: a correct sampler that cannot leave its mode."
