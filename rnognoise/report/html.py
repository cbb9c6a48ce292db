"""The self-contained HTML page of a validation report (figures embedded as base64 PNG).

Order of the page: the one verdict with its rule, the failing and warning rows with their
reasons, the sample-size limited rows, what the sample can and cannot resolve, where the
events (and the model) came from, the analysis band and why, then every row with its
limit (collapsed per channel group above four channels), the per-condition groups,
lines, memorisation, the VAE's latent map, the reference column and the figures.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..metrics.conditional import HEADLINE_METRICS, ConditionalReport, ConditionGroup
from ..metrics.fidelity import FidelityReport
from ..metrics.verdict import Verdict, final_verdict
from .figures import VERDICT_COLORS, png_base64
from .grouped import GROUPED_ABOVE, grouped_reasons, grouped_rows_table
from .provenance import model_provenance, provenance_section
from .sample_size import sample_size_section

__all__ = ["render_html"]

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#222;
max-width:1400px}
h1{margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;font-size:14px;margin:8px 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f0f0f0}td.num{text-align:right;font-family:monospace}
td.v{color:#fff;font-weight:bold;text-align:center}
.badge{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;font-weight:bold}
img{max-width:100%;border:1px solid #eee;margin:8px 0}
.small{color:#666;font-size:13px}pre{background:#f7f7f7;padding:8px;font-size:12px;
overflow-x:auto}li.fail{color:#c0392b}li.warn{color:#8a6100}
"""


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _fmt(value: float | None, err: float | None = None) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if err is None or not np.isfinite(err):
        return f"{value:.4g}"
    return f"{value:.4g} ± {err:.2g}"


def _result_cell(v: str) -> str:
    return f'<td class="v" style="background:{VERDICT_COLORS.get(v, "#888")}">{v}</td>'


def _headline_cell(h: dict[str, Any] | None) -> str:
    if not h:
        return "<td class='num'>-</td>"
    return (f"<td class='num'>{_fmt(h.get('value'))} ({_fmt(h.get('reference'))})<br>"
            f"<span class='small'>{html.escape(str(h.get('where')))}</span></td>")


def _group_row(g: ConditionGroup, n_cols: int) -> str:
    e = html.escape
    head = (f"<tr><td>{e(g.label)}</td><td class='num'>{g.n_real}</td>"
            f"<td class='num'>{g.n_generated}</td>")
    if not g.evaluated:
        return (head + _result_cell("skipped") +
                f"<td colspan='{n_cols - 4}' class='small'>skipped: {e(str(g.skipped))}</td>"
                "</tr>")
    bp = g.band_power_mean
    ratio, ratio_err = _nan(bp.get("ratio_db")), _nan(bp.get("ratio_db_err"))
    ratio_text = (f"{ratio:+.2f} ± {ratio_err:.2f}" if np.isfinite(ratio_err)
                  else _fmt(ratio)) if np.isfinite(ratio) else "n/a"
    issues = g.issues[:4] + ([f"... {len(g.issues) - 4} more"] if len(g.issues) > 4 else [])
    return (head + _result_cell(g.verdict) + f"<td class='num'>{_fmt(g.score)}</td>" +
            "".join(_headline_cell(g.headline.get(m)) for m in HEADLINE_METRICS) +
            f"<td class='num'>{_fmt(_nan(bp.get('real')) * 1e6, _nan(bp.get('real_err')) * 1e6)}"
            f"</td><td class='num'>"
            f"{_fmt(_nan(bp.get('generated')) * 1e6, _nan(bp.get('generated_err')) * 1e6)}</td>"
            f"<td class='num'>{ratio_text}</td>"
            f"<td class='small'>{'<br>'.join(e(i) for i in issues) or '-'}</td></tr>")


