"""GAN compute: objectives vs their formulas, gradient penalty vs autograd, spectral norm vs
torch.linalg, one-step improvement of each player, reproducibility, the NaN guard, and a
seeded WGAN-GP run that covers the ring's modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from playground.device import cpu_threads
from playground.gan import (
    ACTIVATIONS,
    OBJECTIVES,
    GANConfig,
    GANTrainer,
    SpectralNormLinear,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    lipschitz_bound,
    mlp,
    power_iteration,
    spectral_norm_estimate,
    trainer_for_target,
)
from playground.seeding import torch_generator
from playground.targets import get_target

@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Tiny nets: one intra-op thread is fastest and does not fight other processes for cores."""
    with cpu_threads(1):
        yield


TINY = dict(width=32, d_width=32, batch_size=64, n_show=200, grid_resolution=20, n_arrows=20, manifold_lines=5)


def _ring_trainer(device, seed: int = 0, **changes) -> GANTrainer:
    config = GANConfig(**{**TINY, **changes})
    return trainer_for_target(get_target("ring8"), config, seed=seed, n_data=1000, device=device)


# --- objectives against their textbook formulas ------------------------------------------

SCORES_REAL = torch.tensor([2.0, -0.5, 0.3, 1.2], dtype=torch.float64)
SCORES_FAKE = torch.tensor([-1.0, 0.4, -2.5], dtype=torch.float64)


def _sigmoid(s: torch.Tensor) -> np.ndarray:
    return 1 / (1 + np.exp(-s.numpy()))


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_discriminator_loss_matches_formula(objective):
    real, fake = SCORES_REAL.numpy(), SCORES_FAKE.numpy()
    d_real, d_fake = _sigmoid(SCORES_REAL), _sigmoid(SCORES_FAKE)
    expected = {
        "minimax": -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake)),
        "nonsaturating": -np.mean(np.log(d_real)) - np.mean(np.log(1 - d_fake)),
        "least_squares": 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake**2),
        "wgan_clip": np.mean(fake) - np.mean(real),
        "wgan_gp": np.mean(fake) - np.mean(real),
        "hinge": np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
        # f-GAN: -(E_P g_f(v) - E_Q f*(g_f(v))), Nowozin et al.'s Table 2, written out
        "f_kl": -(np.mean(real) - np.mean(np.exp(fake - 1))),
        "f_reverse_kl": -(np.mean(-np.exp(-real)) - np.mean(-1 - np.log(np.exp(-fake)))),
        "f_js": -(np.mean(np.log(2) - np.log1p(np.exp(-real)))
                  - np.mean(-np.log(2 - np.exp(np.log(2) - np.log1p(np.exp(-fake)))))),
        "f_pearson": -(np.mean(real) - np.mean(fake**2 / 4 + fake)),
        "f_hellinger": -(np.mean(1 - np.exp(-real)) - np.mean((1 - np.exp(-fake)) / np.exp(-fake))),
        "f_tv": -(np.mean(0.5 * np.tanh(real)) - np.mean(0.5 * np.tanh(fake))),
    }[objective]
    assert discriminator_loss(SCORES_REAL, SCORES_FAKE, objective).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_generator_loss_matches_formula(objective):
    fake, d_fake = SCORES_FAKE.numpy(), _sigmoid(SCORES_FAKE)
    expected = {
        "minimax": np.mean(np.log(1 - d_fake)),
        "nonsaturating": -np.mean(np.log(d_fake)),
        "least_squares": 0.5 * np.mean((fake - 1) ** 2),
        "wgan_clip": -np.mean(fake),
        "wgan_gp": -np.mean(fake),
        "hinge": -np.mean(fake),
        # f-GAN: G maximises E_Q g_f(v) (Nowozin et al.'s practical step)
        "f_kl": -np.mean(fake),
        "f_reverse_kl": np.mean(np.exp(-fake)),
        "f_js": -np.mean(np.log(2) - np.log1p(np.exp(-fake))),
        "f_pearson": -np.mean(fake),
        "f_hellinger": -np.mean(1 - np.exp(-fake)),
        "f_tv": -np.mean(0.5 * np.tanh(fake)),
    }[objective]
    assert generator_loss(SCORES_FAKE, objective).item() == pytest.approx(expected, rel=1e-12)


