"""Impulsive events: selection by coincident peaks, inter-channel delays, a permutation test.

An event is *impulsive* when at least two channels peak beyond ``threshold`` x the real
channel RMS within a coincidence window (a plane wave crossing the station reaches every
antenna within a few tens of nanoseconds; thermal peaks above 5 RMS are rare and fall at
unrelated times). For each impulsive event and channel pair, the delay is the lag of the
largest cross-correlation of a short window around the stronger channel's peak, so the
pulse dominates the window rather than the thermal noise or a CW line of the whole trace.

The delays of two sets are compared by the 1-Wasserstein distance of their per-pair
distributions, averaged over pairs; its null distribution (no difference) comes from
permuting the events between the two sets (:func:`permutation_null`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._common import as_traces
from .crosschannel import max_normalised_xcorr

__all__ = ["IMPULSE_MIN_CHANNELS", "IMPULSE_SIGMA", "MIN_IMPULSIVE_EVENTS",
           "impulse_lags", "impulsive_events", "lag_distance", "permutation_null"]

#: Peak threshold, in units of the real channel RMS, of an impulsive channel.
IMPULSE_SIGMA: float = 5.0
#: Channels that must peak beyond :data:`IMPULSE_SIGMA` in coincidence.
IMPULSE_MIN_CHANNELS: int = 2
#: Fewest impulsive events with a delay in each set for the delays to be compared.
MIN_IMPULSIVE_EVENTS: int = 5


def _peaks(x: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak ``max |v|`` per event and channel in units of ``sigma``, and its sample."""
    a = np.abs(x)
    when = a.argmax(axis=-1)
    peak = np.take_along_axis(a, when[..., None], axis=-1)[..., 0]
    return peak / np.asarray(sigma, np.float64)[None, :], when


def impulsive_events(traces: np.ndarray, sigma: np.ndarray, sampling_rate: float, *,
                     threshold: float = IMPULSE_SIGMA,
                     min_channels: int = IMPULSE_MIN_CHANNELS,
                     coincidence: float = 30e-9) -> np.ndarray:
    """Which events carry an impulse seen in coincidence by several channels.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sigma : numpy.ndarray, V
        Per-channel RMS of the real set.
    sampling_rate : float, Hz
        Sampling rate.
    threshold : float
        Peak ``max |v|`` a channel must exceed, in units of ``sigma``.
    min_channels : int
        Channels beyond the threshold whose peaks lie within ``coincidence`` of each
        other (capped at the number of channels).
    coincidence : float, s
        Largest time between the peaks of the coincident channels.

    Returns
    -------
    numpy.ndarray
        bool ``(n_events,)``.
    """
    x = as_traces(traces)
    peak, when = _peaks(x, sigma)
    k = min(min_channels, x.shape[1])
    out = (peak > threshold).sum(axis=1) >= k
    if k < 2:
        return out
    window = coincidence * sampling_rate
    for e in np.flatnonzero(out):
        t = np.sort(when[e, peak[e] > threshold])
        # k peaks within the window: some run of k consecutive sorted times is short enough
        out[e] = bool(np.any(t[k - 1:] - t[:t.size - k + 1] <= window))
    return out


def impulse_lags(traces: np.ndarray, sigma: np.ndarray, sampling_rate: float,
                 pairs: list[tuple[int, int]], *, max_lag: float = 20e-9,
                 pulse: float = 20e-9, threshold: float = 0.8 * IMPULSE_SIGMA) -> np.ndarray:
    """Per event and pair, the delay of the largest cross-correlation around the pulse.

    For pair ``(i, j)`` the window spans ``max_lag + pulse`` on each side of the peak
    of whichever of the two channels peaks higher (in units of ``sigma``); the lag is
    that of :func:`~rnognoise.metrics.crosschannel.max_normalised_xcorr` of the two
    windows within ``|lag| <= max_lag``.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts, usually the impulsive events only.
    sigma : numpy.ndarray, V
        Per-channel RMS of the real set.
    sampling_rate : float, Hz
        Sampling rate.
    pairs : list of (int, int)
        Channel rows.
    max_lag, pulse : float, s
        Lag window; length kept around the peak beyond it (the pulse and its ringing).
    threshold : float
        Both channels of a pair must peak beyond this many ``sigma``; otherwise NaN.

    Returns
    -------
    numpy.ndarray, s
        ``(n_events, n_pairs)``; positive when channel ``i`` is later than channel ``j``.
    """
    x = as_traces(traces)
    n_ev, _, n = x.shape
    out = np.full((n_ev, len(pairs)), np.nan)
    if n_ev == 0 or not pairs:
        return out
    peak, when = _peaks(x, sigma)
    half = min(n // 2, int(round((max_lag + pulse) * sampling_rate)))
    offsets = np.arange(-half, half)
    rows = np.arange(n_ev)
    for p, (i, j) in enumerate(pairs):
        keep = (peak[:, i] > threshold) & (peak[:, j] > threshold)
        if not keep.any():
            continue
        centre = np.where(peak[:, i] >= peak[:, j], when[:, i], when[:, j])[keep]
        start = np.clip(centre - half, 0, n - 2 * half)
        idx = start[:, None] + half + offsets[None, :]
        windows = np.stack([x[rows[keep][:, None], i, idx], x[rows[keep][:, None], j, idx]],
                           axis=1)
        _, lag = max_normalised_xcorr(windows, sampling_rate, [(0, 1)], max_lag=max_lag,
                                      return_lag=True)
        out[keep, p] = lag[:, 0]
    return out


def lag_distance(lags_a: np.ndarray, lags_b: np.ndarray,
                 min_events: int = MIN_IMPULSIVE_EVENTS) -> float:
    """Mean over pairs of the 1-Wasserstein distance of the delays (s) of two sets.

    Pairs with fewer than ``min_events`` finite delays in either set are left out; NaN
    when no pair is left.
    """
    dists = []
    for p in range(lags_a.shape[1]):
        a, b = lags_a[:, p], lags_b[:, p]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size >= min_events and b.size >= min_events:
            dists.append(stats.wasserstein_distance(a, b))
    return float(np.mean(dists)) if dists else float("nan")


def permutation_null(lags_a: np.ndarray, lags_b: np.ndarray, *, n_perm: int = 200,
                     rng: np.random.Generator,
                     min_events: int = MIN_IMPULSIVE_EVENTS) -> tuple[float, float]:
    """Mean and standard deviation of :func:`lag_distance` under no difference.

    The events of both sets are pooled and split at random ``n_perm`` times into sets of
    the original sizes (an event keeps all its pairs' delays).
    """
    pooled = np.concatenate([lags_a, lags_b])
    na = len(lags_a)
    null = []
    for _ in range(n_perm):
        order = rng.permutation(len(pooled))
        null.append(lag_distance(pooled[order[:na]], pooled[order[na:]], min_events))
    values = np.asarray(null)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1))
