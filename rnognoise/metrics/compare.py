"""``compare(real, generated) -> FidelityReport``: every metric beside its real-vs-real reference.

The real set is split at random into halves A and B. Each metric is a distance
``d(A, X)``: the reference is ``d(A, B)``; the generated value is ``d(A, G')`` with G' a
random subset of the generated set of the size of B, so both numbers come from the
same sample sizes. Verdicts follow :mod:`rnognoise.metrics.thresholds`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fileutil import atomic_output
from ..io import TraceSet
from ._common import SmallSampleWarning, binomial_rate, wasserstein_with_uncertainty
from .amplitude import HIST_EDGES_SIGMA, amplitude_wasserstein, moment_differences
from .crosschannel import channel_pairs, correlation_difference, correlation_matrix
from .features import band_edges, features_from_parts
from .lines import Line, LineScan, detect_lines, line_occupancy
from .spectra import find_passband, psd_quantiles, spectral_distances
from .summary import SetSummary, summarise
from .tails import DEFAULT_SIGMA_THRESHOLDS, exceedance_rates, rate_difference
from .thresholds import C2ST_PASS, judge, pass_tolerance, worst
from .trigger import threshold_at_rate, trigger_curve
from .twosample import c2st as run_c2st
from .twosample import fpd as run_fpd

__all__ = ["FidelityReport", "MetricRow", "check_compatible", "compare"]

_EXCLUDED_FROM_JSON = ("examples",)


@dataclass
class MetricRow:
    """One number of a :class:`FidelityReport`.

    Attributes
    ----------
    name : str
        Metric name (key of :data:`rnognoise.metrics.thresholds.THRESHOLDS`).
    group : str
        Family: spectrum, amplitude, tails, lines, blocks, crosschannel, trigger, twosample.
    channel : int or None
        Channel id, or None for a metric of a pair or of the whole event.
    value, uncertainty : float
        ``d(A, G')`` and its standard error.
    reference, reference_uncertainty : float
        ``d(A, B)`` (real vs real) and its standard error.
    unit : str
        Unit of value and reference.
    verdict : str
        ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"``.
    description : str
        What the number is (and why it is n/a, if so).
    pair : tuple of int, optional
        Channel ids of a channel-pair metric.
    """

    name: str
    group: str
    channel: int | None
    value: float
    uncertainty: float
    reference: float
    reference_uncertainty: float
    unit: str
    verdict: str
    description: str
    pair: tuple[int, int] | None = None

    @property
    def where(self) -> str:
        """``"ch 3"``, ``"ch 3-5"`` or ``"all"``."""
        if self.pair is not None:
            return f"ch {self.pair[0]}-{self.pair[1]}"
        return "all" if self.channel is None else f"ch {self.channel}"


@dataclass
class FidelityReport:
    """Result of :func:`compare`: metric rows, plot data, sizes and provenance."""

    rows: list[MetricRow]
    details: dict[str, Any]
    sizes: dict[str, int]
    sampling_rate: float
    channels: list[int]
    band: tuple[float, float]
    provenance_real: dict[str, Any]
    provenance_generated: dict[str, Any]
    seed: int = 0
    quick: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """Worst verdict of all rows."""
        return worst([r.verdict for r in self.rows])

    def score(self) -> float:
        """One scalar, lower is better (0: as close as real data to itself).

        For each row with a verdict, the excess over the reference in units of that
        row's pass tolerance, ``max(0, value - reference) / max(k_pass tol, floor)``
        (for the classifier test ``max(0, AUC - 0.5) / (C2ST_PASS - 0.5)``); averaged
        within each metric group, then over groups, so that a group with many rows
        (channels, pairs, lines) weighs as much as one with a single row. A value of 1
        means "at the edge of pass" on average.
        """
        per_group: dict[str, list[float]] = {}
        for r in self.rows:
            if r.verdict == "n/a" or not math.isfinite(r.value):
                continue
            if r.name == "c2st_auc":
                z = max(0.0, r.value - 0.5) / (C2ST_PASS - 0.5)
            else:
                ref = r.reference if math.isfinite(r.reference) else 0.0
                z = max(0.0, r.value - ref) / pass_tolerance(r.name, r.uncertainty,
                                                             r.reference_uncertainty)
            per_group.setdefault(r.group, []).append(z)
        if not per_group:
            return float("nan")
        return float(np.mean([np.mean(v) for v in per_group.values()]))

    def rows_named(self, name: str) -> list[MetricRow]:
        """All rows of one metric."""
        return [r for r in self.rows if r.name == name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None; example traces left out)."""
        out = {
            "verdict": self.verdict,
            "score": self.score(),
            "sizes": self.sizes,
            "sampling_rate_hz": self.sampling_rate,
            "channels": self.channels,
            "band_hz": list(self.band),
            "seed": self.seed,
            "quick": self.quick,
            "rows": [{**asdict(r), "where": r.where} for r in self.rows],
            "details": {k: v for k, v in self.details.items() if k not in _EXCLUDED_FROM_JSON},
            "provenance_real": self.provenance_real,
            "provenance_generated": self.provenance_generated,
            "warnings": self.warnings,
        }
        return _jsonable(out)

    def to_json(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write :meth:`to_dict` as JSON (never overwrites unless ``force``)."""
        with atomic_output(path, force=force) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    def table(self) -> str:
        """The rows as a fixed-width text table."""
        head = ("group", "metric", "where", "value", "real-vs-real", "unit", "verdict")
        lines = [head]
        for r in self.rows:
            lines.append((r.group, r.name, r.where, _pm(r.value, r.uncertainty),
                          _pm(r.reference, r.reference_uncertainty), r.unit, r.verdict))
        widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
        text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                for row in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(text)

    def __str__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return (f"Noise fidelity: verdict {self.verdict.upper()}, score {self.score():.3g} "
                f"(0 = like real data)\n"
                f"sizes: {sizes}; band {self.band[0] / 1e6:.0f}-{self.band[1] / 1e6:.0f} MHz; "
                f"sampling rate {self.sampling_rate / 1e9:.3g} GHz\n\n" + self.table())


def _pm(value: float, err: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if err is None or not math.isfinite(err):
        return f"{value:.4g}"
    return f"{value:.4g} ± {err:.2g}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if obj is None or isinstance(obj, (int, str)):
        return obj
    return str(obj)


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


def _provenance(ts: TraceSet) -> dict[str, Any]:
    return _jsonable({"source": ts.source, "n_events": ts.n_events, "n_samples": ts.n_samples,
                      "sampling_rate_hz": ts.sampling_rate, "channels": ts.channels.tolist(),
                      "units": ts.units, "attrs": dict(ts.attrs)})


class _Rows:
    """Collects rows and judges each one."""

    def __init__(self, channels: np.ndarray) -> None:
        self.channels = channels
        self.rows: list[MetricRow] = []

    def add(self, name: str, group: str, ch: int | None, val: tuple[float, float],
            ref: tuple[float, float], unit: str, description: str,
            pair: tuple[int, int] | None = None) -> None:
        v, u = (float(val[0]), float(val[1]))
        r, ru = (float(ref[0]), float(ref[1]))
        channel = None if ch is None else int(self.channels[ch])
        self.rows.append(MetricRow(name, group, channel, v, u, r, ru, unit,
                                   judge(name, v, u, r, ru), description, pair))

    def per_channel(self, name: str, group: str, val: tuple[np.ndarray, np.ndarray],
                    ref: tuple[np.ndarray, np.ndarray], unit: str, description: str) -> None:
        for c in range(len(self.channels)):
            self.add(name, group, c, (val[0][c], val[1][c]), (ref[0][c], ref[1][c]), unit,
                     description)


def compare(real: TraceSet, generated: TraceSet, *, seed: int = 0,
            band: tuple[float, float] | None = None, c2st: bool = True, quick: bool = False,
            n_boot: int = 30, max_lag: float = 20e-9, nperseg: int = 256) -> FidelityReport:
    """Compare generated noise with real noise, metric by metric.

    Parameters
    ----------
    real, generated : TraceSet
        Traces in volts with the same sampling rate, channels and trace length.
    seed : int
        Seed of the real split, the generated subset and every bootstrap.
    band : (float, float), Hz, optional
        Band of the spectral summaries (default: where the real mean PSD is within
        10 dB of its maximum).
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
    rng = np.random.default_rng(seed)
    fs = real.sampling_rate
    set_a, set_b = real.split(0.5, seed=seed)
    n = min(set_b.n_events, generated.n_events)
    if n < set_b.n_events:
        warnings.warn(f"generated set holds {generated.n_events} events, fewer than the real "
                      f"half ({set_b.n_events}); the reference uses {n} real events",
                      SmallSampleWarning, stacklevel=3)
        set_b = set_b[np.sort(rng.choice(set_b.n_events, n, replace=False))]
    gen = generated[np.sort(rng.choice(generated.n_events, n, replace=False))]
    sigma = np.sqrt(np.mean(np.square(real.traces, dtype=np.float64), axis=(0, 2)))
    sigma = np.where(sigma > 0, sigma, 1.0)
    pairs = channel_pairs(real.n_channels)
    kw = {"pairs": pairs, "max_lag": max_lag, "nperseg": nperseg, "triggers": not quick}
    sa = summarise(set_a.traces, fs, sigma, seed=seed + 1, **kw)
    sb = summarise(set_b.traces, fs, sigma, seed=seed + 2, **kw)
    sg = summarise(gen.traces, fs, sigma, seed=seed + 3, **kw)
    freqs = sa.frequencies
    real_psd = np.concatenate([sa.psd, sb.psd])
    if band is None:
        band = find_passband(freqs, real_psd.mean(0, dtype=np.float64))
    band = (float(band[0]), float(band[1]))
    rows = _Rows(real.channels)
    details: dict[str, Any] = {"sigma_volts": sigma, "band_hz": list(band)}
    _spectral_rows(rows, details, sa, sb, sg, real_psd, band, n_boot, seed)
    _amplitude_rows(rows, details, sa, sb, sg, sigma, n_boot, seed)
    _tail_rows(rows, details, sa, sb, sg, sigma, n_boot, seed)
    _line_rows(rows, details, sa, sb, sg, real.channels)
    _block_rows(rows, details, sa, sb, sg, n_boot, seed)
    _cross_rows(rows, details, sa, sb, sg, pairs, real.channels, n_boot, seed)
    if not quick:
        _trigger_rows(rows, details, sa, sb, sg)
    if not quick:
        _twosample_rows(rows, details, sa, sb, sg, band, sigma, pairs, real.channels, c2st,
                        seed)
    details["examples"] = {"real": sa.examples, "generated": sg.examples}
    sizes = {"real": real.n_events, "generated": generated.n_events,
             "real_half_a": set_a.n_events, "real_half_b": set_b.n_events,
             "generated_used": gen.n_events}
    return FidelityReport(rows.rows, details, sizes, fs, real.channels.tolist(), band,
                          _provenance(real), _provenance(generated), seed, quick)


def _spectral_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
                   sg: SetSummary, real_psd: np.ndarray, band: tuple[float, float],
                   n_boot: int, seed: int) -> None:
    freqs = sa.frequencies
    ref = spectral_distances(sa.psd, sb.psd, freqs, band, n_boot=n_boot, seed=seed)
    val = spectral_distances(sa.psd, sg.psd, freqs, band, n_boot=n_boot, seed=seed)
    lo, hi = band[0] / 1e6, band[1] / 1e6
    rows.per_channel("psd_median_abs_db", "spectrum", val["median_abs_db"],
                     ref["median_abs_db"], "dB",
                     f"median over {lo:.0f}-{hi:.0f} MHz of |generated/real mean PSD| in dB")
    rows.per_channel("psd_max_abs_db", "spectrum", val["max_abs_db"], ref["max_abs_db"], "dB",
                     f"largest |generated/real mean PSD| in dB over {lo:.0f}-{hi:.0f} MHz")
    rows.per_channel("psd_geodesic", "spectrum", val["geodesic"], ref["geodesic"], "ln",
                     "log-PSD geodesic distance (std over frequency of ln PSD ratio; "
                     "NoiseGAN)")
    details["psd"] = {
        "frequencies_hz": freqs,
        "real_mean": real_psd.mean(0, dtype=np.float64),
        "generated_mean": sg.psd.mean(0, dtype=np.float64),
        "real_quantiles": psd_quantiles(real_psd),
        "generated_quantiles": psd_quantiles(sg.psd),
        "quantile_levels": [0.15, 0.5, 0.85],
    }


def _amplitude_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
                    sg: SetSummary, sigma: np.ndarray, n_boot: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 10)
    ref_w, val_w = [], []
    for c in range(len(sigma)):
        ref_w.append(amplitude_wasserstein(sa.values[c], sb.values[c], sigma[c], rng=rng))
        val_w.append(amplitude_wasserstein(sa.values[c], sg.values[c], sigma[c], rng=rng))
    ref_arr, val_arr = np.asarray(ref_w).T, np.asarray(val_w).T
    rows.per_channel("amplitude_w1", "amplitude", (val_arr[0], val_arr[1]),
                     (ref_arr[0], ref_arr[1]), "RMS",
                     "1-Wasserstein distance of the sample values, in units of the real RMS")
    ref = moment_differences(sa.sums, sb.sums, sa.n_samples, n_boot=n_boot, seed=seed)
    val = moment_differences(sa.sums, sg.sums, sa.n_samples, n_boot=n_boot, seed=seed)
    rows.per_channel("rms_rel_diff", "amplitude", val["rms_rel_diff"], ref["rms_rel_diff"],
                     "fraction", "|RMS_generated / RMS_real - 1|")
    rows.per_channel("skewness_diff", "amplitude", val["skewness_diff"], ref["skewness_diff"],
                     "", "|difference of the skewness of the sample values|")
    rows.per_channel("kurtosis_diff", "amplitude", val["kurtosis_diff"], ref["kurtosis_diff"],
                     "", "|difference of the excess kurtosis of the sample values|")
    from .amplitude import moments_from_sums

    real_m = moments_from_sums(np.concatenate([sa.sums, sb.sums]).sum(0),
                               (sa.n_events + sb.n_events) * sa.n_samples)
    gen_m = moments_from_sums(sg.sums.sum(0), sg.n_events * sg.n_samples)
    details["moments"] = {"real": real_m, "generated": gen_m}
    details["amplitude_hist"] = {"edges_sigma": HIST_EDGES_SIGMA,
                                 "real": sa.histogram + sb.histogram,
                                 "generated": sg.histogram}


