"""The stepper protocol: bookkeeping, history, and the NaN/inf guard."""

from __future__ import annotations

import numpy as np

from playground.stepper import Stepper


class Doubler(Stepper):
    """x <- factor * x; overflows to inf after enough steps with a large factor."""

    def __init__(self, factor: float = 2.0) -> None:
        super().__init__()
        self.x = np.array([1.0])
        self.factor = factor

    def _step(self):
        self.x = self.x * self.factor
        return {"x": float(self.x[0])}

    def snapshot(self):
        return {"x": self.x.copy()}


def test_step_returns_last_metrics_and_records_history():
    stepper = Doubler()
    metrics = stepper.step(3)
    assert metrics == {"iteration": 3, "x": 8.0}
    assert [m["x"] for m in stepper.history] == [2.0, 4.0, 8.0]
    np.testing.assert_array_equal(stepper.metric("x"), [2.0, 4.0, 8.0])
    assert stepper.iteration == 3 and not stepper.stopped


def test_overflow_stops_and_keeps_last_good_state():
    stepper = Doubler(factor=1e200)
    with np.errstate(over="ignore"):
        stepper.step(10)
    assert stepper.stopped
    assert stepper.iteration == 1  # 1e200 is finite, 1e400 is not
    assert stepper.x[0] == 1e200
    assert "NaN or infinite" in stepper.message
    before = stepper.iteration
    stepper.step(5)  # a stopped stepper does not move
    assert stepper.iteration == before


class Exploding(Stepper):
    def __init__(self):
        super().__init__()
        self.w = 1.0

    def _step(self):
        self.w = float("nan") if self.iteration == 2 else self.w + 1
        return {"loss": 1.0}

    def snapshot(self):
        return {"w": self.w}


def test_nan_in_state_is_caught_even_when_metrics_look_fine():
    stepper = Exploding()
    stepper.step(5)
    assert stepper.stopped and stepper.w == 3.0 and stepper.iteration == 2
