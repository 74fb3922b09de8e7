"""The stepper protocol: bookkeeping, history, and the NaN/inf guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


class EveryThird(Doubler):
    """Records ``x`` every step and ``checked`` only every third step (an evaluation)."""

    def _step(self):
        metrics = super()._step()
        if (self.iteration + 1) % 3 == 0:
            metrics["checked"] = metrics["x"] + 0.5
        return metrics


def test_latest_reads_the_last_recorded_value_of_a_sparse_metric():
    stepper = EveryThird()
    stepper.step(2)
    assert stepper.latest("checked") is None
    stepper.step(2)  # step 3 records it, step 4 does not
    assert stepper.latest("checked") == 8.5 and stepper.latest("x") == 16.0
    assert np.isnan(stepper.metric("checked")[-1])


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


# ----------------------------------------------------------------------------------
# TorchStepper: every trained model's guard, checked against an untouched twin run
# ----------------------------------------------------------------------------------

def _flow():
    from playground.flows import make_trainer
    from playground.targets import get_target
    return make_trainer("realnvp", get_target("moons").sample(256, 0), num_layers=2, hidden=16, batch_size=64)


def _gan():
    from playground.gan import GANConfig, trainer_for_target
    from playground.targets import get_target
    config = GANConfig(width=16, d_width=16, batch_size=32, n_show=64, snapshot_every=1000)
    return trainer_for_target(get_target("ring8"), config, seed=1, n_data=256, device="cpu")


def _autoencoder():
    from playground.autoencoders import AutoencoderConfig, AutoencoderTrainer
    x = np.random.default_rng(0).uniform(size=(64, 16))
    return AutoencoderTrainer(x, config=AutoencoderConfig(hidden=(16,), batch_size=32), device="cpu", eval_every=1000)


def _kl_fit():
    from playground.divergence_fit import DivergenceFit, FitConfig
    from playground.distributions import GaussianMixture
    from playground.divergences import make_target
    target = GaussianMixture.from_params(make_target(2, 2, 4.0))
    return DivergenceFit(target, "reverse_kl", FitConfig(n_components=2, learning_rate=0.05))


def _diffusion():
    from playground.diffusion import DiffusionConfig, DiffusionTrainer
    from playground.targets import get_target
    return DiffusionTrainer(get_target("ring8"), DiffusionConfig(hidden=16, depth=2, n_data=256, batch_size=64,
                                                                 conditional=True), device=torch.device("cpu"))


def _energy():
    from playground.energy import EnergyConfig, EnergyTrainer
    from playground.targets import get_target
    config = EnergyConfig(width=16, n_data=256, batch_size=64, buffer_size=128, langevin_steps=3, eval_every=1000)
    return EnergyTrainer(get_target("ring8"), config, device=torch.device("cpu"))


def _em_gradient():
    from playground.em import GradientDescentFitter, starting_state
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(200, 2)))
    return GradientDescentFitter(x, starting_state(x, 3, init="random", seed=0), learning_rate=0.1)


TORCH_TRAINERS = {"em_gradient": _em_gradient, "flow": _flow, "gan": _gan, "autoencoder": _autoencoder, "kl_fit": _kl_fit,
                  "diffusion": _diffusion, "energy": _energy}


def _same_state(a, b) -> None:
    for x, y in zip(a.state_tensors(), b.state_tensors(), strict=True):
        assert torch.equal(x, y)
    for name in a.tensors:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for name in a.generators:
        assert torch.equal(getattr(a, name).get_state(), getattr(b, name).get_state()), name
    assert a.history == b.history


def _set_lr(stepper, lr: float) -> None:
    for name in stepper.optimizers:
        for group in getattr(stepper, name).param_groups:
            group["lr"] = lr


@pytest.mark.parametrize("guard_every", [1, 3])
@pytest.mark.parametrize("name", list(TORCH_TRAINERS))
def test_torch_guard_rolls_back_to_its_checkpoint_and_the_run_goes_on_like_its_twin(name, guard_every):
    """An infinite learning rate at step 5 poisons the weights; the guard restores the weights,
    optimiser moments, generators, named tensors and the history of its checkpoint (step 4, or
    step 3 when it copies every third step), which equal those of an untouched twin run, and
    after the learning rate is repaired the run continues exactly as the twin does."""
    reference, poisoned = TORCH_TRAINERS[name](), TORCH_TRAINERS[name]()
    poisoned.guard_every = guard_every
    poisoned.step(4)
    learning_rates = [g["lr"] for n in poisoned.optimizers for g in getattr(poisoned, n).param_groups]
    _set_lr(poisoned, float("inf"))
    poisoned.step(3)
    checkpoint = 4 if guard_every == 1 else 3
    assert poisoned.stopped and "Stopped at iteration" in poisoned.message
    assert poisoned.iteration == checkpoint == len(poisoned.history)
    assert poisoned.state_is_finite()
    reference.step(checkpoint)
    _same_state(reference, poisoned)
    groups = [g for n in poisoned.optimizers for g in getattr(poisoned, n).param_groups]
    for group, lr in zip(groups, learning_rates):
        group["lr"] = lr
    poisoned.stopped = False
    poisoned.step(2)
    reference.step(2)
    _same_state(reference, poisoned)
