"""One registry of 1D and 2D target distributions.

Every target has ``sample(n, seed) -> (n, dim)`` and, where the density is known in
closed form, ``log_prob(x) -> (n,)``. Sample-only targets (moons, circles, spiral,
user CSV data) have ``has_log_prob == False`` and raise ``SampleOnlyError`` from
``log_prob``. Arrays are NumPy float64; callers move them to a device if needed.

>>> from playground.targets import get_target
>>> get_target("ring8").sample(3, seed=0).shape
(3, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

from playground.distributions import GaussianMixture, MixtureParams, mixture_params
from playground.seeding import SeedLike, rng

Sampler = Callable[[int, np.random.Generator], np.ndarray]
LogDensity = Callable[[np.ndarray], np.ndarray]


class SampleOnlyError(NotImplementedError):
    """Raised by ``log_prob`` of a target whose density is not known in closed form."""


@dataclass(frozen=True)
class Target:
    """A distribution to sample from and, when known, to evaluate.

    ``bounds`` is a plotting box, one ``(low, high)`` per dimension, that holds
    almost all of the mass.
    """

    name: str
    label: str
    description: str
    dim: int
    sampler: Sampler = field(repr=False)
    log_density: LogDensity | None = field(default=None, repr=False)
    bounds: tuple[tuple[float, float], ...] = ((-4.0, 4.0),)
    mixture: "MixtureParams | None" = field(default=None, repr=False)

    @property
    def has_log_prob(self) -> bool:
        return self.log_density is not None

    def sample(self, n: int, seed: SeedLike) -> np.ndarray:
        """``n`` independent draws, shape ``(n, dim)``; same seed, same draws."""
        n = int(n)
        if n < 0:
            raise ValueError("n must be non-negative")
        out = np.asarray(self.sampler(n, rng(seed)), dtype=np.float64)
        return out.reshape(n, self.dim)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Exact log density at each row of ``x`` (shape ``(n, dim)`` or ``(n,)`` in 1D)."""
        if self.log_density is None:
            raise SampleOnlyError(f"'{self.label}' is sample-only: its density has no closed form")
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        return self.log_density(x)

    def prob(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.log_prob(x))


# ----------------------------------------------------------------------------------
# Gaussian mixtures: the closed forms most targets are built from
# ----------------------------------------------------------------------------------


def mixture_target(name, label, description, params: MixtureParams, bounds) -> Target:
    distribution = GaussianMixture.from_params(params, device="cpu")
    return Target(
        name=name,
        label=label,
        dim=params.means.shape[1],
        description=description,
        sampler=distribution.sample,  # with the target's NumPy generator: NumPy draws
        log_density=distribution.log_prob,
        bounds=bounds,
        mixture=params,
    )


# ----------------------------------------------------------------------------------
# 1D targets
# ----------------------------------------------------------------------------------


def _scipy_target(name, label, description, dist, bounds) -> Target:
    return Target(
        name=name,
        label=label,
        dim=1,
        description=description,
        sampler=lambda n, g: dist.rvs(size=n, random_state=g),
        log_density=lambda x: dist.logpdf(x[:, 0]),
        bounds=(bounds,),
    )


THREE_BUMPS = mixture_params([0.3, 0.45, 0.25], [-3.0, 0.0, 3.0], [0.6**2, 0.8**2, 0.5**2])


def _targets_1d() -> list[Target]:
    return [
        _scipy_target("gaussian1d", "Gaussian N(1, 1.5²)", "A single bell curve.", stats.norm(1.0, 1.5), (-6.0, 8.0)),
        mixture_target(
            "three_bumps",
            "Three bumps (mixture of 3 Gaussians)",
            "Three separated modes of different weights and widths: the lecture's "
            "'three bumps but only two Gaussians' example.",
            THREE_BUMPS,
            ((-6.0, 6.0),),
        ),
        _scipy_target(
            "lognormal", "Log-normal (skewed)", "Positive and right-skewed: exp of a Gaussian.", stats.lognorm(s=0.6), (0.0, 6.0)
        ),
        _scipy_target(
            "student_t", "Student-t, 3 d.o.f. (heavy tails)", "Heavy tails: outliers are far more frequent than for a Gaussian.",
            stats.t(df=3), (-10.0, 10.0),
        ),
        _scipy_target("uniform1d", "Uniform on [-2, 2]", "Flat density with hard edges.", stats.uniform(-2.0, 4.0), (-3.0, 3.0)),
    ]


