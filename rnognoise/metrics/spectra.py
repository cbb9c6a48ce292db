"""Spectral metrics: per-event Welch PSDs, passband, dB ratios, the log-PSD geodesic distance.

Every spectrum comes from :func:`rnognoise.dsp.welch_psd` (one PSD implementation in the
project). Power spectral densities are one-sided, V^2/Hz.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from ..dsp import welch_psd
from ._common import as_traces, bootstrap_weights, warn_small

__all__ = [
    "event_gain",
    "event_psd",
    "find_passband",
    "log_psd_geodesic_distance",
    "psd_quantiles",
    "psd_ratio_db",
    "spectral_distances",
]


def event_psd(traces: np.ndarray, sampling_rate: float, *, nperseg: int = 256,
              chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD of every trace.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sampling_rate : float, Hz
        Sampling rate.
    nperseg : int
        Welch segment length in samples (resolution ``sampling_rate / nperseg``).
    chunk : int
        Events per batch (bounds memory).

    Returns
    -------
    frequencies : numpy.ndarray
        Hz.
    psd : numpy.ndarray
        float32 ``(n_events, n_channels, n_frequencies)`` in V^2/Hz.
    """
    traces = as_traces(traces)
    out = None
    freqs = None
    for lo in range(0, traces.shape[0], chunk):
        freqs, psd = welch_psd(traces[lo:lo + chunk], sampling_rate, nperseg=nperseg)
        if out is None:
            out = np.empty(traces.shape[:2] + (psd.shape[-1],), np.float32)
        out[lo:lo + chunk] = psd
    if out is None:
        raise ValueError("no events")
    return freqs, out


#: Narrowest feature of a spectrum that counts as band, Hz: narrower peaks (CW lines,
#: carriers) are taken out by a running median of this width before the band is found.
LINE_WIDTH_HZ = 60e6


def find_passband(frequencies: np.ndarray, mean_psd: np.ndarray, *,
                  within_db: float = 10.0, min_hz: float = 20e6) -> tuple[float, float]:
    """Contiguous frequency range around the maximum where the mean PSD is within ``within_db``.

    The channel-averaged profile is first passed through a running median over
    :data:`LINE_WIDTH_HZ` (at least 5 bins): a CW line or carrier far above the noise
    (in a quarter of the events at twice the noise RMS, it is the mean PSD's maximum) does
    not become the band, while the edges of the signal chain's band stay where they are.

    Parameters
    ----------
    frequencies : numpy.ndarray, Hz
        Frequency of each PSD bin.
    mean_psd : numpy.ndarray
        ``(n_frequencies,)`` or ``(n_channels, n_frequencies)`` in V^2/Hz; channels are
        normalised to their own maximum and averaged first.
    within_db : float, dB
        How far below the maximum a bin may be and still count.
    min_hz : float, Hz
        Bins below this frequency never count: there live the baseline offsets of
        recorded traces (a drift of ~10 ADC counts per trace puts the maximum of a
        real station-24 spectrum at DC), not the signal chain's band.

    Returns
    -------
    (f_low, f_high) : tuple of float, Hz
        Lowest and highest frequency whose (averaged, normalised) PSD is within range.

    Examples
    --------
    >>> f = np.linspace(0, 1e9, 11)
    >>> find_passband(f, np.where((f > 2e8) & (f < 6e8), 1.0, 1e-3))
    (300000000.0, 500000000.0)
    """
    psd = np.atleast_2d(np.asarray(mean_psd, dtype=np.float64))
    low = np.asarray(frequencies) < min_hz
    if not low.all():
        psd = np.where(low, 0.0, psd)
    norm = psd / np.maximum(psd.max(axis=-1, keepdims=True), np.finfo(float).tiny)
    profile = norm.mean(axis=0)
    f = np.asarray(frequencies, dtype=np.float64)
    step = float(np.median(np.diff(f))) if f.size > 1 else 0.0
    width = max(5, int(round(LINE_WIDTH_HZ / step)) if step > 0 else 5) | 1
    if profile.size > width:
        profile = median_filter(profile, size=width, mode="nearest")
    above = profile >= profile.max() * 10.0 ** (-within_db / 10.0)
    peak = int(np.argmax(profile))
    below = np.flatnonzero(~above)
    lo = below[below < peak]
    hi = below[below > peak]
    first = int(lo[-1]) + 1 if lo.size else 0
    last = int(hi[0]) - 1 if hi.size else len(profile) - 1
    return float(frequencies[first]), float(frequencies[last])


