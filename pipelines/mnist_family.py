"""Run pieces shared by the MNIST / Fashion-MNIST pipelines (GAN, DCGAN, VAE, cGAN).

- :func:`open_image_run` — seed, output folder and the MNIST or Fashion-MNIST data;
- :func:`train_unconditional_gan` — the original GAN's training of a generator and a
  discriminator on images in [-1, 1], then the evaluation;
- :func:`evaluation_rng` — the fixed noise of the evaluation samples;
- :func:`evaluate_and_finish` — the metrics of :mod:`pipelines.evaluation.generative`
  and the outputs of :func:`pipelines.run.finish_run`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rnognoise.core import LoopResult, bce_discriminator_loss, nonsaturating_generator_loss
from rnognoise.logs import get_logger, log_event

from .batches import batch_indices, step_generator, total_steps
from .data import ImageDataset, load_train_and_test
from .evaluation import evaluate_generator
from .run import Grid, finish_run, ignore_data_dir_with_smoke, open_run, run_training

__all__ = [
    "N_CLASSES",
    "N_EMBEDDED",
    "add_embedded_option",
    "evaluate_and_finish",
    "evaluation_rng",
    "log_data_source",
    "nonsaturating_gan_step",
    "open_image_run",
    "train_unconditional_gan",
]

#: Classes of MNIST and Fashion-MNIST.
N_CLASSES = 10
#: Default number of embedded garment images (``--n-embedded``).
N_EMBEDDED = 3000
#: Offset of ``--seed`` for the noise of the evaluation samples.
_EVAL_SEED_OFFSET = 7

_log = get_logger("pipelines")


def log_data_source(args: argparse.Namespace, source: str, n_images: int) -> None:
    """Log where the training data came from, saying so when it is the embedded default."""
    if args.data_dir is None:
        log_event(_log, "no --data-dir given: using the embedded default data", source=source,
                  n_images=n_images)
    else:
        log_event(_log, "data loaded", source=source, n_images=n_images)


def nonsaturating_gan_step(gen: torch.nn.Module, disc: torch.nn.Module,
                           opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                           real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
    """One discriminator and one generator update of the original GAN.

    Binary cross-entropy for the discriminator and the non-saturating generator loss
    (Goodfellow et al. 2014), from the package's shared losses.
    """
    fake = gen(z)
    loss_d = bce_discriminator_loss(disc(real), disc(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = nonsaturating_generator_loss(disc(fake))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


def add_embedded_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--n-embedded``, the size of the embedded garment data set."""
    parser.add_argument("--n-embedded", type=int, default=N_EMBEDDED,
                        help=f"number of embedded garment images (default {N_EMBEDDED})")


def open_image_run(args: argparse.Namespace, kind: str
                   ) -> tuple[Path, ImageDataset, ImageDataset | None]:
    """:func:`pipelines.run.open_run`, then load and log the training and test data.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options; ``--smoke`` uses the embedded data whatever ``--data-dir`` says,
        ``--n-embedded`` (where the pipeline has it) sizes the embedded garments.
    kind : {"mnist", "fashion"}
        Data set family.

    Returns
    -------
    out : Path
        Output folder.
    train, test : ImageDataset
        Training split and the test split (None where there is none).
    """
    ignore_data_dir_with_smoke(args)  # as every pipeline: metrics.json names the data used
    out = open_run(args)
    train, test = load_train_and_test(kind, args.data_dir,
                                      seed=args.seed,
                                      n_embedded=getattr(args, "n_embedded", N_EMBEDDED))
    log_data_source(args, train.source, len(train))
    return out, train, test


def evaluation_rng(args: argparse.Namespace) -> torch.Generator:
    """The torch generator of the evaluation samples' noise (fixed by ``--seed``)."""
    return torch.Generator().manual_seed(args.seed + _EVAL_SEED_OFFSET)


def evaluate_and_finish(args: argparse.Namespace, out: Path, result: LoopResult,
                        samples: torch.Tensor, train: ImageDataset, test: ImageDataset | None,
                        grids: Mapping[str, Grid], *,
                        sample_labels: Any | None = None,
                        extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate generated images, then write grids, loss curves and ``metrics.json``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (``--classifier-epochs``, ``--seed``).
    out : Path
        Output folder.
    result : LoopResult
        The training loop's result.
    samples : torch.Tensor
        Generated images ``(N, 1, 28, 28)`` in [0, 1].
    train, test : ImageDataset
        Training data (classifier, memorisation reference) and the test split (the CFD's
        reference set; the training images where None).
    grids : mapping of str to Grid
        PNG file name -> images (see :func:`pipelines.run.write_outputs`).
    sample_labels : array, optional
        Classes the samples were generated for (conditional generators).
    extra : mapping, optional
        Further metrics of the pipeline, added after the evaluation's.

    Returns
    -------
    dict
        The metrics as written.
    """
    metrics = evaluate_generator(samples, train.images, train.labels, n_classes=N_CLASSES,
                                 reference_images=None if test is None else test.images,
                                 sample_labels=sample_labels,
                                 classifier_epochs=args.classifier_epochs, seed=args.seed)
    metrics.update(extra or {})
    return finish_run(args, out, result, grids, metrics)


def train_unconditional_gan(args: argparse.Namespace, out: Path, train: ImageDataset,
                            test: ImageDataset | None, gen: torch.nn.Module,
                            disc: torch.nn.Module) -> dict[str, Any]:
    """Train a generator of ``(N, latent_dim)`` noise against a discriminator; evaluate.

    One discriminator and one generator update per step
    (:func:`nonsaturating_gan_step`), Adam with ``--lr`` and betas
    (0.5, 0.999), images scaled to [-1, 1]; then ``--n-eval`` samples are evaluated and
    the first 64 written to ``samples.png``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (``--latent-dim``, ``--lr``, ``--batch-size``, ``--seed``, ...).
    out : Path
        Output folder.
    train, test : ImageDataset
        From :func:`open_image_run`.
    gen, disc : torch.nn.Module
        Generator (noise -> images in [-1, 1]) and discriminator (images -> logits).

    Returns
    -------
    dict
        The metrics as written.
    """
    x = torch.from_numpy(train.images) * 2.0 - 1.0
    steps, _ = total_steps(args, len(x))
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))

    def step(i: int) -> dict[str, float]:
        real = x[torch.from_numpy(batch_indices(len(x), args.batch_size, args.seed, i))]
        z = torch.randn(len(real), args.latent_dim, generator=step_generator(args.seed, i))
        return nonsaturating_gan_step(gen, disc, opt_g, opt_d, real, z)

    result = run_training(args, out, steps, modules={"generator": gen, "discriminator": disc},
                   optimizers={"opt_g": opt_g, "opt_d": opt_d}, step_fn=step)
    gen.eval()
    with torch.no_grad():
        z = torch.randn(args.n_eval, args.latent_dim, generator=evaluation_rng(args))
        samples = (gen(z) + 1.0) / 2.0
    return evaluate_and_finish(args, out, result, samples, train, test,
                               {"samples.png": Grid(samples[:64], 8)})
