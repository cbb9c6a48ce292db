"""The life of one pipeline run: open it, train, write its outputs.

Every pipeline's ``run(args)`` follows the same course, built from these helpers and the
pieces of :mod:`pipelines.cli` and :mod:`pipelines.outputs`:

1. :func:`ignore_data_dir_with_smoke` (pipelines whose ``--smoke`` drops ``--data-dir``);
2. :func:`open_run` — seed torch and prepare the output folder;
3. :func:`run_training` — the shared :class:`~rnognoise.core.TrainingLoop`, with its
   checkpoints and loss log in the output folder;
4. :func:`finish_run` (metrics with the options and a ``training`` summary) or
   :func:`write_outputs` (metrics as the pipeline lays them out) — the sample grids,
   ``losses.png`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from rnognoise.core import LoopConfig, LoopResult, TrainingLoop
from rnognoise.fileutil import check_writable
from rnognoise.logs import get_logger, log_event

from .cli import run_info
from .outputs import save_image_grid, save_loss_curves, write_metrics

__all__ = [
    "Grid",
    "finish_run",
    "ignore_data_dir_with_smoke",
    "loop_config",
    "open_run",
    "prepare_output_dir",
    "run_training",
    "seed_everything",
    "training_summary",
    "write_outputs",
]


class Grid(NamedTuple):
    """One PNG grid of images (see :func:`pipelines.outputs.save_image_grid`).

    Attributes
    ----------
    images : array or torch.Tensor
        Images ``(N, C, H, W)`` in [0, 1] or [-1, 1].
    nrow : int
        Images per row.
    scale : int
        Integer pixel magnification.
    """

    images: Any
    nrow: int = 8
    scale: int = 2


def seed_everything(seed: int) -> None:
    """Seed torch's global generator (weight initialisation, dropout, gradient penalty)."""
    torch.manual_seed(seed)


def prepare_output_dir(args: argparse.Namespace) -> Path:
    """Create ``args.out`` and check before training that results may be written there.

    Raises
    ------
    OutputExistsError
        If ``OUT/metrics.json`` exists and neither ``--force`` nor ``--resume`` was given.
    """
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out / "metrics.json", force=args.force or args.resume)
    if (out / "losses.jsonl").exists() and not (args.force or args.resume):
        check_writable(out / "losses.jsonl", force=False)
    if args.force and not args.resume:
        for stale in ("losses.jsonl", "checkpoints/last.safetensors",
                      "checkpoints/best.safetensors"):
            (out / stale).unlink(missing_ok=True)
    return out


