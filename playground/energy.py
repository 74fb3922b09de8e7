"""Energy-based models in 2D: an energy network, Langevin sampling, and the partition function on a grid.

A model p_theta(x) = exp(-E_theta(x)) / Z(theta) is trained without ever computing Z:

* **Contrastive divergence** (maximum likelihood): grad_theta log p(x) = -grad E(x) + E_{u ~ p}[grad E(u)],
  so the loss ``mean E(data) - mean E(negatives)`` has the likelihood's gradient when the
  negatives are samples of the model. They come from short-run Langevin chains
  ``x <- x - eta grad_x E(x) + sqrt(2 eta) xi`` started from noise, from the last chains
  (persistent), or from a replay buffer.
* **Denoising score matching**: the score of the model is -grad_x E; regress it on the score
  of the noising kernel, (x - x_noisy) / sigma^2. No sampling during training.

In 2D, Z is a sum over a grid (``grid_log_partition``), so the page can show what textbooks
cannot: the normalised density, the true held-out log-likelihood during training, and how far
the short-run chains are from the model they are meant to sample.

>>> import torch
>>> quadratic = lambda x: 0.5 * (x ** 2).sum(dim=1)
>>> round(float(grid_log_partition(quadratic, ((-8, 8), (-8, 8)), 400)), 3)  # log(2 pi)
1.838
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from playground.device import default_device, to_numpy
from playground.metrics import sliced_wasserstein
from playground.nets import SpectralNormLinear, make_optimizer, mlp
from playground.seeding import derive_seed, torch_generator
from playground.stepper import TorchStepper
from playground.targets import Target

EnergyFn = Callable[[torch.Tensor], torch.Tensor]

METHODS = {"cd": "Contrastive divergence (Langevin negatives)", "dsm": "Denoising score matching",
           "exact": "Exact maximum likelihood (Z on the grid: 2D only)"}
STARTS = {"noise": "fresh noise every step", "persistent": "persistent chains", "buffer": "replay buffer"}


def energy_gradient(energy: EnergyFn, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """grad_x E(x) for each row of x."""
    with torch.enable_grad():
        x = x if x.requires_grad else x.detach().requires_grad_(True)
        grad, = torch.autograd.grad(energy(x).sum(), x, create_graph=create_graph)
    return grad


def langevin(energy: EnergyFn, x0: torch.Tensor, step_size: float, n_steps: int, seed: int | torch.Generator,
             *, keep_path: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Unadjusted Langevin: x <- x - eta grad E(x) + sqrt(2 eta) xi, ``n_steps`` times.
    Returns the final points and, with ``keep_path``, every intermediate state."""
    generator = seed if isinstance(seed, torch.Generator) else torch_generator(seed, x0.device)
    x = x0.detach().clone()
    path = [x.clone()] if keep_path else []
    noise_scale = math.sqrt(2 * step_size)
    for _ in range(int(n_steps)):
        grad = energy_gradient(energy, x)
        x = (x - step_size * grad + noise_scale * torch.randn(x.shape, generator=generator, device=x.device,
                                                               dtype=x.dtype)).detach()
        if keep_path:
            path.append(x.clone())
    return x, path


def _grid(bounds, resolution: int, device: torch.device) -> tuple[torch.Tensor, float]:
    axes = [torch.linspace(float(lo), float(hi), resolution, device=device, dtype=torch.float64) for lo, hi in bounds]
    gx, gy = torch.meshgrid(*axes, indexing="xy")
    cell = float((axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0]))
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1), cell


def grid_log_partition(energy: EnergyFn, bounds, resolution: int = 120,
                       device: torch.device | None = None) -> torch.Tensor:
    """log Z = log sum_cells exp(-E(cell centre)) * cell area, over the box ``bounds`` (the model is
    taken to live in the box: mass outside it is not counted)."""
    device = device or default_device()
    points, cell = _grid(bounds, resolution, device)
    with torch.no_grad():
        values = -energy(points.to(torch.float32)).to(torch.float64)
    return torch.logsumexp(values, dim=0) + math.log(cell)


def grid_partition_function(energy: EnergyFn, bounds, resolution: int = 120,
                            device: torch.device | None = None) -> float:
    """Z = integral over the box of exp(-E(x)) dx, by the same grid sum (``grid_log_partition`` is its log)."""
    return float(torch.exp(grid_log_partition(energy, bounds, resolution, device)))


