"""Vector-quantised auto-encoders (VQ-VAE, van den Oord et al., 2017): discrete codes, a codebook
learned by the codebook loss or by exponential moving averages, dead codes and their reset, and
priors over the codes to generate with.

The encoder's output z_e is replaced by its nearest codebook vector e_k (the quantisation step has
no gradient); the straight-through estimator copies the decoder's gradient from z_q to z_e::

    z_q = z_e + sg[e_k - z_e]          (sg: stop-gradient)
    L = -log p(x | z_q) + ||sg[z_e] - e_k||² + beta ||z_e - sg[e_k]||²

On 2D points the encoder and decoder are the identity: the codebook lives in the data space and
training is online k-means, which makes the codebook, its Voronoi cells and the dead codes visible.
On the digits an MLP encodes each image to ``slots`` vectors, each quantised to one of K codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.device import default_device, to_numpy
from playground.nets import make_optimizer, mlp
from playground.seeding import derive_seed, torch_generator
from playground.stepper import TorchStepper


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row for each row of ``z`` (n, D) -> (n,)."""
    distances = (z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.T + codebook.pow(2).sum(1)[None, :])
    return distances.argmin(dim=1)


def quantize(z_e: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(z_q with the straight-through gradient, code indices, {"codebook", "commitment"} losses).

    ``z_e`` is (n, D) or (n, slots, D); indices have its leading shape."""
    flat = z_e.reshape(-1, z_e.shape[-1])
    index = nearest_codes(flat.detach(), codebook.detach())
    chosen = codebook[index].reshape(z_e.shape)
    losses = {"codebook": (chosen - z_e.detach()).pow(2).sum(-1).mean(),  # moves the codes to the encodings
              "commitment": (z_e - chosen.detach()).pow(2).sum(-1).mean()}  # keeps the encoder near its codes
    z_q = z_e + (chosen - z_e).detach()  # straight-through: forward = e_k, gradient = identity to z_e
    return z_q, index.reshape(z_e.shape[:-1]), losses


def ema_update(cluster_size: torch.Tensor, code_sum: torch.Tensor, z_e: torch.Tensor, index: torch.Tensor,
               decay: float, epsilon: float = 1e-5) -> torch.Tensor:
    """One exponential-moving-average codebook update (van den Oord et al., appendix A.1), in place on
    ``cluster_size`` (K,) and ``code_sum`` (K, D); returns the new codebook m_k / N_k, with N_k
    Laplace-smoothed so that unused codes do not divide by zero:
        N_k <- decay N_k + (1 - decay) n_k,   m_k <- decay m_k + (1 - decay) sum_{i: k(i) = k} z_i."""
    flat = z_e.reshape(-1, z_e.shape[-1]).detach()
    one_hot = F.one_hot(index.reshape(-1), cluster_size.shape[0]).to(flat.dtype)
    cluster_size.mul_(decay).add_(one_hot.sum(0), alpha=1 - decay)
    code_sum.mul_(decay).add_(one_hot.T @ flat, alpha=1 - decay)
    total = cluster_size.sum()
    smoothed = (cluster_size + epsilon) / (total + cluster_size.shape[0] * epsilon) * total
    return code_sum / smoothed[:, None]


def perplexity(index: Any, n_codes: int) -> float:
    """exp(entropy of the code usage): the effective number of codes in use (K for uniform use, 1 for one code)."""
    counts = np.bincount(np.asarray(index).ravel(), minlength=n_codes).astype(np.float64)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


@dataclass(frozen=True)
class VQConfig:
    """One VQ run (hashable: it keys the page's stepper)."""

    data: str = "2d"  # "2d": identity encoder, codebook in the data space; "digits": MLP encoder/decoder
    codes: int = 16  # K
    beta: float = 0.25  # commitment weight
    ema: bool = False  # codebook by moving averages instead of the codebook loss
    decay: float = 0.95
    reset_dead: bool = False  # move codes unused for ``reset_every`` steps onto random encodings
    reset_every: int = 50
    slots: int = 2  # digits: codes per image
    code_dim: int = 8  # digits: D
    hidden: int = 128
    lr: float = 2e-3
    batch_size: int = 128
    init: str = "data"  # "data": codes start on random encodings; "corner": all in one corner (shows dead codes)
    eval_every: int = 10
    seed: int = 0


class VQTrainer(TorchStepper):
    """Trains a VQ model; metrics per step: ``loss``, ``reconstruction``, ``commitment``, and every
    ``eval_every`` steps (and at step 1) on the whole training set: ``perplexity``, ``dead`` (codes no
    encoding uses), ``test_reconstruction``."""

    def __init__(self, x_train: np.ndarray, x_test: np.ndarray | None = None, config: VQConfig = VQConfig(),
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        if config.codes < 2 or config.beta < 0 or not 0 < config.decay < 1 or config.slots < 1:
            raise ValueError("codes >= 2, beta >= 0, 0 < decay < 1 and slots >= 1 are required")
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.x_train = torch.as_tensor(np.asarray(x_train), dtype=torch.float32, device=self.device).clone()
        self.x_test = (self.x_train if x_test is None else
                       torch.as_tensor(np.asarray(x_test), dtype=torch.float32, device=self.device).clone())
        g = torch_generator(derive_seed(config.seed, "vq-init"), "cpu")
        dim = self.x_train.shape[1]
        if config.data == "2d":
            self.encoder, self.decoder = nn.Identity(), nn.Identity()
            code_dim, self.slots = dim, 1
        else:
            self.slots, code_dim = config.slots, config.code_dim
            self.encoder = mlp([dim, config.hidden, self.slots * code_dim], generator=g).to(self.device)
            self.decoder = mlp([self.slots * code_dim, config.hidden, dim], generator=g).to(self.device)
        with torch.no_grad():
            encodings = self.encode(self.x_train).reshape(-1, code_dim)
            if config.init == "corner":
                corner = encodings.min(dim=0).values - encodings.std(dim=0)
                start = corner + 0.05 * encodings.std(dim=0) * torch.randn(config.codes, code_dim, generator=g).to(
                    self.device)
            else:
                pick = torch.randperm(len(encodings), generator=g)[:config.codes].to(self.device)
                start = encodings[pick] + 1e-3 * torch.randn(config.codes, code_dim, generator=g).to(self.device)
        self.codebook = nn.Parameter(start.clone(), requires_grad=not config.ema)
        self.cluster_size = torch.zeros(config.codes, device=self.device)
        self.code_sum = torch.zeros(config.codes, code_dim, device=self.device)
        if config.ema:
            self.cluster_size += 1.0
            self.code_sum += start
        self.recent_use = torch.zeros(config.codes, device=self.device)  # assignments since the last reset check
        parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        if not config.ema:
            parameters.append(self.codebook)
        if not parameters:  # 2D with moving averages: nothing is trained by gradients
            self._unused = nn.Parameter(torch.zeros(1, device=self.device))
            parameters = [self._unused]
        self.optimizer = make_optimizer("adam", parameters, config.lr)
        self.rng = torch_generator(derive_seed(config.seed, "vq-batches"), self.device)
        self.resets = 0

    # --- what the guard snapshots (see TorchStepper) ------------------------------------
    modules, optimizers, generators = ("encoder", "decoder"), ("optimizer",), ("rng",)
    tensors = ("codebook", "cluster_size", "code_sum", "recent_use")
    values = ("resets",)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return z if self.config.data == "2d" else z.reshape(len(x), self.slots, -1)

    def decode_logits(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_q.reshape(len(z_q), -1))

    def reconstruction_loss(self, x: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z_q)
        if self.config.data == "2d":
            return (out - x).pow(2).sum(1).mean()
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1).mean()

    def _step(self) -> dict[str, float]:
        config = self.config
        index = torch.randint(0, len(self.x_train), (config.batch_size,), generator=self.rng, device=self.device)
        x = self.x_train[index]
        z_e = self.encode(x)
        z_q, codes, losses = quantize(z_e, self.codebook)
        reconstruction = self.reconstruction_loss(x, z_q)
        loss = reconstruction + config.beta * losses["commitment"]
        if not config.ema:
            loss = loss + losses["codebook"]
        self.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            if config.ema:
                self.codebook.copy_(ema_update(self.cluster_size, self.code_sum, z_e, codes, config.decay))
            self.recent_use += torch.bincount(codes.reshape(-1), minlength=config.codes).to(self.recent_use.dtype)
            if config.reset_dead and (self.iteration + 1) % config.reset_every == 0:
                self._reset_dead(z_e.reshape(-1, z_e.shape[-1]))
            if (self.iteration + 1) % config.reset_every == 0:
                self.recent_use.zero_()
        metrics = {"loss": float(loss.detach()), "reconstruction": float(reconstruction.detach()),
                   "commitment": float(losses["commitment"].detach())}
        if self.iteration == 0 or (self.iteration + 1) % config.eval_every == 0:
            metrics.update(self.evaluate())
        return metrics

    def _reset_dead(self, encodings: torch.Tensor) -> None:
        dead = torch.nonzero(self.recent_use == 0)[:, 0]
        if len(dead):
            pick = torch.randint(0, len(encodings), (len(dead),), generator=self.rng, device=self.device)
            self.codebook[dead] = encodings[pick].detach()
            if self.config.ema:
                self.cluster_size[dead] = 1.0
                self.code_sum[dead] = encodings[pick].detach()
            self.resets += len(dead)

    @torch.no_grad()
    def codes_of(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """The code index of each point (2D: (n,)) or each slot of each image (digits: (n, slots))."""
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32, device=self.device)
        return to_numpy(quantize(self.encode(x), self.codebook)[1])

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        codes = quantize(self.encode(self.x_train), self.codebook)[1]
        used = torch.bincount(codes.reshape(-1), minlength=self.config.codes)
        z_q, _, _ = quantize(self.encode(self.x_test), self.codebook)
        return {"perplexity": perplexity(to_numpy(codes), self.config.codes), "dead": float((used == 0).sum()),
                "test_reconstruction": float(self.reconstruction_loss(self.x_test, z_q))}

    @torch.no_grad()
    def decode_codes(self, codes: np.ndarray) -> np.ndarray:
        """Decoded outputs for code indices (n, slots): grey levels in [0, 1] (digits) or points (2D)."""
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.long, device=self.device)
        out = self.decode_logits(self.codebook[codes])
        return to_numpy(out if self.config.data == "2d" else torch.sigmoid(out)).astype(np.float64)

    def snapshot(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "codebook": to_numpy(self.codebook.detach()).copy()}


# ----------------------------------------------------------------------------------
# Priors over the codes (digits: ``slots`` codes per image), to generate with
# ----------------------------------------------------------------------------------

PRIORS = {"uniform": "uniform codes", "independent": "one categorical per slot",
          "autoregressive": "autoregressive: p(c₁) p(c₂ | c₁) …"}


@dataclass
class CodePrior:
    """A prior over code sequences (n, slots): ``kind`` in ``PRIORS``; tables fitted by counting with
    add-``alpha`` smoothing. The autoregressive prior conditions each slot on the previous one."""

    kind: str
    n_codes: int
    first: np.ndarray  # (slots, K): p(c_j) (independent) or p(c_1) in row 0 (autoregressive)
    transitions: np.ndarray | None  # (slots - 1, K, K): p(c_{j+1} | c_j)

    def log_prob(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.int64)
        if self.kind == "uniform":
            return np.full(len(codes), -codes.shape[1] * math.log(self.n_codes))
        if self.kind == "independent":
            return np.log(self.first[np.arange(codes.shape[1])[None, :], codes]).sum(1)
        out = np.log(self.first[0, codes[:, 0]])
        for j in range(codes.shape[1] - 1):
            out = out + np.log(self.transitions[j, codes[:, j], codes[:, j + 1]])
        return out

    def sample(self, n: int, seed: int) -> np.ndarray:
        g = np.random.default_rng(seed)
        slots = self.first.shape[0]
        if self.kind == "uniform":
            return g.integers(0, self.n_codes, (n, slots))
        if self.kind == "independent":
            return np.column_stack([g.choice(self.n_codes, n, p=self.first[j]) for j in range(slots)])
        codes = np.empty((n, slots), dtype=np.int64)
        codes[:, 0] = g.choice(self.n_codes, n, p=self.first[0])
        for j in range(slots - 1):  # ancestral: each slot from the row of the previous one
            cumulative = np.cumsum(self.transitions[j][codes[:, j]], axis=1)
            codes[:, j + 1] = (g.random((n, 1)) < cumulative).argmax(axis=1)
        return codes


def fit_prior(codes: np.ndarray, n_codes: int, kind: str, alpha: float = 0.5) -> CodePrior:
    """Count the training images' codes (add-``alpha`` smoothing)."""
    if kind not in PRIORS:
        raise ValueError(f"unknown prior {kind!r}; choose from {', '.join(PRIORS)}")
    codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
    slots = codes.shape[1]
    first = np.stack([np.bincount(codes[:, j], minlength=n_codes) + alpha for j in range(slots)]).astype(float)
    first /= first.sum(1, keepdims=True)
    transitions = None
    if kind == "autoregressive" and slots > 1:
        transitions = np.full((slots - 1, n_codes, n_codes), alpha)
        for j in range(slots - 1):
            np.add.at(transitions[j], (codes[:, j], codes[:, j + 1]), 1.0)
        transitions /= transitions.sum(2, keepdims=True)
    return CodePrior(kind if (kind != "autoregressive" or slots > 1) else "independent", n_codes, first, transitions)
