"""playground.nets: the one MLP and the one optimiser factory, against closed forms and
PyTorch's own layers."""

from __future__ import annotations

import math

import pytest
import torch

from playground.nets import SpectralNormLinear, make_optimizer, mlp
from playground.seeding import torch_generator


def test_same_seed_same_network_other_seed_other_network():
    one = mlp([3, 16, 16, 2], "tanh", generator=torch_generator(5))
    two = mlp([3, 16, 16, 2], "tanh", generator=torch_generator(5))
    other = mlp([3, 16, 16, 2], "tanh", generator=torch_generator(6))
    for a, b, c in zip(one.parameters(), two.parameters(), other.parameters()):
        assert torch.equal(a, b) and not torch.equal(a, c)
    assert [type(m).__name__ for m in one] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]


def test_initial_weights_follow_pytorchs_default_uniform():
    """U(-b, b), b = 1/sqrt(fan_in): every weight inside, variance b^2/3 (seeded, 400k draws)."""
    net = mlp([400, 1000, 1], "relu", generator=torch_generator(0))
    weight, bias = net[0].weight, net[0].bias
    bound = 1 / math.sqrt(400)
    assert weight.abs().max() <= bound and bias.abs().max() <= bound
    assert weight.var().item() == pytest.approx(bound**2 / 3, rel=0.01)
    assert weight.mean().item() == pytest.approx(0.0, abs=4 * bound / math.sqrt(3 * weight.numel()))
    # nn.Linear's own initialiser draws from the same distribution (compare the spread)
    reference = torch.nn.Linear(400, 1000).weight
    assert weight.std().item() == pytest.approx(reference.std().item(), rel=0.02)


def test_zero_last_starts_as_zero_output_and_draws_nothing_for_it():
    zeroed = mlp([2, 8, 8, 3], "tanh", generator=torch_generator(1), zero_last=True)
    plain = mlp([2, 8, 8, 3], "tanh", generator=torch_generator(1))
    assert torch.count_nonzero(zeroed(torch.randn(5, 2, generator=torch_generator(2)))) == 0
    assert torch.equal(zeroed[0].weight, plain[0].weight) and torch.equal(zeroed[2].bias, plain[2].bias)


def test_spectral_norm_layers_have_unit_spectral_norm():
    net = mlp([2, 64, 64, 1], "leaky_relu", generator=torch_generator(3), spectral_norm=True)
    layers = [m for m in net if isinstance(m, SpectralNormLinear)]
    assert len(layers) == 3
    for layer in layers:
        effective = layer.weight / layer.sigma()
        # sigma is a power-iteration estimate (15 iterations at init): within 1 % of the true norm
        assert torch.linalg.matrix_norm(effective.detach(), ord=2).item() == pytest.approx(1.0, rel=1e-2)


def test_unknown_activation_or_optimizer_is_refused():
    with pytest.raises(ValueError, match="activation"):
        mlp([2, 2], "swishy", generator=torch_generator(0))
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("adagrad", [torch.zeros(1, requires_grad=True)], 0.1)


@pytest.mark.parametrize("name, reference", [
    ("adam", lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.5, 0.9))),
    ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.05)),
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.05)),
])
@pytest.mark.parametrize("fused", [False, True])
def test_make_optimizer_takes_the_same_steps_as_torch(name, reference, fused):
    def run(factory):
        x = torch.tensor([1.5, -2.0, 0.3], requires_grad=True)
        optimizer = factory([x])
        for _ in range(25):
            optimizer.zero_grad()
            loss = ((x - torch.tensor([0.2, 0.1, -0.4])) ** 4).sum()
            loss.backward()
            optimizer.step()
        return x.detach()

    ours = run(lambda p: make_optimizer(name, p, 0.05, betas=(0.5, 0.9), fused=fused))
    assert torch.allclose(ours, run(reference), atol=1e-6)
