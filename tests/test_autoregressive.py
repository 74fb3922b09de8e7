"""Autoregressive models: the chain rule, the sampling rules and the trainers, against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from playground import autoregressive as A
from playground.targets import get_target


@pytest.fixture(scope="module")
def trained() -> A.GridAutoregressive:
    model = A.GridAutoregressive(get_target("mog2d"), A.GridConfig(bins=16, n_data=4000, seed=3))
    model.step(300)
    return model


def _reference_filter(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None) -> np.ndarray:
    """Temperature, then top-k, then top-p, written independently with NumPy on one vector."""
    z = logits / temperature
    keep = np.ones(len(z), dtype=bool)
    if top_k is not None and top_k < len(z):
        keep &= z >= np.sort(z)[::-1][top_k - 1]
    p = np.where(keep, np.exp(z - z[keep].max()), 0.0)
    p /= p.sum()
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, kind="stable")
        nucleus, total = [], 0.0
        for i in order:
            if total >= top_p:
                break
            nucleus.append(i)
            total += p[i]
        mask = np.zeros(len(z), dtype=bool)
        mask[nucleus] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return p


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, None), (0.5, None, None), (2.0, 3, None),
                                                        (1.0, None, 0.6), (0.7, 5, 0.9), (1.3, 1, None)])
def test_sampling_rules_match_a_numpy_reference(temperature, top_k, top_p):
    logits = np.random.default_rng(4).normal(size=12) * 2
    ours = np.exp(A.filter_logits(torch.tensor(logits), temperature, top_k, top_p).numpy())
    np.testing.assert_allclose(ours, _reference_filter(logits, temperature, top_k, top_p), atol=1e-12)


def test_neutral_rules_leave_the_distribution_and_zero_temperature_is_the_argmax():
    logits = torch.tensor(np.random.default_rng(5).normal(size=(3, 9)))
    plain = torch.softmax(logits, dim=-1)
    for kwargs in ({}, {"temperature": 1.0}, {"top_k": 9}, {"top_p": 1.0}, {"top_k": 50, "top_p": 1.0}):
        torch.testing.assert_close(A.filter_logits(logits, **kwargs).exp(), plain)
    argmax = A.filter_logits(logits, temperature=0.0).exp()
    assert torch.equal(argmax.argmax(-1), logits.argmax(-1)) and torch.all(argmax.sum(-1) == 1)
    cold = A.filter_logits(logits, temperature=1e-3).exp()
    torch.testing.assert_close(cold, argmax, atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        A.filter_logits(logits, top_p=0.0)


def test_the_joint_is_the_product_of_the_conditionals_and_sums_to_one(trained):
    table = trained.log_table()
    assert np.exp(table).sum() == pytest.approx(1.0, abs=1e-5)
    # the chain rule, from the parameters directly: log softmax(first) + log softmax(MLP(one-hot))
    with torch.no_grad():
        first = torch.log_softmax(trained.first_logits, 0).numpy()
        eye = torch.eye(trained.config.bins)
        second = torch.log_softmax(trained.net(eye), 1).numpy()
    np.testing.assert_allclose(table, first[:, None] + second, atol=1e-5)
    cells = trained.held_out_cells[:50]
    np.testing.assert_allclose(trained.log_prob(cells), table[cells[:, 0], cells[:, 1]], atol=1e-5)
    # p(x2 | x1 = a) is the row of the joint, renormalised: Bayes' rule on the table
    row = np.exp(table[5]) / np.exp(table[5]).sum()
    np.testing.assert_allclose(trained.conditional(5, "x1"), row, atol=1e-12)


def test_ancestral_samples_follow_the_model_chi_square(trained):
    draws = trained.sample(20_000, seed=11)
    table = np.exp(trained.log_table()).ravel()
    counts = np.bincount(draws["cells"][:, 0] * trained.config.bins + draws["cells"][:, 1],
                         minlength=table.size).astype(float)
    expected = table * counts.sum()
    big = expected >= 5  # pool the rare cells into one bin
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(expected[big], expected[~big].sum())
    assert stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-3
    low = np.array([b[0] for b in trained.bounds])
    width = (np.array([b[1] for b in trained.bounds]) - low) / trained.config.bins
    np.testing.assert_array_equal(np.floor((draws["points"] - low) / width).astype(int), draws["cells"])
    np.testing.assert_allclose(np.log(draws["p_first"] * draws["p_second"]),
                               trained.log_prob(draws["cells"]), atol=1e-4)


def test_training_learns_the_joint_close_to_the_truth(trained):
    truth = A.true_table(trained.target, trained.bounds, trained.config.bins)
    held = trained.held_out_cells
    truth_nll = -np.log(truth[held[:, 0], held[:, 1]]).mean()
    first = trained.metric("held_out_nll")[0]
    last = trained.history[-1]["held_out_nll"]
    assert last < first - 0.5
    assert last == pytest.approx(-trained.log_prob(held).mean(), abs=1e-4)
    assert abs(last - truth_nll) < 0.2  # within 0.2 nats per point of the truth after 300 steps
    assert trained.history[-1]["held_out_bits_per_dim"] == pytest.approx(last / (2 * math.log(2)))


def test_the_two_orders_differ_while_training_and_converge_to_one_joint():
    """The page's claim: the same joint in theory; two trained models differ until both have learned it."""
    target = get_target("banana")
    joints = {300: [], 1000: []}
    for order in A.ORDERS:
        model = A.GridAutoregressive(target, A.GridConfig(bins=12, order=order, n_data=300, seed=1))
        model.step(300)
        joints[300].append(np.exp(model.log_table()))
        model.step(700)
        joints[1000].append(np.exp(model.log_table()))
    gap = {steps: 0.5 * np.abs(pair[0] - pair[1]).sum() for steps, pair in joints.items()}  # total variation
    assert gap[1000] < 0.6 * gap[300] and gap[1000] < 0.06
    empirical = A.empirical_table(model.train_cells, 12)
    for joint in joints[1000]:  # both tend to the maximum-likelihood joint: the data's own frequencies
        assert 0.5 * np.abs(joint - empirical).sum() < 0.12