def test_log_losses_stay_finite_for_extreme_scores():
    extreme = torch.tensor([1e4, -1e4])
    assert torch.isfinite(discriminator_loss(extreme, extreme, "minimax"))
    assert torch.isfinite(generator_loss(extreme, "nonsaturating"))


def test_minimax_generator_gradient_vanishes_where_nonsaturating_does_not():
    # D confidently rejects the fakes (score -8, D = 3e-4): the minimax loss is flat there.
    scores = torch.full((5,), -8.0, requires_grad=True)
    (minimax_grad,) = torch.autograd.grad(generator_loss(scores, "minimax"), scores)
    (nonsat_grad,) = torch.autograd.grad(generator_loss(scores, "nonsaturating"), scores)
    assert minimax_grad.abs().max() < 1e-3 * nonsat_grad.abs().min()


def test_unknown_objective_is_rejected():
    with pytest.raises(ValueError, match="unknown objective"):
        discriminator_loss(SCORES_REAL, SCORES_FAKE, "kl")
    with pytest.raises(ValueError, match="objective must be"):
        GANConfig(objective="kl").validate()


# --- gradient penalty and Lipschitz constraints ------------------------------------------

def test_gradient_penalty_zero_for_unit_norm_linear_critic(device):
    generator = torch_generator(0, device)
    weight = torch.randn(2, generator=generator, device=device)
    weight = weight / weight.norm()
    critic = lambda x: x @ weight + 0.3  # noqa: E731 - a linear critic with |w| = 1
    real, fake = torch.randn(64, 2, generator=generator, device=device), torch.randn(64, 2, device=device)
    mixing = torch.rand(64, 1, generator=generator, device=device)
    assert gradient_penalty(critic, real, fake, mixing).item() == pytest.approx(0.0, abs=1e-10)
    doubled = lambda x: x @ (2 * weight)  # noqa: E731 - |grad| = 2: penalty (2 - 1)^2 = 1
    assert gradient_penalty(doubled, real, fake, mixing).item() == pytest.approx(1.0, rel=1e-5)


def test_gradient_penalty_matches_per_sample_autograd(device):
    net = mlp(2, 1, 2, 16, "tanh", torch_generator(1, device), device)
    generator = torch_generator(2, device)
    real, fake = torch.randn(10, 2, generator=generator, device=device), torch.randn(10, 2, generator=generator,
                                                                                        device=device)
    mixing = torch.rand(10, 1, generator=generator, device=device)
    norms = []
    for a, x, y in zip(mixing, real, fake):
        point = a * x + (1 - a) * y
        jacobian = torch.autograd.functional.jacobian(lambda p: net(p[None])[0, 0], point)
        norms.append(jacobian.norm())
    expected = torch.mean((torch.stack(norms) - 1) ** 2)
    penalty = gradient_penalty(net, real, fake, mixing)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    assert penalty.requires_grad  # it must be differentiable w.r.t. the critic's weights


def test_power_iteration_matches_largest_singular_value(device):
    weight = torch.randn(40, 25, generator=torch_generator(3, device), device=device, dtype=torch.float64)
    expected = torch.linalg.matrix_norm(weight, ord=2).item()
    assert spectral_norm_estimate(weight, n_iter=200) == pytest.approx(expected, rel=1e-6)
    u = torch.nn.functional.normalize(torch.ones(40, device=device, dtype=torch.float64), dim=0)
    u, v = power_iteration(weight, u, 200)
    assert (u @ weight @ v).item() == pytest.approx(expected, rel=1e-6)


def test_spectral_norm_layer_has_unit_spectral_norm(device):
    layer = SpectralNormLinear(16, 32, torch_generator(4, device), device)
    layer.refresh(100)
    normalised = layer.weight / layer.sigma()
    assert torch.linalg.matrix_norm(normalised.detach(), ord=2).item() == pytest.approx(1.0, rel=1e-3)


