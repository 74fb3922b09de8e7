"""Autoregressive models (lecture 004): the chain rule p(x) = prod_d p(x_d | x_<d), made visible.

Two models, both ``TorchStepper`` trainers fitted by teacher-forced cross-entropy:

- ``GridAutoregressive``: 2D data discretised into a B x B grid of cells; p(first) is a
  categorical (B logits) and p(second | first) a categorical given by an MLP on the one-hot
  first coordinate. The joint is the product of the two, an exact B x B table that sums to 1.
  ``order="x2_first"`` factorises the other way round: the same joint in theory, not after
  training on few data.
- ``CharModel``: next-character prediction on a bundled list of names (no downloads), with a
  context of the previous ``context`` characters (Bengio et al.'s MLP language model), the
  start/end token ".", and the sampling rules of LLMs: temperature, top-k, top-p (nucleus).

``filter_logits`` is the one implementation of temperature / top-k / top-p; ``ancestral_sample``
draws from a grid model one coordinate after the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from playground.device import default_device, to_numpy
from playground.nets import make_optimizer, mlp
from playground.seeding import derive_seed, rng, torch_generator
from playground.stepper import TorchStepper
from playground.targets import Target

ORDERS = {"x1_first": "x₁ first: p(x₁) p(x₂ | x₁)", "x2_first": "x₂ first: p(x₂) p(x₁ | x₂)"}


# ----------------------------------------------------------------------------------
# Sampling rules (temperature, top-k, top-p)
# ----------------------------------------------------------------------------------

def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Log-probabilities after the sampling rules, over the last axis.

    ``temperature`` divides the logits (-> 0: the argmax; 1: unchanged; large: uniform);
    ``top_k`` keeps the k most likely values; ``top_p`` keeps the smallest set of most likely
    values whose probability reaches p (nucleus). The kept values are renormalised; the
    others get probability 0 (log -inf). ``temperature=0`` is the argmax exactly.
    """
    logits = torch.as_tensor(logits)
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    size = logits.shape[-1]
    if temperature == 0:
        best = logits.argmax(dim=-1, keepdim=True)
        out = torch.full_like(logits, -math.inf, dtype=torch.float64 if logits.dtype == torch.float64 else logits.dtype)
        return out.scatter(-1, best, 0.0)
    scaled = logits / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        if top_k < size:
            kth = torch.topk(scaled, int(top_k), dim=-1).values[..., -1:]
            scaled = scaled.masked_fill(scaled < kth, -math.inf)
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if top_p < 1:
            ordered, index = torch.sort(scaled, dim=-1, descending=True)
            probs = torch.softmax(ordered, dim=-1)
            before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly more likely values
            drop = before >= top_p  # the most likely value is always kept
            ordered = ordered.masked_fill(drop, -math.inf)
            scaled = torch.full_like(scaled, -math.inf).scatter(-1, index, ordered)
    return torch.log_softmax(scaled, dim=-1)


# ----------------------------------------------------------------------------------
# 2D data on a grid
# ----------------------------------------------------------------------------------

def discretize(points: np.ndarray, bounds: Any, bins: int) -> np.ndarray:
    """Cell indices (n, 2) of 2D points on a ``bins`` x ``bins`` grid over ``bounds`` (outside: clipped)."""
    points = np.asarray(points, dtype=np.float64)
    low = np.array([b[0] for b in bounds], dtype=np.float64)
    high = np.array([b[1] for b in bounds], dtype=np.float64)
    cells = np.floor((points - low) / (high - low) * bins).astype(np.int64)
    return np.clip(cells, 0, bins - 1)


def cell_centers(bounds: Any, bins: int) -> tuple[np.ndarray, np.ndarray]:
    return tuple(np.linspace(b[0], b[1], bins + 1)[:-1] + (b[1] - b[0]) / (2 * bins) for b in bounds)  # type: ignore


def empirical_table(cells: np.ndarray, bins: int) -> np.ndarray:
    """Frequencies of the cells, a (bins, bins) table indexed [x1 cell, x2 cell] that sums to 1."""
    table = np.zeros((bins, bins))
    np.add.at(table, (cells[:, 0], cells[:, 1]), 1.0)
    return table / max(len(cells), 1)


