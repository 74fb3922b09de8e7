"""GaussianMixture and the EM half-steps against scikit-learn and direct formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnMixture

from playground.mixture import (COVARIANCE_TYPES, INIT_METHODS, GaussianMixture, SingularCovarianceError,
                                as_data, e_step, full_covariances, m_step, state_from_arrays)


# Tiny tensors: one thread avoids OpenMP spin-waiting on a shared, loaded CPU (100x slower otherwise).


def three_clusters(d: int, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return np.r_[g.normal(-2, 0.7, (150, d)), g.normal(2, 1.0, (100, d)), g.normal(0.5, 0.3, (50, d))]


def sklearn_start(X: np.ndarray, k: int, covariance_type: str, seed: int) -> dict:
    """Initial weights / means / precisions from scikit-learn's own k-means initialisation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = SklearnMixture(k, covariance_type=covariance_type, max_iter=0, random_state=seed).fit(X)
    covariances = start.covariances_
    precisions = np.linalg.inv(covariances) if covariance_type in ("full", "tied") else 1.0 / covariances
    return {"weights_init": start.weights_, "means_init": start.means_, "precisions_init": precisions}


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_matches_sklearn_from_same_start(d, covariance_type, device):
    X = three_clusters(d)
    start = sklearn_start(X, 3, covariance_type, seed=1)
    options = dict(covariance_type=covariance_type, tol=0, max_iter=30, reg_covar=1e-6, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = SklearnMixture(3, **options).fit(X)
    ours = GaussianMixture(3, device=device, **options).fit(X)
    np.testing.assert_allclose(ours.weights_, reference.weights_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.covariances_, reference.covariances_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.precisions_cholesky_, reference.precisions_cholesky_, rtol=1e-8, atol=1e-8)
    assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-8)
    assert ours.score(X) == pytest.approx(reference.score(X), abs=1e-8)
    assert ours.n_iter_ == reference.n_iter_ == 30
    assert ours.bic(X) == pytest.approx(reference.bic(X), rel=1e-10)
    assert ours.n_parameters == reference._n_parameters()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_matches_sklearn_for_same_parameters(covariance_type, device):
    X = three_clusters(2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = SklearnMixture(3, covariance_type=covariance_type, max_iter=5, random_state=0).fit(X)
    ours = GaussianMixture(3, covariance_type=covariance_type, device=device)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(ours, name, getattr(reference, name))
    grid = np.random.default_rng(9).uniform(-5, 5, (400, 2))
    np.testing.assert_allclose(ours.score_samples(grid), reference.score_samples(grid), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(grid), reference.predict_proba(grid), atol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_log_likelihood_never_decreases(covariance_type, seed, device):
    X_np = three_clusters(2, seed=seed + 10)
    X = as_data(X_np, device, torch.float64)
    model = GaussianMixture(4, covariance_type=covariance_type, init_params="random_from_data", random_state=seed, device=device)
    state = model.initial_state(X, np.random.default_rng(seed))
    log_likelihoods = []
    for _ in range(200):
        log_prob_norm, log_responsibilities = e_step(X, state)
        log_likelihoods.append(float(log_prob_norm.mean()))
        state = m_step(X, torch.exp(log_responsibilities), 1e-6, covariance_type)
    steps = np.diff(log_likelihoods)
    assert steps.min() >= -1e-10 * max(1.0, abs(log_likelihoods[-1]))
    assert log_likelihoods[-1] > log_likelihoods[0] + 0.1  # it actually climbed


def test_responsibilities_sum_to_one_and_match_bayes_rule(device):
    X_np = three_clusters(2)
    state = state_from_arrays([0.2, 0.5, 0.3], [[-2, -2], [2, 2], [0, 0]], np.stack([np.eye(2)] * 3) * [[[1]], [[2]], [[0.5]]],
                              covariance_type="full", device=device)
    log_prob_norm, log_responsibilities = e_step(as_data(X_np, device, torch.float64), state)
    responsibilities = torch.exp(log_responsibilities).cpu().numpy()
    np.testing.assert_allclose(responsibilities.sum(axis=1), 1.0, atol=1e-12)
    from scipy.stats import multivariate_normal

    joint = np.stack([w * multivariate_normal(m, c).pdf(X_np) for w, m, c in
                      zip([0.2, 0.5, 0.3], [[-2, -2], [2, 2], [0, 0]], state.full_covariances())], axis=1)
    np.testing.assert_allclose(responsibilities, joint / joint.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(log_prob_norm.cpu().numpy(), np.log(joint.sum(axis=1)), atol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_is_the_weighted_mle(covariance_type, device):
    g = np.random.default_rng(4)
    X_np = three_clusters(2, seed=4)
    responsibilities = g.dirichlet(np.ones(3), size=len(X_np))
    reg = 1e-3
    state = m_step(as_data(X_np, device, torch.float64), torch.as_tensor(responsibilities, device=device),
                   reg, covariance_type)
    nk = responsibilities.sum(axis=0)
    means = np.stack([(responsibilities[:, k:k + 1] * X_np).sum(axis=0) / nk[k] for k in range(3)])
    scatter = np.stack([(responsibilities[:, k, None, None] * np.einsum("nd,ne->nde", X_np - means[k], X_np - means[k])
                         ).sum(axis=0) / nk[k] for k in range(3)])
    expected = {"full": scatter + reg * np.eye(2),
                "tied": (scatter * nk[:, None, None]).sum(axis=0) / nk.sum() + reg * np.eye(2),
                "diag": np.diagonal(scatter, axis1=1, axis2=2) + reg,
                "spherical": np.diagonal(scatter, axis1=1, axis2=2).mean(axis=1) + reg}[covariance_type]
    np.testing.assert_allclose(state.weights.cpu().numpy(), nk / len(X_np), atol=1e-12)
    np.testing.assert_allclose(state.means.cpu().numpy(), means, atol=1e-10)
    np.testing.assert_allclose(state.covariances.cpu().numpy(), expected, atol=1e-10)


def test_sample_is_seeded_and_follows_the_mixture():
    X = three_clusters(2)
    model = GaussianMixture(3, random_state=0, device="cpu").fit(X)
    first, second = model.sample(20_000, seed=5), model.sample(20_000, seed=5)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, model.sample(20_000, seed=6))
    covariances = full_covariances(model.covariances_, "full", 3, 2)
    mixture_mean = model.weights_ @ model.means_
    mixture_cov = sum(w * (c + np.outer(m, m)) for w, m, c in zip(model.weights_, model.means_, covariances)) \
        - np.outer(mixture_mean, mixture_mean)
    # 20,000 draws: standard error of the mean is about sqrt(var / 20000) < 0.02
    np.testing.assert_allclose(first.mean(axis=0), mixture_mean, atol=0.06)
    np.testing.assert_allclose(np.cov(first.T), mixture_cov, atol=0.15)
    samples, labels = model.sample_with_labels(1000, seed=1)
    assert samples.shape == (1000, 2) and set(labels) <= {0, 1, 2}


@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_every_init_fits_well_separated_clusters(init_params, device):
    g = np.random.default_rng(0)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 6.0]])
    X = np.concatenate([c + 0.5 * g.standard_normal((100, 2)) for c in centres])
    # random starts can stall near a saddle or a local optimum: several restarts, a tight tol
    model = GaussianMixture(3, init_params=init_params, n_init=5, tol=1e-8, max_iter=500, random_state=0,
                            device=device).fit(X)
    order = np.argsort(model.means_[:, 0] + 0.01 * model.means_[:, 1])
    np.testing.assert_allclose(model.means_[order], centres[[0, 2, 1]], atol=0.2)
    assert model.converged_
    assert model.score(X) == pytest.approx(float(np.mean(model.score_samples(X))))


