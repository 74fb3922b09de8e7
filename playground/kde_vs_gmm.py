"""The numbers behind the KDE vs GMM page: seeded splits and subsets, the four fitted
estimators, likelihood curves against h and K, the cross-validated bandwidth, and the
densities and marginals on the plotting grid. Plain functions (no Streamlit):
``playground.ui.kde`` wraps the expensive ones in Streamlit caches.

Evaluations that would grow with N are capped (``EVAL_POINTS``...); the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from playground.density import (
    GaussianMLE,
    Histogram,
    KernelDensity,
    cross_validate_bandwidth,
    curse_of_dimensionality,
    held_out_log_likelihood,
)
from playground.mixture import GaussianMixture
from playground.quadrature import trapezoid_marginals
from playground.seeding import derive_seed, rng
from playground.targets import Target

EVAL_POINTS = 500  # mean log-likelihoods in the table use at most this many random points
CURVE_TEST_POINTS = 500
CURVE_TRAIN_POINTS = 20_000
CV_POINTS = 2_000
K_CURVE_TRAIN_POINTS = 2_000
K_VALUES = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 150)
# Classroom cap: EM costs N x K per iteration. The GMM is fitted on at most
# max(GMM_MIN_FIT_POINTS, GMM_FIT_WORK // K) training points (a seeded subset), so one
# student asking for many components on many points cannot stall the room (K = 95 on
# 70,000 points took 12 s; capped, 0.3 s).
GMM_FIT_WORK = 200_000
GMM_MIN_FIT_POINTS = 2_000
BANDWIDTHS = tuple(float(h) for h in np.geomspace(0.005, 3.0, 22))  # candidates for cross-validation
# the h curve reaches far smaller h: the training log-likelihood grows like -log h without bound
CURVE_BANDWIDTHS = tuple(float(h) for h in np.geomspace(1e-4, 3.0, 30))


@dataclass
class Fitted:
    """One fitted estimator, or why it could not be fitted."""

    name: str
    model: object | None
    error: str = ""


# ----------------------------------------------------------------------------------
# Data: split and subsets
# ----------------------------------------------------------------------------------

def split(data: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test split (at least 1 test point and 2 training points)."""
    order = rng(derive_seed(seed, "split")).permutation(len(data))
    n_test = min(max(1, int(round(test_fraction * len(data)))), len(data) - 2)
    return data[order[n_test:]], data[order[:n_test]]


def subsample(X: np.ndarray, limit: int, seed: int, label: str) -> np.ndarray:
    """At most ``limit`` rows, chosen at random (seeded)."""
    if len(X) <= limit:
        return X
    return X[rng(derive_seed(seed, label)).choice(len(X), size=limit, replace=False)]


# ----------------------------------------------------------------------------------
# Fits, curves and the cross-validated bandwidth
# ----------------------------------------------------------------------------------

