"""Row builders of the distribution checks: spectrum, amplitude, digitizer blocks, cross-channel.

Each builder takes the summaries of all real events (``sr``), of the real halves A and B
(``sa``, ``sb``) and of the generated events (``sg``), adds judged rows to a
:class:`~rnognoise.metrics.rows.RowBuilder` and plot data to ``details``. The value of a
row compares all real events with all generated events; its reference compares A with B.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import bootstrap_weights, wasserstein_with_uncertainty
from .amplitude import (
    HIST_EDGES_SIGMA,
    amplitude_wasserstein,
    moment_differences,
    moments_from_sums,
)
from .crosschannel import correlation_difference, correlation_matrix
from .rows import RowBuilder
from .spectra import event_gain, psd_quantiles, spectral_distances
from .summary import SetSummary

__all__ = ["amplitude_rows", "block_rows", "cross_rows", "histogram", "spectral_rows"]

def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of the finite ``values`` in ``edges`` (outer bins hold the overflow)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return np.histogram(np.clip(v, edges[0], edges[-1]), edges)[0]


def _tilt(psd_a: np.ndarray, psd_x: np.ndarray, freqs: np.ndarray, band: tuple[float, float],
          n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed tilt (dB across the band) of ``10 log10(mean x / mean a)``, per channel.

    A straight line in log-frequency is fitted to the dB ratio over the band; the tilt is
    its rise from the lowest to the highest band frequency. Bootstrap standard error.
    """
    mask = (freqs >= band[0]) & (freqs <= band[1]) & (freqs > 0)
    logf = np.log2(freqs[mask])
    design = logf - logf.mean()
    span = logf.max() - logf.min() if logf.size > 1 else 0.0

    def tilt(ma: np.ndarray, mx: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = 10.0 * np.log10(mx[..., mask] / ma[..., mask])
        slope = (ratio * design).sum(-1) / max(float((design ** 2).sum()), 1e-30)
        return slope * span

    value = tilt(psd_a.mean(0, dtype=np.float64), psd_x.mean(0, dtype=np.float64))
    rng = np.random.default_rng(seed + 5)
    shape = psd_a.shape[1:]
    ba = (bootstrap_weights(len(psd_a), n_boot, rng) @
          psd_a.reshape(len(psd_a), -1).astype(np.float64)).reshape((n_boot, *shape))
    bx = (bootstrap_weights(len(psd_x), n_boot, rng) @
          psd_x.reshape(len(psd_x), -1).astype(np.float64)).reshape((n_boot, *shape))
    return value, tilt(ba, bx).std(axis=0, ddof=1)


def spectral_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
                  sb: SetSummary, sg: SetSummary, band: tuple[float, float], n_boot: int,
                  seed: int) -> None:
    """Mean-PSD distances and the spectral tilt per channel."""
    freqs = sr.frequencies
    ref = spectral_distances(sa.psd, sb.psd, freqs, band, n_boot=n_boot, seed=seed)
    val = spectral_distances(sr.psd, sg.psd, freqs, band, n_boot=n_boot, seed=seed)
    lo, hi = band[0] / 1e6, band[1] / 1e6
    rows.per_channel("psd_median_abs_db", "spectrum", val["median_abs_db"],
                     ref["median_abs_db"], "dB",
                     f"median over {lo:.0f}-{hi:.0f} MHz of |generated/real mean PSD| in dB")
    rows.per_channel("psd_max_abs_db", "spectrum", val["max_abs_db"], ref["max_abs_db"], "dB",
                     f"largest |generated/real mean PSD| in dB over {lo:.0f}-{hi:.0f} MHz")
    rows.per_channel("psd_geodesic", "spectrum", val["geodesic"], ref["geodesic"], "ln",
                     "log-PSD geodesic distance (std over frequency of ln PSD ratio; "
                     "NoiseGAN)")
    tv, te = _tilt(sr.psd, sg.psd, freqs, band, n_boot, seed)
    tr, tre = _tilt(sa.psd, sb.psd, freqs, band, n_boot, seed)
    for c in range(len(tv)):
        rows.add("psd_tilt_db", "spectrum", c, (abs(tv[c]), te[c]), (abs(tr[c]), tre[c]), "dB",
                 f"|tilt| of the generated/real mean-PSD ratio from {lo:.0f} to {hi:.0f} MHz "
                 f"(line in log frequency; generated {tv[c]:+.2f} dB)")
    details["psd"] = {
        "frequencies_hz": freqs,
        "real_mean": sr.psd.mean(0, dtype=np.float64),
        "generated_mean": sg.psd.mean(0, dtype=np.float64),
        "real_quantiles": psd_quantiles(sr.psd),
        "generated_quantiles": psd_quantiles(sg.psd),
        "quantile_levels": [0.15, 0.5, 0.85],
    }


