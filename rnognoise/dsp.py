"""Spectral estimates used everywhere in rnognoise (one implementation of each).

Conventions: traces in volts, sampling rate in Hz; power spectral densities are
one-sided, in V^2/Hz, so that integrating the PSD over frequency gives the mean
square voltage (Parseval).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

__all__ = ["periodogram", "rfft_frequencies", "welch_psd"]


def rfft_frequencies(n_samples: int, sampling_rate: float) -> np.ndarray:
    """Frequencies in Hz of ``numpy.fft.rfft`` bins for ``n_samples`` at ``sampling_rate`` Hz."""
    return np.fft.rfftfreq(n_samples, d=1.0 / sampling_rate)


def periodogram(traces: np.ndarray, sampling_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram of each trace (rectangular window), V^2/Hz.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(..., n_samples)`` in volts.
    sampling_rate : float
        Hz.

    Returns
    -------
    frequencies : numpy.ndarray
        ``(n_samples // 2 + 1,)`` in Hz.
    psd : numpy.ndarray
        ``(..., n_samples // 2 + 1)`` in V^2/Hz; ``psd.sum(-1) * df`` equals the mean square.
    """
    traces = np.asarray(traces)
    n = traces.shape[-1]
    spectrum = np.fft.rfft(traces, axis=-1)
    psd = (np.abs(spectrum) ** 2) / (n * sampling_rate)
    psd[..., 1:] *= 2.0
    if n % 2 == 0:
        psd[..., -1] /= 2.0
    return rfft_frequencies(n, sampling_rate), psd


def welch_psd(traces: np.ndarray, sampling_rate: float, *, nperseg: int = 256,
              average: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of each trace, V^2/Hz (Hann window, 50 % overlap).

    Parameters
    ----------
    traces : numpy.ndarray
        ``(..., n_samples)`` in volts.
    sampling_rate : float
        Hz.
    nperseg : int
        Segment length in samples (frequency resolution ``sampling_rate / nperseg``).
    average : {"mean", "median"}
        How segments are averaged.

    Returns
    -------
    frequencies : numpy.ndarray
        Hz.
    psd : numpy.ndarray
        ``(..., nperseg // 2 + 1)`` in V^2/Hz.

    References
    ----------
    P. Welch, IEEE Trans. Audio Electroacoust. 15 (1967) 70.
    """
    traces = np.asarray(traces)
    nperseg = min(nperseg, traces.shape[-1])
    return signal.welch(traces, fs=sampling_rate, nperseg=nperseg, axis=-1, average=average,
                        detrend=False)
