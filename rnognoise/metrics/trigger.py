"""Noise trigger rates: a high/low threshold trigger with coincidence, and a power trigger.

Each event gets one *score*: the largest threshold at which it would still trigger.
The trigger rate at any threshold is then the fraction of events whose score exceeds
it, so a whole rate-versus-threshold curve comes from one pass over the traces.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import as_traces, binomial_rate

__all__ = ["highlow_scores", "power_scores", "threshold_at_rate", "trigger_curve"]


def _samples(duration: float, sampling_rate: float) -> int:
    return max(1, int(round(duration * sampling_rate)))


def highlow_scores(traces: np.ndarray, sigma: np.ndarray, sampling_rate: float, *,
                   highlow_window: float = 5e-9, coincidence_window: float = 20e-9,
                   n_coincidence: int = 2, chunk: int = 500) -> np.ndarray:
    """Per event, the largest threshold (units of ``sigma``) of a high/low N-of-M trigger.

    A channel fires at threshold ``s`` when it goes above ``+s sigma`` and below
    ``-s sigma`` within ``highlow_window``; the event triggers when at least
    ``n_coincidence`` channels fire within ``coincidence_window`` (as the RNO-G
    high/low trigger does).

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sigma : numpy.ndarray, V
        Per-channel RMS of the whole real set.
    sampling_rate : float, Hz
        Sampling rate.
    highlow_window, coincidence_window : float, s
        Window of the high and low crossings; window of the channel coincidence.
    n_coincidence : int
        Channels needed (capped at the number of channels).

    Returns
    -------
    numpy.ndarray
        ``(n_events,)`` scores in units of the channel RMS.
    """
    x = as_traces(traces)
    k = min(n_coincidence, x.shape[1])
    w_hl = _samples(highlow_window, sampling_rate)
    w_co = _samples(coincidence_window, sampling_rate)
    out = np.empty(x.shape[0])
    scale = (1.0 / np.asarray(sigma, np.float64))[None, :, None]
    for lo in range(0, x.shape[0], chunk):
        v = (x[lo:lo + chunk] * scale).astype(np.float32)
        high = ndimage.maximum_filter1d(v, w_hl, axis=-1)
        low = ndimage.maximum_filter1d(-v, w_hl, axis=-1)
        fired = ndimage.maximum_filter1d(np.minimum(high, low), w_co, axis=-1)
        kth = np.sort(fired, axis=1)[:, -k]
        out[lo:lo + chunk] = kth.max(axis=-1)
    return out


def power_scores(traces: np.ndarray, sigma: np.ndarray, sampling_rate: float, *,
                 window: float = 10e-9, chunk: int = 500) -> np.ndarray:
    """Per event, the largest threshold of a power-integration trigger (any channel).

    The trigger integrates ``v^2`` over a sliding ``window``; the threshold is in units
    of the mean of that integral on the real set (``sigma^2`` per sample).

    Returns
    -------
    numpy.ndarray
        ``(n_events,)`` scores in units of the mean windowed power.
    """
    x = as_traces(traces)
    w = _samples(window, sampling_rate)
    out = np.empty(x.shape[0])
    scale = (1.0 / np.asarray(sigma, np.float64) ** 2)[None, :, None]
    for lo in range(0, x.shape[0], chunk):
        p = (np.square(x[lo:lo + chunk], dtype=np.float64) * scale).astype(np.float32)
        mean = ndimage.uniform_filter1d(p, w, axis=-1, mode="constant")
        valid = mean[..., w // 2: p.shape[-1] - (w - 1) // 2] if p.shape[-1] > w else mean
        out[lo:lo + chunk] = valid.max(axis=(1, 2))
    return out


def trigger_curve(scores: np.ndarray, thresholds: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Trigger rate (fraction of events) above each threshold, with binomial errors."""
    scores = np.asarray(scores)
    counts = (scores[None, :] > np.asarray(thresholds)[:, None]).sum(axis=1)
    return binomial_rate(counts, scores.size)


def threshold_at_rate(scores: np.ndarray, rate: float) -> float:
    """Threshold at which a fraction ``rate`` of events triggers (upper quantile)."""
    return float(np.quantile(np.asarray(scores), 1.0 - rate))
