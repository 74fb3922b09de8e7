"""Evaluation metrics benchmarks.

1. Precision / recall / density / coverage at N = 10,000 vs 10,000 2D points: ours (chunked k-NN,
   no N x N matrix held) against the ``prdc`` package (three N x N distance matrices); values checked equal.
2. Exact W2 at N = 2,000 a side: ours (an assignment problem) against POT's ``ot.emd2``.
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import torch

from playground import evaluation as E

CPU = torch.device("cpu")


def run(report) -> None:
    try:
        import ot
        import prdc
    except ImportError:  # test/bench requirements not installed
        return
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(10_000, 2)), rng.normal(size=(10_000, 2)) * 1.2 + 0.3

    def theirs():
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
            return prdc.compute_prdc(real, fake, 5)

    reference = theirs()
    for method in ("trees", "chunks"):
        ours = E.precision_recall_density_coverage(real, fake, 5, device=CPU, method=method)
        assert all(abs(getattr(ours, k) - float(reference[k])) < 1e-9 for k in reference)
    report("precision/recall/density/coverage, 10,000 vs 10,000 2D points, k = 5 (k-d trees, the 2D default)",
           lambda: E.precision_recall_density_coverage(real, fake, 5, device=CPU), theirs,
           "peer: the prdc package (values equal)", repeats=3)
    report("the same, chunked distances (the path for > 3 dimensions)",
           lambda: E.precision_recall_density_coverage(real, fake, 5, device=CPU, method="chunks"), theirs,
           "peer: the prdc package (values equal)", repeats=3)
    big = rng.normal(size=(100_000, 2)), rng.normal(size=(100_000, 2)) * 1.2 + 0.3
    start = time.perf_counter()
    E.precision_recall_density_coverage(*big, 5, device=CPU)
    report.measure("precision/recall/density/coverage, 100,000 vs 100,000 2D points (k-d trees)",
                   time.perf_counter() - start, "s",
                   "prdc would hold three 100,000 x 100,000 float64 matrices (240 GB): not run")
    x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2)) + 0.5
    weights = np.full(2000, 1 / 2000)
    assert abs(E.wasserstein2_exact(x, y) - np.sqrt(ot.emd2(weights, weights, ot.dist(x, y)))) < 1e-6
    report("exact W2, 2,000 vs 2,000 points", lambda: E.wasserstein2_exact(x, y),
           lambda: np.sqrt(ot.emd2(weights, weights, ot.dist(x, y))), "peer: POT ot.emd2 (values equal)", repeats=3)
