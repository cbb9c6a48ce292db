"""Per-event engineered features for the two-sample tests (classifier and Frechet distance).

Per channel: log10 band powers in a few bands (relative to the real channel variance),
log10 peak-to-RMS, skewness, excess kurtosis, block-mean spread; per channel pair: the maximum
normalised cross-correlation within the lag window.
"""

from __future__ import annotations

import itertools

import numpy as np

from ._common import as_traces
from .amplitude import moment_sums, moments_from_sums
from .blocks import block_mean_spread
from .crosschannel import channel_pairs, max_normalised_xcorr
from .spectra import event_psd
from .tails import peak_to_rms

__all__ = ["band_edges", "event_features", "features_from_parts"]


def band_edges(band: tuple[float, float], n_bands: int = 4) -> list[tuple[float, float]]:
    """Split ``band`` (Hz) into ``n_bands`` equal sub-bands."""
    edges = np.linspace(band[0], band[1], n_bands + 1)
    return [(float(lo), float(hi)) for lo, hi in itertools.pairwise(edges)]


def features_from_parts(psd: np.ndarray, frequencies: np.ndarray, sigma: np.ndarray,
                        bands: list[tuple[float, float]], ratio: np.ndarray,
                        skewness: np.ndarray, kurtosis: np.ndarray, spread: np.ndarray, xcorr: np.ndarray,
                        channels: np.ndarray | None = None, pairs: list[tuple[int, int]] |
                        None = None) -> tuple[np.ndarray, list[str]]:
    """Assemble the feature matrix from per-event quantities already computed.

    Parameters
    ----------
    psd : numpy.ndarray
        Per-event Welch PSDs ``(n_events, n_channels, n_frequencies)``, V^2/Hz.
    frequencies : numpy.ndarray, Hz
        PSD bin frequencies.
    sigma : numpy.ndarray, V
        Per-channel RMS of the real set.
    bands : list of (float, float), Hz
        Bands whose power becomes a feature.
    ratio, skewness, kurtosis, spread : numpy.ndarray
        ``(n_events, n_channels)`` peak-to-RMS, skewness and excess kurtosis of the
        sample values, block-mean spread.
    xcorr : numpy.ndarray
        ``(n_events, n_pairs)`` maximum cross-correlations.

    Returns
    -------
    features : numpy.ndarray
        float64 ``(n_events, n_features)``; non-finite entries are set to 0.
    names : list of str
    """
    n_ev, n_ch = psd.shape[:2]
    channels = np.arange(n_ch) if channels is None else np.asarray(channels)
    pairs = pairs or []
    df = frequencies[1] - frequencies[0]
    cols, names = [], []
    for lo, hi in bands:
        sel = (frequencies >= lo) & (frequencies < hi)
        power = psd[..., sel].sum(-1, dtype=np.float64) * df / sigma[None, :] ** 2
        cols.append(np.log10(np.maximum(power, 1e-12)))
        names += [f"ch{c}_logpower_{lo / 1e6:.0f}-{hi / 1e6:.0f}MHz" for c in channels]
    for arr, label in ((np.log10(ratio), "log_peak_to_rms"), (skewness, "skewness"),
                       (kurtosis, "kurtosis"),
                       (spread, "block_spread")):
        cols.append(arr)
        names += [f"ch{c}_{label}" for c in channels]
    cols.append(xcorr)
    names += [f"ch{channels[i]}-ch{channels[j]}_max_xcorr" for i, j in pairs]
    features = np.concatenate([np.asarray(c, np.float64).reshape(n_ev, -1) for c in cols],
                              axis=1)
    return np.where(np.isfinite(features), features, 0.0), names


def event_features(traces: np.ndarray, sampling_rate: float, sigma: np.ndarray, *,
                   band: tuple[float, float], n_bands: int = 4, max_lag: float = 20e-9,
                   nperseg: int = 256) -> tuple[np.ndarray, list[str]]:
    """Engineered per-event features of a set of traces.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sampling_rate : float, Hz
        Sampling rate.
    sigma : numpy.ndarray, V
        Per-channel RMS of the real set (normalisation shared by both sets).
    band : (float, float), Hz
        Passband split into ``n_bands`` power bands.
    max_lag : float, s
        Lag window of the cross-correlation features.

    Returns
    -------
    features, names
        See :func:`features_from_parts`.
    """
    x = as_traces(traces)
    freqs, psd = event_psd(x, sampling_rate, nperseg=nperseg)
    _, ratio = peak_to_rms(x)
    shape = moments_from_sums(moment_sums(x), x.shape[-1])
    spread = block_mean_spread(x, sigma)
    pairs = channel_pairs(x.shape[1])
    xcorr = max_normalised_xcorr(x, sampling_rate, pairs, max_lag=max_lag)
    return features_from_parts(psd, freqs, np.asarray(sigma, np.float64),
                               band_edges(band, n_bands), ratio, shape["skewness"],
                               shape["kurtosis"], spread, xcorr,
                               pairs=pairs)
