"""What the real sample can and cannot resolve, stated at the top of a report.

A report of 100 real events (the public station-24 sample) passes many rows only because
their uncertainties are wide. :func:`sample_size_summary` collects, from the rows
themselves, the sample-size limited rows (with the smallest difference each resolves
against the difference that matters), the rows that could not be computed at this size,
and the small-sample warnings; :func:`sample_size_section` renders them as HTML.
"""

from __future__ import annotations

import html
import math
from typing import Any

from ..metrics.fidelity import FidelityReport
from ..metrics.thresholds import threshold

__all__ = ["SMALL_SAMPLE_EVENTS", "sample_size_section", "sample_size_summary"]

#: Below this many real events a report calls its sample small in the heading (the
#: classifier test needs 100 events per class, the Frechet distance 200 per half, and
#: trigger-rate rows at 1 % need a few real events above threshold).
SMALL_SAMPLE_EVENTS = 500


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "n/a"


def sample_size_summary(report: FidelityReport) -> dict[str, Any]:
    """Sizes, limited rows per metric, rows not computable and warnings, JSON-ready.

    Returns
    -------
    dict
        ``n_real``, ``n_half``, ``n_generated``, ``small`` (fewer than
        :data:`SMALL_SAMPLE_EVENTS` real events), ``min_rate`` (3 / n_real: the smallest
        event fraction the real set measures with 3 events), ``limited`` (per metric:
        ``rows``, ``where``, ``resolves`` (smallest and largest difference resolved),
        ``matters_from`` (the warn floor), ``unit``), ``not_computed`` (per metric: where
        and why) and ``warnings``.
    """
    s = report.sizes
    n_real = int(s.get("real", 0))
    limited: dict[str, dict[str, Any]] = {}
    not_computed: dict[str, dict[str, Any]] = {}
    for r in report.rows:
        if r.limited:
            resolves = r.limit_pass - r.centre
            e = limited.setdefault(r.name, {"rows": 0, "where": [], "resolves": [math.inf,
                                   -math.inf], "matters_from": threshold(r.name).floor_warn,
                                   "unit": r.unit, "verdicts": []})
            e["rows"] += 1
            e["where"].append(r.where)
            e["verdicts"].append(r.verdict)
            e["resolves"] = [min(e["resolves"][0], resolves), max(e["resolves"][1], resolves)]
        elif r.verdict == "n/a":
            e = not_computed.setdefault(r.name, {"where": [], "why": r.description})
            e["where"].append(r.where)
    return {"n_real": n_real, "n_half": [int(s.get("real_half_a", 0)),
                                         int(s.get("real_half_b", 0))],
            "n_generated": int(s.get("generated_used", s.get("generated", 0))),
            "small": n_real < SMALL_SAMPLE_EVENTS,
            "min_rate": 3.0 / n_real if n_real else float("nan"),
            "limited": limited, "not_computed": not_computed,
            "warnings": list(report.warnings)}


def _where(places: list[str]) -> str:
    return ", ".join(places[:6]) + (f", ... ({len(places)} in all)" if len(places) > 6 else "")


def sample_size_section(report: FidelityReport) -> list[str]:
    """HTML: the sample's size and what it can and cannot resolve (empty when it resolves
    everything that matters and nothing was left uncomputed)."""
    e = html.escape
    info = sample_size_summary(report)
    if not (info["limited"] or info["not_computed"] or info["small"]):
        return []
    n, (ha, hb) = info["n_real"], info["n_half"]
    head = "Small sample" if info["small"] else "Sample size"
    parts = [f"<h2>{head}: what {n} real events can and cannot resolve</h2>",
             f"<p>Every value is shown with its standard error (±) and beside the real-vs-real "
             f"reference of two halves of {ha} and {hb} events, compared here with "
             f"{info['n_generated']} generated events. The real set measures event fractions "
             f"down to about 3/{n} = {_fmt(100 * info['min_rate'])} % (3 events); rarer "
             "behaviour (tails beyond that rate, trigger rates below it) is not tested by "
             "this sample, whatever the rows say.</p>"]
    if info["limited"]:
        items = []
        for name, x in info["limited"].items():
            lo, hi = x["resolves"]
            span = _fmt(lo) if math.isclose(lo, hi, rel_tol=0.05) else f"{_fmt(lo)}-{_fmt(hi)}"
            bad = [v for v in x["verdicts"] if v in ("warn", "fail")]
            note = f"; {len(bad)} of them fail or warn even so" if bad else ""
            unit = f" {x['unit']}" if x["unit"] and x["unit"] != "-" else ""
            rows = f"{x['rows']} row{'s' if x['rows'] > 1 else ''}"
            items.append(f"<li><b>{e(name)}</b> ({rows}: {e(_where(x['where']))}): "
                         f"resolves only differences above {e(span)}{e(unit)}, a "
                         f"difference matters from {_fmt(x['matters_from'])}{e(note)}</li>")
        parts.append(f"<p><b>Sample-size limited ({sum(x['rows'] for x in info['limited'].values())}"
                     " rows).</b> A pass in these rows does not mean the model is right: a "
                     "difference that matters could pass unseen. More real events narrow "
                     "them (the limits shrink as 1/sqrt(N)).</p><ul>" + "".join(items) +
                     "</ul>")
    if info["not_computed"]:
        parts.append("<p><b>Not computed at this size.</b></p><ul>" + "".join(
            f"<li><b>{e(name)}</b> ({e(_where(x['where']))}): {e(x['why'])}</li>"
            for name, x in info["not_computed"].items()) + "</ul>")
    if info["warnings"]:
        parts.append("<p><b>Small-sample warnings.</b></p><ul>" + "".join(
            f"<li class='small'>{e(w)}</li>" for w in info["warnings"]) + "</ul>")
    if not info["limited"] and not info["not_computed"]:
        parts.append("<p>No row is sample-size limited at this size.</p>")
    return parts
