"""Markov chain Monte Carlo on 2D energy landscapes p(x) ∝ exp(-E(x)) (lecture 004, EBM sampling).

Many chains run in parallel as one (chains, dim) tensor on the chosen device:

- random-walk Metropolis-Hastings: y = x + sigma xi, accept with min(1, p(y) / p(x));
- unadjusted Langevin (ULA): x' = x + eps grad log p(x) + sqrt(2 eps) xi (never rejects, biased);
- MALA: the Langevin move as a proposal, corrected by a Metropolis-Hastings test;
- HMC: L leapfrog steps of Hamiltonian dynamics with a fresh Gaussian momentum.

>>> from playground.mcmc import MCMCChains, energy_for
>>> chains = MCMCChains(energy_for("gaussian2d"), "mala", step_size=0.1, n_chains=4, seed=0, device="cpu")
>>> chains.step(10)["iteration"]
10
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from playground.device import default_device
from playground.seeding import torch_generator
from playground.stepper import Stepper
from playground.distributions import GaussianMixture, MixtureParams, compute_dtype
from playground.targets import BANANA_CURVATURE, BANANA_SIGMA1, Target, get_target

METHODS = {
    "rwm": "Random-walk Metropolis–Hastings",
    "ula": "Unadjusted Langevin (ULA)",
    "mala": "Metropolis-adjusted Langevin (MALA)",
    "hmc": "Hamiltonian Monte Carlo (HMC)",
}


# ----------------------------------------------------------------------------------
# Energies with analytic gradients
# ----------------------------------------------------------------------------------


class Energy:
    """log p(x) up to a constant and its gradient, batched over rows of a (n, d) tensor."""

    dim = 2

    def log_prob_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_and_grad(x)[0]


class GaussianMixtureEnergy(Energy):
    """log sum_k w_k N(x; mu_k, Sigma_k); grad = sum_k r_k(x) Sigma_k^{-1} (mu_k - x) (responsibilities r_k),
    both from ``playground.distributions.GaussianMixture``."""

    def __init__(self, params: MixtureParams, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.mixture = GaussianMixture.from_params(params, self.device, compute_dtype(self.device))
        self.dim = self.mixture.dim

    def log_prob_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mixture.log_prob_and_score(x)


class BananaEnergy(Energy):
    """x1 ~ N(0, s^2), x2 | x1 ~ N(b (x1^2 - s^2), 1): the registry's banana, with its exact gradient."""

    def __init__(self, sigma1: float = BANANA_SIGMA1, curvature: float = BANANA_CURVATURE,
                 device: torch.device | str | None = None) -> None:
        self.sigma1, self.curvature = sigma1, curvature
        self.device = torch.device(device) if device is not None else default_device()

    def log_prob_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[:, 0], x[:, 1]
        residual = x2 - self.curvature * (x1**2 - self.sigma1**2)
        log_p = (-0.5 * (x1 / self.sigma1) ** 2 - 0.5 * residual**2
                 - math.log(2 * math.pi * self.sigma1))
        grad = torch.stack([-x1 / self.sigma1**2 + 2 * self.curvature * x1 * residual, -residual], dim=1)
        return log_p, grad


MCMC_TARGETS = ("banana", "mog2d", "ring8", "gaussian2d", "grid25")


def energy_for(target: str | Target, device: torch.device | str | None = None) -> Energy:
    """The torch energy of a registry target (Gaussian mixtures and the banana)."""
    target = get_target(target) if isinstance(target, str) else target
    if target.mixture is not None:
        return GaussianMixtureEnergy(target.mixture, device)
    if target.name == "banana":
        return BananaEnergy(device=device)
    raise ValueError(f"no analytic energy for target {target.name!r}; MCMC targets: {', '.join(MCMC_TARGETS)}")


# ----------------------------------------------------------------------------------
# One transition of each kernel, for a batch of chains
# ----------------------------------------------------------------------------------


@dataclass
class ChainState:
    """Positions of all chains with log p and grad log p there (cached: each costs one evaluation)."""

    x: torch.Tensor  # (C, d)
    log_p: torch.Tensor  # (C,)
    grad: torch.Tensor  # (C, d)


@dataclass
class Transition:
    """The proposal y, whether each chain accepted it, and the Metropolis-Hastings probability."""

    state: ChainState
    proposal: torch.Tensor  # (C, d)
    accepted: torch.Tensor  # (C,) bool
    accept_prob: torch.Tensor  # (C,)


