"""Format detection and the public reading/writing functions."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import DataFileError, RnognoiseError
from .finite import raise_if_nonfinite
from .hdf5 import HDF5_MAGIC, HDF5Source, write_hdf5
from .rate import check_sampling_rate, resolve_sampling_rate
from .traceset import TraceSet

__all__ = ["TraceSource", "detect_format", "iter_traces", "open_traces", "read_traces",
           "write_traces"]

ROOT_MAGIC = b"root"
#: First bytes of a zip archive (``.npz``): a local file header, or the end record of an
#: empty archive.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


class TraceSource(Protocol):
    """What every format's reader provides (see :class:`HDF5Source`)."""

    path: str
    format: str
    channels: np.ndarray
    sampling_rate: float
    n_samples: int
    event_index: np.ndarray

    @property
    def n_events(self) -> int: ...

    def read_events(self, file_indices: np.ndarray, channel_rows: np.ndarray | None = None,
                    ) -> TraceSet: ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> TraceSource: ...

    def __exit__(self, *exc: object) -> None: ...


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return ``"hdf5"``, ``"root"`` or ``"npz"`` for a file, ``"root"`` for a run directory.

    Raises
    ------
    DataFileError
        If the path does not exist, is empty, or is neither HDF5, ROOT nor npz.
    """
    p = Path(path)
    if p.is_dir():
        return "root"
    if not p.exists():
        raise DataFileError(p, "no such file or directory")
    try:
        with open(p, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise DataFileError(p, f"cannot be read ({exc.strerror})") from None
    if not head:
        raise DataFileError(p, "is empty (0 bytes)")
    if head == HDF5_MAGIC:
        return "hdf5"
    if head[:4] == ROOT_MAGIC:
        return "root"
    if head[:4] in ZIP_MAGICS:
        return "npz"
    if head[:6] == NPY_MAGIC:
        raise DataFileError(p, "is a bare .npy array without a sampling rate; save an .npz "
                            "with keys 'traces' and 'sampling_rate_hz' (data_specs/npz.md)")
    # HDF5 allows a user block: the signature may also sit at 512, 1024, ... bytes.
    size = p.stat().st_size
    offset = 512
    with open(p, "rb") as handle:
        while offset + 8 <= size:
            handle.seek(offset)
            if handle.read(8) == HDF5_MAGIC:
                return "hdf5"
            offset *= 2
    raise DataFileError(p, "is neither an HDF5 nor a ROOT file, nor an npz (unrecognised "
                        "signature)")


def open_traces(path: str | os.PathLike[str], *, trigger: str = "forced",
                adc_to_volts: float | None = None, sampling_rate: float | None = None,
                ) -> TraceSource:
    """Open a trace file or RNO-G run directory as a streaming source.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file, ROOT file (``combined.root``/``waveforms.root``), RNO-G run directory
        or ``.npz`` file.
    trigger : str
        ``"forced"`` (default; noise-only events), ``"all"``, or a trigger type name.
    adc_to_volts : float, optional
        Override of the ADC-to-volt factor for ROOT and npz files (default: the file's
        ``adc_to_volts`` branch or key, else 2.5 V / 4095).
    sampling_rate : float, optional
        Sampling rate in Hz for files that carry none (older mattak files; default: the
        run's ``aux/runinfo.txt``, else 3.2 GHz with a
        :class:`~rnognoise.errors.SamplingRateWarning`). A file that carries a rate keeps it:
        a different value here is a :class:`~rnognoise.errors.DataFileError`.
    """
    fmt = detect_format(path)
    if sampling_rate is not None:
        sampling_rate = check_sampling_rate(sampling_rate)
    try:
        if fmt == "hdf5":
            source: TraceSource = HDF5Source(path, trigger=trigger)
            try:  # HDF5 files always carry their rate: an argument may only agree with it
                resolve_sampling_rate(path, source.sampling_rate, sampling_rate,
                                      what="'sampling_rate' attribute")
            except RnognoiseError:
                source.close()
                raise
            return source
        if fmt == "npz":
            from .npz import NpzSource

            return NpzSource(path, trigger=trigger, adc_to_volts=adc_to_volts,
                             sampling_rate=sampling_rate)
        from .root import RootSource

        return RootSource(path, trigger=trigger, adc_to_volts=adc_to_volts,
                          sampling_rate=sampling_rate)
    except RnognoiseError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RuntimeError, AssertionError, OverflowError, EOFError, struct.error,
            zlib.error) as exc:
        # Last line of defence: a damaged file must give a one-line error, not a traceback.
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataFileError(path, f"cannot be read as {fmt.upper()} (damaged file? "
                            f"{type(exc).__name__}{': ' + text if text else ''})") from None


def _memory_limit() -> int:
    """Bytes of physical memory (a read larger than this cannot succeed)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**40


