"""MCMC kernels, energies and ESS against autograd, closed forms and the known stationary laws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from playground.mcmc import METHODS, MCMCChains, effective_sample_size, energy_for
from playground.targets import get_target

SIGMA = np.array([[1.0, 0.8], [0.8, 1.0]])  # the registry's gaussian2d


def _scipy_log_prob(name: str, x: np.ndarray) -> np.ndarray:
    """An independent reference: SciPy densities, summed by hand."""
    target = get_target(name)
    if target.mixture is not None:
        params = target.mixture
        return np.log(sum(w * stats.multivariate_normal(m, c).pdf(x)
                          for w, m, c in zip(params.weights, params.means, params.covariances)))
    x1, x2 = x[:, 0], x[:, 1]  # banana: x1 ~ N(0, 1.5^2), x2 - 0.5 (x1^2 - 1.5^2) ~ N(0, 1)
    return stats.norm.logpdf(x1, 0, 1.5) + stats.norm.logpdf(x2 - 0.5 * (x1**2 - 1.5**2))


@pytest.mark.parametrize("name", ["banana", "mog2d", "ring8", "gaussian2d"])
def test_energy_matches_scipy_log_prob_and_autograd(name, device):
    energy = energy_for(name, device)
    x = torch.as_tensor(get_target(name).sample(64, seed=1) + 0.3, dtype=torch.float64, device=device)
    log_p, grad = energy.log_prob_and_grad(x)
    np.testing.assert_allclose(log_p.cpu().numpy(), _scipy_log_prob(name, x.cpu().numpy()), rtol=1e-9, atol=1e-9)
    leaf = x.clone().requires_grad_(True)
    autograd = torch.autograd.grad(energy.log_prob_and_grad(leaf)[0].sum(), leaf)[0]
    np.testing.assert_allclose(grad.cpu().numpy(), autograd.cpu().numpy(), rtol=1e-8, atol=1e-10)


def _run(method, step, steps=1000, chains=64, seed=0, device="cpu"):
    sampler = MCMCChains(energy_for("gaussian2d", device), method, step, n_chains=chains, seed=seed,
                         device=device, keep=steps)
    sampler.step(steps)
    return sampler, sampler.samples(burn_in=0.2).reshape(-1, 2)


def _ess_from_chain_means(samples: np.ndarray) -> np.ndarray:
    """A second ESS estimator, from independent chains only: the mean of C chains of n draws has variance
    sigma^2 / (ESS / C), so ESS = C sigma^2 / var(chain means). No autocorrelations involved."""
    chains, dim = samples.shape[1], samples.shape[2]
    return chains * samples.reshape(-1, dim).var(0) / samples.mean(0).var(0, ddof=1)


# min_efficiency: a floor on ESS / draws, about half of what each kernel reaches here (seeds 0-2: RWM
# 0.039-0.047, MALA 0.036-0.045, HMC 0.78-0.86). A stuck or barely moving chain is far below it.
@pytest.mark.parametrize("method,step,steps,min_efficiency",
                         [("rwm", 0.9, 1000, 0.02), ("mala", 0.15, 1000, 0.02), ("hmc", 0.25, 250, 0.4)])
def test_exact_kernels_recover_mean_and_covariance(method, step, steps, min_efficiency, device):
    sampler, x = _run(method, step, steps=steps, device=device)
    ess = sampler.effective_sample_size(burn_in=0.2)
    assert ess.min() >= min_efficiency * len(x), (ess, len(x))  # the chains mix: the tolerances below mean something
    # the ESS agrees with an estimate from the spread of the 64 chains' means (99.9% chi-square band, 63 dof)
    ratio = _ess_from_chain_means(sampler.samples(burn_in=0.2)) / ess
    assert np.all((63 / stats.chi2.ppf(0.9995, 63) < ratio) & (ratio < 63 / stats.chi2.ppf(0.0005, 63))), ratio
    ess = ess.min()
    tolerance = 4 * np.sqrt(2 / ess) + 0.01  # ~4 SE of a covariance entry of unit scale
    np.testing.assert_allclose(x.mean(0), 0.0, atol=4 / np.sqrt(ess) + 0.01)
    np.testing.assert_allclose(np.cov(x.T), SIGMA, atol=tolerance)
    assert 0.2 < sampler.acceptance_rate < 1.0


def test_a_stuck_sampler_falls_below_the_ess_floor():
    """The floor above is not vacuous: a random walk with a hundredth of the tuned step fails it."""
    sampler, x = _run("rwm", 0.009, steps=1000)
    assert sampler.effective_sample_size(burn_in=0.2).min() < 0.02 * len(x)


def _ula_stationary_covariance(step):
    """x' = (I - eps Sigma^-1) x + sqrt(2 eps) xi has covariance lambda / (1 - eps / (2 lambda)) per eigen-direction."""
    eigenvalues, vectors = np.linalg.eigh(SIGMA)
    return vectors @ np.diag(eigenvalues / (1 - step / (2 * eigenvalues))) @ vectors.T