def _hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return np.histogram(np.clip(v, edges[0], edges[-1]), edges)[0]


def _tail_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
               sg: SetSummary, sigma: np.ndarray, n_boot: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 20)
    n_ch = len(sigma)
    for c in range(n_ch):
        ref = wasserstein_with_uncertainty(sa.ratio[:, c], sb.ratio[:, c], n_boot=n_boot,
                                           rng=rng)
        val = wasserstein_with_uncertainty(sa.ratio[:, c], sg.ratio[:, c], n_boot=n_boot,
                                           rng=rng)
        rows.add("peak_to_rms_w1", "tails", c, val, ref, "",
                 "1-Wasserstein distance of the per-event peak-to-RMS distributions")
    ra, ea = exceedance_rates(sa.peak, sigma)
    rb, eb = exceedance_rates(sb.peak, sigma)
    rg, eg = exceedance_rates(sg.peak, sigma)
    for i, t in enumerate(DEFAULT_SIGMA_THRESHOLDS):
        ref = rate_difference(ra[i], ea[i], rb[i], eb[i])
        val = rate_difference(ra[i], ea[i], rg[i], eg[i])
        rows.per_channel(f"rate_above_{t:.0f}sigma_diff", "tails", val, ref, "fraction",
                         f"|difference of the fraction of events with a sample beyond "
                         f"{t:.0f} x real RMS|")
    edges = np.linspace(1.0, 10.0, 91)
    real_ratio = np.concatenate([sa.ratio, sb.ratio])
    real_peak = np.concatenate([sa.peak, sb.peak])
    rr, er = exceedance_rates(real_peak, sigma)
    details["peak_to_rms"] = {
        "edges": edges,
        "real": np.stack([_hist(real_ratio[:, c], edges) for c in range(n_ch)]),
        "generated": np.stack([_hist(sg.ratio[:, c], edges) for c in range(n_ch)]),
        "thresholds_sigma": list(DEFAULT_SIGMA_THRESHOLDS),
        "real_rate": rr, "real_rate_err": er, "generated_rate": rg, "generated_rate_err": eg,
    }


