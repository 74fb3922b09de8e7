"""Energy-based models page benchmarks.

1. Langevin: 10,000 chains x 50 steps on a trained energy, our ``langevin`` against a bare PyTorch
   loop with the same autograd gradient and the same noise (results checked equal).
2. Training: 50 contrastive-divergence steps of ``EnergyTrainer`` (guard, history, buffer)
   against a bare loop of the same network, loss and Langevin negatives.
3. Wall time until the held-out log-likelihood on the 8-Gaussian ring is within 0.3 nats of the
   truth's (goal: 30 s on this CPU), for the settings of ``RING_SETTINGS``.
"""

from __future__ import annotations

import math
import time

import torch

from playground import energy as E
from playground.device import cpu_threads
from playground.seeding import torch_generator
from playground.targets import get_target

CPU = torch.device("cpu")
RING = get_target("ring8")
RING_SETTINGS = {
    "contrastive divergence (buffer)": E.EnergyConfig(method="cd", lr=5e-3, step_size=0.002, langevin_steps=40,
                                                      eval_every=50, seed=0),
    "denoising score matching": E.EnergyConfig(method="dsm", dsm_sigma=0.05, lr=5e-3, eval_every=50, seed=0),
    "exact maximum likelihood (Z on the grid, the page's reference)": E.EnergyConfig(method="exact", lr=5e-3,
                                                                                     eval_every=50, seed=0),
}


def _bare_langevin(model, x0: torch.Tensor, step: float, n_steps: int, seed: int) -> torch.Tensor:
    generator = torch_generator(seed, x0.device)
    x = x0.detach().clone()
    scale = math.sqrt(2 * step)
    for _ in range(n_steps):
        x.requires_grad_(True)
        grad, = torch.autograd.grad(model(x).sum(), x)
        x = (x - step * grad + scale * torch.randn(x.shape, generator=generator, dtype=x.dtype)).detach()
    return x


def _langevin(report) -> None:
    trainer = E.EnergyTrainer(RING, E.EnergyConfig(seed=0), CPU)
    trainer.step(20)
    model = trainer.model
    x0 = torch.rand(10_000, 2, generator=torch_generator(1, CPU)) * 6 - 3
    ours = E.langevin(model, x0, 0.01, 50, seed=2)[0]
    torch.testing.assert_close(ours, _bare_langevin(model, x0, 0.01, 50, seed=2))
    report("Langevin, 10,000 chains x 50 steps", lambda: E.langevin(model, x0, 0.01, 50, seed=2),
           lambda: _bare_langevin(model, x0, 0.01, 50, seed=2), "peer: a bare autograd loop, same noise",
           repeats=5)


def _training(report) -> None:
    config = E.EnergyConfig(seed=0, eval_every=10**9)

    def ours() -> None:
        E.EnergyTrainer(RING, config, CPU).step(50)

    def bare() -> None:
        trainer = E.EnergyTrainer(RING, config, CPU)  # the same data, network and optimiser
        model, optimizer, generator, data = trainer.model, trainer.optimizer, trainer.generator, trainer.data
        buffer = trainer.buffer
        for _ in range(50):
            batch = data[torch.randint(0, len(data), (config.batch_size,), generator=generator)]
            index = torch.randint(0, len(buffer), (config.batch_size,), generator=generator)
            negatives, _ = E.langevin(model, buffer[index], config.step_size, config.langevin_steps, generator)
            buffer[index] = negatives
            loss = E.contrastive_loss(model, batch, negatives, alpha=config.alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    report("EBM training, 50 CD steps (batch 256, 20 Langevin steps)", ours, bare,
           "peer: a bare PyTorch loop, same network, loss and negatives", repeats=3)


def _time_to_quality(report, cap: float = 120.0) -> None:
    for label, config in RING_SETTINGS.items():
        trainer = E.EnergyTrainer(RING, config, CPU)
        truth = trainer.true_log_likelihood
        start, reached, best = time.perf_counter(), None, -math.inf
        while time.perf_counter() - start < cap and reached is None:
            trainer.step(config.eval_every)
            values = trainer.metric("held_out_log_likelihood")
            last = float(values[~torch.isnan(torch.as_tensor(values))][-1])
            best = max(best, last)
            if truth - last <= 0.3:
                reached = time.perf_counter() - start
        report.measure(f"EBM on the ring, {label}: seconds to within 0.3 nats of the truth",
                       reached if reached is not None else float("nan"), "s",
                       f"{trainer.iteration} steps; truth {truth:.3f}, best {best:.3f} nats"
                       + ("" if reached is not None else f"; not reached in {cap:.0f} s"))


def run(report) -> None:
    with cpu_threads(1):
        _langevin(report)
        _training(report)
        _time_to_quality(report)
