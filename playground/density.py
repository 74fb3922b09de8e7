"""Non-parametric and simple parametric density estimators: histogram, Gaussian MLE, KDE.

All three are scikit-learn estimators (``BaseEstimator`` + ``DensityMixin``: ``fit``,
``score_samples`` = log density, ``score`` = total log-likelihood, ``get_params``,
``clone``, ``GridSearchCV``; fitted attributes end in ``_``; input validated by
scikit-learn's helpers, see ``playground.validation``), plus ``sample(n, seed)``. They are the lecture's basis expansions (seed 003)

    p_hat(x) = sum_j a_j k_h(x, mu_j),    a_j >= 0,  sum_j a_j = 1,

with one box per histogram cell, one kernel per data point (KDE), or one Gaussian.

The KDE runs in torch on the chosen device. Its log density is a log-sum-exp over the
training points, evaluated in chunks so memory stays bounded; two exact fast paths
evaluate a Gaussian KDE on a regular grid (a separable matrix product in 2D, a binned
Taylor expansion with an FFT convolution in 1D), and fall back to the direct sum for
any grid point where they could lose precision.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(500, 1))
>>> kde = KernelDensity(bandwidth="scott").fit(x)
>>> round(float(kde.bandwidth_), 3)
0.293
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np
import torch
from scipy import integrate
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import _check_sample_weight

from playground.device import default_device
from playground.distributions import GaussianMixture
from playground.seeding import SeedLike, rng
from playground.validation import check_is_fitted, check_X

KERNELS = ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")  # scikit-learn's six
COMPACT_KERNELS = ("tophat", "epanechnikov", "linear", "cosine")  # zero beyond r = h
BANDWIDTH_RULES = ("scott", "silverman")
BIN_RULES = ("sturges", "fd")
MAX_BINS_PER_AXIS = 5_000
MAX_CELLS = 4_000_000
DEFAULT_CHUNK_BYTES = 32 * 2**20  # one (chunk, N) work array; at most ~6 live at once -> < 256 MB peak
CACHE_CHUNK_BYTES = 2 * 2**20  # on CPUs, chunks this small stay in cache and run several times faster


# ----------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------

def as_2d(X: np.ndarray) -> np.ndarray:
    """(n,) or (n, d) array-like -> float64 (n, d) array; rejects NaN/inf."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"expected an (n, d) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("the data contain NaN or infinite values")
    return X


def effective_sample_size(weights: np.ndarray | None, n: int) -> float:
    """(sum w)^2 / sum w^2 (Kish; SciPy's ``gaussian_kde.neff``); n without weights."""
    if weights is None:
        return float(n)
    weights = np.asarray(weights, dtype=np.float64)
    return float(weights.sum() ** 2 / np.sum(weights**2))


def pooled_std(X: np.ndarray, weights: np.ndarray | None = None) -> float:
    """sqrt of the mean per-axis variance, unbiased (ddof = 1; with weights, NumPy's
    ``cov(aweights=)`` correction, as SciPy's ``gaussian_kde``): the scale of the bandwidth rules."""
    X = as_2d(X)
    if len(X) < 2:
        return 1.0
    if weights is None:
        return float(np.sqrt(np.mean(np.var(X, axis=0, ddof=1))))
    w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    mean = w @ X
    correction = 1.0 - np.sum(w**2)
    if correction <= 0:
        return 1.0
    return float(np.sqrt(np.mean(w @ (X - mean) ** 2) / correction))


def scott_bandwidth(X: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Scott's rule h = sigma * n^(-1/(d+4)): SciPy's ``gaussian_kde`` factor times the data's spread
    (n = the effective sample size with weights, as SciPy). scikit-learn's ``bandwidth="scott"``
    is the factor alone, n^(-1/(d+4)), meant for standardised data."""
    X = as_2d(X)
    d = X.shape[1]
    return pooled_std(X, weights) * effective_sample_size(weights, len(X)) ** (-1.0 / (d + 4))


def silverman_bandwidth(X: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Silverman's rule h = sigma * (n (d+2) / 4)^(-1/(d+4)); in 1D about 1.06 sigma n^(-1/5)
    (SciPy's factor times the spread; scikit-learn's is the factor alone)."""
    X = as_2d(X)
    d = X.shape[1]
    n = effective_sample_size(weights, len(X))
    return pooled_std(X, weights) * (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))


def sturges_bins(n: int) -> int:
    """Sturges' rule: ceil(log2 n) + 1 bins."""
    return int(math.ceil(math.log2(max(n, 1)))) + 1


