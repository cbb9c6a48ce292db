"""Training batches in epochs of shuffled windows, from memory or streamed from a file.

Every training event is drawn exactly once per epoch. An epoch's order is built from
chunks of :data:`~rnognoise.fitting.data.CHUNK_EVENTS` consecutive training events: the
chunks are shuffled, grouped into *windows* of about ``buffer_events`` events, and the
events of each window are shuffled. Batch ``j`` of the run is draws ``j*b .. (j+1)*b - 1``
of the endless sequence of epochs, a function of ``(seed, j)`` alone: a resumed run and
every rank of a distributed one see the same batches.

- In memory (:class:`WindowSource` over an array): one window per epoch, every event.
- Streamed (:func:`load_streamed`, for files with more events than ``max_events``): the
  file is read once for the normalisation, the envelope and the hash (chunk by chunk),
  then one window at a time while training; resident memory is set by the window, the
  held-out events, the initialisation subset and the model, not by the file. With
  ``buffer_events`` at least the number of training events the streamed batches equal
  the in-memory ones.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ..io import iter_traces, open_traces, read_traces
from ..logs import get_logger, log_event
from ..models.base import TraceLayout, detect_quantum, min_fit_events
from ..models.saturation import SaturationCounter
from .data import (
    CHUNK_EVENTS,
    FitData,
    block_rows,
    channel_stats,
    check_scale,
    envelope,
    saturation_record,
    split_events,
    validation_count,
)

if TYPE_CHECKING:
    from .options import FitOptions

__all__ = ["WindowSource", "load_streamed", "should_stream"]

_log = get_logger("train")


class WindowSource:
    """Epochs of shuffled windows over ``n_rows`` training events (see the module docstring).

    Parameters
    ----------
    n_rows : int
        Training events.
    read : callable
        ``read(rows)`` -> normalised float32 events ``(len(rows), C, T)`` (a numpy array
        or a tensor) for sorted training-row numbers.
    buffer_events : int
        Events per window (at least one chunk).
    seed : int
        Seed of the epoch orders.
    """

    def __init__(self, n_rows: int, read: Callable[[np.ndarray], Any],
                 buffer_events: int, seed: int) -> None:
        self.n_rows = int(n_rows)
        self.read = read
        self.seed = int(seed)
        self.n_chunks = -(-self.n_rows // CHUNK_EVENTS)
        self.chunks_per_window = max(1, -(-int(buffer_events) // CHUNK_EVENTS))
        self._cache: dict[tuple[int, int], tuple[Any, np.ndarray]] = {}
        self._layout: tuple[int, list[np.ndarray], np.ndarray] | None = None
        self.windows_read = 0

    @classmethod
    def in_memory(cls, data: torch.Tensor, seed: int) -> WindowSource:
        """Every event of ``data`` in one window per epoch (nothing copied)."""
        n = int(data.shape[0])
        return cls(n, lambda rows: data if rows.size == n else
                   data[torch.as_tensor(rows, device=data.device)], max(n, 1), seed)

    @property
    def windows_per_epoch(self) -> int:
        """Windows in one epoch."""
        return -(-self.n_chunks // self.chunks_per_window)

    def _epoch(self, epoch: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The chunks of each window of an epoch, and the windows' first draw offsets."""
        if self._layout is None or self._layout[0] != epoch:
            per = self.chunks_per_window
            order = (np.arange(self.n_chunks) if self.windows_per_epoch == 1 else
                     np.random.default_rng((self.seed, epoch)).permutation(self.n_chunks))
            windows = [np.sort(order[w * per:(w + 1) * per])
                       for w in range(self.windows_per_epoch)]
            sizes = [sum(min(CHUNK_EVENTS, self.n_rows - c * CHUNK_EVENTS) for c in chunks)
                     for chunks in windows]
            self._layout = (epoch, windows, np.cumsum([0, *sizes]))
        return self._layout[1], self._layout[2]

    def window_rows(self, epoch: int, window: int) -> np.ndarray:
        """Training rows of a window, in the order they are drawn."""
        chunks = self._epoch(epoch)[0][window]
        rows = np.concatenate([np.arange(c * CHUNK_EVENTS,
                                         min(self.n_rows, (c + 1) * CHUNK_EVENTS))
                               for c in chunks])
        return rows[np.random.default_rng((self.seed, epoch, window)).permutation(rows.size)]

    def _window(self, epoch: int, window: int) -> tuple[Any, np.ndarray]:
        key = (epoch, window)
        if key not in self._cache:
            rows = self.window_rows(epoch, window)
            sorted_rows = np.sort(rows)
            while len(self._cache) >= 2:  # the window a batch ends in, and the one before
                self._cache.pop(next(iter(self._cache)))
            traces = self.read(sorted_rows)
            where = np.searchsorted(sorted_rows, rows)  # draw order -> position in traces
            self._cache[key] = (traces, where)
            self.windows_read += 1
        return self._cache[key]

    def draws(self, start: int, count: int) -> torch.Tensor:
        """Events ``start .. start + count - 1`` of the endless draw sequence."""
        out: list[torch.Tensor] = []
        pos, end = start, start + count
        while pos < end:
            epoch, offset = divmod(pos, self.n_rows)
            starts = self._epoch(epoch)[1]
            window = int(np.searchsorted(starts, offset, side="right")) - 1
            traces, where = self._window(epoch, window)
            inner = offset - int(starts[window])
            take = min(end - pos, where.size - inner)
            traces = torch.as_tensor(traces)
            out.append(traces[torch.as_tensor(where[inner:inner + take], device=traces.device)])
            pos += take
        return out[0] if len(out) == 1 else torch.cat(out)

    def batches(self, batch_size: int, batches_per_step: int,
                ) -> Callable[[int, int], torch.Tensor]:
        """``batch_fn(step, k)``: the k-th global batch of ``batch_size`` events of a step."""
        def batch_fn(step: int, k: int) -> torch.Tensor:
            return self.draws((step * batches_per_step + k) * batch_size, batch_size)
        return batch_fn


