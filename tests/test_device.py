"""Device choice and transfers: what is chosen on machines with and without CUDA / MPS, simulated by
patching torch's availability checks, and the messages a wrong choice gets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import device as dev


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with the given accelerators; the environment variable unset."""

    def pretend(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Pretend GPU")

    monkeypatch.delenv("PLAYGROUND_DEVICE", raising=False)
    return pretend


# Each row is a machine and the device the README promises for it: cuda > mps > cpu.
@pytest.mark.parametrize("cuda, mps, expected", [
    (False, False, torch.device("cpu")),
    (False, True, torch.device("mps")),
    (True, False, torch.device("cuda")),
    (True, True, torch.device("cuda")),
])
def test_automatic_choice_on_each_kind_of_machine(machine, cuda, mps, expected):
    machine(cuda, mps)
    assert dev.pick_device() == expected


@pytest.mark.parametrize("cuda, mps, label", [
    (False, False, "cpu"), (False, True, "mps"), (True, True, "cuda (Pretend GPU)")])
def test_label_names_the_chosen_device_and_the_gpu(machine, cuda, mps, label):
    machine(cuda, mps)
    assert dev.device_label(dev.pick_device()) == label


@pytest.mark.parametrize("value, expected", [
    ("cpu", torch.device("cpu")),
    ("  cpu\n", torch.device("cpu")),
    ("cuda:1", torch.device("cuda", 1)),
    ("mps", torch.device("mps")),
])
def test_the_environment_variable_overrides_the_automatic_choice(machine, monkeypatch, value, expected):
    machine(True, True)  # the automatic choice would be cuda
    monkeypatch.setenv("PLAYGROUND_DEVICE", value)
    assert dev.pick_device() == expected


def test_an_empty_environment_variable_means_automatic(machine, monkeypatch):
    machine(False, True)
    monkeypatch.setenv("PLAYGROUND_DEVICE", "   ")
    assert dev.pick_device() == torch.device("mps")


def test_an_explicit_argument_beats_the_environment(machine, monkeypatch):
    machine(False, False)
    monkeypatch.setenv("PLAYGROUND_DEVICE", "cuda")  # would be an error on this machine
    assert dev.pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("value, message", [
    ("cuda", "PLAYGROUND_DEVICE='cuda' but CUDA is not available on this machine"),
    ("cuda:1", "PLAYGROUND_DEVICE='cuda:1' but CUDA is not available on this machine"),
    ("mps", "PLAYGROUND_DEVICE='mps' but MPS is not available on this machine"),
])
def test_asking_for_a_missing_accelerator_is_a_clear_error(machine, monkeypatch, value, message):
    machine(False, False)
    monkeypatch.setenv("PLAYGROUND_DEVICE", value)
    with pytest.raises(RuntimeError) as error:
        dev.pick_device()
    assert str(error.value) == message


def test_a_misspelt_device_is_rejected(machine, monkeypatch):
    machine(False, False)
    monkeypatch.setenv("PLAYGROUND_DEVICE", "gpu")
    with pytest.raises(RuntimeError, match="gpu"):
        dev.pick_device()


def test_the_process_wide_default_reads_the_environment_once(machine, monkeypatch):
    machine(False, False)
    dev.default_device.cache_clear()
    try:
        monkeypatch.setenv("PLAYGROUND_DEVICE", "cpu")
        assert dev.default_device() == torch.device("cpu")
        monkeypatch.setenv("PLAYGROUND_DEVICE", "cuda")  # too late: the choice is made
        assert dev.default_device() == torch.device("cpu")
        assert dev.to_tensor([1.0, 2.0]).device == torch.device("cpu")
    finally:
        dev.default_device.cache_clear()


def test_round_trip_to_device(device):
    array = np.arange(6.0).reshape(2, 3)
    tensor = dev.to_tensor(array, device, dtype=torch.float64)
    assert tensor.device.type == device.type and tensor.dtype == torch.float64
    np.testing.assert_array_equal(dev.to_numpy(tensor * 1), array)
    with_grad = tensor.clone().requires_grad_(True)
    np.testing.assert_array_equal(dev.to_numpy(with_grad * 2), 2 * array)  # no "requires grad" error
    assert dev.to_tensor(tensor, device, dtype=torch.float32).dtype == torch.float32


@pytest.fixture
def threads(monkeypatch):
    """Restore torch's thread count and the cached thread choice after the test."""
    before = torch.get_num_threads()
    dev.configure_threads.cache_clear()
    yield monkeypatch
    dev.configure_threads.cache_clear()
    torch.set_num_threads(before)


def test_thread_count_follows_the_environment(threads):
    threads.setenv("PLAYGROUND_THREADS", "3")
    assert dev.configure_threads() == 3 and torch.get_num_threads() == 3
    dev.configure_threads.cache_clear()
    threads.setenv("PLAYGROUND_THREADS", "0")  # at least one thread
    assert dev.configure_threads() == 1 and torch.get_num_threads() == 1


@pytest.mark.parametrize("cores", [1, 2])
def test_small_machines_use_one_thread(threads, cores):
    threads.delenv("PLAYGROUND_THREADS", raising=False)
    threads.setattr("os.cpu_count", lambda: cores)
    torch.set_num_threads(4)
    assert dev.configure_threads() == 1 and torch.get_num_threads() == 1


def test_larger_machines_keep_torchs_thread_count(threads):
    threads.delenv("PLAYGROUND_THREADS", raising=False)
    threads.setattr("os.cpu_count", lambda: 16)
    torch.set_num_threads(4)
    assert dev.configure_threads() == 4 and torch.get_num_threads() == 4


def test_cpu_threads_sets_the_count_for_a_block_and_restores_it(threads):
    torch.set_num_threads(2)
    with dev.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(KeyError):
        with dev.cpu_threads(3):
            raise KeyError("the block failed")
    assert torch.get_num_threads() == 2  # restored after an exception too
    with dev.cpu_threads(None):
        assert torch.get_num_threads() == 2
