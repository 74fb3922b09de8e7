"""The networks and optimisers every trained model of the playground is built from.

``mlp(sizes, activation, generator=...)`` is the one multilayer perceptron: flows'
conditioners, GAN generators and discriminators, auto-encoders' encoders and decoders.
Its weights are drawn from a seeded ``torch.Generator`` with PyTorch's default scale,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases (what ``nn.Linear`` draws
from the global RNG), layer by layer, weight before bias: the same seed gives the
same network on every machine, and no global random state is touched.

``make_optimizer(name, params, lr)`` is the one optimiser factory (Adam, RMSprop, SGD).

>>> import torch
>>> from playground.seeding import torch_generator
>>> net = mlp([2, 8, 1], "tanh", generator=torch_generator(0))
>>> [type(m).__name__ for m in net]
['Linear', 'Tanh', 'Linear']
>>> bool(torch.equal(net[0].weight, mlp([2, 8, 1], "tanh", generator=torch_generator(0))[0].weight))
True
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU,
}


def power_iteration(weight: torch.Tensor, u: torch.Tensor, n_iter: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Refine the top left/right singular vectors (u, v) of ``weight`` by power iteration."""
    v = F.normalize(weight.T @ u, dim=0)
    for _ in range(n_iter):
        v = F.normalize(weight.T @ u, dim=0)
        u = F.normalize(weight @ v, dim=0)
    return u, v


class SpectralNormLinear(nn.Linear):
    """A linear layer whose weight is divided by its spectral norm (Miyato et al., 2018).

    sigma(W) is tracked by one power iteration per training forward pass (u, v are
    buffers); the gradient flows through sigma = u^T W v. In eval mode the stored
    vectors are used without updating them.
    """

    def __init__(self, in_features: int, out_features: int, generator: torch.Generator,
                 device: torch.device | None = None) -> None:
        super().__init__(in_features, out_features, device=device)
        # PyTorch's default scale, drawn from a generator derived from ``generator``'s seed (not the global
        # RNG, and without advancing ``generator``: ``mlp`` draws the weights again from it, as before).
        own = torch.Generator(device=generator.device).manual_seed(generator.initial_seed() + 1)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(in_features)
            for tensor in (self.weight, self.bias):
                tensor.copy_(torch.empty(tensor.shape, device=generator.device).uniform_(-bound, bound, generator=own))
        u = torch.randn(out_features, generator=generator, device=generator.device)
        self.register_buffer("u", F.normalize(u.to(device), dim=0))
        self.register_buffer("v", torch.zeros(in_features, device=device))

    @torch.no_grad()
    def refresh(self, n_iter: int = 15) -> None:
        """Run ``n_iter`` power iterations (after the weight is (re)initialised)."""
        u, v = power_iteration(self.weight, self.u, n_iter)
        self.u.copy_(u)
        self.v.copy_(v)

    def sigma(self) -> torch.Tensor:
        """Current estimate of the spectral norm of the raw weight (differentiable in W)."""
        if self.training:
            with torch.no_grad():
                u, v = power_iteration(self.weight, self.u)
                self.u.copy_(u)
                self.v.copy_(v)
        return self.u @ self.weight @ self.v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight / self.sigma(), self.bias)


@torch.no_grad()
def init_linear_(layer: nn.Linear, generator: torch.Generator) -> nn.Linear:
    """PyTorch's default initialisation of a linear layer, U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for the weight (= kaiming_uniform with a = sqrt(5)) and the bias, drawn from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    layer.weight.uniform_(-bound, bound, generator=generator)
    layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def mlp(sizes: Sequence[int], activation: str = "relu", *, generator: torch.Generator,
        device: torch.device | str | None = None, spectral_norm: bool = False,
        zero_last: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with ``activation``
    between them (none after the last).

    ``generator`` draws every weight and bias (PyTorch's default scale), layer by layer.
    ``spectral_norm`` makes every layer a ``SpectralNormLinear`` (a 1-Lipschitz critic).
    ``zero_last`` sets the last layer to zero and draws nothing for it (a coupling layer
    that starts as the identity map).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    if len(sizes) < 2:
        raise ValueError("an MLP needs at least an input and an output size")
    layers: list[nn.Module] = []
    count = len(sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if spectral_norm:
            layer: nn.Linear = SpectralNormLinear(n_in, n_out, generator, device)
        else:
            layer = nn.utils.skip_init(nn.Linear, n_in, n_out, device=device if device is not None else "cpu")
        if zero_last and i == count - 1:
            with torch.no_grad():
                layer.weight.zero_()
                layer.bias.zero_()
        else:
            init_linear_(layer, generator)
        if isinstance(layer, SpectralNormLinear):
            layer.refresh()
        layers.append(layer)
        if i < count - 1:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


OPTIMIZERS = ("adam", "rmsprop", "sgd")


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, *,
                   betas: tuple[float, float] = (0.9, 0.999), fused: bool = False) -> torch.optim.Optimizer:
    """``adam``, ``rmsprop`` or ``sgd`` at learning rate ``lr``.

    ``fused=True`` runs Adam's update as one kernel where the device supports it (several
    times faster on the CPU for many small tensors; the flows use it), else the usual loop.
    """
    if name == "adam":
        params = list(params)
        if fused:
            try:
                return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
            except (RuntimeError, TypeError):
                pass
        return torch.optim.Adam(params, lr=lr, betas=betas)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")

