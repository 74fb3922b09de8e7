"""Diffusion and flow matching (playground.diffusion), each against an independent reference:
autograd, diffusers' schedulers, torchdiffeq, SciPy's normal CDF, seeded two-sample statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from playground import diffusion as D
from playground.metrics import mmd, mode_coverage
from playground.targets import get_target

RING = get_target("ring8")
MOG = get_target("mog2d")
CPU = torch.device("cpu")


@pytest.mark.parametrize("schedule", list(D.SCHEDULES))
@pytest.mark.parametrize("t", [0.05, 0.4, 0.9])
def test_exact_score_is_the_gradient_of_the_noised_log_density(schedule, t):
    mixture = D.noised_mixture(MOG.mixture, D.SCHEDULES[schedule], t, CPU)
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    x.requires_grad_(True)
    grad, = torch.autograd.grad(mixture.log_prob(x).sum(), x)
    assert torch.allclose(mixture.score(x.detach()), grad, rtol=1e-9, atol=1e-9)


def test_noised_mixture_log_prob_matches_scipy():
    schedule, t = D.DDPM_LINEAR, 0.3
    mixture = D.noised_mixture(MOG.mixture, schedule, t, CPU)
    tt = torch.tensor(t, dtype=torch.float64)
    s, sig = float(schedule.scale(tt)), float(schedule.sigma(tt))
    x = np.random.default_rng(0).normal(size=(20, 2))
    expected = np.log(sum(w * stats.multivariate_normal(s * m, s**2 * c + sig**2 * np.eye(2)).pdf(x)
                          for w, m, c in zip(MOG.mixture.weights, MOG.mixture.means, MOG.mixture.covariances)))
    assert np.allclose(mixture.log_prob(torch.as_tensor(x)).numpy(), expected, rtol=1e-10)


def test_discrete_schedules_equal_diffusers():
    diffusers = pytest.importorskip("diffusers")
    linear = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    cosine = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    assert np.allclose(D.DDPM_LINEAR.alphas_cumprod(1000), linear.alphas_cumprod.numpy(), rtol=1e-5)
    assert np.allclose(D.COSINE.alphas_cumprod(1000), cosine.alphas_cumprod.numpy(), rtol=1e-5, atol=1e-7)
    # the continuous schedules are the limits of the discrete ones: alpha_bar_i ~ alpha_bar(i / N)
    grid = torch.arange(1, 1001, dtype=torch.float64) / 1000
    assert np.allclose(D.DDPM_LINEAR.alpha_bar(grid).numpy(), linear.alphas_cumprod.numpy(), atol=2e-3)
    assert np.allclose(D.COSINE.alpha_bar(grid[:-1]).numpy(), cosine.alphas_cumprod.numpy()[:-1], atol=2e-3)


class _Discrete(D.Schedule):
    """A schedule through DDPM's discrete alpha_bar: t = (i + 1) / N is the i-th train timestep."""

    def __init__(self, alphas_cumprod: np.ndarray):
        super().__init__("discrete", "discrete")
        object.__setattr__(self, "abar", torch.as_tensor(alphas_cumprod, dtype=torch.float64))

    def _at(self, t):
        return self.abar[torch.round(t.to(torch.float64) * len(self.abar)).long() - 1]

    def scale(self, t):
        return torch.sqrt(self._at(t))

    def sigma(self, t):
        return torch.sqrt(1 - self._at(t))


