"""SRGAN: 4x single-image super-resolution with a residual generator and an adversary.

Ledig et al. (2017): the generator (SRResNet: 16 residual blocks, 64 feature maps, two
pixel-shuffle x2 upsampling blocks) maps a low-resolution image to a 4x larger one; the
discriminator (eight 3x3 convolutions, 64 to 512 filters, two dense layers) tells
generated from real high-resolution crops. As in the paper, the generator is first
trained on the content loss alone (SRResNet, ``--pretrain-fraction`` of the steps, 0.8 as
the paper's 10^6 SRResNet steps before 2 x 10^5 SRGAN steps), then with
``content + 1e-3 * adversarial`` (the non-saturating ``-log D(G(x))``); Adam with betas
(0.9, 0.999), learning rate 1e-4, lowered to 1e-5 for the second half of the adversarial
phase; batch 16; random 96x96 high-resolution crops.

Deviations, each for a CPU budget of minutes instead of days:

- the content loss is the pixel MSE (the paper's SRGAN-MSE variant): its best model
  (SRGAN-VGG54) needs ImageNet VGG19 weights, which are not available offline;
- the warm-up runs at learning rate 1e-3 (``--pretrain-lr``; the paper's 1e-4 over 10^6
  steps);
- the generator learns the residual over the bicubic upsampling of its input (no tanh;
  ``--no-bicubic-skip`` restores the paper's output layer), so it starts at bicubic
  quality. Without it, 2500 content-only steps of the ``--smoke`` network reached bicubic
  PSNR (25.8 vs 25.0 dB) but not its SSIM (0.763 vs 0.771).

Data: ``--data-dir DIR``, any folder of PNG/JPG images; each is resized to
``--load-size`` pixels square (192 by default) and random ``--hr-size`` crops are taken
per step; a tenth of the images (centre crops) is held out for evaluation.
Low-resolution inputs are made by averaging 4x4 pixel blocks (the paper uses bicubic
down-sampling). Images are scaled to [-1, 1] for both networks. Without ``--data-dir``:
procedural coloured shapes (:func:`pipelines.data.random_shapes`), 32x32 -> 8x8.

Metrics on the held-out images (RGB in [0, 1], no border crop; the paper reports the Y
channel with a border crop): L1, PSNR and SSIM of the super-resolved images against the
originals, next to bicubic and nearest-neighbour upsampling of the same inputs.

The full configuration is the paper's. ``--smoke`` uses 16 feature maps, 4 residual
blocks, a discriminator of width 16 with 128 dense units, on 32x32 procedural images.

Reference
---------
C. Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv:1609.04802.

Example
-------
``python -m pipelines.srgan --data-dir photos/ --epochs 50``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnognoise.core import bce_discriminator_loss, nonsaturating_generator_loss
from rnognoise.errors import ConfigError, DataFileError
from rnognoise.logs import get_logger, log_event

from .batches import batch_indices, step_generator, total_steps
from .cli import build_parser, run_main
from .data import load_image_folder, random_shapes
from .evaluation.paired import paired_metrics
from .nets_image2image import SRDiscriminator, SRGenerator, translate
from .outputs import comparison_rows
from .run import (
    Grid,
    ignore_data_dir_with_smoke,
    open_run,
    run_training,
    training_summary,
    write_outputs,
)

__all__ = ["SCALE", "downsample", "main", "run", "super_resolve", "upsample_baseline"]

NAME = "srgan"
SCALE = 4
_log = get_logger(f"pipelines.{NAME}")


def downsample(hr: torch.Tensor, factor: int = SCALE) -> torch.Tensor:
    """Low-resolution images by averaging ``factor`` x ``factor`` blocks."""
    return F.avg_pool2d(hr, factor)


def upsample_baseline(lr: np.ndarray, mode: str, factor: int = SCALE) -> np.ndarray:
    """``"bicubic"`` or ``"nearest"`` upsampling of images in [0, 1] (clipped to [0, 1])."""
    t = torch.from_numpy(np.ascontiguousarray(lr))
    kwargs = {"align_corners": False} if mode == "bicubic" else {}
    up = F.interpolate(t, scale_factor=factor, mode=mode, **kwargs)
    return up.clamp(0.0, 1.0).numpy()


#: Apply the generator (evaluation mode) to low-resolution images in [0, 1].
super_resolve = translate


def _center_crop(images: np.ndarray, size: int) -> np.ndarray:
    h, w = images.shape[2:]
    y, x = (h - size) // 2, (w - size) // 2
    return images[:, :, y:y + size, x:x + size]


def _load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    if args.data_dir is None:
        n = args.n_images or (1000 if args.smoke else 4000)
        log_event(_log, "no --data-dir: using embedded procedural coloured shapes",
                  images=n, size=args.hr_size)
        train = random_shapes(n, size=args.load_size, seed=args.seed)
        test = random_shapes(100, size=args.load_size, seed=args.seed + 1_000_000)
        return train, _center_crop(test, args.hr_size), \
            f"embedded: procedural coloured shapes ({n} train, 100 test)"
    images = load_image_folder(args.data_dir, size=args.load_size, max_images=args.n_images)
    if len(images) < 2:
        raise DataFileError(args.data_dir, "need at least 2 images to hold one out")
    n_test = max(1, len(images) // 10)
    log_event(_log, "images loaded", path=args.data_dir, train=len(images) - n_test,
              test=n_test)
    return images[n_test:], _center_crop(images[:n_test], args.hr_size), \
        f"{args.data_dir} ({len(images) - n_test} train, {n_test} held out)"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate; write samples, loss curves, metrics and checkpoints to ``--out``."""
    ignore_data_dir_with_smoke(args)
    if args.hr_size is None:
        args.hr_size = 32 if args.smoke else 96
    if args.load_size is None:
        args.load_size = args.hr_size if args.data_dir is None else 2 * args.hr_size
    if args.hr_size % (4 * SCALE) or args.hr_size < 4 * SCALE:
        raise ConfigError(f"--hr-size must be a positive multiple of {4 * SCALE}, "
                          f"got {args.hr_size}")
    if args.load_size < args.hr_size:
        raise ConfigError(f"--load-size ({args.load_size}) must be at least --hr-size "
                          f"({args.hr_size})")
    if not 0.0 <= args.pretrain_fraction < 1.0:
        raise ConfigError(f"--pretrain-fraction must be in [0, 1), got {args.pretrain_fraction}")
    out = open_run(args)
    train_np, test_hr, source = _load(args)
    width = args.width or (16 if args.smoke else 64)
    n_blocks = args.n_blocks or (4 if args.smoke else 16)
    hidden = 128 if args.smoke else 1024
    ch = train_np.shape[1]
    gen = SRGenerator(ch, width, n_blocks, SCALE, bicubic_skip=args.bicubic_skip)
    disc = SRDiscriminator(ch, width, pool=max(1, args.hr_size // 16), hidden=hidden)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.9, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.9, 0.999))
    train = torch.from_numpy(train_np) * 2.0 - 1.0
    steps, epochs = total_steps(args, len(train))
    pretrain = int(round(args.pretrain_fraction * steps))
    lr_drop = pretrain + (steps - pretrain) // 2
    room = args.load_size - args.hr_size

    def step(i: int) -> dict[str, float]:
        idx = torch.from_numpy(batch_indices(len(train), args.batch_size, args.seed, i))
        hr = train[idx]
        if room > 0:
            corners = torch.randint(room + 1, (len(hr), 2),
                                    generator=step_generator(args.seed, i)).tolist()
            s = args.hr_size
            hr = torch.stack([img[:, y:y + s, x:x + s] for img, (y, x) in zip(hr, corners,
                                                                               strict=True)])
        lr_img = downsample(hr)
        if i < pretrain:
            lr_now = args.pretrain_lr
        else:
            lr_now = args.lr if i < lr_drop else 0.1 * args.lr
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr_now
        sr = gen(lr_img)
        content = F.mse_loss(sr, hr)
        if i < pretrain:
            opt_g.zero_grad(set_to_none=True)
            content.backward()
            opt_g.step()
            return {"content": content.item()}
        loss_d = bce_discriminator_loss(disc(hr), disc(sr.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        adv = nonsaturating_generator_loss(disc(sr))
        loss_g = content + args.adv_weight * adv
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"content": content.item(), "G_adv": adv.item(), "D": loss_d.item()}

    log_event(_log, "training", train=len(train), test=len(test_hr), steps=steps,
              epochs=epochs, pretrain_steps=pretrain, width=width, n_blocks=n_blocks)
    result = run_training(args, out, steps, modules={"generator": gen, "discriminator": disc},
                          optimizers={"generator": opt_g, "discriminator": opt_d}, step_fn=step)

    test_lr = downsample(torch.from_numpy(test_hr)).numpy()
    sr = super_resolve(gen, test_lr)
    bicubic = upsample_baseline(test_lr, "bicubic")
    nearest = upsample_baseline(test_lr, "nearest")
    metrics: dict[str, Any] = {
        "pipeline": NAME, "data": source, "scale": SCALE, "hr_size": args.hr_size,
        "n_train": len(train), "n_test": len(test_hr),
        **training_summary(result, epochs=epochs), "pretrain_steps": pretrain,
        "pretrain_lr": args.pretrain_lr, "width": width, "n_blocks": n_blocks,
        "adv_weight": args.adv_weight, "content_loss": "mse",
        "bicubic_skip": args.bicubic_skip,
        "test": paired_metrics(sr, test_hr),
        "baseline_bicubic": paired_metrics(bicubic, test_hr),
        "baseline_nearest": paired_metrics(nearest, test_hr),
    }
    rows = comparison_rows([nearest, bicubic, sr, test_hr], min(6, len(test_hr)))
    return write_outputs(args, out, result,
                         {"samples.png": Grid(rows, 8, scale=max(1, 96 // args.hr_size))},
                         metrics)


def build_cli() -> argparse.ArgumentParser:
    """The command-line parser (shared options plus the SRGAN settings)."""
    parser = build_parser(NAME, __doc__, epochs=100, smoke_epochs=2, batch_size=16)
    parser.add_argument("--hr-size", type=int, default=None,
                        help="high-resolution crop side (96; 32 with --smoke)")
    parser.add_argument("--load-size", type=int, default=None,
                        help="side images are resized to before cropping (2 x hr-size for "
                        "--data-dir; hr-size for the procedural data)")
    parser.add_argument("--adv-weight", type=float, default=1e-3,
                        help="weight of the adversarial loss (default 1e-3)")
    parser.add_argument("--pretrain-fraction", type=float, default=0.8,
                        help="fraction of the steps trained on the content loss only "
                        "(SRResNet initialisation; default 0.8, the paper's 10^6 SRResNet "
                        "steps before 2 x 10^5 SRGAN steps)")
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="Adam learning rate of the adversarial phase (1e-4)")
    parser.add_argument("--pretrain-lr", type=float, default=1e-3,
                        help="Adam learning rate of the content-only warm-up (default 1e-3; "
                        "the paper's 1e-4 needs far more steps than a CPU budget buys)")
    parser.add_argument("--bicubic-skip", action=argparse.BooleanOptionalAction, default=True,
                        help="generator learns the residual over bicubic upsampling (default; "
                        "--no-bicubic-skip: the paper's network with a tanh output)")
    parser.add_argument("--width", type=int, default=None,
                        help="feature maps (64; 16 with --smoke)")
    parser.add_argument("--n-blocks", type=int, default=None,
                        help="residual blocks (16; 4 with --smoke)")
    parser.add_argument("--n-images", type=int, default=None,
                        help="training images (default all; 1000 procedural with --smoke, "
                        "4000 otherwise)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, build_cli(), run, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
