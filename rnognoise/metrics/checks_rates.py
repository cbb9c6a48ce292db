"""Row builders of the rate checks: tails, narrow-band lines, trigger rates.

Rates are compared as ratios, generated / real, on a log scale with binomial errors of
both sets (:func:`~rnognoise.metrics._common.rate_ratio`); the row text gives the plain
ratio and the Wilson 95 % intervals. As in :mod:`.checks_shape`, ``sr`` summarises all
real events, ``sa``/``sb`` the real halves and ``sg`` the generated events.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import rate_ratio, wasserstein_with_uncertainty, wilson_interval
from .checks_shape import histogram
from .lines import Line, LineScan, detect_lines, line_event_power, line_occupancy
from .rows import RowBuilder
from .summary import SetSummary
from .tails import DEFAULT_SIGMA_THRESHOLDS

__all__ = ["TRIGGER_RATES", "line_rows", "ratio_row", "tail_rows", "trigger_rows"]

#: Real-set trigger rates at whose thresholds the rate ratio is judged; a further "tail"
#: threshold sits where 5 real events are left (when that is below the last rate).
TRIGGER_RATES: tuple[float, ...] = (0.1, 0.01)
TAIL_EVENTS = 5


def ratio_row(rows: RowBuilder, name: str, group: str, ch: int | None, counts: tuple,
              ref_counts: tuple, what: str, pair: tuple[int, int] | None = None) -> None:
    """Add a row judging ``|ln(generated/real rate)|`` of ``counts`` = (k_real, n_real,
    k_generated, n_generated); ``ref_counts`` are those of the real halves."""
    ln, se, ratio, r95, g95 = rate_ratio(*counts)
    ln_ref, se_ref, *_ = rate_ratio(*ref_counts)
    kr, nr, kg, ng = counts
    text = (f"|ln(generated/real rate)| {what}: ratio {ratio:.3g}; real {kr}/{nr} "
            f"(95 %: {100 * r95[0]:.2g}-{100 * r95[1]:.2g} %), generated {kg}/{ng} "
            f"(95 %: {100 * g95[0]:.2g}-{100 * g95[1]:.2g} %)")
    if not math.isfinite(ln):
        text += "; n/a: too few events above the threshold in both sets"
    rows.add(name, group, ch, (abs(ln), se), (abs(ln_ref), se_ref), "ln ratio", text, pair)


def tail_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
              sb: SetSummary, sg: SetSummary, sigma: np.ndarray, n_boot: int,
              seed: int) -> None:
    """Peak-to-RMS distance and the rate of events beyond 4, 5, 6 x RMS per channel."""
    rng = np.random.default_rng(seed + 20)
    n_ch = len(sigma)
    for c in range(n_ch):
        ref = wasserstein_with_uncertainty(sa.ratio[:, c], sb.ratio[:, c], n_boot=n_boot,
                                           rng=rng)
        val = wasserstein_with_uncertainty(sr.ratio[:, c], sg.ratio[:, c], n_boot=n_boot,
                                           rng=rng)
        rows.add("peak_to_rms_w1", "tails", c, val, ref, "",
                 "1-Wasserstein distance of the per-event peak-to-RMS distributions")

    def count(s: SetSummary, t: float) -> np.ndarray:
        return (s.peak > t * sigma).sum(axis=0)

    for t in DEFAULT_SIGMA_THRESHOLDS:
        kr, ka, kb, kg = (count(s, t) for s in (sr, sa, sb, sg))
        for c in range(n_ch):
            ratio_row(rows, f"rate_above_{t:.0f}sigma_lnratio", "tails", c,
                       (int(kr[c]), sr.n_events, int(kg[c]), sg.n_events),
                       (int(ka[c]), sa.n_events, int(kb[c]), sb.n_events),
                       f"of events with a sample beyond {t:.0f} x real RMS")
    edges = np.linspace(1.0, 10.0, 91)
    rates = {}
    for key, s in (("real", sr), ("generated", sg)):
        k = np.stack([count(s, t) for t in DEFAULT_SIGMA_THRESHOLDS])
        lo, hi = wilson_interval(k, s.n_events)
        rates[key] = (k / s.n_events, lo, hi)
    details["peak_to_rms"] = {
        "edges": edges,
        "real": np.stack([histogram(sr.ratio[:, c], edges) for c in range(n_ch)]),
        "generated": np.stack([histogram(sg.ratio[:, c], edges) for c in range(n_ch)]),
        "thresholds_sigma": list(DEFAULT_SIGMA_THRESHOLDS),
        "real_rate": rates["real"][0], "real_rate_95": rates["real"][1:],
        "generated_rate": rates["generated"][0], "generated_rate_95": rates["generated"][1:],
    }


def _carrying_power(scan: LineScan, line: Line) -> tuple[float, float, int]:
    """Mean power (V^2) of ``line`` over the events carrying it, its error, the count."""
    p = line_event_power(scan, line)
    p = p[p > 0]
    if p.size == 0:
        return float("nan"), float("nan"), 0
    err = float(p.std(ddof=1) / math.sqrt(p.size)) if p.size > 1 else float("nan")
    return float(p.mean()), err, int(p.size)


def _power_db(a: tuple[float, float, int], x: tuple[float, float, int]) -> tuple[float, float]:
    """``10 log10(P_x / P_a)`` and its error."""
    (pa, ea, na), (px, ex, nx) = a, x
    if na == 0 or nx == 0 or not (pa > 0 and px > 0):
        return float("nan"), float("nan")
    k = 10.0 / math.log(10.0)
    rel = math.hypot(ea / pa if math.isfinite(ea) else 1.0, ex / px if math.isfinite(ex) else 1.0)
    return k * math.log(px / pa), k * rel


def line_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
              sb: SetSummary, sg: SetSummary, channels: np.ndarray,
              band: tuple[float, float]) -> None:
    """Occupancy and power of every real line in the band; lines found only in generated."""
    real_lines = detect_lines(sr.lines, band=band)
    table = []
    for line in real_lines:
        c = line.channel_index
        occ = {k: line_occupancy(s.lines, [line])[0] for k, s in
               (("r", sr), ("a", sa), ("b", sb), ("g", sg))}

        def carrying(o: Line, n: int) -> int:
            return int(round(o.occupancy * n))

        mhz = line.frequency / 1e6
        ratio_row(rows, "line_occupancy_lnratio", "lines", c,
                   (carrying(occ["r"], sr.n_events), sr.n_events,
                    carrying(occ["g"], sg.n_events), sg.n_events),
                   (carrying(occ["a"], sa.n_events), sa.n_events,
                    carrying(occ["b"], sb.n_events), sb.n_events),
                   f"of events carrying the {mhz:.1f} MHz line (occupancy)")
        power = {k: _carrying_power(s.lines, line) for k, s in
                 (("r", sr), ("a", sa), ("b", sb), ("g", sg))}
        val_db, val_err = _power_db(power["r"], power["g"])
        ref_db, ref_err = _power_db(power["a"], power["b"])
        row = rows.add("line_power_db", "lines", c, (abs(val_db), val_err),
                       (abs(ref_db), ref_err), "dB",
                       f"|generated/real mean power of the {mhz:.1f} MHz line| in dB, over "
                       f"the events carrying it (generated {val_db:+.2f} dB)")
        if row.verdict == "n/a":
            row.description += "; n/a: no generated event carries the line"
        table.append({"channel": int(channels[c]), "frequency_hz": line.frequency,
                      "occupancy_real": occ["r"].occupancy,
                      "occupancy_real_err": occ["r"].occupancy_err,
                      "occupancy_reference": occ["b"].occupancy,
                      "occupancy_generated": occ["g"].occupancy,
                      "occupancy_generated_err": occ["g"].occupancy_err,
                      "mean_power_real_v2": power["r"][0],
                      "mean_power_generated_v2": power["g"][0],
                      "power_ratio_db": val_db, "power_ratio_db_err": val_err,
                      "verdict_power": row.verdict})
    a_lines = detect_lines(sa.lines, band=band)
    extra_b = _extra_lines(detect_lines(sb.lines, band=band), a_lines, sb.lines, sa.lines)
    extra_g = _extra_lines(detect_lines(sg.lines, band=band), real_lines, sg.lines, sr.lines)
    for c in range(len(channels)):
        nb = sum(1 for ln in extra_b if ln.channel_index == c)
        ng = sum(1 for ln in extra_g if ln.channel_index == c)
        rows.add("extra_lines", "lines", c, (ng, 0.0), (nb, 0.0), "count",
                 "lines in the band found in the generated set but not in the real set")
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


def trigger_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
                 sb: SetSummary, sg: SetSummary, seed: int) -> None:
    """Trigger-score distances and rate ratios at fixed thresholds, for two triggers."""
    rng = np.random.default_rng(seed + 50)
    out: dict[str, Any] = {}
    for kind, label, unit in (("highlow", "high/low 2-of-N trigger", "RMS"),
                              ("power", "power-integration trigger", "mean power")):
        r, a, b, g = (getattr(s, kind) for s in (sr, sa, sb, sg))
        rows.add(f"{kind}_score_w1", "trigger", None,
                 wasserstein_with_uncertainty(r, g, rng=rng),
                 wasserstein_with_uncertainty(a, b, rng=rng), unit,
                 f"1-Wasserstein distance of the per-event {label} thresholds "
                 "(area between the trigger-rate curves)")
        levels = [(rate, f"{100 * rate:g}pct") for rate in TRIGGER_RATES]
        tail = TAIL_EVENTS / r.size
        if tail < min(TRIGGER_RATES):
            levels.append((tail, "tail"))
        judged = []
        for rate, tag in levels:
            thr = float(np.quantile(r, 1.0 - rate))
            counts = tuple(int((s > thr).sum()) for s in (r, a, b, g))
            ratio_row(rows, f"{kind}_rate_lnratio_at_{tag}", "trigger", None,
                       (counts[0], r.size, counts[3], g.size),
                       (counts[1], a.size, counts[2], b.size),
                       f"of the {label} above {thr:.3g} {unit} (where the real set "
                       f"triggers {100 * rate:.2g} %)")
            judged.append(thr)
        top = max(r.max(), g.max()) * 1.02
        grid = np.linspace(np.quantile(r, 0.02), top, 60)
        curve = {}
        for key, s in (("real", r), ("generated", g)):
            k = (s[None, :] > grid[:, None]).sum(axis=1)
            lo, hi = wilson_interval(k, s.size)
            curve[key] = (k / s.size, lo, hi)
        out[kind] = {"thresholds": grid, "unit": unit, "judged_thresholds": judged,
                     "real_rate": curve["real"][0], "real_lo": curve["real"][1],
                     "real_hi": curve["real"][2], "generated_rate": curve["generated"][0],
                     "generated_lo": curve["generated"][1],
                     "generated_hi": curve["generated"][2],
                     "real_max": float(r.max()), "generated_max": float(g.max())}
    details["trigger"] = out
