"""Reader of traces saved with :func:`numpy.savez` (``.npz``): small samples, quick exports.

Layout (``data_specs/npz.md``): ``traces`` ``(n_events, n_channels, n_samples)`` (or
``(n_events, n_samples)`` for one channel), integer ADC counts or float; optional
``sampling_rate_hz``, ``channel_ids``, ``units``, ``adc_to_volts``, and per-event (or one
for all) ``station``, ``run_number``, ``event_number``, ``readout_time``, ``trigger_type``.
The whole array is loaded when the file is opened (npz members cannot be read in parts).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataFileError
from ..units import ADC_TO_VOLTS_RNOG, SUPPORTED_UNITS
from .rate import resolve_sampling_rate
from .root_layout import select_trigger
from .traceset import TraceSet

__all__ = ["NPZ_KEYS", "NpzSource", "provenance_from_name"]

#: Keys read from an npz file; any other key is ignored.
NPZ_KEYS: tuple[str, ...] = ("traces", "sampling_rate_hz", "channel_ids", "units",
                             "adc_to_volts", "station", "run_number", "event_number",
                             "readout_time", "trigger_type")
_META_DTYPES = {"station": np.int64, "run_number": np.int64, "event_number": np.int64,
                "readout_time": np.float64, "trigger_type": object}
_STATION = re.compile(r"(?:^|[_.\-])st(?:ation)?(\d{1,3})(?=[_.\-]|$)", re.IGNORECASE)
_FORCED = re.compile(r"(?:^|[_.\-])forced?(?:[_\-]?trig(?:ger)?)?(?=[_.\-]|$)", re.IGNORECASE)


def provenance_from_name(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Station and trigger type from a file name such as ``rnog_st24_forced_trigger_...``.

    ``st<N>`` or ``station<N>`` gives ``station``; ``forced``/``force``/``forced_trigger``
    gives ``trigger_type = "FORCE"``. Tokens are separated by ``_``, ``-`` or ``.``.
    """
    name = Path(path).name
    out: dict[str, Any] = {}
    if (m := _STATION.search(name)) is not None:
        out["station"] = int(m.group(1))
    if _FORCED.search(name) is not None:
        out["trigger_type"] = "FORCE"
    return out