def _line_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
               sg: SetSummary, channels: np.ndarray) -> None:
    real_lines = detect_lines(sa.lines)
    occ_a = line_occupancy(sa.lines, real_lines)
    occ_b = line_occupancy(sb.lines, real_lines)
    occ_g = line_occupancy(sg.lines, real_lines)
    table = []
    for la, lb, lg in zip(occ_a, occ_b, occ_g, strict=True):
        c = la.channel_index
        ref = (abs(lb.occupancy - la.occupancy), math.hypot(la.occupancy_err, lb.occupancy_err))
        val = (abs(lg.occupancy - la.occupancy), math.hypot(la.occupancy_err, lg.occupancy_err))
        rows.add("line_occupancy_diff", "lines", c, val, ref, "fraction",
                 f"|occupancy difference| of the {la.frequency / 1e6:.1f} MHz line")
        table.append({"channel": int(channels[c]), "frequency_hz": la.frequency,
                      "occupancy_real": la.occupancy, "occupancy_real_err": la.occupancy_err,
                      "occupancy_reference": lb.occupancy,
                      "occupancy_generated": lg.occupancy,
                      "occupancy_generated_err": lg.occupancy_err,
                      "mean_power_real_v2": la.mean_power,
                      "mean_power_generated_v2": lg.mean_power})
    extra_b = _extra_lines(detect_lines(sb.lines), real_lines, sb.lines, sa.lines)
    extra_g = _extra_lines(detect_lines(sg.lines), real_lines, sg.lines, sa.lines)
    for c in range(len(channels)):
        nb = sum(1 for ln in extra_b if ln.channel_index == c)
        ng = sum(1 for ln in extra_g if ln.channel_index == c)
        rows.add("extra_lines", "lines", c, (ng, 0.0), (nb, 0.0), "count",
                 "lines found in the compared set but not in the real half A")
    details["lines"] = table
    details["extra_lines_generated"] = [
        {"channel": int(channels[ln.channel_index]), "frequency_hz": ln.frequency,
         "occupancy": ln.occupancy, "mean_power_v2": ln.mean_power} for ln in extra_g]


