"""The KDE vs GMM page's compute (moved out of playground/ui/kde.py), against scikit-learn,
SciPy and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp
from sklearn.neighbors import KernelDensity as SklearnKDE

from playground import kde_vs_gmm as K
from playground.density import GaussianMLE, scott_bandwidth
from playground.seeding import derive_seed, rng
from playground.targets import get_target


def _data(n: int, dim: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)) * np.array([1.0, 0.5][:dim]) + 0.3


def test_split_is_a_seeded_partition():
    data = np.arange(100.0)[:, None]
    train, test = K.split(data, 0.3, seed=4)
    assert len(test) == 30 and len(train) == 70
    assert sorted(np.r_[train[:, 0], test[:, 0]]) == list(range(100))
    again = K.split(data, 0.3, seed=4)
    assert np.array_equal(again[0], train) and not np.array_equal(K.split(data, 0.3, seed=5)[0], train)
    assert [len(part) for part in K.split(np.zeros((3, 1)), 0.9, 0)] == [2, 1]  # at least 2 train, 1 test


def test_subsample_keeps_distinct_rows_up_to_the_limit():
    X = np.arange(50.0)[:, None]
    assert K.subsample(X, 100, 0, "a") is X
    picked = K.subsample(X, 20, 0, "a")
    assert len(picked) == 20 and len(np.unique(picked)) == 20
    assert not np.array_equal(picked, K.subsample(X, 20, 0, "b"))


def test_gmm_cap():
    assert K.gmm_fit_points(3) == K.GMM_FIT_WORK // 3
    assert K.gmm_fit_points(150) == K.GMM_MIN_FIT_POINTS
    assert K.gmm_fit_points(0) == K.GMM_FIT_WORK


@pytest.mark.parametrize("dim", [1, 2])
def test_rescaled_bandwidth_follows_scotts_rule(dim):
    """Scott's h = sigma n^(-1/(d+4)): on data with the same spread, carrying h from m to N points is exact."""
    small, large = 400, 6400
    X = _data(large, dim)
    h_small = scott_bandwidth(X[:small]) * (np.std(X, axis=0, ddof=1).mean() / np.std(X[:small], axis=0, ddof=1).mean())
    assert K.rescale_bandwidth(h_small, small, large, dim) == pytest.approx(scott_bandwidth(X), rel=1e-2)
    assert K.rescale_bandwidth(0.7, 10, 10, dim) == 0.7


def _gaussian_kde_log_density(points: np.ndarray, data: np.ndarray, h: float) -> np.ndarray:
    """log (1/N) sum_i N(x | x_i, h^2 I) by a direct log-sum-exp (exact at any h; scikit-learn's tree
    estimate is off by thousands of nats at h = 0.005 on this data)."""
    squared = ((points[:, None, :] - data[None, :, :]) ** 2).sum(-1)
    dim = data.shape[1]
    return logsumexp(-squared / (2 * h * h), axis=1) - math.log(len(data)) - 0.5 * dim * math.log(2 * math.pi * h * h)


def _reference_cv_scores(X: np.ndarray, seed: int) -> np.ndarray:
    folds = np.array_split(rng(derive_seed(seed, "folds")).permutation(len(X)), 5)
    scores = np.zeros(len(K.BANDWIDTHS))
    for fold in folds:
        mask = np.ones(len(X), dtype=bool)
        mask[fold] = False
        for i, h in enumerate(K.BANDWIDTHS):
            scores[i] += _gaussian_kde_log_density(X[fold], X[mask], h).sum()
    return scores / len(X)


def test_cv_bandwidth_maximises_the_held_out_likelihood():
    X = _data(300)
    scores = _reference_cv_scores(X, seed=7)
    assert K.cv_bandwidth(X, "gaussian", 7) == K.BANDWIDTHS[int(np.argmax(scores))]


def test_cv_bandwidth_on_many_points_is_chosen_on_a_subset_and_rescaled():
    X = _data(K.CV_POINTS * 2)
    used = K.subsample(X, K.CV_POINTS, 3, "cv")
    best = K.BANDWIDTHS[int(np.argmax(_reference_cv_scores(used, seed=3)))]
    assert K.cv_bandwidth(X, "gaussian", 3) == pytest.approx(best * 0.5 ** (1 / 5))


def test_bandwidth_curve_matches_a_direct_log_sum_exp():
    train, test = _data(200, 2, seed=1), _data(80, 2, seed=2)
    curve = K.bandwidth_curve(train, test, "gaussian", 0)
    assert not curve["capped"] and np.array_equal(curve["h"], K.CURVE_BANDWIDTHS)
    for i, h in enumerate(K.CURVE_BANDWIDTHS):
        if h < 0.003:  # far from every test point the reference's plain exp underflows; compared above h = 0.003
            continue
        assert curve["test"][i] == pytest.approx(_gaussian_kde_log_density(test, train, h).mean(), rel=1e-9)
        assert curve["train"][i] == pytest.approx(_gaussian_kde_log_density(train, train, h).mean(), rel=1e-9)