def test_spectral_norm_keeps_critic_lipschitz_bound_near_one(device):
    trainer = _ring_trainer(device, objective="hinge", spectral_norm=True)
    plain = _ring_trainer(device, objective="hinge")
    trainer.step(30)
    plain.step(30)
    for layer in trainer.discriminator:
        if isinstance(layer, SpectralNormLinear):  # one power iteration per step tracks sigma(W) closely
            effective = layer.weight.detach() / (layer.u @ layer.weight.detach() @ layer.v)
            assert torch.linalg.matrix_norm(effective, ord=2).item() == pytest.approx(1.0, abs=0.15)
    assert lipschitz_bound(trainer.discriminator) < 1.4 < lipschitz_bound(plain.discriminator)


def test_weight_clipping_keeps_weights_in_range(device):
    trainer = _ring_trainer(device, objective="wgan_clip", clip=0.02, lr_d=0.05, optimizer="rmsprop")
    trainer.step(5)
    largest = max(p.abs().max().item() for p in trainer.discriminator.parameters())
    assert largest <= 0.02 + 1e-7
    assert largest == pytest.approx(0.02)  # a large learning rate pushes some weight to the bound


# --- one step of each player improves its own objective ----------------------------------

@pytest.mark.parametrize("objective", ["minimax", "nonsaturating", "least_squares", "wgan_gp", "hinge"])
def test_one_discriminator_step_improves_its_objective(device, objective):
    trainer = _ring_trainer(device, objective=objective, lr_d=1e-3, optimizer="sgd")
    real = trainer.data[:256]
    with torch.no_grad():
        fake = trainer.generator(torch.randn(256, 2, generator=torch_generator(5, device), device=device))

    def objective_value() -> float:
        with torch.no_grad():
            scores = trainer.discriminator(torch.cat([real, fake]))
            return discriminator_loss(scores[:256], scores[256:], objective).item()

    before = objective_value()
    trainer.opt_d.zero_grad()
    scores = trainer.discriminator(torch.cat([real, fake]))
    discriminator_loss(scores[:256], scores[256:], objective).backward()
    trainer.opt_d.step()
    assert objective_value() < before


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_one_generator_step_improves_its_objective(device, objective):
    trainer = _ring_trainer(device, objective=objective, lr_g=1e-3, optimizer="sgd")
    latent = torch.randn(256, 2, generator=torch_generator(6, device), device=device)

    def objective_value() -> float:
        with torch.no_grad():
            return generator_loss(trainer.discriminator(trainer.generator(latent)), objective).item()

    before = objective_value()
    trainer.opt_g.zero_grad()
    generator_loss(trainer.discriminator(trainer.generator(latent)), objective).backward()
    trainer.opt_g.step()
    assert objective_value() < before


def test_step_discriminator_and_step_generator_update_only_their_player(device):
    trainer = _ring_trainer(device)
    g_before = [p.detach().clone() for p in trainer.generator.parameters()]
    d_before = [p.detach().clone() for p in trainer.discriminator.parameters()]
    trainer.step_discriminator()
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.generator.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, trainer.discriminator.parameters()))
    d_after = [p.detach().clone() for p in trainer.discriminator.parameters()]
    trainer.step_generator()
    assert all(torch.equal(a, b) for a, b in zip(d_after, trainer.discriminator.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.generator.parameters()))
    assert (trainer.d_updates, trainer.g_updates, trainer.iteration) == (1, 1, 2)


def test_d_steps_per_g_step(device):
    trainer = _ring_trainer(device, d_steps=3)
    metrics = trainer.step(4)
    assert (metrics["d_updates"], metrics["g_updates"]) == (12, 4)


# --- reproducibility, snapshots, the NaN guard -------------------------------------------

def test_same_seed_same_trajectory(device):
    first, second = _ring_trainer(device, seed=11), _ring_trainer(device, seed=11)
    first.step(20)
    second.step(20)
    assert first.history == second.history
    for a, b in zip(first.generator.parameters(), second.generator.parameters()):
        assert torch.equal(a, b)
    third = _ring_trainer(device, seed=12)
    third.step(20)
    assert third.history != first.history


def test_snapshots_every_n_iterations_and_thinning(device):
    trainer = _ring_trainer(device, snapshot_every=2, max_snapshots=4)
    trainer.step(6)
    assert [s["iteration"] for s in trainer.snapshots] == [0, 2, 4, 6]
    trainer.step(2)  # a fifth snapshot: thinned to the first and every other one
    iterations = [s["iteration"] for s in trainer.snapshots]
    assert iterations[0] == 0 and iterations[-1] == 8 and len(iterations) <= 4
    assert {"precision", "recall", "sliced_w2", "mmd2", "modes_covered"} <= set(trainer.history[-1])


