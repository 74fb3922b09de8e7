"""Gaussians and Gaussian mixtures: the one implementation every page uses.

``GaussianMixture(weights, means, covariances)`` is sum_k w_k N(mu_k, Sigma_k) with its
tensors on a device, in the style of ``torch.distributions``: ``log_prob``, ``sample``,
``rsample``, ``mean``, ``covariance_matrix``, and ``score`` (grad_x log p), ``cdf`` and
``marginal`` for the figures. A single Gaussian is the case K = 1 (``GaussianMixture.gaussian``).
The targets, the MCMC energies, the KL page, the diffusion page's exact scores and the
EM page's curves all evaluate their mixtures here; the scikit-learn-parity EM kernels
(covariance types, precision Cholesky factors) stay in ``playground.mixture``.

NumPy in, NumPy out: ``log_prob`` and ``score`` return an array for an array (or a list)
and a tensor for a tensor, so notebooks and figures need no conversions.
``sample(n, seed)`` draws with torch from an int seed or a ``torch.Generator``; given a
``numpy.random.Generator`` it draws with NumPy (the targets' reproducible data sets).

>>> import numpy as np
>>> p = GaussianMixture([0.3, 0.7], [[-2.0], [2.0]], [[[1.0]], [[0.25]]], device="cpu")
>>> round(float(p.log_prob(np.array([[2.0]]))[0]), 4)
-0.5063
>>> p.sample(5, seed=0).shape
torch.Size([5, 1])
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from playground.device import default_device
from playground.seeding import torch_generator

LOG_2PI = math.log(2 * math.pi)


class MixtureParams(NamedTuple):
    """The parameters as NumPy arrays: weights (K,), means (K, d), covariances (K, d, d)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def mixture_params(weights, means, covariances) -> MixtureParams:
    """Validate and normalise mixture parameters (1D: means (K,), variances (K,))."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    means = np.asarray(means, dtype=np.float64)
    if means.ndim == 1:
        means = means[:, None]
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariances.ndim == 1:  # 1D: variances
        covariances = covariances[:, None, None]
    if covariances.ndim == 2 and means.shape[1] == 1:
        covariances = covariances.reshape(-1, 1, 1)
    if len(weights) != len(means) or covariances.shape != (len(means), means.shape[1], means.shape[1]):
        raise ValueError(f"a mixture needs weights (K,), means (K, d) and covariances (K, d, d); got "
                         f"{weights.shape}, {means.shape}, {covariances.shape}")
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise ValueError("mixture weights must be non-negative, finite and not all zero")
    return MixtureParams(weights / weights.sum(), means, covariances)


def compute_dtype(device: torch.device) -> torch.dtype:
    """float64 for exact-looking numbers, except on MPS (no float64 there)."""
    return torch.float32 if device.type == "mps" else torch.float64


class GaussianMixture:
    """sum_k w_k N(mu_k, Sigma_k) with ``weights`` (K,), ``means`` (K, d), ``covariances`` (K, d, d).

    ``device`` defaults to the playground's device; ``dtype`` to float64 (float32 on MPS).
    Given tensors that require grad (a fit's parameters), the graph is kept; ``scale_tril``
    (K, d, d) may replace ``covariances`` (weights and means then as tensors).
    """

    def __init__(self, weights, means, covariances=None, *, scale_tril: torch.Tensor | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        dtype = dtype or compute_dtype(self.device)
        if scale_tril is not None:  # Sigma_k = L_k L_k^T given by its factor (a fit's parameterisation)
            self.weights = (weights / weights.sum()).to(self.device, dtype)
            self.means = means.to(self.device, dtype)
            self.scale_tril = scale_tril.to(self.device, dtype)
            self.covariances = self.scale_tril @ self.scale_tril.transpose(-1, -2)
        elif all(torch.is_tensor(v) for v in (weights, means, covariances)):
            self.weights = (weights / weights.sum()).to(self.device, dtype)
            self.means = means.to(self.device, dtype)
            self.covariances = covariances.to(self.device, dtype)
        else:
            arrays = mixture_params(*(v.detach().cpu().numpy() if torch.is_tensor(v) else v
                                      for v in (weights, means, covariances)))
            self.weights, self.means, self.covariances = (torch.tensor(np.array(v), dtype=dtype, device=self.device)
                                                          for v in arrays)
        self.dim = int(self.means.shape[1])
        if scale_tril is None:
            try:
                self.scale_tril = torch.linalg.cholesky(self.covariances)  # Sigma_k = L_k L_k^T
            except RuntimeError as error:  # torch's LinAlgError is a RuntimeError
                raise ValueError("a covariance is not positive definite") from error
        eye = torch.eye(self.dim, dtype=dtype, device=self.device).expand_as(self.scale_tril)
        # L_k^{-1} of the small (d, d) factors once: then every evaluation is one batched product.
        self._inverse_tril = torch.linalg.solve_triangular(self.scale_tril, eye, upper=False)
        log_det = torch.log(torch.diagonal(self.scale_tril, dim1=1, dim2=2)).sum(dim=1)
        self._log_norm = torch.log(self.weights) - 0.5 * self.dim * LOG_2PI - log_det  # (K,)
        # For the evaluation as matrix products (BLAS) rather than small reductions (4x faster on a CPU):
        k, d = self.means.shape
        self._project = self._inverse_tril.permute(2, 0, 1).reshape(d, k * d)  # x -> [L_k^{-1} x]_k
        self._shift = torch.einsum("kij,kj->ki", self._inverse_tril, self.means).reshape(-1)
        self._sum_blocks = torch.kron(torch.eye(k, dtype=dtype, device=self.device),
                                      torch.ones(d, 1, dtype=dtype, device=self.device))  # (k*d, k)
        self._numpy: MixtureParams | None = None

    @classmethod
    def gaussian(cls, mean, cov, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> "GaussianMixture":
        """One Gaussian (1D: scalar mean and variance)."""
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        cov = np.asarray(cov, dtype=np.float64).reshape(len(mean), len(mean))
        return cls([1.0], mean[None, :], cov[None, :, :], device=device, dtype=dtype)

    @classmethod
    def from_params(cls, params: "MixtureParams | GaussianMixture", device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> "GaussianMixture":
        """From a ``MixtureParams`` record (a target's ``mixture``) or another mixture (to a new device)."""
        if isinstance(params, GaussianMixture):
            params = params.params
        return cls(params.weights, params.means, params.covariances, device=device, dtype=dtype)

    # --- parameters ------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def params(self) -> MixtureParams:
        """The parameters as NumPy arrays (for figures and scikit-learn)."""
        if self._numpy is None:
            self._numpy = MixtureParams(*(v.detach().cpu().to(torch.float64).numpy()
                                          for v in (self.weights, self.means, self.covariances)))
        return self._numpy

    @property
    def mean(self) -> torch.Tensor:
        """E[x] = sum_k w_k mu_k, shape (d,)."""
        return self.weights @ self.means

    @property
    def covariance_matrix(self) -> torch.Tensor:
        """Cov[x] = sum_k w_k (Sigma_k + mu_k mu_k^T) - E[x] E[x]^T, shape (d, d)."""
        mean = self.mean
        outer = self.means[:, :, None] * self.means[:, None, :]
        return torch.einsum("k,kij->ij", self.weights, self.covariances + outer) - mean[:, None] * mean[None, :]

    def to(self, device: torch.device | str) -> "GaussianMixture":
        return GaussianMixture(self.weights, self.means, self.covariances, device=device)

    def marginal(self, dims: int | Sequence[int]) -> "GaussianMixture":
        """The mixture of the marginals on ``dims`` (same weights; means and covariance blocks)."""
        index = torch.as_tensor(np.atleast_1d(dims), device=self.device)
        return GaussianMixture(self.weights, self.means[:, index],
                               self.covariances[:, index][:, :, index], device=self.device, dtype=self.means.dtype)

    def bounds(self, spread: float = 4.5) -> np.ndarray:
        """A box (d, 2) holding the mass: every component's mean +- spread standard deviations."""
        means, covariances = self.params.means, self.params.covariances
        stds = np.sqrt(np.diagonal(covariances, axis1=1, axis2=2))
        return np.stack([(means - spread * stds).min(0), (means + spread * stds).max(0)], axis=1)

    # --- densities -------------------------------------------------------------------
    def _input(self, x) -> tuple[torch.Tensor, bool]:
        as_numpy = not torch.is_tensor(x)
        x = torch.as_tensor(np.asarray(x, dtype=np.float64) if as_numpy else x, device=self.device)
        return x.to(self.means.dtype).reshape(-1, self.dim), as_numpy

    def _whitened(self, x: torch.Tensor) -> torch.Tensor:
        """L_k^{-1} (x - mu_k), shape (n, K, d): x L^{-T} - mu L^{-T}, one matrix product for all k."""
        return torch.addmm(-self._shift, x, self._project).reshape(len(x), *self.means.shape)

    def _log_components(self, x: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(x; mu_k, Sigma_k) = log_norm_k - |L_k^{-1}(x - mu_k)|^2 / 2, shape (n, K)."""
        squared = torch.addmm(-self._shift, x, self._project).square()
        return torch.addmm(self._log_norm, squared, self._sum_blocks, alpha=-0.5)

    def component_log_prob(self, x) -> torch.Tensor | np.ndarray:
        """log w_k + log N(x; mu_k, Sigma_k), shape (n, K)."""
        x, as_numpy = self._input(x)
        out = self._log_components(x)
        return out.detach().cpu().numpy() if as_numpy else out

    def log_prob(self, x) -> torch.Tensor | np.ndarray:
        """log p(x) = log sum_k w_k N(x; mu_k, Sigma_k) for each row of x, shape (n,)."""
        x, as_numpy = self._input(x)
        log_components = self._log_components(x)
        top = log_components.amax(1, keepdim=True).detach()
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        out = top[:, 0] + torch.log(torch.exp(log_components - top) @ torch.ones_like(self._log_norm))
        return out.detach().cpu().numpy() if as_numpy else out

    def log_prob_and_score(self, x) -> tuple[Any, Any]:
        """(log p(x), grad_x log p(x) = sum_k r_k(x) Sigma_k^{-1} (mu_k - x)), r_k the responsibilities."""
        x, as_numpy = self._input(x)
        whitened = self._whitened(x)  # L^{-1}(x - mu)
        log_components = self._log_norm - 0.5 * whitened.square().sum(-1)
        log_p = torch.logsumexp(log_components, dim=1)
        responsibilities = torch.exp(log_components - log_p[:, None])
        precision_times = torch.einsum("kji,nkj->nki", self._inverse_tril, whitened)  # Sigma^{-1}(x - mu)
        score = -(responsibilities[..., None] * precision_times).sum(1)
        if as_numpy:
            return log_p.detach().cpu().numpy(), score.detach().cpu().numpy()
        return log_p, score

    def score(self, x) -> torch.Tensor | np.ndarray:
        """grad_x log p(x), shape (n, d)."""
        return self.log_prob_and_score(x)[1]

    def posterior(self, x) -> torch.Tensor | np.ndarray:
        """The responsibilities p(k | x), shape (n, K)."""
        x, as_numpy = self._input(x)
        log_components = self.component_log_prob(x)
        out = torch.softmax(log_components, dim=1)
        return out.detach().cpu().numpy() if as_numpy else out

    def cdf(self, x) -> torch.Tensor | np.ndarray:
        """1D only: F(x) = sum_k w_k Phi((x - mu_k) / sigma_k)."""
        if self.dim != 1:
            raise ValueError("the CDF is defined here for 1D mixtures only (use marginal(i) first)")
        x, as_numpy = self._input(x)
        stds = self.scale_tril[:, 0, 0]
        out = (self.weights * torch.special.ndtr((x - self.means[:, 0]) / stds)).sum(1)
        return out.detach().cpu().numpy() if as_numpy else out

    # --- sampling ----------------------------------------------------------------------
    def sample(self, n: int, seed: int | torch.Generator | np.random.Generator = 0) -> torch.Tensor | np.ndarray:
        """Ancestral sampling: k ~ Cat(w), then x = mu_k + L_k eps, eps ~ N(0, I); shape (n, d).

        A ``numpy.random.Generator`` draws with NumPy and returns an array; an int or a
        ``torch.Generator`` draws with torch on the mixture's device and returns a tensor.
        """
        if isinstance(seed, np.random.Generator):
            arrays = self.params
            components = seed.choice(len(arrays.weights), size=int(n), p=arrays.weights)
            noise = seed.standard_normal((int(n), self.dim))
            chols = np.linalg.cholesky(arrays.covariances)
            return arrays.means[components] + np.einsum("nij,nj->ni", chols[components], noise)
        with torch.no_grad():
            return self.rsample(n, seed)

    def rsample(self, n: int, seed: int | torch.Generator = 0) -> torch.Tensor:
        """``sample`` with the reparameterisation x = mu_k + L_k eps: differentiable in the means and
        covariances (not in the weights: the component is a discrete draw)."""
        generator = seed if isinstance(seed, torch.Generator) else torch_generator(seed, self.device)
        components = torch.multinomial(self.weights.detach(), int(n), replacement=True, generator=generator)
        noise = torch.randn(int(n), self.dim, 1, dtype=self.means.dtype, device=self.device, generator=generator)
        return self.means[components] + (self.scale_tril[components] @ noise)[..., 0]

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.n_components}, d={self.dim}, device={self.device.type})"