def _robust_spread(x: np.ndarray) -> float:
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return float((q3 - q1) / 1.349)


def _spread_difference(a: np.ndarray, x: np.ndarray, n_boot: int,
                       rng: np.random.Generator) -> tuple[float, float, float]:
    """``spread(x) - spread(a)`` of two 1-D samples, its bootstrap error, and spread(x)."""
    sa, sx = _robust_spread(a), _robust_spread(x)
    boot = [_robust_spread(x[rng.integers(0, x.size, x.size)]) -
            _robust_spread(a[rng.integers(0, a.size, a.size)]) for _ in range(n_boot)]
    return sx - sa, float(np.std(boot, ddof=1)), sx


def amplitude_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
                   sb: SetSummary, sg: SetSummary, sigma: np.ndarray,
                   band: tuple[float, float], n_boot: int, seed: int) -> None:
    """Sample-value distance, moments, and the event-to-event spread of the gain."""
    rng = np.random.default_rng(seed + 10)
    ref_w, val_w = [], []
    for c in range(len(sigma)):
        ref_w.append(amplitude_wasserstein(sa.values[c], sb.values[c], sigma[c], rng=rng,
                                           events_a=sa.value_events, events_x=sb.value_events))
        val_w.append(amplitude_wasserstein(sr.values[c], sg.values[c], sigma[c], rng=rng,
                                           events_a=sr.value_events, events_x=sg.value_events))
    for c, (v, r) in enumerate(zip(val_w, ref_w, strict=True)):
        # both distances use the same number of sample values: no rescaling
        rows.add("amplitude_w1", "amplitude", c, v, r, "RMS",
                 "1-Wasserstein distance of the sample values, in units of the real RMS",
                 scale=1.0)
    ref = moment_differences(sa.sums, sb.sums, sa.n_samples, n_boot=n_boot, seed=seed)
    val = moment_differences(sr.sums, sg.sums, sr.n_samples, n_boot=n_boot, seed=seed)
    rows.per_channel("rms_rel_diff", "amplitude", val["rms_rel_diff"], ref["rms_rel_diff"],
                     "fraction", "|RMS_generated / RMS_real - 1|")
    rows.per_channel("skewness_diff", "amplitude", val["skewness_diff"], ref["skewness_diff"],
                     "", "|difference of the skewness of the sample values|")
    rows.per_channel("kurtosis_diff", "amplitude", val["kurtosis_diff"], ref["kurtosis_diff"],
                     "", "|difference of the excess kurtosis of the sample values|")
    reference = sr.psd.mean(0, dtype=np.float64)

    def gain(s: SetSummary) -> np.ndarray:
        return event_gain(s.psd, sr.frequencies, band, reference)

    d, e, spread_g = _spread_difference(gain(sr), gain(sg), n_boot, rng)
    dr, er, _ = _spread_difference(gain(sa), gain(sb), n_boot, rng)
    rows.add("event_gain_spread_diff", "amplitude", None, (abs(d), e), (abs(dr), er), "ln",
             f"|difference of the event-to-event spread (IQR/1.349) of the per-event gain| "
             f"(half the median over the band of ln(event PSD / real mean PSD), averaged over "
             f"channels: gain drift and jitter; generated {spread_g:.4f}, real "
             f"{spread_g - d:.4f})")
    details["moments"] = {"real": moments_from_sums(sr.sums.sum(0), sr.n_events * sr.n_samples),
                          "generated": moments_from_sums(sg.sums.sum(0),
                                                         sg.n_events * sg.n_samples)}
    details["amplitude_hist"] = {"edges_sigma": HIST_EDGES_SIGMA, "real": sr.histogram,
                                 "generated": sg.histogram}


