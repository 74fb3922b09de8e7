"""The leaderboard (every family on one data set) and the digits' feature-space scores, checked
against independent references: scikit-learn's KDE, NumPy's 2D histogram, the normalisation of
each family's density on a grid, SciPy's entropy for the Inception score."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.neighbors import KernelDensity as SkKernelDensity

from playground import evaluation as E
from playground import leaderboard as L
from playground.density import scott_bandwidth
from playground.targets import get_target

RING = get_target("ring8")


@pytest.fixture(scope="module")
def tiny_board() -> L.Leaderboard:
    return L.leaderboard(RING, budget="tiny", seed=0, n_train=600, n_test=300, n_samples=300)


def test_every_family_runs_on_a_tiny_budget_and_reports_every_column(tiny_board):
    table = tiny_board.table
    assert list(table.index) == list(L.FAMILIES.values())
    for family, samples in tiny_board.samples.items():
        assert samples.shape == (300, 2), family
    assert set(L.COLUMNS) <= set(table.columns)
    assert table.loc[L.FAMILIES["gan"], "held-out log-lik"] != table.loc[L.FAMILIES["gan"], "held-out log-lik"]  # NaN
    for family in ("flow", "vae", "gan", "diffusion", "energy", "autoregressive"):
        assert table.loc[L.FAMILIES[family], "steps"] == L.BUDGETS["tiny"][family]


def test_the_same_seed_gives_the_same_board():
    rows = [L.run_family(RING, "autoregressive", "tiny", seed=3, n_train=400, n_test=200, n_samples=200)
            for _ in range(2)]
    np.testing.assert_array_equal(rows[0][1], rows[1][1])
    assert rows[0][0]["precision"] == rows[1][0]["precision"]


def test_kde_row_equals_scikit_learn():
    training, test = L.split(RING, 0, 600, 300)
    fitted = L.fit_family("kde", RING, training, test, 0, 100, 0)
    reference = SkKernelDensity(bandwidth=scott_bandwidth(training)).fit(training).score_samples(test)
    np.testing.assert_allclose(fitted.log_likelihood, reference, rtol=1e-6, atol=1e-8)


def test_histogram_zero_density_points_are_the_held_out_points_in_empty_cells():
    training, test = L.split(RING, 0, 600, 300)
    fitted = L.fit_family("histogram", RING, training, test, 0, 100, 0)
    row = L.score(fitted, test)
    # Independent count: NumPy's 2D histogram on the same edges.
    from playground.density import Histogram
    model = Histogram(bins="sturges").fit(training)
    counts, *_ = np.histogram2d(training[:, 0], training[:, 1], bins=model.edges_)
    ix = np.clip(np.searchsorted(model.edges_[0], test[:, 0], side="right") - 1, 0, counts.shape[0] - 1)
    iy = np.clip(np.searchsorted(model.edges_[1], test[:, 1], side="right") - 1, 0, counts.shape[1] - 1)
    outside = ((test[:, 0] < model.edges_[0][0]) | (test[:, 0] > model.edges_[0][-1])
               | (test[:, 1] < model.edges_[1][0]) | (test[:, 1] > model.edges_[1][-1]))
    expected = int(np.sum((counts[ix, iy] == 0) | outside))
    assert row["zero-density points"] == expected > 0
    assert row["held-out log-lik"] == -math.inf


@pytest.mark.parametrize("family", ["autoregressive", "energy", "flow"])
def test_each_density_integrates_to_one_in_data_units(family):
    """The log-likelihood column is a density in the data's units (cell areas, Z, the flow's Jacobian
    all accounted for): its integral over a fine grid of the box is 1."""
    training, test = L.split(RING, 0, 600, 300)
    (lo0, hi0), (lo1, hi1) = RING.bounds
    xs, ys = np.linspace(lo0, hi0, 241)[:-1] + (hi0 - lo0) / 480, np.linspace(lo1, hi1, 241)[:-1] + (hi1 - lo1) / 480
    grid = np.column_stack([a.ravel() for a in np.meshgrid(xs, ys, indexing="ij")])
    steps = {"autoregressive": 100, "energy": 30, "flow": 100}[family]
    fitted = L.fit_family(family, RING, training, grid, steps, 10, 0)
    mass = np.exp(fitted.log_likelihood).sum() * (hi0 - lo0) * (hi1 - lo1) / 240**2
    assert mass == pytest.approx(1.0, abs=0.02 if family != "flow" else 0.05)


def test_quick_board_on_the_ring_ranks_the_families_sensibly():
    """A seeded statistical check of the quick budget on three families with very different outcomes."""
    training, test = L.split(RING, 0)
    truth = L.score(L.fit_family("truth", RING, training, test, 0, 1000, 0), test)
    gmm = L.score(L.fit_family("gmm", RING, training, test, 0, 1000, 0), test)
    kde = L.score(L.fit_family("kde", RING, training, test, 0, 1000, 0), test)
    ar = L.score(L.fit_family("autoregressive", RING, training, test, L.BUDGETS["quick"]["autoregressive"], 1000, 0),
                 test)
    assert truth["precision"] > 0.95 and truth["recall"] > 0.95
    # EM with K by BIC finds the eight modes: as good as the truth, on held-out data too.
    assert abs(gmm["held-out log-lik"] - truth["held-out log-lik"]) < 0.05 and gmm["precision"] > 0.95
    # Scott's bandwidth over-smooths a ring of narrow modes: samples fall between them.
    assert kde["precision"] < 0.6 < ar["precision"] and kde["held-out log-lik"] < ar["held-out log-lik"]


# ----------------------------------------------------------------------------------
# Digits: the Inception-like score and the feature-space Fréchet distance
# ----------------------------------------------------------------------------------

def test_inception_score_equals_its_definition_with_scipy_entropy():
    g = np.random.default_rng(0)
    p = g.dirichlet(np.full(10, 0.3), size=200)
    marginal = p.mean(axis=0)
    expected = math.exp(np.mean([entropy(row, marginal) for row in p]))
    assert E.inception_score(p) == pytest.approx(expected, rel=1e-12)


def test_inception_score_bounds():
    assert E.inception_score(np.eye(10)[np.arange(100) % 10]) == pytest.approx(10.0)  # sure and balanced
    assert E.inception_score(np.eye(10)[np.zeros(50, dtype=int)]) == pytest.approx(1.0)  # one class
    assert E.inception_score(np.full((30, 10), 0.1)) == pytest.approx(1.0)  # unsure


@pytest.fixture(scope="module")
def digits() -> dict:
    return E.digits_report(seed=0)


def test_digits_report_promises_hold(digits):
    """Every claim the page's hints make about the made-up sets (seeded)."""
    s = digits["scores"]
    real, noisy = s["held-out real digits"], s["real + pixel noise"]
    one, copies, noise, vae = (s["one class only (collapse)"], s["copies of training digits"], s["uniform noise"],
                               s["VAE samples"])
    assert digits["accuracy"] > 0.93
    assert real["IS-like"] > 9 and abs(real["closer to training"] - 0.5) < 0.08
    assert copies["closer to training"] == 1.0 and copies["IS-like"] > 9
    assert one["IS-like"] < 1.5 and one["precision"] > 0.9 and one["recall"] < 0.15
    assert noise["IS-like"] > 1.5 and noise["precision"] < 0.5
    assert noisy["IS-like"] > real["IS-like"] - 2
    assert noisy["Fréchet (features)"] > 8 * real["Fréchet (features)"]
    assert vae["precision"] > 0.8 and vae["recall"] < 0.4
    for name, scores in s.items():
        if name != "held-out real digits":
            assert scores["Fréchet (features)"] > real["Fréchet (features)"], name


def test_the_sets_share_no_image_with_the_reference(digits):
    from playground.images import load_digits
    split = load_digits().split(0.4, seed=0)
    reference = {row.tobytes() for row in split.x_test[:digits["n_reference"]]}
    assert not any(row.tobytes() in reference for row in digits["sets"]["held-out real digits"])