@pytest.mark.parametrize("eta", [0.0, 0.7, 1.0])
def test_one_ddim_step_equals_diffusers(eta):
    diffusers = pytest.importorskip("diffusers")
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    scheduler.set_timesteps(50)
    schedule = _Discrete(scheduler.alphas_cumprod.numpy())
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    timestep = 500  # diffusers' previous timestep is 500 - 1000 // 50 = 480
    noise = torch.randn(64, 2, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    expected = scheduler.step(eps, timestep, x, eta=eta, variance_noise=noise).prev_sample
    ours = D.ddim_step(lambda *_: eps, schedule, x, torch.tensor(501 / 1000), torch.tensor(481 / 1000), eta,
                       torch.Generator().manual_seed(9))
    assert torch.allclose(ours, expected.to(ours.dtype), rtol=1e-5, atol=1e-6)  # diffusers keeps float32 alpha_bar


def test_derived_sde_coefficients_match_the_closed_forms():
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    f, g2 = D.DDPM_LINEAR.sde(t)
    beta = 0.1 + t * 19.9
    assert torch.allclose(f, -beta / 2) and torch.allclose(g2, beta)
    f, g2 = D.VE.sde(t)
    sigma = D.VE.sigma(t)
    assert torch.allclose(f, torch.zeros_like(t)) and torch.allclose(g2, 2 * sigma**2 * math.log(1000.0))


@pytest.mark.parametrize("schedule", ["linear", "ve", "straight"])
def test_forward_noised_samples_follow_the_exact_noised_density(schedule):
    """KS test of projections of s x0 + sigma eps against the CDF of the exact noised mixture."""
    sch, t = D.SCHEDULES[schedule], 0.35
    x0 = torch.as_tensor(MOG.sample(4000, 5))
    xt = D.forward_noise(x0, sch, t, seed=6).numpy()
    mixture = D.noised_mixture(MOG.mixture, sch, t, CPU)
    weights = mixture.weights.numpy()
    for angle in (0.3, 1.4, 2.5):
        theta = np.array([math.cos(angle), math.sin(angle)])
        means = mixture.means.numpy() @ theta
        stds = np.sqrt(np.einsum("i,kij,j->k", theta, mixture.covariances.numpy(), theta))

        def cdf(v, means=means, stds=stds):
            return (weights[None] * stats.norm.cdf((np.asarray(v)[:, None] - means) / stds)).sum(1)

        assert stats.kstest(xt @ theta, cdf).pvalue > 0.01


def _mmd_to_target(points, seed=11):
    return mmd(points, RING.sample(2000, seed), bandwidth=0.3)


@pytest.mark.parametrize("method, steps", [("heun", 60), ("ddpm", 400), ("ddim", 100), ("euler_maruyama", 500)])
def test_exact_score_samplers_reproduce_the_target(method, steps):
    schedule = D.DDPM_LINEAR
    exact = D.ExactNoisePredictor(RING.mixture, schedule, CPU)
    x_init = D.initial_noise(2000, schedule, seed=1, device=CPU).double()
    final, _ = D.sample(exact, schedule, x_init, steps, method, seed=2)
    null = _mmd_to_target(RING.sample(2000, 12))  # two honest samples of the target
    assert _mmd_to_target(final) < max(4 * abs(null), 1e-3)


def test_too_few_sde_steps_fail_the_same_check():
    """The check above can fail: 5 Euler-Maruyama steps leave the modes blurred."""
    schedule = D.DDPM_LINEAR
    exact = D.ExactNoisePredictor(RING.mixture, schedule, CPU)
    final, _ = D.sample(exact, schedule, D.initial_noise(2000, schedule, 1, CPU).double(), 5, "euler_maruyama")
    assert _mmd_to_target(final) > 5e-3


def test_paths_have_one_point_set_per_time():
    schedule = D.VE
    exact = D.ExactNoisePredictor(RING.mixture, schedule, CPU)
    final, path = D.sample(exact, schedule, D.initial_noise(30, schedule, 1, CPU).double(), 8, "heun", keep_path=True)
    assert len(path) == 9 and torch.equal(path[-1], final)
    assert path[0].abs().max() > 3 * final.abs().max()  # it started wide (sigma_max = 10) and contracted


def test_ode_log_likelihood_recovers_the_exact_density_and_torchdiffeq():
    torchdiffeq = pytest.importorskip("torchdiffeq")
    schedule = D.DDPM_LINEAR
    exact = D.ExactNoisePredictor(MOG.mixture, schedule, CPU)
    x = torch.as_tensor(MOG.sample(40, 3))
    ours = D.ode_log_likelihood(exact, schedule, x, n_steps=400)
    truth = D.noised_mixture(MOG.mixture, schedule, schedule.t_min, CPU).log_prob(x)
    assert torch.allclose(ours, truth, atol=0.02)

    def augmented(t, state):
        y = state[:, :2]
        drift, div = D.divergence_2d(lambda z: D.ode_drift(exact, schedule, z, t), y)
        return torch.cat([drift, div[:, None]], dim=1)

    times = torch.tensor([schedule.t_min, schedule.t_max], dtype=torch.float64)
    end = torchdiffeq.odeint(augmented, torch.cat([x, torch.zeros(40, 1, dtype=torch.float64)], 1), times,
                             method="dopri5", rtol=1e-7, atol=1e-9)[-1]
    std = schedule.prior_std()
    reference = (-0.5 * (end[:, :2] ** 2).sum(1) / std**2 - 2 * math.log(std) - math.log(2 * math.pi) + end[:, 2])
    assert torch.allclose(ours, reference, atol=0.02)


def test_flow_matching_learns_the_ring_in_a_few_thousand_steps():
    trainer = D.DiffusionTrainer(RING, D.DiffusionConfig(schedule="straight", objective="velocity", seed=0), CPU)
    trainer.step(2000)
    assert not trainer.stopped
    eps_fn = trainer.model.noise_predictor()
    final, _ = D.sample(eps_fn, trainer.schedule, D.initial_noise(2000, trainer.schedule, 1, CPU), 50, "heun")
    coverage = mode_coverage(final, RING.mixture.means, radius=0.36)
    assert coverage.covered == 8 and coverage.high_quality > 0.8
    quality = D.sample_quality(final, RING.sample(2000, 4))
    assert quality["precision"] > 0.8 and quality["recall"] > 0.9


def test_classifier_free_guidance_concentrates_on_the_chosen_mode_and_overshoots_when_too_strong():
    config = D.DiffusionConfig(schedule="linear", conditional=True, seed=1)
    trainer = D.DiffusionTrainer(RING, config, CPU)
    trainer.step(1500)
    x_init = D.initial_noise(1000, trainer.schedule, 2, CPU)
    reference = RING.sample(2000, 4)
    on_mode, recall, radius = {}, {}, {}
    for w in (0.0, 1.0, 8.0):
        final, _ = D.sample(trainer.model.noise_predictor(label=3, guidance=w), trainer.schedule, x_init, 50, "ddim")
        distance = torch.linalg.norm(final.double() - torch.as_tensor(RING.mixture.means[3]), dim=1)
        on_mode[w] = float((distance < 0.36).double().mean())
        recall[w] = D.sample_quality(final, reference)["recall"]
        radius[w] = float(torch.linalg.norm(final.double(), dim=1).mean())
    assert on_mode[0.0] < 0.3  # w = 0 is the unconditional model: the points spread over all modes
    assert on_mode[1.0] > 0.6  # w = 1: the conditional model, on mode 3
    assert recall[1.0] < 0.3 < recall[0.0]  # one mode of eight: coverage of the whole target falls
    assert radius[8.0] > 3.0 > radius[1.0]  # "guidance too strong": pushed past the ring (radius 2)


def test_guard_stops_an_exploding_run_and_keeps_finite_weights():
    trainer = D.DiffusionTrainer(RING, D.DiffusionConfig(lr=1e9, n_data=512, hidden=16), CPU)
    trainer.step(200)
    assert trainer.stopped and "NaN or infinite" in trainer.message
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())


