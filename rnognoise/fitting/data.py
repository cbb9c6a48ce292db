"""The data of a fit: events read (or streamed), held-out split, per-channel
normalisation, and what the provenance records about them (envelope, hash, split).

Rules shared by every model kind:

- :func:`min_events` — the fewest events a kind is fitted from.
- :func:`validation_count` — how many events are held out.
- :func:`channel_stats` — per-channel offset and scale from chunks of training events
  (the same arithmetic whether the events are in memory or streamed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DataFileError
from ..io import TraceSet, open_traces, read_traces
from ..logs import get_logger, log_event
from ..models.base import TraceLayout, detect_quantum, min_fit_events
from ..models.saturation import SaturationCounter

if TYPE_CHECKING:
    from .options import FitOptions
    from .stream import WindowSource

__all__ = ["CHUNK_EVENTS", "MIN_HELD_OUT", "MIN_VALIDATION_EVENTS", "FitData", "channel_stats",
           "load_fit_data", "min_events", "split_events", "validation_count"]

_log = get_logger("train")

#: Fewer held-out events than this: no validation score (the last weights are kept) and
#: no component selection.
MIN_VALIDATION_EVENTS = 4
#: Held-out events at least (as far as a fifth of the events allows), whatever
#: ``val_fraction`` says: a selection on a handful of events is noise.
MIN_HELD_OUT = 100
#: Events per chunk of the normalisation statistics and of a streamed read.
CHUNK_EVENTS = 256


def min_events(kind: str) -> int:
    """The fewest events a model of ``kind`` is fitted from."""
    return min_fit_events(kind)


def validation_count(n_events: int, val_fraction: float) -> int:
    """Events held out of ``n_events``: ``val_fraction`` of them, at least
    :data:`MIN_HELD_OUT` as far as a fifth of the events allows (none for 0)."""
    if val_fraction <= 0:
        return 0
    return int(max(round(val_fraction * n_events), min(MIN_HELD_OUT, n_events // 5)))


def split_events(n_events: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted training and held-out rows: ``n_val`` rows drawn by ``seed``."""
    order = np.random.default_rng(seed).permutation(n_events)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def channel_stats(chunks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (float64) of chunks ``(n, C, T)``,
    combined exactly (Chan et al.'s pairwise update), so that streamed and in-memory
    fits that see the same chunks normalise identically."""
    count, mean, m2 = 0, None, None
    for chunk in chunks:
        n = chunk.shape[0] * chunk.shape[2]
        if n == 0:
            continue
        c_mean = chunk.mean(axis=(0, 2), dtype=np.float64)
        c_m2 = np.square(chunk - c_mean[None, :, None], dtype=np.float64).sum(axis=(0, 2))
        if mean is None:
            count, mean, m2 = n, c_mean, c_m2
            continue
        delta = c_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + c_m2 + delta**2 * (count * n / total)
        count = total
    if mean is None or m2 is None:
        raise ValueError("no events")
    return mean, np.sqrt(m2 / count)


def block_rows(rows: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The sorted ``rows`` in ``[lo, hi)``."""
    return rows[np.searchsorted(rows, lo):np.searchsorted(rows, hi)]


def _chunks(array: np.ndarray, rows: np.ndarray) -> Iterable[np.ndarray]:
    """The ``rows`` of ``array`` block by block of :data:`CHUNK_EVENTS` events, as a
    streamed file is read."""
    for lo in range(0, array.shape[0], CHUNK_EVENTS):
        yield array[block_rows(rows, lo, lo + CHUNK_EVENTS)]


def saturation_record(saturation: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """``{"saturation_volts": {"low": [...], "high": [...]}}`` (None for a channel without
    a level), or nothing when no channel saturates."""
    low, high = saturation
    if np.isinf(low).all() and np.isinf(high).all():
        return {}
    return {"saturation_volts": {
        "low": [None if np.isinf(v) else float(v) for v in low],
        "high": [None if np.isinf(v) else float(v) for v in high]}}


def envelope(rms: np.ndarray, peak: np.ndarray) -> dict[str, Any]:
    """The physical envelope of the training events: per-channel RMS and peak about the
    channel offset, volts."""
    return {"rms_volts": [float(v) for v in rms], "peak_volts": [float(v) for v in peak],
            "adc_range_volts": None}


def check_scale(scale: np.ndarray, channels: np.ndarray, source: str) -> None:
    """Refuse constant channels (zero RMS)."""
    if np.any(scale <= 0):
        dead = channels[scale <= 0].tolist()
        raise DataFileError(source, f"channel(s) {dead} are constant (zero RMS); exclude "
                            "them with channels=[...] (--channels)")


@dataclass
class FitData:
    """Normalised training and held-out events of a fit, and what the provenance records.

    Attributes
    ----------
    layout : TraceLayout
        Channels, trace length, sampling rate.
    source : str or None
        The file (or the TraceSet's source).
    n_events : int
        Trigger-selected events the fit drew from (the subset read, or the whole file
        when streamed).
    train, val : numpy.ndarray
        Normalised float32 events in memory: training events (all of them, or for a
        streamed fit a random subset of ``buffer_events`` for the analytic
        initialisation) and held-out events.
    train_events, val_events : pandas.DataFrame
        Their per-event columns.
    n_train : int
        All training events (streamed ones included).
    offset, scale : numpy.ndarray
        Per-channel normalisation, volts.
    quantum : float
        Digitizer step, volts (0: continuous).
    saturation : tuple of numpy.ndarray
        Per-channel lower and upper saturation levels of the digitizer, volts (``-inf``
        / ``+inf``: none; :class:`~rnognoise.models.saturation.SaturationCounter`).
    provenance : dict
        ``n_events``, ``data_sha256``, ``envelope``, ``split``, ... of the data.
    traceset : TraceSet or None
        The events read (None when streamed).
    train_rows : numpy.ndarray or None
        Rows of ``traceset`` in the training split.
    windows : WindowSource or None
        The training batches' source of a streamed fit.
    """

    layout: TraceLayout
    source: str | None
    n_events: int
    train: np.ndarray
    val: np.ndarray
    train_events: pd.DataFrame
    val_events: pd.DataFrame
    n_train: int
    offset: np.ndarray
    scale: np.ndarray
    quantum: float
    provenance: dict[str, Any] = field(default_factory=dict)
    traceset: TraceSet | None = None
    train_rows: np.ndarray | None = None
    windows: WindowSource | None = None
    saturation: tuple[np.ndarray, np.ndarray] | None = None


def read_data(path: str | os.PathLike[str] | TraceSet, opts: FitOptions) -> TraceSet:
    """The events a fit reads into memory: a TraceSet as given (channels selected), or the
    file's trigger-selected events (a random subset of ``max_events`` when it holds more)."""
    if isinstance(path, TraceSet):
        data = path if opts.channels is None else path.select_channels(opts.channels)
    else:
        with open_traces(path, trigger=opts.trigger, sampling_rate=opts.sampling_rate) as source:
            n_avail = source.n_events
        events = None
        if n_avail > opts.max_events:
            rng = np.random.default_rng(opts.seed)
            events = np.sort(rng.choice(n_avail, opts.max_events, replace=False))
            log_event(_log, "using a random subset", events=opts.max_events, of=n_avail)
        data = read_traces(path, channels=opts.channels, events=events, trigger=opts.trigger,
                           sampling_rate=opts.sampling_rate)
        if events is not None:
            data.attrs["read_indices"] = events.tolist()
    if not np.isfinite(data.traces).all():
        raise DataFileError(data.source or "<traces>", "contains NaN/inf samples")
    return data


def load_fit_data(path: str | os.PathLike[str] | TraceSet, opts: FitOptions) -> FitData:
    """Read the events, split them, normalise them (in memory)."""
    traceset = read_data(path, opts)
    source = traceset.source or (None if isinstance(path, TraceSet) else os.fspath(path))
    needed = min_events(opts.model)
    if traceset.n_events < needed:
        raise DataFileError(source or "<traces>", f"only {traceset.n_events} events; "
                            f"model {opts.model!r} needs at least {needed}")
    n_val = validation_count(traceset.n_events, opts.val_fraction)
    train_idx, val_idx = split_events(traceset.n_events, n_val, opts.seed)
    raw = traceset.traces
    offset, scale = channel_stats(_chunks(raw, train_idx))
    check_scale(scale, traceset.channels, source or "<traces>")
    off32, scale32 = offset.astype(np.float32), scale.astype(np.float32)
    dev = raw[train_idx] - off32[None, :, None]
    rms = np.sqrt(np.mean(np.square(dev, dtype=np.float64), axis=(0, 2)))
    peak = np.abs(dev).max(axis=(0, 2)).astype(np.float64)
    quantum = detect_quantum(raw[train_idx])
    counter = SaturationCounter(raw.shape[1])
    for chunk in _chunks(raw, train_idx):
        counter.update(chunk)
    saturation = counter.levels(rms, quantum)
    del dev
    norm = (raw - off32[None, :, None]) / scale32[None, :, None]
    read = traceset.attrs.get("read_indices")
    positions = np.asarray(read)[val_idx] if read is not None else val_idx
    provenance = {
        "n_events": int(traceset.n_events), "n_train_events": int(train_idx.size),
        "n_validation_events": int(n_val),
        "data_sha256": hashlib.sha256(np.ascontiguousarray(raw).view(np.uint8)).hexdigest(),
        "envelope": envelope(rms, peak), **saturation_record(saturation),
        # positions among the file's trigger-selected events (through the random subset
        # read when the file held more than max_events)
        "split": {"seed": opts.seed, "n_events": int(traceset.n_events),
                  "validation_indices": [int(i) for i in positions]},
    }
    events = traceset.events
    return FitData(
        TraceLayout.of(traceset), source, traceset.n_events,
        np.ascontiguousarray(norm[train_idx]), np.ascontiguousarray(norm[val_idx]),
        events.iloc[train_idx].reset_index(drop=True),
        events.iloc[val_idx].reset_index(drop=True), int(train_idx.size), offset, scale,
        quantum, provenance, traceset, train_idx, saturation=saturation)
