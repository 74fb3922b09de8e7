"""Diffusion models and flow matching in 2D: schedules, the exact noised mixture, a trainer, samplers.

One picture holds every model of this module: a **noising path** ``x_t = s(t) x_0 + sigma(t) eps``
with ``eps ~ N(0, I)`` and ``t`` running from ``t_min`` (data) to ``t_max`` (noise).

* ``Schedule`` objects give ``scale(t) = s(t)`` and ``sigma(t)``; the variance-preserving
  ones (DDPM linear, cosine) have ``s^2 + sigma^2 = 1``, the variance-exploding ones (score
  SDE, EDM) have ``s = 1``; ``LINEAR_PATH`` (``s = 1 - t``, ``sigma = t``) is the straight
  path of flow matching / rectified flow. From ``s`` and ``sigma`` follow the forward SDE
  ``dx = f(t) x dt + g(t) dw`` with ``f = d log s / dt`` and ``g^2 = d sigma^2/dt - 2 f sigma^2``,
  the reverse SDE ``dx = [f x - g^2 score] dt + g dw_bar`` and the probability-flow ODE
  ``dx = [f x - g^2 score / 2] dt``.
* A mixture target noised along any path is again a mixture (``noised_mixture``): its exact
  score ``score_mixture`` and exact ``eps`` let every sampler run without a network, so the
  sampler's error and the network's error can be told apart.
* Every sampler takes a **noise predictor** ``eps_fn(x, t) -> eps_hat`` (``score = -eps_hat /
  sigma``): a trained ``Denoiser`` or the exact one. A network trained on the flow-matching
  velocity is converted to the same form (``Denoiser`` does it), so DDPM, DDIM, Euler-Maruyama,
  Euler/Heun ODEs and the ODE likelihood all run from one network and one initial noise.

>>> import torch
>>> round(float(DDPM_LINEAR.alpha_bar(torch.tensor(1.0))), 6)  # exp(-(0.1 + 19.9 / 2))
4.3e-05
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from playground.device import default_device, to_numpy
from playground.metrics import mmd, precision_recall, sliced_wasserstein
from playground.nets import make_optimizer, mlp
from playground.seeding import derive_seed, rng, torch_generator
from playground.stepper import TorchStepper
from playground.distributions import GaussianMixture, MixtureParams
from playground.targets import Target

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# ----------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A noising path ``x_t = s(t) x_0 + sigma(t) eps`` on ``t in [t_min, t_max]``.

    Subclasses give ``scale`` and ``sigma`` (tensors in, tensors out); their time
    derivatives come from autograd, so a new schedule is two formulas.
    """

    name: str
    label: str
    t_min: float = 1e-3
    t_max: float = 1.0

    def scale(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """DDPM's cumulative product, s(t)^2 (meaningful for variance-preserving paths)."""
        return self.scale(t) ** 2

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio s(t)^2 / sigma(t)^2."""
        return (self.scale(t) / self.sigma(t)) ** 2

    def derivatives(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(s, sigma, ds/dt, dsigma/dt) at each t (autograd of the two formulas)."""
        with torch.enable_grad():
            tt = t.detach().clone().requires_grad_(True)
            s, sig = self.scale(tt), self.sigma(tt)
            ds, dsig = (torch.autograd.grad(v.sum(), tt, retain_graph=True, allow_unused=True,
                                            materialize_grads=True)[0] for v in (s, sig))
        return s.detach(), sig.detach(), ds, dsig

    def sde(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(t), g(t)^2) of the forward SDE dx = f x dt + g dw."""
        s, sig, ds, dsig = self.derivatives(t)
        f = ds / s
        return f, 2 * sig * dsig - 2 * f * sig**2

    def prior_std(self) -> float:
        """Standard deviation of the Gaussian the samplers start from: sqrt(s(T)^2 + sigma(T)^2)."""
        t = torch.tensor(self.t_max, dtype=torch.float64)
        return float(torch.sqrt(self.scale(t) ** 2 + self.sigma(t) ** 2))


@dataclass(frozen=True)
class LinearBeta(Schedule):
    """DDPM's linear schedule in continuous time: beta(t) = beta_min + t (beta_max - beta_min),
    alpha_bar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2)).
    Discretised with N steps (``betas(N)``) it is DDPM's beta_i from beta_min/N to beta_max/N."""

    beta_min: float = 0.1
    beta_max: float = 20.0

    def _log_alpha_bar(self, t):
        return -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)

    def scale(self, t):
        return torch.exp(0.5 * self._log_alpha_bar(t))

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(self._log_alpha_bar(t)))

    def betas(self, n: int) -> np.ndarray:
        return np.linspace(self.beta_min / n, self.beta_max / n, n)

    def alphas_cumprod(self, n: int) -> np.ndarray:
        """DDPM's discrete alpha_bar_i = prod_{j <= i} (1 - beta_j), i = 1..N."""
        return np.cumprod(1.0 - self.betas(n))