def block_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
               sb: SetSummary, sg: SetSummary, n_boot: int, seed: int) -> None:
    """Spread of the 128-sample block means per channel."""
    if not np.isfinite(sr.spread).any():
        return
    rng = np.random.default_rng(seed + 30)
    for c in range(sr.spread.shape[1]):
        ref = wasserstein_with_uncertainty(sa.spread[:, c], sb.spread[:, c], n_boot=n_boot,
                                           rng=rng)
        val = wasserstein_with_uncertainty(sr.spread[:, c], sg.spread[:, c], n_boot=n_boot,
                                           rng=rng)
        rows.add("block_spread_w1", "blocks", c, val, ref, "RMS",
                 "1-Wasserstein distance of the per-event std of 128-sample block means "
                 "(units of real RMS)")
    hi = float(np.nanquantile(np.concatenate([sr.spread.ravel(), sg.spread.ravel()]),
                              0.995)) * 1.2
    edges = np.linspace(0.0, max(hi, 1e-6), 61)
    n_ch = sr.spread.shape[1]
    details["block_spread"] = {
        "edges": edges,
        "real": np.stack([histogram(sr.spread[:, c], edges) for c in range(n_ch)]),
        "generated": np.stack([histogram(sg.spread[:, c], edges) for c in range(n_ch)]),
    }


def cross_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
               sb: SetSummary, sg: SetSummary, pairs: list[tuple[int, int]],
               channels: np.ndarray, n_boot: int, seed: int) -> None:
    """Cross-correlation strength per pair; zero-lag correlation matrix (the delays of
    impulsive events are judged in :mod:`.checks_impulses`)."""
    if not pairs:
        return
    rng = np.random.default_rng(seed + 40)
    for p, (i, j) in enumerate(pairs):
        pair = (int(channels[i]), int(channels[j]))
        ref = wasserstein_with_uncertainty(sa.xcorr[:, p], sb.xcorr[:, p], n_boot=n_boot,
                                           rng=rng)
        val = wasserstein_with_uncertainty(sr.xcorr[:, p], sg.xcorr[:, p], n_boot=n_boot,
                                           rng=rng)
        rows.add("xcorr_max_w1", "crosschannel", None, val, ref, "",
                 "1-Wasserstein distance of the per-event max normalised cross-correlation "
                 "within the lag window", pair=pair)
    ref = correlation_difference(sa.products, sb.products, n_boot=n_boot, seed=seed)
    val = correlation_difference(sr.products, sg.products, n_boot=n_boot, seed=seed)
    rows.add("zero_lag_corr_maxdiff", "crosschannel", None, val, ref, "",
             "largest |difference| of the zero-lag channel correlation coefficients")
    edges = np.linspace(0.0, 1.0, 51)
    details["xcorr"] = {
        "pairs": [(int(channels[i]), int(channels[j])) for i, j in pairs],
        "edges": edges,
        "real": np.stack([histogram(sr.xcorr[:, p], edges) for p in range(len(pairs))]),
        "generated": np.stack([histogram(sg.xcorr[:, p], edges) for p in range(len(pairs))]),
    }
    details["correlation"] = {"real": correlation_matrix(sr.products.sum(0)),
                              "generated": correlation_matrix(sg.products.sum(0))}