def true_table(target: Target, bounds: Any, bins: int, resolution: int = 4) -> np.ndarray | None:
    """The target's probability of each cell (its density integrated by the midpoint rule on
    ``resolution``² points per cell, renormalised over the grid); None for a sample-only target."""
    if not target.has_log_prob:
        return None
    axes = [np.linspace(b[0], b[1], bins * resolution + 1) for b in bounds]
    mids = [(a[:-1] + a[1:]) / 2 for a in axes]
    xx, yy = np.meshgrid(*mids, indexing="ij")
    density = np.exp(target.log_prob(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    table = density.reshape(bins, resolution, bins, resolution).sum(axis=(1, 3))
    return table / table.sum()


@dataclass(frozen=True)
class GridConfig:
    bins: int = 24
    order: str = "x1_first"
    hidden: int = 64
    lr: float = 1e-2
    batch_size: int = 256
    n_data: int = 2000
    eval_every: int = 5  # held-out NLL every this many steps (and at step 1)
    seed: int = 0


class GridAutoregressive(TorchStepper):
    """p(first) p(second | first) on a B x B grid, trained by teacher-forced cross-entropy.

    Teacher forcing: the conditional is trained on the *true* first coordinate of each data
    point, never on a sampled one. ``log_table()`` is the model's log-probability of every
    cell, indexed [x1 cell, x2 cell] whatever the order.
    """

    def __init__(self, target: Target, config: GridConfig = GridConfig(), device: torch.device | str | None = None):
        super().__init__()
        if config.order not in ORDERS:
            raise ValueError(f"unknown order {config.order!r}; choose from {', '.join(ORDERS)}")
        if not 2 <= config.bins <= 128:
            raise ValueError("bins must be between 2 and 128")
        self.config, self.target = config, target
        self.device = torch.device(device) if device is not None else default_device()
        self.bounds = tuple(tuple(float(v) for v in b) for b in target.bounds)
        B = config.bins
        train = target.sample(config.n_data, derive_seed(config.seed, "ar-data"))
        held_out = target.sample(2000, derive_seed(config.seed, "ar-held-out"))
        self.train_cells = discretize(train, self.bounds, B)
        self.held_out_cells = discretize(held_out, self.bounds, B)
        swap = [1, 0] if config.order == "x2_first" else [0, 1]
        self._train = torch.as_tensor(self.train_cells[:, swap], device=self.device)
        self._held_out = torch.as_tensor(self.held_out_cells[:, swap], device=self.device)
        generator = torch_generator(derive_seed(config.seed, "ar-init"), self.device)
        self.first_logits = torch.zeros(B, device=self.device, requires_grad=True)
        self.net = mlp([B, config.hidden, config.hidden, B], "relu", generator=generator, device=self.device)
        self.optimizer = make_optimizer("adam", [self.first_logits, *self.net.parameters()], config.lr)
        self.generator = torch_generator(derive_seed(config.seed, "ar-steps"), self.device)
        self._eye = torch.eye(B, device=self.device)

    modules, optimizers, generators, tensors = ("net",), ("optimizer",), ("generator",), ("first_logits",)
    guard_every = 10  # the NaN guard's copy every 10 steps (a failure may undo up to 9 good steps)
    hint = "lower the learning rate, or reset"

    # --- the model -----------------------------------------------------------------------
    def conditional_logits(self, first: torch.Tensor) -> torch.Tensor:
        """Logits of p(second | first) for a batch of first-coordinate cells."""
        return self.net(self._eye[first])

    def _nll(self, cells: torch.Tensor) -> torch.Tensor:
        first = torch.log_softmax(self.first_logits, dim=0)[cells[:, 0]]
        second = torch.log_softmax(self.conditional_logits(cells[:, 0]), dim=1).gather(1, cells[:, 1:2])[:, 0]
        return -(first + second)

    def _step(self) -> dict[str, float]:
        # cross-entropy of both conditionals, teacher-forced (the true first coordinate is fed in)
        metrics = _teacher_forced_step(self, len(self._train), lambda index: self._nll(self._train[index]).mean(),
                                       lambda: self._nll(self._held_out).mean())
        if "held_out_nll" in metrics:
            metrics["held_out_bits_per_dim"] = metrics["held_out_nll"] / (2 * math.log(2))
        return metrics

    @torch.no_grad()
    def ordered_log_table(self) -> torch.Tensor:
        """log p(first = i) + log p(second = j | first = i): (B, B) in the model's own order."""
        B = self.config.bins
        first = torch.log_softmax(self.first_logits, dim=0)
        second = torch.log_softmax(self.conditional_logits(torch.arange(B, device=self.device)), dim=1)
        return first[:, None] + second

    def log_table(self) -> np.ndarray:
        """The model's log-probability of every cell, indexed [x1 cell, x2 cell]."""
        table = to_numpy(self.ordered_log_table())
        return table.T.copy() if self.config.order == "x2_first" else table

    def log_prob(self, cells: np.ndarray) -> np.ndarray:
        """log p(cell) in nats for cells (n, 2) indexed (x1 cell, x2 cell): the sum of the two
        conditional log-probabilities (the chain rule)."""
        cells = np.asarray(cells, dtype=np.int64)
        swap = [1, 0] if self.config.order == "x2_first" else [0, 1]
        with torch.no_grad():
            return -to_numpy(self._nll(torch.as_tensor(cells[:, swap], device=self.device)))

    def conditional(self, value: int, given: str = "x1") -> np.ndarray:
        """p(x2 | x1 = value) (``given="x1"``) or p(x1 | x2 = value), from the joint table."""
        table = np.exp(self.log_table())
        row = table[value, :] if given == "x1" else table[:, value]
        return row / row.sum()

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None) -> dict[str, np.ndarray]:
        """Ancestral sampling (``ancestral_sample``)."""
        return ancestral_sample(self, n, seed, temperature=temperature, top_k=top_k, top_p=top_p)

    def snapshot(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "log_table": self.log_table()}


def _teacher_forced_step(trainer: Any, n_rows: int, batch_loss: Any, held_out_loss: Any) -> dict[str, float]:
    """One Adam step on a random minibatch of row indices (``batch_loss(index)``), and the held-out
    NLL (``held_out_loss()``) at step 1 and every ``config.eval_every`` steps: both models' step."""
    config = trainer.config
    index = torch.randint(0, n_rows, (config.batch_size,), generator=trainer.generator, device=trainer.device)
    loss = batch_loss(index)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    trainer.optimizer.step()
    metrics = {"loss": float(loss.detach())}
    if trainer.iteration == 0 or (trainer.iteration + 1) % max(1, config.eval_every) == 0:
        with torch.no_grad():
            metrics["held_out_nll"] = float(held_out_loss())
    return metrics


@torch.no_grad()
def ancestral_sample(model: GridAutoregressive, n: int, seed: int = 0, *, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None) -> dict[str, np.ndarray]:
    """Draw the first coordinate, then the second given it (the sampling rules apply to each draw).

    Returns ``cells`` (n, 2) indexed (x1 cell, x2 cell), ``points`` (n, 2) uniform inside their
    cells, and the two draws' probabilities ``p_first``, ``p_second`` (n,).
    """
    B = model.config.bins
    generator = torch_generator(derive_seed(seed, "ar-sample"), model.device)
    first_logp = filter_logits(model.first_logits, temperature, top_k, top_p)
    first = torch.multinomial(first_logp.exp(), n, replacement=True, generator=generator)
    second_logp = filter_logits(model.conditional_logits(first), temperature, top_k, top_p)
    second = torch.multinomial(second_logp.exp(), 1, generator=generator)[:, 0]
    ordered = torch.stack([first, second], dim=1)
    cells = to_numpy(ordered)
    if model.config.order == "x2_first":
        cells = cells[:, ::-1].copy()
    jitter = rng(derive_seed(seed, "ar-jitter"))
    low = np.array([b[0] for b in model.bounds])
    width = (np.array([b[1] for b in model.bounds]) - low) / B
    points = low + (cells + jitter.random(cells.shape)) * width
    return {"cells": cells, "points": points, "p_first": to_numpy(first_logp.exp()[first]),
            "p_second": to_numpy(second_logp.exp().gather(1, second[:, None])[:, 0])}


# ----------------------------------------------------------------------------------
# Next-character prediction
# ----------------------------------------------------------------------------------

# A bundled list of given names (no downloads): the corpus of the character model.
NAMES = tuple("""
emma olivia ava isabella sophia mia charlotte amelia harper evelyn abigail emily elizabeth mila ella avery
sofia camila aria scarlett victoria madison luna grace chloe penelope layla riley zoey nora lily eleanor
hannah lillian addison aubrey ellie stella natalie zoe leah hazel violet aurora savannah audrey brooklyn
bella claire skylar lucy paisley everly anna caroline nova genesis emilia kennedy samantha maya willow
kinsley naomi aaliyah elena sarah ariana allison gabriella alice madelyn cora ruby eva serenity autumn
adeline hailey gianna valentina isla eliana quinn nevaeh ivy sadie piper lydia alexa josephine emery
julia delilah arianna vivian kaylee sophie brielle madeline liam noah william james oliver benjamin
elijah lucas mason logan alexander ethan jacob michael daniel henry jackson sebastian aiden matthew
samuel david joseph carter owen wyatt john jack luke jayden dylan grayson levi isaac gabriel julian
mateo anthony jaxon lincoln joshua christopher andrew theodore caleb ryan asher nathan thomas leo
isaiah charles josiah hudson christian hunter connor eli ezra aaron landon adrian jonathan nolan
jeremiah easton elias colton cameron carson robert angel maverick nicholas dominic jaxson greyson
adam ian austin santiago jordan cooper brayden roman evan ezekiel xavier jose jace jameson leonardo
bryson axel everett parker kayden miles sawyer jason declan weston micah ayden wesley luca vincent
damian zachary silas gavin chase kai emmett harrison nathaniel kingston cole tyler bennett bentley
ryker tristan brandon kevin luis george ashton rowan braxton ryder gael ivan diego maxwell max carlos
kaiden juan maddox justin waylon calvin giovanni jonah abel jayce jesus amir king beau camden alex
jasper malachi brody jude blake emmanuel eric brooks elliot antonio abraham timothy finn rhett elliott
edward august xander alan dean lorenzo bryce karter victor milo miguel hayden graham grant zion tucker
""".split())

BOUNDARY = "."  # start and end of a word


@dataclass(frozen=True)
class CharConfig:
    context: int = 3
    embedding: int = 8
    hidden: int = 64
    lr: float = 3e-3
    batch_size: int = 256
    eval_every: int = 5  # held-out NLL every this many steps (and at step 1)
    seed: int = 0


def char_vocabulary(words: tuple[str, ...] | list[str] = NAMES) -> list[str]:
    return [BOUNDARY] + sorted({c for w in words for c in w})


def char_windows(words: tuple[str, ...] | list[str], context: int, vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing pairs: every (previous ``context`` characters, next character) of every word,
    padded with "." at the start, ending with "."."""
    index = {c: i for i, c in enumerate(vocabulary)}
    inputs, targets = [], []
    for word in words:
        padded = [0] * context + [index[c] for c in word] + [0]
        for t in range(context, len(padded)):
            inputs.append(padded[t - context:t])
            targets.append(padded[t])
    return np.array(inputs, dtype=np.int64), np.array(targets, dtype=np.int64)


class CharNet(nn.Module):
    """Embed the context characters, concatenate, one hidden layer, logits over the vocabulary."""

    def __init__(self, vocab: int, context: int, embedding: int, hidden: int, generator: torch.Generator,
                 device: torch.device):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding, device=device)
        with torch.no_grad():
            self.embed.weight.copy_(torch.randn(vocab, embedding, generator=generator, device=device))
        self.body = mlp([context * embedding, hidden, vocab], "tanh", generator=generator, device=device)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.body(self.embed(context).flatten(1))


class CharModel(TorchStepper):
    """Next-character prediction on ``words`` (default: the bundled names), teacher-forced."""

    def __init__(self, config: CharConfig = CharConfig(), words: tuple[str, ...] | list[str] = NAMES,
                 device: torch.device | str | None = None):
        super().__init__()
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.vocabulary = char_vocabulary(words)
        split = rng(derive_seed(config.seed, "char-split"))
        order = split.permutation(len(words))
        held = max(1, len(words) // 10)
        self.held_out_words = [words[i] for i in order[:held]]
        self.train_words = [words[i] for i in order[held:]]
        x, y = char_windows(self.train_words, config.context, self.vocabulary)
        hx, hy = char_windows(self.held_out_words, config.context, self.vocabulary)
        self._x, self._y = torch.as_tensor(x, device=self.device), torch.as_tensor(y, device=self.device)
        self._hx, self._hy = torch.as_tensor(hx, device=self.device), torch.as_tensor(hy, device=self.device)
        generator = torch_generator(derive_seed(config.seed, "char-init"), self.device)
        self.net = CharNet(len(self.vocabulary), config.context, config.embedding, config.hidden, generator,
                           self.device)
        self.optimizer = make_optimizer("adam", self.net.parameters(), config.lr)
        self.generator = torch_generator(derive_seed(config.seed, "char-steps"), self.device)

    modules, optimizers, generators = ("net",), ("optimizer",), ("generator",)
    guard_every = 10

    def _step(self) -> dict[str, float]:
        return _teacher_forced_step(
            self, len(self._x), lambda index: nn.functional.cross_entropy(self.net(self._x[index]), self._y[index]),
            lambda: nn.functional.cross_entropy(self.net(self._hx), self._hy))

    def _context(self, prefix: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.vocabulary)}
        unknown = sorted({c for c in prefix if c not in index or c == BOUNDARY})
        if unknown:
            raise ValueError(f"characters outside the vocabulary: {' '.join(unknown)} (letters a-z only)")
        ids = [0] * self.config.context + [index[c] for c in prefix]
        return torch.as_tensor([ids[-self.config.context:]], device=self.device)

    @torch.no_grad()
    def next_log_probs(self, prefix: str, temperature: float = 1.0, top_k: int | None = None,
                       top_p: float | None = None) -> np.ndarray:
        """log p(next character | prefix) over ``vocabulary`` ("." = end), after the sampling rules."""
        return to_numpy(filter_logits(self.net(self._context(prefix))[0].double(), temperature, top_k, top_p))

    @torch.no_grad()
    def sample_next(self, prefix: str, seed: int = 0, temperature: float = 1.0, top_k: int | None = None,
                    top_p: float | None = None) -> str:
        """One character drawn from p(next | prefix) after the sampling rules ("." ends the word)."""
        probs = np.exp(self.next_log_probs(prefix, temperature, top_k, top_p))
        return self.vocabulary[int(rng(derive_seed(seed, "char-next", prefix)).choice(len(probs), p=probs / probs.sum()))]

    @torch.no_grad()
    def log_prob(self, word: str) -> float:
        """log p(word) = sum over its characters and the end mark of log p(c_t | c_<t) (nats)."""
        self._context(word)  # refuses characters outside the vocabulary, with a clear message
        total = 0.0
        for t, char in enumerate(word + BOUNDARY):
            total += float(self.next_log_probs(word[:t])[self.vocabulary.index(char)])
        return total

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, max_length: int = 20) -> list[str]:
        """``n`` words drawn one character at a time (all words in parallel) until "." or ``max_length``."""
        generator = torch_generator(derive_seed(seed, "char-sample"), self.device)
        context = torch.zeros(n, self.config.context, dtype=torch.int64, device=self.device)
        letters = torch.zeros(n, max_length, dtype=torch.int64, device=self.device)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        for t in range(max_length):
            log_p = filter_logits(self.net(context).double(), temperature, top_k, top_p)
            nxt = torch.multinomial(log_p.exp(), 1, generator=generator)[:, 0]
            nxt = torch.where(done, torch.zeros_like(nxt), nxt)
            letters[:, t] = nxt
            done |= nxt == 0
            context = torch.cat([context[:, 1:], nxt[:, None]], dim=1)
            if bool(done.all()):
                break
        words = []
        for row in to_numpy(letters):
            chars = []
            for i in row:
                if i == 0:
                    break
                chars.append(self.vocabulary[i])
            words.append("".join(chars))
        return words

    def snapshot(self) -> dict[str, Any]:
        return {"iteration": self.iteration}