def _check_memory(source: TraceSource, n_events: int, n_channels: int, what: str) -> None:
    """Refuse a read whose float32 output would not fit in this machine's memory."""
    needed = 4 * int(n_events) * int(n_channels) * int(source.n_samples)
    limit = _memory_limit()
    if needed > limit:
        raise DataFileError(source.path, f"{what} of {n_events} events x {n_channels} channels "
                            f"x {source.n_samples} samples needs {needed / 1e9:.3g} GB, more "
                            f"than this machine's {limit / 1e9:.3g} GB of memory; stream "
                            "with iter_traces or read fewer events")


def _channel_rows(source: TraceSource, channels: Sequence[int] | None) -> np.ndarray | None:
    if channels is None:
        return None
    lookup = {int(c): i for i, c in enumerate(source.channels)}
    missing = [int(c) for c in channels if int(c) not in lookup]
    if missing:
        raise DataFileError(source.path, f"channel(s) {missing} not in the file "
                            f"(channels present: {source.channels.tolist()})")
    return np.array([lookup[int(c)] for c in channels], dtype=np.int64)


def _event_selection(source: TraceSource, events: Any) -> np.ndarray:
    selected = source.event_index
    if events is None:
        return selected
    try:
        picked = selected[events]
    except IndexError as exc:
        raise DataFileError(source.path, f"event selection out of range ({exc}); "
                            f"{selected.size} events pass the trigger selection") from None
    picked = np.atleast_1d(picked)
    if picked.size == 0:
        raise DataFileError(source.path, "the event selection is empty")
    return np.sort(picked)


def read_traces(path: str | os.PathLike[str], *, channels: Sequence[int] | None = None,
                events: Any = None, trigger: str = "forced",
                adc_to_volts: float | None = None, sampling_rate: float | None = None,
                allow_nonfinite: bool = False) -> TraceSet:
    """Read traces from an HDF5, RNO-G ROOT or npz file into memory, in volts.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file in the canonical layout, RNO-G ROOT file, RNO-G run directory, or
        ``.npz`` file (``data_specs/npz.md``).
    channels : sequence of int, optional
        Channel ids to keep, in that order (default: all).
    events : slice or array of int, optional
        Which of the trigger-selected events to read (default: all).
    trigger : str
        ``"forced"`` (default), ``"all"`` or a trigger type name.
    adc_to_volts : float, optional
        ADC-to-volt factor override for ROOT and npz files.
    sampling_rate : float, optional
        Sampling rate in Hz for files that carry none (see :func:`open_traces`).
    allow_nonfinite : bool
        Return NaN/inf samples instead of raising.

    Returns
    -------
    TraceSet

    Raises
    ------
    DataFileError
        On a missing, damaged or wrongly laid out file, unknown channels, or NaN/inf.

    Examples
    --------
    >>> ts = read_traces("traces.h5", channels=[0, 1])  # doctest: +SKIP
    """
    with open_traces(path, trigger=trigger, adc_to_volts=adc_to_volts,
                     sampling_rate=sampling_rate) as source:
        rows = _channel_rows(source, channels)
        indices = _event_selection(source, events)
        _check_memory(source, indices.size, source.channels.size if rows is None else rows.size,
                      "reading")
        check = not allow_nonfinite and _stored_dtype(source) is None
        return _read(source, indices, rows, path, check)