def _condition_section(cond: ConditionalReport, figure: Figure | None) -> list[str]:
    e = html.escape
    kinds = ", ".join(f"{name} ({cond.kinds.get(name, '?')})" for name in cond.by)
    head = ["group", "real events", "generated events", "group result", "score",
            *HEADLINE_METRICS, "band power real (mV²)", "band power generated (mV²)",
            "gen/real (dB)", "warn/fail rows"]
    parts = [
        "<h2>By condition</h2>",
        f"<p>Worst group result <b>{cond.verdict.upper()}</b> (counts in the verdict at the "
        f"top); score {_fmt(cond.score())} (worst group; mean {_fmt(cond.mean_score())}); "
        f"{len(cond.evaluated)} groups compared, {len(cond.skipped)} skipped</p>",
        f"<p class='small'>Grouped by {e(kinds)}: categories by value, lst in "
        f"{cond.lst_bins} bins of {24 / cond.lst_bins:g} h, other float columns in "
        f"{cond.bins} quantile bins of the real values. Each group with at least "
        f"{cond.min_events} events in both sets is compared on its own events against its "
        f"own real-vs-real reference{' (quick mode)' if cond.quick else ''}. Metric columns: "
        "worst row, value (real-vs-real) and where. Band power: mean over events of the "
        f"Welch PSD integrated over {cond.band[0] / 1e6:.0f}-{cond.band[1] / 1e6:.0f} MHz, "
        "averaged over the group's channels, ± standard error.</p>",
        "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>",
    ]
    parts += [_group_row(g, len(head)) for g in cond.groups]
    parts.append("</table>")
    if figure is not None:
        parts.append(f"<img alt='band power per condition' "
                     f"src='data:image/png;base64,{png_base64(figure)}'>")
    return parts


def _verdict_section(report: FidelityReport, verdict: Verdict) -> list[str]:
    e = html.escape
    v = verdict.verdict
    parts = [
        f"<p>Verdict <span class='badge' style='background:{VERDICT_COLORS[v]}'>"
        f"{v.upper()}</span> &nbsp; score <b>{report.score():.3g}</b> "
        "<span class='small'>(0 = as close as real data to itself; 1 = at the pass edge)"
        "</span></p>",
        f"<p class='small'><b>Rule.</b> {e(verdict.rule)} Parts: " +
        ", ".join(f"{e(k)} {e(x)}" for k, x in verdict.parts.items()) + ".</p>",
    ]
    if verdict.reasons:
        reasons = verdict.reasons
        head = f"{len(reasons)} rows fail or warn:"
        if len(report.channels) > GROUPED_ABOVE:
            reasons = grouped_reasons(report, reasons)
            head = (f"{len(verdict.reasons)} rows fail or warn (one line per metric and "
                    "channel group):")
        parts.append(f"<p><b>{head}</b></p><ul>" + "".join(
            f"<li class='{'fail' if r.startswith('fail') else 'warn'}'>{e(r)}</li>"
            for r in reasons) + "</ul>")
    else:
        parts.append("<p>No row fails or warns.</p>")
    if verdict.limited:
        parts.append(f"<details><summary><b>{len(verdict.limited)} passing rows are "
                     "sample-size limited</b> (a difference that matters could pass unseen)"
                     "</summary><ul>" + "".join(f"<li class='small'>{e(x)}</li>"
                                                for x in verdict.limited) + "</ul></details>")
    return parts