def _extra_lines(found: list[Line], real_lines: list[Line], scan: LineScan,
                 real_scan: LineScan, widen: int = 2, n_sigma: float = 4.0) -> list[Line]:
    """Lines of ``found`` away from every real line whose occupancy is significantly higher
    than the real set's in the same bins.

    A set's lines are picked where its occupancy crosses the detection threshold, so near
    the threshold one half of a small set shows a line the other does not. Measuring both
    occupancies in the same bins and asking for ``n_sigma`` standard errors (about 1e-4
    false alarms per bin group, i.e. rare over a few thousand bins) keeps such
    fluctuations out, while a genuine extra line of 10 % occupancy is flagged from about
    150 events on.
    """
    candidates = [ln for ln in found if not any(
        r.channel_index == ln.channel_index and
        r.bins[0] - widen <= ln.bins[-1] and ln.bins[0] <= r.bins[-1] + widen
        for r in real_lines)]
    if not candidates:
        return []
    here = line_occupancy(scan, candidates)
    there = line_occupancy(real_scan, candidates)
    return [ln for ln, a, b in zip(candidates, here, there, strict=True)
            if a.occupancy - b.occupancy > n_sigma * math.hypot(a.occupancy_err,
                                                                b.occupancy_err)]


def _block_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
                sg: SetSummary, n_boot: int, seed: int) -> None:
    if not np.isfinite(sa.spread).any():
        return
    rng = np.random.default_rng(seed + 30)
    for c in range(sa.spread.shape[1]):
        ref = wasserstein_with_uncertainty(sa.spread[:, c], sb.spread[:, c], n_boot=n_boot,
                                           rng=rng)
        val = wasserstein_with_uncertainty(sa.spread[:, c], sg.spread[:, c], n_boot=n_boot,
                                           rng=rng)
        rows.add("block_spread_w1", "blocks", c, val, ref, "RMS",
                 "1-Wasserstein distance of the per-event std of 128-sample block means "
                 "(units of real RMS)")
    real = np.concatenate([sa.spread, sb.spread])
    hi = float(np.nanquantile(np.concatenate([real.ravel(), sg.spread.ravel()]), 0.995)) * 1.2
    edges = np.linspace(0.0, max(hi, 1e-6), 61)
    details["block_spread"] = {
        "edges": edges,
        "real": np.stack([_hist(real[:, c], edges) for c in range(real.shape[1])]),
        "generated": np.stack([_hist(sg.spread[:, c], edges) for c in range(real.shape[1])]),
    }