def loop_config(args: argparse.Namespace, out: Path, max_steps: int,
                **overrides: Any) -> LoopConfig:
    """A :class:`~rnognoise.core.LoopConfig` writing into ``out`` (checkpoints, loss log)."""
    settings: dict[str, Any] = {
        "max_steps": max_steps,
        "max_minutes": args.max_minutes,
        "checkpoint_dir": str(out / "checkpoints"),
        "log_path": str(out / "losses.jsonl"),
        "resume": args.resume,
        "quiet": args.quiet,
        "desc": args.pipeline,
        "log_every": max(1, min(10, max_steps // 50)),
    }
    settings.update(overrides)
    return LoopConfig(**settings)


def ignore_data_dir_with_smoke(args: argparse.Namespace) -> None:
    """With ``--smoke``, drop ``--data-dir`` (with a warning): smoke runs use embedded data."""
    if args.smoke and args.data_dir is not None:
        log_event(get_logger(f"pipelines.{args.pipeline}"),
                  "--smoke uses the embedded default data; --data-dir ignored", logging.WARNING)
        args.data_dir = None


def open_run(args: argparse.Namespace) -> Path:
    """Seed torch from ``--seed`` and prepare the output folder ``--out``.

    Returns
    -------
    Path
        The output folder.

    Raises
    ------
    OutputExistsError
        If earlier results are there and neither ``--force`` nor ``--resume`` was given.
    """
    seed_everything(args.seed)
    return prepare_output_dir(args)


def run_training(args: argparse.Namespace, out: Path, steps: int, *,
          modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
          step_fn: Callable[[int], dict[str, float]],
          eval_fn: Callable[[int], float] | None = None, **overrides: Any) -> LoopResult:
    """Run the shared training loop with checkpoints and loss log in ``out``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (budget, ``--resume``, ``--quiet``; stored as the run's identity).
    out : Path
        Output folder.
    steps : int
        Optimisation steps (from :func:`pipelines.batches.total_steps`).
    modules, optimizers : dict
        What the checkpoints hold, by name (the names are the checkpoint keys).
    step_fn : callable
        ``step_fn(i) -> losses`` of optimisation step ``i``.
    eval_fn : callable, optional
        ``eval_fn(i) -> score`` (lower is better) for the best checkpoint.
    **overrides
        Further :class:`~rnognoise.core.LoopConfig` settings (e.g. ``eval_every``).

    Returns
    -------
    LoopResult
    """
    return TrainingLoop(loop_config(args, out, steps, **overrides), modules=modules,
                        optimizers=optimizers, step_fn=step_fn, eval_fn=eval_fn,
                        run_info=run_info(args)).run()


def training_summary(result: LoopResult, *, epochs: int | None = None,
                     best: bool = False) -> dict[str, Any]:
    """What the metrics report of the training: steps, (epochs,) time, stop reason, losses.

    Parameters
    ----------
    result : LoopResult
        The training loop's result.
    epochs : int, optional
        Planned epochs, reported after ``steps`` when given.
    best : bool
        Also report ``best_step`` and ``best_score`` of the validation.

    Returns
    -------
    dict
        ``steps``, ``epochs`` (if given), ``elapsed_s`` (s, 2 decimals), ``stopped_by``,
        ``last_losses`` and, with ``best``, ``best_step`` and ``best_score``.
    """
    summary: dict[str, Any] = {"steps": result.steps}
    if epochs is not None:
        summary["epochs"] = epochs
    summary.update(elapsed_s=round(result.elapsed_s, 2), stopped_by=result.stopped_by,
                   last_losses=result.last_losses)
    if best:
        summary.update(best_step=result.best_step, best_score=result.best_score)
    return summary


def write_outputs(args: argparse.Namespace, out: Path, result: LoopResult,
                  grids: Mapping[str, Grid],
                  metrics: dict[str, Any]) -> dict[str, Any]:
    """Write the image grids, ``losses.png`` and ``metrics.json`` of a finished run.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (``--force``/``--resume`` allow overwriting).
    out : Path
        Output folder.
    result : LoopResult
        The training loop's result (its history gives the loss curves).
    grids : mapping of str to Grid
        PNG file name -> :class:`Grid`, written in this order.
    metrics : dict
        Written as they are.

    Returns
    -------
    dict
        ``metrics``.
    """
    force = args.force or args.resume
    for name, grid in grids.items():
        save_image_grid(grid.images, out / name, grid.nrow, force=force, scale=grid.scale)
    save_loss_curves(result, out / "losses.png", title=args.pipeline, force=force)
    write_metrics(metrics, out / "metrics.json", force=force)
    return metrics


def finish_run(args: argparse.Namespace, out: Path, result: LoopResult,
               grids: Mapping[str, Grid],
               metrics: dict[str, Any]) -> dict[str, Any]:
    """:func:`write_outputs` with the run's data, options and training summary added.

    The parameters are those of :func:`write_outputs`; in front of the pipeline's own
    ``metrics`` come ``pipeline``, ``data`` (``--data-dir`` or ``"embedded default"``),
    ``options`` (:func:`pipelines.cli.run_info`) and ``training``
    (:func:`training_summary` with the best validation step and score).

    Returns
    -------
    dict
        The metrics as written.
    """
    metrics = {
        "pipeline": args.pipeline,
        "data": "embedded default" if args.data_dir is None else str(args.data_dir),
        "options": run_info(args),
        "training": training_summary(result, best=True),
        **metrics,
    }
    return write_outputs(args, out, result, grids, metrics)
