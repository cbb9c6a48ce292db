"""Writer of the flat RNO-G ROOT layout (one ``combined`` tree, plain branches), via uproot.

The layout is documented in ``data_specs/rnog_root.md``; :class:`~rnognoise.io.root_read.RootSource`
reads it back with the channel ids, sampling rate, event provenance and trigger types.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import uproot

from ..errors import ConfigError, DataFileError
from ..fileutil import atomic_output
from ..units import ADC_TO_VOLTS_RNOG
from .root_layout import (
    ADC_BRANCH,
    CHANNEL_IDS_BRANCH,
    COMBINED_TREE_NAME,
    RATE_BRANCH,
    SAMPLES_BRANCH,
    WHICH_RADIANT_BRANCH,
)
from .traceset import TraceSet

__all__ = ["write_root"]

# Raw sample bytes per basket written by write_root.
_BASKET_BYTES = 8 * 2**20
_COMPRESSION = {"zlib": uproot.ZLIB, "lz4": uproot.LZ4, "zstd": uproot.ZSTD,
                "lzma": uproot.LZMA}


def _flags_from_types(types: np.ndarray) -> dict[str, np.ndarray]:
    types = np.asarray([str(t).upper() for t in types], dtype=object)
    radiant = np.array([t.startswith("RADIANT") for t in types], dtype=bool)
    lt = types == "LT"
    which = np.full(types.size, -1, dtype=np.int8)
    which[types == "RADIANT0"] = 0
    which[types == "RADIANT1"] = 1
    return {
        "force_trigger": types == "FORCE",
        "rf_trigger": radiant | lt,
        "lt_trigger": lt,
        "radiant_trigger": radiant,
        "pps_trigger": types == "PPS",
        "ext_trigger": types == "EXT",
        WHICH_RADIANT_BRANCH: which,
    }


def write_root(path: str | os.PathLike[str], traceset: TraceSet, *, force: bool = False,
               adc_to_volts: float | None = None, run_number: int = 0, station: int = 0,
               compression: str | None = "zlib") -> None:
    """Write a :class:`TraceSet` as a flat RNO-G ROOT tree ``combined``, atomically.

    Branches (one entry per event): ``radiant_data`` (int16 ADC counts, rounded,
    ``(n_channels, n_samples)``), ``channel_ids`` (int32, the channel ids, same every
    event), ``adc_to_volts`` (V per count), ``radiant_sampling_rate`` (MHz, float64),
    ``event_number``, ``run_number``, ``station_number``, ``readout_time`` (UTC seconds),
    the trigger flags ``force_trigger``, ``rf_trigger``, ``lt_trigger``, ``radiant_trigger``,
    ``pps_trigger``, ``ext_trigger`` and ``which_radiant_trigger``, from the ``trigger_type``
    column (``FORCE`` where absent). Layout: ``data_specs/rnog_root.md``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; an existing file is replaced only with ``force=True``.
    traceset : TraceSet
        Traces in volts.
    force : bool
        Overwrite an existing file.
    adc_to_volts : float, optional
        Volts per ADC count (default :data:`rnognoise.units.ADC_TO_VOLTS_RNOG`).
    run_number : int
        Run number stored when the metadata has no ``run_number`` column.
    station : int
        Station number stored when the metadata has no ``station`` column.
    compression : {"zlib", "lz4", "zstd", "lzma", None}
        Basket compression, level 1 (``lz4``/``zstd`` need their Python packages).

    Raises
    ------
    DataFileError
        If the traces hold NaN/inf.
    ConfigError
        If the traces exceed the int16 range at this ``adc_to_volts``, or for a bad
        ``adc_to_volts`` or ``compression``.
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    """
    factor = float(ADC_TO_VOLTS_RNOG if adc_to_volts is None else adc_to_volts)
    if not np.isfinite(factor) or factor <= 0:
        raise ConfigError(f"adc_to_volts must be positive, got {adc_to_volts!r}")
    if compression is not None and compression not in _COMPRESSION:
        raise ConfigError(f"unknown compression {compression!r} (expected one of "
                          f"{sorted(_COMPRESSION)} or None)")
    traces = traceset.traces
    if not np.isfinite(traces).all():
        raise DataFileError(path, "traces hold NaN/inf samples; they cannot be stored as "
                            "ADC counts")
    peak = float(np.abs(traces).max()) / factor if traces.size else 0.0
    if peak > np.iinfo(np.int16).max:
        raise ConfigError(f"{path}: traces reach {peak:.0f} ADC counts at adc_to_volts="
                          f"{factor:g} V, beyond the int16 range; pass a larger adc_to_volts")
    n = traceset.n_events
    meta = traceset.events

    def col(name: str, default: Any, dtype: Any) -> np.ndarray:
        if name in meta:
            return meta[name].to_numpy().astype(dtype)
        return np.broadcast_to(np.asarray(default, dtype=dtype), (n,))

    branches: dict[str, np.ndarray] = {
        CHANNEL_IDS_BRANCH: np.broadcast_to(traceset.channels.astype(np.int32),
                                      (n, traceset.n_channels)),
        ADC_BRANCH: np.full(n, factor, dtype=np.float64),
        RATE_BRANCH: np.full(n, traceset.sampling_rate / 1e6, dtype=np.float64),
        "event_number": col("event_number", 0, np.int64) if "event_number" in meta
        else np.arange(n, dtype=np.int64),
        "run_number": col("run_number", run_number, np.int64),
        "station_number": col("station", station, np.int64),
        "readout_time": col("readout_time", 0.0, np.float64),
        **_flags_from_types(meta["trigger_type"].to_numpy() if "trigger_type" in meta
                            else np.full(n, "FORCE", dtype=object)),
    }
    types: dict[str, Any] = {SAMPLES_BRANCH: np.dtype((np.int16, (traceset.n_channels,
                                                            traceset.n_samples)))}
    types.update({k: (np.dtype((v.dtype, v.shape[1:])) if v.ndim > 1 else v.dtype)
                  for k, v in branches.items()})
    per_basket = max(1, _BASKET_BYTES // max(1, 2 * traceset.n_channels * traceset.n_samples))
    scale = np.float32(1.0 / factor)
    level = None if compression is None else _COMPRESSION[compression](1)
    with atomic_output(path, force=force) as tmp, \
            uproot.recreate(tmp, compression=level) as file:
        tree = file.mktree(COMBINED_TREE_NAME, types,
                           title="RNO-G traces (rnognoise flat layout)")
        for lo in range(0, n, per_basket):
            hi = min(n, lo + per_basket)
            chunk = {k: np.ascontiguousarray(v[lo:hi]) for k, v in branches.items()}
            chunk[SAMPLES_BRANCH] = np.rint(traces[lo:hi] * scale).astype(np.int16)
            tree.extend(chunk)
