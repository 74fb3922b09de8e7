"""The stepper protocol shared by every iterative algorithm.

A stepper owns the state of one run (EM, a training loop, an MCMC chain...).
``step(n)`` advances it and returns the metrics of the last step, ``history`` holds
the metrics of every step, ``snapshot()`` returns what a figure needs to draw the
current state. If a step produces NaN/inf (in its metrics or its state), the stepper
restores the last good state, sets ``stopped`` and explains why in ``message``.

Subclasses implement ``_step() -> dict`` and ``snapshot()``; they may override
``get_state`` / ``set_state`` (the default deep-copies the instance's attributes) and
``state_is_finite``.

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
                self.set_state(saved)
                self.stopped = True
                self.message = (
                    f"Stopped at iteration {self.iteration + 1}: {failure}. The last good state is kept; "
                    "try a smaller learning rate or reset."
                )
                break
            self.iteration += 1
            metrics = {"iteration": self.iteration, **{k: float(v) for k, v in new_metrics.items()}}
            self.history.append(metrics)
        return metrics

    def metric(self, name: str) -> np.ndarray:
        """One metric across the history, as an array (for curves)."""
        return np.array([m.get(name, np.nan) for m in self.history], dtype=np.float64)
