"""Narrow-band (CW) lines: detection per event, frequency, occupancy and power.

Per event and channel a periodogram (:func:`rnognoise.dsp.periodogram`, rectangular
window) is compared with a smooth spectrum: the median over events, median-filtered
across frequency so that narrow lines do not enter it. A bin carries a line in an event
when its power exceeds ``k`` times the smooth spectrum (for Gaussian noise a bin does so
with probability ``exp(-k)``, 2e-9 for the default ``k = 20``) and ``k_local`` times the
event's own local mean (so broadband impulses do not count as lines). A line is a group of
adjacent bins whose occupancy (fraction of events flagged) reaches ``min_occupancy``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ..dsp import periodogram
from ..subsample import evenly_spaced_indices
from ._common import as_traces, binomial_rate

__all__ = ["Line", "LineScan", "detect_lines", "line_event_power", "line_occupancy",
           "scan_lines", "smooth_spectrum"]


@dataclass
class Line:
    """One detected line of one channel.

    Attributes
    ----------
    channel_index : int
        Row in the channel axis.
    frequency : float, Hz
        Frequency of the most occupied bin.
    bins : tuple of int
        Periodogram bins of the line.
    occupancy : float
        Fraction of events carrying the line.
    occupancy_err : float
        Binomial standard error.
    mean_power : float, V^2
        Mean square voltage in the line's bins, averaged over the events carrying it.
    """

    channel_index: int
    frequency: float
    bins: tuple[int, ...]
    occupancy: float
    occupancy_err: float
    mean_power: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (bins as a list)."""
        d = asdict(self)
        d["bins"] = list(self.bins)
        return d


