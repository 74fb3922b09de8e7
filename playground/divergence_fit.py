"""Fitting a model q to p by minimising one divergence, and where such fits can end.

Lectures 000/004 (maximum likelihood = forward KL covers the modes, reverse KL seeks
one), 003 (other objectives: JS, TV, W1, MMD).

- ``DivergenceFit``: a stepper fitting a Gaussian / K-component mixture q to p by one
  divergence (forward KL by maximum likelihood on samples of p, reverse KL by
  reparameterised Monte-Carlo, or JS / TV / W1 / MMD); ``FitRace`` runs several from
  the same start.
- Where the fits can end: ``moment_matching`` (the forward-KL optimum of a Gaussian q),
  ``reverse_kl_local_optima`` (one per well-separated mode), ``kl_landscape_1d`` (both
  KLs over a (mu, sigma) grid); ``mle_decomposition`` (average log-likelihood =
  -KL(p||q) - H(p)).

The divergences themselves are in ``playground.divergences``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import optimize

from playground import nets
from playground.device import to_numpy
from playground.divergences import (
    GridQuadrature,
    default_resolution,
    entropy_grid,
    expectation_gauss_hermite,
    js_from_log_densities,
    kl_from_log_densities,
    mmd2_parts,
    tv_from_log_densities,
)
from playground.distributions import GaussianMixture, compute_dtype
from playground.seeding import SeedLike, derive_seed, torch_generator
from playground.stepper import Stepper, TorchStepper

# ----------------------------------------------------------------------------------
# Fitting q to p by one divergence
# ----------------------------------------------------------------------------------

OBJECTIVES = {
    "forward_kl": "Forward KL (maximum likelihood on samples of p)",
    "reverse_kl": "Reverse KL (reparameterised Monte-Carlo, needs log p)",
    "js": "Jensen–Shannon (grid quadrature)",
    "tv": "Total variation (grid quadrature)",
    "w1": "Wasserstein-1 (1D, CDFs)",
    "mmd": "MMD (closed form, Gaussian kernel)",
}


@dataclass(frozen=True)
class FitConfig:
    """How to fit q: its size, start, and optimiser settings."""

    n_components: int = 1  # K: 1 = a single Gaussian
    start_mean: tuple[float, ...] = (0.0,)  # centre of the start; components spread around it
    start_std: float = 1.0  # standard deviation of every component at the start
    fixed_variance: bool = False  # keep every std at start_std: only means (and weights) move
    learning_rate: float = 0.05  # Adam step size
    n_samples: int = 2000  # forward KL: size of the sample of p (the "data set")
    batch_size: int = 256  # reverse KL: reparameterised draws per component and step
    resolution: int | None = None  # grid points per dimension for the grid objectives and metrics
    mmd_bandwidth: float = 1.0  # h of the Gaussian kernel
    start_spread: float = 1.0  # K > 1: components start this far apart around start_mean


class DivergenceFit(TorchStepper):
    """Fit q (a Gaussian or a K-component mixture) to p by gradient descent (Adam) on one divergence.

    - ``forward_kl``: maximise (1/N) sum_i log q(x_i) on a fixed sample x_i ~ p (= minimise KL(p||q) - H(p)).
    - ``reverse_kl``: minimise KL(q||p) = E_q[log q - log p], each component's expectation by reparameterised
      draws x = mu_k + L_k eps (so the weights get an exact gradient through sum_k w_k E_k[...]).
    - ``js``, ``tv``: grid quadrature; ``w1``: 1D CDFs; ``mmd``: closed form for mixtures.
    Every step also reports the forward and reverse KL by grid quadrature.
    """

    def __init__(self, target: GaussianMixture, divergence: str = "forward_kl", config: FitConfig = FitConfig(),
                 seed: int = 0) -> None:
        super().__init__()
        if divergence not in OBJECTIVES:
            raise ValueError(f"unknown divergence {divergence!r}; known: {', '.join(OBJECTIVES)}")
        if divergence == "w1" and target.dim != 1:
            raise ValueError("the Wasserstein-1 objective is implemented for 1D only")
        self.target, self.divergence, self.config, self.seed = target, divergence, config, seed
        self.device, dim = target.device, target.dim
        dtype = compute_dtype(self.device)
        start = np.broadcast_to(np.asarray(config.start_mean, dtype=np.float64), (dim,))
        means = start[None, :] + _start_offsets(config.n_components, dim, config.start_spread)
        self.means = torch.tensor(means, dtype=dtype, device=self.device, requires_grad=True)
        self.logits = torch.zeros(config.n_components, dtype=dtype, device=self.device, requires_grad=True)
        # Sigma_k = L_k L_k^T with L_k = diag(exp(log_diag)) + strictly lower part
        self.log_diag = torch.full((config.n_components, dim), math.log(config.start_std), dtype=dtype,
                                   device=self.device, requires_grad=not config.fixed_variance)
        self.lower = torch.zeros(config.n_components, dim, dim, dtype=dtype, device=self.device,
                                 requires_grad=not config.fixed_variance and dim > 1)
        trainable = [t for t in (self.means, self.logits, self.log_diag, self.lower) if t.requires_grad]
        if config.n_components == 1:
            trainable = [t for t in trainable if t is not self.logits]
        self.optimizer = nets.make_optimizer("adam", trainable, config.learning_rate)
        self.generator = torch_generator(derive_seed(seed, "reverse-kl", divergence), self.device)
        self.data = target.sample(config.n_samples, derive_seed(seed, "data")) if divergence == "forward_kl" else None
        self.grid: GridQuadrature | None = None
        self.log_p_grid: torch.Tensor | None = None
        if divergence in ("js", "tv", "w1"):  # grid objectives: a grid over p and the start of q
            start_q = GaussianMixture(np.ones(len(means)), means, np.tile(config.start_std**2 * np.eye(dim), (len(means), 1, 1)),
                              device=self.device)
            self.grid = GridQuadrature.covering([target, start_q], config.resolution or _grid_resolution(dim))
            self.log_p_grid = target.log_prob(self.grid.points)

    # --- q's parameters ----------------------------------------------------------
    def chols(self) -> torch.Tensor:
        strict = torch.tril(self.lower, diagonal=-1)
        return strict + torch.diag_embed(torch.exp(self.log_diag))

    def log_weights(self) -> torch.Tensor:
        return torch.log_softmax(self.logits, dim=0)

    def model(self) -> GaussianMixture:
        """The current q as a (detached) ``GaussianMixture``."""
        chols = self.chols().detach()
        return GaussianMixture(to_numpy(torch.exp(self.log_weights())), to_numpy(self.means),
                               to_numpy(chols @ chols.transpose(1, 2)), device=self.device)

    def log_q(self, x: torch.Tensor) -> torch.Tensor:
        return GaussianMixture(torch.exp(self.log_weights()), self.means, scale_tril=self.chols(),
                               device=self.device).log_prob(x)

    # --- objectives --------------------------------------------------------------
    def objective(self) -> torch.Tensor:
        """The loss whose gradient moves q (see the class docstring)."""
        if self.divergence == "forward_kl":
            return -self.log_q(self.data).mean()
        if self.divergence == "reverse_kl":
            return self._reverse_kl_reparameterised()
        if self.divergence == "mmd":
            chols = self.chols()
            return mmd2_parts(self.target.weights, self.target.means, self.target.covariances,
                               torch.exp(self.log_weights()), self.means, chols @ chols.transpose(1, 2),
                               self.config.mmd_bandwidth)
        if self.divergence == "w1":
            return self._w1_objective()
        log_q = self.log_q(self.grid.points)
        if self.divergence == "js":
            return js_from_log_densities(self.log_p_grid, log_q, self.grid)
        return tv_from_log_densities(self.log_p_grid, log_q, self.grid)

    def _reverse_kl_reparameterised(self) -> torch.Tensor:
        """KL(q||p) ~ sum_k w_k (1/B) sum_b [log q(x_kb) - log p(x_kb)], x_kb = mu_k + L_k eps_b."""
        n_components, dim = self.means.shape
        eps = torch.randn(n_components, self.config.batch_size, dim, dtype=self.means.dtype, device=self.device,
                          generator=self.generator)
        x = self.means[:, None, :] + torch.einsum("kij,kbj->kbi", self.chols(), eps)  # (K, B, d)
        flat = x.reshape(-1, dim)
        log_ratio = (self.log_q(flat) - self.target.log_prob(flat)).reshape(n_components, -1).mean(dim=1)
        return (torch.exp(self.log_weights()) * log_ratio).sum()

    def _w1_objective(self) -> torch.Tensor:
        points = self.grid.points[:, 0]
        stds = torch.exp(self.log_diag[:, 0])
        cdf_q = (torch.exp(self.log_weights())[:, None]
                 * torch.special.ndtr((points[None, :] - self.means[:, :1]) / stds[:, None])).sum(0)
        return self.grid.integrate(torch.abs(self.target.cdf(points) - cdf_q))

    # --- stepper protocol ----------------------------------------------------------
    def _step(self) -> dict[str, float]:
        self.optimizer.zero_grad()
        loss = self.objective()
        loss.backward()
        self.optimizer.step()
        if not (torch.isfinite(loss) and self.state_is_finite()):
            return {"loss": math.nan}  # the stepper's guard restores the last good state
        try:
            return {"loss": float(loss.detach()), **self.kl_metrics()}
        except ValueError as error:  # q degenerated (a covariance no longer positive definite)
            raise FloatingPointError(str(error)) from error

    def kl_metrics(self) -> dict[str, float]:
        """Forward and reverse KL of the current q by quadrature on a grid covering p and q."""
        with torch.no_grad():
            q = self.model()
            grid = GridQuadrature.covering([self.target, q], self.config.resolution or _grid_resolution(self.target.dim))
            log_p, log_q = self.target.log_prob(grid.points), q.log_prob(grid.points)
            return {"forward_kl": float(kl_from_log_densities(log_p, log_q, grid)),
                    "reverse_kl": float(kl_from_log_densities(log_q, log_p, grid))}

    # --- what the guard snapshots (see TorchStepper) ------------------------------------
    tensors = ("means", "logits", "log_diag", "lower")
    optimizers, generators = ("optimizer",), ("generator",)

    def state_is_finite(self) -> bool:
        with torch.no_grad():
            return super().state_is_finite() and bool(torch.isfinite(self.chols()).all())

    def snapshot(self) -> dict:
        """weights (K,), means (K, d), covariances (K, d, d) of q, as NumPy."""
        q = self.model()
        return {"weights": q.params.weights, "means": q.params.means, "covariances": q.params.covariances}


def _grid_resolution(dim: int) -> int:
    return 1500 if dim == 1 else 100


def _start_offsets(n_components: int, dim: int, spread: float) -> np.ndarray:
    """Deterministic start offsets (K, d): centred on a line (1D) or a circle (2D)."""
    if n_components == 1:
        return np.zeros((1, dim))
    if dim == 1:
        return ((np.arange(n_components) - (n_components - 1) / 2) * spread)[:, None]
    angles = 2 * np.pi * np.arange(n_components) / n_components
    return spread * np.stack([np.cos(angles), np.sin(angles)], axis=1)


class FitRace(Stepper):
    """Several ``DivergenceFit`` runs from the same start, advanced together (forward vs reverse KL...)."""

    def __init__(self, target: GaussianMixture, divergences: Sequence[str] = ("forward_kl", "reverse_kl"),
                 config: FitConfig = FitConfig(), seed: int = 0) -> None:
        super().__init__()
        self.target = target
        self.fits = {name: DivergenceFit(target, name, config, seed) for name in dict.fromkeys(divergences)}
        self.paths: dict[str, list[dict]] = {name: [fit.snapshot()] for name, fit in self.fits.items()}

    def _step(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, fit in self.fits.items():
            result = fit.step()
            if fit.stopped:
                raise FloatingPointError(f"the {OBJECTIVES[name]} fit diverged")
            self.paths[name].append(fit.snapshot())
            metrics.update({f"{name}:{key}": value for key, value in result.items() if key != "iteration"})
        return metrics

    def get_state(self) -> dict:
        return {"fits": {name: fit.get_state() for name, fit in self.fits.items()},
                "lengths": {name: len(path) for name, path in self.paths.items()}}

    def set_state(self, state: dict) -> None:
        for name, fit in self.fits.items():
            fit.set_state(state["fits"][name])
            fit.stopped = False
            del self.paths[name][state["lengths"][name]:]

    def state_is_finite(self) -> bool:
        return all(fit.state_is_finite() for fit in self.fits.values())

    def snapshot(self) -> dict:
        return {name: fit.snapshot() for name, fit in self.fits.items()}

    def models(self) -> dict[str, GaussianMixture]:
        return {name: fit.model() for name, fit in self.fits.items()}


# ----------------------------------------------------------------------------------
# Where the fits can end: the optimum of forward KL, local optima of reverse KL
# ----------------------------------------------------------------------------------


def moment_matching(p: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """The forward-KL optimum over single Gaussians: q* = N(E_p[x], Cov_p[x]) (mean (d,), cov (d, d))."""
    return to_numpy(p.mean), to_numpy(p.covariance_matrix)


def reverse_kl_local_optima(p: GaussianMixture, *, fixed_std: float | None = None, tolerance: float = 0.05) -> list[dict]:
    """Local minima of KL(q||p) over single Gaussians q, by L-BFGS (Gauss-Hermite quadrature) from several starts.

    Starts: each mode of p (at its own width) and the moment-matched Gaussian. Returns distinct optima
    as dicts with mean (d,), cov (d, d) and the reverse KL, best first.
    """
    starts = [(to_numpy(m), to_numpy(torch.linalg.cholesky(c))) for m, c in zip(p.means, p.covariances)]
    mean, cov = moment_matching(p)
    starts.append((mean, np.linalg.cholesky(cov)))
    # a small deterministic nudge: a start on a symmetry axis would otherwise stay on a saddle point
    nudge = 0.05 * np.sqrt(np.diag(cov)) * np.linspace(1.0, 0.5, p.dim)
    starts = [(start_mean + nudge, start_chol) for start_mean, start_chol in starts]
    found: list[dict] = []
    for start_mean, start_chol in starts:
        optimum = _minimise_reverse_kl(p, start_mean, start_chol, fixed_std)
        if all(np.linalg.norm(optimum["mean"] - other["mean"]) > tolerance for other in found):
            found.append(optimum)
    return sorted(found, key=lambda o: o["reverse_kl"])


def _minimise_reverse_kl(p: GaussianMixture, start_mean: np.ndarray, start_chol: np.ndarray, fixed_std: float | None) -> dict:
    """L-BFGS (SciPy) on KL(q||p) = -H(q) - E_q[log p] over one Gaussian q, gradients by torch autograd."""
    device, dtype = p.device, p.means.dtype
    dim = start_mean.size
    rows, cols = np.tril_indices(dim, k=-1)
    no_log_weight = torch.zeros(1, dtype=dtype, device=device)
    fixed_log_diag = None if fixed_std is None else torch.full((dim,), math.log(fixed_std), dtype=dtype, device=device)

    def unpack(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = theta[:dim]
        log_diag = fixed_log_diag if fixed_log_diag is not None else theta[dim:2 * dim]
        chol = torch.diag(torch.exp(log_diag))
        if fixed_log_diag is None and len(rows):
            chol = chol.index_put((torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)),
                                  theta[2 * dim:])
        return mean, chol

    def reverse_kl(theta: torch.Tensor) -> torch.Tensor:
        # H(q) = d/2 log(2 pi e) + log det L
        mean, chol = unpack(theta)
        entropy = 0.5 * dim * math.log(2 * math.pi * math.e) + torch.log(torch.diagonal(chol)).sum()
        return -entropy - expectation_gauss_hermite(no_log_weight, mean[None], chol[None], p.log_prob,
                                                    order=64 if dim == 1 else 20)

    def value_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.tensor(flat, dtype=dtype, device=device, requires_grad=True)
        value = reverse_kl(theta)
        value.backward()
        return float(value.detach()), to_numpy(theta.grad).astype(np.float64)

    start = [start_mean]
    if fixed_std is None:
        start += [np.log(np.diag(start_chol)), start_chol[rows, cols]]
    result = optimize.minimize(value_and_gradient, np.concatenate(start), jac=True, method="L-BFGS-B",
                               options={"maxiter": 300})
    with torch.no_grad():
        theta = torch.tensor(result.x, dtype=dtype, device=device)
        mean, chol = unpack(theta)
        return {"mean": to_numpy(mean), "cov": to_numpy(chol @ chol.T), "reverse_kl": float(reverse_kl(theta))}


def kl_landscape_1d(p: GaussianMixture, mus: np.ndarray, sigmas: np.ndarray, resolution: int = 1500) -> dict[str, np.ndarray]:
    """Forward and reverse KL between a 1D p and every q = N(mu, sigma^2) of a parameter grid.

    Returns arrays of shape (len(sigmas), len(mus)). Forward: KL(p||q) = -H(p) + 1/2 log(2 pi sigma^2)
    + (Var_p + (E_p x - mu)^2) / (2 sigma^2) exactly (only H(p) by quadrature). Reverse:
    KL(q||p) = -H(q) - E_q[log p], E_q[log p] by quadrature on a grid covering every q.
    """
    if p.dim != 1:
        raise ValueError("the (mu, sigma) landscape is for 1D targets")
    mus, sigmas = np.asarray(mus, dtype=np.float64), np.asarray(sigmas, dtype=np.float64)
    mean, variance = float(p.mean[0]), float(p.covariance_matrix[0, 0])
    mu_grid, sigma_grid = np.meshgrid(mus, sigmas)
    forward = (-entropy_grid(p) + 0.5 * np.log(2 * np.pi * sigma_grid**2)
               + (variance + (mean - mu_grid) ** 2) / (2 * sigma_grid**2))
    spread = 7 * sigmas.max()
    grid = GridQuadrature.over(np.array([[min(mus.min() - spread, p.bounds(7)[0, 0]),
                                          max(mus.max() + spread, p.bounds(7)[0, 1])]]), resolution, p.device)
    x = grid.points[:, 0]
    log_p = p.log_prob(grid.points)  # (M,)
    dtype, device = log_p.dtype, log_p.device
    mu_t = torch.as_tensor(mu_grid.ravel(), dtype=dtype, device=device)[:, None]
    sigma_t = torch.as_tensor(sigma_grid.ravel(), dtype=dtype, device=device)[:, None]
    q = torch.exp(-0.5 * ((x[None, :] - mu_t) / sigma_t) ** 2) / (sigma_t * math.sqrt(2 * math.pi))  # (P, M)
    expected_log_p = (q * log_p[None, :]).sum(dim=1) * grid.cell_volume
    entropy_q = 0.5 * np.log(2 * np.pi * np.e * sigma_grid**2)
    reverse = -entropy_q - to_numpy(expected_log_p).reshape(sigma_grid.shape)
    return {"forward_kl": forward, "reverse_kl": reverse}


def mle_decomposition(p: GaussianMixture, q: GaussianMixture, n: int = 5000, seed: SeedLike = 0) -> dict[str, float]:
    """MLE = forward KL, in numbers: E_p[log q] = -KL(p||q) - H(p).

    Returns the average log-likelihood of q on n samples of p, and E_p[log q] with its two terms
    (KL and entropy), all three by grid quadrature (``default_resolution`` cells per axis).
    """
    seed = int(seed) if not isinstance(seed, np.random.Generator) else int(seed.integers(2**31))
    x = p.sample(n, seed)
    grid = GridQuadrature.covering([p, q], default_resolution(p.dim))
    log_p, log_q = p.log_prob(grid.points), q.log_prob(grid.points)
    density = torch.exp(log_p)
    return {
        "average_log_likelihood": float(q.log_prob(x).mean()),
        "expected_log_q": float(grid.integrate(density * log_q)),
        "forward_kl": float(kl_from_log_densities(log_p, log_q, grid)),
        "entropy_p": float(-grid.integrate(density * log_p)),
    }


def fit_paths(race: FitRace, *, mean_and_std: bool = False) -> dict[str, np.ndarray]:
    """The path of each fit of ``race`` for the pictures: the mean of q, sum_k w_k mu_k, at every recorded
    step, (steps, d); or, with ``mean_and_std``, (mu, sigma) of the first component (1D), (steps, 2)."""
    if mean_and_std:
        return {name: np.array([(s["means"][0, 0], math.sqrt(s["covariances"][0, 0, 0])) for s in path])
                for name, path in race.paths.items()}
    return {name: np.array([(s["weights"] @ s["means"]) for s in path]) for name, path in race.paths.items()}
