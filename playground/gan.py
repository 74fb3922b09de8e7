"""Generative adversarial networks in 2D: the nets, the objectives, and a trainer stepper.

A generator G pushes latent noise z ~ Q forward to samples G(z); a discriminator (or
critic) D scores points. Training alternates m steps that improve D with one step
that improves G (lecture 003):

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]          (original minimax)

The same game is played with other objectives (``OBJECTIVES``): the non-saturating
generator loss, least squares (Mao et al., 2017), Wasserstein with weight clipping
(Arjovsky et al., 2017) or a gradient penalty (Gulrajani et al., 2017), and the
hinge loss (Lim & Ye, 2017). D returns a raw score s(x); for the log-loss objectives
D(x) = sigmoid(s(x)) is the probability that x is real.

``GANTrainer`` is a ``Stepper``: ``step_discriminator()``, ``step_generator()``,
``step(n)`` (n full iterations), snapshots every ``snapshot_every`` iterations for a
history scrubber, and the arrays a figure needs (samples, critic grid, generator
gradient arrows, the warped latent grid).

>>> import numpy as np
>>> from playground.targets import get_target
>>> trainer = GANTrainer(get_target("ring8").sample(512, seed=0), GANConfig(width=16), seed=0, device="cpu")
>>> sorted(trainer.step(2))[:3]
['d_fake', 'd_loss', 'd_real']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.device import cpu_threads, default_device, to_numpy, to_tensor
from playground import nets
from playground.metrics import mmd, mode_coverage, precision_recall, sliced_wasserstein
from playground.nets import ACTIVATIONS, OPTIMIZERS, SpectralNormLinear, power_iteration  # noqa: F401 (re-exported)
from playground.seeding import derive_seed, torch_generator
from playground.stepper import TorchStepper

OBJECTIVES: dict[str, str] = {
    "minimax": "Original minimax (saturating)",
    "nonsaturating": "Non-saturating",
    "least_squares": "Least squares (LSGAN)",
    "wgan_clip": "WGAN, weight clipping",
    "wgan_gp": "WGAN-GP, gradient penalty",
    "hinge": "Hinge",
    "f_kl": "f-GAN: KL",
    "f_reverse_kl": "f-GAN: reverse KL",
    "f_js": "f-GAN: Jensen–Shannon",
    "f_pearson": "f-GAN: Pearson χ²",
    "f_hellinger": "f-GAN: squared Hellinger",
    "f_tv": "f-GAN: total variation",
}
PROBABILITY_OBJECTIVES = ("minimax", "nonsaturating")  # D(x) = sigmoid(score) is a probability
NOISES = ("gaussian", "uniform")


# ----------------------------------------------------------------------------------
# f-GAN (Nowozin et al., 2016): D_f(P||Q) >= sup_T E_P[T] - E_Q[f*(T)], T = g_f(V(x))
# ----------------------------------------------------------------------------------

def _js_f(u: torch.Tensor) -> torch.Tensor:
    return u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2)


# name -> (f(u), output activation g_f(v), conjugate f*(t), f'(u)): the generator of the divergence,
# the activation that keeps T in the domain of f*, the convex conjugate, and the optimal T* = f'(p/q).
F_DIVERGENCES: dict[str, tuple[Callable, Callable, Callable, Callable]] = {
    "kl": (lambda u: u * torch.log(u), lambda v: v, lambda t: torch.exp(t - 1), lambda u: 1 + torch.log(u)),
    "reverse_kl": (lambda u: -torch.log(u), lambda v: -torch.exp(-v), lambda t: -1 - torch.log(-t),
                   lambda u: -1 / u),
    "js": (_js_f, lambda v: math.log(2) - F.softplus(-v), lambda t: -torch.log(2 - torch.exp(t)),
           lambda u: torch.log(2 * u / (u + 1))),
    "pearson": (lambda u: (u - 1) ** 2, lambda v: v, lambda t: t ** 2 / 4 + t, lambda u: 2 * (u - 1)),
    "hellinger": (lambda u: (torch.sqrt(u) - 1) ** 2, lambda v: 1 - torch.exp(-v), lambda t: t / (1 - t),
                  lambda u: 1 - 1 / torch.sqrt(u)),
    "tv": (lambda u: 0.5 * torch.abs(u - 1), lambda v: 0.5 * torch.tanh(v), lambda t: t,
           lambda u: 0.5 * torch.sign(u - 1)),
}
# f*(g_f(v)) written directly in v where the composition is numerically kinder.
_CONJUGATE_OF_ACTIVATION: dict[str, Callable] = {
    "reverse_kl": lambda v: v - 1,
    "js": lambda v: F.softplus(v) - math.log(2),
    "hellinger": lambda v: torch.exp(v) - 1,
}


SMOOTHING = 0.1  # kernel bandwidth, in units of the data's scale, for the smoothed true divergence


def f_name(objective: str) -> str | None:
    """The f-divergence of an f-GAN objective ("f_kl" -> "kl"), None for the other objectives."""
    return objective[2:] if objective.startswith("f_") else None


def f_terms(real_scores: torch.Tensor, fake_scores: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(E_P[T], E_Q[f*(T)]) for raw scores v, T = g_f(v): their difference is the variational
    lower bound on D_f(P||Q) that the discriminator maximises."""
    _, activation, conjugate, _ = F_DIVERGENCES[name]
    direct = _CONJUGATE_OF_ACTIVATION.get(name)
    fake_term = direct(fake_scores) if direct else conjugate(activation(fake_scores))
    return activation(real_scores).mean(), fake_term.mean()


