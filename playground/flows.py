"""Normalizing flows: invertible layers with cheap log-determinants, composed into a density.

Every layer obeys one contract (the *normalizing* direction is ``forward``):

* ``forward(x) -> (z, log_det)`` maps data towards the base, with
  ``log_det = log|det dz/dx|`` per sample, shape ``(n,)``;
* ``inverse(z) -> x`` is the *generative* direction.

A ``Flow`` composes layers (``layers[0]`` touches the data, the last one the base)
with a standard normal base ``q`` and gives the change-of-variables density

    log p(x) = log q(F(x)) + sum_l log|det J_l(x)|,        F = f_L o ... o f_1.

The layers (``ElementwiseAffine``, ``MonotoneTanh``, ``AdditiveCoupling`` for NICE,
``AffineCoupling`` for Real-NVP) are in ``playground.flow_layers``.

>>> flow = build_flow("realnvp", dim=2, num_layers=4, hidden=16, seed=0, device="cpu")
>>> flow.sample(5, seed=1).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from playground.device import cpu_threads, default_device, to_numpy, to_tensor
from playground.flow_layers import (
    AdditiveCoupling,
    AffineCoupling,
    Coupling,
    ElementwiseAffine,
    FlowLayer,
    MonotoneTanh,
    alternating_masks,
)
from playground import nets
from playground.seeding import derive_seed, torch_generator
from playground.distributions import GaussianMixture
from playground.stepper import TorchStepper

CPU_THREADS = 1  # tiny nets: one thread is fastest, and several spin against each other on a shared CPU
FLOW_KINDS = {"nice": "NICE (additive coupling)", "realnvp": "Real-NVP (affine coupling)"}
LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------------
# Base distribution and the composed flow
# ----------------------------------------------------------------------------------

class StandardNormal(nn.Module):
    """The base q = N(0, I_d)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (z**2).sum(1) - 0.5 * self.dim * LOG_2PI

    def sample(self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return torch.randn(n, self.dim, generator=generator, device=device, dtype=dtype)


class Flow(nn.Module):
    """F = f_L o ... o f_1 (normalizing) with base q: log p(x) = log q(F(x)) + sum_l log|det J_l|."""

    def __init__(self, layers: Sequence[FlowLayer], dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dim = dim
        self.base = StandardNormal(dim)
        # layer i can take layer i-1's split blocks as they are (see ``Coupling.continues``)
        self._chained = [i > 0 and isinstance(layer, Coupling) and layer.continues(self.layers[i - 1])
                         for i, layer in enumerate(self.layers)]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalizing direction: z = F(x) and log|det dF/dx| per sample."""
        # Same result as applying the layers one by one (``trace``), but a run of alternating
        # couplings hands its blocks on without merging and re-splitting them: on a CPU, small
        # ops are what a training step is made of.
        log_dets = []
        pending = None  # (coupling, kept, changed): blocks not merged back into x yet
        for layer, chained in zip(self.layers, self._chained):
            if pending is not None and not chained:
                x, pending = pending[0].merge(pending[1], pending[2]), None
            if isinstance(layer, Coupling):
                # chained: the previous layer's changed block is this layer's kept block
                kept, changed = (pending[2], pending[1]) if pending is not None else layer.split(x)
                changed, layer_log_det = layer.couple(kept, changed)
                pending = (layer, kept, changed)
            else:
                x, layer_log_det = layer(x)
            log_dets.append(layer_log_det)
        if pending is not None:
            x = pending[0].merge(pending[1], pending[2])
        return x, torch.stack(log_dets).sum(0)  # one reduction instead of L - 1 additions

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Generative direction: x = F^{-1}(z) = f_1^{-1} o ... o f_L^{-1}(z)."""
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) by the change of variables, shape (n,)."""
        z, log_det = self(x)
        return self.base.log_prob(z) + log_det

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> torch.Tensor:
        """Draw z ~ N(0, I) with ``seed`` and push it through the generative direction."""
        generator = torch_generator(seed, self.device)
        return self.inverse(self.base.sample(int(n), generator, self.device, self.dtype))

    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Normalizing trace: stages [x, f_1(x), ..., F(x)] and each layer's log|det| (n,)."""
        stages, log_dets = [x], []
        for layer in self.layers:
            x, layer_log_det = layer(x)
            stages.append(x)
            log_dets.append(layer_log_det)
        return stages, log_dets

    @torch.no_grad()
    def trace_inverse(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Generative trace: stages [z, f_L^{-1}(z), ..., F^{-1}(z)]."""
        stages = [z]
        for layer in reversed(self.layers):
            z = layer.inverse(z)
            stages.append(z)
        return stages


def layer_label(layer: FlowLayer) -> str:
    """A layer's name, with the coordinate a 2D coupling keeps: "NICE (keeps x₁)"."""
    from playground.flow_layers import Coupling

    if isinstance(layer, Coupling) and int(layer.mask.numel()) == 2:
        kept = int(torch.nonzero(layer.mask).flatten()[0])
        return f"{layer.label} (keeps x{'₁₂'[kept]})"
    return layer.label


@dataclass(frozen=True)
class LayerJacobian:
    """One layer's Jacobian at a point: ``matrix`` = d f_l / d(input) (d, d) by autograd, the
    coordinates it keeps (``kept``, empty for the scale layer), its input point and the layer's own
    log|det| from its forward pass (equal to log|det matrix| when the layer is right)."""

    layer: int
    label: str
    point: np.ndarray
    matrix: np.ndarray
    kept: tuple[int, ...]
    log_det: float


def layer_jacobian(flow: Flow, layer: int, x: np.ndarray) -> LayerJacobian:
    """The Jacobian of layer ``layer`` (0-based, normalizing direction) where the data point ``x``
    arrives after the layers before it. A coupling's matrix is triangular (in the order kept,
    changed): the kept coordinates pass through, so their rows are those of the identity."""
    from playground.flow_layers import Coupling

    module = flow.layers[layer]
    with torch.no_grad():
        point = to_tensor(np.asarray(x, dtype=np.float64).reshape(1, -1), flow.device, flow.dtype)
        for before in flow.layers[:layer]:
            point = before(point)[0]
    matrix = torch.autograd.functional.jacobian(lambda v: module(v.reshape(1, -1))[0].reshape(-1), point.reshape(-1))
    with torch.no_grad():
        log_det = float(module(point)[1].reshape(-1)[0])
    kept = tuple(int(i) for i in torch.nonzero(module.mask).flatten().tolist()) if isinstance(module, Coupling) else ()
    return LayerJacobian(layer, getattr(module, "label", type(module).__name__), to_numpy(point)[0].astype(np.float64),
                         to_numpy(matrix).astype(np.float64), kept, log_det)


def build_flow(kind: str, dim: int = 2, num_layers: int = 6, hidden: int = 64, *, seed: int = 0,
               data: np.ndarray | torch.Tensor | None = None, scale_bound: float | None = 3.0,
               num_steps: int = 8, init_identity: bool = True, device: torch.device | str | None = None,
               dtype: torch.dtype = torch.float32) -> Flow:
    """A flow of ``kind`` ("nice", "realnvp" or "monotone"), seeded, on ``device``.

    The data-side layer is an ``ElementwiseAffine`` (standardised on ``data`` when given),
    then ``num_layers`` couplings with alternating masks (or monotone layers).
    """
    generator = torch_generator(derive_seed(seed, "flow-init", kind))
    layers: list[FlowLayer] = [ElementwiseAffine(dim)]
    if kind == "monotone":
        layers += [MonotoneTanh(dim, num_steps, generator=generator, init_identity=init_identity)
                   for _ in range(num_layers)]
    elif kind in ("nice", "realnvp"):
        for mask in alternating_masks(dim, num_layers):
            if kind == "nice":
                layers.append(AdditiveCoupling(mask, hidden, generator=generator, init_identity=init_identity))
            else:
                layers.append(AffineCoupling(mask, hidden, scale_bound=scale_bound, generator=generator,
                                             init_identity=init_identity))
    else:
        raise ValueError(f"unknown flow kind {kind!r}; use one of nice, realnvp, monotone")
    flow = Flow(layers, dim).to(dtype)
    if data is not None:
        layers[0].initialize_from_data(to_tensor(data, torch.device("cpu"), dtype))
    return flow.to(device or default_device())


# ----------------------------------------------------------------------------------
# Training by maximum likelihood, as a stepper
# ----------------------------------------------------------------------------------

class FlowTrainer(TorchStepper):
    """Maximum likelihood: minimise NLL = -mean log p(x) over minibatches with Adam.

    Guard (``TorchStepper``): a non-finite loss (a known failure of Real-NVP's exponential
    scales) raises before any update, and the flow, Adam and the batch generator roll back
    to the checkpoint taken every ``guard_every`` steps (a copy every step would cost about
    3% of a step on a CPU).
    """

    modules, optimizers, generators = ("flow",), ("optimizer",), ("_batches",)

    def __init__(self, flow: Flow, data: np.ndarray | torch.Tensor, *, learning_rate: float = 5e-3,
                 batch_size: int = 256, seed: int = 0, guard_every: int = 10) -> None:
        super().__init__()
        self.flow = flow
        self.guard_every = max(1, int(guard_every))
        self.data = to_tensor(data, flow.device, flow.dtype)
        self.batch_size = int(min(batch_size, len(self.data)))
        self.learning_rate = float(learning_rate)
        self.parameters = [p for p in flow.parameters() if p.requires_grad]
        self.optimizer = nets.make_optimizer("adam", self.parameters, self.learning_rate, fused=True)
        self._batches = torch_generator(derive_seed(seed, "flow-batches"), flow.device)

    def step(self, n: int = 1) -> dict[str, float]:
        """Run up to ``n`` training steps (on one CPU thread, see ``cpu_threads``)."""
        with cpu_threads(CPU_THREADS if self.data.device.type == "cpu" else None):
            return super().step(n)

    def _step(self) -> dict[str, float]:
        index = torch.randint(len(self.data), (self.batch_size,), generator=self._batches, device=self.data.device)
        loss = -self.flow.log_prob(self.data[index]).mean()
        nll = loss.item()
        if not math.isfinite(nll):
            raise FloatingPointError("the negative log-likelihood became NaN or infinite")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"nll": nll}

    @torch.no_grad()
    def nll(self, data: np.ndarray | torch.Tensor | None = None) -> float:
        """Mean negative log-likelihood (nats) on ``data`` (default: the training data)."""
        data = self.data if data is None else to_tensor(data, self.flow.device, self.flow.dtype)
        return float(-self.flow.log_prob(data).mean())

    def snapshot(self) -> dict[str, object]:
        return {"iteration": self.iteration, "flow": self.flow, "nll": self.history[-1]["nll"] if self.history else None}


def make_trainer(kind: str, data: np.ndarray, *, num_layers: int = 6, hidden: int = 64,
                 learning_rate: float = 5e-3, batch_size: int = 256, seed: int = 0,
                 scale_bound: float | None = 3.0, num_steps: int = 8,
                 device: torch.device | str | None = None) -> FlowTrainer:
    """A seeded flow standardised on ``data`` and its maximum-likelihood trainer."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    flow = build_flow(kind, data.shape[1], num_layers, hidden, seed=seed, data=data, scale_bound=scale_bound,
                      num_steps=num_steps, device=device)
    return FlowTrainer(flow, data, learning_rate=learning_rate, batch_size=batch_size, seed=seed)


# ----------------------------------------------------------------------------------
# Views: what the pictures need, as numpy
# ----------------------------------------------------------------------------------

def change_of_variables_1d(layer: FlowLayer, x: np.ndarray, z_range: tuple[float, float] = (-3.5, 3.5)
                           ) -> dict[str, np.ndarray]:
    """For a 1D map F: z = F(x), F'(x), base density q(F(x)) and p(x) = q(F(x)) |F'(x)|, and the base
    density q = N(0, 1) itself on 200 points of ``z_range`` (``z_axis``, ``q_axis``)."""
    x_t = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, 1))
    layer = layer.to(torch.float64).cpu()
    with torch.no_grad():
        z, log_det = layer(x_t)
    z = z[:, 0].numpy()
    derivative = np.exp(log_det.numpy())
    standard_normal = GaussianMixture.gaussian(0.0, 1.0, "cpu")
    base = np.exp(standard_normal.log_prob(z[:, None]))
    z_axis = np.linspace(*z_range, 200)
    return {"x": np.asarray(x, dtype=np.float64).ravel(), "z": z, "derivative": derivative, "base_density": base,
            "density": base * derivative, "z_axis": z_axis, "q_axis": np.exp(standard_normal.log_prob(z_axis[:, None]))}


@torch.no_grad()
def likelihood_terms(flow: Flow, data: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """The two averages that make up -NLL: mean log q(F(x)) and mean log|det J_F(x)| over ``data``."""
    z, log_det = flow(to_tensor(data, flow.device, flow.dtype))
    return float(flow.base.log_prob(z).mean()), float(log_det.mean())


@dataclass
class FlowView1D:
    """A 1D flow on a grid: x, z = F(x), F'(x) and the model density p(x)."""

    x: np.ndarray
    z: np.ndarray
    derivative: np.ndarray
    density: np.ndarray


@torch.no_grad()
def view_1d(flow: Flow, bounds: tuple[float, float], resolution: int = 400) -> FlowView1D:
    """Evaluate a 1D flow on ``resolution`` points of ``bounds``."""
    x = np.linspace(bounds[0], bounds[1], resolution)
    with cpu_threads(CPU_THREADS if flow.device.type == "cpu" else None):
        z, log_det = flow(to_tensor(x[:, None], flow.device, flow.dtype))
    log_density = flow.base.log_prob(z) + log_det
    return FlowView1D(x=x, z=to_numpy(z)[:, 0], derivative=np.exp(to_numpy(log_det)),
                      density=np.exp(to_numpy(log_density)))


def grid_lines(bounds: Sequence[tuple[float, float]], lines: int = 11, points: int = 40) -> np.ndarray:
    """A square grid drawn as polylines: shape (2 * lines, points, 2) (vertical lines, then horizontal)."""
    (x_low, x_high), (y_low, y_high) = bounds
    along_x, along_y = np.linspace(x_low, x_high, points), np.linspace(y_low, y_high, points)
    vertical = [np.stack([np.full(points, c), along_y], 1) for c in np.linspace(x_low, x_high, lines)]
    horizontal = [np.stack([along_x, np.full(points, c)], 1) for c in np.linspace(y_low, y_high, lines)]
    return np.stack(vertical + horizontal)


@dataclass
class FlowView2D:
    """Everything the 2D pictures show, layer by layer (numpy, float32 for compact figures).

    ``generative_*`` stages go z -> x (index 0 = base), ``normalizing_*`` stages x -> z.
    Grid stages have shape (lines, points, 2); point stages (n, 2).
    """

    layer_labels: list[str]
    generative_points: list[np.ndarray]
    generative_grid: list[np.ndarray]
    normalizing_points: list[np.ndarray]
    normalizing_grid: list[np.ndarray]
    layer_log_dets: np.ndarray  # (L,) mean over the data of each layer's log|det J_l|
    mean_log_base: float  # mean log q(F(x)) over the data
    density_axes: tuple[np.ndarray, np.ndarray]
    density: np.ndarray  # (ny, nx) model density on the grid
    inverse_error: float  # max |F^{-1}(F(x)) - x| over the data
    forward_error: float  # max |F(F^{-1}(z)) - z| over the base samples

    @property
    def invertibility_error(self) -> float:
        """The worse of the two round trips."""
        return max(self.inverse_error, self.forward_error)

    @property
    def mean_log_likelihood(self) -> float:
        return self.mean_log_base + float(self.layer_log_dets.sum())

    @property
    def mass_in_view(self) -> float:
        """Riemann sum of the density over the plotted box (close to 1 if the box holds the mass)."""
        x_axis, y_axis = self.density_axes
        return float(np.trapezoid(np.trapezoid(self.density, x_axis, axis=1), y_axis))


def _stack_stages(stages: list[torch.Tensor], shape: tuple[int, ...]) -> list[np.ndarray]:
    return [to_numpy(s).astype(np.float32).reshape(shape) for s in stages]


def view_2d(flow: Flow, data: np.ndarray, bounds: Sequence[tuple[float, float]], *, seed: int = 0,
            n_samples: int = 400, resolution: int = 90, base_box: float = 2.5) -> FlowView2D:
    """Traces of samples, data and grids through every layer, per-layer log-dets and the density."""
    with cpu_threads(CPU_THREADS if flow.device.type == "cpu" else None), torch.no_grad():
        return _view_2d(flow, data, bounds, seed, n_samples, resolution, base_box)


def _view_2d(flow: Flow, data: np.ndarray, bounds: Sequence[tuple[float, float]], seed: int, n_samples: int,
             resolution: int, base_box: float) -> FlowView2D:
    device, dtype = flow.device, flow.dtype
    data_t = to_tensor(data, device, dtype)

    base_points = flow.base.sample(n_samples, torch_generator(derive_seed(seed, "view-samples"), device), device, dtype)
    generative_points = flow.trace_inverse(base_points)
    base_grid = grid_lines(((-base_box, base_box), (-base_box, base_box)))
    generative_grid = flow.trace_inverse(to_tensor(base_grid.reshape(-1, 2), device, dtype))

    normalizing_points, log_dets = flow.trace(data_t)
    data_grid = grid_lines(bounds)
    normalizing_grid, _ = flow.trace(to_tensor(data_grid.reshape(-1, 2), device, dtype))

    x_axis = np.linspace(bounds[0][0], bounds[0][1], resolution)
    y_axis = np.linspace(bounds[1][0], bounds[1][1], resolution)
    mesh = np.stack([g.ravel() for g in np.meshgrid(x_axis, y_axis, indexing="xy")], 1)
    density = np.exp(to_numpy(flow.log_prob(to_tensor(mesh, device, dtype)))).reshape(resolution, resolution)

    inverse_error = float((flow.inverse(normalizing_points[-1]) - data_t).abs().max())
    forward_error = float((flow(generative_points[-1])[0] - base_points).abs().max())
    grid_shape = (base_grid.shape[0], base_grid.shape[1], 2)
    return FlowView2D(
        layer_labels=[layer_label(layer) for layer in flow.layers],
        generative_points=_stack_stages(generative_points, (-1, 2)),
        generative_grid=_stack_stages(generative_grid, grid_shape),
        normalizing_points=_stack_stages(normalizing_points, (-1, 2)),
        normalizing_grid=_stack_stages(normalizing_grid, grid_shape),
        layer_log_dets=np.array([float(ld.mean()) for ld in log_dets]),
        mean_log_base=float(flow.base.log_prob(normalizing_points[-1]).mean()),
        density_axes=(x_axis, y_axis),
        density=density,
        inverse_error=inverse_error,
        forward_error=forward_error,
    )
