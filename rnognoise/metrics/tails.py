"""Tails and peaks: per-event peak-to-RMS and the rate of events above n-sigma thresholds."""

from __future__ import annotations

import numpy as np

from ._common import as_traces, binomial_rate

__all__ = ["DEFAULT_SIGMA_THRESHOLDS", "exceedance_rates", "peak_to_rms", "rate_difference"]

#: Thresholds, in units of the real channel RMS, of the exceedance rates.
DEFAULT_SIGMA_THRESHOLDS: tuple[float, ...] = (4.0, 5.0, 6.0)


def peak_to_rms(traces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event and channel: the peak ``max |v|`` and the ratio peak / RMS of that trace.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.

    Returns
    -------
    peak : numpy.ndarray, V
        ``(n_events, n_channels)``.
    ratio : numpy.ndarray
        ``(n_events, n_channels)`` peak over the trace's own RMS (dimensionless).
    """
    x = as_traces(traces)
    peak = np.abs(x).max(axis=-1)
    rms = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return peak, peak / rms


def exceedance_rates(peak: np.ndarray, sigma: np.ndarray,
                     thresholds: tuple[float, ...] = DEFAULT_SIGMA_THRESHOLDS,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of events whose peak exceeds ``t x sigma``, per threshold and channel.

    Parameters
    ----------
    peak : numpy.ndarray, V
        ``(n_events, n_channels)`` from :func:`peak_to_rms`.
    sigma : numpy.ndarray, V
        Per-channel RMS of the whole real set.
    thresholds : tuple of float
        In units of ``sigma``.

    Returns
    -------
    rate, uncertainty : numpy.ndarray
        ``(n_thresholds, n_channels)``; binomial standard errors.
    """
    n = peak.shape[0]
    counts = np.stack([(peak > t * sigma).sum(axis=0) for t in thresholds])
    return binomial_rate(counts, n)


def rate_difference(rate_a: np.ndarray, err_a: np.ndarray, rate_x: np.ndarray,
                    err_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|rate_x - rate_a|`` and its error (errors added in quadrature)."""
    return np.abs(rate_x - rate_a), np.hypot(err_a, err_x)
