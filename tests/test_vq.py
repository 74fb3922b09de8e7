"""VQ-VAE compute against independent references: autograd for the straight-through estimator,
SciPy's distances for the nearest code, the EMA update written out by hand, scikit-learn's k-means
for the 2D codebook, and the chain rule for the code priors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans

from playground import vq
from playground.images import load_digits
from playground.targets import get_target

RING = get_target("ring8").sample(2000, 0)


def test_straight_through_gradient_is_the_identity_on_the_encoder_side():
    g = torch.Generator().manual_seed(0)
    z_e = torch.randn(7, 3, generator=g, requires_grad=True)
    codebook = torch.randn(5, 3, generator=g)
    z_q, index, _ = vq.quantize(z_e, codebook)
    weights = torch.randn(7, 3, generator=g)
    (weights * z_q).sum().backward()
    torch.testing.assert_close(z_e.grad, weights)  # d(w . z_q)/d z_e = w: the quantiser is skipped
    torch.testing.assert_close(z_q.detach(), codebook[index])  # ... while the forward value is the code


def test_nearest_code_matches_scipy():
    rng = np.random.default_rng(1)
    z, codebook = rng.normal(size=(300, 4)), rng.normal(size=(20, 4))
    ours = vq.nearest_codes(torch.as_tensor(z), torch.as_tensor(codebook)).numpy()
    np.testing.assert_array_equal(ours, cdist(z, codebook).argmin(axis=1))


def test_codebook_and_commitment_losses_send_gradients_to_opposite_sides():
    z_e = torch.tensor([[0.0, 0.0], [3.0, 0.0]], requires_grad=True)
    codebook = torch.tensor([[1.0, 0.0], [10.0, 10.0]], requires_grad=True)
    _, index, losses = vq.quantize(z_e, codebook)
    assert index.tolist() == [0, 0]
    assert losses["codebook"].item() == pytest.approx((1 + 4) / 2)
    losses["codebook"].backward(retain_graph=True)
    assert z_e.grad is None and codebook.grad[0].tolist() == pytest.approx([(2 * 1 + 2 * -2) / 2, 0.0])
    losses["commitment"].backward()
    assert z_e.grad.tolist() == [[-1.0, 0.0], [2.0, 0.0]]


def test_ema_update_equals_its_closed_form():
    cluster, sums = torch.tensor([2.0, 1.0, 1.0]), torch.tensor([[2.0, 2.0], [0.0, 1.0], [5.0, 5.0]])
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    index = torch.tensor([0, 0, 1])
    decay, eps = 0.9, 1e-5
    new = vq.ema_update(cluster, sums, z, index, decay, eps)
    n = np.array([0.9 * 2 + 0.1 * 2, 0.9 * 1 + 0.1 * 1, 0.9 * 1])
    m = np.array([[0.9 * 2 + 0.1 * 4, 0.9 * 2], [0.1 * 0, 0.9 * 1 + 0.1 * 2], [4.5, 4.5]])
    smoothed = (n + eps) / (n.sum() + 3 * eps) * n.sum()
    np.testing.assert_allclose(cluster.numpy(), n, rtol=1e-6)
    np.testing.assert_allclose(new.numpy(), m / smoothed[:, None], rtol=1e-5)


def test_perplexity_counts_the_codes_in_use():
    assert vq.perplexity(np.arange(64) % 16, 16) == pytest.approx(16.0)
    assert vq.perplexity(np.zeros(50, dtype=int), 16) == pytest.approx(1.0)
    assert vq.perplexity([0, 0, 1, 1], 8) == pytest.approx(2.0)


def test_2d_codebook_reaches_k_means_quality():
    trainer = vq.VQTrainer(RING, config=vq.VQConfig(codes=16, ema=True, seed=0), device="cpu")
    trainer.step(400)
    ours = trainer.evaluate()["test_reconstruction"] * len(RING)  # the mean squared distance x the count
    theirs = KMeans(16, n_init=4, random_state=0).fit(RING).inertia_
    assert ours <= 1.15 * theirs


def test_dead_codes_from_a_bad_start_and_their_reset():
    """The page's preset: every code starts in one corner; one code wins every point and the others
    never move (codebook loss only updates used codes); resetting unused codes revives them."""
    stuck = vq.VQTrainer(RING, config=vq.VQConfig(codes=16, init="corner", seed=0), device="cpu")
    stuck.step(300)
    assert stuck.evaluate()["dead"] >= 12
    revived = vq.VQTrainer(RING, config=vq.VQConfig(codes=16, init="corner", reset_dead=True, seed=0), device="cpu")
    revived.step(300)
    assert revived.evaluate()["dead"] == 0 and revived.resets > 0
    assert revived.evaluate()["test_reconstruction"] < 0.2 * stuck.evaluate()["test_reconstruction"]


@pytest.fixture(scope="module")
def digit_codes():
    split = load_digits().split(0.2, seed=0)
    trainer = vq.VQTrainer(split.x_train, split.x_test, vq.VQConfig(data="digits", codes=32, seed=0), device="cpu")
    trainer.step(400)
    return trainer, trainer.codes_of(split.x_train), trainer.codes_of(split.x_test)


def test_digit_codes_and_the_priors_held_out_likelihood(digit_codes):
    trainer, train, test = digit_codes
    assert train.shape == (len(train), 2) and trainer.evaluate()["perplexity"] > 8
    nll = {kind: -vq.fit_prior(train, 32, kind).log_prob(test).mean() for kind in vq.PRIORS}
    assert nll["uniform"] == pytest.approx(2 * math.log(32))
    assert nll["autoregressive"] < nll["independent"] < nll["uniform"]


def test_the_autoregressive_prior_is_normalised_and_samples_its_tables(digit_codes):
    _, train, _ = digit_codes
    prior = vq.fit_prior(train, 32, "autoregressive")
    every = np.array([(a, b) for a in range(32) for b in range(32)])
    assert np.exp(prior.log_prob(every)).sum() == pytest.approx(1.0)  # chain rule: sums to one
    draws = prior.sample(40_000, seed=3)
    pairs = np.bincount(draws[:, 0] * 32 + draws[:, 1], minlength=32 * 32) / len(draws)
    expected = np.exp(prior.log_prob(every))
    assert np.abs(pairs - expected).sum() / 2 < 0.05  # total variation of the sampled pairs


def test_decoded_codes_are_images(digit_codes):
    trainer, _, _ = digit_codes
    images = trainer.decode_codes(np.array([[0, 1], [2, 3]]))
    assert images.shape == (2, 64) and images.min() >= 0 and images.max() <= 1
