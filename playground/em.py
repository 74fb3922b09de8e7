"""EM step by step, for teaching: half-steps with a history, EM vs gradient descent, failure presets, restarts.

Built on the EM math of ``playground.mixture`` (which matches scikit-learn step for
step). ``EMStepper`` records every E- and M-half-step (responsibilities, parameters,
log-likelihood and ELBO) so a page can step, play and scrub back in time;
``GradientDescentFitter`` fits the same mixture by Adam on unconstrained parameters
from the same start; ``FAILURE_PRESETS`` and ``run_restarts`` stage the classic
failures (a collapsing component, local optima, too few components).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from playground import nets
from playground.device import default_device, to_numpy
from playground.mixture import (
    GaussianMixture,
    MixtureState,
    SingularCovarianceError,
    as_data,
    compute_precision_cholesky,
    fitted_mixture,
    kmeans_plusplus,
    lower_bound,
    m_step,
    weighted_log_prob,
)
from playground.seeding import SeedLike, rng
from playground.distributions import GaussianMixture as GaussianDistribution
from playground.stepper import Stepper, TorchStepper

# ----------------------------------------------------------------------------------
# Starting points shared by the EM and gradient-descent steppers
# ----------------------------------------------------------------------------------

MANUAL_INIT = "manual"


def data_covariance(X: torch.Tensor, covariance_type: str, n_components: int, reg_covar: float) -> torch.Tensor:
    """The data's own covariance, in the shape ``covariance_type`` needs, for every component."""
    n_features = X.shape[1]
    centred = X - X.mean(dim=0)
    covariance = centred.T @ centred / X.shape[0] + reg_covar * torch.eye(n_features, dtype=X.dtype, device=X.device)
    if covariance_type == "full":
        return covariance.expand(n_components, n_features, n_features).clone()
    if covariance_type == "tied":
        return covariance
    variances = torch.diagonal(covariance)
    if covariance_type == "diag":
        return variances.expand(n_components, n_features).clone()
    return variances.mean().expand(n_components).clone()


def starting_state(X: torch.Tensor, n_components: int, *, covariance_type: str = "full", init: str = "kmeans",
                   reg_covar: float = 1e-6, seed: SeedLike = 0, means: Any = None) -> MixtureState:
    """The parameters EM (or gradient descent) starts from.

    ``init`` is ``"kmeans"`` or ``"random"`` (scikit-learn's initial responsibilities
    followed by one M-step), ``"k-means++"`` or ``"random_from_data"`` (those points
    become the means), or ``"manual"`` (the given ``means``, shape (K, d)). Means
    given as points start with equal weights and the data's covariance for every
    component: scikit-learn would give each a covariance of ``reg_covar * I``, a
    start whose log-likelihood is off any useful plot scale.
    """
    if X.shape[0] < n_components:
        raise ValueError(f"K = {n_components} components need at least K points; got N = {X.shape[0]}")
    if init == "k-means++":
        means = X[kmeans_plusplus(X, n_components, rng(seed))]
    elif init == "random_from_data":
        means = X[torch.as_tensor(rng(seed).choice(X.shape[0], size=n_components, replace=False), device=X.device)]
    elif init != MANUAL_INIT:
        model = GaussianMixture(n_components, covariance_type=covariance_type, reg_covar=reg_covar,
                                init_params=init, device=X.device, dtype=X.dtype)
        model._check(X)
        return model.initial_state(X, rng(seed))
    if means is None:
        raise ValueError("manual initialisation needs the K means")
    means_t = torch.as_tensor(to_numpy(means).astype(np.float64), dtype=X.dtype, device=X.device)
    if means_t.numel() != n_components * X.shape[1]:
        raise ValueError(f"manual initialisation needs {n_components} means of dimension {X.shape[1]}")
    means_t = means_t.reshape(n_components, X.shape[1])
    covariances = data_covariance(X, covariance_type, n_components, reg_covar)
    weights = torch.full((n_components,), 1.0 / n_components, dtype=X.dtype, device=X.device)
    return MixtureState(weights, means_t, covariances, compute_precision_cholesky(covariances, covariance_type),
                        covariance_type)


