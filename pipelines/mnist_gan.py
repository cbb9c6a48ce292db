"""Fully connected GAN on MNIST (Goodfellow et al. 2014).

Generator 100 -> 256 -> 512 -> 1024 -> 784 (LeakyReLU 0.2, tanh output) and discriminator
784 -> 1024 -> 512 -> 256 -> 1 (LeakyReLU 0.2, dropout 0.3), trained with the
binary cross-entropy discriminator loss and the non-saturating generator loss
(:func:`rnognoise.core.bce_discriminator_loss`,
:func:`rnognoise.core.nonsaturating_generator_loss`), one discriminator and one generator
update per step, Adam (lr 2e-4, betas 0.5/0.999), images scaled to [-1, 1].

With ``--smoke`` the hidden widths are halved (128/256/512); the full configuration is
the one above.

Run::

    python -m pipelines.mnist_gan --data-dir DIR [--epochs 50] [--out DIR]
    python -m pipelines.mnist_gan --smoke

References
----------
I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .cli import add_generative_eval_options, build_parser, run_main
from .mnist_family import open_image_run, train_unconditional_gan

__all__ = ["NAME", "Discriminator", "Generator", "main", "make_parser", "run"]

NAME = "mnist_gan"
HIDDEN = (256, 512, 1024)


class Generator(nn.Module):
    """Latent vector ``(N, latent_dim)`` -> image ``(N, 1, side, side)`` in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, hidden: Sequence[int] = HIDDEN,
                 side: int = 28) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers += [nn.Linear(width, side * side), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.side = side

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.side, self.side)


class Discriminator(nn.Module):
    """Image -> logit of "real"; hidden widths are the generator's, reversed."""

    def __init__(self, hidden: Sequence[int] = HIDDEN, side: int = 28,
                 dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = side * side
        for h in reversed(tuple(hidden)):
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def make_parser() -> argparse.ArgumentParser:
    """Command-line options of this pipeline."""
    parser = build_parser(NAME, __doc__, epochs=50, smoke_epochs=20, batch_size=64)
    parser.add_argument("--latent-dim", type=int, default=100, help="latent size (100)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (2e-4)")
    parser.add_argument("--width-scale", type=float, default=None,
                        help="multiply the hidden widths 256/512/1024 (default 1; 0.5 with "
                        "--smoke)")
    add_generative_eval_options(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, sample, evaluate; write outputs into ``args.out``; return the metrics."""
    out, train, test = open_image_run(args, "mnist")
    scale = args.width_scale or (0.5 if args.smoke else 1.0)
    hidden = tuple(max(1, round(h * scale)) for h in HIDDEN)
    return train_unconditional_gan(args, out, train, test,
                                   Generator(args.latent_dim, hidden), Discriminator(hidden))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
