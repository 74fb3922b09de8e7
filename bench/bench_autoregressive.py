"""Autoregressive page benchmarks.

1. Training: 200 steps of ``GridAutoregressive`` (guard, history, held-out NLL every step) against
   a bare PyTorch loop with the same network, loss and batches (goal >= 0.9x).
2. Training: 200 steps of ``CharModel`` against a bare loop (same network, loss, batches).
3. Sampling: 10,000 2D points by ancestral sampling, and 1,000 names (times, no peer).
"""

from __future__ import annotations

import time

import torch

from playground import autoregressive as A
from playground.seeding import torch_generator
from playground.targets import get_target

CPU = torch.device("cpu")
TARGET = get_target("mog2d")


def _bare_grid(model: A.GridAutoregressive, steps: int) -> None:
    """The same model and loss, without the stepper: no guard, no history, no held-out NLL."""
    first, net, optimizer = model.first_logits, model.net, model.optimizer
    data, eye, generator = model._train, model._eye, torch_generator(99, CPU)
    for _ in range(steps):
        batch = data[torch.randint(0, len(data), (256,), generator=generator)]
        log_first = torch.log_softmax(first, 0)[batch[:, 0]]
        log_second = torch.log_softmax(net(eye[batch[:, 0]]), 1).gather(1, batch[:, 1:2])[:, 0]
        loss = -(log_first + log_second).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _bare_chars(model: A.CharModel, steps: int) -> None:
    x, y, net, optimizer = model._x, model._y, model.net, model.optimizer
    generator = torch_generator(99, CPU)
    for _ in range(steps):
        index = torch.randint(0, len(x), (256,), generator=generator)
        loss = torch.nn.functional.cross_entropy(net(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run(report) -> None:
    # Models built once, outside the timing: what is compared is the cost of a training step.
    ours_grid, bare_grid = (A.GridAutoregressive(TARGET, A.GridConfig(seed=0), CPU) for _ in range(2))
    report("Grid autoregressive model, 200 training steps (B = 24, batch 256)", lambda: ours_grid.step(200),
           lambda: _bare_grid(bare_grid, 200),
           "peer: a bare PyTorch loop, same network, loss and batch size (ours adds the guard, the history and "
           "the held-out NLL every 5 steps)", repeats=7)
    ours_chars, bare_chars = (A.CharModel(A.CharConfig(seed=0), device=CPU) for _ in range(2))
    report("Character model, 200 training steps (batch 256)", lambda: ours_chars.step(200),
           lambda: _bare_chars(bare_chars, 200), "peer: a bare PyTorch loop, same network, loss and batch size",
           repeats=7)
    grid = A.GridAutoregressive(TARGET, A.GridConfig(seed=0), CPU)
    grid.step(100)
    start = time.perf_counter()
    grid.sample(10_000, seed=1)
    report.measure("Ancestral sampling, 10,000 2D points", time.perf_counter() - start, "s")
    chars = A.CharModel(A.CharConfig(seed=0), device=CPU)
    chars.step(100)
    start = time.perf_counter()
    chars.sample(1_000, seed=1)
    report.measure("Sampling 1,000 names, one character at a time", time.perf_counter() - start, "s")
