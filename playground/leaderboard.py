"""One leaderboard for every model family on the same 2D data.

Each family is trained with its page's defaults for a fixed number of steps on the *same*
training set, draws the same number of samples, and is scored by the same metrics against the
same held-out real set::

    from playground.leaderboard import leaderboard
    board = leaderboard(get_target("ring8"), budget="quick", seed=0)
    board.table          # one row per family (pandas DataFrame)
    board.samples["gan"] # (n, 2) generated points

Budgets are counted in training steps (not seconds) so that a board is reproducible on any
machine; the wall time each family took is reported beside its scores.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from playground import metrics as M
from playground.data import from_array
from playground.device import default_device, to_numpy
from playground.evaluation import precision_recall_density_coverage, wasserstein2_exact
from playground.seeding import derive_seed
from playground.targets import Target

FAMILIES: dict[str, str] = {
    "truth": "fresh data (the ideal model)",
    "histogram": "histogram",
    "kde": "kernel density (KDE)",
    "gmm": "Gaussian mixture (EM)",
    "flow": "normalizing flow (Real-NVP)",
    "vae": "VAE",
    "gan": "GAN",
    "diffusion": "diffusion (DDPM)",
    "energy": "energy-based (CD)",
    "autoregressive": "autoregressive (grid)",
}
SHORT: dict[str, str] = {"truth": "fresh data", "histogram": "histogram", "kde": "KDE", "gmm": "GMM", "flow": "flow",
                         "vae": "VAE", "gan": "GAN", "diffusion": "diffusion", "energy": "EBM",
                         "autoregressive": "autoregressive"}
TRAINED = ("flow", "vae", "gan", "diffusion", "energy", "autoregressive")

# Training steps per family: "quick" is a classroom demo, "standard" what each page reaches
# after a minute of Play. (A VAE step is one epoch over the training set.)
BUDGETS: dict[str, dict[str, int]] = {
    "tiny": {"flow": 20, "vae": 2, "gan": 40, "diffusion": 40, "energy": 10, "autoregressive": 20},
    "quick": {"flow": 300, "vae": 40, "gan": 1000, "diffusion": 1500, "energy": 200, "autoregressive": 200},
    "standard": {"flow": 1000, "vae": 150, "gan": 4000, "diffusion": 5000, "energy": 600, "autoregressive": 600},
}

COLUMNS = ("precision", "recall", "density", "coverage", "sliced W₂", "exact W₂", "MMD²",
           "held-out log-lik", "zero-density points", "steps", "train s", "sample s")


@dataclass
class Fitted:
    """A trained family: its samples, its held-out log-likelihood (None without a density), timings."""

    family: str
    samples: np.ndarray
    log_likelihood: np.ndarray | None  # per held-out point, nats
    steps: int = 0
    train_seconds: float = 0.0
    sample_seconds: float = 0.0
    note: str = ""


@dataclass
class Leaderboard:
    table: pd.DataFrame
    samples: dict[str, np.ndarray]
    real: np.ndarray
    training: np.ndarray


def _training_target(target: Target, training: np.ndarray) -> Target:
    """The target with its sampler replaced by the training rows (bounds and closed forms kept),
    for the trainers that draw their own data set from a target."""
    rows = from_array(training)
    return dataclasses.replace(target, sampler=rows.sampler)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def fit_family(family: str, target: Target, training: np.ndarray, test: np.ndarray, steps: int, n: int,
               seed: int, device: torch.device | None = None) -> Fitted:
    """Train ``family`` on ``training`` for ``steps`` steps, draw ``n`` samples, score ``test``."""
    device = device or default_device()
    sample_seed = derive_seed(seed, f"board-sample-{family}")
    if family == "truth":
        samples, seconds = _timed(lambda: target.sample(n, sample_seed))
        log_lik = target.log_prob(test) if target.has_log_prob else None
        return Fitted(family, samples, log_lik, 0, 0.0, seconds, "exact samples of the target")
    if family in ("histogram", "kde", "gmm"):
        from playground import density, mixture
        if family == "histogram":
            model = density.Histogram(bins="sturges")
            note = "Sturges' bins per axis"
            _, fit_s = _timed(lambda: model.fit(training))
        elif family == "kde":
            model = density.KernelDensity(bandwidth="scott", device=device)
            note = "Scott's bandwidth"
            _, fit_s = _timed(lambda: model.fit(training))
        else:
            def choose() -> Any:  # K by BIC over 1 … 12
                best, best_bic = None, math.inf
                for k in range(1, 13):
                    fitted = mixture.GaussianMixture(k, random_state=seed, device=device).fit(training)
                    n_params = k * 5 + (k - 1)
                    bic = -2 * fitted.score(training) * len(training) + n_params * math.log(len(training))
                    if bic < best_bic:
                        best, best_bic = fitted, bic
                return best
            model, fit_s = _timed(choose)
            note = f"K = {model.n_components} chosen by BIC"
        samples, sample_s = _timed(lambda: model.sample(n, sample_seed))
        return Fitted(family, np.asarray(samples, dtype=np.float64), model.score_samples(test), 0, fit_s, sample_s,
                      note)
    trainer_target = _training_target(target, training)
    if family == "flow":
        from playground import flows
        trainer = flows.make_trainer("realnvp", training, num_layers=6, hidden=32, learning_rate=1e-2, seed=seed,
                                     device=device)
        _, train_s = _timed(lambda: trainer.step(steps))
        samples, sample_s = _timed(lambda: to_numpy(trainer.flow.sample(n, sample_seed)).astype(np.float64))
        with torch.no_grad():
            log_lik = to_numpy(trainer.flow.log_prob(torch.as_tensor(test, dtype=trainer.flow.dtype,
                                                                      device=trainer.flow.device)))
        return Fitted(family, samples, log_lik.astype(np.float64), steps, train_s, sample_s,
                      "6 affine coupling layers")
    if family == "vae":
        from playground import autoencoders as A
        shift, scale = training.mean(axis=0), training.std(axis=0)
        config = A.AutoencoderConfig(kind="vae", latent_dim=2, hidden=(64, 64), likelihood="gaussian",
                                     noise_std=0.1, batch_size=128, seed=seed)
        trainer = A.AutoencoderTrainer((training - shift) / scale, config=config, device=device)
        _, train_s = _timed(lambda: trainer.step(steps))

        def draw() -> np.ndarray:
            g = np.random.default_rng(sample_seed)
            means = trainer.sample_prior(n, g)  # decoded E[x | z], z ~ N(0, I)
            return (means + config.noise_std * g.standard_normal(means.shape)) * scale + shift
        samples, sample_s = _timed(draw)
        generator = torch.Generator(device=trainer.device).manual_seed(derive_seed(seed, "board-vae-iw"))
        x = torch.as_tensor((test - shift) / scale, dtype=torch.float32, device=trainer.device)
        log_lik = to_numpy(A.importance_sampled_log_likelihood(trainer.model, x, n_importance=200,
                                                               generator=generator)).astype(np.float64)
        log_lik = log_lik - float(np.log(scale).sum())  # back to data units
        return Fitted(family, samples.astype(np.float64), log_lik, steps, train_s, sample_s,
                      "decoder mean + N(0, 0.1²) per standardised coordinate; log p by importance sampling (200)")
    if family == "gan":
        from playground import gan
        trainer = gan.GANTrainer(training, gan.GANConfig(), seed=seed, bounds=tuple(target.bounds), device=device)
        _, train_s = _timed(lambda: trainer.step(steps))
        samples, sample_s = _timed(lambda: trainer.generate(n, sample_seed))
        return Fitted(family, samples, None, steps, train_s, sample_s, "no density: no likelihood")
    if family == "diffusion":
        from playground import diffusion as D
        config = D.DiffusionConfig(seed=seed, n_data=len(training))
        trainer = D.DiffusionTrainer(trainer_target, config, device)
        _, train_s = _timed(lambda: trainer.step(steps))
        eps_fn = trainer.model.noise_predictor()
        x_init = D.initial_noise(n, trainer.schedule, sample_seed, device)
        samples, sample_s = _timed(lambda: to_numpy(D.sample(eps_fn, trainer.schedule, x_init, 100, "ddpm",
                                                             seed=sample_seed)[0]).astype(np.float64))
        x = torch.as_tensor(test, dtype=torch.float64, device=device)
        log_lik = to_numpy(D.ode_log_likelihood(eps_fn, trainer.schedule, x, n_steps=100)).astype(np.float64)
        return Fitted(family, samples, log_lik, steps, train_s, sample_s,
                      "100 DDPM steps; log p through the probability-flow ODE")
    if family == "energy":
        from playground import energy as E
        config = E.EnergyConfig(seed=seed, n_data=len(training))
        trainer = E.EnergyTrainer(trainer_target, config, device)
        _, train_s = _timed(lambda: trainer.step(steps))
        chain_steps = 5 * config.langevin_steps
        samples, sample_s = _timed(lambda: trainer.chains(n, chain_steps, sample_seed)[-1])
        x = torch.as_tensor(test, dtype=torch.float32, device=device)
        log_lik = to_numpy(E.grid_log_prob(trainer.model, x, target.bounds, 200, device)).astype(np.float64)
        inside = np.all([(test[:, d] >= lo) & (test[:, d] <= hi) for d, (lo, hi) in enumerate(target.bounds)], axis=0)
        log_lik[~inside] = -np.inf  # Z is taken over the box: outside it the model has no mass
        return Fitted(family, samples, log_lik, steps, train_s, sample_s,
                      f"{chain_steps} Langevin steps from uniform noise; Z on a 200² grid")
    if family == "autoregressive":
        from playground import autoregressive as R
        config = R.GridConfig(seed=seed, n_data=len(training))
        trainer = R.GridAutoregressive(trainer_target, config, device)
        _, train_s = _timed(lambda: trainer.step(steps))
        samples, sample_s = _timed(lambda: trainer.sample(n, sample_seed)["points"])
        bounds = trainer.bounds
        area = float(np.prod([(hi - lo) / config.bins for lo, hi in bounds]))
        log_lik = trainer.log_prob(R.discretize(test, bounds, config.bins)) - math.log(area)
        inside = np.all([(test[:, d] >= lo) & (test[:, d] < hi) for d, (lo, hi) in enumerate(bounds)], axis=0)
        log_lik = np.where(inside, log_lik, -np.inf)
        return Fitted(family, np.asarray(samples, dtype=np.float64), log_lik.astype(np.float64), steps, train_s,
                      sample_s, f"{config.bins}×{config.bins} cells, uniform inside a cell")
    raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def score(fitted: Fitted, real: np.ndarray, *, k: int = 5, seed: int = 0, w2_points: int = 1000) -> dict[str, Any]:
    """The same numbers for every family (``COLUMNS``)."""
    fake = fitted.samples
    finite = np.isfinite(fake).all(axis=1)
    row: dict[str, Any] = {"family": FAMILIES[fitted.family]}
    if finite.sum() < k + 1:
        row.update({name: math.nan for name in COLUMNS[:7]})
    else:
        fake = fake[finite]
        prdc = precision_recall_density_coverage(real, fake, k)
        row.update(precision=prdc.precision, recall=prdc.recall, density=prdc.density, coverage=prdc.coverage)
        row["sliced W₂"] = M.sliced_wasserstein(real, fake, 64, seed=seed)
        row["exact W₂"] = wasserstein2_exact(real[:w2_points], fake[:w2_points])
        row["MMD²"] = M.mmd(real, fake)
    if fitted.log_likelihood is None:
        row["held-out log-lik"], row["zero-density points"] = math.nan, math.nan
    else:
        log_lik = np.asarray(fitted.log_likelihood, dtype=np.float64)
        row["held-out log-lik"] = float(np.mean(log_lik))
        row["zero-density points"] = int(np.sum(~np.isfinite(log_lik)))
    row.update({"steps": fitted.steps, "train s": fitted.train_seconds, "sample s": fitted.sample_seconds})
    row["how"] = fitted.note
    return row


def split(target: Target, seed: int, n_train: int = 2000, n_test: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The training set every family sees and the held-out real set every family is scored on."""
    training = np.asarray(target.sample(n_train, derive_seed(seed, "board-train")), dtype=np.float64)
    test = np.asarray(target.sample(n_test, derive_seed(seed, "board-test")), dtype=np.float64)
    return training, test


