"""The four density estimators are scikit-learn estimators: scikit-learn's own checks, its
model-selection tools, and one regression test per defect found by using them as scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KernelDensity as SkKernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from playground.density import GaussianMLE, Histogram, KernelDensity, pooled_std
from playground.mixture import GaussianMixture

# Every check scikit-learn expects to fail for our estimators, with the reason. Nothing else may fail.
EXPECTED_FAILED_CHECKS = {
    "check_fit1d": "a 1D array is one feature (NumPy's and SciPy's convention for samples of a 1D density, "
                   "used by the pages); it is refused, with scikit-learn's message, by an estimator fitted on "
                   "several features",
}
HISTOGRAM_ONLY = {
    "check_dtype_object": "the check fits 10 features: 7 Sturges bins per axis make 7^10 = 282 million cells, "
                          "refused with a message (limit 4 million cells)",
}


def expected_failed_checks(estimator):
    return {**EXPECTED_FAILED_CHECKS, **(HISTOGRAM_ONLY if isinstance(estimator, Histogram) else {})}


ESTIMATORS = [Histogram(), GaussianMLE(), KernelDensity(device="cpu"), GaussianMixture(device="cpu")]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _two_blobs(n=300, seed=0, dim=2):
    g = np.random.default_rng(seed)
    centres = np.array([[-2.0] * dim, [2.0] * dim])
    return centres[g.integers(0, 2, n)] + 0.6 * g.standard_normal((n, dim))


# --- model selection and pipelines -----------------------------------------------------

def test_grid_search_picks_the_same_bandwidth_as_sklearn():
    X = _two_blobs(400, seed=1)
    grid = {"bandwidth": np.geomspace(0.15, 2.0, 12)}  # below, scikit-learn's trees lose the far tails
    folds = KFold(5, shuffle=True, random_state=0)
    ours = GridSearchCV(KernelDensity(device="cpu"), grid, cv=folds).fit(X)
    theirs = GridSearchCV(SkKernelDensity(), grid, cv=folds).fit(X)
    assert ours.best_params_ == theirs.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], rtol=1e-6)


def test_pipeline_and_clone():
    X = _two_blobs(300, seed=2) * [1.0, 50.0] + [0.0, 1000.0]
    pipe = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0, device="cpu")).fit(X)
    assert pipe.score(X) == pytest.approx(
        make_pipeline(StandardScaler(), SkGaussianMixture(2, random_state=0)).fit(X).score(X), abs=1e-3)
    model = GaussianMixture(3, covariance_type="diag", reg_covar=1e-3, device="cpu")
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert KernelDensity(bandwidth=0.3).set_params(kernel="linear").kernel == "linear"


# --- GaussianMixture's *_init arrays are checked as scikit-learn checks them -------------------

START = {"weights_init": np.array([0.5, 0.5]), "means_init": np.array([[-2.0, -2.0], [2.0, 2.0]]),
         "precisions_init": np.array([np.eye(2), np.eye(2)])}


@pytest.mark.parametrize("name,value,message", [
    ("means_init", START["means_init"].T.copy() + [[0.0, 1.0], [0.0, 0.0]], None),  # transposed (2, 2): fine shape
    ("means_init", START["means_init"].ravel(), "shape"),
    ("means_init", np.zeros((3, 2)), "shape"),
    ("weights_init", np.array([0.6, 0.6]), "normalized"),
    ("weights_init", np.array([1.5, -0.5]), "range"),
    ("weights_init", np.array([0.2, 0.3, 0.5]), "shape"),
    ("precisions_init", np.array([[[1.0, 0.0], [0.0, -1.0]], np.eye(2)]), "positive-definite"),
    ("precisions_init", np.array([[[1.0, 0.5], [0.0, 1.0]], np.eye(2)]), "symmetric"),
    ("precisions_init", np.eye(2), "shape"),
])
def test_initial_parameters_are_validated_like_sklearn(name, value, message):
    X = _two_blobs(200, seed=3)
    params = {**START, name: value}
    if message is None:  # a valid (if odd) start fits in both
        GaussianMixture(2, device="cpu", **params).fit(X)
        SkGaussianMixture(2, **params).fit(X)
        return
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, device="cpu", **params).fit(X)
    with pytest.raises(ValueError):  # scikit-learn refuses the same start
        SkGaussianMixture(2, **params).fit(X)


def test_transposed_means_are_refused_not_scrambled():
    X = _two_blobs(200, seed=4, dim=3)
    means = np.array([[-2.0, -2.0, -2.0], [2.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=r"should have the shape of \(2, 3\), but got \(3, 2\)"):
        GaussianMixture(2, means_init=means.T, device="cpu").fit(X)


# --- data validation -------------------------------------------------------------------

@pytest.mark.parametrize("estimator", [Histogram(), GaussianMLE(), KernelDensity(device="cpu"),
                                       GaussianMixture(2, device="cpu")], ids=lambda e: type(e).__name__)
def test_feature_count_flat_points_complex_empty_and_unfitted(estimator):
    name = type(estimator).__name__
    with pytest.raises(NotFittedError):
        clone(estimator).score_samples(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Complex data not supported"):
        clone(estimator).fit(_two_blobs(50).astype(complex))
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        clone(estimator).fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        clone(estimator).fit(np.zeros((5, 0)))
    fitted = clone(estimator).fit(_two_blobs(200, dim=3))
    assert fitted.n_features_in_ == 3
    with pytest.raises(ValueError, match=f"X has 2 features, but {name} is expecting 3 features as input"):
        fitted.score_samples(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="Reshape your data"):  # a flat 3D point is not three 1D points
        fitted.score_samples([0.1, 0.2, 0.3])
    one_d = clone(estimator).fit(_two_blobs(200, dim=1)[:, 0])  # 1D data: one feature
    assert one_d.n_features_in_ == 1 and one_d.score_samples([0.1, 0.2]).shape == (2,)


def test_unconverged_fit_warns_and_fit_predict_matches_sklearn():
    X = _two_blobs(300, seed=5)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(2, max_iter=1, tol=0.0, device="cpu", **START).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        labels = GaussianMixture(2, device="cpu", **START).fit_predict(X)
    np.testing.assert_array_equal(labels, SkGaussianMixture(2, **START).fit_predict(X))


@pytest.mark.parametrize("offset", [1e7, 1e8])
def test_tight_components_far_from_the_centre_match_sklearn(offset):
    """Covariances summed about each component's mean (two passes): E[xx^T] - mu mu^T lost 3 % at 1e7
    and failed as singular at 1e8."""
    g = np.random.default_rng(6)
    X = np.concatenate([g.normal([-offset, 0.0], [1.0, 0.5], (400, 2)), g.normal([offset, 5.0], [0.7, 1.2], (400, 2))])
    start = {"weights_init": np.array([0.5, 0.5]), "means_init": np.array([[-offset, 0.0], [offset, 5.0]]),
             "precisions_init": np.array([np.eye(2), np.eye(2)])}
    ours = GaussianMixture(2, tol=1e-10, max_iter=20, device="cpu", **start).fit(X)
    theirs = SkGaussianMixture(2, tol=1e-10, max_iter=20, **start).fit(X)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-6)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-12)


# --- KernelDensity: sample weights, kernels, bandwidth rules ------------------------------------

@pytest.mark.parametrize("kernel", ["gaussian", "tophat", "epanechnikov", "exponential", "linear"])
def test_weighted_kde_equals_sklearn(kernel):
    X = _two_blobs(300, seed=7)
    weights = np.random.default_rng(8).uniform(0.1, 3.0, len(X))
    points = _two_blobs(200, seed=9) * 1.2
    ours = KernelDensity(bandwidth=0.5, kernel=kernel, device="cpu").fit(X, sample_weight=weights).score_samples(points)
    theirs = SkKernelDensity(bandwidth=0.5, kernel=kernel, rtol=0, atol=0).fit(X, sample_weight=weights) \
        .score_samples(points)
    bulk = np.exp(theirs) > 1e-2 * np.exp(theirs).max()
    assert bulk.sum() > 50
    np.testing.assert_allclose(ours[bulk], theirs[bulk], rtol=1e-9)


def test_integer_weights_equal_repeated_points_and_zero_weights_drop_points():
    X = _two_blobs(60, seed=10)
    counts = np.random.default_rng(11).integers(0, 4, len(X))
    points = _two_blobs(50, seed=12)
    weighted = KernelDensity(bandwidth=0.4, kernel="epanechnikov").fit(X, sample_weight=counts)
    repeated = KernelDensity(bandwidth=0.4, kernel="epanechnikov").fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.score_samples(points), repeated.score_samples(points), rtol=1e-12)
    assert len(weighted.data_) == int((counts > 0).sum())
    with pytest.raises(ValueError, match="non-zero"):
        KernelDensity().fit(X, sample_weight=np.zeros(len(X)))
    with pytest.raises(ValueError, match="Negative values"):
        KernelDensity().fit(X, sample_weight=-np.ones(len(X)))


def test_weighted_scott_rule_is_scipys_weighted_gaussian_kde():
    g = np.random.default_rng(13)
    x = np.concatenate([g.normal(-1, 0.5, 300), g.normal(2, 1.0, 200)])
    weights = g.uniform(0.2, 2.0, len(x))
    reference = stats.gaussian_kde(x, weights=weights)
    kde = KernelDensity(bandwidth="scott", device="cpu").fit(x, sample_weight=weights)
    assert kde.bandwidth_ == pytest.approx(float(np.sqrt(reference.covariance[0, 0])), rel=1e-12)
    grid = np.linspace(-4, 6, 201)
    np.testing.assert_allclose(kde.score_samples(grid), reference.logpdf(grid), rtol=1e-10)
    silverman = stats.gaussian_kde(x, bw_method="silverman", weights=weights)
    assert KernelDensity(bandwidth="silverman").fit(x, sample_weight=weights).bandwidth_ == pytest.approx(
        float(np.sqrt(silverman.covariance[0, 0])), rel=1e-12)


def test_our_rules_are_sklearns_factor_times_the_spread():
    X = _two_blobs(500, seed=14) * [1.0, 3.0]
    for rule in ("scott", "silverman"):
        ours = KernelDensity(bandwidth=rule).fit(X).bandwidth_
        theirs = SkKernelDensity(bandwidth=rule).fit(X).bandwidth_
        assert ours == pytest.approx(theirs * pooled_std(X), rel=1e-12)
        assert ours != pytest.approx(theirs, rel=0.1)  # not scikit-learn's number on raw data
