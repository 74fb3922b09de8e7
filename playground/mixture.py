"""Gaussian mixtures fitted by expectation-maximisation (EM); the step-by-step teaching
steppers built on it (half-steps, EM vs gradient descent, presets) are in ``playground.em``.

The math lives in small pure torch functions (``e_step``, ``m_step``,
``estimate_log_gaussian_prob``...) that follow scikit-learn's
``sklearn/mixture/_gaussian_mixture.py`` step for step, so that the same initial
parameters give the same fitted parameters to float64 round-off. Everything runs on
the chosen device, in float64 unless asked otherwise, and every sum over components
is a log-sum-exp.

Shapes (numpydoc style): ``X : (N, d)``, ``responsibilities : (N, K)``,
``weights : (K,)``, ``means : (K, d)``; covariances and precision Cholesky factors
depend on ``covariance_type``: full ``(K, d, d)``, tied ``(d, d)``, diag ``(K, d)``,
spherical ``(K,)``.

>>> import numpy as np
>>> X = np.r_[np.random.default_rng(0).normal(-2, 0.5, (200, 1)), np.random.default_rng(1).normal(2, 0.5, (200, 1))]
>>> gm = GaussianMixture(2, random_state=0, device="cpu").fit(X)
>>> np.round(np.sort(gm.means_[:, 0]))
array([-2.,  2.])
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array

from playground import distributions
from playground.device import default_device, to_numpy
from playground.seeding import SeedLike, rng
from playground.validation import check_is_fitted, check_X

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


class SingularCovarianceError(ValueError):
    """A component's covariance is not positive definite (it collapsed onto too few points)."""

    def __init__(self, components: list[int] | None = None) -> None:
        self.components = components or []
        which = f" (component{'s' if len(self.components) > 1 else ''} " \
                f"{', '.join(str(k + 1) for k in self.components)})" if self.components else ""
        super().__init__(
            f"A covariance became singular{which}: the component collapsed onto too few points. "
            "Increase reg_covar (it adds reg_covar * I to every covariance), use fewer components, "
            "or rescale the data."
        )


# ----------------------------------------------------------------------------------
# Parameters as one value
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixtureState:
    """The parameters of a mixture as torch tensors: what EM updates."""

    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, d)
    covariances: torch.Tensor  # shape by covariance_type
    precisions_cholesky: torch.Tensor  # shape by covariance_type
    covariance_type: str

    def numpy(self) -> dict[str, np.ndarray]:
        """The parameters as NumPy arrays (for figures and tables)."""
        return {"weights": to_numpy(self.weights), "means": to_numpy(self.means),
                "covariances": to_numpy(self.covariances),
                "precisions_cholesky": to_numpy(self.precisions_cholesky)}

    def full_covariances(self) -> np.ndarray:
        """Covariances expanded to ``(K, d, d)`` whatever the covariance type."""
        return full_covariances(to_numpy(self.covariances), self.covariance_type, self.means.shape[0],
                                self.means.shape[1])


def full_covariances(covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Expand covariances of any type to ``(K, d, d)`` matrices."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return covariances.reshape(n_components, n_features, n_features)
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features)).copy()
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances.reshape(n_components, n_features)])
    return covariances.reshape(n_components, 1, 1) * np.eye(n_features)


# ----------------------------------------------------------------------------------
# Pure math: densities, E-step, M-step
# ----------------------------------------------------------------------------------