def iter_traces(path: str | os.PathLike[str], batch_size: int = 256, *,
                channels: Sequence[int] | None = None, trigger: str = "forced",
                adc_to_volts: float | None = None, sampling_rate: float | None = None,
                allow_nonfinite: bool = False, start: int = 0, stop: int | None = None,
                step: int = 1) -> Iterator[TraceSet]:
    """Stream a trace file in batches of at most ``batch_size`` events (bounded memory).

    ``start``/``stop``/``step`` select a slice of the trigger-selected events, e.g. a
    shard for one of several training processes (``start=rank, step=world_size``). The
    other arguments are those of :func:`read_traces`.

    Yields
    ------
    TraceSet
        Consecutive batches in volts.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    with open_traces(path, trigger=trigger, adc_to_volts=adc_to_volts,
                     sampling_rate=sampling_rate) as source:
        rows = _channel_rows(source, channels)
        indices = source.event_index[start:stop:step]
        _check_memory(source, min(batch_size, indices.size),
                      source.channels.size if rows is None else rows.size, "a batch")
        check = not allow_nonfinite and _stored_dtype(source) is None
        for lo in range(0, indices.size, batch_size):
            yield _read(source, indices[lo:lo + batch_size], rows, path, check)


def _stored_dtype(source: TraceSource) -> np.dtype | None:
    """The stored sample dtype when it is integer and its volts cannot overflow, else None.

    Such samples cannot turn into NaN/inf, so they are not checked.
    """
    name = getattr(source, "stored_dtype", None)
    try:
        dtype = np.dtype(name) if name is not None else None
    except TypeError:
        return None
    if dtype is None or dtype.kind not in "iu":
        return None
    factor = getattr(source, "adc_to_volts", None)
    if factor is None or not np.isfinite(factor):
        return None
    peak = float(max(abs(int(np.iinfo(dtype).min)), int(np.iinfo(dtype).max))) * float(factor)
    return dtype if peak < float(np.finfo(np.float32).max) else None


def _read(source: TraceSource, indices: np.ndarray, rows: np.ndarray | None,
          path: str | os.PathLike[str], check: bool) -> TraceSet:
    """Read events; with ``check``, raise if a returned sample is NaN/inf.

    The HDF5 reader checks chunk by chunk as it reads (while the data is in cache);
    other readers' traces are checked afterwards.
    """
    if isinstance(source, HDF5Source):
        return source.read_events(indices, rows, check_finite=check)
    traceset = source.read_events(indices, rows)
    if check:
        raise_if_nonfinite(path, traceset.traces)
    return traceset


def write_traces(path: str | os.PathLike[str], traceset: TraceSet, *, force: bool = False,
                 format: str | None = None, compression: str | None = None,
                 attrs: dict[str, Any] | None = None) -> None:
    """Write a :class:`TraceSet` to HDF5 (canonical layout) or ROOT (RNO-G flat layout).

    Parameters
    ----------
    path : str or os.PathLike
        Output file; never overwritten unless ``force``.
    traceset : TraceSet
        Traces in volts.
    force : bool
        Overwrite an existing file.
    format : {"hdf5", "root"}, optional
        Default: from the suffix (``.root`` -> ROOT, otherwise HDF5).
    compression : {None, "gzip", "lzf"}
        HDF5 compression.
    attrs : dict, optional
        Extra provenance attributes.
    """
    fmt = format or ("root" if str(path).endswith(".root") else "hdf5")
    if fmt in ("hdf5", "h5"):
        write_hdf5(path, traceset, force=force, compression=compression, attrs=attrs)
    elif fmt == "root":
        from .root import write_root

        write_root(path, traceset, force=force)
    else:
        raise ValueError(f"unknown format {fmt!r} (expected 'hdf5' or 'root')")