def _metropolis(energy: Energy, current: ChainState, proposal: torch.Tensor, log_ratio_extra, generator,
                proposal_eval=None) -> Transition:
    """Accept y with probability min(1, exp(log p(y) - log p(x) + log q(x|y) - log q(y|x)))."""
    log_p_y, grad_y = proposal_eval if proposal_eval is not None else energy.log_prob_and_grad(proposal)
    extra = log_ratio_extra(grad_y) if callable(log_ratio_extra) else log_ratio_extra
    log_alpha = log_p_y - current.log_p + extra
    log_alpha = torch.where(torch.isnan(log_alpha), torch.full_like(log_alpha, -math.inf), log_alpha)
    u = torch.rand(log_alpha.shape, generator=generator, device=log_alpha.device, dtype=log_alpha.dtype)
    accepted = torch.log(u) < log_alpha
    mask = accepted[:, None]
    state = ChainState(torch.where(mask, proposal, current.x), torch.where(accepted, log_p_y, current.log_p),
                       torch.where(mask, grad_y, current.grad))
    return Transition(state, proposal, accepted, torch.exp(torch.clamp(log_alpha, max=0.0)))


def _noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def rwm_step(energy: Energy, current: ChainState, step_size: float, generator: torch.Generator) -> Transition:
    """Random-walk MH: y = x + sigma xi; the symmetric proposal cancels in the acceptance ratio."""
    proposal = current.x + step_size * _noise(current.x, generator)
    return _metropolis(energy, current, proposal, 0.0, generator)


def ula_step(energy: Energy, current: ChainState, step_size: float, generator: torch.Generator) -> Transition:
    """Unadjusted Langevin: x' = x + eps grad log p(x) + sqrt(2 eps) xi, always accepted."""
    proposal = current.x + step_size * current.grad + math.sqrt(2 * step_size) * _noise(current.x, generator)
    log_p, grad = energy.log_prob_and_grad(proposal)
    accepted = torch.ones(proposal.shape[0], dtype=torch.bool, device=proposal.device)
    return Transition(ChainState(proposal, log_p, grad), proposal, accepted, accepted.to(proposal.dtype))


def mala_step(energy: Energy, current: ChainState, step_size: float, generator: torch.Generator) -> Transition:
    """MALA: the Langevin move as proposal, q(y|x) = N(y; x + eps grad log p(x), 2 eps I), then an MH test."""
    proposal = current.x + step_size * current.grad + math.sqrt(2 * step_size) * _noise(current.x, generator)

    def log_q_ratio(grad_y: torch.Tensor) -> torch.Tensor:  # log q(x|y) - log q(y|x)
        backward = current.x - proposal - step_size * grad_y
        forward = proposal - current.x - step_size * current.grad
        return -((backward**2).sum(1) - (forward**2).sum(1)) / (4 * step_size)

    return _metropolis(energy, current, proposal, log_q_ratio, generator)


def hmc_step(energy: Energy, current: ChainState, step_size: float, generator: torch.Generator,
             leapfrog_steps: int = 10, trajectory: list | None = None) -> Transition:
    """HMC: momentum m ~ N(0, I), L leapfrog steps, accept with min(1, exp(H(x, m) - H(y, m'))).
    ``trajectory``, when given, receives chain 0's position before and after each leapfrog step."""
    momentum = _noise(current.x, generator)
    position, grad = current.x, current.grad
    if trajectory is not None:
        trajectory.append(position[0].detach().to("cpu", torch.float64).numpy().copy())
    new_momentum = momentum + 0.5 * step_size * grad
    for step in range(leapfrog_steps):
        position = position + step_size * new_momentum
        if trajectory is not None:
            trajectory.append(position[0].detach().to("cpu", torch.float64).numpy().copy())
        log_p, grad = energy.log_prob_and_grad(position)
        scale = 0.5 if step == leapfrog_steps - 1 else 1.0  # half step for momentum at the end
        new_momentum = new_momentum + scale * step_size * grad
    kinetic_change = 0.5 * ((momentum**2).sum(1) - (new_momentum**2).sum(1))
    return _metropolis(energy, current, position, kinetic_change, generator, proposal_eval=(log_p, grad))


# ----------------------------------------------------------------------------------
# Effective sample size
# ----------------------------------------------------------------------------------


