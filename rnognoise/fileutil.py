"""Crash-safe output files.

Every file rnognoise writes (traces, models, checkpoints, reports) goes through
:func:`atomic_output`: it is written under a temporary name in the same folder and
renamed into place only when complete, so a killed process never leaves a
half-written file under the final name, and an existing file is never replaced
unless the caller asked for it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import DataFileError, OutputExistsError

__all__ = ["atomic_output", "check_writable"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Check before long work that ``path`` may be written.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    DataFileError
        If the parent folder does not exist or is not writable.
    """
    target = Path(path)
    if target.exists() and not force:
        raise OutputExistsError(target)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise DataFileError(target, f"folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise DataFileError(target, f"folder {str(parent)!r} is not writable")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; rename it to ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final file name.
    force : bool
        Replace an existing file at ``path``.

    Yields
    ------
    pathlib.Path
        Temporary file in the same folder (so the final rename is atomic).
    """
    target = check_writable(path, force=force)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if target.exists() and not force:
            raise OutputExistsError(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
