"""Real-NVP training speed on 2D moons: the playground's stepper against normflows and a plain loop.

Same architecture everywhere: a learnable elementwise affine layer, then 8 affine
coupling layers with alternating masks, conditioners 1 -> 64 -> 64 -> 2 (tanh), exponential
scales, standard normal base; fused Adam (lr 1e-3), batch 512 drawn from the same 4,000 points.
``normflows`` (PyPI, a bench-only dependency) is skipped with a note when not installed.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from playground.flow_layers import mlp
from playground.flows import make_trainer
from playground.nets import make_optimizer
from playground.seeding import torch_generator
from playground.targets import get_target

LAYERS, HIDDEN, BATCH, STEPS_PER_CALL, LEARNING_RATE = 8, 64, 512, 40, 1e-3


def _conditioner(seed: int) -> nn.Sequential:
    """The playground's conditioner (1 -> 64 -> 64 -> 2, tanh), so every contender runs the same nets."""
    return mlp(1, HIDDEN, 2, torch_generator(seed), init_identity=True)


class PlainRealNVP(nn.Module):
    """A hand-fused Real-NVP for 2D: columns swap roles by renaming, no split/merge ops."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(2))
        self.log_scale = nn.Parameter(torch.zeros(2))
        self.nets = nn.ModuleList(_conditioner(i) for i in range(LAYERS))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.shift) * torch.exp(-self.log_scale)
        log_det = -self.log_scale.sum()
        kept, changed = x[:, :1], x[:, 1:]
        for net in self.nets:
            log_scale, shift = net(kept).chunk(2, dim=1)
            changed = (changed - shift) * torch.exp(-log_scale)
            log_det = log_det - log_scale[:, 0]
            kept, changed = changed, kept
        return -0.5 * (kept[:, 0] ** 2 + changed[:, 0] ** 2) - math.log(2 * math.pi) + log_det


def _loop(negative_log_likelihood: Callable[[torch.Tensor], torch.Tensor], parameters,
          data: torch.Tensor) -> Callable[[], None]:
    optimizer = make_optimizer("adam", parameters, LEARNING_RATE, fused=True)  # the same (fused) Adam as the playground's trainer
    generator = torch_generator(1)

    def train() -> None:
        for _ in range(STEPS_PER_CALL):
            batch = data[torch.randint(len(data), (BATCH,), generator=generator)]
            loss = negative_log_likelihood(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()  # read the loss each step, as a live curve does

    return train


def _normflows_loop(data: torch.Tensor) -> Callable[[], None] | None:
    try:
        import normflows as nf
    except ImportError:
        return None
    flows = []
    for i in range(LAYERS):
        flows += [nf.flows.AffineCouplingBlock(_conditioner(i), scale_map="exp"), nf.flows.Permute(2, mode="swap")]
    flows.append(nf.flows.AffineConstFlow((2,)))
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(2, trainable=False), flows)
    return _loop(model.forward_kld, list(model.parameters()), data)


def interleaved_ratio(ours: Callable[[], None], peer: Callable[[], None], rounds: int = 7) -> float:
    """Median peer time / median ours time, alternating the two calls so that load drift on a
    shared machine hits both alike."""
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    for _ in range(rounds):
        for name, fn in (("ours", ours), ("peer", peer)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["peer"]) / statistics.median(times["ours"])


def run(report) -> None:
    """Steps/s of Real-NVP training, 8 layers, hidden 64, batch 512 (single CPU thread, as on a shared laptop)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data_np = get_target("moons").sample(4000, seed=0)
        data = torch.as_tensor(data_np, dtype=torch.float32)
        trainer = make_trainer("realnvp", data_np, num_layers=LAYERS, hidden=HIDDEN, learning_rate=LEARNING_RATE,
                               batch_size=BATCH, scale_bound=None, seed=0, device="cpu")

        def ours() -> None:
            trainer.step(STEPS_PER_CALL)

        plain = PlainRealNVP()
        plain_loop = _loop(lambda x: -plain.log_prob(x).mean(), list(plain.parameters()), data)
        note = f"{STEPS_PER_CALL} training steps per call"
        row = report("realnvp train (plain PyTorch loop)", ours, plain_loop, note, repeats=5)
        report.measure("realnvp train steps/s (ours)", STEPS_PER_CALL / row["ours_s"], "steps/s")
        report.measure("realnvp train steps/s (plain loop)", STEPS_PER_CALL / row["peer_s"], "steps/s")
        report.measure("realnvp train plain/ours, interleaved", interleaved_ratio(ours, plain_loop), "x",
                       "goal >= 0.9")
        normflows_loop = _normflows_loop(data)
        if normflows_loop is None:
            report.measure("realnvp train vs normflows", float("nan"), "ratio", "normflows not installed: skipped")
        else:
            row = report("realnvp train (normflows)", ours, normflows_loop, note, repeats=5)
            report.measure("realnvp train steps/s (normflows)", STEPS_PER_CALL / row["peer_s"], "steps/s")
            report.measure("realnvp train normflows/ours, interleaved", interleaved_ratio(ours, normflows_loop), "x",
                           "goal >= 1")
        if not np.isfinite(trainer.history[-1]["nll"]):
            raise RuntimeError("the benchmarked training diverged")
    finally:
        torch.set_num_threads(threads)
