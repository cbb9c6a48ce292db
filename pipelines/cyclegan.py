"""CycleGAN: unpaired image-to-image translation with cycle consistency.

Zhu et al. (2017): two ResNet generators ``G: A -> B`` and ``F: B -> A``, two 70x70
PatchGAN discriminators with instance norm, least-squares GAN losses, a cycle-consistency
loss ``lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)`` with lambda = 10 and an identity loss
``0.5 lambda (|G(b) - b|_1 + |F(a) - a|_1)``. The discriminators see generated images
drawn from a pool of the 50 most recent ones; their loss is halved. Adam, learning rate
2e-4, betas (0.5, 0.999), batch size 1; the learning rate is constant for the first half
of the epochs and decays linearly to zero over the second half (the paper's 100 + 100).

Data: ``--data-dir ROOT`` in the CycleGAN layout (``ROOT/trainA/``, ``ROOT/trainB/``,
e.g. horse2zebra), images resized to ``--image-size`` (256 as in the paper); evaluation on
``ROOT/testA/``, ``ROOT/testB/`` when present, else on a held-out tenth. Without
``--data-dir``: procedural smooth brown blobs (A) and striped blobs (B) on grass, 32x32
(:func:`pipelines.data.unpaired_blobs_stripes`), a toy horse -> zebra.

Metrics on the evaluation images: cycle reconstruction (L1, PSNR, SSIM of ``F(G(a))``
against ``a`` and of ``G(F(b))`` against ``b``), and a domain check: a logistic-regression
classifier on simple image statistics (colour histograms and gradient energies), trained
on the real training images of both domains, reports its accuracy on real evaluation
images and the fraction of translated images it assigns to the target domain (near 1 for
a translation that looks like the target domain, near 0 for an untouched input).

The full configuration is the paper's (ngf = ndf = 64, 9 residual blocks for images of
256 pixels or more, 6 below). ``--smoke`` uses ngf = ndf = 16, 2 residual blocks and a
2-layer PatchGAN on 32x32 procedural images.

Reference
---------
J.-Y. Zhu, T. Park, P. Isola, A. A. Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017, arXiv:1703.10593.

Example
-------
``python -m pipelines.cyclegan --data-dir datasets/horse2zebra``
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnognoise.core import lsgan_discriminator_loss, lsgan_generator_loss
from rnognoise.errors import ConfigError, DataFileError
from rnognoise.logs import get_logger, log_event

from .batches import batch_indices, step_generator, total_steps
from .cli import build_parser, run_main
from .data import load_unpaired_folders, unpaired_blobs_stripes
from .evaluation.paired import paired_metrics
from .nets_image2image import (
    ImagePool,
    PatchDiscriminator,
    ResnetGenerator,
    init_weights,
    translate,
)
from .outputs import comparison_rows
from .run import (
    Grid,
    ignore_data_dir_with_smoke,
    open_run,
    run_training,
    training_summary,
    write_outputs,
)

__all__ = ["DomainClassifier", "image_statistics", "learning_rate", "main", "run", "translate"]

NAME = "cyclegan"
_log = get_logger(f"pipelines.{NAME}")


def learning_rate(step: int, total: int, base: float) -> float:
    """The paper's schedule: ``base`` for the first half of training, then linear to 0.

    Examples
    --------
    >>> [learning_rate(s, 4, 1.0) for s in range(4)]
    [1.0, 1.0, 1.0, 0.5]
    """
    half = total // 2
    if step < half:
        return base
    return base * max(0.0, (total - step) / (total - half))


def image_statistics(images: np.ndarray) -> np.ndarray:
    """Features of images in [0, 1], ``(N, C, H, W)`` -> ``(N, F)``.

    Per channel: mean, standard deviation, an 8-bin histogram, mean absolute horizontal
    and vertical differences, mean absolute Laplacian.
    """
    x = np.asarray(images, dtype=np.float64)
    n, c = x.shape[:2]
    dx = np.abs(np.diff(x, axis=3)).mean(axis=(2, 3))
    dy = np.abs(np.diff(x, axis=2)).mean(axis=(2, 3))
    lap = np.abs(4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
                 - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:]).mean(axis=(2, 3))
    bins = np.clip((x * 8).astype(int), 0, 7).reshape(n, c, -1)
    hist = np.stack([(bins == k).mean(axis=2) for k in range(8)], axis=2).reshape(n, -1)
    return np.concatenate([x.mean(axis=(2, 3)), x.std(axis=(2, 3)), hist, dx, dy, lap], axis=1)


class DomainClassifier:
    """Logistic regression on :func:`image_statistics` telling domain A (0) from B (1)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, *, seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        feats = np.concatenate([image_statistics(a), image_statistics(b)])
        labels = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
        self.model = make_pipeline(StandardScaler(),
                                   LogisticRegression(max_iter=2000, random_state=seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(feats, labels)

    def prob_b(self, images: np.ndarray) -> np.ndarray:
        """Probability of each image to belong to domain B."""
        return self.model.predict_proba(image_statistics(images))[:, 1]


def _load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                             str]:
    if args.data_dir is None:
        n = args.n_images or (300 if args.smoke else 2000)
        log_event(_log, "no --data-dir: using the embedded procedural blobs -> stripes data",
                  images=n, size=args.image_size)
        a, b = unpaired_blobs_stripes(n, size=args.image_size, seed=args.seed)
        ta, tb = unpaired_blobs_stripes(100, size=args.image_size, seed=args.seed + 1_000_000)
        return a, b, ta, tb, f"embedded: procedural blobs (A) / striped blobs (B), {n} each"
    root = Path(args.data_dir)
    a, b = load_unpaired_folders(root, split="train", size=args.image_size,
                                 max_images=args.n_images)
    if (root / "testA").is_dir() and (root / "testB").is_dir():
        ta, tb = load_unpaired_folders(root, split="test", size=args.image_size, max_images=200)
        where = "testA/testB"
    else:
        if min(len(a), len(b)) < 2:
            raise DataFileError(root, "need at least 2 images per domain to hold one out")
        ka, kb = max(1, len(a) // 10), max(1, len(b) // 10)
        a, ta, b, tb = a[ka:], a[:ka], b[kb:], b[:kb]
        where = "held-out train"
    log_event(_log, "images loaded", path=str(root), train_a=len(a), train_b=len(b),
              test_a=len(ta), test_b=len(tb))
    return a, b, ta, tb, f"{root} (trainA/trainB, evaluated on {where})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate; write samples, loss curves, metrics and checkpoints to ``--out``."""
    ignore_data_dir_with_smoke(args)
    if args.image_size is None:
        args.image_size = 32 if args.smoke else 256
    size = args.image_size
    if size < 8 or size % 4:
        raise ConfigError(f"--image-size must be a multiple of 4 and at least 8, got {size}")
    out = open_run(args)
    a_np, b_np, ta, tb, source = _load(args)
    ngf = args.ngf or (16 if args.smoke else 64)
    n_blocks = args.n_blocks or (2 if args.smoke else (9 if size >= 256 else 6))
    d_layers = args.d_layers or (2 if args.smoke else 3)
    ch = a_np.shape[1]
    g_ab = init_weights(ResnetGenerator(ch, ch, ngf, n_blocks))
    g_ba = init_weights(ResnetGenerator(ch, ch, ngf, n_blocks))
    d_a = init_weights(PatchDiscriminator(ch, ngf, d_layers, norm="instance"))
    d_b = init_weights(PatchDiscriminator(ch, ngf, d_layers, norm="instance"))
    pool_a = ImagePool(args.pool_size, (ch, size, size))
    pool_b = ImagePool(args.pool_size, (ch, size, size))
    opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()), lr=args.lr,
                             betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=args.lr,
                             betas=(0.5, 0.999))
    at = torch.from_numpy(a_np) * 2.0 - 1.0
    bt = torch.from_numpy(b_np) * 2.0 - 1.0
    steps, epochs = total_steps(args, max(len(at), len(bt)))
    lam = args.lambda_cycle
    bs = args.batch_size

    def step(i: int) -> dict[str, float]:
        lr = learning_rate(i, steps, args.lr)
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        real_a = at[torch.from_numpy(batch_indices(len(at), bs, args.seed, i))]
        real_b = bt[torch.from_numpy(batch_indices(len(bt), bs, args.seed + 1, i))]
        n = min(len(real_a), len(real_b))
        real_a, real_b = real_a[:n], real_b[:n]
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        for d in (d_a, d_b):
            d.requires_grad_(False)
        adv = lsgan_generator_loss(d_b(fake_b)) + lsgan_generator_loss(d_a(fake_a))
        cycle = F.l1_loss(g_ba(fake_b), real_a) + F.l1_loss(g_ab(fake_a), real_b)
        ident = (F.l1_loss(g_ab(real_b), real_b) + F.l1_loss(g_ba(real_a), real_a)
                 if args.lambda_identity > 0 else torch.zeros(()))
        loss_g = adv + lam * cycle + args.lambda_identity * lam * ident
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for d in (d_a, d_b):
            d.requires_grad_(True)
        noise = step_generator(args.seed, i)
        old_b, old_a = pool_b.query(fake_b, noise), pool_a.query(fake_a, noise)
        loss_d = (lsgan_discriminator_loss(d_b(real_b), d_b(old_b))
                  + lsgan_discriminator_loss(d_a(real_a), d_a(old_a)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        return {"G_adv": adv.item(), "cycle": cycle.item(), "identity": ident.item(),
                "D": loss_d.item()}

    log_event(_log, "training", train_a=len(at), train_b=len(bt), steps=steps, epochs=epochs,
              ngf=ngf, n_blocks=n_blocks)
    result = run_training(
        args, out, steps,
        modules={"G_AB": g_ab, "G_BA": g_ba, "D_A": d_a, "D_B": d_b, "pool_A": pool_a,
                 "pool_B": pool_b},
        optimizers={"generators": opt_g, "discriminators": opt_d}, step_fn=step)

    ab = translate(g_ab, ta)
    ba = translate(g_ba, tb)
    aba = translate(g_ba, ab)
    bab = translate(g_ab, ba)
    clf = DomainClassifier(a_np, b_np, seed=args.seed)
    with_ssim = size >= 11
    metrics: dict[str, Any] = {
        "pipeline": NAME, "data": source, "image_size": size,
        "n_train_a": len(at), "n_train_b": len(bt), "n_test_a": len(ta), "n_test_b": len(tb),
        **training_summary(result, epochs=epochs),
        "ngf": ngf, "n_blocks": n_blocks, "d_layers": d_layers, "lambda_cycle": lam,
        "lambda_identity": args.lambda_identity, "pool_size": args.pool_size,
        "cycle_A": paired_metrics(aba, ta, with_ssim=with_ssim),
        "cycle_B": paired_metrics(bab, tb, with_ssim=with_ssim),
        "domain_classifier": {
            "accuracy_real_test": float(np.mean(np.concatenate(
                [clf.prob_b(ta) < 0.5, clf.prob_b(tb) >= 0.5]))),
            "translated_A_to_B_classified_B": float(np.mean(clf.prob_b(ab) >= 0.5)),
            "translated_B_to_A_classified_A": float(np.mean(clf.prob_b(ba) < 0.5)),
            "untranslated_A_classified_B": float(np.mean(clf.prob_b(ta) >= 0.5)),
        },
    }
    k = min(6, len(ta), len(tb))
    rows = np.concatenate([comparison_rows([ta, ab, aba], k), comparison_rows([tb, ba, bab], k)])
    return write_outputs(args, out, result,
                         {"samples.png": Grid(rows, 6, scale=max(1, 128 // size))}, metrics)


def build_cli() -> argparse.ArgumentParser:
    """The command-line parser (shared options plus the CycleGAN settings)."""
    parser = build_parser(NAME, __doc__, epochs=200, smoke_epochs=1, batch_size=1)
    parser.add_argument("--image-size", type=int, default=None,
                        help="side of the square images (256; 32 with --smoke)")
    parser.add_argument("--lambda-cycle", type=float, default=10.0,
                        help="cycle-consistency weight lambda (default 10)")
    parser.add_argument("--lambda-identity", type=float, default=0.5,
                        help="identity weight as a fraction of lambda (default 0.5)")
    parser.add_argument("--pool-size", type=int, default=50,
                        help="generated images kept for the discriminators (default 50)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (2e-4)")
    parser.add_argument("--ngf", type=int, default=None,
                        help="filters of the first layers of G and D (64; 16 with --smoke)")
    parser.add_argument("--n-blocks", type=int, default=None,
                        help="residual blocks (9 for >= 256 px, 6 below; 2 with --smoke)")
    parser.add_argument("--d-layers", type=int, default=None,
                        help="PatchGAN stride-2 layers (3: 70x70 patches; 2 with --smoke)")
    parser.add_argument("--n-images", type=int, default=None,
                        help="training images per domain (default all; 300 procedural "
                        "with --smoke, 2000 otherwise)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, build_cli(), run, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
