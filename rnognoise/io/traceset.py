"""The :class:`TraceSet`: traces in volts with their sampling rate, channel ids and metadata."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TraceSet"]


@dataclass
class TraceSet:
    """A block of detector traces with everything needed to interpret them.

    Parameters
    ----------
    traces : numpy.ndarray
        float32 array of shape ``(n_events, n_channels, n_samples)`` in volts.
    sampling_rate : float
        Sampling rate in Hz (e.g. ``3.2e9``).
    channels : numpy.ndarray
        Integer channel ids, one per row of the channel axis.
    events : pandas.DataFrame, optional
        Per-event metadata with ``n_events`` rows (``event_number``, ``run_number``,
        ``station``, ``trigger_type``, ``readout_time`` in unix seconds, ...).
    units : str
        Units of ``traces``; always ``"V"`` for sets produced by the readers.
    source : str, optional
        Where the traces came from (a path), for provenance.
    attrs : dict
        Further provenance (simulation settings, file attributes).

    Examples
    --------
    >>> import numpy as np
    >>> ts = TraceSet(np.zeros((2, 4, 256), np.float32), 3.2e9, np.arange(4))
    >>> ts.n_events, ts.n_channels, ts.n_samples
    (2, 4, 256)
    """

    traces: np.ndarray
    sampling_rate: float
    channels: np.ndarray
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    units: str = "V"
    source: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.traces = np.asarray(self.traces)
        if self.traces.ndim != 3:
            raise ValueError(
                f"traces must have shape (n_events, n_channels, n_samples), got {self.traces.shape}"
            )
        self.channels = np.asarray(self.channels, dtype=np.int64).reshape(-1)
        if self.channels.size != self.traces.shape[1]:
            raise ValueError(
                f"{self.channels.size} channel ids for {self.traces.shape[1]} channels in traces"
            )
        if np.unique(self.channels).size != self.channels.size:
            raise ValueError(f"channel ids repeat: {self.channels.tolist()}")
        self.sampling_rate = float(self.sampling_rate)
        if not np.isfinite(self.sampling_rate) or self.sampling_rate <= 0:
            raise ValueError(f"sampling rate must be positive and finite, got {self.sampling_rate}")
        if self.events is None:
            self.events = pd.DataFrame()
        if len(self.events.columns) and len(self.events) != self.traces.shape[0]:
            raise ValueError(
                f"per-event metadata has {len(self.events)} rows for {self.traces.shape[0]} events"
            )
        if not len(self.events.columns):
            self.events = pd.DataFrame(index=pd.RangeIndex(self.traces.shape[0]))

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.traces.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.traces.shape[1])

    @property
    def n_samples(self) -> int:
        """Number of samples per trace."""
        return int(self.traces.shape[2])

    @property
    def dt(self) -> float:
        """Sampling interval in seconds."""
        return 1.0 / self.sampling_rate

    @property
    def times(self) -> np.ndarray:
        """Sample times in seconds, starting at 0."""
        return np.arange(self.n_samples) * self.dt

    def __len__(self) -> int:
        return self.n_events

    def __getitem__(self, index: Any) -> TraceSet:
        """Select events (an int, slice, index array or boolean mask), keeping metadata."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        traces = self.traces[index]
        events = self.events.iloc[index].reset_index(drop=True)
        return TraceSet(traces, self.sampling_rate, self.channels, events, self.units,
                        self.source, dict(self.attrs))

    def select_channels(self, channels: Any) -> TraceSet:
        """Return a set holding only the given channel ids, in the order given.

        Raises
        ------
        KeyError
            If a requested channel id is not in the set.
        """
        wanted = np.asarray(channels, dtype=np.int64).reshape(-1)
        lookup = {int(c): i for i, c in enumerate(self.channels)}
        missing = [int(c) for c in wanted if int(c) not in lookup]
        if missing:
            raise KeyError(f"channel(s) {missing} not in {self.channels.tolist()}")
        rows = [lookup[int(c)] for c in wanted]
        return TraceSet(self.traces[:, rows], self.sampling_rate, wanted, self.events,
                        self.units, self.source, dict(self.attrs))

    def split(self, fraction: float = 0.5, seed: int = 0) -> tuple[TraceSet, TraceSet]:
        """Split randomly into two disjoint sets, the first holding ``fraction`` of the events."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.n_events)
        cut = round(fraction * self.n_events)
        return self[np.sort(order[:cut])], self[np.sort(order[cut:])]

    @staticmethod
    def concatenate(sets: list[TraceSet]) -> TraceSet:
        """Join sets with the same sampling rate and channels along the event axis."""
        if not sets:
            raise ValueError("nothing to concatenate")
        first = sets[0]
        for other in sets[1:]:
            if other.sampling_rate != first.sampling_rate:
                raise ValueError("cannot concatenate trace sets with different sampling rates")
            if not np.array_equal(other.channels, first.channels):
                raise ValueError("cannot concatenate trace sets with different channels")
            if other.n_samples != first.n_samples:
                raise ValueError("cannot concatenate trace sets with different trace lengths")
        traces = np.concatenate([s.traces for s in sets], axis=0)
        events = pd.concat([s.events for s in sets], ignore_index=True)
        return TraceSet(traces, first.sampling_rate, first.channels, events, first.units,
                        first.source, dict(first.attrs))

    def summary(self) -> dict[str, Any]:
        """Shape, sampling rate, channels and per-channel RMS in volts, as plain Python types."""
        finite = np.isfinite(self.traces)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN channel -> NaN RMS
            rms = np.sqrt(np.nanmean(np.where(finite, self.traces, np.nan) ** 2, axis=(0, 2)))
        return {
            "n_events": self.n_events,
            "n_channels": self.n_channels,
            "n_samples": self.n_samples,
            "sampling_rate_hz": self.sampling_rate,
            "channels": self.channels.tolist(),
            "units": self.units,
            "rms_volts": [float(r) for r in rms],
            "n_nonfinite_samples": int((~finite).sum()),
        }