@dataclass
class LineScan:
    """Per-event line flags of one set (see :func:`scan_lines`).

    ``flag_power`` holds the power (V^2) of every flagged bin, in the order of
    ``np.nonzero(flags)``, so that per-event line powers need no dense array.
    """

    frequencies: np.ndarray
    smooth: np.ndarray
    flags: np.ndarray
    flagged_power: np.ndarray
    flag_power: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        """Number of events scanned."""
        return int(self.flags.shape[0])

    def nonzero(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``np.nonzero(flags)``, computed once."""
        cached = self.__dict__.get("_nonzero")
        if cached is None:
            cached = np.nonzero(self.flags)
            self.__dict__["_nonzero"] = cached
        return cached

    def subset(self, index: np.ndarray) -> LineScan:
        """The scan of the events ``index`` (same smooth spectrum)."""
        index = np.asarray(index)
        flags = self.flags[index]
        power = None
        if self.flag_power is not None:
            dense = np.zeros(self.flags.shape, np.float32)
            dense[self.flags] = self.flag_power
            power = dense[index][flags]
        flagged = (np.zeros(self.flagged_power.shape) if power is None else
                   _sum_flagged(flags, power))
        return LineScan(self.frequencies, self.smooth, flags, flagged, power)


def _sum_flagged(flags: np.ndarray, power: np.ndarray) -> np.ndarray:
    dense = np.zeros(flags.shape, np.float64)
    dense[flags] = power
    return dense.sum(axis=0)


def smooth_spectrum(power: np.ndarray, kernel: int = 31) -> np.ndarray:
    """Median over events of per-event periodograms, median-filtered across frequency.

    Parameters
    ----------
    power : numpy.ndarray
        ``(n_events, n_channels, n_frequencies)`` periodograms in V^2/Hz.
    kernel : int
        Width in bins of the median filter across frequency.
    """
    med = np.median(power, axis=0)
    return ndimage.median_filter(med, size=(1, kernel), mode="nearest")


def scan_lines(traces: np.ndarray, sampling_rate: float, *, k: float = 20.0,
               k_local: float = 5.0, kernel: int = 31, smooth: np.ndarray | None = None,
               n_smooth: int = 500, chunk: int = 500) -> LineScan:
    """Flag, per event, channel and periodogram bin, power above ``k`` x the smooth spectrum.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sampling_rate : float, Hz
        Sampling rate.
    k : float
        Detection factor over the smooth spectrum.
    k_local : float
        The bin must also exceed ``k_local`` times the mean of the event's own periodogram
        over ``kernel`` neighbouring bins, so that broadband transients (impulses), which
        raise every bin of their event, are not taken for lines.
    kernel : int
        Median-filter width in bins.
    smooth : numpy.ndarray, optional
        Smooth spectrum to use (default: from up to ``n_smooth`` evenly spaced events).
    """
    x = as_traces(traces)
    n_ev = x.shape[0]
    if smooth is None:
        pick = evenly_spaced_indices(n_ev, n_smooth)
        _, sample = periodogram(x[pick], sampling_rate)
        smooth = smooth_spectrum(sample, kernel)
    freqs = None
    flags = None
    flagged_power = np.zeros(smooth.shape)
    powers: list[np.ndarray] = []
    df = sampling_rate / x.shape[-1]
    for lo in range(0, n_ev, chunk):
        freqs, p = periodogram(x[lo:lo + chunk], sampling_rate)
        local = ndimage.uniform_filter1d(p, kernel, axis=-1, mode="nearest")
        f = (p > k * smooth) & (p > k_local * local)
        f[..., 0] = False
        f[..., -1] = False
        if flags is None:
            flags = np.zeros((n_ev, *f.shape[1:]), bool)
        flags[lo:lo + chunk] = f
        flagged_power += np.where(f, p, 0.0).sum(axis=0) * df
        powers.append((p[f] * df).astype(np.float32))
    return LineScan(freqs, smooth, flags, flagged_power, np.concatenate(powers))


def detect_lines(scan: LineScan, *, min_occupancy: float = 0.02, gap: int = 1,
                 band: tuple[float, float] | None = None) -> list[Line]:
    """Lines of a scanned set: groups of adjacent bins with occupancy >= ``min_occupancy``.

    Bins closer than ``gap + 1`` are merged into one line (leakage of an off-bin tone).
    With ``band`` (Hz) only bins inside it are searched: outside the analysis band (DC,
    the first bins of a short trace, beyond the anti-aliasing filter) per-event power
    varies for reasons that are not narrow-band emitters.
    """
    occ_bins = scan.flags.mean(axis=0)
    if band is not None:
        outside = (scan.frequencies < band[0]) | (scan.frequencies > band[1])
        occ_bins = np.where(outside[None, :], 0.0, occ_bins)
    lines: list[Line] = []
    for c in range(occ_bins.shape[0]):
        hot = np.flatnonzero(occ_bins[c] >= min_occupancy)
        if hot.size == 0:
            continue
        groups = np.split(hot, np.flatnonzero(np.diff(hot) > gap + 1) + 1)
        for g in groups:
            bins = tuple(int(b) for b in range(g[0], g[-1] + 1))
            lines.append(_line_from_bins(scan, c, bins))
    return lines


def _line_from_bins(scan: LineScan, c: int, bins: tuple[int, ...]) -> Line:
    carrying = scan.flags[:, c, list(bins)].any(axis=1)
    n_carry = int(carrying.sum())
    occ, err = binomial_rate(n_carry, scan.n_events)
    peak = bins[int(np.argmax(scan.flags[:, c, list(bins)].mean(axis=0)))]
    power = float(scan.flagged_power[c, list(bins)].sum() / max(n_carry, 1))
    return Line(c, float(scan.frequencies[peak]), bins, float(occ), float(err), power)


def line_event_power(scan: LineScan, line: Line, *, widen: int = 1) -> np.ndarray:
    """Per-event power (V^2) in the flagged bins of ``line`` (bins widened by ``widen``).

    Zero for events that do not carry the line. Needs a scan with ``flag_power``.
    """
    if scan.flag_power is None:
        raise ValueError("scan has no per-bin powers")
    n_f = scan.flags.shape[-1]
    lo = max(1, line.bins[0] - widen)
    hi = min(n_f - 2, line.bins[-1] + widen)
    ev, ch, b = scan.nonzero()
    keep = (ch == line.channel_index) & (b >= lo) & (b <= hi)
    return np.bincount(ev[keep], weights=scan.flag_power[keep].astype(np.float64),
                       minlength=scan.n_events)


def line_occupancy(scan: LineScan, lines: list[Line], *, widen: int = 1) -> list[Line]:
    """Occupancy and power in another set of the given lines (bins widened by ``widen``)."""
    n_f = scan.flags.shape[-1]
    out = []
    for line in lines:
        lo = max(1, line.bins[0] - widen)
        hi = min(n_f - 2, line.bins[-1] + widen)
        measured = _line_from_bins(scan, line.channel_index, tuple(range(lo, hi + 1)))
        measured.frequency = line.frequency
        out.append(measured)
    return out