def _cross_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
                sg: SetSummary, pairs: list[tuple[int, int]], channels: np.ndarray,
                n_boot: int, seed: int) -> None:
    if not pairs:
        return
    rng = np.random.default_rng(seed + 40)
    for p, (i, j) in enumerate(pairs):
        ref = wasserstein_with_uncertainty(sa.xcorr[:, p], sb.xcorr[:, p], n_boot=n_boot,
                                           rng=rng)
        val = wasserstein_with_uncertainty(sa.xcorr[:, p], sg.xcorr[:, p], n_boot=n_boot,
                                           rng=rng)
        rows.add("xcorr_max_w1", "crosschannel", None, val, ref, "",
                 "1-Wasserstein distance of the per-event max normalised cross-correlation "
                 "within the lag window", pair=(int(channels[i]), int(channels[j])))
    ref = correlation_difference(sa.products, sb.products, n_boot=n_boot, seed=seed)
    val = correlation_difference(sa.products, sg.products, n_boot=n_boot, seed=seed)
    rows.add("zero_lag_corr_maxdiff", "crosschannel", None, val, ref, "",
             "largest |difference| of the zero-lag channel correlation coefficients")
    real = np.concatenate([sa.xcorr, sb.xcorr])
    edges = np.linspace(0.0, 1.0, 51)
    details["xcorr"] = {
        "pairs": [(int(channels[i]), int(channels[j])) for i, j in pairs],
        "edges": edges,
        "real": np.stack([_hist(real[:, p], edges) for p in range(len(pairs))]),
        "generated": np.stack([_hist(sg.xcorr[:, p], edges) for p in range(len(pairs))]),
    }
    details["correlation"] = {
        "real": correlation_matrix(np.concatenate([sa.products, sb.products]).sum(0)),
        "generated": correlation_matrix(sg.products.sum(0)),
    }