# ----------------------------------------------------------------------------------
# 2D targets
# ----------------------------------------------------------------------------------

def _ring_params(count: int = 8, radius: float = 2.0, std: float = 0.12) -> MixtureParams:
    angles = 2 * np.pi * np.arange(count) / count
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return mixture_params(np.ones(count), means, np.tile(std**2 * np.eye(2), (count, 1, 1)))


def _grid_params(side: int = 5, spacing: float = 1.0, std: float = 0.08) -> MixtureParams:
    ticks = (np.arange(side) - (side - 1) / 2) * spacing
    means = np.array([[a, b] for a in ticks for b in ticks])
    return mixture_params(np.ones(side * side), means, np.tile(std**2 * np.eye(2), (side * side, 1, 1)))


BANANA_SIGMA1 = 1.5
BANANA_CURVATURE = 0.5


def _banana_sample(n: int, g: np.random.Generator) -> np.ndarray:
    """x1 ~ N(0, s1^2), x2 = b (x1^2 - s1^2) + e, e ~ N(0, 1): a unit-Jacobian warp of a Gaussian."""
    x1 = BANANA_SIGMA1 * g.standard_normal(n)
    x2 = BANANA_CURVATURE * (x1**2 - BANANA_SIGMA1**2) + g.standard_normal(n)
    return np.stack([x1, x2], axis=1)


def _banana_log_prob(x: np.ndarray) -> np.ndarray:
    x1, x2 = x[:, 0], x[:, 1]
    return stats.norm.logpdf(x1, 0.0, BANANA_SIGMA1) + stats.norm.logpdf(x2 - BANANA_CURVATURE * (x1**2 - BANANA_SIGMA1**2))