def should_stream(path: str | os.PathLike[str], opts: FitOptions) -> bool:
    """Stream when asked to, or (``stream=None``) when the file holds more
    trigger-selected events than ``max_events``."""
    if opts.stream:
        return True
    with open_traces(path, trigger=opts.trigger, sampling_rate=opts.sampling_rate) as source:
        return bool(source.n_events > opts.max_events)


def load_streamed(path: str | os.PathLike[str], opts: FitOptions) -> FitData:
    """Split, normalise and describe a file chunk by chunk, hold the held-out events and a
    random initialisation subset in memory, and stream the training windows."""
    from ..errors import DataFileError

    kw: dict[str, Any] = {"channels": opts.channels, "trigger": opts.trigger,
                          "sampling_rate": opts.sampling_rate}
    source_name = os.fspath(path)
    with open_traces(path, trigger=opts.trigger, sampling_rate=opts.sampling_rate) as source:
        n = int(source.n_events)
    needed = min_fit_events(opts.model)
    if n < needed:
        raise DataFileError(source_name, f"only {n} events; model {opts.model!r} needs at "
                            f"least {needed}")
    n_val = min(validation_count(n, opts.val_fraction),
                validation_count(min(n, opts.max_events), opts.val_fraction))
    train_pos, val_pos = split_events(n, n_val, opts.seed)
    digest = hashlib.sha256()
    layout = None

    def train_chunks():  # pass 1: statistics and hash, chunk by chunk
        nonlocal layout
        for lo, part in enumerate(iter_traces(path, CHUNK_EVENTS, **kw)):
            layout = layout or TraceLayout.of(part)
            digest.update(np.ascontiguousarray(part.traces).view(np.uint8))
            yield part.traces[block_rows(train_pos, lo * CHUNK_EVENTS,
                                          (lo + 1) * CHUNK_EVENTS) - lo * CHUNK_EVENTS]

    offset, scale = channel_stats(train_chunks())
    assert layout is not None
    check_scale(scale, np.asarray(layout.channels), source_name)
    off32, scale32 = offset.astype(np.float32), scale.astype(np.float32)
    # pass 2: the envelope about the offset, and the digitizer step on the same strided
    # values detect_quantum looks at in memory
    size = layout.n_channels * layout.n_samples
    stride = max(1, train_pos.size * size // 200_000)
    sq = np.zeros(layout.n_channels)
    peak = np.zeros(layout.n_channels)
    sampled, done = [], 0
    counter = SaturationCounter(layout.n_channels)
    for lo, part in enumerate(iter_traces(path, CHUNK_EVENTS, **kw)):
        raw = part.traces[block_rows(train_pos, lo * CHUNK_EVENTS, (lo + 1) * CHUNK_EVENTS)
                          - lo * CHUNK_EVENTS]
        counter.update(raw)
        dev = raw - off32[None, :, None]
        sq += np.square(dev, dtype=np.float64).sum(axis=(0, 2))
        peak = np.maximum(peak, np.abs(dev).max(axis=(0, 2), initial=0.0))
        first = -(-done // stride) * stride
        sampled.append(raw.reshape(-1)[first - done::stride].copy())  # not a view of raw
        done += raw.size
    quantum = detect_quantum(np.concatenate(sampled), max_values=len(np.concatenate(sampled)))
    rms = np.sqrt(sq / (train_pos.size * layout.n_samples))
    saturation = counter.levels(rms, quantum)

    def read(positions: np.ndarray) -> np.ndarray:
        # block by block of the file: a reader given scattered events may read the whole
        # span between them at once
        out = np.empty((positions.size, layout.n_channels, layout.n_samples), np.float32)
        blocks = positions // CHUNK_EVENTS
        edges = np.flatnonzero(np.diff(blocks)) + 1
        for lo, hi in zip(np.r_[0, edges], np.r_[edges, positions.size], strict=True):
            out[lo:hi] = read_traces(path, events=positions[lo:hi], **kw).traces
        out -= off32[None, :, None]
        out /= scale32[None, :, None]
        return out

    rng = np.random.default_rng((opts.seed, 1))
    init_rows = (np.arange(train_pos.size) if train_pos.size <= opts.buffer_events else
                 np.sort(rng.choice(train_pos.size, opts.buffer_events, replace=False)))
    init = read(train_pos[init_rows])
    val = read(val_pos) if val_pos.size else np.empty((0, *init.shape[1:]), np.float32)
    windows = WindowSource(train_pos.size, lambda rows: read(train_pos[rows]),
                           opts.buffer_events, opts.seed)
    log_event(_log, "streaming", events=n, train=train_pos.size, validation=n_val,
              window=windows.chunks_per_window * CHUNK_EVENTS,
              windows_per_epoch=windows.windows_per_epoch)
    provenance = {
        "n_events": n, "n_train_events": int(train_pos.size), "n_validation_events": n_val,
        "data_sha256": digest.hexdigest(), "envelope": envelope(rms, peak),
        **saturation_record(saturation),
        "split": {"seed": opts.seed, "n_events": n,
                  "validation_indices": [int(i) for i in val_pos]},
        "streamed": {"buffer_events": int(opts.buffer_events),
                     "init_events": int(init_rows.size)},
    }
    return FitData(layout, source_name, n, init, val, pd.DataFrame(index=range(len(init))),
                   pd.DataFrame(index=range(len(val))), int(train_pos.size), offset, scale,
                   quantum, provenance, None, None, windows, saturation=saturation)