def _autocovariance(samples: np.ndarray) -> np.ndarray:
    """Biased autocovariance (1/n) sum_t (x_t - mean)(x_{t+lag} - mean) along axis 0, via FFT."""
    n = samples.shape[0]
    centred = samples - samples.mean(axis=0)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    return np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n] / n


def effective_sample_size(samples: np.ndarray) -> np.ndarray:
    """Multi-chain ESS (Vehtari et al. 2021, without rank normalisation): one value per coordinate.

    ``samples`` is (n steps, C chains, ...). With W the mean within-chain variance and
    B/n the variance of the chain means, var+ = (n-1)/n W + B/n and
    rho_t = 1 - (W - mean_c acov_{c,t}) / var+; then ESS = n C / tau with
    tau = -1 + 2 sum_k (rho_{2k} + rho_{2k+1}), summed while positive and kept non-increasing
    (Geyer's initial monotone sequence). Chains that have not mixed disagree in their
    means, B is large, and the ESS is small.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n, chains = samples.shape[0], samples.shape[1]
    if n < 4:
        return np.full(samples.shape[2:], float(n * chains))
    acov = _autocovariance(samples)  # (n, C, ...)
    within = acov[0].mean(axis=0) * n / (n - 1)  # W: mean of unbiased within-chain variances
    between = samples.mean(axis=0).var(axis=0, ddof=1) if chains > 1 else np.zeros_like(within)  # B / n
    var_plus = (n - 1) / n * within + between
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (within - acov.mean(axis=1)) / var_plus  # (n, ...)
    rho = np.where(np.isfinite(rho), rho, 0.0)  # constant chains: no information beyond one draw
    pairs = n // 2
    gamma = rho[0: 2 * pairs: 2] + rho[1: 2 * pairs: 2]  # (pairs, ...)
    positive = np.cumprod(gamma > 0, axis=0).astype(bool)
    monotone = np.minimum.accumulate(np.where(positive, gamma, np.inf), axis=0)
    tau = -1.0 + 2.0 * np.where(positive, monotone, 0.0).sum(axis=0)
    tau = np.maximum(tau, 1.0 / np.log10(max(n * chains, 10)))  # Stan's cap: ESS <= N log10 N
    constant = np.ptp(samples.reshape(n * chains, *samples.shape[2:]), axis=0) == 0
    return np.where(constant, 1.0, n * chains / tau)


# ----------------------------------------------------------------------------------
# The stepper: many chains, one kernel, a bounded record of the path
# ----------------------------------------------------------------------------------


class MCMCChains(Stepper):
    """``n_chains`` parallel chains of one MCMC kernel on ``energy``, recorded for drawing.

    ``start`` is one point (d,) shared by all chains or one per chain (C, d); default 0.

    ``keep`` bounds the recorded history (steps); ``keep=0`` records nothing (benchmarks).
    """

    def __init__(self, energy: Energy, method: str = "mala", step_size: float = 0.1, n_chains: int = 1,
                 seed: int = 0, device: torch.device | str | None = None, start=None,
                 leapfrog_steps: int = 10, keep: int = 2000) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if not step_size > 0:
            raise ValueError("the step size must be positive")
        self.energy, self.method, self.step_size = energy, method, float(step_size)
        self.leapfrog_steps, self.keep = int(leapfrog_steps), int(keep)
        self.device = torch.device(device) if device is not None else default_device()
        dtype = compute_dtype(self.device)
        self.generator = torch_generator(seed, self.device)
        start = np.zeros(energy.dim) if start is None else np.asarray(start, dtype=np.float64)
        start = np.broadcast_to(start.reshape(-1, energy.dim), (int(n_chains), energy.dim))
        x = torch.tensor(np.array(start), dtype=dtype, device=self.device)
        self.state = ChainState(x, *energy.log_prob_and_grad(x))
        self.accepted_total = 0
        self.proposed_total = 0
        self.trace: list[np.ndarray] = [self._numpy(x)] if self.keep else []
        self.last_proposal: np.ndarray | None = None
        self.last_accepted: np.ndarray | None = None
        self.recent_proposals: list[tuple[np.ndarray, bool]] = []  # chain 0: (proposal, accepted)
        self.last_start: np.ndarray | None = None  # chain 0 before the last step (where its proposal came from)
        self.last_leapfrog: np.ndarray | None = None  # HMC: chain 0's last leapfrog trajectory, (L + 1, d)

    @staticmethod
    def _numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().to("cpu", torch.float64).numpy().copy()

    # The default get_state deep-copies everything (the whole trace) before each step; a
    # step that fails raises before touching anything, so only the scalars need saving.
    def get_state(self) -> Any:
        return self.accepted_total, self.proposed_total, len(self.trace)

    def set_state(self, state: Any) -> None:
        self.accepted_total, self.proposed_total, length = state
        del self.trace[length:]

    def state_is_finite(self) -> bool:
        return bool(torch.isfinite(self.state.x).all())

    def _transition(self) -> Transition:
        kernels = {"rwm": rwm_step, "ula": ula_step, "mala": mala_step}
        if self.method == "hmc":
            trajectory: list[np.ndarray] | None = [] if self.keep else None
            transition = hmc_step(self.energy, self.state, self.step_size, self.generator, self.leapfrog_steps,
                                  trajectory)
            if trajectory is not None:
                self.last_leapfrog = np.stack(trajectory)
            return transition
        return kernels[self.method](self.energy, self.state, self.step_size, self.generator)

    def _step(self) -> dict[str, float]:
        start = self._numpy(self.state.x[:1])[0] if self.keep else None
        transition = self._transition()
        if not bool(torch.isfinite(transition.state.x).all() and torch.isfinite(transition.state.log_p).all()):
            raise FloatingPointError("a chain diverged (its position became infinite or NaN): "
                                     "the step size is too large for this target")
        self.state = transition.state
        accepted = int(transition.accepted.sum())
        self.accepted_total += accepted
        self.proposed_total += transition.accepted.numel()
        if self.keep:
            self.trace.append(self._numpy(self.state.x))
            if len(self.trace) > self.keep:
                del self.trace[0]
            self.last_proposal = self._numpy(transition.proposal)
            self.last_start = start
            self.last_accepted = transition.accepted.cpu().numpy()
            self.recent_proposals.append((self.last_proposal[0], bool(self.last_accepted[0])))
            del self.recent_proposals[:-30]
        return {
            "acceptance": accepted / transition.accepted.numel(),
            "acceptance_rate": self.acceptance_rate,
            "mean_log_p": float(self.state.log_p.mean()),
        }

    @property
    def acceptance_rate(self) -> float:
        """Accepted proposals / all proposals, over every chain and step so far."""
        return self.accepted_total / self.proposed_total if self.proposed_total else float("nan")

    @property
    def positions(self) -> np.ndarray:
        """Current positions of all chains, (C, d)."""
        return self._numpy(self.state.x)

    def samples(self, burn_in: float = 0.5) -> np.ndarray:
        """Recorded states after discarding the first ``burn_in`` fraction: (steps, C, d)."""
        if not self.trace:
            return np.empty((0, self.state.x.shape[0], self.energy.dim))
        trace = np.stack(self.trace)
        return trace[int(len(trace) * burn_in):]

    def effective_sample_size(self, burn_in: float = 0.5) -> np.ndarray:
        """Multi-chain ESS per coordinate of the recorded states after burn-in: (d,)."""
        return effective_sample_size(self.samples(burn_in))

    def snapshot(self) -> dict[str, Any]:
        trace = np.stack(self.trace) if self.trace else np.empty((0, 1, self.energy.dim))
        return {
            "path": trace[:, 0, :],  # chain 0's recorded path, (steps, d)
            "positions": self.positions,
            "last_proposal": self.last_proposal,
            "last_accepted": self.last_accepted,
            "recent_proposals": list(self.recent_proposals),
            "last_start": self.last_start,
            "leapfrog": self.last_leapfrog if self.method == "hmc" else None,
        }



def energy_landscape(target: str | Target, resolution: int = 120
                     ) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The picture behind the chains: ``(axes, log_p, marginals)`` with log p (unnormalised, from the
    torch energy) on a ``resolution``^2 grid over the target's box (rows are x2), and the exact
    marginals of p by numerical integration on that grid."""
    from playground.quadrature import grid_marginals
    from playground.targets import grid

    target = get_target(target) if isinstance(target, str) else target
    points, axes = grid(target, resolution)
    energy = energy_for(target, "cpu")
    log_p = energy.log_prob(torch.as_tensor(points, dtype=torch.float64)).numpy().reshape(resolution, resolution)
    _, marginals = grid_marginals(log_p, axes)
    return axes, log_p, marginals
