"""Sampling from scratch: uniform bits -> Gaussians -> mixtures (lecture 004, part 1).

Every sampler is vectorised NumPy with an explicit seed (or ``np.random.Generator``)
and is usable from a notebook:

>>> from playground.sampling import box_muller, mvn_cholesky
>>> box_muller(4, seed=0).shape
(4,)
>>> mvn_cholesky([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]], 3, seed=0).shape
(3, 2)

The MCMC samplers (Metropolis-Hastings, Langevin, HMC) live in ``playground.mcmc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from playground.seeding import SeedLike, rng

# ----------------------------------------------------------------------------------
# 1. Pseudo-random numbers: the linear congruential generator
# ----------------------------------------------------------------------------------

LCG_PRESETS: dict[str, dict[str, int]] = {
    # Park & Miller (1988) "minimal standard": m prime, a a primitive root, c = 0.
    "MINSTD (Park–Miller)": {"m": 2**31 - 1, "a": 16807, "c": 0},
    # IBM's RANDU (1960s): x[k+2] = 6 x[k+1] - 9 x[k] mod 2^31, so triples lie on 15 planes.
    "RANDU (IBM, bad)": {"m": 2**31, "a": 65539, "c": 0},
    # Numerical Recipes' 32-bit generator: full period 2^32 by the Hull-Dobell theorem.
    "Numerical Recipes": {"m": 2**32, "a": 1664525, "c": 1013904223},
    # A toy generator whose whole period fits on the screen.
    "Tiny (m = 64)": {"m": 64, "a": 21, "c": 11},
    # A toy generator with a short cycle: a - 1 is not a multiple of 4 although 4 | m.
    "Tiny, short period": {"m": 64, "a": 19, "c": 11},
}

MAX_LCG_MODULUS = 2**32  # keeps every product a * x below 2^64 (uint64 arithmetic is exact)


def _check_lcg(m: int, a: int, c: int, seed: int) -> None:
    if not 2 <= m <= MAX_LCG_MODULUS:
        raise ValueError(f"the modulus m must be between 2 and 2^32, got {m}")
    for name, value in (("a", a), ("c", c), ("seed", seed)):
        if not 0 <= value < m:
            raise ValueError(f"{name} must satisfy 0 <= {name} < m = {m}, got {value}")
    if a == 0:
        raise ValueError("the multiplier a must be positive")


def lcg(n: int, m: int, a: int, c: int, seed: int) -> np.ndarray:
    """States X_1..X_n of X_{t+1} = (a X_t + c) mod m from X_0 = seed (uint64 array).

    Vectorised by jumping ahead in blocks: X_{t+k} = (A_k X_t + C_k) mod m with
    A_k = a^k mod m and C_k = c (1 + a + ... + a^{k-1}) mod m.
    """
    m, a, c, seed, n = int(m), int(a), int(c), int(seed), int(n)
    _check_lcg(m, a, c, seed)
    block = max(1, min(n, int(math.isqrt(max(n, 1))) + 1))
    jump_a, jump_c = np.empty(block, dtype=np.uint64), np.empty(block, dtype=np.uint64)
    ak, ck = 1, 0
    for k in range(block):  # (A_{k+1}, C_{k+1}) from (A_k, C_k), exact Python integers
        ak, ck = (a * ak) % m, (a * ck + c) % m
        jump_a[k], jump_c[k] = ak, ck
    out = np.empty(n, dtype=np.uint64)
    modulus, state = np.uint64(m), np.uint64(seed)
    for start in range(0, n, block):
        stop = min(start + block, n)
        values = (jump_a[: stop - start] * state % modulus + jump_c[: stop - start]) % modulus
        out[start:stop] = values
        state = values[-1]
    return out


def lcg_uniform(n: int, m: int, a: int, c: int, seed: int) -> np.ndarray:
    """U_t = X_t / m in [0, 1): the LCG as a uniform generator."""
    return lcg(n, m, a, c, seed).astype(np.float64) / float(m)


def lcg_period(m: int, a: int, c: int, seed: int, max_steps: int = 2**20) -> tuple[int, int]:
    """(tail length, period) of the orbit of ``seed``, found by Brent's cycle detection.

    Returns period 0 when no cycle is found within ``max_steps`` steps (large m).
    """
    _check_lcg(int(m), int(a), int(c), int(seed))

    def successor(x: int) -> int:
        return (a * x + c) % m

    power = period = 1
    tortoise, hare = seed, successor(seed)
    while tortoise != hare:
        if period > max_steps:
            return 0, 0
        if power == period:
            tortoise, power, period = hare, power * 2, 0
        hare, period = successor(hare), period + 1
    tortoise = hare = seed
    for _ in range(period):
        hare = successor(hare)
    tail = 0
    while tortoise != hare:
        tortoise, hare, tail = successor(tortoise), successor(hare), tail + 1
    return tail, period


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while p * p <= n:
        if n % p == 0:
            factors.append(p)
            while n % p == 0:
                n //= p
        p += 1
    if n > 1:
        factors.append(n)
    return factors


def multiplicative_order(a: int, n: int) -> int:
    """Smallest t >= 1 with a^t = 1 (mod n), for gcd(a, n) = 1: divide phi(n) down by its prime factors."""
    if n == 1:
        return 1
    if math.gcd(a, n) != 1:
        raise ValueError("a must be invertible modulo n")
    phi = n
    for p in _prime_factors(n):
        phi = phi // p * (p - 1)
    order = phi
    for p in _prime_factors(phi):
        while order % p == 0 and pow(a, order // p, n) == 1:
            order //= p
    return order


def lcg_period_theory(m: int, a: int, c: int, seed: int) -> int | None:
    """The period from number theory when it is known in closed form, else None.

    c = 0 and gcd(a, m) = 1: X_t = a^t X_0, so the period is the order of a modulo m / gcd(X_0, m).
    c != 0: the full period m when the Hull-Dobell conditions hold.
    """
    _check_lcg(int(m), int(a), int(c), int(seed))
    if c == 0:
        if math.gcd(a, m) != 1:
            return None
        reduced = m // math.gcd(seed, m)  # X_0 = 0 gives reduced = 1: the fixed point 0
        return 1 if reduced == 1 else multiplicative_order(a % reduced, reduced)
    return m if hull_dobell(m, a, c)["full period m"] else None


def hull_dobell(m: int, a: int, c: int) -> dict[str, bool]:
    """The Hull-Dobell conditions for full period m (c != 0): each one and their conjunction."""
    conditions = {
        "c and m coprime": c != 0 and math.gcd(c, m) == 1,
        "a − 1 divisible by every prime factor of m": all((a - 1) % p == 0 for p in _prime_factors(m)),
        "a − 1 divisible by 4 if 4 divides m": m % 4 != 0 or (a - 1) % 4 == 0,
    }
    conditions["full period m"] = all(conditions.values())
    return conditions


def randu_plane_offsets(u: np.ndarray) -> np.ndarray:
    """k = 9 u_t - 6 u_{t+1} + u_{t+2} for RANDU uniforms: always an integer (one per plane).

    From a = 2^16 + 3: a^2 = 6a - 9 (mod 2^31), hence x_{t+2} - 6 x_{t+1} + 9 x_t = 0 (mod 2^31).
    """
    u = np.asarray(u, dtype=np.float64)
    return 9 * u[:-2] - 6 * u[1:-1] + u[2:]


@dataclass(frozen=True)
class UniformityTest:
    """Chi-square test on equal bins and Kolmogorov-Smirnov test against U(0, 1)."""

    chi2: float
    chi2_pvalue: float
    ks: float
    ks_pvalue: float
    bins: int


def uniformity_test(u: np.ndarray, bins: int = 20) -> UniformityTest:
    """Pearson chi-square sum (O - E)^2 / E on ``bins`` equal cells, and KS sup|F_n - F|."""
    u = np.asarray(u, dtype=np.float64)
    observed = np.bincount(np.minimum((u * bins).astype(np.int64), bins - 1), minlength=bins)
    expected = len(u) / bins
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    ks = stats.kstest(u, "uniform")
    return UniformityTest(chi2, float(stats.chi2.sf(chi2, bins - 1)), float(ks.statistic), float(ks.pvalue), bins)


def serial_test(u: np.ndarray, dim: int = 3, bins: int = 8) -> tuple[float, float]:
    """Chi-square test of non-overlapping ``dim``-tuples on a bins^dim grid: (statistic, p-value).

    A generator can pass the 1D test and still fail here: RANDU's triples fill only 15 planes.
    """
    u = np.asarray(u, dtype=np.float64)
    tuples = u[: len(u) // dim * dim].reshape(-1, dim)
    cells = np.minimum((tuples * bins).astype(np.int64), bins - 1)
    index = np.ravel_multi_index(cells.T, (bins,) * dim)
    observed = np.bincount(index, minlength=bins**dim)
    expected = len(tuples) / bins**dim
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, bins**dim - 1))


# ----------------------------------------------------------------------------------
# 2-3. Uniform -> Gaussian: Box-Muller and the Marsaglia polar method
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxMullerStages:
    """Each stage of Box-Muller for ``n`` pairs: (U1, U2) -> (R, Theta) -> (Z1, Z2)."""

    u1: np.ndarray
    u2: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    z1: np.ndarray
    z2: np.ndarray


def box_muller_stages(n_pairs: int, seed: SeedLike) -> BoxMullerStages:
    """R = sqrt(-2 ln U1), Theta = 2 pi U2, Z1 = R cos Theta, Z2 = R sin Theta."""
    generator = rng(seed)
    u1 = 1.0 - generator.random(n_pairs)  # in (0, 1]: log(0) never happens
    u2 = generator.random(n_pairs)
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    return BoxMullerStages(u1, u2, radius, angle, radius * np.cos(angle), radius * np.sin(angle))


def box_muller(n: int, seed: SeedLike) -> np.ndarray:
    """``n`` standard normal draws by Box-Muller (both Z1 and Z2 of each pair are used)."""
    stages = box_muller_stages((int(n) + 1) // 2, seed)
    return np.concatenate([stages.z1, stages.z2])[: int(n)]


def box_muller_torch(n: int, seed: int, device=None):
    """Box-Muller in torch on ``device`` (a tensor of ``n`` standard normals)."""
    import torch

    from playground.device import default_device
    from playground.seeding import torch_generator

    device = torch.device(device) if device is not None else default_device()
    generator = torch_generator(seed, device)
    half = (int(n) + 1) // 2
    u = torch.rand((2, half), generator=generator, device=device, dtype=torch.float32)
    radius = torch.sqrt(-2.0 * torch.log1p(-u[0]))  # 1 - U1 in (0, 1]
    angle = 2.0 * math.pi * u[1]
    return torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)])[: int(n)]


@dataclass(frozen=True)
class PolarStages:
    """The Marsaglia polar method: candidates V in [-1, 1]^2, which were accepted, and Z."""

    v1: np.ndarray
    v2: np.ndarray
    accepted: np.ndarray  # bool, S = V1^2 + V2^2 in (0, 1)
    z1: np.ndarray  # one value per accepted candidate
    z2: np.ndarray

    @property
    def acceptance_rate(self) -> float:
        return float(self.accepted.mean()) if self.accepted.size else float("nan")


def polar_stages(n_candidates: int, seed: SeedLike) -> PolarStages:
    """Z = V sqrt(-2 ln S / S) for the candidates with S = |V|^2 in (0, 1); P(accept) = pi / 4."""
    generator = rng(seed)
    v = 2.0 * generator.random((2, int(n_candidates))) - 1.0
    s = v[0] ** 2 + v[1] ** 2
    accepted = (s > 0) & (s < 1)
    sa = s[accepted]
    factor = np.sqrt(-2.0 * np.log(sa) / sa)
    return PolarStages(v[0], v[1], accepted, v[0, accepted] * factor, v[1, accepted] * factor)


def marsaglia_polar(n: int, seed: SeedLike) -> np.ndarray:
    """``n`` standard normal draws by the Marsaglia polar method (rejection, no trigonometry)."""
    generator = rng(seed)
    pieces, have = [], 0
    while have < n:
        # Each candidate pair yields 2 normals with probability pi / 4; ask for 10% extra.
        candidates = int((n - have) / (2 * math.pi / 4) * 1.1) + 16
        stages = polar_stages(candidates, generator)
        pieces += [stages.z1, stages.z2]
        have += 2 * stages.z1.size
    return np.concatenate(pieces)[: int(n)]


# ----------------------------------------------------------------------------------
# 4. Inverse-CDF (inverse transform) sampling
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InverseCDF:
    """A 1D distribution given by its quantile function F^{-1}, with cdf and pdf to draw."""

    name: str
    quantile: Callable[[np.ndarray], np.ndarray]
    cdf: Callable[[np.ndarray], np.ndarray]
    pdf: Callable[[np.ndarray], np.ndarray]
    bounds: tuple[float, float]
    formula: str  # LaTeX of F^{-1}(u)


def closed_form_inverse_cdfs(rate: float = 1.0, scale: float = 1.0) -> dict[str, InverseCDF]:
    """Distributions whose CDF inverts by hand: exponential, Cauchy, Laplace, logistic."""
    if rate <= 0 or scale <= 0:
        raise ValueError("rate and scale must be positive")
    b = scale
    return {
        "exponential": InverseCDF(
            "Exponential(λ)", lambda u: -np.log1p(-u) / rate, lambda x: -np.expm1(-rate * np.maximum(x, 0)),
            lambda x: np.where(x >= 0, rate * np.exp(-rate * np.maximum(x, 0)), 0.0), (0.0, 6.0 / rate),
            r"F^{-1}(u) = -\frac{\ln(1-u)}{\lambda}"),
        "cauchy": InverseCDF(
            "Cauchy(0, s)", lambda u: b * np.tan(np.pi * (u - 0.5)), lambda x: 0.5 + np.arctan(x / b) / np.pi,
            lambda x: 1.0 / (np.pi * b * (1 + (x / b) ** 2)), (-10.0 * b, 10.0 * b),
            r"F^{-1}(u) = s\,\tan\!\big(\pi (u - \tfrac12)\big)"),
        "laplace": InverseCDF(
            "Laplace(0, s)", lambda u: -b * np.sign(u - 0.5) * np.log1p(-2 * np.abs(u - 0.5)),
            lambda x: np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0) / b), 1 - 0.5 * np.exp(-np.maximum(x, 0) / b)),
            lambda x: np.exp(-np.abs(x) / b) / (2 * b), (-7.0 * b, 7.0 * b),
            r"F^{-1}(u) = -s\,\mathrm{sign}(u-\tfrac12)\ln(1 - 2|u - \tfrac12|)"),
        "logistic": InverseCDF(
            "Logistic(0, s)", lambda u: b * (np.log(u) - np.log1p(-u)), lambda x: 1.0 / (1.0 + np.exp(-x / b)),
            lambda x: np.exp(-np.abs(x) / b) / (b * (1 + np.exp(-np.abs(x) / b)) ** 2), (-8.0 * b, 8.0 * b),
            r"F^{-1}(u) = s \ln\frac{u}{1-u}"),
    }


def numerical_inverse_cdf(log_density: Callable[[np.ndarray], np.ndarray], bounds: tuple[float, float],
                          grid_size: int = 2001, name: str = "numerical") -> InverseCDF:
    """Tabulate F on a grid (trapezoid rule on exp(log p), renormalised) and invert it by interpolation.

    Mass outside ``bounds`` is dropped: the sampler draws from p truncated to the grid.
    """
    low, high = float(bounds[0]), float(bounds[1])
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"bounds must be finite with low < high, got {bounds}")
    xs = np.linspace(low, high, int(grid_size))
    density = np.exp(np.asarray(log_density(xs), dtype=np.float64))
    density = np.where(np.isfinite(density), density, 0.0)
    increments = 0.5 * (density[1:] + density[:-1]) * np.diff(xs)
    cdf = np.concatenate([[0.0], np.cumsum(increments)])
    total = cdf[-1]
    if not total > 0:
        raise ValueError("the density is zero everywhere on the grid")
    cdf /= total
    # Flat stretches of F (zero density) would make the inverse ambiguous: keep the first x of each level.
    keep = np.concatenate([[True], np.diff(cdf) > 0])
    return InverseCDF(
        name,
        quantile=lambda u: np.interp(u, cdf[keep], xs[keep]),
        cdf=lambda x: np.interp(x, xs, cdf),
        pdf=lambda x: np.interp(x, xs, density / total, left=0.0, right=0.0),
        bounds=(low, high),
        formula=r"F(x_j) \approx \sum_{i<j} \tfrac{p(x_i)+p(x_{i+1})}{2}\,\Delta x,\quad x = F^{-1}(u)\ \text{by interpolation}",
    )


def inverse_cdf_sample(n: int, quantile: Callable[[np.ndarray], np.ndarray], seed: SeedLike,
                       return_uniforms: bool = False):
    """X = F^{-1}(U), U ~ U(0, 1): if F is the CDF of p, X ~ p."""
    u = rng(seed).random(int(n))
    x = np.asarray(quantile(u), dtype=np.float64)
    return (x, u) if return_uniforms else x


# ----------------------------------------------------------------------------------
# 5. Multivariate Gaussian by Cholesky
# ----------------------------------------------------------------------------------


class NotPositiveDefiniteError(ValueError):
    """A covariance that is not symmetric positive definite (no Cholesky factor)."""


def covariance_2d(sigma1: float, sigma2: float, rho: float) -> np.ndarray:
    """Sigma = [[s1^2, rho s1 s2], [rho s1 s2, s2^2]]."""
    return np.array([[sigma1**2, rho * sigma1 * sigma2], [rho * sigma1 * sigma2, sigma2**2]], dtype=np.float64)


def cholesky_factor(cov) -> np.ndarray:
    """Lower-triangular L with L L^T = Sigma, or a NotPositiveDefiniteError that says why."""
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise NotPositiveDefiniteError(f"a covariance must be a square matrix, got shape {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise NotPositiveDefiniteError("the covariance contains NaN or infinite entries")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise NotPositiveDefiniteError("the covariance is not symmetric")
    eigenvalues = np.linalg.eigvalsh(cov)
    if eigenvalues.min() <= 1e-12 * max(1.0, eigenvalues.max()):
        raise NotPositiveDefiniteError(
            f"the covariance is not positive definite (smallest eigenvalue {eigenvalues.min():.3g}); "
            "a variance is zero or a correlation is ±1, so no Cholesky factor exists"
        )
    return np.linalg.cholesky(cov)


@dataclass(frozen=True)
class CholeskyStages:
    """z ~ N(0, I), then L z, then x = mu + L z."""

    z: np.ndarray  # (n, d)
    lz: np.ndarray
    x: np.ndarray
    chol: np.ndarray  # (d, d)


def mvn_cholesky_stages(mean, cov, n: int, seed: SeedLike) -> CholeskyStages:
    """The three stages of x = mu + L z with L L^T = Sigma."""
    mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    chol = cholesky_factor(cov)
    if chol.shape[0] != mean.shape[0]:
        raise ValueError(f"mean has {mean.shape[0]} entries but the covariance is {chol.shape[0]}x{chol.shape[0]}")
    z = rng(seed).standard_normal((int(n), mean.shape[0]))
    lz = z @ chol.T
    return CholeskyStages(z, lz, mean + lz, chol)


def mvn_cholesky(mean, cov, n: int, seed: SeedLike) -> np.ndarray:
    """``n`` draws of N(mean, cov) as mu + L z, shape (n, d)."""
    return mvn_cholesky_stages(mean, cov, n, seed).x


def mahalanobis_squared(x: np.ndarray, mean, cov) -> np.ndarray:
    """(x - mu)^T Sigma^{-1} (x - mu) for each row."""
    chol = cholesky_factor(cov)
    solved = np.linalg.solve(chol, (np.asarray(x) - np.asarray(mean)).T)
    return (solved**2).sum(axis=0)


def mass_inside_sigma_ellipse(radius: float, dim: int = 2) -> float:
    """P(|z| <= radius) for z ~ N(0, I_d): chi-square CDF (2D: 1 - exp(-r^2 / 2))."""
    return float(stats.chi2.cdf(radius**2, dim))


# ----------------------------------------------------------------------------------
# 6. Gaussian mixtures by ancestral sampling
# ----------------------------------------------------------------------------------


def categorical_by_prefix_sums(weights, u: np.ndarray) -> np.ndarray:
    """Component k such that c_{k-1} <= u < c_k, with c the cumulative weights (prefix sums)."""
    weights = np.asarray(weights, dtype=np.float64)
    cumulative = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cumulative, u, side="right"), len(weights) - 1)


@dataclass(frozen=True)
class AncestralDraw:
    """Ancestral sampling of a mixture: the uniforms, the components they chose, the points."""

    uniforms: np.ndarray  # (n,)
    components: np.ndarray  # (n,) int
    x: np.ndarray  # (n, d)


def check_mixture(weights, means, covs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and normalise mixture parameters; a clear ValueError otherwise."""
    weights = np.asarray(weights, dtype=np.float64).ravel()
    means = np.asarray(means, dtype=np.float64)
    means = means[:, None] if means.ndim == 1 else means
    covs = np.asarray(covs, dtype=np.float64)
    covs = covs[:, None, None] if covs.ndim == 1 else covs
    if not (len(weights) == len(means) == len(covs)) or len(weights) == 0:
        raise ValueError("weights, means and covariances must describe the same (non-zero) number of components")
    if np.any(~np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("mixture weights must be non-negative, finite and not all zero")
    for k, cov in enumerate(covs):
        try:
            cholesky_factor(cov)
        except NotPositiveDefiniteError as error:
            raise NotPositiveDefiniteError(f"component {k + 1}: {error}") from None
    return weights / weights.sum(), means, covs


def ancestral_sample(weights, means, covs, n: int, seed: SeedLike) -> AncestralDraw:
    """k ~ Cat(pi) by where a uniform lands among the prefix sums, then x ~ N(mu_k, Sigma_k)."""
    weights, means, covs = check_mixture(weights, means, covs)
    generator = rng(seed)
    u = generator.random(int(n))
    components = categorical_by_prefix_sums(weights, u)
    chols = np.linalg.cholesky(covs)  # (K, d, d)
    z = generator.standard_normal((int(n), means.shape[1]))
    x = means[components] + np.einsum("nij,nj->ni", chols[components], z)
    return AncestralDraw(u, components, x)


def mixture_sample(weights, means, covs, n: int, seed: SeedLike) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, d), component labels (n,)) from the Gaussian mixture, like sklearn's ``sample``."""
    draw = ancestral_sample(weights, means, covs, n, seed)
    return draw.x, draw.components