def test_exploding_training_stops_with_message_and_keeps_last_good_state(device):
    trainer = _ring_trainer(device, objective="wgan_clip", optimizer="sgd", lr_d=1e30, lr_g=1e30, clip=1e30)
    trainer.step(50)
    assert trainer.stopped and "NaN or infinite" in trainer.message
    assert all(torch.isfinite(p).all() for p in trainer.generator.parameters())
    assert all(torch.isfinite(p).all() for p in trainer.discriminator.parameters())
    frame = trainer.snapshot()
    assert np.isfinite(frame["fake"]).all() and np.isfinite(frame["critic"]).all()


def test_guard_restores_weights_moments_and_rng_of_the_last_good_step(device):
    reference, failing = _ring_trainer(device, seed=3), _ring_trainer(device, seed=3)
    reference.step(5)
    failing.step(5)
    for group in failing.opt_g.param_groups:
        group["lr"] = float("inf")  # the next generator update produces inf/NaN weights
    failing.step(1)
    assert failing.stopped and failing.iteration == 5 and len(failing.history) == 5
    for a, b in zip(reference.state_tensors(), failing.state_tensors()):
        assert torch.equal(a, b)
    assert torch.equal(reference.rng.get_state(), failing.rng.get_state())


def test_bad_data_is_rejected_with_a_message():
    with pytest.raises(ValueError, match="2D data"):
        GANTrainer(np.zeros((5, 2)), GANConfig(**TINY), device="cpu")
    with pytest.raises(ValueError, match="NaN"):
        GANTrainer(np.full((50, 2), np.nan), GANConfig(**TINY), device="cpu")


# --- what the figures draw ---------------------------------------------------------------

def test_frame_arrays_have_the_shapes_the_figure_needs(device):
    trainer = _ring_trainer(device)
    frame = trainer.snapshot()
    assert frame["fake"].shape == (200, 2) and frame["real"].shape == (200, 2)
    assert frame["critic"].shape == (20, 20) and frame["manifold"].shape == (5, 5, 2)
    assert frame["arrow_base"].shape == frame["arrow_vector"].shape == (20, 2)
    assert frame["critic_is_probability"] and ((frame["critic"] > 0) & (frame["critic"] < 1)).all()


def test_critic_grid_orientation_and_data_units(device):
    # Data far from the origin and scaled: the heatmap must be in the data's own units.
    data = get_target("ring8").sample(500, seed=0) * 10 + 100
    trainer = GANTrainer(data, GANConfig(**TINY), device=device)
    xs, ys, values = trainer.critic_grid(7)
    assert xs[0] < 100 < xs[-1] and ys[0] < 100 < ys[-1]
    point = np.array([[xs[2], ys[5]]])
    assert values[5, 2] == pytest.approx(trainer.critic(point)[0], rel=1e-5)


def test_generator_arrows_are_minus_the_loss_gradient(device):
    trainer = _ring_trainer(device, objective="least_squares")
    base, vector = trainer.generator_gradients()
    # Finite differences of the per-sample loss 1/2 (s(x) - 1)^2 in data units.
    eps = 1e-3
    for i in range(3):
        def loss_at(point: np.ndarray) -> float:
            x = trainer._to_model(point[None])
            with torch.no_grad():
                return generator_loss(trainer.discriminator(x), "least_squares").item()

        numeric = np.array([(loss_at(base[i] + eps * e) - loss_at(base[i] - eps * e)) / (2 * eps)
                            for e in np.eye(2)])
        np.testing.assert_allclose(vector[i], -numeric, rtol=0.05, atol=1e-4)


def test_manifold_is_generator_image_of_latent_grid(device):
    trainer = _ring_trainer(device, noise="uniform")
    mesh = trainer.manifold(3)
    corner = torch.tensor([[-1.0, -1.0]], device=device)
    with torch.no_grad():
        expected = trainer._to_data(trainer.generator(corner))[0]
    np.testing.assert_allclose(mesh[0, 0], expected, rtol=1e-5)


