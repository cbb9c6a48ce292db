"""Command-line skeleton shared by every reference pipeline.

A pipeline module defines ``run(args) -> dict`` (its metrics) and a parser made with
:func:`build_parser`, and ends with::

    def main(argv=None) -> int:
        return run_main(NAME, build_parser(NAME, __doc__), run, argv)

User errors (:class:`~rnognoise.errors.RnognoiseError`) become one line
``NAME: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch

from rnognoise.errors import ConfigError, RnognoiseError
from rnognoise.logs import configure_logging

__all__ = ["EXIT_ERROR", "add_generative_eval_options", "build_parser", "run_info", "run_main"]

EXIT_ERROR = 2


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
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of torch (default 1: these networks are too small "
                        "to gain from more, and extra threads slow a busy machine down "
                        "several times; 0: torch's choice)")
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
    if args.threads:
        torch.set_num_threads(args.threads)
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
