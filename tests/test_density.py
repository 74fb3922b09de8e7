"""The density estimators against independent references (SciPy, scikit-learn, NumPy, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
import torch
from scipy import stats
from sklearn.neighbors import KernelDensity as SkKernelDensity

from playground.density import (
    KERNELS,
    GaussianMLE,
    Histogram,
    KernelDensity,
    chunk_rows,
    cross_validate_bandwidth,
    curse_of_dimensionality,
    freedman_diaconis_width,
    held_out_log_likelihood,
    kde_log_density,
    kde_log_density_grid,
    log_kernel_norm,
    log_kernel_profile,
    sample_unit_kernel,
    scott_bandwidth,
    silverman_bandwidth,
    sturges_bins,
)



# scikit-learn's trees are not exact in the far tails even with rtol=0, atol=0 (off by
# 1e-4 relative at log density -50 on these data, 3e-10 at 1e-4 of the peak), so it is
# compared where the density is above 1% of its peak; a brute-force SciPy log-sum-exp
# is the reference everywhere.


def _brute_force(points, data, h, kernel):
    from scipy.special import logsumexp

    r2 = ((points[:, None, :] - data[None, :, :]) ** 2).sum(axis=2) / h**2
    with np.errstate(divide="ignore"):
        r = np.sqrt(r2)
        profile = {"gaussian": -0.5 * r2, "tophat": np.where(r2 < 1, 0.0, -np.inf),
                   "epanechnikov": np.log(np.clip(1 - r2, 0, None)), "exponential": -r,
                   "linear": np.log(np.clip(1 - r, 0, None)),
                   "cosine": np.where(r < 1, np.log(np.cos(np.pi * np.clip(r, 0, 1) / 2)), -np.inf)}[kernel]
    return logsumexp(profile, axis=1) - np.log(len(data)) + log_kernel_norm(h, data.shape[1], kernel)


def _assert_matches_references(ours, points, data, h, kernel):
    brute = _brute_force(points, data, h, kernel)
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(brute))
    finite = np.isfinite(brute)
    assert finite.sum() > 100
    np.testing.assert_allclose(np.exp(ours[finite]), np.exp(brute[finite]), rtol=1e-10, atol=0)
    if kernel == "cosine" and data.shape[1] % 2 == 0:
        return  # scikit-learn's cosine norm is wrong in even dimensions (tested separately)
    theirs = SkKernelDensity(bandwidth=h, kernel=kernel, rtol=0, atol=0).fit(data).score_samples(points)
    bulk = np.exp(theirs) > 1e-2 * np.exp(theirs).max()
    assert bulk.sum() > 50
    np.testing.assert_allclose(np.exp(ours[bulk]), np.exp(theirs[bulk]), rtol=1e-10, atol=0)


def _data(n: int, dim: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    centres = np.array([[-2.0] * dim, [1.5] * dim])
    return centres[g.integers(0, 2, n)] + g.normal(size=(n, dim)) * np.linspace(0.5, 1.0, dim)


# --- KDE vs references -------------------------------------------------------------

def test_kde_matches_scipy_gaussian_kde_1d(device):
    x = _data(400, 1)[:, 0]
    reference = stats.gaussian_kde(x)
    kde = KernelDensity(bandwidth="scott", device=device).fit(x)
    assert kde.bandwidth_ == pytest.approx(reference.factor * x.std(ddof=1), rel=1e-12)
    points = np.linspace(-6, 6, 301)
    np.testing.assert_allclose(kde.score_samples(points), reference.logpdf(points), rtol=1e-10, atol=0)
    np.testing.assert_allclose(kde.score_grid([points]), reference.logpdf(points), rtol=1e-10, atol=0)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", [1, 2])
def test_kde_matches_sklearn_exact(kernel, dim, device):
    X = _data(300, dim, seed=dim)
    points = _data(200, dim, seed=10 + dim) * 1.3
    h = 0.45
    ours = KernelDensity(bandwidth=h, kernel=kernel, device=device).fit(X).score_samples(points)
    _assert_matches_references(ours, points, X, h, kernel)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kde_grid_matches_sklearn_2d(kernel, device):
    X = _data(500, 2, seed=3)
    axes = [np.linspace(-5, 4, 41), np.linspace(-4.5, 4.5, 37)]
    h = 0.3
    grid = KernelDensity(bandwidth=h, kernel=kernel, device=device).fit(X).score_grid(axes)
    assert grid.shape == (37, 41)
    mesh = np.meshgrid(*axes)
    points = np.stack([m.ravel() for m in mesh], axis=1)
    _assert_matches_references(grid.ravel(), points, X, h, kernel)


@pytest.mark.parametrize("bandwidth", [0.004, 0.05, 0.3, 2.0])
def test_fast_gaussian_grid_paths_equal_direct_sum(bandwidth, device):
    """The separable (2D) and binned-Taylor (1D) paths are exact, tails and outliers included."""
    x = np.concatenate([_data(1500, 1, seed=4)[:, 0], [40.0, -75.0]])  # two far outliers
    axis = np.linspace(-9, 9, 500)
    fast = kde_log_density_grid([axis], x, bandwidth, device=device)
    direct = kde_log_density(axis, x, bandwidth, device=device)
    np.testing.assert_allclose(fast, direct, rtol=1e-9, atol=1e-9)
    X = _data(800, 2, seed=5)
    axes = [np.linspace(-8, 6, 60), np.linspace(-7, 7, 50)]
    fast = kde_log_density_grid(axes, X, bandwidth, device=device).ravel()
    mesh = np.meshgrid(*axes)
    direct = kde_log_density(np.stack([m.ravel() for m in mesh], axis=1), X, bandwidth, device=device)
    np.testing.assert_allclose(fast, direct, rtol=1e-9, atol=1e-9)


def test_chunking_bounds_memory_and_keeps_results(device):
    X = _data(1000, 2, seed=6)
    points = _data(300, 2, seed=7)
    whole = kde_log_density(points, X, 0.3, device=device, chunk_bytes=2**30)
    tiny = kde_log_density(points, X, 0.3, device=device, chunk_bytes=8 * 1000 * 7)  # 7 rows per chunk
    np.testing.assert_allclose(tiny, whole, rtol=1e-13)
    # the worst case: a 200x200 grid against 50,000 points
    rows = chunk_rows(50_000, torch.float64)
    assert rows * 50_000 * 8 <= 32 * 2**20 and rows < 200 * 200


def test_float32_is_close_and_finite_far_away(device):
    X = _data(1000, 2, seed=8)
    points = np.concatenate([_data(200, 2, seed=9), [[30.0, 30.0]]])
    exact = kde_log_density(points, X, 0.2, device=device)
    single = kde_log_density(points, X, 0.2, device=device, dtype=torch.float32)
    np.testing.assert_allclose(single[:-1], exact[:-1], atol=2e-3)
    assert np.isfinite(single[-1]) and single[-1] == pytest.approx(exact[-1], rel=1e-4)


def test_kernel_norms_match_sklearn():
    """scikit-learn's normalisations, except its cosine kernel in even dimensions, which is wrong
    there (its 2D cosine KDE integrates to 0.36, its 4D norm is NaN: see the quadrature test)."""
    from sklearn.neighbors._ball_tree import kernel_norm  # the reference normalisation

    for kernel in KERNELS:
        for dim in (1, 2, 3, 7):
            if kernel == "cosine" and dim % 2 == 0:
                continue
            assert log_kernel_norm(0.7, dim, kernel) == pytest.approx(
                math.log(kernel_norm(0.7, dim, kernel)), rel=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_every_kernel_integrates_to_one_by_radial_quadrature(kernel, dim):
    """norm * area of the unit sphere * int_0^inf k(r / h) r^(d-1) dr = 1, the profile from log_kernel_profile."""
    from scipy import integrate

    h = 0.7
    def radial(r):
        return math.exp(float(log_kernel_profile(torch.tensor([r * r], dtype=torch.float64), h, kernel)[0])) * r ** (dim - 1)
    upper = 60 * h if kernel in ("gaussian", "exponential") else h
    integral = integrate.quad(radial, 0, upper, epsabs=0, epsrel=1e-12, limit=200)[0]
    sphere = 2 * math.pi ** (dim / 2) / math.gamma(dim / 2)
    assert math.exp(log_kernel_norm(h, dim, kernel)) * sphere * integral == pytest.approx(1.0, rel=1e-9)


def test_sklearn_cosine_kde_differs_from_ours_only_by_its_2d_constant():
    X = _data(300, 2, seed=2)
    points = _data(200, 2, seed=12)
    ours = KernelDensity(bandwidth=0.45, kernel="cosine").fit(X).score_samples(points)
    theirs = SkKernelDensity(bandwidth=0.45, kernel="cosine", rtol=0, atol=0).fit(X).score_samples(points)
    both = np.isfinite(ours) & (np.exp(theirs) > 1e-2 * np.exp(theirs).max())
    assert both.sum() > 50
    gap = ours[both] - theirs[both]
    np.testing.assert_allclose(gap, gap[0], atol=1e-9)
    assert gap[0] == pytest.approx(math.log(1 / 0.3634), abs=1e-3)  # scikit-learn's 2D cosine KDE integrates to 0.363


# --- bandwidth and bin rules -------------------------------------------------------

def test_bandwidth_rules_equal_their_formulas():
    x = _data(800, 1)[:, 0]
    scipy_kde = stats.gaussian_kde(x)
    assert scott_bandwidth(x) == pytest.approx(x.std(ddof=1) * 800 ** (-1 / 5), rel=1e-12)
    assert scott_bandwidth(x) == pytest.approx(scipy_kde.scotts_factor() * x.std(ddof=1), rel=1e-12)
    assert silverman_bandwidth(x) == pytest.approx(scipy_kde.silverman_factor() * x.std(ddof=1), rel=1e-12)
    assert silverman_bandwidth(x) == pytest.approx((4 / 3) ** 0.2 * x.std(ddof=1) * 800 ** (-0.2), rel=1e-12)
    X = _data(500, 2)
    sigma = math.sqrt(np.var(X, axis=0, ddof=1).mean())
    assert scott_bandwidth(X) == pytest.approx(sigma * 500 ** (-1 / 6), rel=1e-12)
    assert KernelDensity(bandwidth="silverman").fit(X).bandwidth_ == pytest.approx(sigma * 500 ** (-1 / 6), rel=1e-12)


@pytest.mark.parametrize("n", [10, 100, 1000, 5000])
def test_histogram_rules_match_numpy(n):
    x = np.random.default_rng(n).standard_normal(n)
    assert sturges_bins(n) + 1 == len(np.histogram_bin_edges(x, bins="sturges"))
    np.testing.assert_allclose(Histogram("sturges").fit(x).edges_[0], np.histogram_bin_edges(x, bins="sturges"))
    np.testing.assert_allclose(Histogram("fd").fit(x).edges_[0], np.histogram_bin_edges(x, bins="fd"))
    q75, q25 = np.percentile(x, [75, 25])
    assert freedman_diaconis_width(x) == pytest.approx(2 * (q75 - q25) / n ** (1 / 3))


def test_histogram_density_values_and_bin_width():
    x = np.array([0.1, 0.2, 0.3, 1.5, 2.9, 3.0])
    hist = Histogram(bins=3).fit(x)  # edges 0.1, 1.067, 2.033, 3.0
    width = (3.0 - 0.1) / 3
    np.testing.assert_allclose(np.exp(hist.score_samples([0.15, 1.5, 3.0])), np.array([3, 1, 2]) / (6 * width))
    assert np.isneginf(hist.score_samples([-1.0, 3.5])).all()
    fixed = Histogram(bin_width=0.5).fit(x)
    np.testing.assert_allclose(np.diff(fixed.edges_[0]), 0.5)
    assert fixed.edges_[0][0] == 0.1 and fixed.edges_[0][-1] >= 3.0
    assert fixed.n_parameters == len(fixed.edges_[0]) - 2


# --- every density integrates to one ------------------------------------------------

def _estimators(kernel_list=KERNELS):
    yield Histogram("fd")
    yield GaussianMLE()
    for kernel in kernel_list:
        yield KernelDensity(bandwidth=0.4, kernel=kernel)


@pytest.mark.parametrize("estimator", list(_estimators()), ids=lambda e: type(e).__name__ + getattr(e, "kernel", ""))
def test_every_density_integrates_to_one(estimator, device):
    if isinstance(estimator, KernelDensity):
        estimator.device = device
    def on_grid(axes):
        if isinstance(estimator, KernelDensity):
            return np.exp(estimator.score_grid(axes))
        mesh = np.meshgrid(*axes)
        return np.exp(estimator.score_samples(np.stack([m.ravel() for m in mesh], axis=1))).reshape(mesh[0].shape)

    estimator.fit(_data(300, 1, seed=11))
    axis = np.linspace(-9, 8, 20001)
    assert np.trapezoid(on_grid([axis]).ravel(), axis) == pytest.approx(1.0, abs=2e-3)
    estimator.fit(_data(200, 2, seed=12))
    axes = [np.linspace(-8, 7, 201), np.linspace(-8, 7, 201)]
    grid = on_grid(axes)
    assert np.trapezoid(np.trapezoid(grid, axes[0], axis=1), axes[1]) == pytest.approx(1.0, abs=1e-2)


# --- Gaussian MLE ----------------------------------------------------------------------

def test_gaussian_mle_is_the_closed_form():
    X = _data(700, 2, seed=13)
    model = GaussianMLE(reg_covar=0.0).fit(X)
    np.testing.assert_allclose(model.mean_, X.mean(axis=0))
    np.testing.assert_allclose(model.covariance_, np.cov(X.T, bias=True))
    reference = stats.multivariate_normal(X.mean(axis=0), np.cov(X.T, bias=True))
    np.testing.assert_allclose(model.score_samples(X[:50]), reference.logpdf(X[:50]), rtol=1e-12)
    assert model.n_parameters == 5
    samples = model.sample(20000, seed=1)
    np.testing.assert_allclose(samples.mean(axis=0), model.mean_, atol=0.05)
    np.testing.assert_allclose(np.cov(samples.T), model.covariance_, rtol=0.05)


def test_gaussian_mle_survives_a_degenerate_sample():
    line = np.stack([np.arange(10.0), 2 * np.arange(10.0)], axis=1)  # rank-1 covariance
    model = GaussianMLE().fit(line)
    assert np.isfinite(model.score_samples(line)).all()


# --- held-out likelihood and cross-validation ----------------------------------------

def test_held_out_log_likelihood_peaks_at_an_interior_bandwidth():
    X = _data(600, 1, seed=14)
    train, test = X[:400], X[400:]
    bandwidths = np.geomspace(0.01, 5.0, 25)
    curve = held_out_log_likelihood(train, test, bandwidths)
    best = int(np.argmax(curve))
    assert 0 < best < len(bandwidths) - 1
    assert curve[0] < curve[best] - 1.0 and curve[-1] < curve[best] - 0.3  # both ends visibly worse
    # the training log-likelihood only grows as h shrinks: why we need held-out data
    train_curve = held_out_log_likelihood(train, train, bandwidths)
    assert np.all(np.diff(train_curve) < 0)


def test_cross_validated_bandwidth_maximises_its_scores():
    X = _data(500, 2, seed=15)
    bandwidths = np.geomspace(0.05, 3.0, 15)
    best, scores = cross_validate_bandwidth(X, bandwidths, n_folds=5, seed=0)
    assert best == bandwidths[int(np.argmax(scores))]
    assert 0.1 < best < 1.0
    fold_scores = []
    folds = np.array_split(np.random.default_rng(0).permutation(500), 5)
    for fold in folds:
        mask = np.ones(500, bool)
        mask[fold] = False
        fold_scores.append(SkKernelDensity(bandwidth=best).fit(X[mask]).score_samples(X[fold]).sum())
    assert scores[int(np.argmax(scores))] == pytest.approx(sum(fold_scores) / 500, rel=1e-9)


# --- sampling ------------------------------------------------------------------------

def _kde_cdf(points, data, h, kernel):
    u = (points[:, None] - data[None, :]) / h
    if kernel == "gaussian":
        per_point = stats.norm.cdf(u)
    elif kernel == "tophat":
        per_point = np.clip((u + 1) / 2, 0, 1)
    elif kernel == "exponential":  # e^(-|u|) / 2: SciPy's Laplace
        per_point = stats.laplace.cdf(u)
    elif kernel == "linear":  # 1 - |u| on [-1, 1]: SciPy's symmetric triangular
        per_point = stats.triang(c=0.5, loc=-1, scale=2).cdf(u)
    elif kernel == "cosine":  # (pi / 4) cos(pi u / 2) on [-1, 1]
        per_point = (1 + np.sin(np.pi * np.clip(u, -1, 1) / 2)) / 2
    else:
        v = np.clip(u, -1, 1)
        per_point = 0.5 + 0.75 * (v - v**3 / 3)
    return per_point.mean(axis=1)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kde_samples_follow_the_kde(kernel):
    data = _data(50, 1, seed=16)[:, 0]
    kde = KernelDensity(bandwidth=0.5, kernel=kernel).fit(data)
    samples = kde.sample(4000, seed=3)[:, 0]
    result = stats.kstest(samples, lambda p: _kde_cdf(np.atleast_1d(p), data, 0.5, kernel))
    assert result.pvalue > 0.01
    np.testing.assert_array_equal(kde.sample(10, seed=5), kde.sample(10, seed=5))


def _radial_second_moment(profile):
    from scipy import integrate

    upper = np.inf if profile(2.0) > 0 else 1.0
    return integrate.quad(lambda r: profile(r) * r**3, 0, upper)[0] / integrate.quad(lambda r: profile(r) * r, 0, upper)[0]


@pytest.mark.parametrize("kernel,profile", [
    ("gaussian", lambda r: np.exp(-r * r / 2)), ("tophat", lambda r: float(r < 1)),
    ("epanechnikov", lambda r: max(1 - r * r, 0.0)), ("exponential", lambda r: np.exp(-r)),
    ("linear", lambda r: max(1 - r, 0.0)), ("cosine", lambda r: np.cos(np.pi * r / 2) if r < 1 else 0.0)])
def test_unit_kernel_samples_have_the_kernel_variance_in_2d(kernel, profile):
    """Per-axis variance E|u|^2 / 2, the radial moment computed by quadrature of the profile in 2D."""
    variance = _radial_second_moment(profile) / 2
    u = sample_unit_kernel(kernel, 40000, 2, np.random.default_rng(0))
    assert u.shape == (40000, 2)
    np.testing.assert_allclose(np.cov(u.T), variance * np.eye(2), atol=0.02 * max(variance, 0.25))
    if kernel not in ("gaussian", "exponential"):
        assert (np.linalg.norm(u, axis=1) <= 1).all()


def test_histogram_samples_land_in_cells_with_their_frequencies():
    x = _data(1000, 1, seed=17)
    hist = Histogram(bins=12).fit(x)
    samples = hist.sample(20000, seed=2)
    counts, _ = np.histogram(samples[:, 0], bins=hist.edges_[0])
    expected = hist.counts_ / hist.counts_.sum() * 20000
    used = expected > 0
    assert counts[~used].sum() == 0
    assert stats.chisquare(counts[used], expected[used]).pvalue > 0.01


# --- curse of dimensionality -----------------------------------------------------------

def test_curse_of_dimensionality_counts_empty_cells_and_tracks_truth():
    result = curse_of_dimensionality([1, 2, 3, 6], n_samples=400, bins_per_axis=8, seed=0, n_test=300)
    np.testing.assert_allclose(result["cells"], 8.0 ** np.array([1, 2, 3, 6]))
    assert np.all(np.diff(result["empty_fraction"]) > 0) and result["empty_fraction"][-1] > 0.99
    # the same count by brute force in 2D (same seed stream: first draw is d=1 train+test)
    g = np.random.default_rng(0)
    g.standard_normal((400, 1)), g.standard_normal((300, 1))
    train2 = g.standard_normal((400, 2))
    counts, _ = np.histogramdd(train2, bins=[np.linspace(-3, 3, 9)] * 2)
    assert result["empty_fraction"][1] == pytest.approx(np.mean(counts == 0))
    for dim, truth in zip([1, 2, 3, 6], result["truth"]):
        assert truth == pytest.approx(-stats.multivariate_normal(np.zeros(dim), np.eye(dim)).entropy())
    gap = result["truth"] - result["kde_best"]
    assert gap[-1] > gap[0] + 0.2  # the KDE falls further behind the truth as d grows
    # the paired KL estimate on the same test points: against SciPy's log density, with its standard error
    g = np.random.default_rng(0)
    train1, test1 = g.standard_normal((400, 1)), g.standard_normal((300, 1))
    best = result["best_bandwidth"][0]
    differences = stats.norm.logpdf(test1[:, 0]) - stats.gaussian_kde(train1[:, 0], bw_method=best / train1.std(ddof=1)) \
        .logpdf(test1[:, 0])
    assert result["kl_best"][0] == pytest.approx(differences.mean(), rel=1e-8)
    assert result["kl_best_se"][0] == pytest.approx(differences.std(ddof=1) / np.sqrt(300), rel=1e-8)
    assert np.all(result["kl_best"] > -2 * result["kl_best_se"])  # any negative value is within noise


# --- bad input ---------------------------------------------------------------------------

def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="NaN"):
        KernelDensity().fit([[0.0], [np.nan]])
    with pytest.raises(ValueError, match="kernel"):
        KernelDensity(kernel="banana").fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match="positive"):
        KernelDensity(bandwidth=0.0).fit([[0.0], [1.0]])
    with pytest.raises(NotFittedError):
        KernelDensity().score_samples([[0.0]])
    with pytest.raises(ValueError, match="too many"):
        Histogram(bins=3000).fit(np.random.default_rng(0).normal(size=(10, 2)))


def test_2d_histogram_density_uses_each_axis_width():
    """Cells of 0.25 x 3.0 (unequal widths): the density is count / (N * area), NumPy's histogramdd(density=True)."""
    g = np.random.default_rng(21)
    X = np.column_stack([g.uniform(0, 2, 500), g.uniform(-12, 12, 500)])
    hist = Histogram(bins=8).fit(X)
    widths = [np.diff(e)[0] for e in hist.edges_]
    assert widths[1] / widths[0] > 5
    reference, _ = np.histogramdd(X, bins=hist.edges_, density=True)
    np.testing.assert_allclose(hist.density_, reference, rtol=1e-12)
    centres = np.stack(np.meshgrid(*[0.5 * (e[1:] + e[:-1]) for e in hist.edges_], indexing="ij"), -1).reshape(-1, 2)
    mass = np.exp(hist.score_samples(centres)) * widths[0] * widths[1]
    assert mass.sum() == pytest.approx(1.0, rel=1e-12)