def test_k_curve_one_component_is_the_gaussian_mle_with_its_bic():
    train, test = _data(300, 2, seed=3), _data(100, 2, seed=4)
    curve = K.k_curve(train, test, "full", 0)
    assert curve["K"][0] == 1 and not curve["capped"]
    mean, cov = train.mean(0), np.cov(train.T, bias=True)
    train_ll = stats.multivariate_normal(mean, cov).logpdf(train).mean()
    assert curve["train"][0] == pytest.approx(train_ll, rel=1e-5)
    assert curve["test"][0] == pytest.approx(stats.multivariate_normal(mean, cov).logpdf(test).mean(), rel=1e-5)
    assert curve["bic"][0] == pytest.approx(-2 * 300 * train_ll + 5 * math.log(300), rel=1e-5)  # P = 2 + 3
    assert np.all(np.diff(curve["K"]) > 0) and curve["K"].max() < 300


def test_fit_all_and_the_grid_numbers():
    target = get_target("gaussian2d")
    train = target.sample(400, seed=0)
    fitted = K.fit_all(train, bins=10, bandwidth=0.4, kernel="gaussian", n_components=2, covariance_type="full",
                       seed=0)
    assert list(fitted) == ["Histogram", "Gaussian (MLE)", "KDE", "GMM"]
    assert all(f.model is not None for f in fitted.values())
    too_many = K.fit_all(train[:5], bins=3, bandwidth=0.4, kernel="gaussian", n_components=6, covariance_type="full",
                         seed=0)
    assert too_many["GMM"].model is None and "at least K training points" in too_many["GMM"].error

    calls = []
    K.fit_all(train, bins=10, bandwidth=0.4, kernel="gaussian", n_components=2, covariance_type="full", seed=0,
              gmm_fitter=lambda *args: calls.append(args) or K.Fitted("GMM", None, "x"))
    assert len(calls) == 1 and calls[0][1:] == (2, "full", 0)

    axes = [np.linspace(-3.5, 3.5, 71), np.linspace(-3.5, 3.5, 61)]
    panels = K.log_density_panels_2d(fitted, ["Gaussian (MLE)", "KDE"], target, axes)
    assert list(panels) == ["Truth", "Gaussian (MLE)", "KDE"] and panels["KDE"].shape == (61, 71)
    mesh = np.stack(np.meshgrid(*axes), axis=-1)
    np.testing.assert_allclose(panels["Truth"], stats.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]]).logpdf(mesh),
                               atol=1e-9)
    mle = fitted["Gaussian (MLE)"].model
    np.testing.assert_allclose(panels["Gaussian (MLE)"],
                               stats.multivariate_normal(mle.mean_, mle.covariance_).logpdf(mesh), atol=1e-9)
    kde_reference = _gaussian_kde_log_density(mesh.reshape(-1, 2), train, 0.4).reshape(61, 71)
    np.testing.assert_allclose(panels["KDE"], kde_reference, atol=1e-8)
    marginals = K.panel_marginals({**panels, "GMM": None}, axes)
    assert "GMM" not in marginals
    px, py = marginals["Gaussian (MLE)"]
    np.testing.assert_allclose(px, stats.norm.pdf(axes[0], mle.mean_[0], math.sqrt(mle.covariance_[0, 0])), atol=2e-3)
    np.testing.assert_allclose(py, stats.norm.pdf(axes[1], mle.mean_[1], math.sqrt(mle.covariance_[1, 1])), atol=2e-3)


def test_density_curves_1d_and_the_likelihood_table():
    target = get_target("three_bumps")
    train = target.sample(300, seed=1)
    test = target.sample(100, seed=2)
    fitted = K.fit_all(train, bins=12, bandwidth=0.3, kernel="gaussian", n_components=3, covariance_type="full",
                       seed=0)
    axis = np.linspace(*target.bounds[0], 400)
    curves = K.density_curves_1d(fitted, ["Histogram", "KDE", "Gaussian (MLE)"], target, axis)
    assert list(curves) == ["KDE", "Gaussian (MLE)", "Truth"]  # the histogram is drawn as bars
    np.testing.assert_allclose(curves["KDE"], np.exp(SklearnKDE(bandwidth=0.3).fit(train).score_samples(axis[:, None])),
                               rtol=1e-8)
    np.testing.assert_allclose(curves["Truth"], np.exp(target.log_prob(axis[:, None])))
    mle = GaussianMLE().fit(train)
    np.testing.assert_allclose(curves["Gaussian (MLE)"], stats.norm.pdf(axis, mle.mean_[0], math.sqrt(mle.covariance_[0, 0])),
                               rtol=1e-9)
    table = K.likelihood_table(fitted, train, test, target, seed=0).set_index("estimator")
    assert list(table.index) == ["Histogram", "Gaussian (MLE)", "KDE", "GMM", "Truth"]
    train_eval, test_eval = K.subsample(train, K.EVAL_POINTS, 0, "table-train"), K.subsample(test, K.EVAL_POINTS, 0,
                                                                                           "table-test")
    assert table.loc["Truth", "test LL"] == pytest.approx(float(np.mean(target.log_prob(test_eval))))
    assert table.loc["Gaussian (MLE)", "train LL"] == pytest.approx(
        float(np.mean(stats.norm.logpdf(train_eval[:, 0], mle.mean_[0], math.sqrt(mle.covariance_[0, 0])))), rel=1e-9)
    assert table.loc["Gaussian (MLE)", "parameters"] == 2
    gmm = fitted["GMM"].model
    assert table.loc["GMM", "BIC"] == pytest.approx(-2 * gmm.score_samples(train).sum() + gmm.n_parameters * math.log(300),
                                                    rel=1e-9)


