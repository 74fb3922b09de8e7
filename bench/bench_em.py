"""EM benchmark: 50 iterations on N = 100,000 2D points, K = 5, full covariances,
from the same initial parameters, against scikit-learn's ``GaussianMixture``."""

from __future__ import annotations

import warnings

import numpy as np
import torch

N_POINTS, N_COMPONENTS, N_ITERATIONS = 100_000, 5, 50


def _data_and_start() -> tuple[np.ndarray, dict]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SklearnMixture

    from playground.targets import get_target

    X = get_target("mog2d").sample(N_POINTS, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = SklearnMixture(N_COMPONENTS, max_iter=0, random_state=0).fit(X)
    return X, {"weights_init": start.weights_, "means_init": start.means_,
               "precisions_init": np.linalg.inv(start.covariances_)}


def run(report) -> None:
    """Time both fits and check they agree before reporting."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SklearnMixture

    from playground.mixture import GaussianMixture

    X, start = _data_and_start()
    options = dict(covariance_type="full", tol=0.0, max_iter=N_ITERATIONS, reg_covar=1e-6, **start)

    def ours() -> GaussianMixture:
        with warnings.catch_warnings():  # tol = 0: both warn that max_iter ended the fit
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GaussianMixture(N_COMPONENTS, **options).fit(X)

    def peer() -> SklearnMixture:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return SklearnMixture(N_COMPONENTS, **options).fit(X)

    a, b = ours(), peer()
    gap = max(np.abs(a.means_ - b.means_).max(), np.abs(a.covariances_ - b.covariances_).max(),
              np.abs(a.weights_ - b.weights_).max(), abs(a.lower_bound_ - b.lower_bound_))
    name = f"EM {N_ITERATIONS} it, N={N_POINTS:,} 2D, K={N_COMPONENTS}, full"
    note = f"vs sklearn GaussianMixture; max |param diff| = {gap:.1e}"
    # torch's default intra-op threads spin-wait badly on a small, shared CPU: also time one thread
    threads = torch.get_num_threads()
    report(f"{name} (torch {threads} threads)", ours, peer, note=note, repeats=3, warmup=1)
    if threads > 1:
        torch.set_num_threads(1)
        try:
            report(f"{name} (torch 1 thread)", ours, peer, note=note, repeats=3, warmup=1)
        finally:
            torch.set_num_threads(threads)
