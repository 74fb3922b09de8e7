"""PCA, AE, VAE, SWAE, CVAE: the math against independent references, training on small runs."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from playground.autoencoders import (
    PCA, AutoencoderConfig, AutoencoderTrainer, elbo, fit_latent_density, gaussian_kl,
    importance_sampled_log_likelihood, interpolate, latent_grid, log_likelihood, loss_ablation,
    mean_reconstruction_loss, reparameterize,
    sliced_wasserstein,
)
from playground.images import load_digits
from playground.seeding import torch_generator

TINY = AutoencoderConfig(hidden=(32,), batch_size=32, learning_rate=3e-3)


@pytest.fixture(scope="module")
def digits():
    split = load_digits().split(0.2, seed=0)
    return split.x_train[:400], split.y_train[:400], split.x_test[:60], split.y_test[:60]


def test_gaussian_kl_matches_torch_distributions_and_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    reference = torch.distributions.kl_divergence(q, prior).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), reference)
    # Monte Carlo: KL = E_q[log q(z) - log p(z)].
    z = q.sample((50_000,))
    log_ratio = (q.log_prob(z) - prior.log_prob(z)).sum(-1)
    standard_error = log_ratio.std(0) / math.sqrt(len(z))
    assert ((log_ratio.mean(0) - gaussian_kl(mu, logvar)).abs() < 5 * standard_error).all()


def test_gaussian_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros(1, 2)
    assert gaussian_kl(zeros, zeros).item() == 0.0
    assert gaussian_kl(zeros + 0.1, zeros).item() > 0 and gaussian_kl(zeros, zeros - 0.3).item() > 0


def test_reparameterised_samples_have_the_right_moments_and_carry_gradients():
    n = 200_000
    mu = torch.tensor([1.5, -2.0], requires_grad=True)
    logvar = torch.tensor([0.4, -1.0], requires_grad=True)
    z = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), torch_generator(0))
    sigma2 = logvar.exp().detach()
    torch.testing.assert_close(z.mean(0).detach(), mu.detach(), atol=5 * (sigma2 / n).sqrt().max().item(), rtol=0)
    torch.testing.assert_close(z.var(0).detach(), sigma2, rtol=0.02, atol=0)
    # E[z^2] = mu^2 + sigma^2, so d/d mu = 2 mu and d/d logvar = sigma^2: the pathwise gradient recovers both.
    z.pow(2).mean(0).sum().backward()
    torch.testing.assert_close(mu.grad, 2 * mu.detach(), rtol=0.02, atol=0.02)
    torch.testing.assert_close(logvar.grad, sigma2, rtol=0.03, atol=0.01)


def test_log_likelihoods_match_torch_distributions():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(5, 7, generator=generator).round()
    logits = torch.randn(5, 7, generator=generator)
    bernoulli = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(log_likelihood(x, logits, "bernoulli"), bernoulli)
    gaussian = torch.distributions.Normal(logits, 0.3).log_prob(x).sum(-1)
    torch.testing.assert_close(log_likelihood(x, logits, "gaussian", 0.3), gaussian)
    with pytest.raises(ValueError):
        log_likelihood(x, logits, "poisson")
    for likelihood in ("bernoulli", "gaussian"):  # the training loss's fused form is the same number
        torch.testing.assert_close(mean_reconstruction_loss(x, logits, likelihood, 0.3),
                                   -log_likelihood(x, logits, likelihood, 0.3).mean())


def test_sliced_wasserstein_is_small_within_a_distribution_and_grows_with_a_shift(device):
    generator = torch_generator(0, device)
    a = torch.randn(2000, 2, generator=generator, device=device)
    b = torch.randn(2000, 2, generator=generator, device=device)
    same = sliced_wasserstein(a, b, 200, generator).item()
    distances = [sliced_wasserstein(a, b + shift, 200, generator).item() for shift in (0.5, 1.0, 2.0)]
    assert same < 0.01
    assert same < distances[0] < distances[1] < distances[2]
    # A sample against its own translate by s: every sorted projection moves by theta.s, so
    # SW^2 = E_theta[(theta.s)^2] = |s|^2 / d for uniform directions.
    shift = torch.tensor([1.2, -0.9], device=device)
    exact = sliced_wasserstein(a[:200], a[:200] + shift, 5000, generator).item()
    assert exact == pytest.approx(shift.pow(2).sum().item() / 2, rel=0.03)
    with pytest.raises(ValueError):
        sliced_wasserstein(a, b[:10])


def test_pca_matches_scikit_learn(digits, device):
    from sklearn.decomposition import PCA as SklearnPCA

    x_train, _, x_test, _ = digits
    ours = PCA(5, device=device).fit(x_train)
    theirs = SklearnPCA(5, svd_solver="full").fit(x_train.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(np.abs(ours.components_ @ theirs.components_.T), np.eye(5), atol=1e-6)
    sklearn_error = ((x_test - theirs.inverse_transform(theirs.transform(x_test))) ** 2).sum(1).mean()
    assert ours.reconstruction_error(x_test) == pytest.approx(sklearn_error, rel=1e-6)
    more = PCA(20, device=device).fit(x_train)
    assert more.reconstruction_error(x_test) < ours.reconstruction_error(x_test)
    with pytest.raises(ValueError):
        PCA(100).fit(x_train)


@pytest.mark.parametrize("kind", ["ae", "vae", "swae", "cvae"])
def test_training_lowers_the_loss_on_a_seeded_run(digits, device, kind):
    x_train, y_train, x_test, y_test = digits
    trainer = AutoencoderTrainer(x_train, x_test, y_train, y_test, config=replace(TINY, kind=kind), device=device,
                                 eval_every=1)
    first = trainer.step(1)
    last = trainer.step(5)
    assert last["iteration"] == 6 and not trainer.stopped
    assert last["loss"] < first["loss"] and last["test_reconstruction"] < first["test_reconstruction"]
    if kind in ("vae", "cvae"):
        assert last["elbo"] == pytest.approx(-(last["reconstruction"] + last["kl"]), rel=1e-5)
    again = AutoencoderTrainer(x_train, x_test, y_train, y_test, config=replace(TINY, kind=kind), device=device,
                               eval_every=1)
    again.step(6)
    assert again.history[-1]["loss"] == pytest.approx(last["loss"], rel=1e-4)  # same seed, same run


def test_elbo_is_below_the_importance_sampled_log_likelihood(digits, device):
    x_train, _, x_test, _ = digits
    trainer = AutoencoderTrainer(x_train, x_test, config=replace(TINY, kind="vae"), device=device)
    trainer.step(8)
    x = torch.as_tensor(x_test[:30], device=device)
    bound = elbo(trainer.model, x, n_samples=200, generator=torch_generator(1, device))["elbo"]
    log_px = importance_sampled_log_likelihood(trainer.model, x, n_importance=500,
                                               generator=torch_generator(2, device))
    assert (bound <= log_px + 1e-3).all()
    assert log_px.mean() - bound.mean() > 0.01  # a 2D Gaussian q(z|x) is not the exact posterior
    # With one importance sample the estimator is unbiased for the ELBO itself.
    one = torch.stack([importance_sampled_log_likelihood(trainer.model, x, n_importance=1,
                                                         generator=torch_generator(s, device)) for s in range(200)])
    torch.testing.assert_close(one.mean(0).mean(), bound.mean(), atol=0.1, rtol=0)


def test_importance_weights_match_torch_distributions(digits):
    x_train, _, x_test, _ = digits
    trainer = AutoencoderTrainer(x_train, x_test, config=replace(TINY, kind="vae"), device="cpu")
    trainer.step(1)
    model, x = trainer.model, torch.as_tensor(x_test[:4])
    ours = importance_sampled_log_likelihood(model, x, n_importance=50, generator=torch_generator(3))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        z = mu + (0.5 * logvar).exp() * torch.randn((50, *mu.shape), generator=torch_generator(3))
        prior = torch.distributions.Normal(0.0, 1.0)
        p_x = torch.distributions.Bernoulli(logits=model.decoder_output(z), validate_args=False)  # grey levels
        weights = p_x.log_prob(x).sum(-1) + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
        reference = torch.logsumexp(weights, 0) - math.log(50)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


def test_decoded_grid_is_images_in_unit_interval(digits, device):
    x_train, _, x_test, _ = digits
    grid = latent_grid(5, -3, 3)
    assert grid.shape == (25, 2) and tuple(grid[0]) == (-3.0, 3.0) and tuple(grid[-1]) == (3.0, -3.0)
    trainer = AutoencoderTrainer(x_train, x_test, config=replace(TINY, kind="vae"), device=device)
    trainer.step(1)
    for model in (trainer, PCA(2, clip=(0, 1), device=device).fit(x_train)):
        images = model.decode(grid * 10)
        assert images.shape == (25, 64) and images.min() >= 0.0 and images.max() <= 1.0


def test_conditional_vae_decodes_differently_per_label(digits):
    x_train, y_train, x_test, y_test = digits
    trainer = AutoencoderTrainer(x_train, x_test, y_train, y_test, config=replace(TINY, kind="cvae"), device="cpu")
    trainer.step(3)
    z = np.zeros((1, 2))
    assert np.abs(trainer.decode(z, [0]) - trainer.decode(z, [1])).max() > 0.05
    with pytest.raises(ValueError):
        trainer.decode(z)
    with pytest.raises(ValueError):
        AutoencoderTrainer(x_train, x_test, config=replace(TINY, kind="cvae"))


def test_nan_data_stops_training_and_keeps_the_last_good_model(digits):
    x_train, _, x_test, _ = digits
    trainer = AutoencoderTrainer(x_train, x_test, config=replace(TINY, kind="ae"), device="cpu")
    trainer.step(1)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.x_train[5, 3] = float("nan")
    trainer.step(2)
    assert trainer.stopped and "NaN" in trainer.message and trainer.iteration == 1
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, before[name])


def test_interpolation_starts_and_ends_at_the_reconstructions(digits):
    x_train, _, x_test, _ = digits
    trainer = AutoencoderTrainer(x_train, x_test, config=replace(TINY, kind="ae"), device="cpu")
    trainer.step(1)
    strip = interpolate(trainer, x_test[0], x_test[1], n_steps=6)
    assert strip.shape == (6, 64)
    np.testing.assert_allclose(strip[0], trainer.reconstruct(x_test[:1])[0], atol=1e-5)
    np.testing.assert_allclose(strip[-1], trainer.reconstruct(x_test[1:2])[0], atol=1e-5)


def test_loss_ablation_only_kl_collapses_codes_and_only_reconstruction_spreads_them(digits):
    x_train, _, x_test, y_test = digits
    ablation = loss_ablation(x_train, x_test, y_test, config=TINY, device="cpu")
    metrics = ablation.step(4)
    assert set(ablation.snapshot()) == {"only reconstruction", "only KL", "both"}
    assert metrics["only KL/kl"] < 0.1 < metrics["both/kl"] < metrics["only reconstruction/kl"]
    assert metrics["only reconstruction/reconstruction"] < metrics["only KL/reconstruction"]


def test_only_kl_decodes_every_code_to_the_average_image_and_both_does_not(digits):
    """What the page says of "only KL": the decoder learns (it is not left at its initial weights),
    but the codes carry no information, so every z decodes to the training set's average image."""
    x_train, _, x_test, y_test = digits
    ablation = loss_ablation(x_train, x_test, y_test, config=TINY, device="cpu")
    untrained = ablation.trainers["only KL"].decode(np.zeros((1, TINY.latent_dim), np.float32))[0]
    ablation.step(30)
    z = np.random.default_rng(0).standard_normal((40, TINY.latent_dim)).astype(np.float32)
    average = x_train.mean(axis=0)
    only_kl = ablation.trainers["only KL"].decode(z)
    spread = np.abs(only_kl - only_kl.mean(axis=0)).mean()
    assert spread < 0.015  # (almost) the same image for every z (measured 0.0097)
    assert np.abs(only_kl.mean(axis=0) - average).mean() < 0.01  # ... and it is the average image (0.0046)
    assert np.abs(untrained - average).mean() > 0.15  # the untrained decoder's output was not
    both = ablation.trainers["both"].decode(z)
    assert np.abs(both - both.mean(axis=0)).mean() > 5 * spread  # with both terms, the codes carry the digit
    assert np.abs(both - both.mean(axis=0)).max() > 0.3


