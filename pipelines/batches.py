"""Deterministic batches and step counts: a run's data order is a function of its seed.

A resumed run therefore sees exactly the batches and noise an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from rnognoise.errors import ConfigError

__all__ = ["batch_indices", "step_generator", "steps_per_epoch", "total_steps"]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimisation steps of one pass over ``n`` images: ``ceil(n / batch_size)``, at least 1.

    Examples
    --------
    >>> steps_per_epoch(10, 4), steps_per_epoch(0, 4)
    (3, 1)
    """
    return max(1, math.ceil(n / batch_size))


def total_steps(args: argparse.Namespace, n_train: int) -> tuple[int, int]:
    """Number of optimisation steps and epochs from ``--epochs``/``--smoke``/``--max-steps``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options.
    n_train : int
        Training images; one epoch is ``ceil(n_train / batch_size)`` steps.

    Returns
    -------
    steps, epochs : int
    """
    epochs = args.epochs if args.epochs is not None else (
        args.smoke_epochs if args.smoke else args.default_epochs)
    steps = epochs * steps_per_epoch(n_train, args.batch_size)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise ConfigError(f"--max-steps must be at least 1, got {args.max_steps}")
        steps = min(steps, args.max_steps)
    return steps, epochs


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Indices of the batch of optimisation step ``step``, a pure function of its arguments.

    Each epoch is a fresh permutation of ``range(n)`` drawn from ``(seed, epoch)``; the
    last batch of an epoch may be shorter. A resumed run therefore sees exactly the
    batches an uninterrupted run would.

    Examples
    --------
    >>> batch_indices(10, 4, seed=0, step=2).size
    2
    >>> sorted(np.concatenate([batch_indices(10, 4, 0, s) for s in range(3)]).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    epoch, within = divmod(step, steps_per_epoch(n, batch_size))
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[within * batch_size:(within + 1) * batch_size]


def step_generator(seed: int, step: int) -> torch.Generator:
    """A torch generator seeded from ``(seed, step)`` for the latent noise of one step."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)
