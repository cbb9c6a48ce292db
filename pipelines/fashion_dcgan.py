"""DCGAN on Fashion-MNIST (Radford et al. 2015).

The DCGAN architecture guidelines at 28x28: no pooling or fully connected hidden layers;
the generator projects the latent vector with a transposed convolution to 7x7 and
upsamples with stride-2 transposed convolutions (7 -> 14 -> 28), batch norm and ReLU,
tanh output; the discriminator downsamples with stride-2 convolutions and LeakyReLU 0.2,
batch norm on every layer but the first. Weights from N(0, 0.02), Adam lr 2e-4 with
beta1 0.5, batch 128, images scaled to [-1, 1], BCE discriminator loss and non-saturating
generator loss from :mod:`rnognoise.core`.

Full configuration: ``--width 64`` (generator 256 -> 128 -> 1 channels, discriminator
1 -> 64 -> 128 -> 1), the paper's 64x64 network with the 1024/512 layers dropped for
28x28 images. ``--smoke`` uses ``--width 16`` and the embedded garment shapes.

Run::

    python -m pipelines.fashion_dcgan --data-dir DIR [--epochs 25] [--out DIR]
    python -m pipelines.fashion_dcgan --smoke

References
----------
A. Radford, L. Metz, S. Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", arXiv:1511.06434.
H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST", arXiv:1708.07747.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .cli import add_generative_eval_options, build_parser, run_main
from .mnist_family import add_embedded_option, open_image_run, train_unconditional_gan

__all__ = ["NAME", "DCDiscriminator", "DCGenerator", "add_dcgan_options", "dcgan_init", "main",
           "make_parser", "run"]

NAME = "fashion_dcgan"


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGenerator(nn.Module):
    """``(N, in_dim)`` -> ``(N, channels, 28, 28)`` in [-1, 1].

    Parameters
    ----------
    in_dim : int
        Input size (latent size, plus the label size in conditional use).
    width : int
        Base width; the layers have 4*width and 2*width channels.
    channels : int
        Image channels.
    """

    def __init__(self, in_dim: int = 100, width: int = 64, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_dim, 4 * width, 7, 1, 0, bias=False),
            nn.BatchNorm2d(4 * width), nn.ReLU(True),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, channels, 4, 2, 1), nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCDiscriminator(nn.Module):
    """``(N, channels, 28, 28)`` -> ``(N, outputs)`` logits (``(N,)`` when outputs is 1).

    Parameters
    ----------
    width : int
        Channels of the first convolution (the second has twice as many).
    channels : int
        Input channels (image channels, plus label maps in conditional use).
    outputs : int
        Logits per image (1 + classes for AC-GAN).
    """

    def __init__(self, width: int = 64, channels: int = 1, outputs: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * width, outputs, 7, 1, 0),
        )
        self.outputs = outputs
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x).flatten(1)
        return out.squeeze(1) if self.outputs == 1 else out


def add_dcgan_options(parser: argparse.ArgumentParser) -> None:
    """Add the DCGAN settings ``--latent-dim``, ``--lr``, ``--width`` and ``--n-embedded``."""
    parser.add_argument("--latent-dim", type=int, default=100, help="latent size (100)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (2e-4)")
    parser.add_argument("--width", type=int, default=None,
                        help="base width (default 64; 16 with --smoke)")
    add_embedded_option(parser)


def make_parser() -> argparse.ArgumentParser:
    """Command-line options of this pipeline."""
    parser = build_parser(NAME, __doc__, epochs=25, smoke_epochs=8, batch_size=128)
    add_dcgan_options(parser)
    add_generative_eval_options(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, sample, evaluate; write outputs into ``args.out``; return the metrics."""
    out, train, test = open_image_run(args, "fashion")
    width = args.width or (16 if args.smoke else 64)
    return train_unconditional_gan(args, out, train, test,
                                   DCGenerator(args.latent_dim, width), DCDiscriminator(width))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