def test_post_hoc_densities_match_scikit_learn_and_their_samples_follow_the_codes():
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity

    codes = np.random.default_rng(0).normal(size=(300, 2)) * [1.0, 0.3] + [2.0, -1.0]
    queries = np.random.default_rng(1).normal(size=(20, 2))
    reference = KernelDensity(bandwidth=0.4).fit(codes).score_samples(queries)
    ours = fit_latent_density(codes, "kde", bandwidth=0.4, device="cpu").score_samples(queries)
    np.testing.assert_allclose(ours, reference, rtol=1e-8)
    mixture = fit_latent_density(codes, "gmm", n_components=1, device="cpu")
    single = GaussianMixture(1, reg_covar=1e-4).fit(codes)
    np.testing.assert_allclose(mixture.score_samples(queries), single.score_samples(queries), rtol=1e-6)
    for method in ("gmm", "kde"):
        samples = fit_latent_density(codes, method, n_components=3, bandwidth=0.1, seed=0).sample(4000, seed=1)
        assert samples.shape == (4000, 2)
        np.testing.assert_allclose(samples.mean(0), codes.mean(0), atol=0.08)
        np.testing.assert_allclose(samples.std(0), codes.std(0), rtol=0.1)


@pytest.mark.parametrize("name", ["swiss_roll", "s_curve"])
def test_the_autoencoder_unfolds_the_roll_where_pca_folds_it(name):
    """The swiss-roll hint: after 100 epochs (the page's settings) the AE's codes are far more trustworthy
    than PCA's (measured: 0.98 vs 0.86) and its error far lower."""
    from playground.autoencoders import PCA, AutoencoderTrainer, trustworthiness
    from playground.images import load_manifold
    from playground.seeding import derive_seed

    points, _ = load_manifold(name, n=1200, seed=derive_seed(0, name))
    pca = PCA(2, device="cpu").fit(points)
    config = AutoencoderConfig(kind="ae", hidden=(64, 64), likelihood="gaussian", noise_std=0.1, learning_rate=3e-3,
                               batch_size=100, seed=0)
    trainer = AutoencoderTrainer(points, points, config=config, eval_every=10, device="cpu")
    trainer.step(100)
    assert trustworthiness(points, pca.transform(points)) < 0.9 < 0.97 < trustworthiness(points, trainer.encode(points)[0])
    pca_error = ((points - pca.inverse_transform(pca.transform(points))) ** 2).sum(1).mean()
    assert ((points - trainer.reconstruct(points)) ** 2).sum(1).mean() < 0.2 * pca_error