# ----------------------------------------------------------------------------------
# EM as a stepper with separate half-steps
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HalfStep:
    """One frame of the EM film: what the page draws after an E- or M-half-step.

    ``responsibilities`` is the q(z) in use (None before the first E-step),
    ``log_likelihood`` the mean log p(x) of the current parameters and
    ``lower_bound`` the mean ELBO of (q, parameters); after an E-step they are equal.
    ``slack`` (M-steps): the most this M-step can lower the mean log-likelihood because its
    covariances are S_k + reg_covar I rather than the maximiser S_k (``regularisation_slack``);
    0 when reg_covar = 0, where EM's guarantee is exact.
    """

    kind: str  # "init", "E" or "M"
    iteration: int  # completed EM iterations (M-steps) so far
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray  # (K, d, d) whatever the covariance type
    responsibilities: np.ndarray | None
    log_likelihood: float
    lower_bound: float
    slack: float = 0.0


def regularisation_slack(state: MixtureState, reg_covar: float, n_samples: int) -> float:
    """How much the M-step's reg_covar can cost, per point: Q(S) - Q(S + eps I) / N.

    The exact M-step maximises Q(theta) = sum_nk gamma_nk log alpha_k N(x_n | mu_k, Sigma_k), and
    EM's guarantee is l(new) - l(old) >= Q(new) - Q(old) >= 0. With covariances S_k + eps I in place
    of the maximiser S_k, Q falls short of its maximum by
        sum_k N_k / 2 * sum_i [log(1 + t_ki) - t_ki / (1 + t_ki)],   t_ki = eps / lambda_ki,
    (lambda_ki the eigenvalues of S_k; for tied covariances one term with N), so the mean
    log-likelihood can go down by at most that / N. Infinite when some S_k is singular.
    """
    if reg_covar <= 0:
        return 0.0
    full = torch.as_tensor(state.full_covariances(), dtype=torch.float64)
    if state.covariance_type == "tied":
        full, counts = full[:1], torch.tensor([float(n_samples)], dtype=torch.float64)
    else:
        counts = state.weights.detach().to("cpu", torch.float64) * n_samples
    if state.covariance_type in ("full", "tied"):
        regularised = torch.linalg.eigvalsh(full)  # eigenvalues of S + eps I
    elif state.covariance_type == "diag":
        regularised = torch.diagonal(full, dim1=1, dim2=2)
    else:  # spherical: one variance, d dimensions
        regularised = torch.diagonal(full, dim1=1, dim2=2)
    lam = regularised - reg_covar
    if bool((lam <= 0).any()):
        return math.inf
    t = reg_covar / lam
    per_component = (torch.log1p(t) - t / (1 + t)).sum(dim=1)
    return float((counts / 2 * per_component).sum() / n_samples)


