"""Foundation benchmarks: the app's cold start, and the mixture density kernel that
every mixture target uses, against scikit-learn's ``GaussianMixture.score_samples``."""

from __future__ import annotations

import statistics
import time

import numpy as np

from bench.appserver import CHROMIUM, CHROMIUM_ARGS, running_app, wait_idle
from playground.distributions import GaussianMixture
from playground.targets import get_target, grid


def _cold_start(report, runs: int = 3) -> None:
    health, first_render = [], []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev
        sync_playwright = None
    for _ in range(runs):
        start = time.perf_counter()
        with running_app() as (base_url, to_health):
            health.append(to_health)
            if sync_playwright is None:
                continue
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1920, "height": 1080})
                page.goto(base_url, wait_until="domcontentloaded")
                page.wait_for_selector("h1", timeout=60_000)
                first_render.append(time.perf_counter() - start)
                wait_idle(page)
                browser.close()
    report.measure("cold start: process start -> /_stcore/health ok", statistics.median(health), "s",
                   f"median of {runs}")
    if first_render:
        report.measure("cold start: process start -> home page rendered", statistics.median(first_render), "s",
                       f"median of {runs}, headless Chromium, includes browser launch")


def _mixture_kernel(report) -> None:
    from sklearn.mixture import GaussianMixture as SklearnMixture

    target = get_target("grid25")
    params = target.mixture
    points, _ = grid(target, resolution=200)  # 40,000 evaluation points, 25 components
    peer = SklearnMixture(n_components=len(params.weights), covariance_type="full")
    peer.weights_, peer.means_, peer.covariances_ = params.weights, params.means, params.covariances
    peer.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(params.covariances))
    ours = GaussianMixture.from_params(params, "cpu")
    np.testing.assert_allclose(ours.log_prob(points), peer.score_samples(points), rtol=1e-9)
    report("mixture log density, 25 comps x 40,000 pts", lambda: ours.log_prob(points),
           lambda: peer.score_samples(points), "peer: sklearn GaussianMixture.score_samples, same parameters")


def run(report) -> None:
    _mixture_kernel(report)
    _cold_start(report)
