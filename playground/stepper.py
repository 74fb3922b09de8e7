"""The stepper protocol shared by every iterative algorithm.

A stepper owns the state of one run (EM, a training loop, an MCMC chain...).
``step(n)`` advances it and returns the metrics of the last step, ``history`` holds
the metrics of every step, ``snapshot()`` returns what a figure needs to draw the
current state. If a step produces NaN/inf (in its metrics or its state), the stepper
restores the last good state, sets ``stopped`` and explains why in ``message``.

Subclasses implement ``_step() -> dict`` and ``snapshot()``; they may override
``get_state`` / ``set_state`` (the default deep-copies the instance's attributes) and
``state_is_finite``. A step that cannot go on raises ``FloatingPointError`` (its text
becomes the message). ``hint`` ends the message (what the user can change).

``TorchStepper`` is the base of every trained torch model (flows, GAN, auto-encoders,
KL fits, diffusion, energy-based models): it declares the modules, optimisers, random
generators and tensors a step changes, and the guard snapshots and restores exactly
those (preallocated buffers, one fused copy), every ``guard_every`` steps.

One writer at a time: a stepper is not thread-safe. A web session can run two script
threads at once (a click arriving while the previous run or a Play tick is still inside
``step``), and two threads stepping one torch model and optimiser corrupt it (autograd's
"modified by an inplace operation", or a crash of the whole process). Whoever steps a
stepper that another thread may also use, or reads its state while one may step it,
holds ``lock_for(stepper)`` (re-entrant; it waits for the other thread's step to end).
Read-only objects shared between sessions need no lock.

>>> class Halver(Stepper):
...     def __init__(self): super().__init__(); self.x = 1.0
...     def _step(self): self.x /= 2; return {"x": self.x}
...     def snapshot(self): return {"x": self.x}
>>> Halver().step(3)["x"]
0.125
"""

from __future__ import annotations

import copy
import math
import threading
import weakref
from typing import Any

import numpy as np

_BOOKKEEPING = ("history", "iteration", "stopped", "message")

