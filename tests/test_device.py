"""Device choice and transfers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import device as dev


def test_env_override_wins(monkeypatch):
    monkeypatch.setenv(dev.ENV_VAR, "cpu")
    assert dev.pick_device() == torch.device("cpu")


def test_explicit_override_beats_env(monkeypatch):
    monkeypatch.setenv(dev.ENV_VAR, "cuda")
    assert dev.pick_device("cpu") == torch.device("cpu")


def test_unavailable_cuda_is_a_clear_error(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.setenv(dev.ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        dev.pick_device()


def test_auto_choice_prefers_cuda_then_cpu(monkeypatch):
    monkeypatch.delenv(dev.ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if dev._mps_available() else "cpu")
    assert dev.pick_device().type == expected
    assert dev.device_label(dev.pick_device()).startswith(expected)


def test_round_trip_to_device(device):
    array = np.arange(6.0).reshape(2, 3)
    tensor = dev.to_tensor(array, device, dtype=torch.float64)
    assert tensor.device.type == device.type
    np.testing.assert_array_equal(dev.to_numpy(tensor * 1), array)


def test_thread_count_follows_the_environment(monkeypatch):
    monkeypatch.setenv(dev.THREADS_ENV_VAR, "1")
    dev.configure_threads.cache_clear()
    assert dev.configure_threads() == 1 and torch.get_num_threads() == 1