class EMStepper(Stepper):
    """EM one half-step at a time: ``e_step()``, ``m_step()``; ``step(n)`` runs full iterations.

    Every half-step is kept in ``half_steps`` (to scrub back through the run);
    ``history`` has one row of metrics per completed iteration (``Stepper`` bookkeeping).
    A covariance that becomes singular stops the run with a message and keeps the last
    good state: an M-step builds its new state aside and commits it only when it is sound,
    so the guard has nothing to copy.
    """

    hint = "increase reg_covar or reset"

    def __init__(self, X: Any, state: MixtureState, *, reg_covar: float = 1e-6, max_half_steps: int = 2001,
                 collapse_tolerance: float = 1e-10) -> None:
        super().__init__()
        self.X = as_data(X, state.means.device, state.means.dtype)
        self.reg_covar = float(reg_covar)
        # a variance below collapse_tolerance * (the data's variance) counts as a collapse
        self.collapse_variance = float(collapse_tolerance * self.X.var(dim=0).mean()) if self.X.shape[0] > 1 else 0.0
        self.max_half_steps = int(max_half_steps)
        self.state = state
        self.log_responsibilities: torch.Tensor | None = None
        self._weighted = weighted_log_prob(self.X, state)
        log_likelihood = float(torch.logsumexp(self._weighted, dim=1).mean())
        self.half_steps: list[HalfStep] = []
        self._record("init", log_likelihood, math.nan)
        self.initial_log_likelihood = log_likelihood

    @classmethod
    def start(cls, X: Any, n_components: int, *, covariance_type: str = "full", init: str = "kmeans",
              reg_covar: float = 1e-6, seed: SeedLike = 0, means: Any = None,
              device: torch.device | str | None = None, dtype: torch.dtype = torch.float64) -> "EMStepper":
        """A stepper on data ``X`` from the chosen initialisation (see ``starting_state``)."""
        device = torch.device(device) if device is not None else default_device()
        X_t = as_data(X, device, dtype)
        state = starting_state(X_t, n_components, covariance_type=covariance_type, init=init, reg_covar=reg_covar,
                               seed=seed, means=means)
        return cls(X_t, state, reg_covar=reg_covar)

    # --- bookkeeping -------------------------------------------------------------------
    @property
    def next_half_step(self) -> str:
        """"E" or "M": the half-step that completes the current iteration."""
        return "M" if self.half_steps[-1].kind == "E" else "E"

    @property
    def n_components(self) -> int:
        return int(self.state.weights.shape[0])

    def _record(self, kind: str, log_likelihood: float, bound: float, iteration: int | None = None,
                slack: float = 0.0) -> None:
        arrays = self.state.numpy()
        responsibilities = None if self.log_responsibilities is None else \
            to_numpy(torch.exp(self.log_responsibilities)).astype(np.float32)
        self.half_steps.append(HalfStep(kind, self.iteration if iteration is None else iteration, arrays["weights"], arrays["means"],
                                        self.state.full_covariances(), responsibilities, log_likelihood, bound,
                                        slack))
        if len(self.half_steps) > self.max_half_steps:  # keep the start and the most recent frames
            del self.half_steps[1]

    # --- the two half-steps --------------------------------------------------------------
    def e_step(self) -> torch.Tensor | None:
        """E-step: gamma_nk = softmax_k(log pi_k + log N(x_n | mu_k, Sigma_k)); returns log gamma."""
        if self.stopped:
            return None
        log_prob_norm = torch.logsumexp(self._weighted, dim=1)
        self.log_responsibilities = self._weighted - log_prob_norm.unsqueeze(1)
        log_likelihood = float(log_prob_norm.mean())
        self._record("E", log_likelihood, log_likelihood)  # q = posterior: the bound touches log p(x)
        return self.log_responsibilities

    def m_step(self) -> MixtureState | None:
        """M-step: pi_k = N_k / N, weighted means and covariances (+ reg_covar I) for the current gamma.
        Completes an iteration (an E-step is taken first if none is pending)."""
        if self.stopped:
            return None
        if self.log_responsibilities is None:
            self.e_step()
        self.step(1)
        return None if self.stopped else self.state

    def _step(self) -> dict[str, float]:
        """One full iteration: the pending E-step if any, then the M-step."""
        if self.next_half_step == "E":
            self.e_step()
        try:
            state = m_step(self.X, torch.exp(self.log_responsibilities), self.reg_covar, self.state.covariance_type)
            collapsed = self.collapsed_components(state)
            if collapsed:
                raise SingularCovarianceError(collapsed)
        except SingularCovarianceError as error:
            raise FloatingPointError(f"the M-step failed: {error}") from None
        weighted = weighted_log_prob(self.X, state)
        log_likelihood = float(torch.logsumexp(weighted, dim=1).mean())
        if not math.isfinite(log_likelihood) or not bool(torch.isfinite(state.covariances).all()):
            raise FloatingPointError(f"the log-likelihood became {log_likelihood} (a component shrank onto a "
                                     "single point)")
        bound = lower_bound(self.log_responsibilities, weighted)
        self.state, self._weighted = state, weighted
        previous = self.half_steps[-1].log_likelihood
        slack = regularisation_slack(state, self.reg_covar, self.X.shape[0])
        self._record("M", log_likelihood, bound, self.iteration + 1, slack)
        return {"log_likelihood": log_likelihood, "lower_bound": bound, "improvement": log_likelihood - previous}

    # The M-step commits its new state only when it is sound: nothing to copy or restore.
    def get_state(self) -> None:
        return None

    def set_state(self, state: None) -> None:
        pass

    def state_is_finite(self) -> bool:
        return True

    def collapsed_components(self, state: MixtureState) -> list[int]:
        """Components whose smallest variance fell below the collapse threshold (numerically singular)."""
        full = torch.as_tensor(state.full_covariances(), dtype=self.X.dtype)
        smallest = torch.linalg.eigvalsh(full)[:, 0]
        return torch.nonzero(smallest <= self.collapse_variance).flatten().tolist()

    def half_step(self) -> None:
        """Take whichever half-step comes next."""
        self.e_step() if self.next_half_step == "E" else self.m_step()

    def snapshot(self) -> HalfStep:
        """The latest half-step."""
        return self.half_steps[-1]

    def fitted(self) -> GaussianMixture:
        """The current parameters as a ``GaussianMixture`` (score, sample)."""
        return fitted_mixture(self.state, reg_covar=self.reg_covar, device=self.X.device, dtype=self.X.dtype)


