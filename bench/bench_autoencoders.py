"""VAE training speed on the digits: the page's stepper against a plain PyTorch loop.

Both train the same network (64-256-128-2 encoder, mirrored decoder) with the same
batch size, optimiser and loss on the same device; the stepper adds its NaN guard
(a copy of the weights per epoch) and a test-set evaluation every 5 epochs. The
ratio peer/ours is the stepper's speed relative to the bare loop (>= 0.9 wanted).
Also measured: wall-clock seconds until the test ELBO reaches a target. Runs with
one intra-op thread (restored afterwards).
"""

from __future__ import annotations

import time

import torch
from torch.nn import functional as F

from playground.autoencoders import AutoencoderConfig, AutoencoderTrainer, gaussian_kl, initialize
from playground.device import default_device, to_tensor
from playground.images import load_digits

EPOCHS_PER_CALL = 5
TARGET_ELBO = -25.0  # nats per test image; a 2D VAE on the digits plateaus near -23.5
MAX_EPOCHS = 300


def _plain_loop(x_train: torch.Tensor, config: AutoencoderConfig, device: torch.device):
    """The textbook VAE loop (as in pytorch/examples), with the trainer's network and seed."""
    trainer = AutoencoderTrainer(x_train[:2].cpu().numpy(), config=config, device=device)
    model = initialize(trainer.model, 0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator(device=device).manual_seed(1)

    def epochs(n: int) -> None:
        for _ in range(n):
            order = torch.randperm(len(x_train), generator=generator, device=device)
            for start in range(0, len(x_train), config.batch_size):
                x = x_train[order[start:start + config.batch_size]]
                mu, logvar = model.encode(x)
                z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, device=device)
                logits = model.decoder_output(z)
                loss = (F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
                        + gaussian_kl(mu, logvar).mean())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    return epochs


def run(report) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one intra-op thread is fastest on a CPU (see the README)
    try:
        _run(report)
    finally:
        torch.set_num_threads(threads)


def _run(report) -> None:
    device = default_device()
    split = load_digits().split(0.2, seed=0)
    config = AutoencoderConfig(kind="vae", latent_dim=2)
    trainer = AutoencoderTrainer(split.x_train, split.x_test, config=config, device=device)
    plain = _plain_loop(to_tensor(split.x_train, device), config, device)
    report(f"VAE on digits: {EPOCHS_PER_CALL} epochs (stepper vs plain loop)",
           lambda: trainer.step(EPOCHS_PER_CALL), lambda: plain(EPOCHS_PER_CALL),
           note=f"batch {config.batch_size}, device {device.type}; ratio >= 0.9 wanted", repeats=5, warmup=1)
    seconds_per_epoch = report.rows[-1]["ours_s"] / EPOCHS_PER_CALL
    report.measure("VAE on digits: epochs per second (stepper)", 1.0 / seconds_per_epoch, "epochs/s")

    fresh = AutoencoderTrainer(split.x_train, split.x_test, config=config, device=device, eval_every=1)
    start = time.perf_counter()
    while fresh.iteration < MAX_EPOCHS and fresh.step(1)["test_elbo"] < TARGET_ELBO:
        pass
    elapsed = time.perf_counter() - start
    report.measure(f"VAE on digits: seconds to test ELBO >= {TARGET_ELBO:g}", elapsed, "s",
                   note=f"{fresh.iteration} epochs, final test ELBO {fresh.history[-1]['test_elbo']:.2f}")
