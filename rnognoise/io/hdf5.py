"""Reader of the canonical HDF5 trace layout (``data_specs/hdf5_layout.json``); the writer,
:class:`~rnognoise.io.hdf5_writer.HDF5Writer` / :func:`write_hdf5`, is in
:mod:`rnognoise.io.hdf5_writer` (re-exported here)."""

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
from ..units import to_volts
from .finite import all_finite, raise_if_nonfinite
from .hdf5_writer import HDF5Writer, write_hdf5
from .traceset import TraceSet

__all__ = ["HDF5Source", "HDF5Writer", "layout_spec", "write_hdf5"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@lru_cache(maxsize=1)
def layout_spec() -> dict[str, Any]:
    """The machine-readable HDF5 layout specification, as a dict."""
    text = resources.files("rnognoise.io").joinpath("hdf5_layout.json").read_text()
    return json.loads(text)


def _attr(file: h5py.File, dataset: h5py.Dataset, name: str) -> Any:
    """Attribute ``name`` from the file or ``/traces``; both set and different is an error."""
    found: list[tuple[str, Any]] = []
    for location in layout_spec()["attributes"][name]["locations"]:
        holder = file if location == "/" else dataset
        if name in holder.attrs:
            value = holder.attrs[name]
            if isinstance(value, bytes):
                value = value.decode(errors="replace")
            found.append((location, value))
    if not found:
        return None
    first = found[0][1]
    for location, value in found[1:]:
        if not _same(first, value):
            raise DataFileError(file.filename, f"contradictory '{name}': {_show(first)} on "
                                f"'{found[0][0]}' but {_show(value)} on '{location}'")
    return first


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False


def _show(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode_column(path: str, name: str, item: h5py.Dataset) -> np.ndarray:
    """A 1-D ``/events`` column; strings decoded to ``str`` (object array) in one call."""
    try:
        if h5py.check_string_dtype(item.dtype) is not None:
            return np.asarray(item.asstr(errors="replace")[()], dtype=object)
        values = item[()]
    except (OSError, ValueError, TypeError) as exc:
        raise DataFileError(path, f"cannot read '{name}' (truncated or damaged file? "
                            f"{_short(exc)})") from None
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", errors="replace").astype(object)
    if values.dtype.kind not in "biuf" or values.dtype.names is not None:
        raise DataFileError(path, f"'{name}' has unsupported type {values.dtype} "
                            "(expected numbers or strings)")
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
        except DataFileError:
            self._file.close()
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError,
                OverflowError, UnicodeDecodeError) as exc:
            # h5py raises these on damaged metadata (truncated or corrupted files).
            self._file.close()
            raise DataFileError(self.path, f"damaged HDF5 metadata ({type(exc).__name__}: "
                                f"{_short(exc)})") from None
        except BaseException:
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
        self.stored_dtype = str(dtype)
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
            factor = _number(_attr(self._file, dset, "adc_to_volts"))
            if factor is None or factor <= 0:
                raise DataFileError(self.path, "units are 'ADC' but no positive adc_to_volts "
                                    "attribute is given")
            peak = float(np.iinfo(dtype).max) * factor
            if not peak < float(np.finfo(np.float32).max):
                raise DataFileError(self.path, f"adc_to_volts={factor:g} V per count overflows "
                                    f"float32 volts for {dtype} samples")
            self.adc_to_volts = factor
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
        rate = _number(rate)
        if rate is None or rate <= 0:
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
        _check_storage(self.path, dset, path)
        self._chunk_events = _events_per_raw_chunk(self._file, dset)
        self._chunk_offsets: dict[int, int] | None = None
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
                columns[name] = _decode_column(self.path, f"{group_name}/{name}", item)
        return pd.DataFrame(columns, index=pd.RangeIndex(n_events))

    @property
    def n_events(self) -> int:
        """Number of events after the trigger selection."""
        return int(self.event_index.size)

    def read_events(self, file_indices: np.ndarray, channel_rows: np.ndarray | None = None,
                    *, check_finite: bool = False) -> TraceSet:
        """Read the given (sorted) file event indices as a :class:`TraceSet` in volts.

        With ``check_finite``, raise :class:`DataFileError` if a returned sample is NaN/inf;
        float32 chunks are checked as they are read, while still in cache.
        """
        file_indices = np.asarray(file_indices, dtype=np.int64)
        rows = slice(None) if channel_rows is None else np.asarray(channel_rows)
        seen_finite = False
        if file_indices.size == 0:
            raw = np.zeros((0, self.channels.size, self.n_samples), np.float32)
        else:
            lo, hi = int(file_indices[0]), int(file_indices[-1]) + 1
            try:
                raw, seen_finite = self._read_range(lo, hi, check_finite)
            except (OSError, ValueError, RuntimeError, TypeError, KeyError) as exc:
                raise DataFileError(self.path, f"cannot read events {lo}..{hi - 1} "
                                    f"(truncated or damaged file? {_short(exc)})") from None
            if hi - lo != file_indices.size:
                raw = raw[file_indices - lo]
        if channel_rows is not None:
            raw = raw[:, rows]
        traces = to_volts(raw, self.units, self.adc_to_volts)
        if check_finite and not seen_finite:
            raise_if_nonfinite(self.path, traces)
        channels = self.channels if channel_rows is None else self.channels[rows]
        events = self.events.iloc[file_indices].reset_index(drop=True)
        return TraceSet(traces, self.sampling_rate, channels, events, "V", self.path,
                        {"format": self.format})

    def _read_range(self, lo: int, hi: int, check_finite: bool) -> tuple[np.ndarray, bool]:
        """Stored samples of events ``lo .. hi - 1``, and whether all were seen to be finite.

        Chunks that hold whole events as plain samples are read from the file straight into
        the output, one system call each (HDF5 looks each chunk up in its index and copies
        chunks under 1 MiB through its chunk cache); float32 ones are checked for NaN/inf
        right after, while still in cache, when ``check_finite`` (finite float32 samples
        stay finite in volts: the unit factors are at most 1). Other layouts are read by
        h5py and not checked here.
        """
        step = self._chunk_events
        if step is None:
            return self._dset[lo:hi], False
        raw = np.empty((hi - lo, *self._dset.shape[1:]), self._dset.dtype)
        finite = check_finite and raw.dtype == np.float32
        offsets = self._offsets(step * raw[0].nbytes)
        fd = self._file.id.get_vfd_handle()
        spare = None
        for start in range(lo - lo % step, hi, step):
            a, b = max(lo, start), min(hi, start + step)
            whole = a == start and b == start + step
            if whole:
                into = raw[a - lo:b - lo]
            else:  # a chunk cut by the range or by the end of the dataset
                if spare is None:
                    spare = np.empty((step, *raw.shape[1:]), raw.dtype)
                into = spare
            offset = offsets.get(start)
            if offset is None:  # not stored as a plain chunk (e.g. never written): h5py
                into[:min(step, self._dset.shape[0] - start)] = self._dset[start:start + step]
            elif os.preadv(fd, [into], offset) != into.nbytes:
                raise OSError(f"chunk at event {start} is cut short")
            block = into if whole else into[a - start:b - start]
            if not whole:
                raw[a - lo:b - lo] = block
            if finite:
                finite = all_finite(block)
        return raw, finite

    def _offsets(self, chunk_bytes: int) -> dict[int, int]:
        """File offset of each chunk of ``chunk_bytes`` bytes by its first event (listed once)."""
        if self._chunk_offsets is None:
            offsets: dict[int, int] = {}

            def note(chunk: h5py.h5d.StoreInfo) -> None:
                if chunk.size == chunk_bytes and chunk.filter_mask == 0:
                    offsets[int(chunk.chunk_offset[0])] = int(chunk.byte_offset)

            self._dset.id.chunk_iter(note)
            self._chunk_offsets = offsets
        return self._chunk_offsets

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
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _number(value: Any) -> float | None:
    """One finite number from an attribute value (scalar or 1-element array), else None."""
    if value is None or np.size(value) != 1:
        return None
    try:
        number = float(np.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, OverflowError):
        return None
    return number if np.isfinite(number) else None


def _events_per_raw_chunk(file: h5py.File, dset: h5py.Dataset) -> int | None:
    """Events per chunk when chunks can be read from the file as they are, else None.

    That is: a plain POSIX file (HDF5's default ``sec2`` driver, ``os.preadv``, HDF5 able
    to list chunks), chunks over events only, no filters (compression), and a stored sample
    type that is exactly the NumPy dtype h5py reads it as, so that a chunk's bytes are the
    samples.
    """
    if (file.driver != "sec2" or not hasattr(os, "preadv")
            or not hasattr(dset.id, "chunk_iter") or dset.chunks is None
            or dset.chunks[1:] != dset.shape[1:]
            or dset.id.get_create_plist().get_nfilters() != 0
            or not dset.id.get_type().equal(h5py.h5t.py_create(dset.dtype))):
        return None
    return int(dset.chunks[0])


def _check_storage(path: str, dset: h5py.Dataset, name: str) -> None:
    """Refuse a dataset whose declared shape is not backed by data in the file.

    A chunked dataset with chunks never written, or a contiguous one with no storage or
    running past the end of the file, reads as fill values or fails mid-way; both mean a
    truncated or wrongly written file (e.g. a huge declared shape with tiny data).
    """
    if dset.is_virtual or dset.external:
        return
    declared = int(dset.size) * int(dset.dtype.itemsize)
    if dset.chunks is not None:
        per_axis = [-(-int(n) // int(c)) for n, c in zip(dset.shape, dset.chunks, strict=True)]
        expected = int(np.prod(per_axis, dtype=np.float64))
        written = int(dset.id.get_num_chunks())
        if written < expected:
            raise DataFileError(path, f"'{name}' declares shape {dset.shape} but only "
                                f"{written} of {expected} chunks hold data (unwritten or "
                                "truncated dataset)")
        return
    stored = int(dset.id.get_storage_size())
    offset = dset.id.get_offset()
    if stored < declared or offset is None:
        raise DataFileError(path, f"'{name}' declares shape {dset.shape} ({declared} bytes) "
                            f"but stores {stored} bytes (unwritten or truncated dataset)")
    size = os.path.getsize(path)
    if int(offset) + declared > size:
        raise DataFileError(path, f"'{name}' runs to byte {int(offset) + declared} but the "
                            f"file has {size} bytes (truncated file)")


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