@dataclass(frozen=True)
class Cosine(Schedule):
    """Nichol & Dhariwal's cosine schedule: alpha_bar(t) = cos^2((t + c)/(1 + c) pi/2) / cos^2(c/(1 + c) pi/2).
    alpha_bar reaches 0 at t = 1, so sampling starts just before (t_max = 0.999)."""

    offset: float = 0.008

    def _ratio(self, t):
        c = self.offset
        return torch.cos((t + c) / (1 + c) * math.pi / 2) / math.cos(c / (1 + c) * math.pi / 2)

    def scale(self, t):
        return self._ratio(t)

    def sigma(self, t):
        return torch.sqrt(torch.clamp(1 - self._ratio(t) ** 2, min=0.0))

    def alphas_cumprod(self, n: int, max_beta: float = 0.999) -> np.ndarray:
        """The discrete schedule: beta_i = min(1 - abar(i/N) / abar((i-1)/N), max_beta), cumulated."""
        grid = torch.arange(n + 1, dtype=torch.float64) / n
        abar = to_numpy(self._ratio(grid) ** 2)
        betas = np.minimum(1 - abar[1:] / abar[:-1], max_beta)
        return np.cumprod(1 - betas)


@dataclass(frozen=True)
class Geometric(Schedule):
    """Variance exploding (score SDE): s = 1, sigma(t) = sigma_min (sigma_max / sigma_min)^t."""

    sigma_min: float = 0.01
    sigma_max: float = 10.0

    def scale(self, t):
        return t * 0 + 1  # (a constant that autograd can differentiate)

    def sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t


@dataclass(frozen=True)
class EDM(Schedule):
    """Karras et al. (EDM): s = 1 and sigma(t) = (sigma_min^(1/rho) + t (sigma_max^(1/rho) - sigma_min^(1/rho)))^rho,
    so that equal steps in t are EDM's rho-spaced noise levels (most steps at small sigma)."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    t_min: float = 0.0

    def scale(self, t):
        return t * 0 + 1  # (a constant that autograd can differentiate)

    def sigma(self, t):
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return (lo + t * (hi - lo)) ** self.rho


@dataclass(frozen=True)
class StraightPath(Schedule):
    """Flow matching's straight path (rectified flow): x_t = (1 - t) x_0 + t eps."""

    t_max: float = 1.0

    def scale(self, t):
        return 1 - t

    def sigma(self, t):
        return t


DDPM_LINEAR = LinearBeta("linear", "DDPM linear β")
COSINE = Cosine("cosine", "Cosine (improved DDPM)", t_max=0.999)
VE = Geometric("ve", "Variance exploding (σ geometric)")
EDM_SIGMA = EDM("edm", "EDM σ (ρ = 7)")
LINEAR_PATH = StraightPath("straight", "Straight path (flow matching)", t_min=1e-3, t_max=0.999)
SCHEDULES: dict[str, Schedule] = {s.name: s for s in (DDPM_LINEAR, COSINE, VE, EDM_SIGMA, LINEAR_PATH)}