def freedman_diaconis_width(x: np.ndarray) -> float:
    """Freedman-Diaconis rule: bin width 2 IQR n^(-1/3) (0 when the IQR is 0)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    q75, q25 = np.percentile(x, [75, 25])
    return float(2.0 * (q75 - q25) * len(x) ** (-1.0 / 3.0))


# ----------------------------------------------------------------------------------
# Histogram
# ----------------------------------------------------------------------------------

class Histogram(DensityMixin, BaseEstimator):
    """Histogram density: p(x) = count(cell of x) / (N * cell volume), in any dimension.

    ``bins``: an int (bins per axis) or a rule, "sturges" or "fd" (Freedman-Diaconis);
    ``bin_width`` (float) overrides ``bins``. ``range``: one (low, high) per axis,
    default the data's range.
    """

    def __init__(self, bins: int | str = "sturges", bin_width: float | None = None,
                 range: Sequence[tuple[float, float]] | None = None) -> None:
        self.bins = bins
        self.bin_width = bin_width
        self.range = range

    def _axis_edges(self, column: np.ndarray, low: float, high: float) -> np.ndarray:
        span = high - low
        if span <= 0:  # all values equal: one cell of width 1 around them
            return np.array([low - 0.5, high + 0.5])
        if self.bin_width is not None:
            if not self.bin_width > 0:
                raise ValueError("bin_width must be positive")
            count = int(math.ceil(span / self.bin_width))
        elif isinstance(self.bins, str):
            if self.bins == "sturges":
                count = sturges_bins(len(column))
            elif self.bins == "fd":
                width = freedman_diaconis_width(column)
                count = int(math.ceil(span / width)) if width > 0 else 1
            else:
                raise ValueError(f"unknown bin rule {self.bins!r}; use one of {BIN_RULES} or an int")
        else:
            count = int(self.bins)
            if count < 1:
                raise ValueError("bins must be at least 1")
        count = max(1, min(count, MAX_BINS_PER_AXIS))
        if self.bin_width is not None and count < MAX_BINS_PER_AXIS:
            return low + self.bin_width * np.arange(count + 1)
        return np.linspace(low, high, count + 1)

    def fit(self, X: Any, y: Any = None) -> "Histogram":
        """Choose the edges per axis and count the points in each cell."""
        X = check_X(self, X, reset=True)
        ranges = self.range or [(float(c.min()), float(c.max())) for c in X.T]
        if len(ranges) != X.shape[1]:
            raise ValueError(f"range has {len(ranges)} axes, the data have {X.shape[1]}")
        self.edges_ = [self._axis_edges(c, lo, hi) for c, (lo, hi) in zip(X.T, ranges)]
        cells = int(np.prod([len(e) - 1 for e in self.edges_]))
        if cells > MAX_CELLS:
            raise ValueError(f"{cells:,} cells is too many (limit {MAX_CELLS:,}): use wider bins")
        self.counts_, _ = np.histogramdd(X, bins=self.edges_)
        self.n_samples_ = len(X)
        self.cell_volume_ = np.prod(np.meshgrid(*[np.diff(e) for e in self.edges_], indexing="ij"), axis=0)
        self.density_ = self.counts_ / (self.n_samples_ * self.cell_volume_)
        return self

    def _cell_index(self, X: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        index, inside = [], np.ones(len(X), dtype=bool)
        for column, edges in zip(X.T, self.edges_):
            i = np.searchsorted(edges, column, side="right") - 1
            i = np.where(column == edges[-1], len(edges) - 2, i)  # last edge belongs to the last bin
            inside &= (i >= 0) & (i < len(edges) - 1)
            index.append(np.clip(i, 0, len(edges) - 2))
        return tuple(index), inside

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """log p(x) per row; -inf outside the edges or in an empty cell."""
        X = check_X(self, X, reset=False)
        index, inside = self._cell_index(X)
        with np.errstate(divide="ignore"):
            return np.where(inside, np.log(self.density_[index]), -np.inf)

    def score(self, X: Any, y: Any = None) -> float:
        """Total log-likelihood of X."""
        return float(self.score_samples(X).sum())

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Pick a cell with probability count / N, then a uniform point inside it."""
        check_is_fitted(self)
        generator = rng(seed)
        flat = self.counts_.ravel() / self.counts_.sum()
        cells = np.unravel_index(generator.choice(flat.size, size=n, p=flat), self.counts_.shape)
        columns = []
        for axis, edges in enumerate(self.edges_):
            low, high = edges[cells[axis]], edges[cells[axis] + 1]
            columns.append(low + (high - low) * generator.random(n))
        return np.stack(columns, axis=1)

    @property
    def n_parameters(self) -> int:
        """Free parameters: one probability per cell, minus one (they sum to 1)."""
        check_is_fitted(self)
        return int(self.counts_.size - 1)


# ----------------------------------------------------------------------------------
# Single Gaussian by maximum likelihood
# ----------------------------------------------------------------------------------

