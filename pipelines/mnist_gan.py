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

from rnognoise.core import (
    TrainingLoop,
)

from .common import (
    add_generative_eval_options,
    batch_indices,
    build_parser,
    finish_run,
    log_data_source,
    loop_config,
    nonsaturating_gan_step,
    prepare_output_dir,
    run_info,
    run_main,
    seed_everything,
    step_generator,
    total_steps,
)
from .data import load_train_and_test
from .evaluation import evaluate_generator

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
    parser = build_parser(NAME, __doc__, epochs=50, smoke_epochs=40, batch_size=64)
    parser.add_argument("--latent-dim", type=int, default=100, help="latent size (100)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (2e-4)")
    parser.add_argument("--width-scale", type=float, default=None,
                        help="multiply the hidden widths 256/512/1024 (default 1; 0.5 with "
                        "--smoke)")
    add_generative_eval_options(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, sample, evaluate; write outputs into ``args.out``; return the metrics."""
    seed_everything(args.seed)
    out = prepare_output_dir(args)
    train, test = load_train_and_test("mnist", None if args.smoke else args.data_dir,
                                      seed=args.seed)
    log_data_source(args, train.source, len(train))
    x = torch.from_numpy(train.images) * 2.0 - 1.0
    steps, _ = total_steps(args, len(x))
    scale = args.width_scale or (0.5 if args.smoke else 1.0)
    hidden = tuple(max(1, round(h * scale)) for h in HIDDEN)
    gen, disc = Generator(args.latent_dim, hidden), Discriminator(hidden)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))

    def step(i: int) -> dict[str, float]:
        real = x[torch.from_numpy(batch_indices(len(x), args.batch_size, args.seed, i))]
        z = torch.randn(len(real), args.latent_dim, generator=step_generator(args.seed, i))
        return nonsaturating_gan_step(gen, disc, opt_g, opt_d, real, z)

    result = TrainingLoop(loop_config(args, out, steps), modules={"generator": gen,
                          "discriminator": disc}, optimizers={"opt_g": opt_g, "opt_d": opt_d},
                          step_fn=step, run_info=run_info(args)).run()
    gen.eval()
    with torch.no_grad():
        z = torch.randn(args.n_eval, args.latent_dim,
                        generator=torch.Generator().manual_seed(args.seed + 7))
        samples = (gen(z) + 1.0) / 2.0
    metrics = evaluate_generator(samples, train.images, train.labels, n_classes=10,
                                 reference_images=None if test is None else test.images,
                                 classifier_epochs=args.classifier_epochs, seed=args.seed)
    return finish_run(args, out, result, {"samples.png": (samples[:64], 8)}, metrics)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