def schedule_curves(schedule: Schedule, n: int = 200) -> dict[str, np.ndarray]:
    """t, s(t), sigma(t), alpha_bar(t) and log10 SNR on a grid, for the schedule plot."""
    t = torch.linspace(max(schedule.t_min, 1e-4), schedule.t_max, n, dtype=torch.float64)
    return {"t": to_numpy(t), "scale": to_numpy(schedule.scale(t)), "sigma": to_numpy(schedule.sigma(t)),
            "alpha_bar": to_numpy(schedule.alpha_bar(t)), "log10_snr": to_numpy(torch.log10(schedule.snr(t)))}


# ----------------------------------------------------------------------------------
# The exact noised mixture
# ----------------------------------------------------------------------------------


def noised_mixture(params: MixtureParams, schedule: Schedule, t: float,
                   device: torch.device | None = None) -> GaussianMixture:
    """The exact marginal q(x_t) of a Gaussian-mixture target (``t`` a float):
    p_t = sum_k w_k N(s mu_k, s^2 Sigma_k + sigma^2 I), as a float64 ``GaussianMixture``."""
    tt = torch.tensor(float(t), dtype=torch.float64)
    s, sig = float(schedule.scale(tt)), float(schedule.sigma(tt))
    d = params.means.shape[1]
    covariances = s**2 * np.asarray(params.covariances) + sig**2 * np.eye(d)
    return GaussianMixture(params.weights, s * np.asarray(params.means), covariances, device=device or default_device(),
                           dtype=torch.float64)


