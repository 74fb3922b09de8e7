"""From PCA to auto-encoders to variational auto-encoders.

Every model here maps data ``x`` to a code ``z`` (``encode``) and back (``decode``):

* ``PCA``: the linear baseline, ``z = W^T (x - m)``, ``x_hat = W z + m``.
* ``Autoencoder`` with ``kind``:
  ``"ae"`` (deterministic, loss ``||x - x_hat||`` as a log-likelihood),
  ``"vae"`` (Kingma & Welling 2014: maximise the ELBO; ``beta != 1`` is the beta-VAE of
  Higgins et al. 2017), ``"swae"`` (Kolouri et al. 2019: reconstruction + lambda * sliced
  Wasserstein distance between the codes and the prior), ``"cvae"`` (Sohn et al. 2015:
  encoder and decoder also see the label).

``AutoencoderTrainer`` is the training loop as a ``Stepper`` (one step = one epoch).

>>> from playground.images import load_digits
>>> split = load_digits().split(seed=0)
>>> trainer = AutoencoderTrainer(split.x_train, split.x_test, config=AutoencoderConfig(kind="vae"), device="cpu")
>>> trainer.step(1)["iteration"]
1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from playground.device import default_device, to_numpy, to_tensor
from playground import nets
from playground.metrics import sliced_wasserstein_power
from playground.seeding import SeedLike, derive_seed, rng, torch_generator
from playground.stepper import Stepper, TorchStepper

KINDS = {
    "ae": "Auto-encoder",
    "vae": "VAE",
    "swae": "Sliced-Wasserstein AE",
    "cvae": "Conditional VAE",
}
LIKELIHOODS = ("bernoulli", "gaussian")


# ----------------------------------------------------------------------------------
# The math: Gaussian KL, reparameterisation, likelihoods, sliced Wasserstein
# ----------------------------------------------------------------------------------

def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag sigma^2) || N(0, I) ) = 1/2 sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2), shape (n,)."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of q(z|x) that gradients flow through."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def log_likelihood(x: torch.Tensor, decoder_output: torch.Tensor, likelihood: str = "bernoulli",
                   noise_std: float = 0.1) -> torch.Tensor:
    """log p(x|z) summed over pixels, shape (n,).

    ``bernoulli``: the decoder outputs logits, log p = sum x log p + (1-x) log(1-p) (minus the
    binary cross-entropy, as in the PyTorch VAE example); ``gaussian``: the decoder outputs
    the mean, p(x|z) = N(x; g(z), noise_std^2 I), so -log p = ||x - g(z)||^2 / (2 sigma^2) + const.
    """
    if likelihood == "bernoulli":
        return -F.binary_cross_entropy_with_logits(decoder_output, x, reduction="none").sum(dim=-1)
    if likelihood == "gaussian":
        dim = x.shape[-1]
        squared = (x - decoder_output).pow(2).sum(dim=-1)
        return -0.5 * squared / noise_std**2 - dim * (math.log(noise_std) + 0.5 * math.log(2 * math.pi))
    raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, n_projections: int = 50,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Squared sliced 2-Wasserstein distance between two equal-size samples (n, d).

    For L random unit directions theta_l: project both samples, sort, and average the
    squared differences of the sorted projections (the 1D optimal transport):
    SW^2 = 1/L sum_l 1/n sum_m (theta_l . a_(m) - theta_l . b_(m))^2.
    """
    if a.shape != b.shape:
        raise ValueError(f"samples must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    directions = torch.randn(a.shape[1], int(n_projections), generator=generator, device=a.device, dtype=a.dtype)
    directions = directions / directions.norm(dim=0, keepdim=True)  # (d, L) unit columns
    return sliced_wasserstein_power(a, b, directions.T, p=2.0)


def slicing_view(codes: np.ndarray, n_directions: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """What SWAE's penalty computes, for drawing: ``n_directions`` random unit directions, a prior
    sample of the same size (seeded), and for each direction both sorted projections (the 1D
    quantile functions) and their mean squared difference (that direction's W2^2; SW^2 is their
    mean over many directions)."""
    codes = np.asarray(codes, dtype=np.float64)
    generator = np.random.default_rng(seed)
    prior = generator.standard_normal(codes.shape)
    directions = generator.standard_normal((int(n_directions), codes.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    sorted_codes = np.sort(codes @ directions.T, axis=0).T  # (L, n)
    sorted_prior = np.sort(prior @ directions.T, axis=0).T
    return {"directions": directions, "prior": prior, "sorted_codes": sorted_codes, "sorted_prior": sorted_prior,
            "w2_squared": ((sorted_codes - sorted_prior) ** 2).mean(axis=1)}


# ----------------------------------------------------------------------------------
# PCA: the linear baseline
# ----------------------------------------------------------------------------------

class PCA:
    """Principal component analysis by SVD; ``encode``/``decode`` like the auto-encoders.

    ``components_`` (k, d) are orthonormal rows W^T: z = W^T (x - mean_), x_hat = W z + mean_.
    ``clip`` bounds decoded values (e.g. (0, 1) for images); ``inverse_transform`` never clips.
    """

    kind = "pca"

    def __init__(self, n_components: int = 2, *, clip: tuple[float, float] | None = None,
                 device: torch.device | str | None = None) -> None:
        self.n_components = int(n_components)
        self.clip = clip
        self.device = torch.device(device) if device is not None else default_device()

    @property
    def latent_dim(self) -> int:
        return self.n_components

    def fit(self, x: np.ndarray) -> "PCA":
        """Principal directions of the centred data (top right-singular vectors)."""
        data = to_tensor(x, self.device, dtype=torch.float64)
        n, d = data.shape
        if not 1 <= self.n_components <= min(n, d):
            raise ValueError(f"n_components must be between 1 and min(n, d) = {min(n, d)}")
        mean = data.mean(dim=0)
        _, singular_values, vt = torch.linalg.svd(data - mean, full_matrices=False)
        # Sign convention: the largest |entry| of each component is positive (stable across runs).
        signs = torch.sign(vt[torch.arange(len(vt)), vt.abs().argmax(dim=1)])
        vt = vt * signs[:, None]
        variances = singular_values.pow(2) / (n - 1)
        self.mean_ = to_numpy(mean)
        self.components_ = to_numpy(vt[: self.n_components])
        self.explained_variance_ = to_numpy(variances[: self.n_components])
        self.explained_variance_ratio_ = self.explained_variance_ / float(variances.sum())
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Codes z = W^T (x - mean), shape (n, k)."""
        return (np.asarray(x, dtype=np.float64) - self.mean_) @ self.components_.T

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Reconstructions x_hat = W z + mean, shape (n, d)."""
        return np.asarray(z, dtype=np.float64) @ self.components_ + self.mean_

    def reconstruction_error(self, x: np.ndarray) -> float:
        """Mean over points of ||x - x_hat||^2."""
        x = np.asarray(x, dtype=np.float64)
        return float(((x - self.inverse_transform(self.transform(x))) ** 2).sum(axis=1).mean())

    def encode(self, x: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        """Codes and no posterior spread (PCA is deterministic)."""
        return self.transform(x).astype(np.float32), None

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Decoded points, clipped to ``clip`` when set."""
        out = self.inverse_transform(z)
        return (out if self.clip is None else out.clip(*self.clip)).astype(np.float32)

    def reconstruct(self, x: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return self.decode(self.encode(x)[0])


# ----------------------------------------------------------------------------------
# The networks
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AutoencoderConfig:
    """Everything that defines one trained model (hashable: it keys the session cache)."""

    kind: str = "vae"  # "ae" | "vae" | "swae" | "cvae"
    latent_dim: int = 2  # 2 can be drawn directly; more is drawn through a PCA of the codes
    hidden: tuple[int, ...] = (256, 128)  # widths of the encoder's hidden layers (mirrored in the decoder)
    beta: float = 1.0  # weight of the KL term: 1 = VAE, other values = beta-VAE, 0 = "only reconstruction"
    reconstruction_weight: float = 1.0  # weight of -log p(x|z) in the loss
    encoder_reconstruction: bool = True  # False: -log p(x|z) trains only the decoder (the "only KL" ablation)
    sw_lambda: float = 10.0  # weight of the sliced-Wasserstein term (SWAE)
    n_projections: int = 50  # random directions per SW estimate
    likelihood: str = "bernoulli"  # p(x|z): "bernoulli" for grey levels in [0, 1], "gaussian" otherwise
    noise_std: float = 0.1  # sigma of the Gaussian likelihood
    learning_rate: float = 2e-3
    batch_size: int = 64
    seed: int = 0

    @property
    def stochastic(self) -> bool:
        """True when the encoder outputs a distribution q(z|x) (VAE, beta-VAE, CVAE)."""
        return self.kind in ("vae", "cvae")

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {self.likelihood!r}")
        if self.latent_dim < 1 or self.batch_size < 2 or self.noise_std <= 0 or self.learning_rate <= 0:
            raise ValueError("latent_dim >= 1, batch_size >= 2, noise_std > 0 and learning_rate > 0 are required")


class Autoencoder(nn.Module):
    """MLP encoder and decoder; the encoder outputs (mu, log sigma^2) for a VAE, z for an AE."""

    def __init__(self, input_dim: int, config: AutoencoderConfig, n_classes: int = 0) -> None:
        super().__init__()
        self.config = config
        self.input_dim = int(input_dim)
        self.n_classes = int(n_classes) if config.kind == "cvae" else 0
        outputs = 2 * config.latent_dim if config.stochastic else config.latent_dim
        generator = torch_generator(derive_seed(config.seed, "init"))  # the encoder's draws, then the decoder's
        self.encoder = nets.mlp([self.input_dim + self.n_classes, *config.hidden, outputs], "relu", generator=generator)
        self.decoder = nets.mlp([config.latent_dim + self.n_classes, *reversed(config.hidden), self.input_dim], "relu",
                                generator=generator)

    def _condition(self, tensor: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if not self.n_classes:
            return tensor
        if labels is None:
            raise ValueError("a conditional VAE needs the labels")
        return torch.cat([tensor, F.one_hot(labels.long(), self.n_classes).to(tensor.dtype)], dim=-1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) of q(z|x) for a VAE/CVAE; (z, None) for AE and SWAE."""
        out = self.encoder(self._condition(x, labels))
        if not self.config.stochastic:
            return out, None
        mu, logvar = out.chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decoder_output(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (Bernoulli) or the mean (Gaussian) of p(x|z)."""
        return self.decoder(self._condition(z, labels))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The mean image E[x|z]: sigmoid of the logits for the Bernoulli likelihood."""
        out = self.decoder_output(z, labels)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out


def initialize(model: nn.Module, seed: int) -> nn.Module:
    """PyTorch's default Linear initialisation, drawn from a seeded generator (no global RNG)."""
    generator = torch_generator(seed)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nets.init_linear_(layer, generator)
    return model


def mean_reconstruction_loss(x: torch.Tensor, decoder_output: torch.Tensor, likelihood: str = "bernoulli",
                             noise_std: float = 0.1) -> torch.Tensor:
    """Batch mean of -log p(x|z) = -log_likelihood(...).mean(), with fused reductions (fewer kernels)."""
    n = x.shape[0]
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(decoder_output, x, reduction="sum") / n
    if likelihood == "gaussian":
        constant = x.shape[-1] * (math.log(noise_std) + 0.5 * math.log(2 * math.pi))
        return F.mse_loss(decoder_output, x, reduction="sum") / (2 * noise_std**2 * n) + constant
    raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")


def _weighted(weight: float, term: torch.Tensor) -> torch.Tensor:
    return term if weight == 1.0 else weight * term


def loss_terms(model: Autoencoder, x: torch.Tensor, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-batch means of the loss and its parts: reconstruction = -log p(x|z), kl or sw, and the loss.

    VAE/CVAE: loss = w_rec * reconstruction + beta * KL (the ELBO is -(reconstruction + KL)).
    AE: loss = reconstruction. SWAE: loss = reconstruction + lambda * SW^2(codes, N(0, I) samples).
    With ``encoder_reconstruction=False`` the decoder sees z with its gradient stopped: the encoder
    then minimises only the KL term (q(z|x) -> N(0, I) for every x) while the decoder still learns
    to reconstruct from the codes it gets.
    """
    config = model.config
    mu, logvar = model.encode(x, labels)
    z = reparameterize(mu, logvar, generator) if config.stochastic else mu
    decoder_input = z if config.encoder_reconstruction else z.detach()
    reconstruction = mean_reconstruction_loss(x, model.decoder_output(decoder_input, labels), config.likelihood,
                                              config.noise_std)
    loss = _weighted(config.reconstruction_weight, reconstruction)
    terms = {"reconstruction": reconstruction}
    if config.stochastic:
        terms["kl"] = gaussian_kl(mu, logvar).mean()
        loss = loss + _weighted(config.beta, terms["kl"])
    elif config.kind == "swae":
        prior = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        terms["sw"] = sliced_wasserstein(z, prior, config.n_projections, generator)
        loss = loss + _weighted(config.sw_lambda, terms["sw"])
    terms["loss"] = loss
    return terms


@torch.no_grad()
def elbo(model: Autoencoder, x: torch.Tensor, labels: torch.Tensor | None = None, n_samples: int = 1,
         generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-point ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)), with ``n_samples`` draws of z; shapes (n,)."""
    if not model.config.stochastic:
        raise ValueError("the ELBO needs a stochastic encoder (VAE, beta-VAE or CVAE)")
    mu, logvar = model.encode(x, labels)
    expected = torch.zeros(len(x), device=x.device, dtype=x.dtype)
    for _ in range(int(n_samples)):
        z = reparameterize(mu, logvar, generator)
        expected += log_likelihood(x, model.decoder_output(z, labels), model.config.likelihood, model.config.noise_std)
    expected /= n_samples
    kl = gaussian_kl(mu, logvar)
    return {"elbo": expected - kl, "reconstruction": -expected, "kl": kl}


@torch.no_grad()
def importance_sampled_log_likelihood(model: Autoencoder, x: torch.Tensor, labels: torch.Tensor | None = None,
                                      n_importance: int = 500,
                                      generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x) ~= log 1/K sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016); shape (n,)."""
    if not model.config.stochastic:
        raise ValueError("importance sampling needs q(z|x): use a VAE, beta-VAE or CVAE")
    mu, logvar = model.encode(x, labels)
    std = (0.5 * logvar).exp()
    eps = torch.randn((int(n_importance), *mu.shape), generator=generator, device=x.device, dtype=x.dtype)
    z = mu + std * eps  # (K, n, m)
    log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prior = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
    repeated_labels = None if labels is None else labels.expand(int(n_importance), -1)
    outputs = model.decoder_output(z, repeated_labels)
    log_px_z = log_likelihood(x.expand(int(n_importance), -1, -1), outputs, model.config.likelihood,
                              model.config.noise_std)
    return torch.logsumexp(log_px_z + log_prior - log_q, dim=0) - math.log(n_importance)


# ----------------------------------------------------------------------------------
# Training as a stepper
# ----------------------------------------------------------------------------------

class AutoencoderTrainer(TorchStepper):
    """Adam on mini-batches; one ``step`` = one epoch over the training set.

    Metrics per step: the epoch means of ``loss``, ``reconstruction`` and ``kl`` (VAE) or
    ``sw`` (SWAE), ``elbo`` (VAE), and every ``eval_every`` epochs ``test_reconstruction``
    and ``test_elbo`` on the test set.
    """

    def __init__(self, x_train: np.ndarray, x_test: np.ndarray | None = None, y_train: np.ndarray | None = None,
                 y_test: np.ndarray | None = None, *, config: AutoencoderConfig = AutoencoderConfig(),
                 device: torch.device | str | None = None, eval_every: int = 5) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        # Own copies: on the CPU torch.as_tensor would share memory with the caller's arrays.
        self.x_train = to_tensor(x_train, self.device).clone()
        self.x_test = to_tensor(x_train if x_test is None else x_test, self.device).clone()
        needs_labels = config.kind == "cvae"
        if needs_labels and (y_train is None or (x_test is not None and y_test is None)):
            raise ValueError("a conditional VAE needs labels for the training and test images")
        self.y_train = to_tensor(y_train, self.device, torch.long) if y_train is not None else None
        self.y_test = (to_tensor(y_test, self.device, torch.long) if y_test is not None
                       else (self.y_train if x_test is None else None))
        n_classes = int(self.y_train.max()) + 1 if (needs_labels and self.y_train is not None) else 0
        self.model = Autoencoder(self.x_train.shape[1], config, n_classes)  # seeded by config.seed
        self.model.to(self.device)
        self.optimizer = nets.make_optimizer("adam", self.model.parameters(), config.learning_rate)
        self.generator = torch_generator(derive_seed(config.seed, "train"), self.device)
        self.eval_every = max(1, int(eval_every))

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # --- stepper protocol: what the guard snapshots ----------------------------------
    modules, optimizers, generators = ("model",), ("optimizer",), ("generator",)

    def _step(self) -> dict[str, float]:
        self.model.train()
        n = len(self.x_train)
        order = torch.randperm(n, generator=self.generator, device=self.device)
        batch_terms: list[dict[str, torch.Tensor]] = []
        sizes: list[int] = []
        for start in range(0, n, self.config.batch_size):
            index = order[start:start + self.config.batch_size]
            labels = self.y_train[index] if self.model.n_classes else None
            terms = loss_terms(self.model, self.x_train[index], labels, self.generator)
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.optimizer.step()
            batch_terms.append({name: value.detach() for name, value in terms.items()})
            sizes.append(len(index))
        # Epoch means, weighted by batch size, in one reduction per term (no per-batch syncs).
        weights = torch.tensor(sizes, device=self.device, dtype=self.x_train.dtype) / n
        metrics = {name: float(torch.stack([t[name] for t in batch_terms]) @ weights) for name in batch_terms[0]}
        if self.config.stochastic:
            metrics["elbo"] = -(metrics["reconstruction"] + metrics["kl"])
        if (self.iteration + 1) % self.eval_every == 0 or self.iteration == 0:
            metrics.update({f"test_{k}": v for k, v in self.evaluate().items()})
        return metrics

    def snapshot(self) -> dict[str, Any]:
        """Test codes (and posterior std for a VAE) with their labels, for the latent map."""
        codes, sigma = self.encode(to_numpy(self.x_test), None if self.y_test is None else to_numpy(self.y_test))
        return {"codes": codes, "sigma": sigma, "labels": None if self.y_test is None else to_numpy(self.y_test)}

    # --- using the model -------------------------------------------------------------
    def _labels(self, labels: np.ndarray | None, n: int) -> torch.Tensor | None:
        if not self.model.n_classes:
            return None
        if labels is None:
            raise ValueError("a conditional VAE needs a label for every point")
        labels = np.array(np.broadcast_to(np.asarray(labels), (n,)))
        return to_tensor(labels, self.device, torch.long)

    @torch.no_grad()
    def evaluate(self, n_samples: int = 1) -> dict[str, float]:
        """Test-set means: reconstruction (-log p(x|z)) and, for VAEs, KL and ELBO."""
        self.model.eval()
        labels = self.y_test if self.model.n_classes else None
        generator = torch_generator(derive_seed(self.config.seed, "evaluate"), self.device)
        if self.config.stochastic:
            terms = elbo(self.model, self.x_test, labels, n_samples, generator)
            return {k: float(v.mean()) for k, v in terms.items()}
        z, _ = self.model.encode(self.x_test, labels)
        out = self.model.decoder_output(z, labels)
        return {"reconstruction": float(-log_likelihood(self.x_test, out, self.config.likelihood,
                                                        self.config.noise_std).mean())}

    def reparameterised(self, x: np.ndarray, n: int = 6, seed: int = 0,
                        labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The reparameterisation trick for one input: (mu, sigma) = encoder(x), eps ~ N(0, I) (seeded),
        z = mu + sigma * eps, and the decoded images. ``dz_dmu`` and ``dz_dsigma`` are the gradients
        of sum(z) by autograd through the sample: 1 and eps, the path the trick opens."""
        if not self.config.stochastic:
            raise ValueError("the reparameterisation needs q(z|x): use a VAE, beta-VAE or CVAE")
        self.model.eval()
        x_t = to_tensor(np.asarray(x).reshape(1, -1), self.device)
        mu, logvar = self.model.encode(x_t, self._labels(labels, 1))
        mu = mu.detach()[0].requires_grad_(True)
        sigma = (0.5 * logvar.detach()[0]).exp().requires_grad_(True)
        generator = torch_generator(derive_seed(seed, "reparameterise"), self.device)
        eps = torch.randn((int(n), mu.shape[0]), generator=generator, device=self.device, dtype=mu.dtype)
        z = mu + sigma * eps
        z[0].sum().backward()  # the first sample's gradient path
        with torch.no_grad():
            decoded = self.model.decode(z.detach(), None if labels is None else self._labels(labels, int(n)))
        return {"mu": to_numpy(mu.detach()), "sigma": to_numpy(sigma.detach()), "eps": to_numpy(eps),
                "z": to_numpy(z.detach()), "decoded": to_numpy(decoded), "dz_dmu": to_numpy(mu.grad),
                "dz_dsigma": to_numpy(sigma.grad)}

    @torch.no_grad()
    def elbo_gap(self, n_points: int = 100, n_importance: int = 200) -> dict[str, float]:
        """On the first ``n_points`` test images: the mean ELBO (20 draws of z each), the mean
        importance-sampled log p(x) (``n_importance`` draws from q(z|x)) and their difference, which
        estimates KL(q(z|x) || p(z|x)) (>= 0; the IS estimate is itself a slight underestimate).
        Cached per iteration (it is drawn at every Play tick)."""
        if not self.config.stochastic:
            raise ValueError("the ELBO gap needs q(z|x): use a VAE, beta-VAE or CVAE")
        cached = getattr(self, "_elbo_gap", None)
        if cached is not None and cached[0] == (self.iteration, n_points, n_importance):
            return cached[1]
        self.model.eval()
        x = self.x_test[:n_points]
        labels = self.y_test[:n_points] if self.model.n_classes else None
        generator = torch_generator(derive_seed(self.config.seed, "elbo-gap"), self.device)
        bound = float(elbo(self.model, x, labels, 20, generator)["elbo"].mean())
        log_px = float(importance_sampled_log_likelihood(self.model, x, labels, n_importance, generator).mean())
        result = {"elbo": bound, "log_px": log_px, "gap": log_px - bound}
        self._elbo_gap = ((self.iteration, n_points, n_importance), result)
        return result

    @torch.no_grad()
    def encode(self, x: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes (the posterior mean for a VAE) and the posterior std (None for AE/SWAE)."""
        self.model.eval()
        mu, logvar = self.model.encode(to_tensor(x, self.device), self._labels(labels, len(x)))
        return to_numpy(mu), None if logvar is None else to_numpy((0.5 * logvar).exp())

    @torch.no_grad()
    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Mean decoded images E[x|z] (in [0, 1] for the Bernoulli likelihood), shape (n, d)."""
        self.model.eval()
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        return to_numpy(self.model.decode(to_tensor(z, self.device), self._labels(labels, len(z))))

    def reconstruct(self, x: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """decode(encode(x)) through the code (the posterior mean for a VAE)."""
        return self.decode(self.encode(x, labels)[0], labels)

    def sample_prior(self, n: int, seed: SeedLike, labels: np.ndarray | None = None) -> np.ndarray:
        """Decode z ~ N(0, I): generation for a VAE, garbage for a plain AE."""
        z = rng(seed).standard_normal((int(n), self.config.latent_dim))
        return self.decode(z, labels)


class SideBySide(Stepper):
    """Several trainers stepped together (the loss ablation): metrics prefixed by their names."""

    def __init__(self, trainers: dict[str, AutoencoderTrainer]) -> None:
        super().__init__()
        self.trainers = trainers

    def get_state(self) -> Any:
        return {name: trainer.get_state() for name, trainer in self.trainers.items()}

    def set_state(self, state: Any) -> None:
        for name, trainer in self.trainers.items():
            trainer.set_state(state[name])

    def state_is_finite(self) -> bool:
        return all(trainer.state_is_finite() for trainer in self.trainers.values())

    def _step(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for name, trainer in self.trainers.items():
            trainer.iteration = self.iteration  # keeps each trainer's evaluation schedule
            metrics.update({f"{name}/{k}": v for k, v in trainer._step().items()})
        return metrics

    def snapshot(self) -> dict[str, Any]:
        return {name: trainer.snapshot() for name, trainer in self.trainers.items()}


# "only KL": the encoder is trained on the KL term alone; the decoder still fits -log p(x|z) on the
# codes it is given (with the reconstruction weight at 0 it would get no gradient and stay untrained)
ABLATIONS = {"only reconstruction": {"beta": 0.0}, "only KL": {"encoder_reconstruction": False}, "both": {}}


def loss_ablation(x_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray | None = None, *,
                  config: AutoencoderConfig = AutoencoderConfig(), device: torch.device | str | None = None,
                  eval_every: int = 5) -> SideBySide:
    """Three VAEs with the same seed and data: only reconstruction (beta = 0), only KL (for the encoder),
    and both."""
    base = replace(config, kind="vae", beta=1.0, reconstruction_weight=1.0, encoder_reconstruction=True)
    return SideBySide({name: AutoencoderTrainer(x_train, x_test, y_test=y_test, config=replace(base, **change),
                                                device=device, eval_every=eval_every)
                       for name, change in ABLATIONS.items()})


# ----------------------------------------------------------------------------------
# Exploring a latent space
# ----------------------------------------------------------------------------------

def trustworthiness(points: np.ndarray, codes: np.ndarray, n_neighbors: int = 10) -> float:
    """How well the codes keep the points' neighbourhoods: 1 when no code's nearest neighbours are
    points that were far apart (scikit-learn's ``trustworthiness``; a projection that folds a
    sheet onto itself scores lower)."""
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    return float(sklearn_trustworthiness(np.asarray(points), np.asarray(codes), n_neighbors=n_neighbors))


@dataclass(frozen=True)
class DecoderProgram:
    """A decoder written out as plain affine layers, for a 2D map position p:
    x = clip(out(W_L relu(... relu(W_1 p + b_1) ...) + b_L)), ``out`` = sigmoid or identity.

    What a browser needs to decode wherever the mouse is, with no round trip to the server (the
    latent explorer's decode-on-hover). The map's lift to the latent space (a PCA plane when
    m > 2) and a CVAE's condition are folded into the first layer, so the input is always 2D."""

    weights: tuple[np.ndarray, ...]  # (out, in) float32, one per layer
    biases: tuple[np.ndarray, ...]   # (out,) float32
    output: str                      # "sigmoid" or "identity"
    clip: tuple[float, float] | None

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """The program run in NumPy (float64): (n, 2) map positions -> (n, d) images."""
        h = np.atleast_2d(np.asarray(points, dtype=np.float64))
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = h @ weight.T.astype(np.float64) + bias
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        if self.output == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
        return h if self.clip is None else h.clip(*self.clip)

    def to_json(self) -> dict[str, Any]:
        """Weights as base64 float32 (little-endian), as the browser reads them into Float32Arrays."""
        import base64

        def encode(array: np.ndarray) -> str:
            return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")

        return {"layers": [{"out": int(w.shape[0]), "in": int(w.shape[1]), "w": encode(w), "b": encode(b)}
                           for w, b in zip(self.weights, self.biases)],
                "output": self.output, "clip": None if self.clip is None else [float(c) for c in self.clip]}


def decoder_program(model, lift: tuple[np.ndarray, np.ndarray] | None = None,
                    condition: int | None = None) -> DecoderProgram:
    """``model``'s decoder (a ``PCA`` or an ``AutoencoderTrainer``) as a ``DecoderProgram``.

    ``lift = (A, c)``: the latent code of a map position p is A p + c (A is (m, 2)); ``None`` when
    the map shows the codes themselves. ``condition``: the digit a CVAE decodes for."""
    if isinstance(model, PCA):
        layers = [(model.components_.T.astype(np.float64), model.mean_.astype(np.float64))]
        output, clip = "identity", model.clip
    elif isinstance(model, AutoencoderTrainer):
        net = model.model
        modules = list(net.decoder)
        linear = [m for m in modules if isinstance(m, nn.Linear)]
        hidden = [m for m in modules if not isinstance(m, nn.Linear)]
        if not all(isinstance(m, nn.ReLU) for m in hidden) or len(hidden) != len(linear) - 1:
            raise ValueError("decoder_program handles MLP decoders with ReLU between the layers")
        layers = [(to_numpy(m.weight).astype(np.float64), to_numpy(m.bias).astype(np.float64)) for m in linear]
        m = model.config.latent_dim
        first_w, first_b = layers[0]
        if net.n_classes:
            if condition is None:
                raise ValueError("a conditional VAE decodes for a digit: give condition")
            first_b = first_b + first_w[:, m + int(condition)]
        first_w = first_w[:, :m]
        layers[0] = (first_w, first_b)
        output = "sigmoid" if model.config.likelihood == "bernoulli" else "identity"
        clip = None
    else:
        raise TypeError(f"no decoder program for {type(model).__name__}")
    if lift is not None:
        a, c = (np.asarray(v, dtype=np.float64) for v in lift)
        first_w, first_b = layers[0]
        layers[0] = (first_w @ a, first_b + first_w @ c)
    return DecoderProgram(tuple(w.astype(np.float32) for w, _ in layers),
                          tuple(b.astype(np.float32) for _, b in layers), output, clip)


def latent_grid(size: int, low: float, high: float) -> np.ndarray:
    """A size x size grid of 2D points, row-major from the top-left (z2 = high) corner: (size^2, 2)."""
    values = np.linspace(low, high, int(size))
    z1, z2 = np.meshgrid(values, values[::-1])
    return np.column_stack([z1.ravel(), z2.ravel()]).astype(np.float32)


def interpolate(model, x_start: np.ndarray, x_end: np.ndarray, n_steps: int = 8,
                labels: tuple[int, int] | None = None) -> np.ndarray:
    """Decode the straight line between the codes of two inputs: (n_steps, d) images.

    A CVAE keeps the label of the start image all along.
    """
    label_start = None if labels is None else labels[0]
    z_start = model.encode(np.atleast_2d(x_start), None if labels is None else [labels[0]])[0][0]
    z_end = model.encode(np.atleast_2d(x_end), None if labels is None else [labels[1]])[0][0]
    t = np.linspace(0.0, 1.0, int(n_steps))[:, None]
    return model.decode((1 - t) * z_start + t * z_end, None if labels is None else np.full(len(t), label_start))


def fit_latent_density(codes: np.ndarray, method: str = "gmm", n_components: int = 10, bandwidth: float = 0.3,
                       seed: int = 0, device: torch.device | str | None = None):
    """The lecture's post-hoc density on an AE's codes: a Gaussian mixture (EM) or a Gaussian KDE.

    Uses ``playground.mixture.GaussianMixture`` and ``playground.density.KernelDensity``;
    the result has ``sample(n, seed)`` and ``score_samples(z)``.
    """
    from playground.density import KernelDensity
    from playground.mixture import GaussianMixture

    codes = np.asarray(codes, dtype=np.float64)
    if method == "kde":
        return KernelDensity(float(bandwidth), "gaussian", device=device).fit(codes)
    if method != "gmm":
        raise ValueError("method must be 'gmm' or 'kde'")
    n_components = max(1, min(int(n_components), len(codes)))
    return GaussianMixture(n_components, reg_covar=1e-4, random_state=seed, device=device).fit(codes)


def posterior_kl(mu: np.ndarray, sigma: np.ndarray) -> float:
    """KL(N(mu, diag sigma^2) || N(0, I)) of one code from NumPy (mu, sigma): ``gaussian_kl``, the KL
    term of the training loss, in float64 (for the closed-form panel of the latent explorer)."""
    mu_t = torch.as_tensor(np.asarray(mu, dtype=np.float64))
    logvar = torch.log(torch.as_tensor(np.asarray(sigma, dtype=np.float64)) ** 2)
    return float(gaussian_kl(mu_t, logvar))