def test_same_seed_same_training_and_samples():
    runs = []
    for _ in range(2):
        trainer = D.DiffusionTrainer(RING, D.DiffusionConfig(n_data=512, hidden=32, seed=4), CPU)
        trainer.step(20)
        x = D.initial_noise(100, trainer.schedule, 5, CPU)
        runs.append(D.sample(trainer.model.noise_predictor(), trainer.schedule, x, 10, "ddpm", seed=6)[0])
    assert torch.equal(runs[0], runs[1])


def test_bad_requests_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="mixture target"):
        D.DiffusionTrainer(get_target("moons"), D.DiffusionConfig(conditional=True), CPU)
    with pytest.raises(ValueError, match="unknown sampler"):
        D.sample(lambda x, t: x, D.VE, torch.zeros(2, 2), 3, "rk45")


def test_where_the_network_is_wrong_preset_small_t_on_the_modes():
    """The promise of the page's preset "Where the network is wrong" (300 steps, t = 0.05): the learned
    score points the right way far from the data and the wrong way on the modes; the gap grows as t falls."""
    trainer = D.DiffusionTrainer(RING, D.DiffusionConfig(seed=0), CPU)
    trainer.step(300)
    schedule = trainer.schedule
    exact = D.ExactNoisePredictor(RING.mixture, schedule, CPU)
    grid, learned = D.score_field(trainer.model.noise_predictor(), schedule, 0.05, RING.bounds, 25, CPU)
    _, truth = D.score_field(exact, schedule, 0.05, RING.bounds, 25, CPU)
    density = np.exp(D.noised_mixture(RING.mixture, schedule, 0.05, CPU).log_prob(torch.as_tensor(grid)).numpy())
    cosine = (learned * truth).sum(1) / np.linalg.norm(learned, axis=1) / np.linalg.norm(truth, axis=1)
    assert np.median(cosine[density < 1e-3]) > 0.85  # far from the data: both point back to the ring
    assert np.median(cosine[density > 0.05]) < 0.5  # on the modes: not yet
    gap = D.score_gap(trainer.model.noise_predictor(), RING.mixture, schedule, [0.05, 0.6], seed=0)
    assert gap[0] > 5 * gap[1]


@pytest.mark.parametrize("n_classes", [0, 3])
def test_blockwise_first_layer_equals_the_network_on_concatenated_inputs(n_classes):
    """Denoiser.forward applies its first layer block by block; the reference concatenates the inputs."""
    model = D.Denoiser(D.DDPM_LINEAR, n_classes=n_classes, seed=3, device=torch.device("cpu"), sigma_data=1.3)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 2, generator=g)
    labels = torch.randint(0, n_classes + 1, (50,), generator=g) if n_classes else None
    for t in (torch.tensor([0.3]), torch.rand(50, generator=g) * 0.9 + 0.05):
        tt = t.expand(50)
        s, sig = D.DDPM_LINEAR.scale(tt), D.DDPM_LINEAR.sigma(tt)
        level = torch.log(sig / s).clamp(-12.0, 12.0)[:, None] / 4
        parts = [x / torch.sqrt(s**2 * 1.3**2 + sig**2)[:, None], torch.sin(level * model.frequencies),
                 torch.cos(level * model.frequencies)]
        if n_classes:
            parts.append(torch.nn.functional.one_hot(labels, n_classes + 1).float())
        with torch.no_grad():
            torch.testing.assert_close(model(x, t, labels), model.net(torch.cat(parts, dim=1)), rtol=1e-5, atol=1e-5)