def run_family(target: Target, family: str, budget: str | dict[str, int] = "quick", seed: int = 0, *,
               n_train: int = 2000, n_test: int = 1000, n_samples: int = 1000, k: int = 5,
               device: torch.device | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """One row of the board and the family's samples (the split depends only on the target and the seed)."""
    steps = BUDGETS[budget] if isinstance(budget, str) else dict(budget)
    training, test = split(target, seed, n_train, n_test)
    fitted = fit_family(family, target, training, test, int(steps.get(family, 0)), n_samples, seed, device)
    return score(fitted, test, k=k, seed=seed), fitted.samples


def leaderboard(target: Target, families: Sequence[str] = tuple(FAMILIES), budget: str | dict[str, int] = "quick",
                seed: int = 0, *, n_train: int = 2000, n_test: int = 1000, n_samples: int = 1000, k: int = 5,
                device: torch.device | None = None,
                progress: Callable[[int, str], None] | None = None) -> Leaderboard:
    """Train every family on one training set and score them all on one held-out set.

    ``budget``: a name in ``BUDGETS`` or a dict of training steps per trained family.
    ``progress(i, family)`` is called before each family is trained.
    """
    if target.dim != 2:
        raise ValueError("the leaderboard compares 2D models: pick a 2D target")
    training, test = split(target, seed, n_train, n_test)
    rows, samples = [], {}
    for i, family in enumerate(families):
        if progress is not None:
            progress(i, family)
        row, samples[family] = run_family(target, family, budget, seed, n_train=n_train, n_test=n_test,
                                          n_samples=n_samples, k=k, device=device)
        rows.append(row)
    return Leaderboard(board_table(rows), samples, test, training)


def board_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``run_family`` as one table indexed by the family's name."""
    return pd.DataFrame(list(rows)).set_index("family")