def most_likely_component(mixture: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """The most likely component of each point (its class, for guidance)."""
    return mixture.component_log_prob(x).argmax(dim=1)


class ExactNoisePredictor:
    """eps*(x, t) = -sigma(t) grad log p_t(x) for a mixture target: the best any network can do.

    Noised mixtures are cached per time value (samplers ask for the same grid again)."""

    def __init__(self, params: MixtureParams, schedule: Schedule, device: torch.device | None = None) -> None:
        self.params, self.schedule = params, schedule
        self.device = device or default_device()
        self._cache: dict[float, GaussianMixture] = {}

    def mixture(self, t: float) -> GaussianMixture:
        key = round(float(t), 12)
        if key not in self._cache:
            self._cache[key] = noised_mixture(self.params, self.schedule, key, self.device)
        return self._cache[key]

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self.mixture(t).score(x).to(x.dtype)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t0 = float(t.reshape(-1)[0])
        sigma = float(self.schedule.sigma(torch.tensor(t0, dtype=torch.float64)))
        return -sigma * self.score(x, t0)


def forward_noise(x0: torch.Tensor, schedule: Schedule, t: float, seed: int) -> torch.Tensor:
    """Samples of q(x_t): s(t) x_0 + sigma(t) eps, eps drawn from ``seed``."""
    generator = torch_generator(seed, x0.device)
    tt = torch.tensor(float(t), dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return float(schedule.scale(tt)) * x0 + float(schedule.sigma(tt)) * eps


# ----------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------

OBJECTIVES = {"eps": "ε-prediction (denoising score matching)", "velocity": "velocity (flow matching)"}


class Denoiser(nn.Module):
    """A time-conditioned MLP that predicts the noise eps (or the velocity dx_t/dt of the path).

    Inputs: ``x / sqrt(s^2 sigma_data^2 + sigma^2)`` (unit scale at every t, EDM's c_in), Fourier
    features of the noise level ``log(sigma / s)``, and, for a conditional model, a one-hot class
    (the last slot is "no class", used with probability ``p_uncond`` in training).
    ``eps(x, t, labels)`` always returns the noise prediction; a velocity model is converted
    through eps = (s u - s' x) / (s sigma' - s' sigma) (u the velocity, ' the time derivative).
    """

    def __init__(self, schedule: Schedule, *, objective: str = "eps", hidden: int = 128, depth: int = 3,
                 n_frequencies: int = 8, n_classes: int = 0, sigma_data: float = 1.0, seed: int = 0,
                 device: torch.device | None = None) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
        self.schedule, self.objective, self.n_classes = schedule, objective, int(n_classes)
        self.sigma_data = float(sigma_data)
        device = device or default_device()
        self.register_buffer("frequencies", (2.0 ** torch.arange(n_frequencies, device=device)) * 0.5)
        n_in = 2 + 2 * n_frequencies + (self.n_classes + 1 if self.n_classes else 0)
        self.net = mlp([n_in] + [hidden] * depth + [2], "silu", generator=torch_generator(seed, device),
                       device=device)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The raw network output (eps or velocity) at points x (n, 2), times t (n,) or (1,).

        The first layer acts on [x c_in, sin, cos (time), one-hot class]; it is applied block by
        block, W [a, b, c] = W_a a + W_b b + W_c c, so that one time shared by all points (a sampler's
        step) computes its time features and their product with W_b once, and a class is a column
        lookup: the same function as concatenating the inputs, with far less work per sampling step.
        """
        t = t.reshape(-1).to(torch.float32)
        if t.numel() != 1:
            t = t.expand(x.shape[0])
        s, sig = self.schedule.scale(t), self.schedule.sigma(t)
        c_in = torch.rsqrt(s**2 * self.sigma_data**2 + sig**2)
        level = torch.log(sig / s.clamp_min(1e-8)).clamp(-12.0, 12.0)[:, None] / 4
        time_features = torch.cat([torch.sin(level * self.frequencies), torch.cos(level * self.frequencies)], dim=1)
        first = self.net[0]
        dim, n_time = x.shape[1], time_features.shape[1]
        weight = first.weight
        hidden = torch.addmm(first.bias, time_features, weight[:, dim:dim + n_time].T)  # (1 or n, H)
        hidden = torch.addmm(hidden.expand(x.shape[0], -1), x * c_in[:, None], weight[:, :dim].T)
        if self.n_classes:
            if labels is None:
                labels = torch.full((x.shape[0],), self.n_classes, device=x.device, dtype=torch.long)
            hidden = hidden + weight[:, dim + n_time:].T[labels]
        return self.net[1:](hidden)

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self(x, t, labels)
        if self.objective == "eps":
            return out
        s, sig, ds, dsig = self.schedule.derivatives(t.reshape(-1).to(torch.float64))
        s, sig, ds, dsig = (v.to(x.dtype)[:, None] for v in (s, sig, ds, dsig))
        return (s * out - ds * x) / (s * dsig - ds * sig)

    def noise_predictor(self, label: int | None = None, guidance: float = 1.0) -> EpsFn:
        """eps_fn(x, t) for the samplers; with a class, classifier-free guidance:
        eps = eps(x, t, none) + w (eps(x, t, class) - eps(x, t, none))."""
        def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            x32 = x.to(torch.float32)
            if label is None or not self.n_classes:
                return self.eps(x32, t).to(x.dtype)
            cond = self.eps(x32, t, torch.full((x.shape[0],), int(label), device=x.device, dtype=torch.long))
            if guidance != 1.0:
                free = self.eps(x32, t)
                cond = free + guidance * (cond - free)
            return cond.to(x.dtype)
        return eps_fn


# ----------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffusionConfig:
    schedule: str = "linear"
    objective: str = "eps"
    hidden: int = 128
    depth: int = 3
    lr: float = 2e-3
    batch_size: int = 256
    n_data: int = 4096
    conditional: bool = False
    p_uncond: float = 0.2
    seed: int = 0


class DiffusionTrainer(TorchStepper):
    """Trains a ``Denoiser`` on a 2D target: each step draws a batch x_0, times t ~ U(t_min, t_max)
    and noise eps, forms x_t = s x_0 + sigma eps and takes one Adam step on
    |eps_hat - eps|^2 (``objective="eps"``) or |u_hat - (s' x_0 + sigma' eps)|^2 (``"velocity"``;
    on the straight path, the flow-matching loss |u_hat - (eps - x_0)|^2).

    A conditional model (mixture targets) learns the class of each point (its most likely
    component), replaced by "no class" with probability ``p_uncond``, for classifier-free guidance.
    """

    def __init__(self, target: Target, config: DiffusionConfig = DiffusionConfig(),
                 device: torch.device | None = None) -> None:
        super().__init__()
        self.config, self.target = config, target
        self.device = device or default_device()
        self.schedule = SCHEDULES[config.schedule]
        data = target.sample(config.n_data, derive_seed(config.seed, "diffusion-data"))
        self.data = torch.as_tensor(data, dtype=torch.float32, device=self.device)
        self.n_classes = 0
        self.labels = None
        if config.conditional:
            if target.mixture is None:
                raise ValueError("class-conditional training needs a mixture target (its components are the classes)")
            exact = noised_mixture(target.mixture, self.schedule, self.schedule.t_min, self.device)
            self.labels = most_likely_component(exact, self.data)
            self.n_classes = len(target.mixture.weights)
        sigma_data = float(self.data.std())
        self.model = Denoiser(self.schedule, objective=config.objective, hidden=config.hidden, depth=config.depth,
                              n_classes=self.n_classes, sigma_data=sigma_data, seed=config.seed, device=self.device)
        self.optimizer = make_optimizer("adam", self.model.parameters(), config.lr, fused=True)
        self.generator = torch_generator(derive_seed(config.seed, "diffusion-batches"), self.device)

    # --- what the guard snapshots (see TorchStepper) ------------------------------------
    modules, optimizers, generators = ("model",), ("optimizer",), ("generator",)
    guard_every = 10  # the NaN guard copies the state every 10 steps (a failure may undo up to 9 good steps)

    def loss(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
             labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.objective == "eps":  # no time derivatives needed (they cost two autograd passes)
            s, sig = self.schedule.scale(t)[:, None], self.schedule.sigma(t)[:, None]
            target = eps
        else:
            s, sig, ds, dsig = (v.to(x0.dtype)[:, None] for v in self.schedule.derivatives(t.to(torch.float64)))
            target = ds * x0 + dsig * eps
        out = self.model(s * x0 + sig * eps, t, labels)
        return ((out - target) ** 2).sum(dim=1).mean()

    def _step(self) -> dict[str, float]:
        g, n = self.generator, self.config.batch_size
        index = torch.randint(0, self.data.shape[0], (n,), generator=g, device=self.device)
        x0 = self.data[index]
        lo, hi = self.schedule.t_min, self.schedule.t_max
        t = lo + (hi - lo) * torch.rand(n, generator=g, device=self.device)
        eps = torch.randn(x0.shape, generator=g, device=self.device)
        labels = None
        if self.n_classes:
            drop = torch.rand(n, generator=g, device=self.device) < self.config.p_uncond
            labels = torch.where(drop, torch.full_like(self.labels[index], self.n_classes), self.labels[index])
        loss = self.loss(x0, t, eps, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach())}

    def snapshot(self) -> dict:
        return {"iteration": self.iteration, "loss": self.metric("loss")}


# ----------------------------------------------------------------------------------
# Samplers: pure functions of a noise predictor, a schedule and the initial noise
# ----------------------------------------------------------------------------------

SAMPLERS = {
    "ddpm": "DDPM ancestral (reverse SDE)",
    "ddim": "DDIM (η)",
    "euler_maruyama": "Euler–Maruyama (reverse SDE)",
    "euler": "Probability-flow ODE, Euler",
    "heun": "Probability-flow ODE, Heun (EDM 2nd order)",
}
STOCHASTIC = {"ddpm", "euler_maruyama"}


def initial_noise(n: int, schedule: Schedule, seed: int, device: torch.device | None = None) -> torch.Tensor:
    """x_T ~ N(0, prior_std^2 I): the same starting points for every sampler."""
    device = device or default_device()
    generator = torch_generator(seed, device)
    return schedule.prior_std() * torch.randn(int(n), 2, generator=generator, device=device)


def time_grid(schedule: Schedule, n_steps: int, device: torch.device | None = None) -> torch.Tensor:
    """n_steps + 1 times from t_max down to t_min, equally spaced (float64)."""
    return torch.linspace(schedule.t_max, schedule.t_min, int(n_steps) + 1, dtype=torch.float64,
                          device=device or default_device())


def _t(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return value.reshape(1).to(device=like.device, dtype=like.dtype)


def ode_drift(eps_fn: EpsFn, schedule: Schedule, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Probability-flow ODE: dx/dt = f x - g^2 score / 2 = f x + g^2 eps_hat / (2 sigma)."""
    f, g2 = schedule.sde(t.reshape(1).to(torch.float64))
    sigma = schedule.sigma(t.reshape(1).to(torch.float64))
    eps = eps_fn(x, _t(t, x))
    return float(f) * x + float(g2 / (2 * sigma)) * eps


def sample(eps_fn: EpsFn, schedule: Schedule, x_init: torch.Tensor, n_steps: int, method: str = "ddim", *,
           eta: float = 0.0, seed: int = 0, keep_path: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run one sampler from ``x_init`` (at t_max) to t_min in ``n_steps`` steps.

    Returns (final points, path); path holds the points at every time of ``time_grid`` when
    ``keep_path`` (else it is empty). Stochastic samplers draw their noise from ``seed``.
    """
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose from {', '.join(SAMPLERS)}")
    if n_steps < 1:
        raise ValueError("n_steps must be at least 1")
    times = time_grid(schedule, n_steps, x_init.device)
    generator = torch_generator(seed, x_init.device)
    x = x_init.clone()
    path = [x.clone()] if keep_path else []
    if method == "ddpm":
        method, eta = "ddim", 1.0
    with torch.no_grad():
        for t_now, t_next in zip(times[:-1], times[1:]):
            if method == "ddim":
                x = ddim_step(eps_fn, schedule, x, t_now, t_next, eta, generator)
            elif method == "euler_maruyama":
                f, g2 = schedule.sde(t_now.reshape(1))
                sigma = schedule.sigma(t_now.reshape(1))
                score = -eps_fn(x, _t(t_now, x)) / float(sigma)
                dt = float(t_now - t_next)  # > 0: time runs backwards
                noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = x - (float(f) * x - float(g2) * score) * dt + math.sqrt(float(g2) * dt) * noise
            else:
                dt = float(t_next - t_now)
                d_now = ode_drift(eps_fn, schedule, x, t_now)
                if method == "euler":
                    x = x + dt * d_now
                else:  # Heun: average the slopes at both ends
                    x_euler = x + dt * d_now
                    x = x + 0.5 * dt * (d_now + ode_drift(eps_fn, schedule, x_euler, t_next))
            if keep_path:
                path.append(x.clone())
    return x, path


def ddim_step(eps_fn: EpsFn, schedule: Schedule, x: torch.Tensor, t_now: torch.Tensor, t_next: torch.Tensor,
              eta: float, generator: torch.Generator) -> torch.Tensor:
    """One generalised DDIM step from t to s < t:
    x0_hat = (x - sigma_t eps_hat) / s_t,
    x_s = s_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,  c = eta * sqrt(sigma_{t|s}^2 sigma_s^2 / sigma_t^2),
    sigma_{t|s}^2 = sigma_t^2 - (s_t / s_s)^2 sigma_s^2. eta = 0: deterministic; eta = 1: DDPM's ancestral step."""
    s_t, sig_t = float(schedule.scale(t_now)), float(schedule.sigma(t_now))
    s_s, sig_s = float(schedule.scale(t_next)), float(schedule.sigma(t_next))
    eps = eps_fn(x, _t(t_now, x))
    x0 = (x - sig_t * eps) / s_t
    cond_var = max(sig_t**2 - (s_t / s_s) ** 2 * sig_s**2, 0.0)
    c = eta * math.sqrt(cond_var * sig_s**2 / sig_t**2)
    x = s_s * x0 + math.sqrt(max(sig_s**2 - c**2, 0.0)) * eps
    if c > 0:
        x = x + c * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x


def evaluations_per_step(method: str) -> int:
    """Network evaluations per step (NFE = steps x this)."""
    return 2 if method == "heun" else 1


def divergence_2d(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), exact divergence of fn at each point) for a 2D vector field, by two backward passes."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(2):
            grad, = torch.autograd.grad(out[:, i].sum(), x, retain_graph=i == 0)
            div = div + grad[:, i]
    return out.detach(), div.detach()


def ode_log_likelihood(eps_fn: EpsFn, schedule: Schedule, x: torch.Tensor, n_steps: int = 200) -> torch.Tensor:
    """log p_{t_min}(x) by the instantaneous change of variables along the probability-flow ODE:
    log p_{t_min}(x) = log N(x_T; 0, prior_std^2 I) + int_{t_min}^{T} div v(x_t, t) dt, integrated
    forward with Heun's method; the divergence is exact (2D: two backward passes)."""
    times = torch.flip(time_grid(schedule, n_steps, x.device), dims=[0])
    x = x.detach().to(torch.float64)
    integral = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for t_now, t_next in zip(times[:-1], times[1:]):
        dt = float(t_next - t_now)
        d1, div1 = divergence_2d(lambda y: ode_drift(eps_fn, schedule, y, t_now), x)
        x_euler = x + dt * d1
        d2, div2 = divergence_2d(lambda y: ode_drift(eps_fn, schedule, y, t_next), x_euler)
        x = x + 0.5 * dt * (d1 + d2)
        integral = integral + 0.5 * dt * (div1 + div2)
    std = schedule.prior_std()
    prior = -0.5 * (x**2).sum(dim=1) / std**2 - 2 * math.log(std) - math.log(2 * math.pi)
    return prior + integral


# ----------------------------------------------------------------------------------
# Quality against the number of network evaluations
# ----------------------------------------------------------------------------------


def sample_quality(samples: torch.Tensor | np.ndarray, reference: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Sliced W2, MMD^2 and k-NN precision / recall of samples against fresh target samples."""
    samples = to_numpy(samples).astype(np.float64)
    if not np.isfinite(samples).all():
        return {"sliced_w2": math.nan, "mmd2": math.nan, "precision": math.nan, "recall": math.nan}
    precision, recall = precision_recall(reference, samples, k=5)
    return {"sliced_w2": sliced_wasserstein(samples, reference, n_proj=64, seed=seed),
            "mmd2": mmd(samples, reference), "precision": precision, "recall": recall}


def quality_against_nfe(eps_fn: EpsFn, schedule: Schedule, reference: np.ndarray, methods: Sequence[str],
                        nfes: Sequence[int], *, n: int = 1000, seed: int = 0, eta: float = 0.0
                        ) -> dict[str, dict[str, np.ndarray]]:
    """For each sampler and each budget of network evaluations, the quality of n samples from the
    same initial noise: {method: {"nfe": ..., "sliced_w2": ..., "mmd2": ..., "precision": ..., "recall": ...}}."""
    x_init = initial_noise(n, schedule, seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for method in methods:
        rows = []
        for nfe in nfes:
            steps = max(1, int(nfe) // evaluations_per_step(method))
            final, _ = sample(eps_fn, schedule, x_init, steps, method, eta=eta, seed=derive_seed(seed, method))
            rows.append({"nfe": steps * evaluations_per_step(method), **sample_quality(final, reference, seed)})
        out[method] = {key: np.array([row[key] for row in rows], dtype=np.float64) for key in rows[0]}
    return out


def score_field(eps_fn: EpsFn, schedule: Schedule, t: float, bounds, resolution: int = 15,
                device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (m, 2) and the score -eps_hat / sigma(t) at them (m, 2)."""
    device = device or default_device()
    axes = [torch.linspace(lo, hi, resolution, device=device) for lo, hi in bounds]
    gx, gy = torch.meshgrid(*axes, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    tt = torch.tensor([float(t)], device=device)
    sigma = float(schedule.sigma(tt.to(torch.float64)))
    with torch.no_grad():
        score = -eps_fn(points, tt) / sigma
    return to_numpy(points).astype(np.float64), to_numpy(score).astype(np.float64)


def noised_density_grid(params: MixtureParams, schedule: Schedule, t: float, bounds,
                        resolution: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x axis, y axis, q_t on the grid (resolution, resolution)) of a mixture target."""
    axes = [np.linspace(lo, hi, resolution) for lo, hi in bounds]
    gx, gy = np.meshgrid(*axes, indexing="xy")
    points = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float64, device=default_device())
    density = torch.exp(noised_mixture(params, schedule, t).log_prob(points))
    return axes[0], axes[1], to_numpy(density).reshape(resolution, resolution)


def score_gap(eps_fn: EpsFn, params: MixtureParams, schedule: Schedule, times: Sequence[float], *,
              n: int = 512, seed: int = 0) -> np.ndarray:
    """E_{x ~ q_t} |eps_hat(x, t) - eps*(x, t)|^2 at each t: the network's error in noise units
    (the denoising loss minus its irreducible part), on fresh samples of the exact noised mixture."""
    device = default_device()
    exact = ExactNoisePredictor(params, schedule, device)
    x0 = torch.as_tensor(GaussianMixture.from_params(params, "cpu").sample(n, rng(seed)), dtype=torch.float32,
                         device=device)
    gaps = []
    for i, t in enumerate(times):
        xt = forward_noise(x0, schedule, t, derive_seed(seed, "gap", i))
        tt = torch.full((1,), float(t), device=device)
        with torch.no_grad():
            gaps.append(float(((eps_fn(xt, tt) - exact(xt, tt)) ** 2).sum(dim=1).mean()))
    return np.array(gaps)


def run_samplers(eps_fn: EpsFn, schedule: Schedule, methods: Sequence[str], n_steps: int, *, n: int = 600,
                 eta: float = 0.0, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Each sampler from the same initial noise: {method: {"path": (steps + 1, n, 2), "final": (n, 2)}}.
    Heun gets n_steps // 2 steps, so that every sampler spends about the same network evaluations."""
    x_init = initial_noise(n, schedule, seed)
    out = {}
    for method in methods:
        steps = max(1, n_steps // evaluations_per_step(method))
        final, path = sample(eps_fn, schedule, x_init, steps, method, eta=eta, seed=derive_seed(seed, method),
                             keep_path=True)
        out[method] = {"path": to_numpy(torch.stack(path)).astype(np.float64),
                       "final": to_numpy(final).astype(np.float64)}
    return out


def coefficients(schedule: Schedule, t: float) -> dict[str, float]:
    """s(t), sigma(t), f(t) and g(t)^2 at one time, as floats (for the formula panels)."""
    tt = torch.tensor([float(t)], dtype=torch.float64)
    f, g2 = schedule.sde(tt)
    return {"s": float(schedule.scale(tt)), "sigma": float(schedule.sigma(tt)), "f": float(f), "g2": float(g2)}


def log_likelihoods(eps_fns: dict[str, EpsFn], params: MixtureParams, schedule: Schedule, points: np.ndarray,
                    n_steps: int = 100) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """True log q_{t_min} at the points, and the ODE estimate for each noise predictor."""
    x = torch.as_tensor(points, dtype=torch.float64, device=default_device())
    truth = to_numpy(noised_mixture(params, schedule, schedule.t_min).log_prob(x))
    return truth, {name: to_numpy(ode_log_likelihood(fn, schedule, x, n_steps)) for name, fn in eps_fns.items()}


def guidance_sweep(model: Denoiser, schedule: Schedule, label: int, mode_center: np.ndarray, reference: np.ndarray,
                   scales: Sequence[float], *, n: int = 600, n_steps: int = 50, radius: float = 0.36,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Classifier-free guidance at each scale w (DDIM, eta = 0, same noise): the fraction of samples on the
    chosen mode, and precision / recall against the whole target."""
    x_init = initial_noise(n, schedule, seed)
    rows = []
    for w in scales:
        final, _ = sample(model.noise_predictor(label=label, guidance=float(w)), schedule, x_init, n_steps, "ddim")
        points = to_numpy(final).astype(np.float64)
        on_mode = float((np.linalg.norm(points - np.asarray(mode_center), axis=1) < radius).mean())
        quality = sample_quality(points, reference, seed)
        rows.append({"w": float(w), "on_mode": on_mode, "precision": quality["precision"], "recall": quality["recall"]})
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}