def gmm_fit_points(n_components: int) -> int:
    """How many training points the GMM is fitted on at most (the classroom cap)."""
    return max(GMM_MIN_FIT_POINTS, GMM_FIT_WORK // max(int(n_components), 1))


def fit_gmm(train: np.ndarray, n_components: int, covariance_type: str, seed: int) -> Fitted:
    """EM fit of playground.mixture.GaussianMixture (k-means init, seeded) on at most gmm_fit_points(K) points."""
    used = subsample(train, gmm_fit_points(n_components), seed, "gmm-fit")
    try:
        model = GaussianMixture(n_components, covariance_type=covariance_type, random_state=seed,
                                max_iter=200, tol=1e-4).fit(used)
    except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:  # incl. SingularCovarianceError
        return Fitted("GMM", None, str(error))
    return Fitted("GMM", model)


def bandwidth_curve(train: np.ndarray, test: np.ndarray, kernel: str, seed: int) -> dict:
    """Mean train and test log-likelihood of the KDE for each h in CURVE_BANDWIDTHS."""
    train_used = subsample(train, CURVE_TRAIN_POINTS, seed, "curve-train")
    test_used = subsample(test, CURVE_TEST_POINTS, seed, "curve-test")
    train_eval = subsample(train_used, CURVE_TEST_POINTS, seed, "curve-train-eval")
    return {"h": np.array(CURVE_BANDWIDTHS),
            "test": held_out_log_likelihood(train_used, test_used, CURVE_BANDWIDTHS, kernel),
            "train": held_out_log_likelihood(train_used, train_eval, CURVE_BANDWIDTHS, kernel),
            "capped": len(train_used) < len(train) or len(test_used) < len(test)}


def rescale_bandwidth(h: float, n_used: int, n_total: int, dim: int) -> float:
    """A bandwidth chosen on ``n_used`` of ``n_total`` points, carried over to all of them: h (m/N)^(1/(d+4))
    (the optimal h of a KDE shrinks like N^(-1/(d+4)), as in Scott's rule)."""
    return h * (n_used / n_total) ** (1.0 / (dim + 4))


def cv_bandwidth(train: np.ndarray, kernel: str, seed: int) -> float:
    """5-fold cross-validated h (on at most CV_POINTS points, rescaled by (m/N)^(1/(d+4)))."""
    used = subsample(train, CV_POINTS, seed, "cv")
    best, _ = cross_validate_bandwidth(used, BANDWIDTHS, kernel, seed=derive_seed(seed, "folds"))
    return rescale_bandwidth(best, len(used), len(train), train.shape[1])


def k_curve(train: np.ndarray, test: np.ndarray, covariance_type: str, seed: int) -> dict:
    """Mean train/test log-likelihood and BIC of GMMs with K in K_VALUES (K < number of points)."""
    used = subsample(train, K_CURVE_TRAIN_POINTS, seed, "k-train")
    test_used = subsample(test, EVAL_POINTS, seed, "k-test")
    ks, train_ll, test_ll, bic = [], [], [], []
    for k in K_VALUES:
        if k >= len(used):
            break
        try:
            model = GaussianMixture(k, covariance_type=covariance_type, random_state=seed, max_iter=100).fit(used)
        except (ValueError, np.linalg.LinAlgError, RuntimeError):  # a collapsed component: skip this K
            continue
        ks.append(k)
        train_ll.append(float(np.mean(model.score_samples(used))))
        test_ll.append(float(np.mean(model.score_samples(test_used))))
        bic.append(model.bic(used))
    return {"K": np.array(ks), "train": np.array(train_ll), "test": np.array(test_ll), "bic": np.array(bic),
            "capped": len(used) < len(train)}


def curse(n_samples: int, bins_per_axis: int, seed: int) -> dict:
    """Histogram emptiness and KDE held-out log-likelihood for d = 1..10 (Gaussian data)."""
    return curse_of_dimensionality(range(1, 11), n_samples, bins_per_axis, seed=seed, n_test=500,
                                   bandwidths=np.geomspace(0.05, 3.0, 16))


# ----------------------------------------------------------------------------------
# Fitting everything the page shows
# ----------------------------------------------------------------------------------

def fit_all(train: np.ndarray, *, bins: int | str, bandwidth: float, kernel: str, n_components: int,
            covariance_type: str, seed: int,
            gmm_fitter: Callable[[np.ndarray, int, str, int], Fitted] = fit_gmm) -> dict[str, Fitted]:
    """The four estimators on the training set; a failure becomes a message, not an exception.
    ``gmm_fitter`` is ``fit_gmm`` or a cached wrapper of it."""
    fitted = {}
    try:
        fitted["Histogram"] = Fitted("Histogram", Histogram(bins=bins).fit(train))
    except ValueError as error:
        fitted["Histogram"] = Fitted("Histogram", None, str(error))
    fitted["Gaussian (MLE)"] = Fitted("Gaussian (MLE)", GaussianMLE().fit(train))
    fitted["KDE"] = Fitted("KDE", KernelDensity(bandwidth=bandwidth, kernel=kernel).fit(train))
    if n_components > len(train):
        fitted["GMM"] = Fitted("GMM", None, f"K = {n_components} components need at least K training points; "
                                            f"there are {len(train)}. Lower K or add points.")
    else:
        fitted["GMM"] = gmm_fitter(train, n_components, covariance_type, seed)
    return fitted


def log_density_on_grid(fit: Fitted, axes: list[np.ndarray]) -> np.ndarray | None:
    """log p on the plotting grid: (len(x),) in 1D, (len(y), len(x)) in 2D."""
    if fit.model is None:
        return None
    if isinstance(fit.model, KernelDensity):
        return fit.model.score_grid(axes)
    mesh = np.meshgrid(*axes)
    points = np.stack([m.ravel() for m in mesh], axis=1)
    values = np.asarray(fit.model.score_samples(points), dtype=np.float64)
    return values.reshape(mesh[0].shape) if len(axes) > 1 else values


def likelihood_table(fitted: dict[str, Fitted], train: np.ndarray, test: np.ndarray, target: Target,
                     seed: int) -> pd.DataFrame:
    """Train LL, test LL (means per point), parameter count and BIC per estimator (and the truth)."""
    train_eval = subsample(train, EVAL_POINTS, seed, "table-train")
    test_eval = subsample(test, EVAL_POINTS, seed, "table-test")
    rows = []
    for name, fit in fitted.items():
        if fit.model is None:
            rows.append({"estimator": name, "train LL": np.nan, "test LL": np.nan, "parameters": None, "BIC": None})
            continue
        bic = fit.model.bic(train) if isinstance(fit.model, GaussianMixture) else None
        rows.append({"estimator": name, "train LL": float(np.mean(fit.model.score_samples(train_eval))),
                     "test LL": float(np.mean(fit.model.score_samples(test_eval))),
                     "parameters": int(fit.model.n_parameters), "BIC": bic})
    if target.has_log_prob:
        rows.append({"estimator": "Truth", "train LL": float(np.mean(target.log_prob(train_eval))),
                     "test LL": float(np.mean(target.log_prob(test_eval))), "parameters": None, "BIC": None})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------
# Densities on the plotting grid
# ----------------------------------------------------------------------------------

def density_curves_1d(fitted: dict[str, Fitted], shown: Sequence[str], target: Target,
                      axis: np.ndarray) -> dict[str, np.ndarray]:
    """p(x) on ``axis`` of each shown estimator except the histogram (drawn as bars), and the truth if known."""
    curves = {name: np.exp(log_density_on_grid(fitted[name], [axis])) for name in shown
              if name != "Histogram" and fitted[name].model is not None}
    if target.has_log_prob:
        curves["Truth"] = target.prob(axis[:, None])
    return curves


MAX_BUMPS = 300  # above this many training points the KDE's bumps are too dense to read


def bumps_1d(fitted: dict[str, Fitted], shown: Sequence[str], axis: np.ndarray) -> dict[str, np.ndarray]:
    """The terms that add up to each shown 1D estimate: the KDE's N kernels (each scaled 1/N; up to
    MAX_BUMPS points) and the GMM's K weighted components."""
    from playground.density import kde_bumps_1d
    from playground.mixture import mixture_components_1d

    bumps: dict[str, np.ndarray] = {}
    kde = fitted.get("KDE")
    if "KDE" in shown and kde is not None and kde.model is not None and len(kde.model.data_) <= MAX_BUMPS:
        bumps["KDE"] = kde_bumps_1d(kde.model, axis)
    gmm = fitted.get("GMM")
    if "GMM" in shown and gmm is not None and gmm.model is not None:
        bumps["GMM"] = mixture_components_1d(gmm.model, axis)
    return bumps


def log_density_panels_2d(fitted: dict[str, Fitted], shown: Sequence[str], target: Target,
                          axes: list[np.ndarray]) -> dict[str, np.ndarray | None]:
    """log p on the 2D grid (len(y), len(x)): the truth if known, then each shown estimator (None: not fitted)."""
    panels: dict[str, np.ndarray | None] = {}
    if target.has_log_prob:
        mesh = np.meshgrid(*axes)
        panels["Truth"] = target.log_prob(np.stack([m.ravel() for m in mesh], axis=1)).reshape(mesh[0].shape)
    for name in shown:
        panels[name] = log_density_on_grid(fitted[name], axes)
    return panels


def panel_marginals(panels: dict[str, np.ndarray | None],
                    axes: list[np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The two marginals (trapezoid rule on the grid) of each 2D log-density panel that was fitted."""
    return {name: trapezoid_marginals(np.exp(values), axes) for name, values in panels.items() if values is not None}


def density_histograms(columns: dict[str, np.ndarray], bins: np.ndarray) -> dict[str, np.ndarray]:
    """NumPy's density histogram (``density=True``) of each named set of 1D values on ``bins``."""
    return {name: np.histogram(values, bins=bins, density=True)[0] for name, values in columns.items()}