# ----------------------------------------------------------------------------------
# The same mixture fitted by gradient descent (Adam on unconstrained parameters)
# ----------------------------------------------------------------------------------


def inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    """softplus^{-1}(v) = log(exp(v) - 1), stable for large v."""
    return value + torch.log(-torch.expm1(-value))


class GradientDescentFitter(TorchStepper):
    """Maximise the mean log-likelihood with Adam, the parameterisation of the lecture.

    pi = softmax(logits); variances = softplus(raw) + min_variance (diag, spherical);
    full / tied covariances Sigma = L L^T with a lower-triangular L whose diagonal is
    softplus(raw) + sqrt(min_variance). The loss is -1/N sum_n LSE_k(log pi_k + log N_k(x_n)).
    """

    def __init__(self, X: Any, state: MixtureState, *, learning_rate: float = 0.05,
                 min_variance: float = 1e-6) -> None:
        super().__init__()
        self.X = as_data(X, state.means.device, state.means.dtype)
        self.covariance_type = state.covariance_type
        self.min_variance = float(min_variance)
        self.learning_rate = float(learning_rate)
        self.logits = torch.log(state.weights).clone().requires_grad_(True)
        self.means = state.means.clone().requires_grad_(True)
        self.raw_scale = self._raw_from_covariances(state.covariances).requires_grad_(True)
        self.optimizer = nets.make_optimizer("adam", [self.logits, self.means, self.raw_scale], self.learning_rate)
        with torch.no_grad():
            self.initial_log_likelihood = float(self.log_likelihood())

    # What the guard snapshots (see TorchStepper): the three parameter tensors and Adam.
    tensors, optimizers = ("logits", "means", "raw_scale"), ("optimizer",)

    # --- parameterisation ------------------------------------------------------------------
    def _raw_from_covariances(self, covariances: torch.Tensor) -> torch.Tensor:
        if self.covariance_type in ("full", "tied"):
            cholesky = torch.linalg.cholesky(covariances)
            diagonal = torch.diagonal(cholesky, dim1=-2, dim2=-1) - math.sqrt(self.min_variance)
            raw = torch.tril(cholesky, diagonal=-1)
            return raw + torch.diag_embed(inverse_softplus(diagonal.clamp(min=1e-12)))
        return inverse_softplus((covariances - self.min_variance).clamp(min=1e-12)).clone()

    def _cholesky(self) -> torch.Tensor:
        """L with positive diagonal (full: (K, d, d); tied: (d, d))."""
        diagonal = torch.nn.functional.softplus(torch.diagonal(self.raw_scale, dim1=-2, dim2=-1))
        return torch.tril(self.raw_scale, diagonal=-1) + torch.diag_embed(diagonal + math.sqrt(self.min_variance))

    def covariances(self) -> torch.Tensor:
        """Current covariances in ``covariance_type``'s shape."""
        if self.covariance_type in ("full", "tied"):
            cholesky = self._cholesky()
            return cholesky @ cholesky.transpose(-2, -1)
        return torch.nn.functional.softplus(self.raw_scale) + self.min_variance

    def mixture(self) -> GaussianDistribution:
        """The current parameters as a (differentiable) ``playground.distributions.GaussianMixture``."""
        n_components, n_features = self.means.shape
        if self.covariance_type in ("full", "tied"):
            scale_tril = self._cholesky().expand(n_components, n_features, n_features)
        else:
            variances = self.covariances()
            if self.covariance_type == "spherical":
                variances = variances.unsqueeze(1).expand(-1, n_features)
            scale_tril = torch.diag_embed(torch.sqrt(variances))
        return GaussianDistribution(torch.softmax(self.logits, dim=0), self.means, scale_tril=scale_tril,
                                    device=self.X.device, dtype=self.X.dtype)

    def component_log_prob(self) -> torch.Tensor:
        """log pi_k + log N(x_n | mu_k, Sigma_k), ``(N, K)``, differentiable."""
        return self.mixture().component_log_prob(self.X)

    def log_likelihood(self) -> torch.Tensor:
        """Mean log-likelihood (1/N) sum_n LSE_k(...)."""
        return self.mixture().log_prob(self.X).mean()

    # --- stepper -------------------------------------------------------------------------
    def _step(self) -> dict[str, float]:
        self.optimizer.zero_grad()
        loss = -self.log_likelihood()
        loss.backward()
        gradient_norm = float(torch.sqrt(sum((p.grad**2).sum() for p in (self.logits, self.means, self.raw_scale))))
        self.optimizer.step()
        with torch.no_grad():
            return {"log_likelihood": float(self.log_likelihood()), "gradient_norm": gradient_norm}

    def mixture_state(self) -> MixtureState:
        """The current parameters as a ``MixtureState`` (detached)."""
        with torch.no_grad():
            covariances = self.covariances().detach().clone()
            return MixtureState(torch.softmax(self.logits, dim=0).detach().clone(), self.means.detach().clone(),
                                covariances, compute_precision_cholesky(covariances, self.covariance_type),
                                self.covariance_type)

    def snapshot(self) -> dict[str, Any]:
        state = self.mixture_state()
        return {"weights": to_numpy(state.weights), "means": to_numpy(state.means),
                "covariances": state.full_covariances()}


