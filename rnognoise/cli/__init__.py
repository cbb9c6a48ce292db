"""The ``rnognoise`` command line: one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
Errors a user can cause (:class:`rnognoise.errors.RnognoiseError`) print one line
on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import RnognoiseError, RnognoiseWarning
from ..logs import configure_logging

__all__ = ["build_parser", "cli_message", "main"]

COMMANDS = ["simulate", "inspect", "fit", "sample", "validate"]

EXIT_USAGE = 2

#: ``force=True`` / ``resume=True`` in an API message -> ``--force`` / ``--resume``.
_API_FLAG = re.compile(r"\b([a-z][a-z_]*)=True\b")
_API_KIND = re.compile(r"\bmodel='([a-z-]+)'")


def cli_message(message: str) -> str:
    """An error message of the Python API in the command line's words
    (``pass force=True`` -> ``pass --force``, ``model='baseline'`` -> ``--model baseline``)."""
    message = _API_FLAG.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)
    return _API_KIND.sub(lambda m: f"--model {m.group(1)}", message)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="rnognoise",
        description="Learn, generate and validate RNO-G detector noise.",
    )
    parser.add_argument("--version", action="version", version=f"rnognoise {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, warnings and errors only")
    common.add_argument("--log-json", action="store_true",
                        help="log one JSON object per line on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        module.add_parser(sub, parents=[common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    # OpenMP threads that spin while waiting for each other make torch many times slower
    # on a shared node (measured: 1.3 s vs 13-19 s per training step with 2 threads on a
    # busy 2-core machine); passive waiting costs little on an idle one. Set before torch
    # is imported by a subcommand; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(quiet=args.quiet, json_format=args.log_json)
    shown = warnings.showwarning

    def one_line(message, category, *rest):  # type: ignore[no-untyped-def]
        if not issubclass(category, RnognoiseWarning):
            return shown(message, category, *rest)
        print(f"rnognoise {args.command}: warning: {message}", file=sys.stderr)
        return None

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", RnognoiseWarning)  # printed, never raised
            warnings.showwarning = one_line
            return int(args.handler(args) or 0)
    except RnognoiseError as exc:
        print(f"rnognoise {args.command}: error: {cli_message(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"rnognoise {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.: stop quietly, like other tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
