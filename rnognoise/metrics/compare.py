"""``compare(real, generated) -> FidelityReport``: every metric beside its real-vs-real reference.

Every row compares *all* real events with *all* generated events (the generated set may
be much larger: generated noise is cheap, and its own sampling noise then stops hiding
differences). The real set is also split at random into halves A and B; the same number
for A against B is the row's real-vs-real reference, and distances are judged against
that reference rescaled to the sizes of the comparison. Verdicts follow
:mod:`rnognoise.metrics.thresholds`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import TraceSet
from ._common import SmallSampleWarning
from ._format import jsonable
from .checks_impulses import impulse_rows
from .checks_rates import line_rows, tail_rows, trigger_rows
from .checks_shape import amplitude_rows, block_rows, cross_rows, spectral_rows
from .crosschannel import channel_pairs
from .features import band_edges, features_from_parts
from .fidelity import FidelityReport
from .mean_trace import mean_trace_rows
from .rows import MetricRow, RowBuilder, distance_scale
from .spectra import find_passband
from .summary import SetSummary, summarise
from .twosample import c2st as run_c2st
from .twosample import fpd as run_fpd

__all__ = ["FidelityReport", "MetricRow", "check_compatible", "compare"]

#: How the band is chosen when none is given (stated in every report).
AUTO_BAND_REASON = ("automatic: the contiguous range around the maximum of the real mean "
                    "PSD (channels normalised and averaged) within 10 dB of it; spectra, "
                    "lines and features are judged only inside it, because outside it the "
                    "power is filtered away and what remains (DC offsets, the first bins of "
                    "a short trace) is not noise the models are meant to reproduce")


def check_compatible(real: TraceSet, generated: TraceSet) -> TraceSet:
    """Raise :class:`ConfigError` unless the sets can be compared; return ``generated``.

    ``generated`` is reordered when it holds the same channels in another order.
    """
    if not math.isclose(real.sampling_rate, generated.sampling_rate, rel_tol=1e-9):
        raise ConfigError(f"sampling rates differ: real {real.sampling_rate / 1e9:.6g} GHz, "
                          f"generated {generated.sampling_rate / 1e9:.6g} GHz")
    if sorted(real.channels.tolist()) != sorted(generated.channels.tolist()):
        raise ConfigError(f"channel sets differ: real {real.channels.tolist()}, "
                          f"generated {generated.channels.tolist()}")
    if real.n_samples != generated.n_samples:
        raise ConfigError(f"trace lengths differ: real {real.n_samples} samples, "
                          f"generated {generated.n_samples} samples")
    if real.n_events < 4 or generated.n_events < 2:
        raise ConfigError(f"too few events to compare: real {real.n_events}, "
                          f"generated {generated.n_events}")
    if not np.array_equal(real.channels, generated.channels):
        generated = generated.select_channels(real.channels)
    return generated


def provenance(ts: TraceSet) -> dict[str, Any]:
    """Source, sizes, rate, channels, units and attributes of a set, JSON-ready."""
    return jsonable({"source": ts.source, "n_events": ts.n_events, "n_samples": ts.n_samples,
                     "sampling_rate_hz": ts.sampling_rate, "channels": ts.channels.tolist(),
                     "units": ts.units, "attrs": dict(ts.attrs)})


def compare(real: TraceSet, generated: TraceSet, *, seed: int = 0,
            band: tuple[float, float] | None = None, c2st: bool = True, quick: bool = False,
            n_boot: int = 30, max_lag: float = 20e-9, nperseg: int = 256) -> FidelityReport:
    """Compare generated noise with real noise, metric by metric.

    Parameters
    ----------
    real, generated : TraceSet
        Traces in volts with the same sampling rate, channels and trace length. The sets
        may differ in size; every generated event is used.
    seed : int
        Seed of the real split and every bootstrap.
    band : (float, float), Hz, optional
        Analysis band of the spectral summaries and the line search (default: where the
        real mean PSD is within 10 dB of its maximum; the report says which).
    c2st : bool
        Run the classifier two-sample test.
    quick : bool
        Skip the expensive parts (classifier test, Frechet distance, trigger curves), for
        model selection during training.
    n_boot : int
        Bootstrap replicates of the uncertainties.
    max_lag : float, s
        Lag window of the cross-correlation metrics.
    nperseg : int
        Welch segment length (samples).

    Returns
    -------
    FidelityReport

    Raises
    ------
    ConfigError
        When the sets differ in sampling rate, channels or trace length, or are tiny.

    Examples
    --------
    >>> report = compare(real, generated, seed=1)  # doctest: +SKIP
    >>> print(report.verdict, report.score())  # doctest: +SKIP
    """
    generated = check_compatible(real, generated)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", SmallSampleWarning)
        report = _compare(real, generated, seed=seed, band=band, c2st=c2st, quick=quick,
                          n_boot=n_boot, max_lag=max_lag, nperseg=nperseg)
    for w in record:
        if issubclass(w.category, SmallSampleWarning):
            caught.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    report.warnings = sorted(set(caught))
    return report


def _compare(real: TraceSet, generated: TraceSet, *, seed: int,
             band: tuple[float, float] | None, c2st: bool, quick: bool, n_boot: int,
             max_lag: float, nperseg: int) -> FidelityReport:
    fs = real.sampling_rate
    order = np.random.default_rng(seed).permutation(real.n_events)
    half = real.n_events // 2
    idx_a, idx_b = np.sort(order[:half]), np.sort(order[half:])
    sigma = np.sqrt(np.mean(np.square(real.traces, dtype=np.float64), axis=(0, 2)))
    sigma = np.where(sigma > 0, sigma, 1.0)
    pairs = channel_pairs(real.n_channels)
    kw = {"pairs": pairs, "max_lag": max_lag, "nperseg": nperseg, "triggers": not quick}
    sr = summarise(real.traces, fs, sigma, seed=seed + 1, **kw)
    sg = summarise(generated.traces, fs, sigma, seed=seed + 3, **kw)
    sa, sb = sr.subset(idx_a), sr.subset(idx_b)
    if band is None:
        band = find_passband(sr.frequencies, sr.psd.mean(0, dtype=np.float64))
        band_reason = AUTO_BAND_REASON
    else:
        band_reason = "given by the user"
    band = (float(band[0]), float(band[1]))
    scale = distance_scale(sr.n_events, sg.n_events, sa.n_events, sb.n_events)
    rows = RowBuilder(real.channels, scale)
    details: dict[str, Any] = {"sigma_volts": sigma, "band_hz": list(band),
                               "distance_scale": scale}
    spectral_rows(rows, details, sr, sa, sb, sg, band, n_boot, seed)
    amplitude_rows(rows, details, sr, sa, sb, sg, sigma, band, n_boot, seed)
    tail_rows(rows, details, sr, sa, sb, sg, sigma, n_boot, seed)
    impulse_rows(rows, details, sr, sa, sb, sg, pairs, real.channels, seed)
    line_rows(rows, details, sr, sa, sb, sg, real.channels, band)
    block_rows(rows, details, sr, sa, sb, sg, n_boot, seed)
    mean_trace_rows(rows, details, real.traces, generated.traces, idx_a, idx_b, sigma)
    cross_rows(rows, details, sr, sa, sb, sg, pairs, real.channels, n_boot, seed)
    if not quick:
        trigger_rows(rows, details, sr, sa, sb, sg, seed)
        _twosample_rows(rows, details, sr, sa, sb, sg, band, sigma, pairs, real.channels,
                        c2st, seed)
    details["examples"] = {"real": sr.examples, "generated": sg.examples}
    sizes = {"real": real.n_events, "generated": generated.n_events,
             "real_half_a": sa.n_events, "real_half_b": sb.n_events,
             "generated_used": sg.n_events}
    return FidelityReport(rows.rows, details, sizes, fs, real.channels.tolist(), band,
                          provenance(real), provenance(generated), seed, quick,
                          band_reason=band_reason)


def _twosample_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary,
                    sa: SetSummary, sb: SetSummary, sg: SetSummary, band: tuple[float, float],
                    sigma: np.ndarray, pairs: list[tuple[int, int]], channels: np.ndarray,
                    c2st: bool, seed: int) -> None:
    bands = band_edges(band)

    def feats(s: SetSummary) -> np.ndarray:
        return features_from_parts(s.psd, s.frequencies, sigma, bands, s.ratio, s.skewness,
                                   s.kurtosis,
                                   s.spread, s.xcorr, channels, pairs)

    fr, names = feats(sr)
    fa, fb, fg = feats(sa)[0], feats(sb)[0], feats(sg)[0]
    details["feature_names"] = names
    rows.add("fpd", "twosample", None, run_fpd(fr, fg, seed=seed), run_fpd(fa, fb, seed=seed),
             "", "Frechet distance of the standardised per-event features, extrapolated to "
             "infinite sample size")
    if not c2st:
        return
    # balanced classes: as many generated events as real ones
    pick = np.random.default_rng(seed + 60).permutation(len(fg))[:len(fr)]
    auc, err, reason = run_c2st(fr, fg[np.sort(pick)], seed=seed)
    if reason:
        rows.add("c2st_auc", "twosample", None, (auc, err), (float("nan"), float("nan")),
                 "AUC", f"classifier two-sample test n/a: {reason}")
        details["c2st"] = {"auc": None, "reason": reason}
        return
    ref_auc, ref_err, _ = run_c2st(fa, fb, seed=seed)
    rows.add("c2st_auc", "twosample", None, (auc, err), (ref_auc, ref_err), "AUC",
             "ROC AUC of a gradient-boosted classifier telling generated from real events "
             "(0.5 = indistinguishable)")
    details["c2st"] = {"auc": auc, "auc_err": err, "reference_auc": ref_auc,
                       "reference_auc_err": ref_err}
