"""Reader and writer for the canonical HDF5 trace layout (``data_specs/hdf5_layout.json``)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ..errors import DataFileError
from ..fileutil import atomic_output
from ..units import to_volts
from .traceset import TraceSet

__all__ = ["HDF5Source", "layout_spec", "write_hdf5"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@lru_cache(maxsize=1)
def layout_spec() -> dict[str, Any]:
    """The machine-readable HDF5 layout specification, as a dict."""
    text = resources.files("rnognoise.io").joinpath("hdf5_layout.json").read_text()
    return json.loads(text)


def _attr(file: h5py.File, dataset: h5py.Dataset, name: str) -> Any:
    for location in layout_spec()["attributes"][name]["locations"]:
        holder = file if location == "/" else dataset
        if name in holder.attrs:
            value = holder.attrs[name]
            if isinstance(value, bytes):
                value = value.decode()
            return value
    return None


def _decode_column(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "SO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values


class HDF5Source:
    """Open a canonical HDF5 trace file and read events from it in blocks.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    trigger : str
        ``"forced"`` keeps only forced-trigger events when ``/events/trigger_type``
        exists, ``"all"`` keeps every event, any other string keeps that trigger type.

    Raises
    ------
    DataFileError
        If the file does not follow the layout; the message names the file and problem.
    """

    format = "hdf5"

    def __init__(self, path: str | os.PathLike[str], *, trigger: str = "forced") -> None:
        self.path = os.fspath(path)
        spec = layout_spec()
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataFileError(self.path, f"cannot be opened as HDF5 ({_short(exc)})") from None
        try:
            self._open(spec, trigger)
        except Exception:
            self._file.close()
            raise

    def _open(self, spec: dict[str, Any], trigger: str) -> None:
        tspec = spec["traces"]
        path = tspec["path"]
        if path not in self._file:
            raise DataFileError(self.path, f"no '{path}' dataset (see data_specs/hdf5.md)")
        dset = self._file[path]
        if not isinstance(dset, h5py.Dataset):
            raise DataFileError(self.path, f"'{path}' is a group, not a dataset")
        if dset.ndim != tspec["ndim"]:
            raise DataFileError(
                self.path,
                f"'{path}' has {dset.ndim} dimensions {dset.shape}, expected 3 "
                "(n_events, n_channels, n_samples)",
            )
        self.units = str(_attr(self._file, dset, "units") or "V")
        if self.units not in spec["attributes"]["units"]["allowed"]:
            raise DataFileError(self.path, f"unknown units {self.units!r} "
                                f"(expected one of {spec['attributes']['units']['allowed']})")
        dtype = dset.dtype
        if dtype.name in tspec["float_dtypes"]:
            pass
        elif dtype.name in tspec["integer_dtypes"]:
            if self.units != tspec["integer_dtypes_need_units"]:
                raise DataFileError(self.path, f"integer samples ({dtype}) need units='ADC' "
                                    "and an adc_to_volts attribute")
        else:
            raise DataFileError(self.path, f"'{path}' has unsupported sample type {dtype} "
                                "(expected float32/float64, or integer ADC counts)")
        self.adc_to_volts = None
        if self.units == "ADC":
            factor = _attr(self._file, dset, "adc_to_volts")
            if factor is None or not np.isscalar(factor) or not np.isfinite(float(factor)) \
                    or float(factor) <= 0:
                raise DataFileError(self.path, "units are 'ADC' but no positive adc_to_volts "
                                    "attribute is given")
            self.adc_to_volts = float(factor)
        n_events, n_channels, n_samples = (int(x) for x in dset.shape)
        if n_events == 0:
            raise DataFileError(self.path, "holds zero events")
        if n_channels == 0:
            raise DataFileError(self.path, "holds zero channels")
        if n_samples == 0:
            raise DataFileError(self.path, "holds zero samples per trace")
        rate = _attr(self._file, dset, "sampling_rate")
        if rate is None:
            raise DataFileError(self.path, "no 'sampling_rate' attribute (Hz) on the file or "
                                "on /traces")
        try:
            rate = float(np.asarray(rate).reshape(-1)[0]) if np.size(rate) == 1 else None
        except (TypeError, ValueError):
            rate = None
        if rate is None or not np.isfinite(rate) or rate <= 0:
            raise DataFileError(self.path, "'sampling_rate' must be one positive number in Hz")
        self.sampling_rate = rate
        channels = _attr(self._file, dset, "channels")
        if channels is None:
            channels = np.arange(n_channels)
        channels = np.asarray(channels).reshape(-1)
        if channels.dtype.kind not in "iu":
            raise DataFileError(self.path, f"'channels' must be integer ids, got {channels.dtype}")
        if channels.size != n_channels:
            raise DataFileError(self.path, f"'channels' lists {channels.size} ids but /traces "
                                f"has {n_channels} channels")
        if np.unique(channels).size != channels.size:
            raise DataFileError(self.path, f"'channels' repeats an id: {channels.tolist()}")
        self.channels = channels.astype(np.int64)
        self.n_samples = n_samples
        self.n_events_total = n_events
        self._dset = dset
        self.events = self._read_events(spec, n_events)
        self.event_index = _select_trigger(self.path, self.events, trigger,
                                           spec["forced_trigger_value"])

    def _read_events(self, spec: dict[str, Any], n_events: int) -> pd.DataFrame:
        group_name = spec["events"]["group"]
        columns: dict[str, np.ndarray] = {}
        if group_name in self._file:
            group = self._file[group_name]
            if not isinstance(group, h5py.Group):
                raise DataFileError(self.path, f"'{group_name}' must be a group of datasets")
            for name, item in group.items():
                if not isinstance(item, h5py.Dataset) or item.ndim != 1:
                    raise DataFileError(self.path, f"'{group_name}/{name}' must be a 1-D dataset")
                if item.shape[0] != n_events:
                    raise DataFileError(self.path, f"'{group_name}/{name}' has {item.shape[0]} "
                                        f"entries for {n_events} events")
                columns[name] = _decode_column(item[()])
        return pd.DataFrame(columns, index=pd.RangeIndex(n_events))

    @property
    def n_events(self) -> int:
        """Number of events after the trigger selection."""
        return int(self.event_index.size)

    def read_events(self, file_indices: np.ndarray, channel_rows: np.ndarray | None = None,
                    ) -> TraceSet:
        """Read the given (sorted) file event indices as a :class:`TraceSet` in volts."""
        file_indices = np.asarray(file_indices, dtype=np.int64)
        rows = slice(None) if channel_rows is None else np.asarray(channel_rows)
        if file_indices.size == 0:
            raw = np.zeros((0, self.channels.size, self.n_samples), np.float32)
        else:
            lo, hi = int(file_indices[0]), int(file_indices[-1]) + 1
            try:
                if hi - lo == file_indices.size:
                    raw = self._dset[lo:hi]
                else:
                    raw = self._dset[lo:hi][file_indices - lo]
            except (OSError, ValueError) as exc:
                raise DataFileError(self.path, f"cannot read events {lo}..{hi - 1} "
                                    f"(truncated or damaged file? {_short(exc)})") from None
        if channel_rows is not None:
            raw = raw[:, rows]
        traces = to_volts(raw, self.units, self.adc_to_volts)
        channels = self.channels if channel_rows is None else self.channels[rows]
        events = self.events.iloc[file_indices].reset_index(drop=True)
        return TraceSet(traces, self.sampling_rate, channels, events, "V", self.path,
                        {"format": self.format})

    def info(self) -> dict[str, Any]:
        """Facts about the file for ``rnognoise inspect``."""
        out: dict[str, Any] = {
            "format": self.format,
            "n_events_in_file": self.n_events_total,
            "stored_dtype": str(self._dset.dtype),
            "stored_units": self.units,
            "chunks": list(self._dset.chunks) if self._dset.chunks else None,
            "compression": self._dset.compression,
        }
        if "trigger_type" in self.events:
            out["trigger_mix"] = {str(k): int(v) for k, v in
                                  self.events["trigger_type"].value_counts().items()}
        return out

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> HDF5Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _select_trigger(path: str, events: pd.DataFrame, trigger: str, forced_value: str,
                    ) -> np.ndarray:
    """File indices of the events that pass the trigger selection."""
    n = len(events)
    if trigger == "all" or "trigger_type" not in events:
        return np.arange(n, dtype=np.int64)
    wanted = forced_value if trigger == "forced" else trigger
    mask = (events["trigger_type"].astype(str) == wanted).to_numpy()
    if not mask.any():
        found = sorted(set(events["trigger_type"].astype(str)))
        raise DataFileError(path, f"no {wanted!r} trigger events (trigger types present: "
                            f"{found}; use trigger='all' / --trigger all to take every event)")
    return np.flatnonzero(mask).astype(np.int64)


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
    with atomic_output(path, force=force) as tmp, h5py.File(tmp, "w") as f:
        chunks = (max(1, min(chunk_events, traceset.n_events)), traceset.n_channels,
                  traceset.n_samples)
        dset = f.create_dataset("traces", data=np.asarray(traceset.traces, np.float32),
                                chunks=chunks, compression=compression)
        f.attrs["sampling_rate"] = float(traceset.sampling_rate)
        f.attrs["channels"] = np.asarray(traceset.channels, np.int64)
        f.attrs["units"] = "V"
        dset.attrs["dims"] = json.dumps(["event", "channel", "sample"])
        f.attrs["layout"] = f"{layout_spec()['name']}/{layout_spec()['version']}"
        for key, value in {**traceset.attrs, **(attrs or {})}.items():
            if key in ("sampling_rate", "channels", "units", "format"):
                continue
            f.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(value)
        if len(traceset.events.columns):
            group = f.create_group("events")
            for name in traceset.events.columns:
                column = traceset.events[name].to_numpy()
                if column.dtype.kind in "OUS":
                    column = np.asarray([str(v) for v in column], dtype=h5py.string_dtype())
                group.create_dataset(name, data=column)