def test_large_step_biases_ula_but_not_mala():
    step = 0.15  # close to the stability limit 2 * lambda_min = 0.4 of ULA on this target
    _, ula = _run("ula", step, seed=1)
    _, mala = _run("mala", step, seed=1)
    biased = _ula_stationary_covariance(step)
    assert biased[0, 0] > SIGMA[0, 0] + 0.08
    # ULA lands on its own (wrong) stationary covariance, measurably away from Sigma ...
    np.testing.assert_allclose(np.cov(ula.T), biased, atol=0.04)
    assert np.cov(ula.T)[0, 0] > SIGMA[0, 0] + 0.05
    # ... while MALA's Metropolis correction removes the bias.
    np.testing.assert_allclose(np.cov(mala.T), SIGMA, atol=0.04)


def test_ula_divergence_is_caught_and_the_last_good_state_kept():
    sampler = MCMCChains(energy_for("gaussian2d", "cpu"), "ula", 5.0, n_chains=4, seed=0, device="cpu")
    sampler.step(400)
    assert sampler.stopped and "step size" in sampler.message
    assert np.isfinite(sampler.positions).all()
    assert len(sampler.trace) == sampler.iteration + 1


def test_step_size_too_small_or_too_large_mixes_worse_than_a_tuned_one():
    starts = np.random.default_rng(0).uniform([-4, -3], [4, 8], size=(32, 2))  # over-dispersed starts
    chains = {step: MCMCChains(energy_for("banana", "cpu"), "rwm", step, n_chains=32, seed=0, device="cpu",
                               start=starts) for step in (0.02, 1.5, 20.0)}
    for sampler in chains.values():
        sampler.step(300)
    assert chains[0.02].acceptance_rate > 0.95
    assert chains[20.0].acceptance_rate < 0.05
    tuned = chains[1.5].effective_sample_size().min()
    assert chains[0.02].effective_sample_size().min() < tuned / 4
    assert chains[20.0].effective_sample_size().min() < tuned / 4


def test_isolated_modes_trap_a_random_walk():
    target = get_target("ring8")
    sampler = MCMCChains(energy_for(target, "cpu"), "rwm", 0.1, n_chains=1, seed=0, device="cpu", start=[2.0, 0.0])
    sampler.step(1500)
    path = sampler.snapshot()["path"]
    assert np.linalg.norm(path - [2.0, 0.0], axis=1).max() < 1.0  # never leaves the mode it started in


def test_same_seed_same_chain_and_methods_all_run():
    for method in METHODS:
        a = MCMCChains(energy_for("mog2d", "cpu"), method, 0.1, n_chains=3, seed=4, device="cpu")
        b = MCMCChains(energy_for("mog2d", "cpu"), method, 0.1, n_chains=3, seed=4, device="cpu")
        a.step(20)
        b.step(20)
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.snapshot()["path"].shape == (21, 2)


