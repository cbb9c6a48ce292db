"""Command-line skeleton and output writers shared by every reference pipeline.

A pipeline module defines ``run(args) -> dict`` (its metrics) and a parser made with
:func:`build_parser`, and ends with::

    def main(argv=None) -> int:
        return run_main(NAME, build_parser(NAME, __doc__), run, argv)

The course of ``run`` itself (open the run, train, write the outputs) is in
:mod:`pipelines.run`.

Every pipeline writes into ``--out`` (default ``pipelines-out/NAME``):

- ``samples.png`` (and possibly other grids) — images written by :func:`save_image_grid`;
- ``losses.png`` — loss curves from :attr:`rnognoise.core.LoopResult.history`;
- ``metrics.json`` — the metrics, written by :func:`write_metrics`;
- ``checkpoints/`` — ``last.safetensors`` / ``best.safetensors`` from the training loop;
- ``losses.jsonl`` — the loop's loss log.

All files go through :func:`rnognoise.fileutil.atomic_output`: nothing is overwritten
without ``--force`` (or ``--resume``, which continues a run in place).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnognoise.core import (
    LoopConfig,
    LoopResult,
    bce_discriminator_loss,
    nonsaturating_generator_loss,
)
from rnognoise.errors import ConfigError, RnognoiseError
from rnognoise.fileutil import atomic_output, check_writable
from rnognoise.logs import configure_logging, get_logger, log_event

__all__ = [
    "EXIT_ERROR",
    "add_generative_eval_options",
    "batch_indices",
    "build_parser",
    "comparison_rows",
    "image_grid",
    "log_data_source",
    "loop_config",
    "nonsaturating_gan_step",
    "prepare_output_dir",
    "run_info",
    "run_main",
    "save_image_grid",
    "save_loss_curves",
    "seed_everything",
    "step_generator",
    "steps_per_epoch",
    "total_steps",
    "write_metrics",
]

EXIT_ERROR = 2

_log = get_logger("pipelines")


def build_parser(name: str, description: str | None, *, epochs: int = 20,
                 smoke_epochs: int = 2, batch_size: int = 64) -> argparse.ArgumentParser:
    """The parser with the options every pipeline shares.

    Parameters
    ----------
    name : str
        Pipeline name (``mnist_gan``); sets ``prog`` and the default output folder.
    description : str, optional
        Help text (usually the module docstring; only its first paragraph is shown).
    epochs : int
        Default number of epochs of the full configuration.
    smoke_epochs : int
        Default number of epochs with ``--smoke``.
    batch_size : int
        Default batch size.

    Returns
    -------
    argparse.ArgumentParser
        Parser with ``--data-dir``, ``--epochs``, ``--max-steps``, ``--out``, ``--smoke``,
        ``--seed``, ``--batch-size``, ``--max-minutes``, ``--resume``, ``--quiet``,
        ``--force``, ``--threads``. Pipelines add their own options to it.
    """
    first = (description or "").strip().split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=f"python -m pipelines.{name}", description=first)
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="folder with the data set; without it the embedded default "
                        "data is used")
    parser.add_argument("--epochs", type=int, default=None, metavar="E",
                        help=f"training epochs (default {epochs}, {smoke_epochs} with --smoke)")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="stop after N optimisation steps in total (caps --epochs)")
    parser.add_argument("--out", metavar="DIR", default=f"pipelines-out/{name}",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true",
                        help="quick run: embedded default data, small networks, few epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help="batch size (default: %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="wall-clock budget of the training in minutes")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoints/last.safetensors")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar, warnings and errors only")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of torch (default: torch's choice)")
    parser.set_defaults(pipeline=name, default_epochs=epochs, smoke_epochs=smoke_epochs)
    return parser


def run_main(name: str, parser: argparse.ArgumentParser,
             run: Callable[[argparse.Namespace], dict[str, Any]],
             argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the pipeline, turn user errors into one line and status 2.

    Parameters
    ----------
    name : str
        Pipeline name used in error messages (``NAME: error: ...``).
    parser : argparse.ArgumentParser
        From :func:`build_parser`.
    run : callable
        ``run(args) -> metrics``.
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on a :class:`~rnognoise.errors.RnognoiseError`, 130 on Ctrl-C.
    """
    args = parser.parse_args(argv)
    configure_logging(quiet=args.quiet)
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    try:
        if args.epochs is not None and args.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
        if args.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
        run(args)
    except RnognoiseError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{name}: interrupted (resume with --resume)", file=sys.stderr)
        return 130
    return 0


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


def _to_numpy_images(images: Any) -> np.ndarray:
    arr = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ConfigError(f"images must have shape (N, C, H, W) or (N, H, W), got {arr.shape}")
    if arr.shape[1] not in (1, 3) and arr.shape[-1] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.size and arr.min() < -1e-6:
        arr = (arr + 1.0) / 2.0
    return np.clip(arr, 0.0, 1.0)