def _moons_sample(n: int, g: np.random.Generator, noise: float = 0.08) -> np.ndarray:
    upper = n - n // 2
    t_up = g.uniform(0, np.pi, upper)
    t_low = g.uniform(0, np.pi, n // 2)
    points = np.concatenate(
        [np.stack([np.cos(t_up), np.sin(t_up)], 1), np.stack([1 - np.cos(t_low), 0.5 - np.sin(t_low)], 1)]
    )
    points = points + noise * g.standard_normal(points.shape) - np.array([0.5, 0.25])
    return points[g.permutation(n)]


def _circles_sample(n: int, g: np.random.Generator, factor: float = 0.5, noise: float = 0.05) -> np.ndarray:
    radius = np.where(g.random(n) < 0.5, 1.0, factor)
    angle = g.uniform(0, 2 * np.pi, n)
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return 1.5 * (points + noise * g.standard_normal(points.shape))


def _spiral_sample(n: int, g: np.random.Generator, turns: float = 1.75, noise: float = 0.08) -> np.ndarray:
    t = np.sqrt(g.random(n)) * turns * 2 * np.pi  # sqrt: even density along the arc
    radius = t / (turns * 2 * np.pi) * 2.5
    points = np.stack([radius * np.cos(t), radius * np.sin(t)], 1)
    return points + noise * g.standard_normal(points.shape)


CHECKER_SIDE = 4  # 4x4 board on [-2, 2]^2, 8 filled unit squares


def _checkerboard_sample(n: int, g: np.random.Generator) -> np.ndarray:
    cells = np.array([(i, j) for i in range(CHECKER_SIDE) for j in range(CHECKER_SIDE) if (i + j) % 2 == 0])
    chosen = cells[g.integers(0, len(cells), n)]
    return chosen + g.random((n, 2)) - CHECKER_SIDE / 2


def _checkerboard_log_prob(x: np.ndarray) -> np.ndarray:
    shifted = x + CHECKER_SIDE / 2
    inside = np.all((shifted >= 0) & (shifted < CHECKER_SIDE), axis=1)
    cell = np.floor(shifted).astype(int)
    filled = inside & ((cell[:, 0] + cell[:, 1]) % 2 == 0)
    area = CHECKER_SIDE**2 / 2
    return np.where(filled, -np.log(area), -np.inf)


CORRELATED = mixture_params([1.0], [[0.0, 0.0]], [[[1.0, 0.8], [0.8, 1.0]]])
MOG2D = mixture_params(
    [0.5, 0.3, 0.2],
    [[-1.5, -1.0], [1.5, 0.0], [0.0, 2.0]],
    [[[0.5, 0.2], [0.2, 0.4]], [[0.3, -0.15], [-0.15, 0.6]], [[0.2, 0.0], [0.0, 0.2]]],
)


def _targets_2d() -> list[Target]:
    box3 = ((-3.5, 3.5), (-3.5, 3.5))
    return [
        mixture_target("gaussian2d", "Correlated Gaussian (ρ = 0.8)", "One full-covariance Gaussian.", CORRELATED, box3),
        mixture_target("mog2d", "Mixture of 3 Gaussians", "Three components of different weights and shapes.", MOG2D,
                       ((-4.0, 4.0), (-3.5, 4.0))),
        mixture_target("ring8", "Ring of 8 Gaussians", "Eight small modes on a circle: the classic mode-collapse test.",
                       _ring_params(), ((-3.0, 3.0), (-3.0, 3.0))),
        mixture_target("grid25", "5×5 grid of Gaussians", "Twenty-five small modes on a square grid.", _grid_params(),
                       ((-3.0, 3.0), (-3.0, 3.0))),
        Target("banana", "Banana", "A Gaussian bent into a parabola; exact density (the bend has unit Jacobian).", 2,
               _banana_sample, _banana_log_prob, ((-5.0, 5.0), (-3.5, 9.0))),
        Target("moons", "Two moons", "Two interleaved half circles with noise (sample-only).", 2, _moons_sample, None,
               ((-2.0, 2.0), (-1.5, 1.5))),
        Target("circles", "Concentric circles", "Two rings of different radius (sample-only).", 2, _circles_sample, None,
               ((-2.2, 2.2), (-2.2, 2.2))),
        Target("spiral", "Spiral", "A noisy spiral arm (sample-only).", 2, _spiral_sample, None,
               ((-3.0, 3.0), (-3.0, 3.0))),
        Target("checkerboard", "Checkerboard", "Uniform on the black squares of a 4×4 board; exact density.", 2,
               _checkerboard_sample, _checkerboard_log_prob, ((-2.5, 2.5), (-2.5, 2.5))),
    ]


TARGETS: dict[str, Target] = {t.name: t for t in _targets_1d() + _targets_2d()}


def get_target(name: str) -> Target:
    """Look a target up by its registry name."""
    try:
        return TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None


def list_targets(dim: int | None = None, *, with_log_prob: bool | None = None) -> list[Target]:
    """Registered targets, optionally only those of one dimension / with a known density."""
    return [
        t
        for t in TARGETS.values()
        if (dim is None or t.dim == dim) and (with_log_prob is None or t.has_log_prob == with_log_prob)
    ]


def grid(target_or_bounds, resolution: int = 200) -> tuple[np.ndarray, list[np.ndarray]]:
    """Evaluation points on the target's plotting box: (points (M, dim), axes per dim)."""
    bounds = target_or_bounds.bounds if isinstance(target_or_bounds, Target) else target_or_bounds
    axes = [np.linspace(lo, hi, resolution) for lo, hi in bounds]
    mesh = np.meshgrid(*axes, indexing="xy")
    return np.stack([m.ravel() for m in mesh], axis=1), axes