class GaussianMLE(DensityMixin, BaseEstimator):
    """One Gaussian fitted by maximum likelihood: mu = mean, Sigma = (1/N) sum (x - mu)(x - mu)^T.

    ``reg_covar`` is added to the diagonal (as in scikit-learn) so that a degenerate
    sample (one repeated point, points on a line) still gives a proper density.
    """

    def __init__(self, reg_covar: float = 1e-6) -> None:
        self.reg_covar = reg_covar

    def fit(self, X: Any, y: Any = None) -> "GaussianMLE":
        """Closed-form MLE: the sample mean and the biased (1/N) sample covariance."""
        X = check_X(self, X, reset=True)
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        self.covariance_ = centred.T @ centred / len(X) + self.reg_covar * np.eye(X.shape[1])
        self.cholesky_ = np.linalg.cholesky(self.covariance_)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """log N(x; mu, Sigma) (``playground.distributions``)."""
        X = check_X(self, X, reset=False)
        return GaussianMixture.gaussian(self.mean_, self.covariance_, "cpu").log_prob(X)

    def score(self, X: Any, y: Any = None) -> float:
        """Total log-likelihood of X."""
        return float(self.score_samples(X).sum())

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """x = mu + L z, z ~ N(0, I) (Cholesky sampling)."""
        check_is_fitted(self)
        z = rng(seed).standard_normal((n, len(self.mean_)))
        return self.mean_ + z @ self.cholesky_.T

    @property
    def n_parameters(self) -> int:
        """d means + d(d+1)/2 covariance entries."""
        check_is_fitted(self)
        d = len(self.mean_)
        return d + d * (d + 1) // 2


# ----------------------------------------------------------------------------------
# Kernel density estimation: the math
# ----------------------------------------------------------------------------------

def _unit_sphere_log_area(dim: int) -> float:
    """log of the area of the unit sphere in R^d, 2 pi^(d/2) / Gamma(d/2)."""
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)


@functools.lru_cache(maxsize=64)
def _log_radial_integral(kernel: str, dim: int) -> float:
    """log of int_0^inf k(t) t^(d-1) dt for the kernel's profile k with h = 1."""
    if kernel == "gaussian":  # int e^(-t^2/2) t^(d-1) dt = 2^(d/2 - 1) Gamma(d/2)
        return (0.5 * dim - 1.0) * math.log(2.0) + math.lgamma(0.5 * dim)
    if kernel == "tophat":
        return -math.log(dim)
    if kernel == "epanechnikov":  # 1/d - 1/(d+2)
        return math.log(2.0 / (dim * (dim + 2)))
    if kernel == "exponential":  # Gamma(d)
        return math.lgamma(dim)
    if kernel == "linear":  # 1/d - 1/(d+1)
        return -math.log(dim * (dim + 1))
    if kernel == "cosine":
        value, _ = integrate.quad(lambda t: math.cos(0.5 * math.pi * t) * t ** (dim - 1), 0.0, 1.0,
                                  epsabs=0.0, epsrel=1e-13)
        return math.log(value)
    raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")


def log_kernel_norm(bandwidth: float, dim: int, kernel: str) -> float:
    """log of the constant that makes the kernel integrate to 1 in ``dim`` dimensions:
    1 / (area of the unit sphere * h^d * int_0^inf k(t) t^(d-1) dt), with k the profile
    below (gaussian: (2 pi h^2)^(-d/2); tophat: 1 / V_d(h); epanechnikov: (d+2) / (2 V_d(h))).
    """
    return -(_unit_sphere_log_area(dim) + dim * math.log(bandwidth) + _log_radial_integral(kernel, dim))


def log_kernel_profile(squared_distance: torch.Tensor, bandwidth: float, kernel: str) -> torch.Tensor:
    """Unnormalised log kernel of r^2, scikit-learn's six: gaussian -r^2/2h^2, exponential -r/h;
    inside r < h (else -inf): tophat 0, epanechnikov log(1 - r^2/h^2), linear log(1 - r/h),
    cosine log cos(pi r / 2h)."""
    scaled = squared_distance / (bandwidth * bandwidth)
    if kernel == "gaussian":
        return -0.5 * scaled
    if kernel == "exponential":
        return -torch.sqrt(scaled)
    if kernel not in COMPACT_KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")
    inside = scaled < 1.0
    ratio = scaled.clamp(max=1.0)
    if kernel == "tophat":
        values = torch.zeros_like(scaled)
    elif kernel == "epanechnikov":
        values = torch.log1p(-ratio)
    elif kernel == "linear":
        values = torch.log1p(-torch.sqrt(ratio))
    else:
        values = torch.log(torch.cos(0.5 * math.pi * torch.sqrt(ratio)))
    return torch.where(inside, values, torch.full_like(scaled, -math.inf))


def _exp_floor(dtype: torch.dtype) -> float:
    # exp() below these arguments returns denormals, which run ~100x slower on CPUs;
    # the dropped terms are < e^-80 (float32) or e^-700 (float64) of the largest one.
    return -80.0 if dtype == torch.float32 else -700.0


def logsumexp_rows(values: torch.Tensor) -> torch.Tensor:
    """log sum_j exp(values[:, j]), stable, with no denormal exp() calls; -inf rows stay -inf."""
    peak = values.max(dim=1, keepdim=True).values
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    shifted = values - peak
    shifted = torch.where(shifted < _exp_floor(values.dtype), torch.full_like(shifted, -math.inf), shifted)
    return torch.log(torch.exp(shifted).sum(dim=1)) + peak.squeeze(1)


