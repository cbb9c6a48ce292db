"""The one writer of the canonical HDF5 layout (``rnognoise/io/hdf5_layout.json``).

:class:`HDF5Writer` streams batches of events into a new file, atomically: the file
appears under its name only when every declared event was written, and an existing
file is replaced only with ``force``. :func:`write_hdf5` (a whole :class:`TraceSet`),
``rnognoise simulate`` and ``rnognoise sample`` all write through it, so every file
rnognoise writes has the same datasets, chunking and attributes:

- ``/traces`` float32 ``(n_events, n_channels, n_samples)`` in volts, chunked by
  ``chunk_events`` whole events, with ``dims = ["event", "channel", "sample"]`` (JSON);
- file attributes ``sampling_rate`` (Hz), ``channels`` (int64 ids), ``units = "V"``,
  ``layout = "rnognoise-traces/<version>"``, and provenance attributes (scalars as they
  are, anything else as JSON);
- ``/events/<column>``: one 1-D dataset of ``n_events`` per event column (strings as
  UTF-8 variable-length strings).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fileutil import atomic_output
from .traceset import TraceSet

__all__ = ["RESERVED_ATTRS", "HDF5Writer", "write_hdf5"]

#: Attributes the layout sets itself; provenance never overrides them.
RESERVED_ATTRS = ("sampling_rate", "channels", "units", "format", "layout")
#: ``/traces`` dimension names (the ``dims`` attribute).
DIMS = ("event", "channel", "sample")


def _layout_name() -> str:
    from .hdf5 import layout_spec

    spec = layout_spec()
    return f"{spec['name']}/{spec['version']}"


def _column(values: Any) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.dtype == object or arr.dtype.kind in "US":
        return np.asarray([str(v) for v in arr], dtype=h5py.string_dtype())
    return arr


class HDF5Writer:
    """Write ``n_events`` events into ``path`` in the canonical layout, batch by batch.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (written to a temporary file next to it, renamed at the end).
    n_events : int
        Events the file will hold; all must be appended before the writer closes.
    channels : sequence of int
        Channel ids.
    n_samples : int
        Samples per trace.
    sampling_rate : float, Hz
        Of the traces.
    force : bool
        Replace an existing file (otherwise :class:`~rnognoise.errors.OutputExistsError`,
        raised on entering, before any work).
    compression : {None, "gzip", "lzf"}
        HDF5 filter for ``/traces``.
    chunk_events : int
        Events per HDF5 chunk.
    attrs : dict, optional
        Provenance file attributes (JSON-encoded unless scalar).

    Examples
    --------
    >>> with HDF5Writer("out.h5", n_events=100, channels=[0, 1], n_samples=2048,
    ...                 sampling_rate=3.2e9) as writer:                # doctest: +SKIP
    ...     for batch in batches:
    ...         writer.append(batch)
    """

    def __init__(self, path: str | os.PathLike[str], *, n_events: int, channels: Any,
                 n_samples: int, sampling_rate: float, force: bool = False,
                 compression: str | None = None, chunk_events: int = 16,
                 attrs: dict[str, Any] | None = None) -> None:
        if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) \
                or n_events < 1:
            raise ConfigError(f"n_events must be a positive integer, got {n_events!r}")
        self.path = os.fspath(path)
        self.n_events = int(n_events)
        self.channels = np.asarray(channels, dtype=np.int64).reshape(-1)
        self.n_samples = int(n_samples)
        self.sampling_rate = float(sampling_rate)
        self.force = force
        self.compression = compression
        self.chunk_events = max(1, min(int(chunk_events), self.n_events))
        self.attrs = dict(attrs or {})
        self.written = 0
        self._stack: contextlib.ExitStack | None = None
        self._file: h5py.File | None = None
        self._columns: dict[str, h5py.Dataset] | None = None

    def __enter__(self) -> HDF5Writer:
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_output(self.path, force=self.force))
            f = stack.enter_context(h5py.File(tmp, "w"))
            shape = (self.n_events, self.channels.size, self.n_samples)
            self._traces = f.create_dataset(
                "traces", shape=shape, dtype=np.float32, compression=self.compression,
                chunks=(self.chunk_events, self.channels.size, self.n_samples))
            self._traces.attrs["dims"] = json.dumps(list(DIMS))
            f.attrs["sampling_rate"] = self.sampling_rate
            f.attrs["channels"] = self.channels
            f.attrs["units"] = "V"
            f.attrs["layout"] = _layout_name()
            for key, value in self.attrs.items():
                if key not in RESERVED_ATTRS:
                    f.attrs[key] = value if isinstance(value, (int, float, str)) \
                        else json.dumps(value)
        except BaseException:
            stack.close()
            raise
        self._stack, self._file = stack, f
        return self

    def append(self, traces: np.ndarray, events: pd.DataFrame | None = None) -> None:
        """Write the next ``len(traces)`` events (volts) and their event columns.

        Every batch must carry the same event columns as the first one.

        Raises
        ------
        ConfigError
            A batch of the wrong shape, more events than declared, or columns that
            change between batches.
        """
        if self._file is None:
            raise ConfigError("HDF5Writer.append outside its 'with' block")
        traces = np.asarray(traces)
        n = traces.shape[0] if traces.ndim == 3 else -1
        if traces.shape[1:] != (self.channels.size, self.n_samples):
            raise ConfigError(f"{self.path}: batch of shape {traces.shape}, expected (n, "
                              f"{self.channels.size}, {self.n_samples})")
        stop = self.written + n
        if stop > self.n_events:
            raise ConfigError(f"{self.path}: {stop} events appended, {self.n_events} declared")
        names = [] if events is None else [str(c) for c in events.columns]
        if events is not None and len(events) != n:
            raise ConfigError(f"{self.path}: {len(events)} event rows for {n} traces")
        if self._columns is None:
            group = self._file.create_group("events") if names else None
            self._columns = {}
            for name in names:
                values = _column(events[name])
                self._columns[name] = group.create_dataset(name, shape=(self.n_events,),
                                                           dtype=values.dtype)
        elif sorted(names) != sorted(self._columns):
            raise ConfigError(f"{self.path}: event columns {sorted(names)} differ from the "
                              f"first batch's {sorted(self._columns)}")
        self._traces[self.written:stop] = traces.astype(np.float32, copy=False)
        for name, column in self._columns.items():
            column[self.written:stop] = _column(events[name])
        self.written = stop

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        stack, self._stack, self._file = self._stack, None, None
        if stack is None:
            return False
        if exc_type is None and self.written != self.n_events:
            error = ConfigError(f"{self.path}: {self.written} of the {self.n_events} declared "
                                "events were written")
            stack.__exit__(ConfigError, error, None)  # closes and removes the partial file
            raise error
        return bool(stack.__exit__(exc_type, exc, tb))


def write_hdf5(path: str | os.PathLike[str], traceset: TraceSet, *, force: bool = False,
               compression: str | None = None, chunk_events: int = 16,
               attrs: dict[str, Any] | None = None) -> None:
    """Write a :class:`TraceSet` in the canonical layout, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; an existing file is replaced only with ``force=True``.
    traceset : TraceSet
        Traces in volts.
    force : bool
        Overwrite an existing file.
    compression : {None, "gzip", "lzf"}
        HDF5 filter for ``/traces``.
    chunk_events : int
        Events per HDF5 chunk.
    attrs : dict, optional
        Extra file attributes (provenance), JSON-encoded when not scalar.
    """
    with HDF5Writer(path, n_events=traceset.n_events, channels=traceset.channels,
                    n_samples=traceset.n_samples, sampling_rate=traceset.sampling_rate,
                    force=force, compression=compression, chunk_events=chunk_events,
                    attrs={**traceset.attrs, **(attrs or {})}) as writer:
        events = traceset.events if len(traceset.events.columns) else None
        writer.append(traceset.traces, events)