def test_trustworthiness_is_sklearns_and_drops_for_a_folded_projection():
    from sklearn.manifold import trustworthiness as reference

    from playground.autoencoders import trustworthiness

    g = np.random.default_rng(0)
    sheet = np.column_stack([g.uniform(-3, 3, 400), g.uniform(-1, 1, 400)])
    assert trustworthiness(sheet, sheet) == pytest.approx(1.0)
    folded = np.column_stack([np.abs(sheet[:, 0]), sheet[:, 1]])  # the two halves land on each other
    assert trustworthiness(sheet, folded) == pytest.approx(reference(sheet, folded, n_neighbors=10))
    assert trustworthiness(sheet, folded) < 0.95


def test_ablation_maps_share_their_axes():
    from playground.figures.latent import side_by_side_maps

    g = np.random.default_rng(0)
    fig = side_by_side_maps({"spread": (g.normal(size=(50, 2)) * 3, None), "collapsed": (g.normal(size=(50, 2)) * 0.005,
                                                                                         None)})
    assert fig.layout.xaxis2.matches == "x" and fig.layout.yaxis2.matches == "y"


def test_elbo_gap_is_the_importance_sampled_log_likelihood_minus_the_elbo(digits):
    """The gap shown beside the ELBO estimates KL(q(z|x) || p(z|x)) >= 0; on a 1D latent the true
    log p(x) is a quadrature over z (an independent reference for the importance-sampled one)."""
    x_train, y_train, x_test, y_test = digits
    config = replace(TINY, latent_dim=1)
    trainer = AutoencoderTrainer(x_train, x_test, y_test=y_test, config=config, device="cpu")
    trainer.step(5)
    gap = trainer.elbo_gap(n_points=20, n_importance=2000)
    assert gap["gap"] == pytest.approx(gap["log_px"] - gap["elbo"]) and gap["gap"] > 0
    z = torch.linspace(-8, 8, 4001)[:, None]
    with torch.no_grad():
        outputs = trainer.model.decoder_output(z)
        x = torch.as_tensor(x_test[:20])
        log_px_z = log_likelihood(x[None].expand(4001, -1, -1), outputs[:, None].expand(-1, 20, -1), "bernoulli")
        log_joint = log_px_z - 0.5 * z**2 - 0.5 * math.log(2 * math.pi)
        exact = torch.logsumexp(log_joint, dim=0) + math.log(16 / 4000)
    assert gap["log_px"] == pytest.approx(float(exact.mean()), abs=0.05)


