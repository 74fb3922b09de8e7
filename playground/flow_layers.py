"""Invertible layers for normalizing flows, each with a cheap log-determinant.

The contract (the *normalizing* direction is ``forward``):

* ``forward(x) -> (z, log_det)`` maps data towards the base, with
  ``log_det = log|det dz/dx|`` per sample, shape ``(n,)``;
* ``inverse(z) -> x`` is the *generative* direction.

``ElementwiseAffine`` (a diagonal scaling, as NICE's final layer), ``MonotoneTanh`` (an
elementwise monotone map, the 1D flow), ``AdditiveCoupling`` (NICE, Dinh et al. 2014:
volume preserving, log_det = 0) and ``AffineCoupling`` (Real-NVP, Dinh et al. 2017).
``playground.flows`` composes them into a density and trains it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional

from playground import nets
from playground.seeding import torch_generator


# ----------------------------------------------------------------------------------
# The layer contract
# ----------------------------------------------------------------------------------

class FlowLayer(nn.Module):
    """One invertible layer: ``forward(x) -> (z, log|det dz/dx|)`` and ``inverse(z) -> x``."""

    label = "layer"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class ElementwiseAffine(FlowLayer):
    """z = (x - shift) * exp(-log_scale); log|det| = -sum(log_scale). Starts as the identity."""

    label = "scale"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    @torch.no_grad()
    def initialize_from_data(self, data: torch.Tensor) -> "ElementwiseAffine":
        """Standardise: shift = mean, scale = std of the data (so every dataset starts near N(0, I))."""
        self.shift.copy_(data.mean(0))
        self.log_scale.copy_(data.std(0).clamp_min(1e-3).log())
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (x - self.shift) * torch.exp(-self.log_scale)
        return z, (-self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(self.log_scale) + self.shift


class MonotoneTanh(FlowLayer):
    """Elementwise monotone map: a ramp plus K smooth steps, per dimension.

    F(x) = a x + b + sum_k w_k tanh((x - c_k) / s_k),  a, w_k, s_k > 0,
    F'(x) = a + sum_k (w_k / s_k) sech^2((x - c_k) / s_k) > 0, so F is a bijection of R.
    A steep part of F squeezes a little x-interval onto much z-mass: a bump in p(x).
    The inverse has no closed form; it is found by bisection on a guaranteed bracket.
    """

    label = "monotone"

    def __init__(self, dim: int, num_steps: int = 8, *, generator: torch.Generator | None = None,
                 init_identity: bool = True) -> None:
        super().__init__()
        centers = torch.linspace(-2.0, 2.0, num_steps).repeat(dim, 1)
        self.log_slope = nn.Parameter(torch.zeros(dim))
        self.offset = nn.Parameter(torch.zeros(dim))
        self.raw_heights = nn.Parameter(torch.full((dim, num_steps), -4.0))  # softplus(-4) = 0.018: nearly flat
        self.centers = nn.Parameter(centers)
        self.log_widths = nn.Parameter(torch.full((dim, num_steps), math.log(0.5)))
        if not init_identity:
            generator = generator or torch_generator(0)
            with torch.no_grad():
                self.raw_heights.copy_(torch.randn(dim, num_steps, generator=generator) - 1.0)
                self.log_slope.copy_(0.3 * torch.randn(dim, generator=generator))
                self.offset.copy_(0.3 * torch.randn(dim, generator=generator))

    @classmethod
    def from_values(cls, slope: float, offset: float, heights: Sequence[float], centers: Sequence[float],
                    widths: Sequence[float], dtype: torch.dtype = torch.float64) -> "MonotoneTanh":
        """A 1D map with given slope a, offset b, step heights w_k, centres c_k and widths s_k."""
        if slope <= 0 or min(widths) <= 0 or min(heights) < 0:
            raise ValueError("slope and widths must be positive and heights non-negative")
        layer = cls(1, len(heights)).to(dtype)
        heights_t = torch.as_tensor(heights, dtype=dtype)
        with torch.no_grad():
            layer.log_slope.fill_(math.log(slope))
            layer.offset.fill_(offset)
            # inverse softplus; a height of exactly 0 becomes a vanishing step
            layer.raw_heights.copy_(torch.where(heights_t > 0, heights_t.expm1().clamp_min(1e-300).log(),
                                                torch.full_like(heights_t, -700.0))[None])
            layer.centers.copy_(torch.as_tensor(centers, dtype=dtype)[None])
            layer.log_widths.copy_(torch.as_tensor(widths, dtype=dtype).log()[None])
        return layer

    def _parts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.exp(self.log_slope), functional.softplus(self.raw_heights), torch.exp(-self.log_widths)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slope, heights, inv_widths = self._parts()
        steps = torch.tanh((x[:, :, None] - self.centers) * inv_widths)  # (n, d, K)
        z = slope * x + self.offset + (heights * steps).sum(-1)
        derivative = slope + (heights * inv_widths * (1 - steps**2)).sum(-1)  # F'(x) > 0
        return z, torch.log(derivative).sum(1)

    @torch.no_grad()
    def inverse(self, z: torch.Tensor, iterations: int = 80) -> torch.Tensor:
        slope, heights, _ = self._parts()
        reach = heights.sum(-1)  # |F(x) - a x - b| < sum_k w_k, which brackets the root
        low = (z - self.offset - reach) / slope
        high = (z - self.offset + reach) / slope
        for _ in range(iterations):
            middle = 0.5 * (low + high)
            too_big = self.forward(middle)[0] > z
            high = torch.where(too_big, middle, high)
            low = torch.where(too_big, low, middle)
        return 0.5 * (low + high)


def mlp(in_dim: int, hidden: int, out_dim: int, generator: torch.Generator, init_identity: bool) -> nn.Sequential:
    """Conditioner network in -> hidden -> hidden -> out (tanh), initialised from ``generator``.

    With ``init_identity`` the last layer is zero, so its coupling starts as the identity map.
    """
    return nets.mlp([in_dim, hidden, hidden, out_dim], "tanh", generator=generator, zero_last=init_identity)


class Coupling(FlowLayer):
    """Shared split/merge of a coupling layer: ``mask`` marks the coordinates kept (conditioned on).

    When the kept block comes entirely before or after the changed one (always in 2D), the
    split is one ``Tensor.split`` into two views; otherwise coordinates are gathered by index.
    """

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.all() or not mask.any():
            raise ValueError("a coupling mask must keep some coordinates and change the others")
        self.register_buffer("mask", mask, persistent=False)
        kept = torch.nonzero(mask).flatten().tolist()
        changed = torch.nonzero(~mask).flatten().tolist()
        self.kept_count, self.changed_count = len(kept), len(changed)
        dim = mask.numel()
        self._kept_first = kept + changed == list(range(dim))
        self._changed_first = changed + kept == list(range(dim))
        self.register_buffer("_kept_index", torch.tensor(kept), persistent=False)
        self.register_buffer("_changed_index", torch.tensor(changed), persistent=False)
        self.register_buffer("_unpermute", torch.argsort(torch.tensor(kept + changed)), persistent=False)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_A, x_B): the kept and the changed coordinates."""
        if self._kept_first:
            kept, changed = x.split([self.kept_count, self.changed_count], dim=1)
        elif self._changed_first:
            changed, kept = x.split([self.changed_count, self.kept_count], dim=1)
        else:
            kept, changed = x.index_select(1, self._kept_index), x.index_select(1, self._changed_index)
        return kept, changed

    def merge(self, kept: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
        """The inverse of ``split``."""
        if self._kept_first:
            return torch.cat([kept, changed], 1)
        if self._changed_first:
            return torch.cat([changed, kept], 1)
        return torch.cat([kept, changed], 1).index_select(1, self._unpermute)

    def couple(self, kept: torch.Tensor, changed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalizing direction on the split blocks: (new x_B, log|det|)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept, changed = self.split(x)
        changed, log_det = self.couple(kept, changed)
        return self.merge(kept, changed), log_det

    def continues(self, previous: FlowLayer) -> bool:
        """True when this layer keeps exactly the block ``previous`` changed and changes the block it
        kept (alternating masks): then the blocks pass from one to the other without a merge/split."""
        return (isinstance(previous, Coupling) and self._kept_index.tolist() == previous._changed_index.tolist()
                and self._changed_index.tolist() == previous._kept_index.tolist())


class AdditiveCoupling(Coupling):
    """NICE additive coupling. Generative: x_B = z_B + v(z_A); normalizing: z_B = x_B - v(x_A).

    The Jacobian is triangular with unit diagonal: log|det| = 0 (volume preserving).
    """

    label = "NICE"

    def __init__(self, mask: torch.Tensor, hidden: int = 64, *, generator: torch.Generator | None = None,
                 init_identity: bool = True) -> None:
        super().__init__(mask)
        self.shift_net = mlp(self.kept_count, hidden, self.changed_count, generator or torch_generator(0),
                              init_identity)

    def couple(self, kept: torch.Tensor, changed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return changed - self.shift_net(kept), kept.new_zeros(kept.shape[0])

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        kept, changed = self.split(z)
        return self.merge(kept, changed + self.shift_net(kept))


class AffineCoupling(Coupling):
    """Real-NVP affine coupling. Generative: x_B = z_B * exp(u(z_A)) + v(z_A);
    normalizing: z_B = (x_B - v(x_A)) * exp(-u(x_A)), log|det dz/dx| = -sum_j u_j(x_A).

    ``scale_bound`` softly limits the log-scale, u = b tanh(u_raw / b), a common guard
    against exploding scales; ``None`` uses the raw exponential of the paper.
    """

    label = "Real-NVP"

    def __init__(self, mask: torch.Tensor, hidden: int = 64, *, scale_bound: float | None = 3.0,
                 generator: torch.Generator | None = None, init_identity: bool = True) -> None:
        super().__init__(mask)
        self.scale_bound = scale_bound
        self.scale_shift_net = mlp(self.kept_count, hidden, 2 * self.changed_count,
                                    generator or torch_generator(0), init_identity)

    def log_scale_and_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """u(x_A) (bounded when ``scale_bound`` is set) and v(x_A)."""
        log_scale, shift = self.scale_shift_net(kept).chunk(2, dim=1)
        if self.scale_bound is not None:
            log_scale = self.scale_bound * torch.tanh(log_scale / self.scale_bound)
        return log_scale, shift

    def couple(self, kept: torch.Tensor, changed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_scale, shift = self.log_scale_and_shift(kept)
        # one column changed (2D): a view instead of a reduction; fewer tiny ops matter on a CPU
        total_log_scale = log_scale.squeeze(1) if self.changed_count == 1 else log_scale.sum(1)
        return (changed - shift) / torch.exp(log_scale), -total_log_scale

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        kept, changed = self.split(z)
        log_scale, shift = self.log_scale_and_shift(kept)
        return self.merge(kept, changed * torch.exp(log_scale) + shift)


def alternating_masks(dim: int, count: int) -> list[torch.Tensor]:
    """Coupling masks that swap roles layer after layer (even/odd coordinates), so every
    coordinate gets transformed: in 2D, keep x1 / change x2, then keep x2 / change x1."""
    if dim < 2:
        raise ValueError("coupling layers need at least 2 dimensions")
    parity = torch.arange(dim) % 2 == 0
    return [parity if i % 2 == 0 else ~parity for i in range(count)]
