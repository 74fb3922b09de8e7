"""Samplers benchmark.

1. Normal variates per second: our ``box_muller`` (NumPy) against NumPy's
   ``Generator.standard_normal`` (ziggurat), n = 1,000,000; also our polar method
   and the torch Box-Muller on the default device against ``torch.randn``.
2. MCMC steps per second: the MALA stepper (torch, 1,000 parallel chains on the
   3-component mixture, no recording) against the same algorithm as a plain NumPy loop.
   On the CPU both run on one thread (NumPy's loop is single-threaded; torch's
   intra-op threads only add synchronisation for (1000, 2) tensors, badly so on a
   loaded machine). The thread count is restored afterwards.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

N_NORMALS = 1_000_000
N_CHAINS, N_STEPS, STEP_SIZE = 1_000, 200, 0.1


def numpy_mixture_mala(params, step_size: float, n_chains: int, n_steps: int, seed: int) -> np.ndarray:
    """MALA written directly in NumPy, the way one would without the playground: final (C, d) positions."""
    generator = np.random.default_rng(seed)
    precisions = np.linalg.inv(params.covariances)
    log_norm = (np.log(params.weights) - 0.5 * params.means.shape[1] * np.log(2 * np.pi)
                - 0.5 * np.linalg.slogdet(params.covariances)[1])

    def log_prob_and_grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diff = x[:, None, :] - params.means[None]
        scaled = np.einsum("kij,nkj->nki", precisions, diff)
        log_components = log_norm - 0.5 * (diff * scaled).sum(-1)
        top = log_components.max(axis=1, keepdims=True)
        weights = np.exp(log_components - top)
        total = weights.sum(axis=1, keepdims=True)
        return (top + np.log(total))[:, 0], -((weights / total)[..., None] * scaled).sum(1)

    x = np.zeros((n_chains, params.means.shape[1]))
    log_p, grad = log_prob_and_grad(x)
    for _ in range(n_steps):
        y = x + step_size * grad + math.sqrt(2 * step_size) * generator.standard_normal(x.shape)
        log_p_y, grad_y = log_prob_and_grad(y)
        backward = x - y - step_size * grad_y
        forward = y - x - step_size * grad
        log_alpha = log_p_y - log_p - ((backward**2).sum(1) - (forward**2).sum(1)) / (4 * step_size)
        accept = np.log(generator.random(n_chains)) < log_alpha
        x = np.where(accept[:, None], y, x)
        log_p = np.where(accept, log_p_y, log_p)
        grad = np.where(accept[:, None], grad_y, grad)
    return x


def run(report) -> None:
    """Check that each pair computes the same law, then time it."""
    from playground.device import default_device, device_label
    from playground.mcmc import MCMCChains, energy_for
    from playground.sampling import box_muller, box_muller_torch, marsaglia_polar
    from playground.targets import MOG2D

    generator_seed = 0
    ours = box_muller(N_NORMALS, generator_seed)
    peer = np.random.default_rng(generator_seed).standard_normal(N_NORMALS)
    assert stats.ks_2samp(ours[:100_000], peer[:100_000]).pvalue > 1e-3
    report(f"normals: box_muller vs Generator.standard_normal (n={N_NORMALS:,})",
           lambda: box_muller(N_NORMALS, generator_seed),
           lambda: np.random.default_rng(generator_seed).standard_normal(N_NORMALS),
           note="ratio = our normals per second / NumPy's")
    report(f"normals: marsaglia_polar vs Generator.standard_normal (n={N_NORMALS:,})",
           lambda: marsaglia_polar(N_NORMALS, generator_seed),
           lambda: np.random.default_rng(generator_seed).standard_normal(N_NORMALS))

    device = default_device()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def torch_box_muller() -> None:
        box_muller_torch(N_NORMALS, generator_seed, device)
        sync()

    def torch_randn() -> None:
        torch.randn(N_NORMALS, generator=torch.Generator(device=device).manual_seed(0), device=device)
        sync()

    report(f"normals on {device_label(device)}: box_muller_torch vs torch.randn", torch_box_muller, torch_randn)

    def ours_mala() -> MCMCChains:
        threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(1)
        try:
            chains = MCMCChains(energy_for("mog2d", device), "mala", STEP_SIZE, n_chains=N_CHAINS, seed=0,
                                device=device, keep=0)
            chains.step(N_STEPS)
            sync()
        finally:
            torch.set_num_threads(threads)
        return chains

    def numpy_mala() -> np.ndarray:
        return numpy_mixture_mala(MOG2D, STEP_SIZE, N_CHAINS, N_STEPS, seed=0)

    final_ours, final_peer = ours_mala().positions, numpy_mala()
    for j in range(2):  # same stationary law: the final chain clouds agree
        assert stats.ks_2samp(final_ours[:, j], final_peer[:, j]).pvalue > 1e-4
    row = report(f"MALA {N_CHAINS:,} chains x {N_STEPS} steps on {device_label(device)} vs NumPy loop",
                 ours_mala, numpy_mala, repeats=3,
                 note="ratio = our chain-steps per second / NumPy's")
    report.measure("MALA chain-steps per second (ours)", N_CHAINS * N_STEPS / row["ours_s"], "steps/s")
    report.measure("MALA chain-steps per second (NumPy)", N_CHAINS * N_STEPS / row["peer_s"], "steps/s")