def test_reparameterised_samples_are_mu_plus_sigma_eps_with_the_gradients_of_the_trick(digits):
    x_train, y_train, x_test, y_test = digits
    trainer = AutoencoderTrainer(x_train, x_test, y_test=y_test, config=TINY, device="cpu")
    trainer.step(2)
    trick = trainer.reparameterised(x_test[3], n=6, seed=1)
    with torch.no_grad():
        mu, logvar = trainer.model.encode(torch.as_tensor(x_test[3:4]))
    np.testing.assert_allclose(trick["mu"], mu[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(trick["sigma"], np.exp(0.5 * logvar[0].numpy()), rtol=1e-6)
    np.testing.assert_allclose(trick["z"], trick["mu"] + trick["sigma"] * trick["eps"], rtol=1e-6)
    np.testing.assert_allclose(trick["dz_dmu"], 1.0)
    np.testing.assert_allclose(trick["dz_dsigma"], trick["eps"][0], rtol=1e-6)  # the path the trick opens
    np.testing.assert_allclose(trick["decoded"], trainer.decode(trick["z"]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(trainer.reparameterised(x_test[3], n=6, seed=2)["eps"], trick["eps"])


def test_slicing_view_is_the_one_dimensional_transport_and_averages_to_sw():
    """Each slice's W2^2 equals SciPy's 1D Wasserstein computation of equal-size samples (sorted pairing);
    over many directions the mean matches sliced_wasserstein's estimate."""
    from scipy import stats

    from playground.autoencoders import slicing_view

    g = np.random.default_rng(0)
    codes = g.normal(size=(400, 2)) * [2.0, 0.5] + [1.0, 0.0]
    view = slicing_view(codes, 200, seed=3)
    for k in range(3):
        a, b = codes @ view["directions"][k], view["prior"] @ view["directions"][k]
        # W2^2 of equal-size 1D samples = mean squared gap of the sorted values; W1 as SciPy computes it
        assert view["w2_squared"][k] == pytest.approx(np.mean((np.sort(a) - np.sort(b)) ** 2))
        assert np.mean(np.abs(view["sorted_codes"][k] - view["sorted_prior"][k])) == pytest.approx(
            stats.wasserstein_distance(a, b), rel=1e-9)
    estimate = float(sliced_wasserstein(torch.as_tensor(codes), torch.as_tensor(view["prior"]), 2000,
                                        torch.Generator().manual_seed(0)))
    assert view["w2_squared"].mean() == pytest.approx(estimate, rel=0.1)


@pytest.mark.parametrize("kind, latent_dim, likelihood", [
    ("pca", 2, None), ("pca", 5, None), ("ae", 2, "bernoulli"), ("vae", 2, "gaussian"), ("cvae", 2, "bernoulli"),
    ("vae", 4, "bernoulli"),
])
def test_decoder_program_decodes_like_the_model(digits, kind, latent_dim, likelihood):
    """The browser's decode-on-hover runs ``decoder_program`` as plain affine layers; run the same
    numbers in NumPy and compare with the model's own decode (torch), through the map's PCA lift
    when m > 2 and for a CVAE's digit. A wrong layer order, transposed weight, missing condition or
    lift gives errors of order 0.1-1."""
    import base64

    from playground.autoencoders import decoder_program

    x_train, y_train, x_test, y_test = digits
    if kind == "pca":
        model = PCA(latent_dim, clip=(0.0, 1.0)).fit(x_train)
    else:
        model = AutoencoderTrainer(x_train, x_test, y_train, y_test, device="cpu",
                                   config=replace(TINY, kind=kind, latent_dim=latent_dim, likelihood=likelihood))
        model.step(2)
    codes = model.encode(x_test, y_test if kind == "cvae" else None)[0]
    plane = PCA(2, device="cpu").fit(codes) if latent_dim > 2 else None
    lift = None if plane is None else (plane.components_.T, plane.mean_)
    condition = 7 if kind == "cvae" else None
    points = np.random.default_rng(0).uniform(-4, 4, (50, 2))
    latent = points if plane is None else plane.inverse_transform(points)
    expected = model.decode(latent, None if condition is None else np.full(len(points), condition))
    program = decoder_program(model, lift, condition)
    np.testing.assert_allclose(program(points), expected, atol=2e-5)
    # what the browser receives: the same numbers, little-endian float32
    sent = program.to_json()
    first = np.frombuffer(base64.b64decode(sent["layers"][0]["w"]), "<f4").reshape(sent["layers"][0]["out"], 2)
    np.testing.assert_array_equal(first, program.weights[0])
    if kind == "cvae":
        other = decoder_program(model, lift, 1)
        assert np.abs(other(points) - expected).max() > 0.05
        with pytest.raises(ValueError, match="digit"):
            decoder_program(model)