def grid_log_prob(energy: EnergyFn, x: torch.Tensor, bounds, resolution: int = 120,
                  device: torch.device | None = None) -> torch.Tensor:
    """The exact model log-density in 2D: log p_theta(x) = -E(x) - log Z, Z by the grid over ``bounds``."""
    log_z = grid_log_partition(energy, bounds, resolution, device)
    with torch.no_grad():
        return -energy(x).to(torch.float64) - log_z


def grid_density(energy: EnergyFn, bounds, resolution: int = 120,
                 device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x axis, y axis, p_theta on the grid) with p normalised over the box."""
    device = device or default_device()
    points, cell = _grid(bounds, resolution, device)
    with torch.no_grad():
        log_p = -energy(points.to(torch.float32)).to(torch.float64)
    log_p = log_p - (torch.logsumexp(log_p, 0) + math.log(cell))
    axes = [np.linspace(float(lo), float(hi), resolution) for lo, hi in bounds]
    return axes[0], axes[1], to_numpy(torch.exp(log_p)).reshape(resolution, resolution)


def grid_sample(energy: EnergyFn, bounds, n: int, seed: int, resolution: int = 200,
                device: torch.device | None = None) -> torch.Tensor:
    """Exact samples of the grid model: a cell ~ p_theta, then uniform within the cell."""
    device = device or default_device()
    points, _ = _grid(bounds, resolution, device)
    with torch.no_grad():
        logits = -energy(points.to(torch.float32)).to(torch.float64)
    generator = torch_generator(seed, device)
    index = torch.multinomial(torch.softmax(logits, 0), int(n), replacement=True, generator=generator)
    widths = torch.tensor([(hi - lo) / (resolution - 1) for lo, hi in bounds], dtype=torch.float64, device=device)
    jitter = (torch.rand(int(n), 2, generator=generator, device=device, dtype=torch.float64) - 0.5) * widths
    return points[index] + jitter


class EnergyNet(nn.Module):
    """E_theta(x): an MLP 2 -> width -> width -> 1 with smooth (SiLU) activations, so that grad_x E is
    continuous for Langevin; optionally spectrally normalised (a Lipschitz energy)."""

    def __init__(self, width: int = 64, depth: int = 2, *, spectral_norm: bool = False, seed: int = 0,
                 device: torch.device | None = None) -> None:
        super().__init__()
        device = device or default_device()
        self.net = mlp([2] + [width] * depth + [1], "silu", generator=torch_generator(seed, device), device=device,
                       spectral_norm=spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(torch.float32))[:, 0]


def contrastive_loss(energy: EnergyFn, data: torch.Tensor, negatives: torch.Tensor,
                     negative_weights: torch.Tensor | None = None, alpha: float = 0.0) -> torch.Tensor:
    """mean E(data) - mean_w E(negatives) + alpha (mean E(data)^2 + mean E(negatives)^2).
    Its gradient in theta is minus the log-likelihood's when the negatives are model samples
    (or grid points weighted by p_theta)."""
    return contrastive_terms(energy(data), energy(negatives), negative_weights, alpha)


def contrastive_terms(e_data: torch.Tensor, e_neg: torch.Tensor, negative_weights: torch.Tensor | None = None,
                      alpha: float = 0.0) -> torch.Tensor:
    """``contrastive_loss`` from the energies of the data and of the negatives (already computed)."""
    weights = (torch.full_like(e_neg, 1.0 / len(e_neg)) if negative_weights is None
               else negative_weights.to(e_neg.dtype))
    loss = e_data.mean() - (weights * e_neg).sum()
    if alpha:
        loss = loss + alpha * ((e_data**2).mean() + (weights * e_neg**2).sum())
    return loss


@dataclass(frozen=True)
class EnergyConfig:
    method: str = "cd"
    start: str = "buffer"
    langevin_steps: int = 20
    step_size: float = 0.01
    buffer_size: int = 4096
    reinit: float = 0.05
    alpha: float = 0.01
    spectral_norm: bool = False
    dsm_sigma: float = 0.1
    grid_resolution: int = 100  # "exact": the grid whose p_theta-weighted points are the negatives
    width: int = 64
    lr: float = 2e-3
    batch_size: int = 256
    n_data: int = 4096
    eval_every: int = 25
    seed: int = 0


class EnergyTrainer(TorchStepper):
    """Trains an ``EnergyNet`` on a 2D target by contrastive divergence, denoising score matching, or
    exact maximum likelihood (the model's expectation over the grid: the reference, 2D only).
    Every ``eval_every`` steps (and at step 1) it records the grid log-likelihood of held-out data
    and the sliced W2 between the latest negatives and exact grid samples of the model."""

    def __init__(self, target: Target, config: EnergyConfig = EnergyConfig(), device: torch.device | None = None):
        super().__init__()
        if config.method not in METHODS:
            raise ValueError(f"unknown method {config.method!r}; choose from {', '.join(METHODS)}")
        if config.start not in STARTS:
            raise ValueError(f"unknown chain start {config.start!r}; choose from {', '.join(STARTS)}")
        self.config, self.target = config, target
        self.device = device or default_device()
        self.bounds = tuple(tuple(float(v) for v in b) for b in target.bounds)
        self.data = torch.as_tensor(target.sample(config.n_data, derive_seed(config.seed, "ebm-data")),
                                    dtype=torch.float32, device=self.device)
        self.held_out = torch.as_tensor(target.sample(2000, derive_seed(config.seed, "ebm-held-out")),
                                        dtype=torch.float32, device=self.device)
        self.model = EnergyNet(config.width, spectral_norm=config.spectral_norm, seed=config.seed, device=self.device)
        # Evaluation mode: a spectrally normalised layer then keeps its power-iteration vectors fixed during the
        # many forward passes of a step (Langevin, data, negatives); _step refreshes them once per step.
        self.model.eval()
        self.optimizer = make_optimizer("adam", self.model.parameters(), config.lr, betas=(0.0, 0.999))
        self.generator = torch_generator(derive_seed(config.seed, "ebm-steps"), self.device)
        self.buffer = self._noise(config.buffer_size if config.start == "buffer" else config.batch_size)
        self.negatives = self.buffer[: config.batch_size].clone()
        self.true_log_likelihood = (float(np.mean(target.log_prob(to_numpy(self.held_out))))
                                    if target.has_log_prob else None)

    def _noise(self, n: int) -> torch.Tensor:
        low = torch.tensor([b[0] for b in self.bounds], device=self.device)
        high = torch.tensor([b[1] for b in self.bounds], device=self.device)
        return low + (high - low) * torch.rand(n, 2, generator=self.generator, device=self.device)

    # --- what the guard snapshots (see TorchStepper) ------------------------------------
    modules, optimizers, generators = ("model",), ("optimizer",), ("generator",)
    tensors = ("buffer", "negatives")

    def _chain_starts(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        c, n = self.config, self.config.batch_size
        if c.start == "noise":
            return self._noise(n), None
        if c.start == "persistent":
            return self.buffer, None
        index = torch.randint(0, len(self.buffer), (n,), generator=self.generator, device=self.device)
        starts = self.buffer[index]
        fresh = torch.rand(n, generator=self.generator, device=self.device) < c.reinit
        starts = torch.where(fresh[:, None], self._noise(n), starts)
        return starts, index

    def _step(self) -> dict[str, float]:
        c = self.config
        for layer in self.model.modules():
            if isinstance(layer, SpectralNormLinear):
                layer.refresh(1)
        batch = self.data[torch.randint(0, len(self.data), (c.batch_size,), generator=self.generator,
                                        device=self.device)]
        metrics: dict[str, float] = {}
        if c.method == "cd":
            starts, index = self._chain_starts()
            negatives, _ = langevin(self.model, starts, c.step_size, c.langevin_steps, self.generator)
            negatives = negatives.clamp(min=torch.tensor([b[0] for b in self.bounds], device=self.device) - 1,
                                        max=torch.tensor([b[1] for b in self.bounds], device=self.device) + 1)
            if c.start == "persistent":
                self.buffer = negatives
            elif c.start == "buffer":
                self.buffer[index] = negatives  # in place: the guard keeps its own copy
            self.negatives = negatives
            e_data, e_neg = self.model(batch), self.model(negatives)  # one forward pass for the loss and the numbers
            loss = contrastive_terms(e_data, e_neg, alpha=c.alpha)
            metrics.update(energy_data=float(e_data.detach().mean()), energy_negatives=float(e_neg.detach().mean()))
        elif c.method == "exact":
            # The log-likelihood's own gradient: E_data[grad E] - E_{p_theta}[grad E], the expectation under
            # p_theta taken over the grid with weights softmax(-E) (Z by quadrature, possible in 2D only).
            # What the sampling methods approximate; their gap to it is the sampler's bias.
            points, _ = _grid(self.bounds, c.grid_resolution, self.device)
            e_data, e_grid = self.model(batch), self.model(points.to(torch.float32))
            weights = torch.softmax(-e_grid.detach().to(torch.float64), 0)
            loss = contrastive_terms(e_data, e_grid, weights, alpha=c.alpha)
            # exact samples of the model (the "push up" set to draw): cells by their weights, jittered in the cell
            index = torch.multinomial(weights, c.batch_size, replacement=True, generator=self.generator)
            widths = torch.tensor([(hi - lo) / (c.grid_resolution - 1) for lo, hi in self.bounds], device=self.device)
            jitter = (torch.rand(c.batch_size, 2, generator=self.generator, device=self.device) - 0.5) * widths
            self.negatives = (points[index].to(torch.float32) + jitter).detach()
            metrics.update(energy_data=float(e_data.detach().mean()),
                           energy_negatives=float((weights * e_grid.detach().to(torch.float64)).sum()))
        else:
            noise = torch.randn(batch.shape, generator=self.generator, device=self.device)
            noisy = (batch + c.dsm_sigma * noise).requires_grad_(True)
            score = -energy_gradient(self.model, noisy, create_graph=True)
            loss = 0.5 * ((score + noise / c.dsm_sigma) ** 2).sum(1).mean() * c.dsm_sigma**2
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        metrics["loss"] = float(loss.detach())
        if self.iteration % c.eval_every == 0:
            metrics.update(self.evaluate())
        return metrics

    def evaluate(self) -> dict[str, float]:
        """Held-out log-likelihood on the grid, and sliced W2(negatives, exact samples of the model)."""
        log_z = grid_log_partition(self.model, self.bounds, 120, self.device)
        with torch.no_grad():
            log_likelihood = float((-self.model(self.held_out).to(torch.float64) - log_z).mean())  # grid_log_prob
        out = {"held_out_log_likelihood": log_likelihood, "log_z": float(log_z)}
        if self.config.method == "cd":
            exact = grid_sample(self.model, self.bounds, len(self.negatives), derive_seed(self.config.seed, "w2"),
                                device=self.device)
            out["chains_vs_model_sw2"] = sliced_wasserstein(self.negatives.to(torch.float64), exact, n_proj=64,
                                                            seed=0, device=self.device)
        return out

    def snapshot(self) -> dict:
        return {"iteration": self.iteration, "negatives": to_numpy(self.negatives)}

    def curves(self) -> dict[str, np.ndarray]:
        """Metric histories as arrays for the figures: per step, and at the evaluations."""
        steps = self.metric("iteration")
        out = {"step": steps}
        for name in ("energy_data", "energy_negatives", "loss"):
            values = self.metric(name)
            if np.isfinite(values).any():
                out[name] = values
        evaluated = np.isfinite(self.metric("held_out_log_likelihood"))
        out["iteration"] = steps[evaluated]
        out["eval_step"] = steps[evaluated]
        out["held_out_log_likelihood"] = self.metric("held_out_log_likelihood")[evaluated]
        if self.config.method == "cd":
            out["chains_vs_model_sw2"] = self.metric("chains_vs_model_sw2")[evaluated]
        return out

    def chains(self, n: int = 12, n_steps: int | None = None, seed: int = 0) -> np.ndarray:
        """The path (steps + 1, n, 2) of n fresh Langevin chains on the current energy, from uniform noise."""
        generator = torch_generator(derive_seed(seed, "ebm-chains"), self.device)
        low = torch.tensor([b[0] for b in self.bounds], device=self.device)
        high = torch.tensor([b[1] for b in self.bounds], device=self.device)
        starts = low + (high - low) * torch.rand(n, 2, generator=generator, device=self.device)
        steps = self.config.langevin_steps if n_steps is None else n_steps
        _, path = langevin(self.model, starts, self.config.step_size, steps, generator, keep_path=True)
        return to_numpy(torch.stack(path)).astype(np.float64)