def f_divergence_on_grid(name: str, p: np.ndarray, q: np.ndarray, cell: float, floor: float = 1e-12) -> float:
    """D_f(P||Q) = sum q f(p / q) * cell for densities on a grid (both floored at ``floor`` so that
    the ratio stays finite; KL-type divergences of disjoint supports are then large, not infinite)."""
    f = F_DIVERGENCES[name][0]
    p = torch.as_tensor(np.maximum(p, floor), dtype=torch.float64)
    q = torch.as_tensor(np.maximum(q, floor), dtype=torch.float64)
    return float((q * f(p / q)).sum() * cell)


def drs_acceptance(logits: torch.Tensor, max_logit: float, gamma: float = 0.0, eps: float = 1e-6) -> torch.Tensor:
    """Discriminator rejection sampling's acceptance probability (Azadi et al., 2019):
    F(x) = s(x) - D_M - log(1 - exp(s(x) - D_M - eps)) - gamma, accept with sigmoid(F(x)).
    With gamma = 0 this is exp(s(x) - D_M): plain rejection sampling with bound M = e^{D_M} when
    s = log p/q. gamma > 0 rejects more (sharper, fewer samples), gamma < 0 accepts more."""
    d = torch.clamp(logits - max_logit, max=0.0)
    return torch.sigmoid(d - torch.log1p(-torch.exp(d - eps)) - gamma)


# ----------------------------------------------------------------------------------
# Objectives: pure functions of the discriminator's raw scores
# ----------------------------------------------------------------------------------

def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, objective: str) -> torch.Tensor:
    """The loss D minimises (the negative of what it maximises), from raw scores s(x).

    minimax / non-saturating: -E log sigmoid(s(x)) - E log(1 - sigmoid(s(G(z))))
    least squares: 1/2 E (s(x) - 1)^2 + 1/2 E s(G(z))^2
    WGAN (clip, GP): E s(G(z)) - E s(x)   (the penalty is added separately)
    hinge: E max(0, 1 - s(x)) + E max(0, 1 + s(G(z)))
    f-GAN: -(E g_f(s(x)) - E f*(g_f(s(G(z)))))   (the negative variational bound on D_f(P||Q))
    """
    if objective in PROBABILITY_OBJECTIVES:
        # log sigmoid(s) = -softplus(-s) and log(1 - sigmoid(s)) = -softplus(s), computed stably.
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
    if objective == "least_squares":
        return 0.5 * (real_scores - 1).square().mean() + 0.5 * fake_scores.square().mean()
    if objective in ("wgan_clip", "wgan_gp"):
        return fake_scores.mean() - real_scores.mean()
    if objective == "hinge":
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
    if f_name(objective) in F_DIVERGENCES:
        real_term, fake_term = f_terms(real_scores, fake_scores, f_name(objective))
        return fake_term - real_term
    raise ValueError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")


