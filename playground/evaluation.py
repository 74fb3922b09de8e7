"""Evaluating generative models on samples (lecture 003's evaluation tools, lecture 004's last lecture).

- ``precision_recall_density_coverage``: the k-NN-ball metrics of Kynkäänniemi et al. (2019,
  precision / recall) and Naeem et al. (2020, density / coverage), chunked so that no N x N
  matrix is ever held (the ``prdc`` package builds one). A point on the boundary of a ball
  counts as inside (<=; ``prdc`` uses <): the two agree except on exact ties.
- ``frechet_distance``: FID's formula on raw points, ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r^1/2 S_f S_r^1/2)^1/2),
  with the matrix square root taken through symmetric eigendecompositions, so it is always real.
- ``wasserstein2_exact``: optimal transport between two empirical measures (an assignment for
  equal sizes, a linear programme otherwise).

Sample distances already in ``playground.metrics`` (sliced W2, MMD) are not repeated here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from playground.device import default_device
from playground.distributions import compute_dtype
from playground.metrics import _CHUNK, _as_points, _kth_neighbour_distance


class PRDC(NamedTuple):
    precision: float  # fraction of fake points inside some real ball
    recall: float  # fraction of real points inside some fake ball
    density: float  # mean number of real balls around a fake point, / k (can exceed 1)
    coverage: float  # fraction of real balls that hold at least one fake point


def precision_recall_density_coverage(real: Any, fake: Any, k: int = 5, *, device: torch.device | None = None,
                                      method: str = "auto") -> PRDC:
    """Precision, recall, density and coverage with k-th-nearest-neighbour balls.

    A real point's ball has the radius of its k-th nearest *other* real point (likewise for fake
    points). Points in at most ``KD_TREE_MAX_DIM`` dimensions go through k-d trees (exact float64
    distances, O(N log N), memory for the pairs inside balls only); higher dimensions through
    ``_CHUNK`` rows of distances at a time on ``device`` (``method="trees"`` or ``"chunks"`` forces one).
    """
    device = device or default_device()
    if method not in ("auto", "trees", "chunks"):
        raise ValueError(f"unknown method {method!r}: 'auto', 'trees' or 'chunks'")
    if method == "trees" or (method == "auto" and device.type == "cpu" and np.shape(real)[-1] <= KD_TREE_MAX_DIM):
        real, fake = (p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p for p in (real, fake))
        return _prdc_kdtree(np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64), k)
    dtype = compute_dtype(device)  # float64 (float32 on MPS): ties at a ball's edge decided as NumPy would
    real, fake = _as_points(real, device).to(dtype), _as_points(fake, device).to(dtype)
    real_radii, fake_radii = _kth_neighbour_distance(real, k), _kth_neighbour_distance(fake, k)
    balls_around_fake = []  # per fake point: how many real balls contain it
    for start in range(0, fake.shape[0], _CHUNK):
        distances = torch.cdist(fake[start:start + _CHUNK], real)  # (chunk, n_real)
        balls_around_fake.append((distances <= real_radii[None, :]).sum(dim=1))
    balls = torch.cat(balls_around_fake)
    recalled, covered = [], []
    for start in range(0, real.shape[0], _CHUNK):
        distances = torch.cdist(real[start:start + _CHUNK], fake)  # (chunk, n_fake)
        recalled.append((distances <= fake_radii[None, :]).any(dim=1))
        covered.append(distances.min(dim=1).values <= real_radii[start:start + _CHUNK])
    return PRDC(precision=float((balls > 0).double().mean()), recall=float(torch.cat(recalled).double().mean()),
                density=float(balls.double().mean() / k), coverage=float(torch.cat(covered).double().mean()))


KD_TREE_MAX_DIM = 3
_TIE = 1 + 1e-12  # the tree compares squared distances with r²: a neighbour exactly on the edge stays inside


def _prdc_kdtree(real: np.ndarray, fake: np.ndarray, k: int) -> PRDC:
    """The same four numbers through k-d trees: each ball asks the other set's tree for the points
    it holds (``query_ball_point`` with one radius per ball)."""
    from itertools import chain

    from scipy.spatial import cKDTree

    real, fake = real.reshape(len(real), -1), fake.reshape(len(fake), -1)
    for points in (real, fake):
        if not 1 <= k < len(points):
            raise ValueError(f"k must be between 1 and n - 1 = {len(points) - 1}, got {k}")
    real_tree, fake_tree = cKDTree(real), cKDTree(fake)
    real_radii = real_tree.query(real, k=k + 1)[0][:, k]  # column 0 is the point itself
    fake_radii = fake_tree.query(fake, k=k + 1)[0][:, k]
    held = fake_tree.query_ball_point(real, real_radii * _TIE)  # per real ball: the fake points inside
    counts = np.fromiter(map(len, held), dtype=np.int64, count=len(real))
    precise = np.zeros(len(fake), dtype=bool)
    precise[np.fromiter(chain.from_iterable(held), dtype=np.int64)] = True
    recalled = np.zeros(len(real), dtype=bool)
    recalled[np.fromiter(chain.from_iterable(real_tree.query_ball_point(fake, fake_radii * _TIE)),
                         dtype=np.int64)] = True
    return PRDC(precision=float(precise.mean()), recall=float(recalled.mean()),
                density=float(counts.sum() / (k * len(fake))), coverage=float((counts > 0).mean()))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(real: Any, fake: Any) -> float:
    """The Fréchet distance between Gaussians fitted to the two sets (FID's formula, on the points themselves).

    Biased at small sample sizes (the fitted covariances are noisy): compare values at equal N only.
    """
    real, fake = np.atleast_2d(np.asarray(real, dtype=np.float64)), np.atleast_2d(np.asarray(fake, dtype=np.float64))
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("each set needs at least two points")
    mean_r, mean_f = real.mean(axis=0), fake.mean(axis=0)
    cov_r, cov_f = np.atleast_2d(np.cov(real, rowvar=False)), np.atleast_2d(np.cov(fake, rowvar=False))
    root_r = _sqrt_psd(cov_r)
    cross = _sqrt_psd(root_r @ cov_f @ root_r)  # (S_r^1/2 S_f S_r^1/2)^1/2: symmetric PSD, so always real
    return float(np.sum((mean_r - mean_f) ** 2) + np.trace(cov_r) + np.trace(cov_f) - 2 * np.trace(cross))


def wasserstein1_exact(real: Any, fake: Any) -> float:
    """W1 between two empirical measures of equal size (uniform weights): the mean Euclidean distance
    of the optimal assignment (``linear_sum_assignment``; the optimal plan is a permutation)."""
    real, fake = np.atleast_2d(np.asarray(real, dtype=np.float64)), np.atleast_2d(np.asarray(fake, dtype=np.float64))
    if len(real) != len(fake):
        raise ValueError(f"wasserstein1_exact needs equal sizes, got {len(real)} and {len(fake)}")
    return _assignment_cost(real, fake, "euclidean")


def _assignment_cost(real: np.ndarray, fake: np.ndarray, metric: str) -> float:
    """Mean cost of the optimal one-to-one pairing of two equal-size sets (``linear_sum_assignment``)."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    cost = cdist(real, fake, metric)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def wasserstein2_exact(real: Any, fake: Any) -> float:
    """W2 between the two empirical measures (uniform weights), by exact optimal transport.

    Equal sizes: the optimal plan is a permutation (Birkhoff), found by ``linear_sum_assignment``.
    Otherwise a transport linear programme (HiGHS), meant for a few hundred points a side.
    """
    from scipy.optimize import linprog
    from scipy.spatial.distance import cdist

    real, fake = np.atleast_2d(np.asarray(real, dtype=np.float64)), np.atleast_2d(np.asarray(fake, dtype=np.float64))
    if len(real) == len(fake):
        return float(np.sqrt(_assignment_cost(real, fake, "sqeuclidean")))
    cost = cdist(real, fake, "sqeuclidean")
    n, m = cost.shape
    if n * m > 400_000:
        raise ValueError("unequal sizes are solved as a linear programme: at most ~600 points a side")
    rows = np.zeros((n + m, n * m))
    for i in range(n):
        rows[i, i * m:(i + 1) * m] = 1.0
    for j in range(m):
        rows[n + j, j::m] = 1.0
    marginals = np.concatenate([np.full(n, 1.0 / n), np.full(m, 1.0 / m)])
    result = linprog(cost.ravel(), A_eq=rows[:-1], b_eq=marginals[:-1], bounds=(0, None), method="highs")
    if not result.success:
        raise RuntimeError(f"the transport problem was not solved: {result.message}")
    return float(np.sqrt(max(result.fun, 0.0)))


def knn_radii(points: Any, k: int, *, device: torch.device | None = None) -> np.ndarray:
    """The radius of each point's ball: the distance to its k-th nearest other point of the same set."""
    device = device or default_device()
    return _kth_neighbour_distance(_as_points(points, device), k).cpu().numpy().astype(np.float64)


# ----------------------------------------------------------------------------------
# The sandbox: a "generated" set made from the real distribution with known defects
# ----------------------------------------------------------------------------------

class Defects(NamedTuple):
    """What is wrong with a made-up generator: each knob moves the metrics a known way."""

    shift: float = 0.0  # every point moved right by this much
    scale: float = 1.0  # spread around the mean: < 1 too narrow (precision up, recall down), > 1 too wide
    dropped_modes: int = 0  # mixture components never generated (mode collapse)
    outliers: float = 0.0  # fraction of points replaced by uniform noise over a box twice the target's
    memorised: float = 0.0  # fraction of points that are copies of training points (no novelty)


def generated_set(target: Any, n: int, defects: Defects = Defects(), *, seed: int = 0,
                  training: np.ndarray | None = None) -> np.ndarray:
    """``n`` points from ``target`` with ``defects`` (see ``Defects``); ``training`` is what is memorised."""
    from playground.distributions import GaussianMixture
    from playground.seeding import derive_seed, rng

    draw = rng(derive_seed(seed, "generated"))
    mixture = getattr(target, "mixture", None)
    if defects.dropped_modes:
        if mixture is None or len(mixture.weights) <= defects.dropped_modes:
            raise ValueError("dropping modes needs a mixture target with more modes than that")
        weights = np.array(mixture.weights, dtype=np.float64)
        weights[np.argsort(-weights, kind="stable")[:defects.dropped_modes]] = 0.0  # the largest modes vanish
        points = GaussianMixture(weights, mixture.means, mixture.covariances, device="cpu").sample(n, draw)
    else:
        points = np.asarray(target.sample(n, derive_seed(seed, "generated-target")), dtype=np.float64)
    center = points.mean(axis=0)
    points = center + defects.scale * (points - center)
    points[:, 0] += defects.shift
    if defects.outliers > 0:
        count = int(round(defects.outliers * n))
        low = np.array([b[0] for b in target.bounds], dtype=np.float64)
        high = np.array([b[1] for b in target.bounds], dtype=np.float64)
        middle, half = (low + high) / 2, (high - low)  # a box twice as wide as the target's
        points[:count] = middle - half + 2 * half * draw.random((count, points.shape[1]))
    if defects.memorised > 0:
        if training is None:
            raise ValueError("memorised points need the training set")
        count = int(round(defects.memorised * n))
        points[n - count:] = training[draw.choice(len(training), size=count, replace=True)]
    return points


def sample_size_curves(target: Any, defects: Defects, sizes: list[int], k: int = 5, *, seed: int = 0) -> dict:
    """PRDC and the Fréchet distance against the sample size N (fresh real and generated sets of N each):
    the bias the issue's users trip on (density and FID move with N, coverage much less)."""
    from playground.seeding import derive_seed

    rows = {name: [] for name in ("precision", "recall", "density", "coverage", "frechet")}
    for n in sizes:
        real = np.asarray(target.sample(n, derive_seed(seed, "curve-real", n)), dtype=np.float64)
        fake = generated_set(target, n, defects, seed=derive_seed(seed, "curve-fake", n), training=real)
        scores = precision_recall_density_coverage(real, fake, min(k, n - 1))
        for name in ("precision", "recall", "density", "coverage"):
            rows[name].append(getattr(scores, name))
        rows["frechet"].append(frechet_distance(real, fake))
    return {"sizes": np.asarray(sizes), **{name: np.asarray(v) for name, v in rows.items()}}


def balls_holding(centers: Any, radii: Any, others: Any, *, device: torch.device | None = None) -> np.ndarray:
    """For each ball B(centers[i], radii[i]): whether it holds at least one of ``others`` (<=)."""
    device = device or default_device()
    centers, others = _as_points(centers, device), _as_points(others, device)
    radii = torch.as_tensor(np.asarray(radii), dtype=centers.dtype, device=device)
    hit = []
    for start in range(0, centers.shape[0], _CHUNK):
        distances = torch.cdist(centers[start:start + _CHUNK], others)
        hit.append(distances.min(dim=1).values <= radii[start:start + _CHUNK])
    return torch.cat(hit).cpu().numpy()


def closer_to_training(training: Any, fresh: Any, fake: Any, *, device: torch.device | None = None) -> float:
    """Fraction of generated points whose nearest training point is nearer than their nearest fresh
    (held-out) real point. A generator that does not copy scores about 1/2 when the two real sets
    have the same size; copies of training points push it towards 1 (no novelty)."""
    device = device or default_device()
    training, fresh, fake = (_as_points(p, device) for p in (training, fresh, fake))
    closer = []
    for start in range(0, fake.shape[0], _CHUNK):
        chunk = fake[start:start + _CHUNK]
        closer.append(torch.cdist(chunk, training).min(dim=1).values < torch.cdist(chunk, fresh).min(dim=1).values)
    return float(torch.cat(closer).double().mean())


def mmd_permutation_test(real: Any, fake: Any, bandwidth: float | None = None, *, permutations: int = 200,
                         seed: int = 0, device: torch.device | None = None) -> tuple[float, float]:
    """(MMD², p-value) of the two-sample test "both sets come from one distribution".

    The kernel matrix of the pooled sets is computed once; each permutation relabels it. The
    p-value is (1 + #{permuted MMD² >= observed}) / (1 + permutations) (Phipson and Smyth), so it is
    never 0. ``bandwidth=None``: the median heuristic on the pooled sets.
    """
    from playground.metrics import gaussian_kernel, median_bandwidth
    from playground.seeding import torch_generator

    device = device or default_device()
    x, y = _as_points(real, device).double(), _as_points(fake, device).double()
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("each set needs at least two points")
    h = bandwidth if bandwidth is not None else median_bandwidth(x, y)
    pooled = torch.cat([x, y])
    kernel = gaussian_kernel(pooled, pooled, h)
    kernel.fill_diagonal_(0.0)  # the unbiased statistic leaves k(x_i, x_i) out

    def statistic(labels: torch.Tensor) -> torch.Tensor:
        a, b = labels.double(), 1.0 - labels.double()
        within_a = a @ kernel @ a / (n * (n - 1))
        within_b = b @ kernel @ b / (m * (m - 1))
        across = a @ kernel @ b / (n * m)
        return within_a + within_b - 2 * across

    labels = torch.cat([torch.ones(n, device=device), torch.zeros(m, device=device)])
    observed = statistic(labels)
    generator = torch_generator(seed, device)
    exceed = 0
    for _ in range(permutations):
        shuffled = labels[torch.randperm(n + m, generator=generator, device=device)]
        exceed += int(statistic(shuffled) >= observed)
    return float(observed), (1 + exceed) / (1 + permutations)


# ----------------------------------------------------------------------------------
# Images: scores in the feature space of a small digit classifier ("Inception-like")
# ----------------------------------------------------------------------------------

class DigitClassifier:
    """A small MLP classifier of 8x8 digits (64 -> 128 -> 32 -> 10, ReLU), trained full-batch
    with Adam on a seeded split. Its 32 penultimate activations play the role Inception-v3's
    2,048 pool features play in FID; its softmax the role of Inception's class probabilities in
    the Inception score. It is *not* Inception: numbers computed here are comparable with each
    other, never with published FID or IS values."""

    def __init__(self, x_train: np.ndarray, y_train: np.ndarray, *, epochs: int = 400, seed: int = 0,
                 device: torch.device | None = None) -> None:
        from playground.nets import make_optimizer, mlp
        from playground.seeding import torch_generator

        self.device = device or default_device()
        generator = torch_generator(seed, "cpu")
        self.body = mlp([x_train.shape[1], 128, 32], generator=generator).to(self.device)
        self.head = mlp([32, int(np.max(y_train)) + 1], generator=generator).to(self.device)
        x = torch.as_tensor(x_train, dtype=torch.float32, device=self.device)
        y = torch.as_tensor(y_train, dtype=torch.long, device=self.device)
        optimizer = make_optimizer("adam", [*self.body.parameters(), *self.head.parameters()], 1e-2)
        for _ in range(int(epochs)):
            loss = torch.nn.functional.cross_entropy(self.head(torch.relu(self.body(x))), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        self.body.eval(), self.head.eval()

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        """The penultimate activations (n, 32), float64."""
        x = torch.as_tensor(np.asarray(images), dtype=torch.float32, device=self.device)
        return torch.relu(self.body(x)).double().cpu().numpy()

    @torch.no_grad()
    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """p(y | x) for each image (n, 10), float64."""
        x = torch.as_tensor(np.asarray(images), dtype=torch.float32, device=self.device)
        return torch.softmax(self.head(torch.relu(self.body(x))).double(), dim=1).cpu().numpy()

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(self.probabilities(images).argmax(axis=1) == np.asarray(labels)))


def inception_score(probabilities: Any) -> float:
    """exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the set: between 1 (every image
    gets the same class distribution) and the number of classes (each image one sure class, the
    classes used equally). It never looks at real data."""
    p = np.asarray(probabilities, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def digit_sets(x_train: np.ndarray, x_fresh: np.ndarray, y_fresh: np.ndarray, *, n: int = 300, seed: int = 0,
               vae_samples: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Made-up "generators" of digits whose defects are known, each ``n`` images in [0, 1]:
    real digits never used elsewhere (``x_fresh``), the same with pixel noise, one class only
    (mode collapse), copies of ``x_train`` (memorised), uniform noise; plus a VAE's samples when given."""
    g = np.random.default_rng(seed)
    x_test, y_test = x_fresh, y_fresh
    real = x_test[g.choice(len(x_test), n, replace=len(x_test) < n)]
    noisy = np.clip(real + 0.35 * g.standard_normal(real.shape), 0, 1)
    ones = x_test[y_test == 1]
    collapsed = ones[g.choice(len(ones), n, replace=len(ones) < n)]
    copies = x_train[g.choice(len(x_train), n, replace=len(x_train) < n)]
    sets = {"held-out real digits": real, "real + pixel noise": noisy, "one class only (collapse)": collapsed,
            "copies of training digits": copies, "uniform noise": g.random(real.shape)}
    if vae_samples is not None:
        sets["VAE samples"] = np.asarray(vae_samples)[:n]
    return {name: images.astype(np.float32) for name, images in sets.items()}


def feature_space_scores(classifier: DigitClassifier, reference: np.ndarray, images: np.ndarray,
                         training: np.ndarray | None = None, k: int = 5) -> dict[str, float]:
    """Inception-like score, Fréchet distance, precision and recall of ``images`` in the
    classifier's feature space against ``reference`` (held-out real images), and, with
    ``training``, the share of images whose nearest feature neighbour is a training image rather
    than a held-out one (1/2 without copying)."""
    real_features, fake_features = classifier.features(reference), classifier.features(images)
    scores = precision_recall_density_coverage(real_features, fake_features, k)
    out = {"IS-like": inception_score(classifier.probabilities(images)),
           "Fréchet (features)": frechet_distance(real_features, fake_features),
           "precision": scores.precision, "recall": scores.recall}
    if training is not None:
        same_size = np.asarray(training)[:len(reference)]  # equal sizes: 1/2 means no copying
        out["closer to training"] = closer_to_training(classifier.features(same_size), real_features, fake_features)
    return out


def digits_report(*, seed: int = 0, n: int = 300, vae_epochs: int = 30, classifier_epochs: int = 400,
                  device: torch.device | None = None) -> dict[str, Any]:
    """Everything the evaluation page's digits section shows, from scikit-learn's bundled digits.

    The 1,797 digits are split (seeded) into training images (the classifier and the VAE learn
    from them) and held-out ones; the held-out images are halved into the *reference* set every
    score compares with and a *fresh* set the "held-out real digits" generator draws from, so
    that no generated set shares an image with the reference. Copies and the novelty test use the
    first ``len(reference)`` training images (equal sizes: "closer to training" is 1/2 without copying).
    """
    from playground.autoencoders import AutoencoderConfig, AutoencoderTrainer
    from playground.images import load_digits

    split = load_digits().split(0.4, seed=seed)
    half = len(split.x_test) // 2
    reference, fresh, y_fresh = split.x_test[:half], split.x_test[half:], split.y_test[half:]
    training = split.x_train[:half]
    classifier = DigitClassifier(split.x_train, split.y_train, epochs=classifier_epochs, seed=seed, device=device)
    vae = AutoencoderTrainer(split.x_train, config=AutoencoderConfig(seed=seed), device=device)
    vae.step(int(vae_epochs))
    sets = digit_sets(training, fresh, y_fresh, n=n, seed=seed, vae_samples=vae.sample_prior(n, seed))
    scores = {name: feature_space_scores(classifier, reference, images, training) for name, images in sets.items()}
    return {"accuracy": classifier.accuracy(reference, split.y_test[:half]), "sets": sets, "scores": scores,
            "n_reference": half, "vae_epochs": int(vae_epochs)}
