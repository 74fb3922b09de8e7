"""VQ-VAE benchmark: one epoch over the training digits, VQ-VAE (two codes of 8 numbers, K = 32)
against the latent explorer's default VAE (the report the issue asks for: how much the
quantiser costs), both through their steppers."""

from __future__ import annotations

import math

import torch

from playground.autoencoders import AutoencoderConfig, AutoencoderTrainer
from playground.images import load_digits
from playground.vq import VQConfig, VQTrainer

CPU = torch.device("cpu")


def run(report) -> None:
    split = load_digits().split(0.2, seed=0)
    vae = AutoencoderTrainer(split.x_train, split.x_test, config=AutoencoderConfig(batch_size=128), device=CPU)
    config = VQConfig(data="digits", codes=32, batch_size=128, eval_every=10**9)
    vq = VQTrainer(split.x_train, split.x_test, config, device=CPU)
    steps = math.ceil(len(split.x_train) / config.batch_size)  # one epoch of VQ steps
    vae.step(1)
    vq.step(steps)
    report("one epoch on the digits, batch 128: VQ-VAE (K = 32) vs the VAE", lambda: vq.step(steps),
           lambda: vae.step(1), note="peer: the latent explorer's VAE (256-128 hidden); a report, no goal",
           repeats=7)