def generator_loss(fake_scores: torch.Tensor, objective: str) -> torch.Tensor:
    """The loss G minimises, from D's raw scores on generated samples.

    minimax: E log(1 - sigmoid(s(G(z))))    (saturates when D rejects the samples)
    non-saturating: -E log sigmoid(s(G(z)))
    least squares: 1/2 E (s(G(z)) - 1)^2
    WGAN, hinge: -E s(G(z))
    f-GAN: -E g_f(s(G(z)))   (Nowozin et al.'s practical step: G maximises T on its samples, as the
           non-saturating loss does; descending the bound itself, +E f*(T), is unstable for KL)
    """
    if objective == "minimax":
        return -F.softplus(fake_scores).mean()
    if objective == "nonsaturating":
        return F.softplus(-fake_scores).mean()
    if objective == "least_squares":
        return 0.5 * (fake_scores - 1).square().mean()
    if objective in ("wgan_clip", "wgan_gp", "hinge"):
        return -fake_scores.mean()
    if f_name(objective) in F_DIVERGENCES:  # Nowozin et al.'s practical generator step (their eq. 8)
        return -F_DIVERGENCES[f_name(objective)][1](fake_scores).mean()
    raise ValueError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     mixing: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E_xhat (|grad_x s(xhat)| - 1)^2 at xhat = a x + (1 - a) G(z).

    ``mixing`` holds the weights a ~ U(0, 1), shape (B, 1). The gradient is kept in
    the graph (create_graph) so that the penalty itself can be differentiated.
    """
    interpolates = (mixing * real + (1 - mixing) * fake).requires_grad_(True)
    scores = critic(interpolates)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return (gradients.norm(dim=1) - 1).square().mean()


# ----------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------

def spectral_norm_estimate(weight: torch.Tensor, n_iter: int = 50, seed: int = 0) -> float:
    """The largest singular value of a matrix, by ``n_iter`` power iterations."""
    generator = torch_generator(seed, weight.device)
    u = torch.randn(weight.shape[0], generator=generator, device=weight.device).to(weight.dtype)
    u = F.normalize(u, dim=0)
    u, v = power_iteration(weight, u, n_iter)
    return float(u @ weight @ v)


def mlp(in_features: int, out_features: int, depth: int, width: int, activation: str, generator: torch.Generator,
        device: torch.device, spectral_norm: bool = False) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units (``playground.nets.mlp``)."""
    return nets.mlp([in_features] + [width] * depth + [out_features], activation, generator=generator,
                    device=device, spectral_norm=spectral_norm)


SILU_LIPSCHITZ = 1.0998393201285284  # max_x d/dx x sigmoid(x) (at x ~ 2.4); ReLU, leaky ReLU, tanh, ELU: 1


def lipschitz_bound(net: nn.Sequential) -> float:
    """Upper bound on the Lipschitz constant of an MLP: prod_l sigma(W_l) times the activations'
    constants (1 for ReLU, leaky ReLU, tanh and ELU; 1.0998 for SiLU)."""
    bound = 1.0
    for layer in net:
        if isinstance(layer, nn.SiLU):
            bound *= SILU_LIPSCHITZ
        if isinstance(layer, nn.Linear):
            sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
            if isinstance(layer, SpectralNormLinear):
                sigma /= float(layer.u @ layer.weight.detach() @ layer.v) or 1.0
            bound *= sigma
    return bound


