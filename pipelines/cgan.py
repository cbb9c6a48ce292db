"""Conditional DCGAN and AC-GAN on MNIST or Fashion-MNIST.

``--variant cgan`` (default; Mirza & Osindero 2014 with the DCGAN networks of
:mod:`pipelines.fashion_dcgan`): the one-hot class label is appended to the latent vector
of the generator and, as constant label maps, to the image channels of the discriminator.
``--variant acgan`` (Odena et al. 2017): the generator is conditioned the same way; the
discriminator sees only the image and predicts, besides real/fake, the class, with a
cross-entropy term on real and generated images added to the discriminator loss and on
generated images to the generator loss. Adversarial losses are
:func:`rnognoise.core.bce_discriminator_loss` and
:func:`rnognoise.core.nonsaturating_generator_loss`; batch 100, Adam lr 2e-4 (beta1 0.5).

Full configuration: ``--width 64``; ``--smoke`` uses ``--width 16`` and the embedded data.

Run::

    python -m pipelines.cgan --dataset mnist --data-dir DIR [--variant acgan] [--epochs 25]
    python -m pipelines.cgan --dataset fashion --smoke

References
----------
M. Mirza, S. Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784.
A. Odena, C. Olah, J. Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
ICML 2017, arXiv:1610.09585.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnognoise.core import bce_discriminator_loss, nonsaturating_generator_loss

from .batches import batch_indices, step_generator, total_steps
from .cli import add_generative_eval_options, build_parser, run_main
from .fashion_dcgan import DCDiscriminator, DCGenerator, add_dcgan_options
from .mnist_family import N_CLASSES, evaluate_and_finish, evaluation_rng, open_image_run
from .run import Grid, run_training

__all__ = ["NAME", "ConditionalDiscriminator", "ConditionalGenerator", "main", "make_parser",
           "run"]

NAME = "cgan"


class ConditionalGenerator(nn.Module):
    """``(z, labels)`` -> images in [-1, 1]; the one-hot label is appended to ``z``."""

    def __init__(self, latent_dim: int = 100, n_classes: int = N_CLASSES,
                 width: int = 64) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = DCGenerator(latent_dim + n_classes, width)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], dim=1))


class ConditionalDiscriminator(nn.Module):
    """``(images, labels)`` -> real/fake logits; the label enters as constant channels."""

    def __init__(self, n_classes: int = N_CLASSES, width: int = 64) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = DCDiscriminator(width, channels=1 + n_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        maps = F.one_hot(labels, self.n_classes).to(x.dtype)[:, :, None, None]
        return self.net(torch.cat([x, maps.expand(-1, -1, *x.shape[2:])], dim=1))


def make_parser() -> argparse.ArgumentParser:
    """Command-line options of this pipeline."""
    parser = build_parser(NAME, __doc__, epochs=25, smoke_epochs=8, batch_size=100)
    parser.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist",
                        help="data set family (default: mnist)")
    parser.add_argument("--variant", choices=("cgan", "acgan"), default="cgan",
                        help="conditional DCGAN or auxiliary-classifier GAN (default: cgan)")
    add_dcgan_options(parser)
    add_generative_eval_options(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, sample per class, evaluate; write outputs into ``args.out``; return metrics."""
    out, train, test = open_image_run(args, args.dataset)
    x = torch.from_numpy(train.images) * 2.0 - 1.0
    y = torch.from_numpy(train.labels)
    steps, _ = total_steps(args, len(x))
    width = args.width or (16 if args.smoke else 64)
    acgan = args.variant == "acgan"
    gen = ConditionalGenerator(args.latent_dim, N_CLASSES, width)
    disc: nn.Module = (DCDiscriminator(width, outputs=1 + N_CLASSES) if acgan
                       else ConditionalDiscriminator(N_CLASSES, width))
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))

    def step(i: int) -> dict[str, float]:
        idx = torch.from_numpy(batch_indices(len(x), args.batch_size, args.seed, i))
        real, labels = x[idx], y[idx]
        rng = step_generator(args.seed, i)
        z = torch.randn(len(real), args.latent_dim, generator=rng)
        fake_labels = torch.randint(0, N_CLASSES, (len(real),), generator=rng)
        fake = gen(z, fake_labels)
        losses: dict[str, float] = {}
        if acgan:
            out_real, out_fake = disc(real), disc(fake.detach())
            adv = bce_discriminator_loss(out_real[:, 0], out_fake[:, 0])
            aux = (F.cross_entropy(out_real[:, 1:], labels)
                   + F.cross_entropy(out_fake[:, 1:], fake_labels))
            loss_d = adv + aux
            losses["aux_d"] = aux.item()
        else:
            loss_d = bce_discriminator_loss(disc(real, labels), disc(fake.detach(), fake_labels))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        if acgan:
            out_fake = disc(fake)
            aux_g = F.cross_entropy(out_fake[:, 1:], fake_labels)
            loss_g = nonsaturating_generator_loss(out_fake[:, 0]) + aux_g
            losses["aux_g"] = aux_g.item()
        else:
            loss_g = nonsaturating_generator_loss(disc(fake, fake_labels))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), **losses}

    result = run_training(args, out, steps, modules={"generator": gen, "discriminator": disc},
                          optimizers={"opt_g": opt_g, "opt_d": opt_d}, step_fn=step)
    gen.eval()
    with torch.no_grad():
        rng = evaluation_rng(args)
        labels = torch.arange(args.n_eval) % N_CLASSES
        samples = (gen(torch.randn(args.n_eval, args.latent_dim, generator=rng), labels)
                   + 1.0) / 2.0
        # grid: one row per class, ten samples each
        grid_labels = torch.arange(N_CLASSES).repeat_interleave(10)
        grid = (gen(torch.randn(len(grid_labels), args.latent_dim, generator=rng),
                    grid_labels) + 1.0) / 2.0
    return evaluate_and_finish(args, out, result, samples, train, test,
                               {"samples.png": Grid(grid, 10)}, sample_labels=labels.numpy(),
                               extra={"class_names": list(train.class_names)})


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