def _gaussian_logsumexp_(squared: torch.Tensor, bandwidth: float, log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """logsumexp_j(-squared[:, j] / 2h^2 + log w_j), in place on ``squared`` (fewest passes over memory).

    Arguments below the denormal floor are clamped to it: each such term is < e^-700
    (float64) or e^-80 (float32) of the largest, so the sum moves by far less than one ulp.
    """
    scaled = squared.mul_(-0.5 / (bandwidth * bandwidth))
    if log_weights is not None:
        scaled.add_(log_weights)
    peak = scaled.max(dim=1, keepdim=True).values
    total = scaled.sub_(peak).clamp_(min=_exp_floor(scaled.dtype)).exp_().sum(dim=1)
    return torch.log(total) + peak.squeeze(1)


def _squared_distances(points: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """(m, d), (n, d) -> (m, n) squared Euclidean distances, axis by axis (no cancellation)."""
    total = (points[:, 0, None] - data[None, :, 0]).square_()
    for axis in range(1, points.shape[1]):
        total += (points[:, axis, None] - data[None, :, axis]).square_()
    return total


def chunk_rows(n_data: int, dtype: torch.dtype, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """How many evaluation points per chunk so that one (chunk, n_data) array fits in ``chunk_bytes``."""
    itemsize = torch.finfo(dtype).bits // 8
    return max(1, int(chunk_bytes // (itemsize * max(n_data, 1))))


def kde_log_density(points: np.ndarray, data: np.ndarray, bandwidth: float, kernel: str = "gaussian", *,
                    device: torch.device | None = None, dtype: torch.dtype = torch.float64,
                    chunk_bytes: int = DEFAULT_CHUNK_BYTES, weights: np.ndarray | None = None) -> np.ndarray:
    """log p_hat(x) = logsumexp_i [log k_h(x - x_i) + log w_i] - log sum_i w_i + log norm, for each
    row of ``points`` (w_i = 1 without ``weights``).

    The (points x data) work array is built ``chunk`` rows at a time so that one such
    array never exceeds ``chunk_bytes``. Compact kernels only visit the data whose first
    coordinate lies within h of the chunk (data sorted once along that axis).
    """
    points, data = as_2d(points), as_2d(data)
    device = device or default_device()
    n, dim = data.shape
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")
    order = np.argsort(data[:, 0], kind="stable")
    data_sorted = data[order]
    data_t = torch.as_tensor(data_sorted, dtype=dtype, device=device)
    log_weights = None
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_weights = torch.as_tensor(np.log(weights[order]), dtype=dtype, device=device)
    first_axis = data_t[:, 0].contiguous()
    point_order = np.argsort(points[:, 0], kind="stable")
    points_t = torch.as_tensor(points[point_order], dtype=dtype, device=device)
    if device.type == "cpu":
        chunk_bytes = min(chunk_bytes, CACHE_CHUNK_BYTES)
    rows = chunk_rows(n, dtype, chunk_bytes)
    out = torch.empty(len(points), dtype=dtype, device=device)
    compact = kernel in COMPACT_KERNELS
    for start in range(0, len(points), rows):
        chunk = points_t[start:start + rows]
        lo, hi = 0, n
        if compact:
            bounds = torch.stack([chunk[0, 0] - bandwidth, chunk[-1, 0] + bandwidth]).contiguous()
            lo, hi = (int(i) for i in torch.searchsorted(first_axis, bounds).tolist())
        if hi <= lo:
            out[start:start + rows] = -math.inf
            continue
        squared = _squared_distances(chunk, data_t[lo:hi])
        chunk_log_weights = None if log_weights is None else log_weights[lo:hi]
        if kernel == "gaussian":
            out[start:start + rows] = _gaussian_logsumexp_(squared, bandwidth, chunk_log_weights)
        else:
            profile = log_kernel_profile(squared, bandwidth, kernel)
            if chunk_log_weights is not None:
                profile = profile + chunk_log_weights
            out[start:start + rows] = logsumexp_rows(profile)
    result = np.empty(len(points))
    result[point_order] = out.cpu().numpy()
    total = math.log(n) if weights is None else math.log(float(weights.sum()))
    return result - total + log_kernel_norm(bandwidth, dim, kernel)


# ----------------------------------------------------------------------------------
# Exact fast paths for a Gaussian KDE on a regular grid
# ----------------------------------------------------------------------------------

TAYLOR_TERMS = 24  # truncation of exp(-t s) = sum_p (-t s)^p / p!; with |s| <= 1/2 the error is < 1e-19
MAX_OFFSET = 0.5  # grid spacing / (2 h) must stay below this (h >= spacing) for the Taylor path
RESOLVABLE = 1e-5  # FFT values below this fraction of the peak are recomputed directly (FFT error ~1e-15 of peak)


def _regular_spacing(axis: np.ndarray) -> float | None:
    steps = np.diff(axis)
    if len(axis) < 2 or steps[0] <= 0 or not np.allclose(steps, steps[0], rtol=1e-9, atol=0):
        return None
    return float(steps[0])


def _powers(values: torch.Tensor, count: int) -> torch.Tensor:
    """(n,) -> (count, n): values^0, values^1, ... by repeated products (cheaper than pow)."""
    rows = [torch.ones_like(values)]
    for _ in range(count - 1):
        rows.append(rows[-1] * values)
    return torch.stack(rows)


def _gaussian_grid_1d(axis: np.ndarray, x: np.ndarray, h: float, device: torch.device) -> np.ndarray | None:
    """log of sum_i exp(-(g_j - x_i)^2 / 2h^2) on a regular grid g_j, or None if not applicable.

    Each point is written x_i = g_(m_i) - s_i h with g_(m_i) its nearest lattice node
    (same spacing as the grid, extended beyond it); then with t = (j - m) spacing / h,
    exp(-(t + s)^2/2) = e^(-t^2/2) e^(-s^2/2) e^(-ts) = sum_p [t^p e^(-t^2/2)] [(-s)^p e^(-s^2/2) / p!]:
    a sum of TAYLOR_TERMS convolutions of lattice weights with fixed kernels, done by FFT.
    Grid values the FFT cannot resolve (tails below RESOLVABLE of the peak) are returned as NaN.
    """
    spacing = _regular_spacing(axis)
    if spacing is None or spacing / (2 * h) > MAX_OFFSET:
        return None
    size = len(axis)
    dtype = torch.float64
    x_t = torch.as_tensor(x, dtype=dtype, device=device)
    node = torch.round((x_t - axis[0]) / spacing)
    on_lattice = (node >= -size) & (node < 2 * size)  # three grid widths; the rest are summed directly
    node_in = node[on_lattice].long() + size  # 0 .. 3 size - 1
    s = (node[on_lattice] * spacing + axis[0] - x_t[on_lattice]) / h  # x = g_m - s h, |s| <= spacing / 2h
    factorials = torch.exp(torch.lgamma(torch.arange(TAYLOR_TERMS, dtype=dtype, device=device) + 1))
    # weights[p, m] = sum over points in node m of (-s)^p e^(-s^2/2) / p!
    terms = _powers(-s, TAYLOR_TERMS) * torch.exp(-0.5 * s * s)[None, :] / factorials[:, None]
    weights = torch.zeros(TAYLOR_TERMS, 3 * size, dtype=dtype, device=device)
    weights.index_add_(1, node_in, terms)
    lags = torch.arange(-3 * size + 1, size, dtype=dtype, device=device)  # j - m for j in grid, m in lattice
    t = lags * spacing / h
    kernels = _powers(t, TAYLOR_TERMS) * torch.exp(-0.5 * t * t)[None, :]
    length = 1 << int(math.ceil(math.log2(weights.shape[1] + kernels.shape[1])))
    spectrum = (torch.fft.rfft(weights, n=length) * torch.fft.rfft(kernels, n=length)).sum(dim=0)
    full = torch.fft.irfft(spectrum, n=length)
    # full[k] = sum_m' w[m'] c[k - m'], lattice m' = m + size, kernel index q = lag + 3 size - 1,
    # lag = j - m: grid point j sits at k = j + 4 size - 1.
    total = full[4 * size - 1: 5 * size - 1]
    resolvable = total > RESOLVABLE * total.max().clamp(min=1e-300)
    with torch.no_grad():
        log_total = torch.where(resolvable, torch.log(total.clamp(min=1e-300)), torch.full_like(total, math.nan))
    result = log_total.cpu().numpy()
    off = x[~on_lattice.cpu().numpy()]
    if len(off):  # far outliers: exact direct sum, added in log space
        direct = kde_log_density(axis, off, h, "gaussian", device=device) \
            + math.log(len(off)) - log_kernel_norm(h, 1, "gaussian")
        with np.errstate(invalid="ignore"):  # NaN (unresolved) stays NaN and is recomputed
            result = np.logaddexp(result, direct)
    return result


def _nearest_gap(axis: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """For each grid coordinate, the distance to the nearest data coordinate (sorted search)."""
    sorted_values = torch.sort(values).values
    index = torch.searchsorted(sorted_values, axis)
    below = sorted_values[(index - 1).clamp(min=0)]
    above = sorted_values[index.clamp(max=len(sorted_values) - 1)]
    return torch.minimum((axis - below).abs(), (above - axis).abs())


def _gaussian_grid_2d(axes: Sequence[np.ndarray], data: np.ndarray, h: float, device: torch.device,
                      chunk_bytes: int) -> np.ndarray:
    """log of sum_i exp(-|g - x_i|^2 / 2h^2) on the grid axes[0] x axes[1], shape (len(y), len(x)).

    The Gaussian kernel factorises over axes, so the sum is a matrix product:
    S[a, b] = sum_i Kx[a, i] Ky[b, i]. Each factor is scaled by its row maximum (the
    nearest data coordinate) so nothing overflows; cells whose scaled sum is below
    e^-200 (where dropped e^-350 factors could matter) come back as NaN.
    """
    dtype = torch.float64
    gx = torch.as_tensor(axes[0], dtype=dtype, device=device)
    gy = torch.as_tensor(axes[1], dtype=dtype, device=device)
    data_t = torch.as_tensor(data, dtype=dtype, device=device)
    scale = -0.5 / (h * h)
    peak_x = scale * _nearest_gap(gx, data_t[:, 0]) ** 2  # max_i log Kx[a, i]
    peak_y = scale * _nearest_gap(gy, data_t[:, 1]) ** 2
    total = torch.zeros(len(gx), len(gy), dtype=dtype, device=device)
    rows = chunk_rows(max(len(gx), len(gy)), dtype, chunk_bytes)
    for start in range(0, len(data_t), rows):
        chunk = data_t[start:start + rows]
        factors = []
        for grid, peak, column in ((gx, peak_x, chunk[:, 0]), (gy, peak_y, chunk[:, 1])):
            # Clamping at -350 keeps every product above e^-700 (no denormals); it can only
            # add < N e^-350 to a sum that is certified only when above e^-200.
            shifted = (scale * (grid[:, None] - column[None, :]) ** 2 - peak[:, None]).clamp_(min=-350.0)
            factors.append(torch.exp_(shifted))
        total += factors[0] @ factors[1].T
    with torch.no_grad():
        log_total = torch.where(total > math.exp(-200.0), torch.log(total.clamp(min=1e-300)),
                                torch.full_like(total, math.nan))
    log_total = log_total + peak_x[:, None] + peak_y[None, :]
    return log_total.T.cpu().numpy()


def kde_log_density_grid(axes: Sequence[np.ndarray], data: np.ndarray, bandwidth: float,
                         kernel: str = "gaussian", *, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float64, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                         weights: np.ndarray | None = None) -> np.ndarray:
    """log p_hat on the grid spanned by ``axes`` (as ``targets.grid``): shape (len(x),) in 1D,
    (len(y), len(x)) in 2D. Unweighted Gaussian kernels use the exact fast paths; every value
    they cannot certify is recomputed by the direct chunked sum (the only path with weights)."""
    data = as_2d(data)
    device = device or default_device()
    dim = data.shape[1]
    if len(axes) != dim:
        raise ValueError(f"{len(axes)} grid axes for {dim}-dimensional data")
    axes = [np.asarray(a, dtype=np.float64) for a in axes]
    mesh = np.meshgrid(*axes, indexing="xy")
    points = np.stack([m.ravel() for m in mesh], axis=1)
    fast = None
    if weights is not None:
        pass
    elif kernel == "gaussian" and dim == 1:
        fast = _gaussian_grid_1d(axes[0], data[:, 0], bandwidth, device)
    elif kernel == "gaussian" and dim == 2:
        fast = _gaussian_grid_2d(axes, data, bandwidth, device, chunk_bytes).ravel()
    if fast is None:
        values = kde_log_density(points, data, bandwidth, kernel, device=device, dtype=dtype, chunk_bytes=chunk_bytes,
                                 weights=weights)
    else:
        values = fast - math.log(len(data)) + log_kernel_norm(bandwidth, dim, kernel)
        missing = np.isnan(values)
        if missing.any():
            values[missing] = kde_log_density(points[missing], data, bandwidth, kernel, device=device,
                                              dtype=torch.float64, chunk_bytes=chunk_bytes)
    return values.reshape(mesh[0].shape) if dim > 1 else values


# ----------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------

def resolve_bandwidth(bandwidth: float | str, X: np.ndarray, weights: np.ndarray | None = None) -> float:
    """A float bandwidth, or the value of the "scott" / "silverman" rule on X (weighted as SciPy)."""
    if isinstance(bandwidth, str):
        if bandwidth == "scott":
            return scott_bandwidth(X, weights)
        if bandwidth == "silverman":
            return silverman_bandwidth(X, weights)
        raise ValueError(f"unknown bandwidth rule {bandwidth!r}; use a number or one of {BANDWIDTH_RULES}")
    value = float(bandwidth)
    if not value > 0 or not math.isfinite(value):
        raise ValueError("bandwidth must be a positive number")
    return value


class KernelDensity(DensityMixin, BaseEstimator):
    """Kernel density estimate p_hat(x) = sum_i w_i k_h(x - x_i) / sum_i w_i, computed in torch.

    ``bandwidth``: a float h or "scott" / "silverman". Our rules are SciPy's
    (``gaussian_kde``'s factor n^(-1/(d+4)) times the data's spread, with the effective
    sample size under weights); scikit-learn's ``bandwidth="scott"`` is the factor alone,
    meant for standardised data, so on raw data ours = scikit-learn's * the spread.
    ``kernel``: scikit-learn's six, with its definitions (h is the Gaussian's standard
    deviation, the exponential's scale, the radius of the four compact kernels):
    "gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine".
    ``fit(X, sample_weight=None)``: non-negative weights (zero-weight points are dropped).
    ``dtype`` "float64" by default (exact); "float32" halves the time of the direct sum.
    """

    def __init__(self, bandwidth: float | str = "scott", kernel: str = "gaussian", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | str = "float64",
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.device = device
        self.dtype = dtype
        self.chunk_bytes = chunk_bytes

    def _device(self) -> torch.device:
        return torch.device(self.device) if self.device is not None else default_device()

    def _dtype(self) -> torch.dtype:
        if isinstance(self.dtype, torch.dtype):
            return self.dtype
        return {"float64": torch.float64, "float32": torch.float32}[str(self.dtype)]

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "KernelDensity":
        """Store the data (and weights) and resolve the bandwidth."""
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}; use one of {KERNELS}")
        X = check_X(self, X, reset=True)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            keep = weights > 0  # not all zero: _check_sample_weight refuses that
            X, weights = X[keep], weights[keep]
        self.bandwidth_ = resolve_bandwidth(self.bandwidth, X, weights)
        self.data_ = X
        self.weights_ = weights
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """log p_hat(x) for each row of X (log-sum-exp over the training points, chunked)."""
        X = check_X(self, X, reset=False)
        return kde_log_density(X, self.data_, self.bandwidth_, self.kernel, device=self._device(),
                               dtype=self._dtype(), chunk_bytes=self.chunk_bytes, weights=self.weights_)

    def score_grid(self, axes: Sequence[np.ndarray]) -> np.ndarray:
        """log p_hat on the grid spanned by ``axes``: (len(x),) in 1D, (len(y), len(x)) in 2D."""
        check_is_fitted(self)
        return kde_log_density_grid(axes, self.data_, self.bandwidth_, self.kernel, device=self._device(),
                                    dtype=self._dtype(), chunk_bytes=self.chunk_bytes, weights=self.weights_)

    def score(self, X: Any, y: Any = None) -> float:
        """Total log-likelihood of X."""
        return float(self.score_samples(X).sum())

    def sample(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Pick a training point (with probability w_i / sum w), then add kernel noise h * u
        (u from the unit kernel)."""
        check_is_fitted(self)
        generator = rng(seed)
        p = None if self.weights_ is None else self.weights_ / self.weights_.sum()
        centres = self.data_[generator.choice(len(self.data_), size=n, p=p)] if p is not None \
            else self.data_[generator.integers(0, len(self.data_), size=n)]
        return centres + self.bandwidth_ * sample_unit_kernel(self.kernel, n, self.data_.shape[1], generator)

    @property
    def n_parameters(self) -> int:
        """A KDE keeps every training point: N d numbers (plus h)."""
        check_is_fitted(self)
        return int(self.data_.size)


def kde_bumps_1d(model: "KernelDensity", axis: np.ndarray) -> np.ndarray:
    """Each training point's own term of a fitted 1D KDE on ``axis``: w_i k_h(x - x_i) / sum_j w_j,
    shape (N, len(axis)). Their sum is the KDE: the lecture's "sum of bumps"."""
    check_is_fitted(model)
    if model.data_.shape[1] != 1:
        raise ValueError("the bumps are drawn for 1D data")
    data = torch.as_tensor(model.data_[:, 0], dtype=torch.float64)
    grid = torch.as_tensor(np.asarray(axis, dtype=np.float64), dtype=torch.float64)
    weights = np.ones(len(model.data_)) if model.weights_ is None else model.weights_
    log_weights = torch.as_tensor(np.log(weights / weights.sum()), dtype=torch.float64)
    log_terms = log_kernel_profile((data[:, None] - grid[None, :]) ** 2, model.bandwidth_, model.kernel) \
        + log_kernel_norm(model.bandwidth_, 1, model.kernel) + log_weights[:, None]
    return torch.exp(log_terms).numpy()


def sample_unit_kernel(kernel: str, n: int, dim: int, generator: np.random.Generator) -> np.ndarray:
    """n draws from the kernel with h = 1. gaussian: N(0, I); exponential: a uniform direction
    times a Gamma(d, 1) radius (the radial density r^(d-1) e^(-r)); tophat: uniform in the unit
    ball; epanechnikov, linear, cosine: uniform ball draws u kept with probability k(|u|) <= 1."""
    if kernel == "gaussian":
        return generator.standard_normal((n, dim))
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")
    if kernel == "exponential":
        direction = generator.standard_normal((n, dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return direction * generator.gamma(dim, 1.0, size=(n, 1))
    profile = {"tophat": lambda r: np.ones_like(r), "epanechnikov": lambda r: 1.0 - r**2,
               "linear": lambda r: 1.0 - r, "cosine": lambda r: np.cos(0.5 * np.pi * r)}[kernel]
    out = np.empty((0, dim))
    while len(out) < n:
        batch = max(16, 2 * (n - len(out)) * (dim + 2) // 2)
        direction = generator.standard_normal((batch, dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        ball = direction * generator.random((batch, 1)) ** (1.0 / dim)
        if kernel != "tophat":
            ball = ball[generator.random(batch) < profile(np.linalg.norm(ball, axis=1))]
        out = np.concatenate([out, ball])
    return out[:n]


# ----------------------------------------------------------------------------------
# Choosing h and K on held-out data
# ----------------------------------------------------------------------------------

def held_out_log_likelihood(train: np.ndarray, test: np.ndarray, bandwidths: Sequence[float],
                            kernel: str = "gaussian", *, device: torch.device | None = None,
                            dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Mean test log-likelihood (1/M) sum_j log p_hat_h(x_j) of a KDE on ``train``, for each h."""
    return np.array([
        kde_log_density(test, train, float(h), kernel, device=device, dtype=dtype).mean() for h in bandwidths
    ])


def cross_validate_bandwidth(X: np.ndarray, bandwidths: Sequence[float], kernel: str = "gaussian", *,
                             n_folds: int = 5, seed: SeedLike = 0, device: torch.device | None = None,
                             dtype: torch.dtype = torch.float64) -> tuple[float, np.ndarray]:
    """K-fold cross-validated bandwidth: the h with the highest mean held-out log-likelihood.

    Returns (best h, mean held-out log-likelihood per h). Folds are a seeded permutation.
    """
    X = as_2d(X)
    if len(X) < n_folds:
        raise ValueError(f"cross-validation needs at least {n_folds} points")
    folds = np.array_split(rng(seed).permutation(len(X)), n_folds)
    scores = np.zeros(len(bandwidths))
    for fold in folds:
        mask = np.ones(len(X), dtype=bool)
        mask[fold] = False
        scores += held_out_log_likelihood(X[mask], X[fold], bandwidths, kernel, device=device, dtype=dtype) * len(fold)
    scores /= len(X)
    return float(bandwidths[int(np.nanargmax(np.where(np.isfinite(scores), scores, np.nan)))]) \
        if np.isfinite(scores).any() else float(bandwidths[-1]), scores


# ----------------------------------------------------------------------------------
# The curse of dimensionality
# ----------------------------------------------------------------------------------

def gaussian_entropy(dim: int) -> float:
    """Differential entropy of N(0, I_d): (d/2) log(2 pi e); minus the best possible mean log-likelihood."""
    return 0.5 * dim * math.log(2 * math.pi * math.e)


def curse_of_dimensionality(dims: Sequence[int], n_samples: int, bins_per_axis: int = 10, *,
                            seed: SeedLike = 0, n_test: int = 1000, box: float = 3.0,
                            bandwidths: Sequence[float] | None = None,
                            device: torch.device | None = None) -> dict[str, np.ndarray]:
    """Histogram and KDE on N standard-Gaussian points in d = 1, 2, ... dimensions.

    For each d: cells = bins^d on [-box, box]^d, the fraction of them left empty by the
    N points, the mean held-out log-likelihood of a Scott-rule KDE and of the best KDE
    over ``bandwidths`` (an optimistic oracle), and the truth's -(d/2) log(2 pi e).
    ``kl_best`` is the paired estimate (1/M) sum_j [log p(x_j) - log p_hat(x_j)] of KL(p || p_hat)
    for the best KDE on the same test points, and ``kl_best_se`` its standard error (a small
    negative estimate is sampling noise: it is within about two standard errors of 0).
    """
    generator = rng(seed)
    bandwidths = np.geomspace(0.05, 3.0, 24) if bandwidths is None else np.asarray(bandwidths)
    rows: dict[str, list[float]] = {key: [] for key in
                                    ("dim", "cells", "empty_fraction", "points_per_cell", "kde_scott",
                                     "kde_best", "best_bandwidth", "scott_bandwidth", "truth", "kl_best",
                                    "kl_best_se")}
    for dim in dims:
        train = generator.standard_normal((n_samples, dim))
        test = generator.standard_normal((n_test, dim))
        cell = np.floor((train + box) / (2 * box) * bins_per_axis).astype(np.int64)
        inside = np.all((cell >= 0) & (cell < bins_per_axis), axis=1)
        occupied = len(np.unique(cell[inside], axis=0))
        cells = float(bins_per_axis) ** dim
        h_scott = scott_bandwidth(train)
        curve = held_out_log_likelihood(train, test, bandwidths, device=device)
        rows["dim"].append(dim)
        rows["cells"].append(cells)
        rows["empty_fraction"].append(1.0 - occupied / cells)
        rows["points_per_cell"].append(n_samples / cells)
        rows["kde_scott"].append(float(kde_log_density(test, train, h_scott, device=device).mean()))
        rows["kde_best"].append(float(np.max(curve)))
        rows["best_bandwidth"].append(float(bandwidths[int(np.argmax(curve))]))
        rows["scott_bandwidth"].append(h_scott)
        rows["truth"].append(-gaussian_entropy(dim))
        best_h = float(bandwidths[int(np.argmax(curve))])
        log_p = -0.5 * (test**2).sum(axis=1) - 0.5 * dim * math.log(2 * math.pi)
        differences = log_p - kde_log_density(test, train, best_h, device=device)
        rows["kl_best"].append(float(differences.mean()))
        rows["kl_best_se"].append(float(differences.std(ddof=1) / math.sqrt(len(differences))))
    return {key: np.asarray(values, dtype=np.float64) for key, values in rows.items()}
