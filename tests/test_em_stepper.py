"""EM one half-step at a time, the gradient-descent fitter, and the failure presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.em import (FAILURE_PRESETS, MANUAL_INIT, EMStepper, GradientDescentFitter, preset_data, run_restarts,
                           starting_state)
from playground.mixture import COVARIANCE_TYPES, GaussianMixture, as_data, e_step, m_step
from playground.targets import get_target

# Tiny tensors: one thread avoids OpenMP spin-waiting on a shared, loaded CPU.


def mog_data(n: int = 300, seed: int = 0) -> np.ndarray:
    return get_target("mog2d").sample(n, seed)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_half_steps_alternate_and_the_bound_touches_after_each_e_step(covariance_type, device):
    stepper = EMStepper.start(mog_data(), 3, covariance_type=covariance_type, init="random_from_data", seed=2,
                              device=device)
    assert stepper.next_half_step == "E"
    log_responsibilities = stepper.e_step()
    np.testing.assert_allclose(torch.exp(log_responsibilities).sum(dim=1).cpu().numpy(), 1.0, atol=1e-12)
    assert stepper.next_half_step == "M"
    stepper.m_step()
    stepper.step(200)
    kinds = [frame.kind for frame in stepper.half_steps]
    assert kinds[:5] == ["init", "E", "M", "E", "M"] and len(kinds) == 1 + 2 * stepper.iteration
    log_likelihoods = np.array([frame.log_likelihood for frame in stepper.half_steps])
    assert np.diff(log_likelihoods).min() >= -1e-10, "EM must never lower the log-likelihood"
    for before, after in zip(stepper.half_steps[1:], stepper.half_steps[2:]):
        if before.kind == "E":  # E-step: q is the posterior, ELBO = log-likelihood
            assert before.lower_bound == pytest.approx(before.log_likelihood, abs=1e-10)
            # M-step: the bound rises, and stays below the new log-likelihood (Jensen)
            assert after.lower_bound >= before.lower_bound - 1e-10
            assert after.lower_bound <= after.log_likelihood + 1e-10
            np.testing.assert_array_equal(after.responsibilities, before.responsibilities)
    assert stepper.metric("log_likelihood").shape == (stepper.iteration,)


def test_stepper_matches_the_estimator_from_the_same_start(device):
    X = mog_data()
    stepper = EMStepper.start(X, 3, init="kmeans", seed=5, device=device)
    start = stepper.half_steps[0]
    precisions = np.linalg.inv(start.covariances)
    model = GaussianMixture(3, tol=0, max_iter=25, weights_init=start.weights, means_init=start.means,
                            precisions_init=precisions, device=device).fit(X)
    stepper.step(25)
    np.testing.assert_allclose(stepper.half_steps[-1].means, model.means_, atol=1e-10)
    np.testing.assert_allclose(stepper.half_steps[-1].covariances, model.covariances_, atol=1e-10)
    # estimator's lower_bound_ is the log-likelihood at the last E-step
    assert stepper.half_steps[-2].log_likelihood == pytest.approx(model.lower_bound_, abs=1e-10)


def test_kmeans_start_equals_one_m_step_from_kmeans_labels(device):
    X = as_data(mog_data(), device, torch.float64)
    state = starting_state(X, 3, init="kmeans", seed=1)
    model = GaussianMixture(3, init_params="kmeans", device=device)
    reference = model.initial_state(X, np.random.default_rng(1))
    torch.testing.assert_close(state.means, reference.means)
    np.testing.assert_allclose(state.weights.sum().item(), 1.0, atol=1e-12)


def test_manual_start_uses_the_given_means_and_checks_their_shape():
    X = as_data(mog_data(), torch.device("cpu"), torch.float64)
    state = starting_state(X, 2, init=MANUAL_INIT, means=[[0.0, 1.0], [2.0, -1.0]])
    np.testing.assert_array_equal(state.means.numpy(), [[0.0, 1.0], [2.0, -1.0]])
    np.testing.assert_allclose(state.weights.numpy(), [0.5, 0.5])
    np.testing.assert_allclose(state.covariances[0].numpy(), np.cov(X.numpy().T, bias=True) + 1e-6 * np.eye(2),
                               atol=1e-12)
    with pytest.raises(ValueError, match="2 means of dimension 2"):
        starting_state(X, 2, init=MANUAL_INIT, means=[[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="at least K points"):
        starting_state(X[:2], 3, init="kmeans")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gradient_fitter_log_likelihood_equals_the_closed_form(covariance_type, device):
    X = as_data(mog_data(), device, torch.float64)
    state = starting_state(X, 3, covariance_type=covariance_type, init="kmeans", seed=0)
    fitter = GradientDescentFitter(X, state, min_variance=0.0)
    log_prob_norm, _ = e_step(X, state)
    assert fitter.initial_log_likelihood == pytest.approx(float(log_prob_norm.mean()), abs=1e-9)
    np.testing.assert_allclose(fitter.snapshot()["covariances"], state.full_covariances(), atol=1e-9)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gradient_descent_reaches_em_within_one_percent(covariance_type, device):
    X = mog_data(400, seed=3)
    em = EMStepper.start(X, 3, covariance_type=covariance_type, init="k-means++", seed=1, device=device)
    fitter = GradientDescentFitter(em.X, em.state, learning_rate=0.05)
    em.step(150)
    fitter.step(400)
    em_ll, gd_ll = em.history[-1]["log_likelihood"], fitter.history[-1]["log_likelihood"]
    assert fitter.history[0]["log_likelihood"] > fitter.initial_log_likelihood
    assert abs(gd_ll - em_ll) <= 0.01 * abs(em_ll)
    assert not fitter.stopped


def test_collapse_preset_stops_cleanly_and_reg_covar_prevents_it():
    preset = FAILURE_PRESETS["collapse"]
    X = preset_data(preset, seed=0)
    stepper = EMStepper.start(X, preset.n_components, init=preset.init, means=preset.means, reg_covar=preset.reg_covar,
                              device="cpu")
    stepper.step(300)
    assert stepper.stopped and "singular" in stepper.message and "reg_covar" in stepper.message
    assert stepper.iteration < 100
    assert np.isfinite(stepper.half_steps[-1].covariances).all()
    assert stepper.half_steps[-1].covariances.min() >= 0
    regularised = EMStepper.start(X, preset.n_components, init=preset.init, means=preset.means, reg_covar=1e-3,
                                  device="cpu")
    regularised.step(300)
    assert not regularised.stopped and regularised.iteration == 300
    smallest_variance = regularised.half_steps[-1].covariances.reshape(4).min()
    assert smallest_variance == pytest.approx(1e-3, rel=1e-6), "the collapsed component keeps exactly reg_covar"


def test_local_optimum_preset_restarts_end_at_different_log_likelihoods():
    preset = FAILURE_PRESETS["local_optimum"]
    X = preset_data(preset, seed=0)
    results = run_restarts(X, preset.n_components, list(range(6)), init=preset.init, device="cpu")
    finals = np.array([r.log_likelihood for r in results])
    assert np.isfinite(finals).all()
    assert finals.max() - finals.min() > 0.1


def test_too_few_components_preset_fits_worse_than_the_true_k():
    preset = FAILURE_PRESETS["too_few"]
    X = preset_data(preset, seed=0)
    two = run_restarts(X, 2, [0], init="kmeans", device="cpu")[0].log_likelihood
    three = run_restarts(X, 3, [0], init="kmeans", device="cpu")[0].log_likelihood
    assert three > two + 0.05


def test_history_keeps_the_start_when_trimmed():
    stepper = EMStepper(mog_data(), starting_state(as_data(mog_data(), torch.device("cpu"), torch.float64), 3,
                                                   init="kmeans"), max_half_steps=11)
    stepper.step(20)
    assert len(stepper.half_steps) == 11 and stepper.half_steps[0].kind == "init"
    assert stepper.half_steps[-1].iteration == 20


def test_m_step_without_responsibilities_runs_the_e_step_first():
    stepper = EMStepper.start(mog_data(), 2, init="kmeans", device="cpu")
    stepper.m_step()
    assert [frame.kind for frame in stepper.half_steps] == ["init", "E", "M"]
    reference = m_step(stepper.X, torch.exp(e_step(stepper.X, starting_state(stepper.X, 2, init="kmeans"))[1]),
                       1e-6, "full")
    np.testing.assert_allclose(stepper.half_steps[-1].means, reference.means.numpy(), atol=1e-12)


# --- what EM guarantees, with and without reg_covar ---------------------------------------

def _scatter_gap(X, gamma, eps, covariance_type):
    """Q(S) - Q(S + eps I), per point, from SciPy's Gaussian log densities (independent of the stepper)."""
    from scipy.stats import multivariate_normal

    n, d = X.shape
    nk = gamma.sum(axis=0)
    means = gamma.T @ X / nk[:, None]
    scatters = np.array([((X - m).T * g) @ (X - m) / s for m, g, s in zip(means, gamma.T, nk)])
    if covariance_type == "tied":
        pooled = sum(s * c for s, c in zip(nk, scatters)) / n
        scatters = np.array([pooled] * len(nk))
    elif covariance_type == "diag":
        scatters = np.array([np.diag(np.diag(s)) for s in scatters])
    elif covariance_type == "spherical":
        scatters = np.array([np.trace(s) / d * np.eye(d) for s in scatters])
    gap = 0.0
    for m, g, s in zip(means, gamma.T, scatters):
        exact = multivariate_normal(m, s).logpdf(X)
        regularised = multivariate_normal(m, s + eps * np.eye(d)).logpdf(X)
        gap += float(g @ (exact - regularised))
    return gap / n


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_regularisation_slack_is_the_q_function_gap(covariance_type):
    X = get_target("mog2d").sample(300, seed=1)
    stepper = EMStepper.start(X, 3, covariance_type=covariance_type, reg_covar=0.05, seed=2, device="cpu")
    stepper.step(2)
    stepper.e_step()
    gamma = stepper.half_steps[-1].responsibilities.astype(np.float64)
    stepper.m_step()
    assert stepper.half_steps[-1].slack == pytest.approx(_scatter_gap(X, gamma, 0.05, covariance_type), rel=1e-5)
    unregularised = EMStepper.start(X, 3, covariance_type=covariance_type, reg_covar=0.0, seed=2, device="cpu")
    unregularised.step(1)
    assert unregularised.half_steps[-1].slack == 0.0


def test_the_log_likelihood_can_fall_with_reg_covar_but_never_by_more_than_the_slack():
    """The page's sentence: exact monotonicity at reg_covar = 0; with eps > 0 a drop, bounded by the slack."""
    X = get_target("mog2d").sample(300, seed=1)
    drops = []
    for eps in (0.0, 1e-3, 0.1):
        stepper = EMStepper.start(X, 3, covariance_type="full", reg_covar=eps, seed=2, device="cpu")
        stepper.step(40)
        frames = stepper.half_steps
        for before, after in zip(frames, frames[1:]):
            change = after.log_likelihood - before.log_likelihood
            if after.kind == "E":
                assert change == pytest.approx(0.0, abs=1e-12)
            elif after.kind == "M":
                assert change >= -after.slack - 1e-12
                if eps == 0.0:
                    assert change >= -1e-12
                drops.append((eps, change))
    assert min(change for eps, change in drops if eps == 0.1) < -1e-3  # it does fall (by 0.0014 here)