def test_collapsed_component_raises_singular_covariance_error():
    X = np.r_[np.zeros((5, 2)), np.random.default_rng(0).normal(size=(50, 2)) + 8]
    model = GaussianMixture(2, reg_covar=0.0, init_params="kmeans", random_state=0, device="cpu")
    with pytest.raises(SingularCovarianceError, match="reg_covar"):
        model.fit(X)
    fitted = GaussianMixture(2, reg_covar=1e-3, random_state=0, device="cpu").fit(X)
    assert np.isfinite(fitted.score(X))


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="at least K points"):
        GaussianMixture(5, device="cpu").fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(1, device="cpu").fit(np.array([[0.0], [np.nan], [1.0]]))
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(1, covariance_type="banana", device="cpu").fit(np.zeros((3, 1)))
    with pytest.raises(NotFittedError):
        GaussianMixture(1, device="cpu").score_samples(np.zeros((3, 1)))


def test_one_dimensional_input_and_float32():
    X = three_clusters(1)[:, 0]
    model64 = GaussianMixture(3, random_state=0, device="cpu").fit(X)
    model32 = GaussianMixture(3, random_state=0, device="cpu", dtype="float32").fit(X)
    assert model64.means_.shape == (3, 1)
    assert model32.score(X) == pytest.approx(model64.score(X), abs=1e-3)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fused_em_iteration_equals_e_step_then_m_step(covariance_type, device):
    from playground.mixture import FusedEM

    X = as_data(three_clusters(2, seed=7) + 50.0, device, torch.float64)  # far from the origin: centring matters
    model = GaussianMixture(3, covariance_type=covariance_type, device=device)
    state = model.initial_state(X, np.random.default_rng(0))
    kernel = FusedEM(X, covariance_type, 1e-6)
    bound, centred = kernel.iteration(kernel.centre(state))
    fused = kernel.uncentre(centred)
    log_prob_norm, log_responsibilities = e_step(X, state)
    direct = m_step(X, torch.exp(log_responsibilities), 1e-6, covariance_type)
    assert bound == pytest.approx(float(log_prob_norm.mean()), abs=1e-10)
    torch.testing.assert_close(fused.weights, direct.weights, rtol=0, atol=1e-10)
    torch.testing.assert_close(fused.means, direct.means, rtol=0, atol=1e-9)
    torch.testing.assert_close(fused.covariances, direct.covariances, rtol=0, atol=1e-9)