def _rows_table(report: FidelityReport, reference: FidelityReport | None) -> list[str]:
    e = html.escape
    ref_rows = {}
    if reference is not None:
        ref_rows = {(r.name, r.where): r for r in reference.rows}
    ref_head = "<th>NuRadioMC generic noise</th>" if reference is not None else ""
    parts = ["<table><tr><th>group</th><th>metric</th><th>where</th><th>value</th>"
             f"<th>real-vs-real</th>{ref_head}<th>pass limit</th><th>unit</th><th>result</th>"
             "<th>why</th><th>description</th></tr>"]
    for r in report.rows:
        ref_cell = ""
        if reference is not None:
            o = ref_rows.get((r.name, r.where))
            ref_cell = ("<td class='num'>-</td>" if o is None else
                        f"<td class='num'>{_fmt(o.value, o.uncertainty)} ({e(o.verdict)})</td>")
        result = r.verdict + (" (limited)" if r.limited and r.verdict == "pass" else "")
        parts.append(
            f"<tr><td>{e(r.group)}</td><td>{e(r.name)}</td><td>{e(r.where)}</td>"
            f"<td class='num'>{_fmt(r.value, r.uncertainty)}</td>"
            f"<td class='num'>{_fmt(r.reference, r.reference_uncertainty)}</td>{ref_cell}"
            f"<td class='num'>{_fmt(r.limit_pass)}</td>"
            f"<td>{e(r.unit)}</td>{_result_cell(r.verdict).replace(f'>{r.verdict}<', f'>{result}<')}"
            f"<td class='small'>{e(r.reason)}</td><td class='small'>{e(r.description)}</td></tr>")
    parts.append("</table>")
    return parts


def _lines_section(report: FidelityReport) -> list[str]:
    lines = report.details.get("lines", [])
    lo, hi = report.band[0] / 1e6, report.band[1] / 1e6
    parts = [f"<h2>Narrow-band lines found in the real data ({lo:.0f}-{hi:.0f} MHz)</h2>"]
    if lines:
        parts.append("<table><tr><th>channel</th><th>frequency (MHz)</th>"
                     "<th>occupancy real</th><th>occupancy real half B</th>"
                     "<th>occupancy generated</th><th>mean power real (mV²)</th>"
                     "<th>mean power generated (mV²)</th><th>power gen/real (dB)</th>"
                     "<th>power result</th></tr>")
        for ln in lines:
            gen_occ = _fmt(ln["occupancy_generated"], ln["occupancy_generated_err"])
            parts.append(
                f"<tr><td>{ln['channel']}</td><td class='num'>{ln['frequency_hz'] / 1e6:.1f}"
                f"</td><td class='num'>{_fmt(ln['occupancy_real'], ln['occupancy_real_err'])}"
                f"</td><td class='num'>{_fmt(ln['occupancy_reference'])}</td>"
                f"<td class='num'>{gen_occ}</td>"
                f"<td class='num'>{_fmt(_nan(ln['mean_power_real_v2']) * 1e6)}</td>"
                f"<td class='num'>{_fmt(_nan(ln['mean_power_generated_v2']) * 1e6)}</td>"
                f"<td class='num'>{_fmt(ln['power_ratio_db'], ln['power_ratio_db_err'])}</td>"
                f"{_result_cell(str(ln['verdict_power']))}</tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No line in the band reaches the minimum occupancy in the real "
                     "data.</p>")
    extra = report.details.get("extra_lines_generated", [])
    if extra:
        parts.append("<p>Lines in the generated data only: " + ", ".join(
            f"ch {x['channel']} {x['frequency_hz'] / 1e6:.1f} MHz ({x['occupancy']:.1%})"
            for x in extra) + "</p>")
    return parts


def _memorisation_section(report: FidelityReport) -> list[str]:
    m = report.details.get("memorisation")
    if not m:
        return []
    e = html.escape
    return ["<h2>Memorisation</h2>",
            f"<p>{100 * m['closer_fraction']:.1f} ± {100 * m['closer_fraction_err']:.1f} % of "
            f"{m['n_generated']} generated events are nearer to one of {m['n_training']} "
            f"training events than the {100 * m['expected']:.0f} % point of the held-out "
            f"distances ({m['n_heldout']} events; {e(m['mode'])}); expected about "
            f"{100 * m['expected']:.0f} % for a model that draws new events. Median "
            f"distance ratio generated / held-out {m['median_ratio']:.3g}.</p>",
            f"<p class='small'>{e(m['note'])}. Embedding: whitened in-band log periodograms "
            "of every channel, projected to 256 dimensions.</p>"]