def compute_precision_cholesky(covariances: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Upper-triangular U with U U^T = Sigma^{-1} (full/tied); 1/sqrt(variance) otherwise.

    Raises ``SingularCovarianceError`` when a covariance is not positive definite.
    """
    if covariance_type in ("full", "tied"):
        batch = covariances if covariance_type == "full" else covariances.unsqueeze(0)
        cholesky, info = torch.linalg.cholesky_ex(batch)  # Sigma = L L^T, L lower
        bad = (info != 0) | ~torch.isfinite(cholesky).all(dim=(-2, -1))
        if bool(bad.any()):
            raise SingularCovarianceError(torch.nonzero(bad).flatten().tolist() if covariance_type == "full" else [])
        eye = torch.eye(batch.shape[-1], dtype=batch.dtype, device=batch.device).expand_as(batch)
        # L^{-1} transposed: (L^{-1})^T (L^{-1}) = Sigma^{-1}, upper triangular
        precisions_cholesky = torch.linalg.solve_triangular(cholesky, eye, upper=False).transpose(-2, -1)
        return precisions_cholesky if covariance_type == "full" else precisions_cholesky[0]
    bad = ~(covariances > 0)
    if bool(bad.any()):
        components = torch.nonzero(bad.reshape(covariances.shape[0], -1).any(dim=1)).flatten().tolist()
        raise SingularCovarianceError(components)
    return 1.0 / torch.sqrt(covariances)


def precision_cholesky_from_precisions(precisions: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Upper Cholesky factor U (U U^T = precision), via the flipped lower factor as in scikit-learn."""
    if covariance_type in ("full", "tied"):
        flipped = torch.flip(precisions, dims=(-2, -1))
        return torch.flip(torch.linalg.cholesky(flipped), dims=(-2, -1))
    return torch.sqrt(precisions)


def covariances_from_precision_cholesky(precisions_cholesky: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Sigma = (U U^T)^{-1} = U^{-T} U^{-1} (full/tied); 1/U^2 otherwise."""
    if covariance_type in ("full", "tied"):
        eye = torch.eye(precisions_cholesky.shape[-1], dtype=precisions_cholesky.dtype,
                        device=precisions_cholesky.device).expand_as(precisions_cholesky)
        inverse = torch.linalg.solve_triangular(precisions_cholesky, eye, upper=True)  # U^{-1}
        return inverse.transpose(-2, -1) @ inverse
    return 1.0 / precisions_cholesky**2


def log_det_cholesky(precisions_cholesky: torch.Tensor, covariance_type: str, n_features: int) -> torch.Tensor:
    """log det U = -1/2 log det Sigma, per component (a scalar for tied)."""
    if covariance_type == "full":
        return torch.log(torch.diagonal(precisions_cholesky, dim1=-2, dim2=-1)).sum(dim=-1)
    if covariance_type == "tied":
        return torch.log(torch.diagonal(precisions_cholesky)).sum()
    if covariance_type == "diag":
        return torch.log(precisions_cholesky).sum(dim=1)
    return n_features * torch.log(precisions_cholesky)


def estimate_log_gaussian_prob(X: torch.Tensor, means: torch.Tensor, precisions_cholesky: torch.Tensor,
                               covariance_type: str) -> torch.Tensor:
    """log N(x_n | mu_k, Sigma_k) for every point and component: ``(N, K)``."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    log_det = log_det_cholesky(precisions_cholesky, covariance_type, n_features)
    if covariance_type == "full":
        # y_nk = U_k^T (x_n - mu_k), all components in one matrix product: (N, K, d)
        stacked = precisions_cholesky.transpose(0, 1).reshape(n_features, n_components * n_features)
        y = (X @ stacked).view(n_samples, n_components, n_features)
        y = y - torch.einsum("kd,kde->ke", means, precisions_cholesky).unsqueeze(0)
        mahalanobis = (y * y).sum(dim=2)
    elif covariance_type == "tied":
        y = (X @ precisions_cholesky).unsqueeze(1) - (means @ precisions_cholesky).unsqueeze(0)
        mahalanobis = (y * y).sum(dim=2)
    elif covariance_type == "diag":
        precisions = precisions_cholesky**2
        mahalanobis = ((means**2 * precisions).sum(dim=1) - 2.0 * (X @ (means * precisions).T)
                       + (X**2) @ precisions.T)
    else:
        precisions = precisions_cholesky**2
        mahalanobis = ((means**2).sum(dim=1) * precisions - 2.0 * (X @ means.T) * precisions
                       + torch.outer((X**2).sum(dim=1), precisions))
    return -0.5 * (n_features * math.log(2 * math.pi) + mahalanobis) + log_det


def weighted_log_prob(X: torch.Tensor, state: MixtureState) -> torch.Tensor:
    """log pi_k + log N(x_n | mu_k, Sigma_k): ``(N, K)``."""
    return estimate_log_gaussian_prob(X, state.means, state.precisions_cholesky, state.covariance_type) \
        + torch.log(state.weights)


def e_step(X: torch.Tensor, state: MixtureState) -> tuple[torch.Tensor, torch.Tensor]:
    """E-step: ``(log p(x_n), log responsibilities)``, shapes ``(N,)`` and ``(N, K)``.

    gamma_nk = pi_k N(x_n|mu_k,Sigma_k) / sum_j pi_j N(x_n|mu_j,Sigma_j), a softmax over k
    computed with log-sum-exp.
    """
    weighted = weighted_log_prob(X, state)
    log_prob_norm = torch.logsumexp(weighted, dim=1)
    return log_prob_norm, weighted - log_prob_norm.unsqueeze(1)


def estimate_gaussian_parameters(X: torch.Tensor, responsibilities: torch.Tensor, reg_covar: float,
                                 covariance_type: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted MLE: ``N_k = sum_n gamma_nk``, ``mu_k = sum_n gamma_nk x_n / N_k`` and the covariances.

    Sigma_k = sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg_covar * I.
    """
    eps = torch.finfo(responsibilities.dtype).eps
    nk = responsibilities.sum(dim=0) + 10 * eps  # (K,)  10 eps keeps an empty component finite
    means = (responsibilities.T @ X) / nk.unsqueeze(1)  # (K, d)
    n_features = X.shape[1]
    if covariance_type == "full":
        diff = X.unsqueeze(1) - means.unsqueeze(0)  # (N, K, d)
        weighted = diff * responsibilities.unsqueeze(2)
        covariances = torch.einsum("nkd,nke->kde", weighted, diff) / nk.view(-1, 1, 1)
        covariances = covariances + reg_covar * torch.eye(n_features, dtype=X.dtype, device=X.device)
    elif covariance_type == "tied":
        covariances = (X.T @ X - (nk * means.T) @ means) / nk.sum()
        covariances = covariances + reg_covar * torch.eye(n_features, dtype=X.dtype, device=X.device)
    else:
        average_x2 = (responsibilities.T @ (X * X)) / nk.unsqueeze(1)
        covariances = average_x2 - means**2 + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(dim=1)
    return nk, means, covariances


def m_step(X: torch.Tensor, responsibilities: torch.Tensor, reg_covar: float, covariance_type: str) -> MixtureState:
    """M-step: the closed-form maximiser ``pi_k = N_k / N``, weighted means and covariances."""
    nk, means, covariances = estimate_gaussian_parameters(X, responsibilities, reg_covar, covariance_type)
    return MixtureState(weights=nk / nk.sum(), means=means, covariances=covariances,
                        precisions_cholesky=compute_precision_cholesky(covariances, covariance_type),
                        covariance_type=covariance_type)


def lower_bound(log_responsibilities: torch.Tensor, weighted: torch.Tensor) -> float:
    """Mean ELBO sum_k q_nk (log pi_k N_k(x_n) - log q_nk); equals the log-likelihood when q is the posterior."""
    q = torch.exp(log_responsibilities)
    terms = torch.where(q > 0, q * (weighted - log_responsibilities), torch.zeros_like(q))
    return float(terms.sum(dim=1).mean())


def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Free parameters: K - 1 weights, K d means and the covariances."""
    covariance_params = {"full": n_components * n_features * (n_features + 1) / 2,
                         "diag": n_components * n_features,
                         "tied": n_features * (n_features + 1) / 2,
                         "spherical": n_components}[covariance_type]
    return int(covariance_params + n_features * n_components + n_components - 1)


class FusedEM:
    """EM iterations in a few passes over the data, for ``GaussianMixture.fit``.

    The same updates as ``e_step`` + ``m_step`` (tested equal), rearranged for speed:
    the data are centred once (better rounding), the squared distances come from one
    matrix product with precomputed features, the responsibilities are made in place,
    and the M-step's sums N_k and sum_n gamma_nk x_n come from a single product
    ``gamma^T [x, 1]``; covariances are summed about each component's new mean.
    """

    def __init__(self, X: torch.Tensor, covariance_type: str, reg_covar: float) -> None:
        self.covariance_type, self.reg_covar = covariance_type, float(reg_covar)
        self.shift = X.mean(dim=0)
        centred = X - self.shift
        n_samples, n_features = X.shape
        ones = torch.ones((n_samples, 1), dtype=X.dtype, device=X.device)
        self.augmented = torch.cat([centred, ones], dim=1)  # (N, d + 1)
        # diag / spherical: Mahalanobis distances from [1, x, x^2] @ coefficients (one product)
        self.features = torch.cat([ones, centred, centred * centred], dim=1) \
            if covariance_type in ("diag", "spherical") else None
        self.eye = torch.eye(n_features, dtype=X.dtype, device=X.device)

    def centre(self, state: MixtureState) -> MixtureState:
        return replace(state, means=state.means - self.shift)

    def uncentre(self, state: MixtureState) -> MixtureState:
        return replace(state, means=state.means + self.shift)

    def weighted_log_prob(self, state: MixtureState) -> torch.Tensor:
        """log pi_k + log N(x_n | mu_k, Sigma_k) for the centred data, ``(N, K)``."""
        n_components, n_features = state.means.shape
        n_samples = self.augmented.shape[0]
        log_det = log_det_cholesky(state.precisions_cholesky, self.covariance_type, n_features)
        if self.covariance_type in ("full", "tied"):
            factors = state.precisions_cholesky.expand(n_components, n_features, n_features)
            # [x, 1] @ [[U_k], [-mu_k U_k]] = U_k^T (x - mu_k), for all k at once
            shifts = -torch.einsum("kd,kde->ke", state.means, factors)
            stacked = torch.cat([factors.transpose(0, 1).reshape(n_features, -1), shifts.reshape(1, -1)], dim=0)
            y = (self.augmented @ stacked).square_()
            mahalanobis = y.view(n_samples, n_components, n_features).sum(dim=2)
        else:
            precisions = state.precisions_cholesky**2
            if self.covariance_type == "spherical":
                precisions = precisions.unsqueeze(1).expand(n_components, n_features)
            # sum_j p_kj (x_j - mu_kj)^2 = [1, x, x^2] @ [sum_j p mu^2, -2 p mu, p]
            coefficients = torch.cat([(precisions * state.means**2).sum(dim=1, keepdim=True),
                                      -2 * precisions * state.means, precisions], dim=1)
            mahalanobis = self.features @ coefficients.T
        constant = -0.5 * n_features * math.log(2 * math.pi) + log_det + torch.log(state.weights)
        return mahalanobis.mul_(-0.5).add_(constant)

    def iteration(self, state: MixtureState) -> tuple[float, MixtureState]:
        """One E-step and M-step: (mean log-likelihood before the update, new centred state).

        N_k and sum_n gamma_nk x_n come from one product ``gamma^T [x, 1]``; the covariances
        are then summed about each new mean (a second pass, as scikit-learn's full
        covariances): E[x x^T] - mu mu^T would cancel catastrophically for tight components
        far from the data's centre (offset / std = 1e7 lost ~3 % of the covariance).
        """
        weighted = self.weighted_log_prob(state)
        log_prob_norm = torch.logsumexp(weighted, dim=1)
        responsibilities = weighted.sub_(log_prob_norm.unsqueeze(1)).exp_()
        moments = responsibilities.T @ self.augmented  # (K, d + 1): sum gamma x, N_k
        n_components, n_features = state.means.shape
        nk = moments[:, n_features] + 10 * torch.finfo(moments.dtype).eps
        means = moments[:, :n_features] / nk.unsqueeze(1)
        centred = self.augmented[:, :n_features]
        # one component at a time: (N, d) work arrays, faster than one (N, K, d) einsum on a CPU
        if self.covariance_type in ("full", "tied"):
            scatter = torch.stack([((centred - means[k]) * responsibilities[:, k:k + 1]).T @ (centred - means[k])
                                   for k in range(n_components)])  # (K, d, d)
            if self.covariance_type == "full":
                covariances = scatter / nk.view(-1, 1, 1) + self.reg_covar * self.eye
            else:
                covariances = scatter.sum(dim=0) / nk.sum() + self.reg_covar * self.eye
        else:
            covariances = torch.stack([responsibilities[:, k] @ (centred - means[k]).square_()
                                       for k in range(n_components)]) / nk.unsqueeze(1) + self.reg_covar
            if self.covariance_type == "spherical":
                covariances = covariances.mean(dim=1)
        new_state = MixtureState(nk / nk.sum(), means, covariances,
                                 compute_precision_cholesky(covariances, self.covariance_type), self.covariance_type)
        return float(log_prob_norm.mean()), new_state


# ----------------------------------------------------------------------------------
# Initialisation
# ----------------------------------------------------------------------------------


def kmeans_plusplus(X: torch.Tensor, n_clusters: int, generator: np.random.Generator) -> torch.Tensor:
    """Indices of k-means++ seeds (greedy, 2 + log K local trials, as scikit-learn)."""
    n_samples = X.shape[0]
    n_local_trials = 2 + int(np.log(n_clusters))
    indices = [int(generator.integers(n_samples))]
    closest = ((X - X[indices[0]]) ** 2).sum(dim=1)
    for _ in range(1, n_clusters):
        total = float(closest.sum())
        if total <= 0:  # every point already sits on a centre: pick any unused point
            unused = np.setdiff1d(np.arange(n_samples), indices)
            indices.append(int(generator.choice(unused)))
            continue
        cumulative = to_numpy(torch.cumsum(closest, dim=0))
        candidates = np.searchsorted(cumulative, generator.uniform(size=n_local_trials) * total)
        candidates = np.clip(candidates, 0, n_samples - 1)
        distances = ((X.unsqueeze(0) - X[torch.as_tensor(candidates, device=X.device)].unsqueeze(1)) ** 2).sum(dim=2)
        candidate_closest = torch.minimum(closest.unsqueeze(0), distances)
        best = int(torch.argmin(candidate_closest.sum(dim=1)))
        indices.append(int(candidates[best]))
        closest = candidate_closest[best]
    return torch.as_tensor(indices, device=X.device)


def kmeans_labels(X: torch.Tensor, n_clusters: int, generator: np.random.Generator, max_iter: int = 100) -> torch.Tensor:
    """Lloyd's k-means from k-means++ seeds: the cluster label of each point, ``(N,)``."""
    centres = X[kmeans_plusplus(X, n_clusters, generator)]
    labels = torch.full((X.shape[0],), -1, dtype=torch.long, device=X.device)
    for _ in range(max_iter):
        new_labels = torch.cdist(X, centres).argmin(dim=1)
        if bool((new_labels == labels).all()):
            break
        labels = new_labels
        counts = torch.bincount(labels, minlength=n_clusters).to(X.dtype)
        sums = torch.zeros_like(centres).index_add_(0, labels, X)
        centres = torch.where(counts.unsqueeze(1) > 0, sums / counts.clamp(min=1).unsqueeze(1), centres)
    return labels


def initial_responsibilities(X: torch.Tensor, n_components: int, init_params: str,
                             generator: np.random.Generator) -> torch.Tensor:
    """Starting responsibilities ``(N, K)`` for each of scikit-learn's ``init_params``."""
    n_samples = X.shape[0]
    responsibilities = torch.zeros((n_samples, n_components), dtype=X.dtype, device=X.device)
    columns = torch.arange(n_components, device=X.device)
    if init_params == "kmeans":
        responsibilities[torch.arange(n_samples, device=X.device), kmeans_labels(X, n_components, generator)] = 1
    elif init_params == "random":
        uniform = torch.as_tensor(generator.uniform(size=(n_samples, n_components)), dtype=X.dtype, device=X.device)
        responsibilities = uniform / uniform.sum(dim=1, keepdim=True)
    elif init_params == "random_from_data":
        indices = torch.as_tensor(generator.choice(n_samples, size=n_components, replace=False), device=X.device)
        responsibilities[indices, columns] = 1
    elif init_params == "k-means++":
        responsibilities[kmeans_plusplus(X, n_components, generator), columns] = 1
    else:
        raise ValueError(f"init_params must be one of {', '.join(INIT_METHODS)}, not {init_params!r}")
    return responsibilities


def state_from_arrays(weights: Any, means: Any, covariances: Any | None = None, *, precisions: Any | None = None,
                      covariance_type: str = "full", device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float64) -> MixtureState:
    """A ``MixtureState`` from NumPy parameters: covariances, or precisions as in scikit-learn's ``precisions_init``."""
    device = torch.device(device) if device is not None else default_device()

    def tensor(value: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)

    weights_t, means_t = tensor(weights), tensor(means)
    if means_t.ndim == 1:
        means_t = means_t.unsqueeze(1)
    if precisions is not None:
        precisions_cholesky = precision_cholesky_from_precisions(tensor(precisions), covariance_type)
        covariances_t = covariances_from_precision_cholesky(precisions_cholesky, covariance_type)
    elif covariances is not None:
        covariances_t = tensor(covariances)
        precisions_cholesky = compute_precision_cholesky(covariances_t, covariance_type)
    else:
        raise ValueError("give covariances or precisions")
    return MixtureState(weights_t, means_t, covariances_t, precisions_cholesky, covariance_type)


def _check_shape(value: np.ndarray, shape: tuple[int, ...], name: str) -> None:
    if value.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {value.shape}")


def check_weights(weights: Any, n_components: int) -> np.ndarray:
    """``weights_init`` as scikit-learn checks it: shape (K,), in [0, 1], summing to 1."""
    weights = check_array(weights, dtype=np.float64, ensure_2d=False, input_name="weights_init")
    _check_shape(weights, (n_components,), "weights")
    if weights.min() < 0.0 or weights.max() > 1.0:
        raise ValueError("The parameter 'weights' should be in the range [0, 1], but got "
                         f"max value {weights.max():.5f}, min value {weights.min():.5f}")
    if not np.allclose(np.abs(1.0 - weights.sum()), 0.0):
        raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {weights.sum():.5f}")
    return weights


def check_means(means: Any, n_components: int, n_features: int) -> np.ndarray:
    """``means_init`` as scikit-learn checks it: shape (K, d), never reshaped."""
    means = check_array(means, dtype=np.float64, ensure_2d=False, input_name="means_init")
    _check_shape(means, (n_components, n_features), "means")
    return means


def check_precisions(precisions: Any, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """``precisions_init`` as scikit-learn checks it: the covariance type's shape; positive
    (diag, spherical) or symmetric positive-definite (full, tied) matrices."""
    precisions = check_array(precisions, dtype=np.float64, ensure_2d=False, allow_nd=covariance_type == "full",
                             input_name="precisions_init")
    shapes = {"full": (n_components, n_features, n_features), "tied": (n_features, n_features),
              "diag": (n_components, n_features), "spherical": (n_components,)}
    _check_shape(precisions, shapes[covariance_type], f"{covariance_type} precision")
    if covariance_type in ("diag", "spherical"):
        if np.any(np.less_equal(precisions, 0.0)):
            raise ValueError(f"'{covariance_type} precision' should be positive")
        return precisions
    for matrix in precisions if covariance_type == "full" else [precisions]:
        if not (np.allclose(matrix, matrix.T) and np.all(np.linalg.eigvalsh(matrix) > 0.0)):
            raise ValueError(f"'{covariance_type} precision' should be symmetric, positive-definite")
    return precisions


def as_data(X: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Validate data and put it on the device: 1D input becomes ``(N, 1)``; NaN/inf is refused."""
    array = to_numpy(X).astype(np.float64, copy=False)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"X must be a non-empty (N, d) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("X contains NaN or infinite values: remove or impute them first")
    return torch.as_tensor(array, dtype=dtype, device=device)


def _as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    return {"float64": torch.float64, "float32": torch.float32, "double": torch.float64,
            "float": torch.float32}[str(dtype)]


# ----------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM, with scikit-learn's parameters and fitted attributes.

    A scikit-learn estimator (``get_params``, ``clone``, ``GridSearchCV``, pipelines;
    ``check_estimator`` passes but for the checks listed in ``tests/test_sklearn_checks.py``).
    Input is validated by scikit-learn's helpers (``playground.validation``); the
    ``*_init`` arrays are checked as scikit-learn checks them. Fitted attributes are
    NumPy float64 arrays with scikit-learn's shapes: ``weights_``, ``means_``,
    ``covariances_``, ``precisions_cholesky_``, ``converged_``, ``n_iter_``,
    ``lower_bound_`` (mean log-likelihood at the last E-step), ``n_features_in_``.
    A ``ConvergenceWarning`` says when ``max_iter`` ended the fit unconverged.
    ``sample(n, seed)`` returns an ``(n, d)`` array (scikit-learn's returns ``(X, labels)``:
    that is ``sample_with_labels``).
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init: Any = None, means_init: Any = None, precisions_init: Any = None,
                 random_state: SeedLike = None, device: torch.device | str | None = None,
                 dtype: torch.dtype | str = "float64") -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.device = device
        self.dtype = dtype

    # --- helpers ---------------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return torch.device(self.device) if self.device is not None else default_device()

    def _check(self, X: torch.Tensor) -> None:
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}")
        if int(self.n_components) < 1:
            raise ValueError("n_components must be at least 1")
        if X.shape[0] < self.n_components:
            raise ValueError(f"K = {self.n_components} components need at least K points; got N = {X.shape[0]}")
        if self.reg_covar < 0:
            raise ValueError("reg_covar must be non-negative")
        if int(self.max_iter) < 1:
            raise ValueError("max_iter must be at least 1")
        n_components, n_features = int(self.n_components), X.shape[1]
        if self.weights_init is not None:
            check_weights(self.weights_init, n_components)
        if self.means_init is not None:
            check_means(self.means_init, n_components, n_features)
        if self.precisions_init is not None:
            check_precisions(self.precisions_init, self.covariance_type, n_components, n_features)

    def initial_state(self, X: torch.Tensor, generator: np.random.Generator) -> MixtureState:
        """The starting parameters: ``init_params`` responsibilities, then any ``*_init`` overrides."""
        responsibilities = initial_responsibilities(X, self.n_components, self.init_params, generator)
        nk, means, covariances = estimate_gaussian_parameters(X, responsibilities, self.reg_covar, self.covariance_type)
        weights = nk / X.shape[0]
        tensor = lambda value: torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=X.dtype, device=X.device)  # noqa: E731
        if self.weights_init is not None:
            weights = tensor(self.weights_init)
        if self.means_init is not None:
            means = tensor(check_means(self.means_init, self.n_components, X.shape[1]))
        if self.precisions_init is not None:
            precisions_cholesky = precision_cholesky_from_precisions(tensor(self.precisions_init), self.covariance_type)
            covariances = covariances_from_precision_cholesky(precisions_cholesky, self.covariance_type)
        else:
            precisions_cholesky = compute_precision_cholesky(covariances, self.covariance_type)
        return MixtureState(weights, means, covariances, precisions_cholesky, self.covariance_type)

    def _set_state(self, state: MixtureState) -> None:
        self.state_ = state
        arrays = state.numpy()
        self.weights_ = arrays["weights"]
        self.means_ = arrays["means"]
        self.covariances_ = arrays["covariances"]
        self.precisions_cholesky_ = arrays["precisions_cholesky"]

    def _current_state(self, X: torch.Tensor) -> MixtureState:
        """Tensors from the (possibly user-set) NumPy fitted attributes."""
        check_is_fitted(self)
        tensor = lambda value: torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=X.dtype, device=X.device)  # noqa: E731
        return MixtureState(tensor(self.weights_), tensor(self.means_), tensor(self.covariances_),
                            tensor(self.precisions_cholesky_), self.covariance_type)

    # --- scikit-learn API --------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> "GaussianMixture":
        """Run EM ``n_init`` times (each until the mean log-likelihood changes by < tol); keep the best."""
        X_t = torch.as_tensor(check_X(self, X, reset=True), dtype=_as_dtype(self.dtype), device=self._device)
        self._check(X_t)
        generator = rng(self.random_state)
        best: tuple[float, MixtureState, int, bool, list[float]] | None = None
        for _ in range(max(1, int(self.n_init))):
            state = self.initial_state(X_t, generator)
            bound, converged, n_iter, bounds = -math.inf, False, 0, []
            kernel = FusedEM(X_t, self.covariance_type, self.reg_covar)
            centred = kernel.centre(state)
            for n_iter in range(1, int(self.max_iter) + 1):
                previous = bound
                bound, centred = kernel.iteration(centred)
                bounds.append(bound)
                if abs(bound - previous) < self.tol:
                    converged = True
                    break
            state = kernel.uncentre(centred)
            if best is None or bound > best[0]:
                best = (bound, state, n_iter, converged, bounds)
        bound, state, n_iter, converged, bounds = best
        if not converged:
            warnings.warn(f"Best of {max(1, int(self.n_init))} initialisation(s) did not converge in max_iter = "
                          f"{self.max_iter} iterations (tol = {self.tol}): raise max_iter or tol, or check the data.",
                          ConvergenceWarning, stacklevel=2)
        self._set_state(state)
        self.lower_bound_, self.n_iter_, self.converged_, self.lower_bounds_ = bound, n_iter, converged, bounds
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then the most responsible component of each training point."""
        return self.fit(X).predict(X)

    def _validated(self, X: Any) -> torch.Tensor:
        return torch.as_tensor(check_X(self, X, reset=False), dtype=_as_dtype(self.dtype), device=self._device)

    def score_samples(self, X: Any) -> np.ndarray:
        """log p(x_n) for each row, ``(N,)`` (log-sum-exp over components)."""
        X_t = self._validated(X)
        return to_numpy(torch.logsumexp(weighted_log_prob(X_t, self._current_state(X_t)), dim=1))

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Responsibilities gamma_nk, ``(N, K)``."""
        X_t = self._validated(X)
        return to_numpy(torch.exp(e_step(X_t, self._current_state(X_t))[1]))

    def predict(self, X: Any) -> np.ndarray:
        """Most responsible component of each point."""
        return self.predict_proba(X).argmax(axis=1)

    @property
    def n_parameters(self) -> int:
        """Number of free parameters of the fitted model."""
        check_is_fitted(self)
        return n_parameters(self.n_components, self.means_.shape[1], self.covariance_type)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion: -2 sum_n log p(x_n) + n_parameters log N."""
        n_samples = check_X(self, X, reset=False).shape[0]
        return float(-2 * self.score(X) * n_samples + self.n_parameters * np.log(n_samples))

    def aic(self, X: Any) -> float:
        """Akaike information criterion: -2 sum_n log p(x_n) + 2 n_parameters."""
        n_samples = check_X(self, X, reset=False).shape[0]
        return float(-2 * self.score(X) * n_samples + 2 * self.n_parameters)

    def sample_with_labels(self, n: int, seed: SeedLike = None) -> tuple[np.ndarray, np.ndarray]:
        """Ancestral sampling: z ~ Categorical(pi), then x ~ N(mu_z, Sigma_z); returns ``(X, z)``."""
        check_is_fitted(self)
        generator = rng(seed)
        n_components, n_features = self.means_.shape
        weights = np.asarray(self.weights_, dtype=np.float64)
        counts = generator.multinomial(int(n), weights / weights.sum())
        labels = np.repeat(np.arange(n_components), counts)
        covariances = full_covariances(self.covariances_, self.covariance_type, n_components, n_features)
        cholesky = np.linalg.cholesky(covariances)  # (K, d, d)
        noise = generator.standard_normal((int(n), n_features))
        samples = self.means_[labels] + np.einsum("nde,ne->nd", cholesky[labels], noise)
        return samples, labels

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """``n`` draws from the fitted mixture, shape ``(n, d)``."""
        return self.sample_with_labels(n, seed)[0]


def fitted_mixture(state: MixtureState, *, reg_covar: float = 1e-6, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float64) -> GaussianMixture:
    """A ``GaussianMixture`` holding the given parameters (for scoring and sampling)."""
    model = GaussianMixture(state.weights.shape[0], covariance_type=state.covariance_type, reg_covar=reg_covar,
                            device=device, dtype=dtype)
    model._set_state(state)
    model.converged_, model.n_iter_, model.lower_bound_ = False, 0, -math.inf
    model.n_features_in_ = int(state.means.shape[1])
    return model


def mixture_components_1d(model: GaussianMixture, axis: np.ndarray) -> np.ndarray:
    """alpha_k N(x | mu_k, sigma_k^2) of a fitted 1D mixture on ``axis``: (K, len(axis)); they sum to p(x)."""
    check_is_fitted(model)
    variances = np.asarray(model.covariances_, dtype=np.float64).reshape(len(model.weights_))
    mixture = distributions.GaussianMixture(model.weights_, np.asarray(model.means_).reshape(-1, 1), variances,
                                            device="cpu")
    return np.exp(mixture.component_log_prob(np.asarray(axis, dtype=np.float64)[:, None]).T)


# ----------------------------------------------------------------------------------
# 1D densities on a plotting grid (NumPy, for the figure builders)
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixtureCurves1D:
    """A 1D mixture on a grid: ``weighted[k] = alpha_k N(grid | mu_k, sigma_k^2)`` (K, n), their sum
    ``mixture`` (n,), and the responsibilities ``gamma[k](x) = weighted[k] / mixture`` (K, n)."""

    grid: np.ndarray
    weighted: np.ndarray
    mixture: np.ndarray
    responsibilities: np.ndarray


def mixture_curves_1d(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, *,
                      x_range: tuple[float, float] | None = None, n_points: int = 600) -> MixtureCurves1D:
    """The curves of ``figures.mixture.mixture_1d_figure`` on ``n_points`` between ``x_range`` (by default
    the data's range +- 1). ``means`` (K, 1) and ``covariances`` of any shape holding K variances."""
    x_data = np.asarray(X).reshape(-1)
    low, high = x_range or (float(x_data.min()) - 1.0, float(x_data.max()) + 1.0)
    variances = np.maximum(np.asarray(covariances, dtype=np.float64).reshape(len(weights)), 1e-300)  # a spike, not NaN
    # A regular grid, refined around each component (its mean +- 4 sigma at 41 points): a component
    # collapsing onto one point shows as the spike it is, not a blip between two grid points.
    local = np.asarray(means, dtype=np.float64).reshape(-1, 1) + np.sqrt(variances)[:, None] * np.linspace(-4, 4, 41)
    grid = np.union1d(np.linspace(low, high, n_points), local[(local >= low) & (local <= high)])
    mixture_1d = distributions.GaussianMixture(weights, np.asarray(means).reshape(-1, 1), variances, device="cpu")
    weighted = np.exp(mixture_1d.component_log_prob(grid[:, None]).T)  # w_k N(grid | mu_k, sigma_k^2)
    mixture = weighted.sum(axis=0)
    return MixtureCurves1D(grid, weighted, mixture, weighted / np.maximum(mixture, 1e-300))
