"""Writing simulated noise to disk in batches (bounded memory for HDF5).

HDF5 output is streamed through :class:`rnognoise.io.hdf5_writer.HDF5Writer`, the one
writer of the canonical layout, so any number of events fits in a fixed amount of
memory. ROOT output is written by
:func:`rnognoise.io.root.write_root` from one in-memory set, with the simulation's
ADC step so that quantised traces survive the int16 storage exactly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fileutil import check_writable
from ..io.hdf5_writer import HDF5Writer
from ..io.traceset import TraceSet
from ..logs import get_logger, log_event, progress
from .config import SimulationConfig
from .generator import generate_events, resolve_seed

__all__ = ["simulate_to_file"]

_LOG = get_logger("simulate")


def simulate_to_file(path: str | os.PathLike[str], n_events: int, *,
                     config: SimulationConfig | None = None, seed: int | None = 0,
                     format: str | None = None, force: bool = False, batch_size: int = 1000,
                     show_progress: bool = False) -> Path:
    """Simulate noise and write it to an HDF5 (canonical layout) or RNO-G ROOT file.

    Events are generated ``batch_size`` at a time; event ``i`` is the same whatever the
    batch size (one random stream per event), so the file depends only on ``config``,
    ``seed`` and ``n_events``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file, written atomically; an existing file is replaced only with ``force``.
    n_events : int
        Number of events.
    config : SimulationConfig, optional
        Parameters (default configuration when omitted).
    seed : int or None
        Seed (``None``: fresh entropy, recorded in the file's ``simulation`` attribute).
    format : {"hdf5", "h5", "root"}, optional
        Default: from the suffix (``.root`` -> ROOT, otherwise HDF5).
    force : bool
        Overwrite an existing file.
    batch_size : int
        Events generated and held in memory at once.
    show_progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``force`` is false (checked before any work).
    ConfigError
        For a bad event count, batch size, format or configuration.
    """
    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) \
            or n_events < 1:
        raise ConfigError(f"n_events must be a positive integer, got {n_events!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    fmt = (format or ("root" if str(path).endswith(".root") else "hdf5")).lower()
    if fmt not in ("hdf5", "h5", "root"):
        raise ConfigError(f"unknown output format {format!r} (expected 'hdf5' or 'root')")
    config = config or SimulationConfig()
    entropy = resolve_seed(seed)
    target = check_writable(path, force=force)
    n_events = int(n_events)
    started = time.perf_counter()
    bar = progress(n_events, desc="simulate", unit="event", quiet=not show_progress)
    try:
        batches = _batches(n_events, batch_size, config, entropy, bar)
        if fmt == "root":
            _write_root(target, TraceSet.concatenate(list(batches)), config, force=force)
        else:
            _stream_hdf5(target, n_events, batches, force=force)
    finally:
        bar.close()
    log_event(_LOG, "simulated", path=str(target), events=n_events, format=fmt,
              seconds=round(time.perf_counter() - started, 3))
    return target


def _batches(n_events: int, batch_size: int, config: SimulationConfig, entropy: int,
             bar: Any) -> Any:
    for start in range(0, n_events, batch_size):
        stop = min(start + batch_size, n_events)
        batch = generate_events(start, stop, config, entropy)
        bar.update(stop - start)
        yield batch


def _write_root(path: Path, traceset: TraceSet, config: SimulationConfig, *,
                force: bool) -> None:
    """ROOT output through :func:`rnognoise.io.root.write_root` (whole set in memory)."""
    from ..io.root import write_root

    write_root(path, traceset, force=force, adc_to_volts=config.adc_to_volts,
               run_number=config.run_number, station=config.station)


def _stream_hdf5(path: Path, n_events: int, batches: Any, *, force: bool) -> None:
    """Write batches through :class:`rnognoise.io.hdf5_writer.HDF5Writer`."""
    batch = next(batches)
    with HDF5Writer(path, n_events=n_events, channels=batch.channels,
                    n_samples=batch.n_samples, sampling_rate=batch.sampling_rate,
                    force=force, attrs=batch.attrs) as writer:
        while batch is not None:
            writer.append(batch.traces, batch.events if len(batch.events.columns) else None)
            batch = next(batches, None)
