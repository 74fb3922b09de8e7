"""f-GAN objectives and discriminator rejection sampling, against independent references:
the convex conjugate by a numerical supremum, the variational bound at the optimal T by SciPy
quadrature, and a Kolmogorov–Smirnov test of rejection-sampled points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from playground import gan

NAMES = list(gan.F_DIVERGENCES)


def _f_numpy(name: str, u: np.ndarray) -> np.ndarray:
    """Each generator f written out independently of playground.gan."""
    return {
        "kl": lambda u: u * np.log(u),
        "reverse_kl": lambda u: -np.log(u),
        "js": lambda u: u * np.log(u) - (u + 1) * np.log((u + 1) / 2),
        "pearson": lambda u: (u - 1) ** 2,
        "hellinger": lambda u: (np.sqrt(u) - 1) ** 2,
        "tv": lambda u: 0.5 * np.abs(u - 1),
    }[name](u)


@pytest.mark.parametrize("name", NAMES)
def test_the_conjugate_is_the_supremum_over_u(name):
    """f*(t) = sup_u (u t - f(u)), by brute force on a fine grid of u > 0, at t values the output
    activation g_f can produce."""
    _, activation, conjugate, _ = gan.F_DIVERGENCES[name]
    u = np.concatenate([np.geomspace(1e-6, 1, 20_000), np.linspace(1, 400, 400_000)])
    for v in (-2.0, -0.5, 0.0, 0.4, 1.5):
        t = float(activation(torch.tensor(v, dtype=torch.float64)))
        expected = np.max(u * t - _f_numpy(name, u))
        assert float(conjugate(torch.tensor(t, dtype=torch.float64))) == pytest.approx(expected, abs=2e-3), (name, v)


@pytest.mark.parametrize("name", NAMES)
def test_the_bound_is_tight_at_the_optimal_critic(name):
    """At T* = f'(p/q) the bound E_P[T] - E_Q[f*(T)] equals D_f(P||Q) = int q f(p/q) (SciPy quad),
    for P = N(0, 1), Q = N(0.7, 1.3^2); any other T gives less."""
    _, _, conjugate, derivative = gan.F_DIVERGENCES[name]
    p, q = stats.norm(0, 1), stats.norm(0.7, 1.3)

    def t_star(x):
        return float(derivative(torch.tensor(p.pdf(x) / q.pdf(x), dtype=torch.float64)))

    def conj(t):
        return float(conjugate(torch.tensor(t, dtype=torch.float64)))

    divergence = integrate.quad(lambda x: q.pdf(x) * _f_numpy(name, p.pdf(x) / q.pdf(x)), -12, 12, limit=400)[0]
    bound = (integrate.quad(lambda x: p.pdf(x) * t_star(x), -12, 12, limit=400, points=[0.0])[0]
             - integrate.quad(lambda x: q.pdf(x) * conj(t_star(x)), -12, 12, limit=400, points=[0.0])[0])
    assert bound == pytest.approx(divergence, rel=1e-4, abs=1e-6)
    worse = (integrate.quad(lambda x: p.pdf(x) * 0.8 * t_star(x), -12, 12, limit=400)[0]
             - integrate.quad(lambda x: q.pdf(x) * conj(0.8 * t_star(x)), -12, 12, limit=400)[0])
    assert worse < bound


@pytest.mark.parametrize("name", NAMES)
def test_the_discriminator_loss_is_the_negative_bound(name):
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(500, generator=g), torch.randn(500, generator=g) * 0.5 + 0.2
    _, activation, conjugate, _ = gan.F_DIVERGENCES[name]
    expected = -(activation(real).mean() - conjugate(activation(fake)).mean())
    assert float(gan.discriminator_loss(real, fake, f"f_{name}")) == pytest.approx(float(expected), rel=1e-6)


def test_the_js_f_gan_is_the_non_saturating_gan_shifted():
    """With f = JS the bound is 2 JSD: the discriminator loss is the log-loss minus log 4, the generator
    step the non-saturating one."""
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, generator=g), torch.randn(300, generator=g)
    assert float(gan.discriminator_loss(real, fake, "f_js")) == pytest.approx(
        float(gan.discriminator_loss(real, fake, "nonsaturating")) - math.log(4), rel=1e-6)
    assert float(gan.generator_loss(fake, "f_js")) == pytest.approx(
        float(gan.generator_loss(fake, "nonsaturating")) - math.log(2), rel=1e-6)


def test_the_grid_divergence_matches_the_closed_form_kl():
    xs = np.linspace(-10, 10, 4001)
    cell = xs[1] - xs[0]
    p, q = stats.norm(0, 1).pdf(xs), stats.norm(1, 2).pdf(xs)
    closed = math.log(2 / 1) + (1 + 1) / (2 * 4) - 0.5  # KL(N(0,1) || N(1, 4))
    assert gan.f_divergence_on_grid("kl", p, q, cell) == pytest.approx(closed, rel=1e-6)


def test_rejection_with_the_exact_ratio_turns_q_into_p():
    """DRS with gamma = 0 and s = log p/q is rejection sampling: the accepted points follow P (KS test),
    and the acceptance rate is 1/M, M = max p/q."""
    p, q = stats.norm(0, 1), stats.norm(0, 1.5)
    x = q.rvs(size=40_000, random_state=np.random.default_rng(0))
    logits = torch.as_tensor(p.logpdf(x) - q.logpdf(x))
    max_logit = float(np.log(1.5))  # p/q is largest at 0: 1.5
    accept = gan.drs_acceptance(logits, max_logit, gamma=0.0)
    keep = np.random.default_rng(1).random(len(x)) < accept.numpy()
    assert stats.kstest(x[keep], p.cdf).pvalue > 0.01
    assert stats.kstest(x, p.cdf).pvalue < 1e-6  # the candidates themselves do not
    assert keep.mean() == pytest.approx(1 / 1.5, abs=0.01)
    sharper = gan.drs_acceptance(logits, max_logit, gamma=2.0)
    assert float(sharper.mean()) < float(accept.mean())


def test_rejection_sampling_after_training_keeps_precision_up():
    trainer = gan.trainer_for_target(__import__("playground.targets", fromlist=["get_target"]).get_target("ring8"),
                                     gan.GANConfig(width=64, d_width=64), seed=0, device="cpu")
    trainer.step(400)
    result = trainer.rejection_sample(3000, gamma=0.0, seed=0)
    assert 0.05 < result["rate"] < 0.95
    before = trainer.quality(result["points"])
    after = trainer.quality(result["points"][result["accepted"]])
    assert after["precision"] > before["precision"]
    with pytest.raises(ValueError, match="sigmoid"):
        gan.trainer_for_target(__import__("playground.targets", fromlist=["get_target"]).get_target("ring8"),
                               gan.GANConfig(objective="wgan_gp"), seed=0, device="cpu").rejection_sample(10)


def test_smoothed_divergence_is_zero_for_identical_clouds_and_positive_otherwise():
    from playground.targets import get_target
    trainer = gan.trainer_for_target(get_target("ring8"), gan.GANConfig(objective="f_js", width=16, d_width=16),
                                     seed=0, device="cpu")
    assert trainer.smoothed_f_divergence(trainer.real_show) == pytest.approx(0.0, abs=1e-9)
    assert trainer.smoothed_f_divergence(trainer.real_show * 0.5) > 0.1


def test_forward_kl_preset_covers_the_ring_as_it_promises():
    from playground.targets import get_target
    from playground.ui.gan import PRESETS

    settings = PRESETS["f_kl"].settings
    config = gan.GANConfig(objective=settings["obj"], d_steps=settings["m"], lr_g=settings["lrg"],
                           lr_d=settings["lrd"])
    trainer = gan.trainer_for_target(get_target(settings["data"]), config, seed=PRESETS["f_kl"].seed, device="cpu")
    trainer.step(1000)
    shown = trainer.snapshots[-1]  # what the page's quality line and curves show at iteration 1,000
    assert shown["iteration"] == 1000
    assert shown["quality"]["modes_covered"] == 8 and shown["quality"]["recall"] > 0.9


def test_the_log_loss_pages_show_js_of_the_smoothed_clouds_as_scipy_computes_it():
    """For the minimax / non-saturating objectives the page shows JS of the smoothed clouds: half the
    f-divergence with f = js, equal to SciPy's Jensen-Shannon distance squared on the same grid cells;
    and D's bound (log 4 - D loss)/2 never exceeds log 2."""
    from scipy.spatial.distance import jensenshannon

    from playground.density import kde_log_density_grid
    from playground.targets import get_target

    trainer = gan.trainer_for_target(get_target("ring8"), gan.GANConfig(width=16, d_width=16), seed=0, device="cpu")
    trainer.step(30)
    fake = trainer.generate(300, seed=2)
    shown = trainer.quality(fake)["js_smoothed"]
    axes = [np.linspace(lo, hi, 64) for lo, hi in trainer.bounds]
    h = gan.SMOOTHING * trainer.scale
    p = np.exp(kde_log_density_grid(axes, trainer.real_show, h)).ravel()
    q = np.exp(kde_log_density_grid(axes, fake[: trainer.config.n_eval], h)).ravel()  # quality scores n_eval points
    assert shown == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-6)
    assert trainer.smoothed_f_divergence(trainer.real_show, name="js") == pytest.approx(0.0, abs=1e-9)
    d_loss = trainer.metric("d_loss")
    assert np.all((np.log(4) - d_loss) / 2 <= np.log(2) + 1e-9)