def _latent_section(report: FidelityReport) -> list[str]:
    m = report.details.get("latent")
    if not m:
        return []
    from .latent import separation_line

    e = html.escape
    counts = ", ".join(f"{k} {v}" for k, v in m["counts"].items())
    recall = ", ".join(f"{k} {v:.0%}" for k, v in (m.get("recall") or {}).items())
    return ["<h2>VAE latent space</h2>",
            f"<p><b>{e(separation_line(m))}.</b></p>",
            f"<p class='small'>{m['n_events']} real events encoded (latent means, "
            f"{m['latent_dim']} dimensions); classes ({e(counts)}) {e(m['class_rule'])}."
            + (f" Recall per class: {e(recall)}." if recall else "") + " The map below shows "
            f"the {e(m['projection'])}.</p>"]


def render_html(report: FidelityReport, figures: list[tuple[str, Figure]], *,
                by_condition: ConditionalReport | None = None,
                by_condition_figure: Figure | None = None,
                reference: FidelityReport | None = None) -> str:
    """The self-contained HTML page of a report with its figures embedded.

    With ``by_condition`` a per-condition section (table and ``by_condition_figure``)
    follows the rows; with ``reference`` (a :class:`FidelityReport` of NuRadioMC noise
    against the same real data) every row shows the reference's value beside the model's.
    The page states one verdict (:func:`~rnognoise.metrics.final_verdict`).
    """
    e = html.escape
    verdict = final_verdict(report, by_condition)
    s = report.sizes
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>rnognoise noise-fidelity report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Noise-fidelity report</h1>",
        *_verdict_section(report, verdict),
        *sample_size_section(report),
        *provenance_section(report.provenance_real.get("events"), model_provenance(
            (report.provenance_generated.get("attrs") or {}).get("model_metadata"))),
        f"<p class='small'>real: {e(str(report.provenance_real.get('source')))} "
        f"({s['real']} events; halves of {s['real_half_a']} / {s['real_half_b']} for the "
        f"real-vs-real reference); generated: "
        f"{e(str(report.provenance_generated.get('source')))} ({s['generated_used']} events "
        f"compared); sampling rate {report.sampling_rate / 1e9:.4g} GHz; seed "
        f"{report.seed}</p>",
        f"<p><b>Analysis band {report.band[0] / 1e6:.0f}-{report.band[1] / 1e6:.0f} MHz</b>"
        f" <span class='small'>({e(report.band_reason)})</span></p>",
    ]
    if reference is not None:
        parts.append(f"<p><b>Reference column:</b> {e(str(reference.provenance_generated.get('source')))}"
                     f" against the same real data: result {reference.verdict.upper()}, "
                     f"score {reference.score():.3g} (the model: {report.score():.3g}).</p>")
    parts += ["<h2>Every row</h2>",
              "<p class='small'>value = all real events against all generated events; "
              "real-vs-real = real half A against half B. Each row passes up to its pass "
              "limit (centre + max(k × spread, floor)); 'why' gives the numbers. Thresholds: "
              "docs/validation.md.</p>",
              *(_rows_table(report, reference) if len(report.channels) <= GROUPED_ABOVE
                else grouped_rows_table(report, reference))]
    if report.warnings:
        parts.append("<p><b>Warnings:</b></p><ul>" +
                     "".join(f"<li>{e(w)}</li>" for w in report.warnings) + "</ul>")
    if by_condition is not None:
        parts += _condition_section(by_condition, by_condition_figure)
    parts += _lines_section(report)
    parts += _memorisation_section(report)
    parts += _latent_section(report)
    for title, fig in figures:
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' "
                     f"src='data:image/png;base64,{png_base64(fig)}'>")
    parts.append("<h2>Provenance (as recorded)</h2>")
    for label, prov in (("real", report.provenance_real),
                        ("generated", report.provenance_generated)):
        parts.append(f"<h3>{label}</h3><pre>{e(json.dumps(prov, indent=1, default=str))}"
                     "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