# --- a real training run -----------------------------------------------------------------

def test_seeded_wgan_gp_covers_the_ring_modes():
    trainer = trainer_for_target(
        get_target("ring8"),
        GANConfig(objective="wgan_gp", d_steps=5, width=64, d_width=64, batch_size=128, gp_weight=0.1,
                  snapshot_every=150, n_show=500, grid_resolution=10, n_arrows=10, manifold_lines=3),
        seed=0, n_data=2000, device="cpu")
    start = trainer.snapshots[0]["quality"]
    trainer.step(150)
    end = trainer.history[-1]
    assert end["modes_covered"] >= 6
    assert end["sliced_w2"] < start["sliced_w2"] and end["recall"] > start["recall"]
    assert not math.isnan(end["d_loss"])


# --- the figure builders -----------------------------------------------------------------

def test_plane_figure_draws_each_layer_and_scales_arrows(device):
    from playground.figures.gan import ARROW_FRACTION, gan_plane, loss_curves, quality_curves

    trainer = _ring_trainer(device)
    trainer.step(2)
    frame = trainer.snapshot()
    fig = gan_plane(frame, trainer.bounds)
    names = [trace.name for trace in fig.data]
    assert names[0] == "D(x)" and "G(latent grid)" in names and "real data" in names and "generated" in names
    arrows = fig.data[-1]
    tips = np.stack([arrows.x[1::3], arrows.y[1::3]], axis=1)
    lengths = np.linalg.norm(tips - frame["arrow_base"], axis=1)
    width = trainer.bounds[0][1] - trainer.bounds[0][0]
    assert lengths.max() == pytest.approx(ARROW_FRACTION * width, rel=1e-6)  # the 90th percentile, the longest drawn
    import plotly.graph_objects as go

    go.Figure(fig.to_plotly_json())  # built unvalidated for speed: it must pass Plotly's validation
    bare = gan_plane(frame, trainer.bounds, show_critic=False, show_arrows=False, show_manifold=False)
    assert [trace.name for trace in bare.data] == ["real data", "generated"]
    history = {name: trainer.metric(name) for name in ("iteration", "d_loss", "g_loss", "g_grad_norm")}
    assert len(loss_curves(history).data) == 3
    snapshots = trainer.snapshots
    quality = {name: np.array([s["quality"][name] for s in snapshots]) for name in snapshots[0]["quality"]}
    assert len(quality_curves(np.arange(len(trainer.snapshots)), quality, n_modes=8).data) == 5


# --- what a WGAN critic's score gap is ---------------------------------------------------

def test_wasserstein1_exact_matches_pot():
    import ot

    from playground.evaluation import wasserstein1_exact

    g = np.random.default_rng(0)
    a, b = g.normal(size=(200, 2)), g.normal(size=(200, 2)) * [1.5, 0.5] + [1.0, 0.0]
    reference = ot.emd2(np.full(200, 1 / 200), np.full(200, 1 / 200), ot.dist(a, b, metric="euclidean"))
    assert wasserstein1_exact(a, b) == pytest.approx(reference, rel=1e-9)


def test_lipschitz_bound_covers_silu_by_autograd():
    """The bound is >= the largest input gradient norm found, for every activation (SiLU's slope reaches 1.0998)."""
    for activation in ("relu", "tanh", "elu", "leaky_relu", "silu"):
        net = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), ACTIVATIONS[activation](),
                                  torch.nn.Linear(1, 1, bias=False))
        with torch.no_grad():
            net[0].weight.fill_(1.0)
            net[2].weight.fill_(1.0)
        x = torch.linspace(-6, 6, 20001, requires_grad=True)
        net(x[:, None]).sum().backward()
        assert x.grad.abs().max().item() <= lipschitz_bound(net) + 1e-6
        assert lipschitz_bound(net) <= x.grad.abs().max().item() + 1e-3  # and tight here


@pytest.mark.parametrize("objective", ["wgan_clip", "wgan_gp"])
def test_critic_gap_never_exceeds_k_times_w1(objective, device):
    """Kantorovich-Rubinstein: mean f(real) - mean f(fake) <= Lip(f) W1, on the very sets the page scores."""
    trainer = _ring_trainer(device, objective=objective)
    for _ in range(3):
        trainer.step(20)
        check = trainer.critic_check(trainer.real_show[:200], trainer.generate(200, seed=1))
        assert check["critic_gap"] <= check["critic_lipschitz"] * check["w1_standardised"] + 1e-9
        assert check["w1_standardised"] > 0