# ----------------------------------------------------------------------------------
# Failure modes: one-click presets and restarts from many seeds
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailurePreset:
    """A configuration that shows one way EM goes wrong, and what to watch."""

    key: str
    label: str
    watch: str
    target: str
    n_points: int
    n_components: int
    covariance_type: str = "full"
    init: str = "kmeans"
    reg_covar: float = 1e-6
    means: tuple[tuple[float, ...], ...] | None = None
    extra_points: tuple[tuple[float, ...], ...] = ()


FAILURE_PRESETS: dict[str, FailurePreset] = {preset.key: preset for preset in (
    FailurePreset(
        "collapse", "A component collapses onto one point",
        "Component 4 sits on the lone outlier at x = 8: its variance shrinks towards 0 and its density "
        "towards infinity until the covariance is singular. Then set reg_covar to 0.001 and replay.",
        target="three_bumps", n_points=300, n_components=4, init=MANUAL_INIT, reg_covar=0.0,
        means=((-3.0,), (0.0,), (3.0,), (8.0,)), extra_points=((8.0,),)),
    FailurePreset(
        "local_optimum", "A poor local optimum",
        "Ten starts from random data points end at different log-likelihoods: EM climbs to the nearest "
        "peak, not the highest. Replay the worst start and watch two components share one bump.",
        target="ring8", n_points=400, n_components=8, init="random_from_data", reg_covar=1e-6),
    FailurePreset(
        "too_few", "Three bumps, two Gaussians",
        "With K = 2 one Gaussian must cover two bumps: EM converges, the likelihood is flat, and the fit "
        "is still wrong. Raise K to 3 and compare the final log-likelihood.",
        target="three_bumps", n_points=400, n_components=2, init="kmeans", reg_covar=1e-6),
)}


def preset_data(preset: FailurePreset, seed: SeedLike) -> np.ndarray:
    """The preset's data set: target samples plus its extra points, ``(N, d)``."""
    from playground.targets import get_target

    data = get_target(preset.target).sample(preset.n_points, seed)
    if preset.extra_points:
        data = np.concatenate([data, np.asarray(preset.extra_points, dtype=np.float64)])
    return data


@dataclass(frozen=True)
class RestartResult:
    """Where EM ended from one seed."""

    seed: int
    log_likelihood: float  # mean log-likelihood at the end (nan if it collapsed)
    iterations: int
    message: str = ""


def run_restarts(X: Any, n_components: int, seeds: list[int], *, covariance_type: str = "full",
                 init: str = "random_from_data", reg_covar: float = 1e-6, max_iter: int = 300, tol: float = 1e-6,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float64) -> list[RestartResult]:
    """Run EM to convergence from each seed's initialisation; the spread shows the local optima."""
    results = []
    for seed in seeds:
        stepper = EMStepper.start(X, n_components, covariance_type=covariance_type, init=init, reg_covar=reg_covar,
                                  seed=seed, device=device, dtype=dtype)
        for _ in range(max_iter):
            row = stepper.step(1)
            if stepper.stopped or abs(row.get("improvement", math.inf)) < tol:
                break
        final = math.nan if stepper.stopped else stepper.half_steps[-1].log_likelihood
        results.append(RestartResult(int(seed), final, stepper.iteration, stepper.message))
    return results
