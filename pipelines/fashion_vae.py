"""Convolutional variational autoencoder on Fashion-MNIST (Kingma & Welling 2013).

Encoder: two stride-2 convolutions (28 -> 14 -> 7, ``width`` and ``2*width`` channels,
ReLU) and a linear layer to the mean and log-variance of a diagonal Gaussian posterior;
decoder: the mirror image with transposed convolutions, giving Bernoulli logits per pixel.
The loss is the negative ELBO per image, the summed binary cross-entropy of the
reconstruction plus :func:`rnognoise.core.gaussian_kl`; Adam lr 1e-3, batch 128. The
held-out negative ELBO is the loop's validation score, so the best weights are kept.

Full configuration: ``--width 32 --latent-dim 16``; ``--smoke`` uses the same widths on the
embedded garment shapes.

Run::

    python -m pipelines.fashion_vae --data-dir DIR [--epochs 20] [--out DIR]
    python -m pipelines.fashion_vae --smoke

References
----------
D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnognoise.core import gaussian_kl

from .batches import batch_indices, step_generator, steps_per_epoch, total_steps
from .cli import add_generative_eval_options, build_parser, run_main
from .mnist_family import add_embedded_option, evaluate_and_finish, evaluation_rng, open_image_run
from .run import Grid, run_training

__all__ = ["NAME", "ConvVAE", "main", "make_parser", "negative_elbo", "run"]

NAME = "fashion_vae"


class ConvVAE(nn.Module):
    """Convolutional VAE for ``(N, 1, 28, 28)`` images in [0, 1].

    Parameters
    ----------
    latent_dim : int
        Size of the latent Gaussian.
    width : int
        Channels of the first convolution (the second has twice as many).
    """

    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(2 * width * 49, 2 * latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 49), nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance ``(N, latent_dim)`` each."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(N, 1, 28, 28)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction logits, mean and log-variance (reparameterised sample)."""
        mu, logvar = self.encode(x)
        eps = torch.randn_like(mu) if noise is None else noise
        return self.decode(mu + eps * (0.5 * logvar).exp()), mu, logvar


def negative_elbo(model: ConvVAE, x: torch.Tensor, noise: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per image (nats), with its reconstruction and KL parts."""
    logits, mu, logvar = model(x, noise)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = gaussian_kl(mu, logvar)
    return recon + kl, recon, kl


def make_parser() -> argparse.ArgumentParser:
    """Command-line options of this pipeline."""
    parser = build_parser(NAME, __doc__, epochs=20, smoke_epochs=8, batch_size=128)
    parser.add_argument("--latent-dim", type=int, default=16, help="latent size (16)")
    parser.add_argument("--width", type=int, default=32, help="base width (32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    add_embedded_option(parser)
    add_generative_eval_options(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, sample, evaluate; write outputs into ``args.out``; return the metrics."""
    out, train, test = open_image_run(args, "fashion")
    if test is None:  # hold out a tenth of the training images
        order = np.random.default_rng(args.seed).permutation(len(train))
        cut = max(1, len(train) // 10)
        train, test = train.subset(np.sort(order[cut:])), train.subset(np.sort(order[:cut]))
    x = torch.from_numpy(train.images)
    x_val = torch.from_numpy(test.images[:2000])
    steps, _ = total_steps(args, len(x))
    model = ConvVAE(args.latent_dim, args.width)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def step(i: int) -> dict[str, float]:
        batch = x[torch.from_numpy(batch_indices(len(x), args.batch_size, args.seed, i))]
        noise = torch.randn(len(batch), args.latent_dim, generator=step_generator(args.seed, i))
        loss, recon, kl = negative_elbo(model, batch, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"neg_elbo": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def validate(_: int) -> float:
        noise = torch.randn(len(x_val), args.latent_dim,
                            generator=torch.Generator().manual_seed(args.seed + 3))
        with torch.no_grad():
            return negative_elbo(model, x_val, noise)[0].item()

    result = run_training(args, out, steps, modules={"vae": model}, optimizers={"opt": opt},
                   step_fn=step, eval_fn=validate,
                   eval_every=steps_per_epoch(len(x), args.batch_size))
    model.eval()
    with torch.no_grad():
        z = torch.randn(args.n_eval, args.latent_dim, generator=evaluation_rng(args))
        samples = torch.sigmoid(model.decode(z))
        val_elbo, val_recon, val_kl = negative_elbo(model, x_val, torch.zeros(
            len(x_val), args.latent_dim))
        recon_mean = torch.sigmoid(model(x_val[:32], torch.zeros(32, args.latent_dim))[0])
        mse = float(F.mse_loss(torch.sigmoid(model(x_val, torch.zeros(
            len(x_val), args.latent_dim))[0]), x_val))
    pairs = torch.stack([x_val[:32], recon_mean], dim=1).flatten(0, 1)
    return evaluate_and_finish(
        args, out, result, samples, train, test,
        {"samples.png": Grid(samples[:64], 8), "reconstructions.png": Grid(pairs, 8)},
        extra={"val_neg_elbo_at_posterior_mean": float(val_elbo),
               "val_recon_bce": float(val_recon), "val_kl": float(val_kl),
               "val_recon_mse": mse, "best_val_neg_elbo": result.best_score})


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