def sample_noise(n: int, dim: int, noise: str, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Latent codes z ~ Q: standard Gaussian or uniform on [-1, 1]^dim, shape (n, dim)."""
    if noise == "gaussian":
        return torch.randn(n, dim, generator=generator, device=device)
    if noise == "uniform":
        return 2 * torch.rand(n, dim, generator=generator, device=device) - 1
    raise ValueError(f"unknown noise {noise!r}; choose from {', '.join(NOISES)}")


# ----------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GANConfig:
    """Everything that defines one training run (hashable: the page rebuilds on change)."""

    objective: str = "nonsaturating"
    latent_dim: int = 2  # 2 lets the page draw the generator manifold
    noise: str = "gaussian"
    depth: int = 2  # hidden layers of G
    width: int = 128
    activation: str = "relu"
    d_depth: int = 2
    d_width: int = 128
    d_activation: str = "relu"
    spectral_norm: bool = False  # on D
    optimizer: str = "adam"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1  # m: discriminator steps per generator step
    batch_size: int = 256
    clip: float = 0.01  # WGAN weight clipping range [-c, c]
    gp_weight: float = 0.1  # lambda of the gradient penalty (10 in the paper's image setting)
    snapshot_every: int = 50  # iterations between snapshots (history scrubber, quality curves)
    max_snapshots: int = 120  # beyond this, every other snapshot is dropped
    n_show: int = 1000  # generated / real points drawn
    n_eval: int = 500  # of those, the points the quality metrics use (their cost grows as n_eval^2)
    grid_resolution: int = 56  # critic heatmap is grid_resolution^2 (drawn smoothed; 80 cost 10 ms a frame)
    n_arrows: int = 60  # enough to read the field without hiding the points
    manifold_lines: int = 15  # latent grid of manifold_lines x manifold_lines

    def validate(self) -> None:
        """Raise ValueError with a readable message for an unusable configuration."""
        checks = [
            (self.objective in OBJECTIVES, f"objective must be one of {', '.join(OBJECTIVES)}"),
            (self.noise in NOISES, f"noise must be one of {', '.join(NOISES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.activation in ACTIVATIONS and self.d_activation in ACTIVATIONS, "unknown activation"),
            (self.latent_dim >= 1, "latent dimension must be at least 1"),
            (min(self.depth, self.d_depth) >= 1 and min(self.width, self.d_width) >= 1, "nets need a hidden layer"),
            (self.lr_g > 0 and self.lr_d > 0, "learning rates must be positive"),
            (self.d_steps >= 1, "D steps per G step must be at least 1"),
            (self.batch_size >= 2, "batch size must be at least 2"),
            (self.clip > 0 and self.gp_weight >= 0, "clip must be positive and the penalty weight non-negative"),
            (self.snapshot_every >= 1 and self.max_snapshots >= 2, "snapshot settings must be positive"),
            (min(self.n_show, self.n_eval) >= 10, "the quality metrics need at least 10 points"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """Adam with the GAN betas (0.5, 0.9), RMSprop (WGAN's choice) or plain SGD."""
    return nets.make_optimizer(name, params, lr, betas=(0.5, 0.9))


class GANTrainer(TorchStepper):
    """Alternating GAN training on 2D data, as a ``Stepper``.

    Parameters
    ----------
    data : (n, 2) real samples (the training set; a batch is drawn from it each step).
    config : ``GANConfig``.
    seed : every random draw (init, batches, noise) derives from it.
    modes : optional (K, 2) mode centres (mixture targets) for the coverage metric,
        with ``mode_radius`` the distance that counts as "on the mode".
    bounds : ((x0, x1), (y0, y1)) box for the critic heatmap; default: data range padded.
    threads : intra-op CPU threads while training and drawing (see ``cpu_threads``).
    """

    def __init__(self, data: Any, config: GANConfig | None = None, *, seed: int = 0,
                 modes: np.ndarray | None = None, mode_radius: float | None = None,
                 bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
                 device: torch.device | str | None = None, threads: int | None = 1) -> None:
        super().__init__()
        self.threads = threads
        self.config = config = config or GANConfig()
        config.validate()
        self.device = torch.device(device) if device is not None else default_device()
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != 2 or len(data) < 10:
            raise ValueError("GAN training needs 2D data with at least 10 rows")
        if not np.isfinite(data).all():
            raise ValueError("the data contain NaN or infinite values")
        # Train in standardised coordinates (one isotropic scale keeps the geometry);
        # everything returned to the caller is in the data's own units.
        self.shift = data.mean(axis=0)
        self.scale = float(data.std()) or 1.0
        self.data = to_tensor((data - self.shift) / self.scale, self.device)
        low, high = data.min(axis=0), data.max(axis=0)
        pad = 0.15 * (high - low) + 1e-6
        self.bounds = bounds or ((low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1]))
        self.modes = None if modes is None else np.asarray(modes, dtype=np.float64)
        self.mode_radius = mode_radius
        self.seed = int(seed)

        init = torch_generator(derive_seed(seed, "gan-init"), self.device)
        self.generator = mlp(config.latent_dim, 2, config.depth, config.width, config.activation, init, self.device)
        self.discriminator = mlp(2, 1, config.d_depth, config.d_width, config.d_activation, init, self.device,
                                 spectral_norm=config.spectral_norm)
        self.opt_g = make_optimizer(config.optimizer, self.generator.parameters(), config.lr_g)
        self.opt_d = make_optimizer(config.optimizer, self.discriminator.parameters(), config.lr_d)
        self.rng = torch_generator(derive_seed(seed, "gan-train"), self.device)
        # Fixed draws for the pictures and the metrics, so frames differ only by training.
        view = torch_generator(derive_seed(seed, "gan-view"), self.device)
        self.z_show = sample_noise(config.n_show, config.latent_dim, config.noise, view, self.device)
        real_index = torch.randint(len(self.data), (config.n_show,), generator=view, device=self.device)
        self.real_show = to_numpy(self.data[real_index]) * self.scale + self.shift
        self.d_updates = 0
        self.g_updates = 0
        self.last: dict[str, float] = {}
        self.snapshots: list[dict[str, Any]] = []
        self._checkpoint: dict[str, Any] | None = None
        self._frame_cache: tuple[int, int, dict[str, Any]] | None = None
        self.switches: list[tuple[int, str]] = []  # (iteration, new objective) for each switch_objective
        with cpu_threads(self.threads):
            self._take_snapshot()

    # --- changing the objective mid-run ------------------------------------------------
    def can_switch_to(self, config: GANConfig) -> bool:
        """True when ``config`` differs from this run's only in the objective."""
        return config != self.config and replace(self.config, objective=config.objective) == config

    def switch_objective(self, objective: str) -> None:
        """Train on with another objective, keeping both networks, their optimisers and the run so far
        (the vanishing-gradient lesson: the same D, another generator loss). The caller holds
        ``lock_for(self)``."""
        config = replace(self.config, objective=objective)
        config.validate()
        self.config = config
        self.last = {}
        self._frame_cache = None
        self.switches.append((self.iteration, objective))
        if self.snapshots and self.snapshots[-1]["iteration"] == self.iteration:
            self.snapshots.pop()  # re-scored below under the new objective
        with cpu_threads(self.threads):
            self._take_snapshot(self.iteration)

    # --- one update of each player ---------------------------------------------------
    def _real_batch(self) -> torch.Tensor:
        index = torch.randint(len(self.data), (self.config.batch_size,), generator=self.rng, device=self.device)
        return self.data[index]

    def _noise(self, n: int) -> torch.Tensor:
        return sample_noise(n, self.config.latent_dim, self.config.noise, self.rng, self.device)

    def _discriminator_update(self) -> dict[str, float]:
        """One gradient step on D's objective (plus penalty / clipping); returns its numbers."""
        config = self.config
        real = self._real_batch()
        with torch.no_grad():
            fake = self.generator(self._noise(config.batch_size))
        scores = self.discriminator(torch.cat([real, fake]))
        real_scores, fake_scores = scores[: len(real)], scores[len(real):]
        loss = discriminator_loss(real_scores, fake_scores, config.objective)
        numbers = {"d_loss": loss.detach()}
        if config.objective == "wgan_gp":
            mixing = torch.rand(len(real), 1, generator=self.rng, device=self.device)
            penalty = gradient_penalty(self.discriminator, real, fake, mixing)
            loss = loss + config.gp_weight * penalty
            numbers["penalty"] = penalty.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if config.objective == "wgan_clip":
            with torch.no_grad():
                for parameter in self.discriminator.parameters():
                    parameter.clamp_(-config.clip, config.clip)
        self.d_updates += 1
        with torch.no_grad():
            numbers["g_loss"] = generator_loss(fake_scores, config.objective)
            numbers["d_real"], numbers["d_fake"] = self._score_summary(real_scores, fake_scores)
        return {k: float(v) for k, v in numbers.items()}

    def _generator_update(self) -> dict[str, float]:
        """One gradient step on G's objective; returns its loss and gradient norm."""
        fake_scores = self.discriminator(self.generator(self._noise(self.config.batch_size)))
        loss = generator_loss(fake_scores, self.config.objective)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.stack(torch._foreach_norm([p.grad for p in self.generator.parameters()])).norm()
        self.opt_g.step()
        self.g_updates += 1
        return {"g_loss": float(loss.detach()), "g_grad_norm": float(grad_norm)}

    def _score_summary(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean D on real and fake: a probability for the log-loss objectives, else the raw score."""
        if self.config.objective in PROBABILITY_OBJECTIVES:
            return torch.sigmoid(real_scores).mean(), torch.sigmoid(fake_scores).mean()
        return real_scores.mean(), fake_scores.mean()

    # --- the Stepper protocol --------------------------------------------------------
    def step(self, n: int = 1) -> dict[str, float]:
        """``n`` full iterations (m discriminator updates, then one generator update, each)."""
        with cpu_threads(self.threads):
            return super().step(n)

    def _step(self) -> dict[str, float]:
        phase = getattr(self, "_phase", "both")
        if phase in ("both", "d"):
            for _ in range(self.config.d_steps if phase == "both" else 1):
                self.last.update(self._discriminator_update())
        if phase in ("both", "g"):
            self.last.update(self._generator_update())
        metrics = dict(self.last)
        metrics.update(d_updates=self.d_updates, g_updates=self.g_updates)
        if (self.iteration + 1) % self.config.snapshot_every == 0 and self._parameters_finite():
            metrics.update(self._take_snapshot(self.iteration + 1)["quality"])
        return metrics

    def step_discriminator(self) -> dict[str, float]:
        """One discriminator update only (counts as one iteration in the history)."""
        return self._step_phase("d")

    def step_generator(self) -> dict[str, float]:
        """One generator update only (counts as one iteration in the history)."""
        return self._step_phase("g")

    def _step_phase(self, phase: str) -> dict[str, float]:
        self._phase = phase
        try:
            return self.step(1)
        finally:
            del self._phase

    # --- what the guard snapshots (see TorchStepper) ------------------------------------
    modules, optimizers, generators = ("generator", "discriminator"), ("opt_g", "opt_d"), ("rng",)
    values = ("d_updates", "g_updates", "last")

    def _parameters(self) -> list[torch.Tensor]:
        return [*self.generator.parameters(), *self.discriminator.parameters()]

    def _parameters_finite(self) -> bool:
        return bool(torch.isfinite(torch.stack(torch._foreach_norm(self._parameters()))).all())

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["snapshots"] = len(self.snapshots)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        del self.snapshots[state["snapshots"]:]

    # --- what the figures need ---------------------------------------------------------
    def _to_model(self, points: np.ndarray) -> torch.Tensor:
        return to_tensor((np.asarray(points, dtype=np.float64) - self.shift) / self.scale, self.device)

    def _to_data(self, tensor: torch.Tensor) -> np.ndarray:
        return to_numpy(tensor).astype(np.float64) * self.scale + self.shift

    def generate(self, n: int, seed: int) -> np.ndarray:
        """``n`` samples G(z) in data units, from noise drawn with ``seed``."""
        generator = torch_generator(seed, self.device)
        with torch.no_grad():
            return self._to_data(self.generator(sample_noise(n, self.config.latent_dim, self.config.noise,
                                                             generator, self.device)))

    def critic(self, points: np.ndarray) -> np.ndarray:
        """D at each point: the probability of "real" (log-loss objectives) or the raw critic score."""
        self.discriminator.eval()
        try:
            with torch.no_grad():
                scores = self.discriminator(self._to_model(points))[:, 0]
                if self.config.objective in PROBABILITY_OBJECTIVES:
                    scores = torch.sigmoid(scores)
        finally:
            self.discriminator.train()
        return to_numpy(scores).astype(np.float64)

    def critic_grid(self, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xs, ys, values (resolution, resolution)) of D over the plotting box; values[i, j] at (xs[j], ys[i])."""
        resolution = resolution or self.config.grid_resolution
        xs = np.linspace(*self.bounds[0], resolution)
        ys = np.linspace(*self.bounds[1], resolution)
        mesh_x, mesh_y = np.meshgrid(xs, ys)
        values = self.critic(np.stack([mesh_x.ravel(), mesh_y.ravel()], axis=1)).reshape(resolution, resolution)
        return xs, ys, values

    def generator_gradients(self, latent: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Samples G(z) and the direction each is pushed by G's loss: -d loss_G / d x at x = G(z).

        Both in data units, shapes (n, 2). This is the per-sample force the next
        generator step applies (before it is pulled back through G's weights).
        """
        latent = self.z_show[: self.config.n_arrows] if latent is None else latent
        with torch.no_grad():
            samples = self.generator(latent)
        samples.requires_grad_(True)
        self.discriminator.eval()
        try:
            # Sum, not mean, so each sample's arrow does not shrink with the batch size.
            loss = generator_loss(self.discriminator(samples), self.config.objective) * len(samples)
            (gradient,) = torch.autograd.grad(loss, samples)
        finally:
            self.discriminator.train()
            self.discriminator.zero_grad(set_to_none=True)
        # x_data = shift + scale * x_model, so d loss / d x_data = (d loss / d x_model) / scale.
        return self._to_data(samples.detach()), -to_numpy(gradient).astype(np.float64) / self.scale

    def manifold(self, lines: int | None = None) -> np.ndarray:
        """Image of a latent grid through G, (lines, lines, 2) in data units.

        The grid spans [-2, 2]^2 (Gaussian noise) or [-1, 1]^2 (uniform) in the first
        two latent coordinates; further coordinates are held at 0.
        """
        lines = lines or self.config.manifold_lines
        extent = 2.0 if self.config.noise == "gaussian" else 1.0
        ticks = torch.linspace(-extent, extent, lines, device=self.device)
        grid_a, grid_b = torch.meshgrid(ticks, ticks, indexing="ij")
        latent = torch.zeros(lines * lines, self.config.latent_dim, device=self.device)
        latent[:, 0] = grid_a.reshape(-1)
        if self.config.latent_dim > 1:
            latent[:, 1] = grid_b.reshape(-1)
        with torch.no_grad():
            return self._to_data(self.generator(latent)).reshape(lines, lines, 2)

    def quality(self, fake: np.ndarray) -> dict[str, float]:
        """Quality of ``fake`` against the fixed real set: precision, recall, sliced W2, MMD^2, coverage.

        Both sets are cut to ``n_eval`` points (the first ones: the fixed draws, so curves are comparable).
        """
        real, fake = self.real_show[: self.config.n_eval], np.asarray(fake)[: self.config.n_eval]
        precision, recall = precision_recall(real, fake, k=5, device=self.device)
        result = {
            "precision": precision, "recall": recall,
            "sliced_w2": sliced_wasserstein(real, fake, n_proj=64, seed=0, device=self.device),
            "mmd2": mmd(real, fake, bandwidth=0.2 * self.scale, device=self.device),
        }
        if self.modes is not None and self.mode_radius is not None:
            coverage = mode_coverage(fake, self.modes, self.mode_radius, device=self.device)
            result["modes_covered"] = float(coverage.covered)
            result["high_quality"] = coverage.high_quality
        name = f_name(self.config.objective)
        if name is not None:
            result["f_smoothed"] = self.smoothed_f_divergence(np.asarray(fake))
        if self.config.objective in ("wgan_clip", "wgan_gp"):
            result.update(self.critic_check(real, fake))
        if self.config.objective in PROBABILITY_OBJECTIVES:  # D_f for f = js is 2 JS
            result["js_smoothed"] = 0.5 * self.smoothed_f_divergence(np.asarray(fake), name="js")
        return result

    def critic_check(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        """What a WGAN critic's score gap is, on the same two point sets, in the standardised units it is
        trained in: gap = mean f(real) - mean f(fake) <= K W1(real, fake), with K <= ``lipschitz_bound``
        (Kantorovich-Rubinstein: W1 is the supremum of the gap over 1-Lipschitz f). Clipping makes f
        K-Lipschitz for some K it does not control; the gradient penalty pushes |grad f| towards 1 only
        softly, at sampled points. W1 of the two sets is exact (an optimal assignment)."""
        from playground.evaluation import wasserstein1_exact

        size = min(len(real), len(fake))
        real, fake = np.asarray(real)[:size], np.asarray(fake)[:size]
        with torch.no_grad():
            gap = float(self.discriminator(self._to_model(real)).mean() - self.discriminator(self._to_model(fake)).mean())
        return {"critic_gap": gap, "critic_lipschitz": lipschitz_bound(self.discriminator),
                "w1_standardised": wasserstein1_exact(real, fake) / self.scale}

    def smoothed_f_divergence(self, fake: np.ndarray, resolution: int = 64, name: str | None = None) -> float:
        """D_f between the real and the generated point clouds, each smoothed by the same Gaussian kernel
        (bandwidth ``SMOOTHING x`` the data's scale) and evaluated on a grid over the plotting box. Smoothing
        both sides by one kernel is a Markov kernel applied to both: by the data-processing inequality
        the value is a lower bound on D_f(P||Q_G), and 0 when the two clouds coincide. The real side is
        computed once (the real points never change). ``name``: the divergence (default: the f-GAN's)."""
        from playground.density import kde_log_density_grid

        axes = [np.linspace(lo, hi, resolution) for lo, hi in self.bounds]
        cell = float(np.prod([a[1] - a[0] for a in axes]))
        h = SMOOTHING * self.scale

        def smoothed(points: np.ndarray) -> np.ndarray:
            density = np.exp(kde_log_density_grid(axes, points, h, device=self.device)).ravel()
            return density / (density.sum() * cell)

        if getattr(self, "_real_smoothed", None) is None or len(self._real_smoothed) != resolution ** 2:
            self._real_smoothed = smoothed(self.real_show)
        return f_divergence_on_grid(name or f_name(self.config.objective), self._real_smoothed,
                                    smoothed(np.asarray(fake)), cell)

    def rejection_sample(self, n_candidates: int, gamma: float = 0.0, seed: int = 0,
                         burn_in: int = 10_000) -> dict[str, Any]:
        """Discriminator rejection sampling (Azadi et al., 2019) for the log-loss objectives: D's logit
        s(x) estimates log p(x)/q_G(x) at D's optimum; D_M is the largest logit over ``burn_in``
        generated points (raised by any larger candidate); each candidate is accepted with
        probability ``drs_acceptance(s, D_M, gamma)``."""
        if self.config.objective not in PROBABILITY_OBJECTIVES:
            raise ValueError("rejection sampling needs D(x) = sigmoid(s(x)): use the minimax or non-saturating "
                             "objective (its logit estimates log p/q)")
        generator = torch_generator(derive_seed(seed, "drs"), self.device)
        self.discriminator.eval()
        try:
            with torch.no_grad():
                burn = self.discriminator(self.generator(sample_noise(burn_in, self.config.latent_dim,
                                                                       self.config.noise, generator, self.device)))
                candidates = self.generator(sample_noise(n_candidates, self.config.latent_dim, self.config.noise,
                                                         generator, self.device))
                logits = self.discriminator(candidates)[:, 0]
                max_logit = float(torch.maximum(burn.max(), logits.max()))
                probability = drs_acceptance(logits, max_logit, gamma)
                accepted = torch.rand(n_candidates, generator=generator, device=self.device) < probability
        finally:
            self.discriminator.train()
        return {"points": self._to_data(candidates), "accepted": to_numpy(accepted).astype(bool),
                "probability": to_numpy(probability).astype(np.float64), "max_logit": max_logit,
                "rate": float(accepted.double().mean())}

    def frame(self, *, with_quality: bool = True) -> dict[str, Any]:
        """Everything one picture needs, at the current state (arrays in data units)."""
        with torch.no_grad():
            fake = self._to_data(self.generator(self.z_show))
        xs, ys, values = self.critic_grid()
        arrow_base, arrow_vector = self.generator_gradients()
        frame = {
            "iteration": self.iteration, "real": self.real_show, "fake": fake,
            "grid_x": xs, "grid_y": ys, "critic": values, "critic_is_probability":
                self.config.objective in PROBABILITY_OBJECTIVES,
            "arrow_base": arrow_base, "arrow_vector": arrow_vector, "manifold": self.manifold(),
        }
        if with_quality:
            frame["quality"] = self.quality(fake)
        return frame

    def _take_snapshot(self, iteration: int = 0) -> dict[str, Any]:
        frame = self.frame()
        frame["iteration"] = iteration
        self.snapshots.append(frame)
        if len(self.snapshots) > self.config.max_snapshots:
            # Keep the first and every other one after it: the history thins out evenly.
            self.snapshots[:] = self.snapshots[:1] + self.snapshots[2::2]
        return frame

    def snapshot(self) -> dict[str, Any]:
        """The current frame (cached until the state changes), without quality metrics.

        Quality metrics cost more than the frame itself (29 ms vs 16 ms at 2,000 points) and
        are recorded with every history snapshot (``snapshot_every`` iterations); the live
        picture is drawn at every Play tick, so it does not recompute them.
        """
        key = (self.iteration, self.d_updates + self.g_updates)
        if self._frame_cache is None or self._frame_cache[:2] != key:
            with cpu_threads(self.threads):
                self._frame_cache = (*key, self.frame(with_quality=False))
        return self._frame_cache[2]


def trainer_for_target(target: Any, config: GANConfig | None = None, *, seed: int = 0, n_data: int = 5000,
                       device: torch.device | str | None = None, threads: int | None = 1) -> GANTrainer:
    """A trainer on ``n_data`` samples of a registry target (or a CSV's rows), with its modes when known."""
    data = getattr(target, "data", None)
    if data is None or len(data) == 0:
        data = target.sample(n_data, seed=derive_seed(seed, "gan-data"))
    modes = radius = None
    mixture = getattr(target, "mixture", None)
    if mixture is not None and len(mixture.weights) > 1:
        modes = mixture.means
        radius = 3 * float(np.sqrt(np.max(np.linalg.eigvalsh(mixture.covariances))))
    return GANTrainer(data, config, seed=seed, modes=modes, mode_radius=radius, bounds=tuple(target.bounds),
                      device=device, threads=threads)


def with_overrides(config: GANConfig, **changes: Any) -> GANConfig:
    """A copy of ``config`` with some fields changed (validated)."""
    new = replace(config, **changes)
    new.validate()
    return new