def _trigger_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
                  sg: SetSummary) -> None:
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for kind, label, unit in (("highlow", "high/low 2-of-N trigger", "RMS"),
                              ("power", "power-integration trigger", "mean power")):
        a, b, g = getattr(sa, kind), getattr(sb, kind), getattr(sg, kind)
        rows.add(f"{kind}_score_w1", "trigger", None,
                 wasserstein_with_uncertainty(a, g, rng=rng),
                 wasserstein_with_uncertainty(a, b, rng=rng), unit,
                 f"1-Wasserstein distance of the per-event {label} thresholds "
                 "(area between the trigger-rate curves)")
        thr = threshold_at_rate(a, 0.01)
        vals = []
        for other in (b, g):
            ra, ea = binomial_rate(int((a > thr).sum()), a.size)
            rx, ex = binomial_rate(int((other > thr).sum()), other.size)
            vals.append(rate_difference(ra, ea, rx, ex))
        rows.add(f"{kind}_rate_diff_at_1pct", "trigger", None, vals[1], vals[0], "fraction",
                 f"|trigger-rate difference| of the {label} at the threshold "
                 f"({thr:.2f} {unit}) where real half A triggers 1 %")
        real = np.concatenate([a, b])
        grid = np.linspace(np.quantile(real, 0.02), max(real.max(), g.max()) * 1.02, 60)
        r_rate, r_err = trigger_curve(real, grid)
        g_rate, g_err = trigger_curve(g, grid)
        out[kind] = {"thresholds": grid, "unit": unit, "real_rate": r_rate,
                     "real_err": r_err, "generated_rate": g_rate, "generated_err": g_err}
    details["trigger"] = out


def _twosample_rows(rows: _Rows, details: dict[str, Any], sa: SetSummary, sb: SetSummary,
                    sg: SetSummary, band: tuple[float, float], sigma: np.ndarray,
                    pairs: list[tuple[int, int]], channels: np.ndarray, c2st: bool,
                    seed: int) -> None:
    bands = band_edges(band)

    def feats(s: SetSummary) -> np.ndarray:
        return features_from_parts(s.psd, s.frequencies, sigma, bands, s.ratio, s.kurtosis,
                                   s.spread, s.xcorr, channels, pairs)

    fa, names = feats(sa)
    fb, _ = feats(sb)
    fg, _ = feats(sg)
    details["feature_names"] = names
    val = run_fpd(fa, fg, seed=seed)
    ref = run_fpd(fa, fb, seed=seed)
    rows.add("fpd", "twosample", None, val, ref, "",
             "Frechet distance of the standardised per-event features, extrapolated to "
             "infinite sample size")
    if not c2st:
        return
    auc, err, reason = run_c2st(fa, fg, seed=seed)
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