def test_density_histograms_integrate_to_one_per_set():
    bins = np.linspace(-3, 3, 61)
    values = {"Data": _data(500)[:, 0], "KDE": _data(300, seed=5)[:, 0]}
    heights = K.density_histograms(values, bins)
    assert list(heights) == ["Data", "KDE"]
    for name, column in values.items():
        inside = column[(column >= -3) & (column <= 3)]
        counts = np.array([np.sum((inside >= lo) & (inside < hi)) for lo, hi in zip(bins[:-2], bins[1:-1])] +
                          [np.sum((inside >= bins[-2]) & (inside <= bins[-1]))])  # the last bin is closed
        np.testing.assert_allclose(heights[name], counts / (len(inside) * np.diff(bins)))


def test_training_log_likelihood_grows_without_bound_as_h_shrinks_and_the_curve_shows_it():
    """The page's hint: at the curve's left end (h = 1e-4, N = 1,000) the training log-likelihood is
    above +1 (each point's own spike: -log(N h sqrt(2 pi)) = +1.39) while the held-out one collapses."""
    from playground.figures.density import likelihood_curve
    from playground.targets import get_target

    target = get_target("three_bumps")
    train, test = target.sample(1000, seed=0), target.sample(1000, seed=1)
    curve = K.bandwidth_curve(train, test, "gaussian", 0)
    assert curve["h"][0] == pytest.approx(1e-4)
    own_spike = -np.log(1000 * 1e-4 * np.sqrt(2 * np.pi))
    assert curve["train"][0] == pytest.approx(own_spike, abs=0.1) and curve["train"][0] > 1.0
    assert np.all(np.diff(curve["train"]) < 0) and curve["test"][0] < -1000
    fig = likelihood_curve(curve["h"], curve["test"], curve["train"], current=0.3, xlabel="h (bandwidth)")
    assert fig.layout.yaxis.range[0] > -20 and "below the axis" in fig.layout.annotations[-1].text


def test_the_bumps_add_up_to_each_curve():
    """The KDE's N kernels (each 1/N) and the GMM's K weighted components sum to the estimates drawn."""
    from playground.density import KernelDensity, kde_bumps_1d
    from playground.mixture import GaussianMixture, mixture_components_1d

    x = np.random.default_rng(3).normal(size=(120, 1))
    axis = np.linspace(-4, 4, 301)
    for kernel in ("gaussian", "epanechnikov", "cosine"):
        kde = KernelDensity(bandwidth=0.4, kernel=kernel).fit(x)
        bumps = kde_bumps_1d(kde, axis)
        assert bumps.shape == (120, 301)
        np.testing.assert_allclose(bumps.sum(axis=0), np.exp(kde.score_samples(axis)), rtol=1e-9, atol=1e-300)
        inside = np.abs(x[:, 0]) < 3  # bumps wholly on the axis
        np.testing.assert_allclose(np.trapezoid(bumps[inside], axis, axis=1), 1 / 120, rtol=2e-3)  # area 1/N each
    gmm = GaussianMixture(3, random_state=0, device="cpu").fit(x)
    components = mixture_components_1d(gmm, axis)
    np.testing.assert_allclose(components.sum(axis=0), np.exp(gmm.score_samples(axis)), rtol=1e-9)
    fitted = K.fit_all(x, bins="sturges", bandwidth=0.4, kernel="gaussian", n_components=3, covariance_type="full",
                       seed=0)
    assert set(K.bumps_1d(fitted, ["Histogram", "Gaussian (MLE)", "KDE", "GMM"], axis)) == {"KDE", "GMM"}
    big = K.fit_all(np.random.default_rng(0).normal(size=(K.MAX_BUMPS + 1, 1)), bins="sturges", bandwidth=0.4,
                    kernel="gaussian", n_components=3, covariance_type="full", seed=0)
    assert set(K.bumps_1d(big, ["Histogram", "Gaussian (MLE)", "KDE", "GMM"], axis)) == {"GMM"}  # too many kernels to read