def image_grid(images: Any, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile images into one ``(H, W)`` or ``(H, W, 3)`` array in [0, 1].

    Images in [-1, 1] (any negative value) are mapped to [0, 1]; others are clipped.
    """
    arr = _to_numpy_images(images)
    n, c, h, w = arr.shape
    ncol = max(1, min(nrow, n))
    nrows = max(1, math.ceil(n / ncol))
    grid = np.ones((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding),
                   dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, y:y + h, x:x + w] = arr[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def comparison_rows(columns: Sequence[Any], k: int) -> np.ndarray:
    """Interleave the first ``k`` images of several sets for a side-by-side grid.

    Parameters
    ----------
    columns : sequence of arrays
        Image sets of the same image shape, e.g. input, output, target.
    k : int
        Images taken from each set.

    Returns
    -------
    numpy.ndarray
        ``(len(columns) * k, ...)``: image 0 of every set, then image 1 of every set, ...;
        with ``nrow`` a multiple of ``len(columns)`` each grid row shows whole comparisons.

    Examples
    --------
    >>> comparison_rows([np.zeros((5, 1, 2, 2)), np.ones((5, 1, 2, 2))], 2)[:, 0, 0, 0]
    array([0., 1., 0., 1.])
    """
    return np.stack([c[:k] for c in columns], axis=1).reshape(
        len(columns) * k, *np.shape(columns[0])[1:])


def save_image_grid(images: Any, path: str | Path, nrow: int = 8, *, force: bool = False,
                    scale: int = 2) -> Path:
    """Write images as one PNG grid.

    Parameters
    ----------
    images : array or torch.Tensor
        ``(N, C, H, W)``, ``(N, H, W)`` or ``(N, H, W, C)`` with C = 1 or 3, values in
        [0, 1] or [-1, 1].
    path : str or Path
        PNG file.
    nrow : int
        Images per row.
    force : bool
        Overwrite an existing file.
    scale : int
        Integer pixel magnification (nearest neighbour) so small images stay visible.

    Returns
    -------
    Path
        The file written.
    """
    import matplotlib.image as mpimg

    grid = image_grid(images, nrow)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    with atomic_output(path, force=force) as tmp:
        if grid.ndim == 2:
            mpimg.imsave(tmp, grid, cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            mpimg.imsave(tmp, grid, format="png")
    return Path(path)


def save_loss_curves(history: list[dict[str, float]] | LoopResult, path: str | Path, *,
                     title: str = "", force: bool = False) -> Path:
    """Plot every loss in a loop history against the step; validation score on its own axis.

    Parameters
    ----------
    history : list of dict or LoopResult
        :attr:`LoopResult.history` (records with ``step``, ``time_s`` and losses).
    path : str or Path
        PNG file.
    title : str
        Figure title.
    force : bool
        Overwrite an existing file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = history.history if isinstance(history, LoopResult) else history
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        for key, value in record.items():
            if key in ("step", "time_s"):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(record["step"])
            ys.append(value)
    has_val = "val_score" in series
    fig, axes = plt.subplots(1, 2 if has_val else 1, figsize=(9 if has_val else 6, 3.5),
                             squeeze=False)
    ax = axes[0, 0]
    for key, (xs, ys) in series.items():
        if key != "val_score":
            ax.plot(xs, ys, label=key, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if len(series) - has_val:
        ax.legend(fontsize=8)
    if has_val:
        xs, ys = series["val_score"]
        axes[0, 1].plot(xs, ys, "o-", color="k", ms=3)
        axes[0, 1].set_xlabel("step")
        axes[0, 1].set_ylabel("validation score (lower is better)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(path, force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return Path(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_metrics(metrics: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write ``metrics`` as indented JSON (numpy values converted, NaN/inf as null)."""
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(json.dumps(_jsonable(metrics), indent=2, sort_keys=True) + "\n")
    log_event(_log, "metrics written", path=str(path))
    return Path(path)


def add_generative_eval_options(parser: argparse.ArgumentParser, *,
                                n_eval: int = 1000) -> None:
    """Add ``--n-eval`` and ``--classifier-epochs`` (see :mod:`pipelines.evaluation`)."""
    parser.add_argument("--n-eval", type=int, default=n_eval,
                        help="generated images used for the metrics (default: %(default)s)")
    parser.add_argument("--classifier-epochs", type=int, default=8,
                        help="epochs of the evaluation classifier (default: %(default)s)")


def run_info(args: argparse.Namespace) -> dict[str, Any]:
    """The options that define a run (stored in checkpoints; a resume warns on changes)."""
    skip = {"quiet", "resume", "force", "max_minutes", "out", "threads"}
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip}


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