# ----------------------------------------------------------------------------------
# 7. Rejection sampling
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectionDraw:
    """Proposals x ~ q, heights y = u M q(x), and which fell under p (accepted)."""

    x: np.ndarray
    height: np.ndarray
    accepted: np.ndarray  # bool
    envelope_constant: float

    @property
    def samples(self) -> np.ndarray:
        return self.x[self.accepted]

    @property
    def acceptance_rate(self) -> float:
        return float(self.accepted.mean()) if self.accepted.size else float("nan")


def envelope_constant(pdf: Callable[[np.ndarray], np.ndarray], proposal_pdf: Callable[[np.ndarray], np.ndarray],
                      grid: np.ndarray) -> float:
    """The smallest M with M q(x) >= p(x) on ``grid``: max p / q."""
    p, q = np.asarray(pdf(grid)), np.asarray(proposal_pdf(grid))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p > 0, p / q, 0.0)
    return float(np.max(ratio))


def rejection_sample(n_proposals: int, pdf: Callable[[np.ndarray], np.ndarray],
                     proposal_sample: Callable[[int, np.random.Generator], np.ndarray],
                     proposal_pdf: Callable[[np.ndarray], np.ndarray], envelope: float,
                     seed: SeedLike) -> RejectionDraw:
    """Propose x ~ q, accept when u M q(x) <= p(x), u ~ U(0, 1); for normalised p, P(accept) = 1 / M."""
    if not envelope > 0:
        raise ValueError("the envelope constant M must be positive")
    generator = rng(seed)
    x = np.asarray(proposal_sample(int(n_proposals), generator), dtype=np.float64)
    height = generator.random(int(n_proposals)) * envelope * proposal_pdf(x)
    return RejectionDraw(x, height, height <= pdf(x), float(envelope))