class NpzSource:
    """Open an ``.npz`` trace file; the same interface as the HDF5 and ROOT sources.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    trigger : str
        ``"forced"`` (default) keeps ``trigger_type == "FORCE"`` events, ``"all"`` every
        event, another name that type (case-insensitive); without trigger information every
        event is taken.
    adc_to_volts : float, optional
        Volts per ADC count (default: the ``adc_to_volts`` key, else 2.5 V / 4095).
    sampling_rate : float, optional
        Rate in Hz for files without ``sampling_rate_hz`` (else 3.2 GHz with a
        :class:`~rnognoise.errors.SamplingRateWarning`); must agree with the key when present.

    Raises
    ------
    DataFileError
        A file that is not an npz, lacks ``traces`` or holds inconsistent keys.
    ConfigError
        A bad ``trigger``, ``adc_to_volts`` or ``sampling_rate``.
    """

    format = "npz"

    def __init__(self, path: str | os.PathLike[str], *, trigger: str = "forced",
                 adc_to_volts: float | None = None, sampling_rate: float | None = None,
                 ) -> None:
        self.path = os.fspath(path)
        self._npz: Any = None
        try:
            self._handle = open(self.path, "rb")  # held open until close()
        except OSError as exc:
            raise DataFileError(self.path, f"cannot be read ({exc.strerror})") from None
        try:
            self._npz = np.load(self._handle, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            self.close()
            raise DataFileError(self.path, f"cannot be read as npz ({type(exc).__name__}: "
                                f"{str(exc).strip()[:120]})") from None
        if not isinstance(self._npz, np.lib.npyio.NpzFile):
            self.close()
            raise DataFileError(self.path, "is a bare .npy array; save an .npz with keys "
                                "'traces' and 'sampling_rate_hz' (data_specs/npz.md)")
        self._traces: np.ndarray | None = None
        try:
            self._open(trigger, adc_to_volts, sampling_rate)
        except Exception:
            self.close()
            raise

    def _key(self, name: str) -> np.ndarray | None:
        if name not in self._npz.files:
            return None
        try:
            return np.asarray(self._npz[name])
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataFileError(self.path, f"key {name!r} cannot be read ({type(exc).__name__}: "
                                f"{str(exc).strip()[:120]})") from None

    def _open(self, trigger: str, adc_to_volts: float | None,
              sampling_rate: float | None) -> None:
        traces = self._key("traces")
        if traces is None:
            raise DataFileError(self.path, f"no 'traces' key (keys: {sorted(self._npz.files)})")
        if traces.ndim == 2:
            traces = traces[:, None, :]
        if traces.ndim != 3 or 0 in traces.shape:
            raise DataFileError(self.path, f"'traces' has shape {traces.shape}; expected "
                                "(n_events, n_channels, n_samples)")
        if traces.dtype.kind not in "iuf":
            raise DataFileError(self.path, f"'traces' holds {traces.dtype}, expected integer "
                                "ADC counts or floats")
        self._raw = traces
        n_events, n_channels, self.n_samples = (int(d) for d in traces.shape)
        self.n_events_total = n_events
        self.stored_dtype = str(traces.dtype)
        self.channels = self._channels(n_channels)
        self.stored_units, self.adc_to_volts, self._factor_source = self._units(adc_to_volts)
        self.events, self._meta_source = self._metadata(n_events)
        self.event_index = select_trigger(
            self.path, trigger, n_events, self.events["trigger_type"].to_numpy()
            if "trigger_type" in self.events else None)
        file_rate = self._scalar("sampling_rate_hz")
        if file_rate is not None and (not np.isfinite(file_rate) or file_rate <= 0):
            raise DataFileError(self.path, f"'sampling_rate_hz' is {file_rate:g}; it must be a "
                                "positive number of Hz")
        self.sampling_rate, self._rate_source = resolve_sampling_rate(
            self.path, file_rate, sampling_rate, what="'sampling_rate_hz' key")

    def _scalar(self, name: str) -> float | None:
        value = self._key(name)
        if value is None:
            return None
        if value.size != 1 or value.dtype.kind not in "iuf":
            raise DataFileError(self.path, f"{name!r} must be one number, got {value.dtype} "
                                f"of shape {value.shape}")
        return float(value.reshape(()))

    def _channels(self, n_channels: int) -> np.ndarray:
        ids = self._key("channel_ids")
        if ids is None:
            return np.arange(n_channels, dtype=np.int64)
        ids = ids.reshape(-1)
        if ids.dtype.kind not in "iu" or ids.size != n_channels:
            raise DataFileError(self.path, f"'channel_ids' must hold {n_channels} integer ids, "
                                f"got {ids.size} of type {ids.dtype}")
        if np.unique(ids).size != ids.size:
            raise DataFileError(self.path, f"'channel_ids' repeats an id: {ids.tolist()}")
        return ids.astype(np.int64)

    def _units(self, override: float | None) -> tuple[str, float, str]:
        """Stored units, volts per stored unit, and where the factor came from."""
        text = self._key("units")
        units = "ADC" if text is None else str(text.reshape(()) if text.size == 1 else text)
        word = units.split()[0] if units.split() else ""
        is_adc = word.upper().startswith("ADC")
        if not is_adc and (word not in SUPPORTED_UNITS or self._raw.dtype.kind != "f"):
            raise DataFileError(self.path, f"'units' is {units!r} for {self._raw.dtype} traces; "
                                "expected ADC counts (integer or float) or float V, mV, uV")
        if override is not None:
            factor = float(override)
            if not np.isfinite(factor) or factor <= 0:
                raise ConfigError(f"adc_to_volts must be a positive number of volts per ADC "
                                  f"count, got {override!r}")
        if not is_adc:
            return word, float(SUPPORTED_UNITS[word] or 1.0), "'units' key"
        if override is not None:
            return "ADC", factor, "argument"
        stored = self._scalar("adc_to_volts")
        if stored is not None:
            if not np.isfinite(stored) or stored <= 0:
                raise DataFileError(self.path, f"'adc_to_volts' is {stored:g}; it must be "
                                    "positive")
            return "ADC", stored, "'adc_to_volts' key"
        return "ADC", ADC_TO_VOLTS_RNOG, "default 2.5 V / 4095"

    def _metadata(self, n_events: int) -> tuple[pd.DataFrame, dict[str, str]]:
        columns: dict[str, Any] = {}
        source: dict[str, str] = {}
        for name, dtype in _META_DTYPES.items():
            value = self._key(name)
            if value is None:
                continue
            if value.size not in (1, n_events):
                raise DataFileError(self.path, f"{name!r} holds {value.size} values for "
                                    f"{n_events} events (give one, or one per event)")
            if value.dtype.kind not in ("U" if dtype is object else "iuf"):
                raise DataFileError(self.path, f"{name!r} holds {value.dtype}, expected "
                                    f"{'strings' if dtype is object else 'numbers'}")
            values = np.broadcast_to(value.reshape(-1), (n_events,)).astype(dtype)
            columns[name] = (np.array([str(v).upper() for v in values], dtype=object)
                             if name == "trigger_type" else values)
            source[name] = "key"
        for name, value in provenance_from_name(self.path).items():
            if name not in columns:
                columns[name] = np.full(n_events, value, dtype=_META_DTYPES[name])
                source[name] = "file name"
        return pd.DataFrame(columns, index=pd.RangeIndex(n_events)), source

    @property
    def n_events(self) -> int:
        """Number of events after the trigger selection."""
        return int(self.event_index.size)

    def read_events(self, file_indices: np.ndarray, channel_rows: np.ndarray | None = None,
                    ) -> TraceSet:
        """Read the given file event indices as a :class:`TraceSet` in volts (float32)."""
        indices = np.asarray(file_indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_events_total):
            raise DataFileError(self.path, f"event index out of range 0..{self.n_events_total - 1}")
        raw = self._raw[indices]
        channels = self.channels
        if channel_rows is not None:
            rows = np.asarray(channel_rows, dtype=np.int64)
            raw, channels = raw[:, rows], channels[rows]
        out = np.multiply(raw, np.float32(self.adc_to_volts), dtype=np.float32)
        events = self.events.iloc[indices].reset_index(drop=True)
        return TraceSet(out, self.sampling_rate, channels, events, "V", self.path,
                        {"format": self.format})

    def info(self) -> dict[str, Any]:
        """Facts about the file for ``rnognoise inspect``."""
        out: dict[str, Any] = {
            "format": self.format,
            "n_events_in_file": self.n_events_total,
            "stored_dtype": self.stored_dtype,
            "stored_units": self.stored_units,
            "adc_to_volts": self.adc_to_volts if self.stored_units == "ADC" else None,
            "adc_to_volts_source": self._factor_source,
            "sampling_rate_source": self._rate_source,
            "metadata_source": dict(self._meta_source),
        }
        if "station" in self.events:
            out["station"] = sorted(int(v) for v in self.events["station"].unique())
        if "trigger_type" in self.events:
            out["trigger_mix"] = {str(k): int(v) for k, v in
                                  self.events["trigger_type"].value_counts().items()}
        else:
            out["trigger_info"] = "none in the file: every event is taken"
        return out

    def close(self) -> None:
        """Close the file."""
        if hasattr(self._npz, "close"):
            self._npz.close()
        self._npz = None
        self._handle.close()

    def __enter__(self) -> NpzSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