# --- every GAN preset does what its text promises (at its seed) --------------------------------

def _preset_trainer(name: str) -> GANTrainer:
    from playground.ui.gan import PRESETS

    preset, settings = PRESETS[name], PRESETS[name].settings
    config = GANConfig(objective=settings["obj"], d_steps=settings["m"], lr_g=settings["lrg"], lr_d=settings["lrd"],
                       optimizer=settings["opt"], **({"clip": settings["clip"]} if "clip" in settings else {}),
                       **({"gp_weight": settings["gp"]} if "gp" in settings else {}))
    return trainer_for_target(get_target(settings["data"]), config, seed=preset.seed, device="cpu")


def _quality_by_iteration(trainer: GANTrainer) -> dict[int, dict]:
    return {snapshot["iteration"]: snapshot["quality"] for snapshot in trainer.snapshots}


def test_mode_collapse_preset_stays_on_few_modes_for_800_iterations():
    trainer = _preset_trainer("collapse")
    trainer.step(800)
    quality = _quality_by_iteration(trainer)
    for iteration in range(100, 801, 100):
        assert 1 <= quality[iteration]["modes_covered"] <= 3 and quality[iteration]["recall"] < 0.35, iteration


def test_wgan_gp_preset_covers_all_modes_by_iteration_100_and_stays():
    trainer = _preset_trainer("wgan_gp")
    trainer.step(600)
    quality = _quality_by_iteration(trainer)
    assert all(quality[iteration]["modes_covered"] == 8 for iteration in range(100, 601, 100))


def test_vanishing_gradient_preset_and_the_switch_to_non_saturating_with_the_same_networks():
    trainer = _preset_trainer("vanishing")
    trainer.step(300)
    norms = trainer.metric("g_grad_norm")
    assert norms[0] > 0.1 and np.all(norms[50:300] < 1e-4)
    discriminator = trainer.discriminator
    trainer.switch_objective("nonsaturating")
    assert trainer.discriminator is discriminator and trainer.iteration == 300
    trainer.step(20)
    assert np.all(trainer.metric("g_grad_norm")[300:] > 1.0)


def test_oscillation_preset_swings_the_cloud_and_wgan_gp_does_not():
    def centroid_moves(name):
        trainer = _preset_trainer(name)
        centroids = []
        for _ in range(16):
            trainer.step(25)
            centroids.append(trainer.generate(300, seed=0).mean(axis=0))
        return np.linalg.norm(np.diff(centroids, axis=0), axis=1)

    swings = centroid_moves("oscillation")  # the ring has radius 2: a move of 1 is a swing across it
    assert (swings > 1.0).mean() > 0.75
    assert centroid_moves("wgan_gp").max() < 0.5


def test_plane_clips_long_arrows_and_counts_points_outside_the_view():
    from playground.figures.gan import clip_arrows, gan_plane

    vectors = np.array([[1.0, 0.0]] * 18 + [[0.0, 50.0], [-40.0, 0.0]])
    clipped = clip_arrows(vectors)
    lengths = np.linalg.norm(clipped, axis=1)
    assert lengths.max() <= np.percentile(np.linalg.norm(vectors, axis=1), 90) + 1e-12
    np.testing.assert_allclose(clipped[-1] / lengths[-1], [-1.0, 0.0])  # directions kept
    frame = {"critic": np.zeros((3, 3)), "grid_x": np.arange(3.0), "grid_y": np.arange(3.0), "real": np.zeros((4, 2)),
             "fake": np.array([[0.0, 0.0], [9.0, 0.0], [0.0, -9.0]]), "arrow_base": np.zeros((3, 2)),
             "arrow_vector": np.ones((3, 2)), "manifold": None}
    fig = gan_plane(frame, ((-3, 3), (-3, 3)))
    assert fig.layout.annotations[0].text == "2 of 3 generated points are outside this view"
    assert not gan_plane({**frame, "fake": np.zeros((3, 2))}, ((-3, 3), (-3, 3))).layout.annotations
