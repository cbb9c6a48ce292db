"""pix2pix: paired image-to-image translation with a U-Net generator and a PatchGAN.

Isola et al. (2017): the generator G (U-Net with skip connections, dropout as its noise)
maps an input image x to an output; the discriminator D (70x70 PatchGAN) judges
``(x, y)`` pairs patch by patch. G minimises ``-log D(x, G(x)) + lambda |y - G(x)|_1`` with
lambda = 100, D the binary cross-entropy (halved, to slow D relative to G). Adam, learning
rate 2e-4, betas (0.5, 0.999), batch size 1, weights from N(0, 0.02). As in the paper,
images are produced with dropout on and batch norm using the statistics of the batch at
hand (batches of the training batch size).

Data: ``--data-dir ROOT`` in the standard pix2pix layout, ``ROOT/train/*.jpg`` with the
A and B images side by side (e.g. the maps or facades data sets), images resized to
``--image-size`` (256 as in the paper); evaluation on ``ROOT/val/`` or ``ROOT/test/``,
else on a held-out tenth of ``train/``. ``--direction AtoB`` (default) translates the
left half into the right half. Without ``--data-dir``: procedural outline drawings (A)
and the same shapes filled with the colour of their kind (B), 32x32
(:func:`pipelines.data.paired_edges_filled`): a dense target with one right answer per
input.

Metrics on the evaluation pairs: L1, PSNR and SSIM of G(x) against y (images in [0, 1]),
next to two trivial answers: the mean training target for every input, and the input
itself.

The full configuration is the paper's (U-Net with ``log2(size)`` down-sampling steps,
ngf = ndf = 64, 3-layer PatchGAN); images are 256 px for ``--data-dir`` and 32 px for
the embedded data. ``--smoke`` uses ngf = ndf = 16 and a 2-layer PatchGAN (34x34
patches).

Reference
---------
P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017, arXiv:1611.07004.

Example
-------
``python -m pipelines.pix2pix --data-dir datasets/maps --direction BtoA``
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnognoise.core import bce_discriminator_loss, nonsaturating_generator_loss
from rnognoise.errors import ConfigError, DataFileError
from rnognoise.logs import get_logger, log_event

from .batches import batch_indices, total_steps
from .cli import build_parser, run_main
from .data import load_paired_folder, paired_edges_filled
from .evaluation.paired import paired_metrics
from .nets_image2image import PatchDiscriminator, UNetGenerator, init_weights
from .outputs import comparison_rows
from .run import (
    Grid,
    ignore_data_dir_with_smoke,
    open_run,
    run_training,
    training_summary,
    write_outputs,
)

__all__ = ["generate", "load_pairs", "main", "run"]

NAME = "pix2pix"
_log = get_logger(f"pipelines.{NAME}")


def load_pairs(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray, str]:
    """Training inputs and targets, evaluation inputs and targets (in [0, 1]), and a source.

    The direction (``--direction``) is applied: inputs are A for ``AtoB``, B for ``BtoA``.
    """
    if args.data_dir is None:
        n = args.n_images or (600 if args.smoke else 2000)
        log_event(_log, "no --data-dir: using the embedded procedural outlines -> filled "
                  "shapes pairs", images=n, size=args.image_size)
        # A: outlines, B: the shapes filled with their kind's colour (one answer per input)
        a, b = paired_edges_filled(n, size=args.image_size, seed=args.seed)
        ta, tb = paired_edges_filled(100, size=args.image_size, seed=args.seed + 1_000_000)
        source = f"embedded: procedural outlines->filled shapes pairs ({n} train, 100 test)"
    else:
        root = Path(args.data_dir)
        a, b = load_paired_folder(root, split="train", size=args.image_size,
                                  max_images=args.n_images)
        split = next((s for s in ("val", "test") if (root / s).is_dir()), None)
        if split is not None:
            ta, tb = load_paired_folder(root, split=split, size=args.image_size,
                                        max_images=200)
        else:
            if len(a) < 2:
                raise DataFileError(root / "train", "need at least 2 pairs to hold one out")
            n_test = max(1, len(a) // 10)
            a, ta, b, tb = a[n_test:], a[:n_test], b[n_test:], b[:n_test]
        source = f"{root} (train, evaluated on {split or 'held-out train'})"
        log_event(_log, "pairs loaded", path=str(root), train=len(a), test=len(ta))
    if args.direction == "BtoA":
        a, b, ta, tb = b, a, tb, ta
    return a, b, ta, tb, source


@torch.no_grad()
def generate(gen: torch.nn.Module, inputs: np.ndarray, *, batch_size: int,
             seed: int) -> np.ndarray:
    """Translate ``inputs`` (in [0, 1]) as in the paper: dropout on, batch statistics.

    Returns images in [0, 1]; the torch RNG state outside is left untouched.
    """
    outputs = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        was_training = gen.training
        gen.train()
        for start in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[start:start + batch_size]) * 2.0 - 1.0
            outputs.append(((gen(x) + 1.0) / 2.0).clamp(0.0, 1.0).numpy())
        gen.train(was_training)
    return np.concatenate(outputs)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate; write samples, loss curves, metrics and checkpoints to ``--out``."""
    ignore_data_dir_with_smoke(args)
    if args.image_size is None:
        args.image_size = 32 if args.data_dir is None else 256
    size = args.image_size
    num_downs = min(8, int(math.log2(size))) if size >= 4 else 0
    if num_downs < 2 or size % (2 ** num_downs):
        raise ConfigError(f"--image-size must be a power of two >= 4 or a multiple of 256, "
                          f"got {size}")
    out = open_run(args)
    x_train, y_train, x_test, y_test, source = load_pairs(args)
    ngf = args.ngf or (16 if args.smoke else 64)
    d_layers = args.d_layers or (2 if args.smoke else 3)
    c_in, c_out = x_train.shape[1], y_train.shape[1]
    gen = init_weights(UNetGenerator(c_in, c_out, num_downs, ngf, norm="batch"))
    disc = init_weights(PatchDiscriminator(c_in + c_out, ngf, d_layers, norm="batch"))
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))
    xt = torch.from_numpy(x_train) * 2.0 - 1.0
    yt = torch.from_numpy(y_train) * 2.0 - 1.0
    steps, epochs = total_steps(args, len(xt))

    def step(i: int) -> dict[str, float]:
        idx = torch.from_numpy(batch_indices(len(xt), args.batch_size, args.seed, i))
        x, y = xt[idx], yt[idx]
        fake = gen(x)
        loss_d = 0.5 * bce_discriminator_loss(disc(torch.cat([x, y], 1)),
                                              disc(torch.cat([x, fake.detach()], 1)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        adv = nonsaturating_generator_loss(disc(torch.cat([x, fake], 1)))
        l1 = F.l1_loss(fake, y)
        loss_g = adv + args.lambda_l1 * l1
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"D": loss_d.item(), "G_adv": adv.item(), "G_L1": l1.item()}

    log_event(_log, "training", train=len(xt), test=len(x_test), steps=steps, epochs=epochs,
              ngf=ngf, num_downs=num_downs, direction=args.direction)
    result = run_training(args, out, steps, modules={"generator": gen, "discriminator": disc},
                          optimizers={"generator": opt_g, "discriminator": opt_d}, step_fn=step)

    pred = generate(gen, x_test, batch_size=args.batch_size, seed=args.seed)
    baseline = np.broadcast_to(y_train.mean(axis=0), y_test.shape)
    with_ssim = min(y_test.shape[2:]) >= 11
    metrics: dict[str, Any] = {
        "pipeline": NAME, "data": source, "direction": args.direction,
        "image_size": size, "n_train": len(xt), "n_test": len(x_test),
        **training_summary(result, epochs=epochs),
        "ngf": ngf, "d_layers": d_layers, "lambda_l1": args.lambda_l1,
        "test": paired_metrics(pred, y_test, with_ssim=with_ssim),
        "baseline_mean_target": paired_metrics(baseline, y_test, with_ssim=with_ssim),
        "baseline_input": (paired_metrics(x_test, y_test, with_ssim=with_ssim)
                           if x_test.shape == y_test.shape else None),
    }
    rows = comparison_rows([x_test, pred, y_test], min(8, len(x_test)))
    return write_outputs(args, out, result,
                         {"samples.png": Grid(rows, 6, scale=max(1, 128 // size))}, metrics)


def build_cli() -> argparse.ArgumentParser:
    """The command-line parser (shared options plus the pix2pix settings)."""
    parser = build_parser(NAME, __doc__, epochs=200, smoke_epochs=1, batch_size=1)
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB",
                        help="translate the left half into the right (AtoB) or back")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side of the square images (256 for --data-dir; 32 for the "
                        "embedded data)")
    parser.add_argument("--lambda-l1", type=float, default=100.0,
                        help="weight of the L1 term (default 100)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (2e-4)")
    parser.add_argument("--ngf", type=int, default=None,
                        help="filters of the first layers of G and D (64; 16 with --smoke)")
    parser.add_argument("--d-layers", type=int, default=None,
                        help="PatchGAN stride-2 layers (3: 70x70 patches; 2 with --smoke)")
    parser.add_argument("--n-images", type=int, default=None,
                        help="training pairs to use (default all; 600 procedural with "
                        "--smoke, 2000 otherwise)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, build_cli(), run, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
