"""GAN page benchmarks.

1. Training throughput: the page's ``GANTrainer`` (G and D 2->128->128, batch 256, one D
   and one G step per iteration, non-saturating loss, Adam) against a plain PyTorch loop of
   the same nets, written the way a user would (nn.Sequential, BCEWithLogitsLoss, one
   thread like the trainer). The trainer's time includes its bookkeeping: the NaN guard's
   checkpoint, the history, and a snapshot (frame + quality metrics) every 100 iterations.
2. The same, while the page refreshes its figure: 20 iterations + one plane figure per tick.
3. Time to build one frame: 2,000 samples, a 100x100 critic grid, 200 arrows, a 15x15
   warped latent grid; compute and Plotly figure, against the compute alone.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from playground.figures.gan import gan_plane
from playground.device import cpu_threads
from playground.gan import GANConfig, trainer_for_target
from playground.targets import get_target

ITERATIONS = 100
STEPS_PER_TICK = 20


def _plain_loop(data: np.ndarray):
    """The reference: the textbook alternating loop, same nets, sizes and optimiser."""
    torch.manual_seed(0)

    def net(out: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, out))

    generator, discriminator = net(2), net(1)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    real_data = torch.as_tensor(data, dtype=torch.float32)
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(256, 1), torch.zeros(256, 1)
    losses = []

    def iterate(n: int) -> None:
        with cpu_threads(1):
            for _ in range(n):
                real = real_data[torch.randint(len(real_data), (256,))]
                fake = generator(torch.randn(256, 2)).detach()
                d_loss = bce(discriminator(real), ones) + bce(discriminator(fake), zeros)
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = bce(discriminator(generator(torch.randn(256, 2))), ones)
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                losses.append((d_loss.item(), g_loss.item()))

    return iterate


def _interleaved_ratios(ours, peer, rounds: int = 8) -> tuple[float, float]:
    """Medians over rounds of peer / ours in CPU time and in wall time, the two run back to
    back in each round, so that slow phases of a shared machine hit both alike."""
    cpu, wall = [], []
    for _ in range(rounds):
        cpu_0, wall_0 = time.process_time(), time.perf_counter()
        ours()
        cpu_1, wall_1 = time.process_time(), time.perf_counter()
        peer()
        cpu.append((time.process_time() - cpu_1) / (cpu_1 - cpu_0))
        wall.append((time.perf_counter() - wall_1) / (wall_1 - wall_0))
    return float(np.median(cpu)), float(np.median(wall))


def _cpu_seconds(fn, repeats: int = 3) -> float:
    """Median process CPU time of ``fn``: robust to other processes sharing the cores."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def run(report) -> None:
    target = get_target("ring8")
    config = GANConfig(width=128, d_width=128, batch_size=256)  # the page's defaults: a snapshot every 100
    trainer = trainer_for_target(target, config, seed=0, device="cpu")
    plain = _plain_loop(trainer_data(trainer))
    trainer.step(5)
    plain(5)
    row = report(f"train {ITERATIONS} iterations (2-128-128, batch 256)", lambda: trainer.step(ITERATIONS),
                 lambda: plain(ITERATIONS), note="peer: plain PyTorch loop; > 0.8 is the goal", repeats=5)
    report.measure("trainer iterations per second", ITERATIONS / row["ours_s"], "it/s")
    report.measure("plain loop iterations per second", ITERATIONS / row["peer_s"], "it/s")

    def ticks() -> None:  # what Play does: steps_per_tick iterations, then one figure
        for _ in range(ITERATIONS // STEPS_PER_TICK):
            trainer.step(STEPS_PER_TICK)
            gan_plane(trainer.snapshot(), trainer.bounds).to_json()

    row = report(f"train {ITERATIONS} it. + a figure every {STEPS_PER_TICK}", ticks, lambda: plain(ITERATIONS),
                 note="peer: plain loop without drawing", repeats=3)
    report.measure("iterations per second while drawing", ITERATIONS / row["ours_s"], "it/s")
    cpu, wall = _interleaved_ratios(lambda: trainer.step(ITERATIONS), lambda: plain(ITERATIONS))
    report.measure("ratio plain / trainer, CPU time", cpu, "x", note="interleaved rounds; goal >= 0.8")
    report.measure("ratio plain / trainer, wall time", wall, "x", note="interleaved rounds; goal >= 0.8")
    cpu, wall = _interleaved_ratios(ticks, lambda: plain(ITERATIONS), rounds=4)
    report.measure("ratio plain / (trainer + figure every 20), CPU", cpu, "x", note="interleaved; goal >= 0.8")
    report.measure("ratio plain / (trainer + figure every 20), wall", wall, "x", note="interleaved; goal >= 0.8")

    _f_objectives(report, target)

    frame_config = GANConfig(n_show=2000, grid_resolution=100, n_arrows=200, manifold_lines=15)
    framer = trainer_for_target(target, frame_config, seed=0, device="cpu")
    framer.step(10)

    def frame_and_figure() -> None:
        with cpu_threads(1):
            gan_plane(framer.frame(with_quality=False), framer.bounds)

    def frame_only() -> None:
        with cpu_threads(1):
            framer.frame(with_quality=False)

    row = report("one frame: 2000 samples, 100x100 grid, arrows, mesh", frame_and_figure, frame_only,
                 note="peer: the compute alone (the figure's cost is the difference)", repeats=7)
    report.measure("frame build time (compute + figure)", row["ours_s"] * 1e3, "ms", note="goal < 50 ms")
    report.measure("frame build CPU time (compute + figure)", _cpu_seconds(frame_and_figure, 5) * 1e3, "ms",
                   note="goal < 50 ms")
    start = time.perf_counter()
    with cpu_threads(1):
        framer.quality(framer.frame(with_quality=False)["fake"])
    report.measure("quality metrics at a snapshot (2000 points)", (time.perf_counter() - start) * 1e3, "ms")


def _f_objectives(report, target) -> None:
    """Each f-GAN objective: the trainer drawing a figure every 20 iterations (what Play does, the
    smoothed-divergence metric at every snapshot included) against the plain loop, interleaved."""
    from playground.gan import F_DIVERGENCES

    for name in F_DIVERGENCES:
        trainer = trainer_for_target(target, GANConfig(objective=f"f_{name}"), seed=0, device="cpu")
        plain = _plain_loop(trainer_data(trainer))
        trainer.step(5)
        plain(5)

        def ticks(trainer=trainer) -> None:
            for _ in range(ITERATIONS // STEPS_PER_TICK):
                trainer.step(STEPS_PER_TICK)
                gan_plane(trainer.snapshot(), trainer.bounds).to_json()

        cpu, wall = _interleaved_ratios(ticks, lambda plain=plain: plain(ITERATIONS), rounds=4)
        report.measure(f"f-GAN {name}: plain / (trainer + figure every 20), CPU", cpu, "x",
                       note=f"wall {wall:.2f}x; interleaved; goal >= 0.8")


def trainer_data(trainer) -> np.ndarray:
    """The trainer's (standardised) training set, so both loops see the same data."""
    return trainer.data.cpu().numpy()
