"""Where a trace file's sampling rate comes from when the file does not carry one.

Older mattak files (all of 2021-2023) have no ``radiant_sampling_rate`` branch: the rate of
a run is in the run directory's ``aux/runinfo.txt`` (key ``radiant-samplerate``, MHz), as
mattak reads it, and it was 3.2 GHz for every RNO-G run before 2024. The rules, in order:

1. a ``sampling_rate=`` argument (``--sampling-rate``) is used, unless the file carries a
   rate that differs from it (then :class:`~rnognoise.errors.DataFileError`);
2. the rate the file carries;
3. ``radiant-samplerate`` of the first ``aux/runinfo.txt`` found beside the data
   (:func:`runinfo_candidates`); a value that is not a positive number is an error;
4. 3.2 GHz, with a :class:`~rnognoise.errors.SamplingRateWarning` naming the file and the
   assumption (also when ``runinfo.txt`` exists but has no ``radiant-samplerate``, where
   mattak assumes 3.2 GHz too).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

from ..errors import ConfigError, DataFileError, SamplingRateWarning

__all__ = ["DEFAULT_SAMPLING_RATE_HZ", "RUNINFO_KEY", "check_sampling_rate",
           "parse_sampling_rate", "read_runinfo_rate", "resolve_sampling_rate",
           "runinfo_candidates"]

#: Rate assumed for a file that carries none and has no usable ``runinfo.txt``, in Hz.
DEFAULT_SAMPLING_RATE_HZ = 3.2e9
#: Key of the sampling rate (MHz) in mattak's ``aux/runinfo.txt``.
RUNINFO_KEY = "radiant-samplerate"
# Relative difference below which an argument and a file's rate count as the same.
_SAME = 1e-6


def check_sampling_rate(value: object, what: str = "sampling_rate") -> float:
    """``value`` as a positive, finite float in Hz, else :class:`ConfigError`."""
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number of Hz (e.g. 3.2e9), got {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(f"{what} must be a positive number of Hz (e.g. 3.2e9), got {value!r}")
    if rate < 1e5:
        raise ConfigError(f"{what} = {rate:g} Hz is implausibly low; give Hz, not MHz or GHz "
                          "(e.g. 3.2e9 for 3.2 GHz)")
    return rate


def parse_sampling_rate(text: str) -> float:
    """``--sampling-rate`` argument parser: Hz, e.g. ``3.2e9`` (``argparse`` ``type=``)."""
    import argparse

    try:
        return check_sampling_rate(text, "--sampling-rate")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def runinfo_candidates(path: str | os.PathLike[str]) -> list[Path]:
    """Where ``aux/runinfo.txt`` is looked for, in order.

    For a run directory: ``RUN/aux/runinfo.txt``. For a file (``combined.root``,
    ``waveforms.root``): ``aux/runinfo.txt`` in the file's directory, then in its parent's.
    """
    p = Path(path)
    if p.is_dir():
        return [p / "aux" / "runinfo.txt"]
    return [p.parent / "aux" / "runinfo.txt", p.parent.parent / "aux" / "runinfo.txt"]


def read_runinfo_rate(runinfo: str | os.PathLike[str]) -> float | None:
    """``radiant-samplerate`` of a ``runinfo.txt`` in Hz, or None when the key is absent.

    The file holds ``key = value`` lines (mattak reads it with ``configparser``); keys are
    compared case-insensitively, ``#``/``;`` lines are comments, lines without ``=`` or
    ``:`` are skipped.

    Raises
    ------
    DataFileError
        If the file cannot be read or the value is not a positive number of MHz.
    """
    runinfo = Path(runinfo)
    try:
        text = runinfo.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataFileError(runinfo, f"cannot be read ({exc.strerror})") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0 or line[:cut].strip().lower() != RUNINFO_KEY:
            continue
        value = line[cut + 1:].strip()
        try:
            mhz = float(value)
        except ValueError:
            mhz = float("nan")
        if not math.isfinite(mhz) or mhz <= 0:
            raise DataFileError(runinfo, f"{RUNINFO_KEY} = {value!r} is not a positive number "
                                "of MHz; correct it, or pass --sampling-rate / sampling_rate=")
        return mhz * 1e6
    return None


def resolve_sampling_rate(path: str | os.PathLike[str], file_rate: float | None,
                          override: float | None, *, what: str = "sampling rate",
                          runinfo: list[Path] | None = None) -> tuple[float, str]:
    """The sampling rate to use, in Hz, and where it came from (for ``info()``).

    Parameters
    ----------
    path : str or os.PathLike
        The trace file or run directory, for messages.
    file_rate : float, optional
        The rate the file carries, in Hz (None when it carries none).
    override : float, optional
        The ``sampling_rate=`` argument, in Hz.
    what : str
        How the file's rate is named in messages (e.g. ``"'radiant_sampling_rate' branch"``).
    runinfo : list of pathlib.Path, optional
        ``runinfo.txt`` files to try when the file carries no rate (default: none).

    Returns
    -------
    tuple of (float, str)
        Rate in Hz and its source.

    Raises
    ------
    DataFileError
        If ``override`` disagrees with ``file_rate``, or a ``runinfo.txt`` has a bad rate.

    Warns
    -----
    SamplingRateWarning
        When 3.2 GHz is assumed.
    """
    if override is not None:
        override = check_sampling_rate(override)
    if file_rate is not None:
        if override is not None and abs(override - file_rate) > _SAME * file_rate:
            raise DataFileError(path, f"sampling_rate / --sampling-rate {override:g} Hz "
                                f"disagrees with the file's {what} ({file_rate:g} Hz); the "
                                "file's rate cannot be overridden: drop the argument")
        return file_rate, what
    if override is not None:
        return override, "argument"
    missing_key = None
    for candidate in runinfo or []:
        if candidate.is_file():
            rate = read_runinfo_rate(candidate)
            if rate is not None:
                return rate, f"{RUNINFO_KEY} in {os.fspath(candidate)}"
            missing_key = candidate
            break
    where = (f"{os.fspath(missing_key)} has no {RUNINFO_KEY}" if missing_key is not None
             else "no aux/runinfo.txt found" if runinfo else "none given")
    warnings.warn(f"{os.fspath(path)}: no sampling rate in the file ({where}); assuming "
                  f"{DEFAULT_SAMPLING_RATE_HZ / 1e9:g} GHz, the RNO-G rate before 2024 (pass "
                  "--sampling-rate / sampling_rate= to set it)", SamplingRateWarning,
                  stacklevel=3)
    return DEFAULT_SAMPLING_RATE_HZ, f"assumed {DEFAULT_SAMPLING_RATE_HZ / 1e9:g} GHz ({where})"