def test_ess_of_iid_and_ar1_chains_match_closed_forms():
    generator = np.random.default_rng(0)
    n, chains = 20_000, 4
    iid = generator.standard_normal((n, chains, 2))
    np.testing.assert_allclose(effective_sample_size(iid), n * chains, rtol=0.1)
    phi = 0.9  # AR(1): integrated autocorrelation time (1 + phi) / (1 - phi)
    noise = generator.standard_normal((n, chains, 1))
    ar = np.zeros((n, chains, 1))
    for t in range(1, n):
        ar[t] = phi * ar[t - 1] + np.sqrt(1 - phi**2) * noise[t]
    np.testing.assert_allclose(effective_sample_size(ar), n * chains * (1 - phi) / (1 + phi), rtol=0.15)
    single = effective_sample_size(ar[:, :1])
    np.testing.assert_allclose(single, n * (1 - phi) / (1 + phi), rtol=0.25)


def test_ess_sees_chains_that_disagree():
    generator = np.random.default_rng(1)
    stuck = generator.standard_normal((1000, 4, 1)) * 0.1 + np.array([-3.0, -1.0, 1.0, 3.0])[None, :, None]
    assert effective_sample_size(stuck)[0] < 0.01 * 4000  # each chain looks iid, together they are not


def test_ess_of_a_stuck_chain_is_one():
    assert effective_sample_size(np.ones((100, 2, 1)))[0] == 1.0


def test_unknown_method_and_sample_only_target_are_rejected():
    with pytest.raises(ValueError, match="method"):
        MCMCChains(energy_for("banana", "cpu"), "gibbs")
    with pytest.raises(ValueError, match="no analytic energy"):
        energy_for("moons")


def test_mala_marginal_on_banana_matches_the_exact_marginal():
    sampler = MCMCChains(energy_for("banana", "cpu"), "mala", 0.1, n_chains=128, seed=2, device="cpu", keep=800)
    sampler.step(800)
    x1 = sampler.samples(0.25)[..., 0].ravel()
    ess = sampler.effective_sample_size(0.25)[0]
    assert ess >= 0.002 * len(x1)  # a floor at about half of what MALA reaches here (0.0042): the chains mix
    # x1 ~ N(0, 1.5^2) exactly; compare the spread within a few SE.
    assert abs(x1.std() - 1.5) < 4 * 1.5 / np.sqrt(2 * ess) + 0.02
    assert stats.kstest(x1[:: max(1, int(len(x1) / ess))], stats.norm(0, 1.5).cdf).pvalue > 0.001


def test_hmc_records_its_leapfrog_trajectory_and_it_follows_hamiltons_flow():
    """The drawn trajectory starts where chain 1 stood and ends at its proposal; on a Gaussian target
    its positions follow the exact Hamiltonian flow x(t) = cos(sqrt(P) t) x0 + sin(sqrt(P) t) sqrt(P)^-1 m0
    (P the precision) to O(eps^2), with m0 recovered from the first leapfrog step."""
    from playground.mcmc import MCMCChains, energy_for
    from playground.targets import get_target

    eps, steps = 0.05, 12
    chains = MCMCChains(energy_for("gaussian2d"), "hmc", eps, n_chains=3, seed=4, leapfrog_steps=steps,
                        start=np.array([1.0, -0.5]))
    chains.step(3)
    snap = chains.snapshot()
    trajectory = snap["leapfrog"]
    assert trajectory.shape == (steps + 1, 2)
    np.testing.assert_allclose(trajectory[0], snap["last_start"])
    np.testing.assert_allclose(trajectory[-1], snap["recent_proposals"][-1][0])
    precision = np.linalg.inv(get_target("gaussian2d").mixture.covariances[0])
    values, vectors = np.linalg.eigh(precision)
    x0 = trajectory[0]
    m0 = (trajectory[1] - x0) / eps + 0.5 * eps * precision @ x0
    for k, position in enumerate(trajectory):
        t = k * eps
        exact = vectors @ (np.cos(np.sqrt(values) * t) * (vectors.T @ x0)
                           + np.sin(np.sqrt(values) * t) / np.sqrt(values) * (vectors.T @ m0))
        np.testing.assert_allclose(position, exact, atol=5e-3)
    assert MCMCChains(energy_for("gaussian2d"), "rwm", 0.5, n_chains=2, seed=0).snapshot()["leapfrog"] is None