def envelope_violation(pdf, proposal_pdf, envelope: float, grid: np.ndarray) -> float:
    """Largest p(x) - M q(x) on the grid (> 0 means M q is not an envelope and samples are biased)."""
    return float(np.max(np.asarray(pdf(grid)) - envelope * np.asarray(proposal_pdf(grid))))


# ----------------------------------------------------------------------------------
# 9. Checks and reference curves shown next to the samplers
# ----------------------------------------------------------------------------------


def ks_test(samples: np.ndarray, cdf: str | Callable[[np.ndarray], np.ndarray] = "norm"):
    """One-sample Kolmogorov-Smirnov test of ``samples`` against ``cdf`` (default N(0, 1)):
    the result has ``statistic`` D = sup |F_n - F| and ``pvalue``."""
    return stats.kstest(samples, cdf)


def mixture_density_grid(weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, bounds: np.ndarray,
                         resolution: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p(x) = sum_k pi_k N(x | mu_k, Sigma_k) on a resolution^2 grid over ``bounds`` (2, 2): (xs, ys, p)."""
    from playground.distributions import GaussianMixture

    xs = np.linspace(bounds[0][0], bounds[0][1], resolution)
    ys = np.linspace(bounds[1][0], bounds[1][1], resolution)
    mesh = np.stack([m.ravel() for m in np.meshgrid(xs, ys)], axis=1)
    mixture = GaussianMixture(np.asarray(weights) / np.sum(weights), means, covariances, device="cpu")
    return xs, ys, np.exp(mixture.log_prob(mesh)).reshape(resolution, resolution)


def box_muller_pvalues(n: int, n_seeds: int = 100, seed: SeedLike = 0) -> np.ndarray:
    """KS p-values of Box-Muller against N(0, 1), one per seed (``n`` samples each). When the generator
    is right they are uniform on [0, 1]: about 5 % fall below 0.05 by chance alone."""
    seeds = np.random.SeedSequence(int(seed) if not isinstance(seed, np.random.Generator) else 0).spawn(int(n_seeds))
    return np.array([ks_test(box_muller(int(n), np.random.default_rng(child))).pvalue for child in seeds])


def chisquare_pvalue(counts: np.ndarray, expected: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of observed ``counts`` against ``expected`` counts."""
    return float(stats.chisquare(counts, expected).pvalue)


@dataclass(frozen=True)
class NormalReference:
    """What a histogram and QQ plot of z are compared with: the N(0, 1) density on ``grid`` and, for
    at most ~``max_points`` order statistics, the normal quantiles against the sample quantiles."""

    grid: np.ndarray
    density: np.ndarray
    theoretical: np.ndarray
    sample: np.ndarray
    histogram: "BinnedDensity"


def normal_reference(z: np.ndarray, limit: float = 4.5, n_grid: int = 301, max_points: int = 2000,
                     bins: int = 60) -> NormalReference:
    """N(0, 1) density on [-limit, limit], the QQ pairs (Phi^-1((i - 1/2) / n), z_(i)) for every step-th i,
    and the density histogram of z on ``bins`` bins of [-limit, limit]."""
    grid = np.linspace(-limit, limit, n_grid)
    ordered = np.sort(z)
    probabilities = (np.arange(1, len(z) + 1) - 0.5) / len(z)
    step = max(1, len(z) // max_points)
    return NormalReference(grid, stats.norm.pdf(grid), stats.norm.ppf(probabilities[::step]), ordered[::step],
                           binned_density(z, np.linspace(-limit, limit, bins + 1)))


REJECTION_PROPOSALS = ("gaussian", "cauchy", "uniform")


def rejection_proposal(kind: str, scale: float, bounds: tuple[float, float]):
    """The proposal q of rejection sampling as a frozen SciPy distribution (``pdf``, ``rvs``):
    N(0, scale^2), Cauchy(0, scale), or uniform on ``bounds``."""
    if kind == "gaussian":
        return stats.norm(0.0, scale)
    if kind == "cauchy":
        return stats.cauchy(0.0, scale)
    return stats.uniform(bounds[0], bounds[1] - bounds[0])


def histogram_density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts / (n in range * bin width); zeros when no value falls in the range (no 0/0)."""
    counts = np.histogram(values, bins=edges)[0]
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total else np.zeros(len(edges) - 1)


@dataclass(frozen=True)
class BinnedDensity:
    """A density histogram binned in NumPy (the browser gets one bar per bin, not every sample)."""

    edges: np.ndarray
    density: np.ndarray


def binned_density(values: np.ndarray, edges: np.ndarray, *, finite_only: bool = True) -> BinnedDensity:
    """The density histogram of ``values`` on ``edges`` (non-finite values dropped unless ``finite_only=False``)."""
    if finite_only:
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
    return BinnedDensity(edges, histogram_density(values, edges))


def binned_in_window(samples: np.ndarray, low: float, high: float, bins: int = 60, *,
                     of_all: bool = True) -> BinnedDensity:
    """Density histogram of the samples in [low, high] on ``bins`` equal bins: a density of *all* the
    samples (the bars integrate to the fraction inside), or with ``of_all=False`` of those inside."""
    edges = np.linspace(low, high, bins + 1)
    inside = samples[(samples >= low) & (samples <= high)]
    binned = binned_density(inside, edges)
    return BinnedDensity(edges, binned.density * inside.size / max(samples.size, 1)) if of_all else binned


def marginal_histograms(samples: np.ndarray, axes, bins: int = 50) -> list[BinnedDensity]:
    """The density histogram of each coordinate of ``samples`` (n, d) over its plotting axis."""
    flat = samples.reshape(-1, len(axes))
    return [BinnedDensity(edges, histogram_density(flat[:, j], edges))
            for j, edges in enumerate(np.linspace(axis[0], axis[-1], bins + 1) for axis in axes)]