def psd_ratio_db(psd_reference: np.ndarray, psd_other: np.ndarray) -> np.ndarray:
    """``10 log10(psd_other / psd_reference)`` per bin, dB (zeros give +-inf or nan)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(np.asarray(psd_other, np.float64) /
                               np.asarray(psd_reference, np.float64))


def log_psd_geodesic_distance(psd_reference: np.ndarray, psd_other: np.ndarray,
                              mask: np.ndarray | None = None) -> np.ndarray:
    """Geodesic distance between two PSDs on the manifold of log spectra.

    With ``r(f) = ln(S_other(f) / S_reference(f))`` over the bins in ``mask``::

        d = sqrt( mean_f r^2 - (mean_f r)^2 )

    i.e. the standard deviation of the log ratio across frequency: 0 for identical
    shapes, independent of an overall gain (which the median dB ratio reports), and
    about ``x / 4.34`` for shape errors of ``x`` dB rms. This is the PSD distance of the
    NIST NoiseGAN evaluation (``eval_psd_distances`` in ``utils/noise_evaluation.py`` of
    github.com/usnistgov/NoiseGAN), there applied to median multitaper PSDs.

    Parameters
    ----------
    psd_reference, psd_other : numpy.ndarray
        ``(..., n_frequencies)`` in V^2/Hz.
    mask : numpy.ndarray of bool, optional
        Bins to use (default: all).

    Returns
    -------
    numpy.ndarray
        Distance per leading index (dimensionless, natural-log units).

    References
    ----------
    NIST NoiseGAN evaluation code, github.com/usnistgov/NoiseGAN; T. T. Georgiou, "Distances and Riemannian metrics for
    spectral density functions", IEEE Trans. Signal Process. 55 (2007) 3995.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.asarray(psd_other, np.float64)) - np.log(np.asarray(psd_reference,
                                                                           np.float64))
    if mask is not None:
        r = r[..., mask]
    var = np.mean(r ** 2, axis=-1) - np.mean(r, axis=-1) ** 2
    return np.sqrt(np.maximum(var, 0.0))


def event_gain(psd: np.ndarray, frequencies: np.ndarray, band: tuple[float, float],
               reference: np.ndarray) -> np.ndarray:
    """Per-event gain as a log amplitude: how much louder each event is than ``reference``.

    ``0.5 x`` the median over the band's bins of ``ln(PSD_event / reference)``, averaged
    over channels. The median over frequency ignores narrow lines (whose occupancy varies
    from event to event) and the average over channels keeps what is common to them (a
    gain drift of the signal chain) while the channels' own fluctuations average down.

    Parameters
    ----------
    psd : numpy.ndarray, V^2/Hz
        ``(n_events, n_channels, n_frequencies)`` per-event PSDs.
    frequencies : numpy.ndarray, Hz
        Bin frequencies.
    band : (float, float), Hz
        Bins used.
    reference : numpy.ndarray, V^2/Hz
        ``(n_channels, n_frequencies)``, e.g. the real mean PSD.

    Returns
    -------
    numpy.ndarray
        ``(n_events,)`` in ln units of amplitude (0.01 = 1 % louder).
    """
    mask = (frequencies >= band[0]) & (frequencies <= band[1]) & (frequencies > 0)
    tiny = np.finfo(np.float64).tiny
    ratio = (np.maximum(np.asarray(psd, np.float64)[..., mask], tiny) /
             np.maximum(np.asarray(reference, np.float64)[..., mask], tiny))
    return 0.5 * np.median(np.log(ratio), axis=-1).mean(axis=-1)


def psd_quantiles(psd: np.ndarray, quantiles: tuple[float, ...] = (0.15, 0.5, 0.85),
                  ) -> np.ndarray:
    """Quantiles over events of per-event PSDs: ``(n_quantiles, n_channels, n_frequencies)``."""
    return np.quantile(np.asarray(psd, np.float64), quantiles, axis=0)


def _band_stats(mean_a: np.ndarray, mean_x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(3, ..., n_channels): median |dB|, max |dB|, geodesic distance in the band."""
    ratio = psd_ratio_db(mean_a, mean_x)[..., mask]
    return np.stack([np.median(np.abs(ratio), axis=-1), np.max(np.abs(ratio), axis=-1),
                     log_psd_geodesic_distance(mean_a, mean_x, mask)])


def spectral_distances(psd_a: np.ndarray, psd_x: np.ndarray, frequencies: np.ndarray,
                       band: tuple[float, float], *, n_boot: int = 30, seed: int = 0,
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel distances between the mean PSDs of two sets, with bootstrap errors.

    Parameters
    ----------
    psd_a, psd_x : numpy.ndarray
        Per-event PSDs ``(n_events, n_channels, n_frequencies)`` in V^2/Hz (from
        :func:`event_psd`); ``a`` is the reference set.
    frequencies : numpy.ndarray, Hz
        Bin frequencies.
    band : (float, float), Hz
        Frequency range over which the distances are summarised.
    n_boot : int
        Bootstrap replicates over events for the uncertainties.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``"median_abs_db"`` (dB), ``"max_abs_db"`` (dB) and ``"geodesic"`` (ln units),
        each ``(values, uncertainties)`` with one entry per channel.
    """
    mask = (frequencies >= band[0]) & (frequencies <= band[1])
    if not mask.any():
        raise ValueError(f"no PSD bin inside the band {band[0] / 1e6:.1f}-"
                         f"{band[1] / 1e6:.1f} MHz")
    warn_small(min(len(psd_a), len(psd_x)), 20, "spectral distances")
    mean_a = psd_a.mean(axis=0, dtype=np.float64)
    mean_x = psd_x.mean(axis=0, dtype=np.float64)
    values = _band_stats(mean_a, mean_x, mask)
    rng = np.random.default_rng(seed)
    shape = psd_a.shape[1:]
    boot_a = (bootstrap_weights(len(psd_a), n_boot, rng) @
              psd_a.reshape(len(psd_a), -1).astype(np.float64)).reshape((n_boot, *shape))
    boot_x = (bootstrap_weights(len(psd_x), n_boot, rng) @
              psd_x.reshape(len(psd_x), -1).astype(np.float64)).reshape((n_boot, *shape))
    reps = _band_stats(boot_a, boot_x, mask)
    errors = reps.std(axis=1, ddof=1)
    names = ("median_abs_db", "max_abs_db", "geodesic")
    return {name: (values[i], errors[i]) for i, name in enumerate(names)}