def test_few_data_are_memorised():
    """The page's hint: with 100 points the held-out NLL turns up as training goes on."""
    model = A.GridAutoregressive(get_target("mog2d"), A.GridConfig(bins=24, n_data=100, seed=0))
    model.step(1000)
    held_out = model.metric("held_out_nll")
    assert held_out[-1] > np.nanmin(held_out) + 1.0 and np.nanargmin(held_out) < 300


def test_true_table_integrates_the_density():
    target = get_target("gaussian2d")
    table = A.true_table(target, target.bounds, 10, resolution=8)
    mean = np.array([np.sum(A.cell_centers(target.bounds, 10)[0] * table.sum(axis=1)),
                     np.sum(A.cell_centers(target.bounds, 10)[1] * table.sum(axis=0))])
    sample = target.sample(200_000, seed=0)
    np.testing.assert_allclose(mean, sample.mean(axis=0), atol=0.05)
    assert A.true_table(get_target("moons"), get_target("moons").bounds, 10) is None


def test_char_model_log_prob_is_the_sum_of_next_character_log_probs():
    model = A.CharModel(A.CharConfig(seed=2))
    model.step(50)
    # independent path: every teacher-forcing window of the word through the network at once
    x, y = A.char_windows(["emma"], model.config.context, model.vocabulary)
    with torch.no_grad():
        batch = -torch.nn.functional.cross_entropy(model.net(torch.as_tensor(x)), torch.as_tensor(y),
                                                   reduction="sum")
    assert model.log_prob("emma") == pytest.approx(float(batch), abs=1e-6)
    probs = np.exp(model.next_log_probs("em"))
    assert probs.sum() == pytest.approx(1.0) and len(probs) == len(model.vocabulary) == 27
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.next_log_probs("é1")


def test_char_model_learns_and_samples_by_the_rules():
    model = A.CharModel(A.CharConfig(seed=0))
    start = model.step(1)["held_out_nll"]
    model.step(300)
    assert np.nanmin(model.metric("held_out_nll")) < start - 0.5
    assert np.nanmin(model.metric("held_out_nll")) < math.log(27) - 0.5  # better than uniform letters
    greedy = model.sample(20, seed=1, temperature=0.0)
    assert len(set(greedy)) == 1  # temperature 0: one path, the argmax at every step
    names = model.sample(200, seed=1, top_k=1)
    assert names == model.sample(200, seed=9, top_k=1)  # top-1 is greedy too, whatever the seed
    varied = model.sample(200, seed=1)
    assert len(set(varied)) > 50 and all(set(n) <= set("abcdefghijklmnopqrstuvwxyz") for n in varied)
    assert model.sample(20, seed=3) == model.sample(20, seed=3)


def test_guard_rolls_back_a_diverging_grid_model():
    model = A.GridAutoregressive(get_target("mog2d"), A.GridConfig(bins=8, seed=0))
    model.step(3)
    before = model.log_table().copy()
    for group in model.optimizer.param_groups:
        group["lr"] = float("inf")
    model.step(1)
    # the guard copies every 10 steps: the run goes back to its last copy (here the start) and stops
    assert model.stopped and model.iteration == 0
    assert not np.array_equal(model.log_table(), before)
    fresh = A.GridAutoregressive(get_target("mog2d"), A.GridConfig(bins=8, seed=0))
    np.testing.assert_array_equal(model.log_table(), fresh.log_table())


def test_char_model_memorises_the_names_the_pages_hint():
    """The page's hint: the held-out curve turns up when the model starts to memorise names."""
    model = A.CharModel(A.CharConfig(seed=0))
    model.step(800)
    held_out = model.metric("held_out_nll")
    assert np.isnan(held_out[1]) and np.isfinite(held_out[0]) and np.isfinite(held_out[4])  # every 5 steps
    assert np.nanargmin(held_out) < 700 and held_out[-1] > np.nanmin(held_out) + 0.05
    assert model.history[-1]["loss"] < held_out[-1] - 0.5  # training loss far below: memorised