_LOCKS: "weakref.WeakKeyDictionary[Any, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def lock_for(stepper: Any) -> threading.RLock:
    """The one lock of ``stepper`` (any object that can be weakly referenced), made on first
    use and dropped with the stepper. ``with lock_for(s): s.step()``."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(stepper)
        if lock is None:
            lock = _LOCKS[stepper] = threading.RLock()
        return lock


def _finite(value: Any) -> bool:
    if isinstance(value, (int, float, np.floating, np.integer)):
        return math.isfinite(float(value))
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        return bool(np.isfinite(value).all())
    if hasattr(value, "detach"):  # torch tensor, without importing torch here
        return bool(np.isfinite(value.detach().cpu().numpy()).all())
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


class Stepper:
    """Base class: bookkeeping, history and the NaN/inf guard."""

    hint = "try a smaller learning rate or reset"

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.iteration = 0
        self.stopped = False
        self.message = ""

    # --- to implement ------------------------------------------------------------
    def _step(self) -> dict[str, float]:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError

    # --- overridable ---------------------------------------------------------------
    def get_state(self) -> Any:
        """A copy of everything ``set_state`` needs to roll back a step."""
        return copy.deepcopy({k: v for k, v in vars(self).items() if k not in _BOOKKEEPING})

    def set_state(self, state: Any) -> None:
        vars(self).update(state)

    def state_is_finite(self) -> bool:
        """True when the state holds no NaN/inf (default: scan the attributes)."""
        return all(_finite(v) for k, v in vars(self).items() if k not in _BOOKKEEPING)

    # --- driver --------------------------------------------------------------------
    def step(self, n: int = 1) -> dict[str, float]:
        """Run up to ``n`` steps; stop early (keeping the last good state) on NaN/inf."""
        metrics: dict[str, float] = self.history[-1] if self.history else {}
        for _ in range(int(n)):
            if self.stopped:
                break
            saved = self.get_state()
            try:
                new_metrics = self._step()
            except FloatingPointError as error:
                new_metrics, failure = {}, str(error)
            else:
                failure = "" if _finite(new_metrics) and self.state_is_finite() else "a value became NaN or infinite"
            if failure:
                failed_at = self.iteration + 1
                self.set_state(saved)
                self._fail(f"Stopped at iteration {failed_at}: {failure}. The last good state is kept; {self.hint}.")
                break
            metrics = self._commit(new_metrics)
        return metrics

    def _commit(self, new_metrics: dict[str, float]) -> dict[str, float]:
        """Count one completed iteration and keep its metrics in the history."""
        self.iteration += 1
        metrics = {"iteration": self.iteration, **{k: float(v) for k, v in new_metrics.items()}}
        self.history.append(metrics)
        return metrics

    def _fail(self, message: str) -> None:
        """Stop the run (the state is already the last good one) and say why."""
        self.stopped = True
        self.message = message

    def metric(self, name: str) -> np.ndarray:
        """One metric across the history, as an array (for curves)."""
        return np.array([m.get(name, np.nan) for m in self.history], dtype=np.float64)

    def latest(self, name: str) -> float | None:
        """The most recent value of a metric some steps do not record (an evaluation every few
        steps); None before its first."""
        return next((float(m[name]) for m in reversed(self.history) if name in m), None)


class TorchStepper(Stepper):
    """A ``Stepper`` over torch state, with a guard that costs one fused copy.

    Subclasses name, as class attributes, the attributes a step changes:

    - ``modules``: ``nn.Module`` s (parameters and buffers, e.g. spectral-norm vectors);
    - ``optimizers``: ``torch.optim.Optimizer`` s (their moments and step counts);
    - ``generators``: ``torch.Generator`` s (so a rolled-back step draws the same noise again);
    - ``tensors``: plain tensors a step replaces or changes in place (a replay buffer, leaf
      parameters an optimiser updates; restored in place when the shape is unchanged);
    - ``values``: plain Python values (counters), copied shallowly.

    Before a step (every ``guard_every`` steps; ``guard_every`` is an instance attribute,
    default 1) the guard copies all of it into preallocated buffers; if the step gives a
    NaN/inf metric or parameter, or raises ``FloatingPointError``, everything returns to
    that copy, the history is cut back to it, and the run stops with a message. With
    ``guard_every = k`` the guard costs 1/k of a copy per step and a failure may undo up to
    k - 1 good steps.
    """

    modules: tuple[str, ...] = ()
    optimizers: tuple[str, ...] = ()
    generators: tuple[str, ...] = ()
    tensors: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    guard_every: int = 1

    _checkpoint: dict[str, Any] | None = None

    def _module_tensors(self) -> list[Any]:
        found = []
        for name in self.modules:
            module = getattr(self, name)
            found.extend(module.parameters())
            found.extend(module.buffers())
        return [tensor.detach() for tensor in found]

    def _optimizer_tensors(self) -> tuple[list[Any], list[list[Any]]]:
        tensors, keys = [], []
        for name in self.optimizers:
            optimizer = getattr(self, name)
            keys.append(list(optimizer.state))
            for slots in optimizer.state.values():
                tensors.extend(value for value in slots.values() if hasattr(value, "detach"))
        return [tensor.detach() for tensor in tensors], keys

    def state_tensors(self) -> list[Any]:
        """Every tensor the guard copies: module parameters and buffers, optimiser state."""
        return self._module_tensors() + self._optimizer_tensors()[0]

    def get_state(self) -> dict[str, Any]:
        """The guard's checkpoint (its buffers are reused: valid until the next ``get_state``)."""
        import torch

        if self._checkpoint is not None and self.iteration % max(1, int(self.guard_every)) != 0:
            return self._checkpoint
        tensors, keys = self._optimizer_tensors()
        tensors = self._module_tensors() + tensors
        old = self._checkpoint
        if old is not None and [b.shape for b in old["tensors"]] == [t.shape for t in tensors] \
                and [b.dtype for b in old["tensors"]] == [t.dtype for t in tensors]:
            backup = old["tensors"]
            if backup:
                torch._foreach_copy_(backup, tensors)
        else:
            backup = [tensor.clone() for tensor in tensors]
        self._checkpoint = {
            "tensors": backup, "optimizer_keys": keys,
            "named": {name: _clone(getattr(self, name)) for name in self.tensors},
            "generators": {name: getattr(self, name).get_state() for name in self.generators},
            "values": {name: copy.copy(getattr(self, name)) for name in self.values},
            "iteration": self.iteration, "history": len(self.history),
        }
        return self._checkpoint

    def set_state(self, state: dict[str, Any]) -> None:
        import torch

        # Optimiser slots created after the checkpoint (a first Adam step) did not exist then.
        for name, keys in zip(self.optimizers, state["optimizer_keys"]):
            optimizer = getattr(self, name)
            for parameter in [p for p in optimizer.state if all(p is not k for k in keys)]:
                del optimizer.state[parameter]
        current = self.state_tensors()
        if current:
            with torch.no_grad():
                torch._foreach_copy_(current, state["tensors"])
        for name, value in state["named"].items():
            current_value = getattr(self, name, None)
            if hasattr(value, "shape") and hasattr(current_value, "shape") and current_value.shape == value.shape \
                    and current_value.dtype == value.dtype:
                with torch.no_grad():  # in place: an optimiser may hold this very tensor
                    current_value.copy_(value)
            else:
                setattr(self, name, _clone(value))
        for name, value in state["generators"].items():
            getattr(self, name).set_state(value)
        for name, value in state["values"].items():
            setattr(self, name, copy.copy(value))
        self.iteration = state["iteration"]
        del self.history[state["history"]:]

    def state_is_finite(self) -> bool:
        import torch

        tensors = [t for t in self._module_tensors() if t.is_floating_point()]
        tensors += [t for name in self.tensors for t in _tensor_list(getattr(self, name)) if t.is_floating_point()]
        if not tensors:
            return True
        return bool(torch.isfinite(torch.stack([n.float() for n in torch._foreach_norm(tensors)])).all())


def _clone(value: Any) -> Any:
    if hasattr(value, "detach"):  # a torch tensor: a leaf copy (no autograd graph back to the live one)
        return value.detach().clone().requires_grad_(value.requires_grad)
    if hasattr(value, "clone"):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _tensor_list(value: Any) -> list[Any]:
    if hasattr(value, "detach"):
        return [value.detach()]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensor_list(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensor_list(v)]
    return []
