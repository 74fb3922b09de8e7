"""KDE on a plotting grid: the playground's torch KDE against SciPy and scikit-learn.

Same data, same Gaussian bandwidth, one process. SciPy's ``gaussian_kde`` is exact (a
direct sum), scikit-learn's ``KernelDensity`` uses a tree with ``rtol=1e-4``; the
playground uses its exact grid paths (binned Taylor + FFT in 1D, separable matrix
product in 2D) in float64. Each row's note gives the largest relative error of the
density against SciPy's exact values, so the speed is compared at equal accuracy.
Also times one full page rerun after a bandwidth change (N = 10,000, 1D). Torch runs
on one thread here, like the peers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from sklearn.neighbors import KernelDensity as SkKernelDensity

from playground.density import KernelDensity, scott_bandwidth
from playground.targets import get_target, grid


def _max_relative_error(log_values: np.ndarray, log_reference: np.ndarray) -> float:
    return float(np.max(np.abs(np.expm1(log_values - log_reference))))


def _isotropic_scipy_kde(data: np.ndarray, bandwidth: float) -> stats.gaussian_kde:
    """SciPy's KDE with the kernel covariance h^2 I (its default scales the data covariance)."""
    kde = stats.gaussian_kde(data.T)
    dim = data.shape[1]
    kde._data_covariance = np.eye(dim)
    kde._data_cho_cov = np.eye(dim)
    kde.set_bandwidth(bandwidth)
    return kde


def _case(report, name: str, data: np.ndarray, axes: list[np.ndarray]) -> None:
    h = scott_bandwidth(data)
    mesh = np.meshgrid(*axes)
    points = np.stack([m.ravel() for m in mesh], axis=1)
    scipy_kde = _isotropic_scipy_kde(data, h)
    sk_kde = SkKernelDensity(bandwidth=h, rtol=1e-4).fit(data)
    ours = KernelDensity(bandwidth=h).fit(data)

    def run_ours() -> np.ndarray:
        return KernelDensity(bandwidth=h).fit(data).score_grid(axes).ravel()

    exact = scipy_kde.logpdf(points.T)
    ours_error = _max_relative_error(ours.score_grid(axes).ravel(), exact)
    sk_error = _max_relative_error(sk_kde.score_samples(points), exact)
    repeats = 3 if len(points) > 10_000 else 5
    report(f"{name}: vs SciPy gaussian_kde (exact)", run_ours, lambda: scipy_kde.logpdf(points.T),
           note=f"max rel. error ours {ours_error:.1e}", repeats=repeats)
    report(f"{name}: vs sklearn KernelDensity rtol=1e-4", run_ours,
           lambda: SkKernelDensity(bandwidth=h, rtol=1e-4).fit(data).score_samples(points),
           note=f"max rel. error ours {ours_error:.1e}, sklearn {sk_error:.1e}", repeats=repeats)


def _page_rerun(report) -> None:
    """One full rerun of the KDE page after a bandwidth change (AppTest, N = 10,000, 1D)."""
    from streamlit.testing.v1 import AppTest

    page_file = Path(__file__).resolve().parents[1] / "pages" / "2_KDE_vs_GMM.py"
    app = AppTest.from_file(str(page_file), default_timeout=300)
    app.query_params["target"] = "three_bumps"
    app.query_params["n"] = "10000"
    app.run()
    if app.exception:
        report.measure("page rerun after a bandwidth change (N=10,000, 1D)", float("nan"), "ms",
                       note=f"page raised: {app.exception[0].value}")
        return
    times = []
    for value in (0.2, 0.25, 0.3, 0.35, 0.4):
        app.select_slider(key="h").set_value(value)
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
    report.measure("page rerun after a bandwidth change (N=10,000, 1D)", 1e3 * float(np.median(times)), "ms",
                   note="AppTest, median of 5 slider moves; includes GMM/histogram (cached) and figures")


def run(report) -> None:
    # The peers run on one core; so does torch here (on this shared 2-core machine, two
    # OpenMP threads that wait on each other make many small torch ops 10x slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = get_target("three_bumps").sample(10_000, seed=0)
        _case(report, "1D KDE, N=10,000, 1,000-point grid", x, [np.linspace(-6.0, 6.0, 1000)])
        target = get_target("mog2d")
        X = target.sample(10_000, seed=0)
        _, axes = grid(target, 200)
        _case(report, "2D KDE, N=10,000, 200x200 grid", X, axes)
        _page_rerun(report)
    finally:
        torch.set_num_threads(threads)
