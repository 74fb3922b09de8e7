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


def test_lock_for_keeps_two_threads_from_stepping_one_stepper_at_once():
    """The one-writer rule (playground.stepper.lock_for): two threads that step the same
    stepper under its lock never overlap; without the lock they do (checked too, so the
    test can tell the difference)."""
    import threading
    import time

    from playground.stepper import lock_for

    class Slow(Stepper):
        def __init__(self):
            super().__init__()
            self.inside = 0
            self.overlaps = 0

        def _step(self):
            self.inside += 1
            if self.inside > 1:
                self.overlaps += 1
            time.sleep(0.005)
            self.inside -= 1
            return {"x": 1.0}

        def snapshot(self):
            return {}

        def get_state(self):  # the default deep copy would snapshot the counters
            return None

        def set_state(self, state):
            pass

    def hammer(stepper, locked):
        def work():
            for _ in range(20):
                if locked:
                    with lock_for(stepper):
                        stepper.step(1)
                else:
                    stepper.step(1)
        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return stepper

    locked = hammer(Slow(), locked=True)
    assert locked.overlaps == 0 and locked.iteration == 60
    assert hammer(Slow(), locked=False).overlaps > 0
    one, other = Slow(), Slow()
    assert lock_for(one) is lock_for(one) and lock_for(one) is not lock_for(other)
    with lock_for(one), lock_for(one):  # re-entrant: a step inside a locked render does not deadlock
        one.step(1)
