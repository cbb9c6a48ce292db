"""Plots and a self-contained HTML (and optional PDF) report of a :class:`FidelityReport`.

The HTML page embeds every figure as a base64 PNG and carries its own CSS, so it can
be mailed or archived as one file. Figures use matplotlib's ``Agg`` backend. With a
:class:`~rnognoise.metrics.ConditionalReport` the page gains a per-condition section
(one row per group and a band-power figure) and metrics.json a ``by_condition`` key.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .conditions import LST
from .errors import DataFileError
from .fileutil import atomic_output, check_writable
from .metrics.compare import FidelityReport
from .metrics.conditional import HEADLINE_METRICS, ConditionalReport, ConditionGroup

__all__ = ["check_report_dir", "condition_figure", "make_figures", "render_html",
           "write_report"]

REAL_COLOR = "#1f4e9c"
GEN_COLOR = "#d9541e"
VERDICT_COLORS = {"pass": "#2e8b3d", "warn": "#d99a00", "fail": "#c0392b", "n/a": "#888888"}

_STYLE = {
    "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
    "xtick.labelsize": 11, "ytick.labelsize": 11, "axes.grid": True, "grid.alpha": 0.3,
    "figure.dpi": 100,
}


def check_report_dir(directory: str | os.PathLike[str], *, force: bool = False,
                     pdf: bool = False) -> Path:
    """Create ``directory`` if needed and check its report files may be written.

    Raises
    ------
    DataFileError
        If the folder cannot be created or written.
    OutputExistsError
        If a report file exists and ``force`` is false.
    """
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(d, f"cannot create the report folder ({exc.strerror})") from None
    if not d.is_dir():
        raise DataFileError(d, "is not a folder")
    if not os.access(d, os.W_OK):
        raise DataFileError(d, "report folder is not writable")
    for name in _report_files(pdf):
        check_writable(d / name, force=force)
    return d


def _report_files(pdf: bool) -> list[str]:
    return ["metrics.json", "report.html"] + (["report.pdf"] if pdf else [])


def _mhz(f: np.ndarray) -> np.ndarray:
    return np.asarray(f) / 1e6


def _channel_figure(report: FidelityReport, c: int) -> Figure:
    d = report.details
    ch = report.channels[c]
    sigma_mv = float(d["sigma_volts"][c]) * 1e3
    fig = plt.figure(figsize=(15, 10))
    fig.suptitle(f"Channel {ch}  (real RMS {sigma_mv:.2f} mV)", fontsize=15, weight="bold")
    outer = fig.add_gridspec(2, 1, height_ratios=[1.05, 1], hspace=0.3, left=0.06,
                             right=0.98, top=0.93, bottom=0.06)
    gs = outer[0].subgridspec(4, 3, hspace=0.08, wspace=0.28)
    gs2 = outer[1].subgridspec(2, 3, hspace=0.45, wspace=0.28)
    top = bottom = fig
    ax_psd = top.add_subplot(gs[:3, 0])
    ax_ratio = top.add_subplot(gs[3, 0], sharex=ax_psd)
    psd = d["psd"]
    f = _mhz(psd["frequencies_hz"])
    to_db = 10 * np.log10(np.maximum(np.asarray(psd["real_mean"])[c], 1e-300) * 1e6)
    gen_db = 10 * np.log10(np.maximum(np.asarray(psd["generated_mean"])[c], 1e-300) * 1e6)
    for key, color, label, mean_db in (("real", REAL_COLOR, "real", to_db),
                                       ("generated", GEN_COLOR, "generated", gen_db)):
        q = np.asarray(psd[f"{key}_quantiles"])[:, c]
        ax_psd.fill_between(f, 10 * np.log10(np.maximum(q[0], 1e-300) * 1e6),
                            10 * np.log10(np.maximum(q[2], 1e-300) * 1e6), color=color,
                            alpha=0.2, lw=0, label=f"{label} 15-85 %")
        ax_psd.plot(f, mean_db, color=color, lw=1.6, label=f"{label} mean")
    lo, hi = _mhz(report.band)
    for ax in (ax_psd, ax_ratio):
        ax.axvspan(lo, hi, color="0.85", alpha=0.35, lw=0, zorder=0)
    ax_psd.set_ylabel("PSD (dB re V²/MHz)")
    ax_psd.set_title("Power spectral density (Welch)")
    finite = to_db[np.isfinite(to_db)]
    if finite.size:
        ax_psd.set_ylim(finite.max() - 60, finite.max() + 8)
    ax_psd.legend(loc="lower center", ncol=2)
    plt.setp(ax_psd.get_xticklabels(), visible=False)
    ratio = gen_db - to_db
    ax_ratio.plot(f, ratio, color="k", lw=1.2)
    ax_ratio.axhline(0, color="0.4", lw=0.8)
    ax_ratio.set_ylim(-3, 3)
    ax_ratio.set_xlabel("frequency (MHz)")
    ax_ratio.set_ylabel("gen/real (dB)")
    ax_ratio.set_xlim(f[0], f[-1])

    ax_amp = top.add_subplot(gs[:, 1])
    h = d["amplitude_hist"]
    edges = np.asarray(h["edges_sigma"]) * sigma_mv
    centres = 0.5 * (edges[1:] + edges[:-1])
    for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
        counts = np.asarray(h[key])[c].astype(float)
        dens = counts / max(counts.sum(), 1) / np.diff(edges)
        ax_amp.step(centres, np.where(dens > 0, dens, np.nan), where="mid", color=color,
                    lw=1.5, label=key)
    ax_amp.set_yscale("log")
    ax_amp.set_xlabel("voltage (mV)")
    ax_amp.set_ylabel("density (1/mV)")
    ax_amp.set_title("Sample values (±10 RMS; outer bins hold overflow)")
    ax_amp.legend()

    ax_pk = top.add_subplot(gs[:, 2])
    p = d["peak_to_rms"]
    pe = np.asarray(p["edges"])
    for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
        counts = np.asarray(p[key])[c].astype(float)
        ax_pk.stairs(counts / max(counts.sum(), 1), pe, color=color, lw=1.5, label=key)
    ax_pk.set_yscale("log")
    ax_pk.set_xlabel("peak / RMS of the trace")
    ax_pk.set_ylabel("fraction of events")
    ax_pk.set_title("Peak-to-RMS per event")
    rates = [f"{t:.0f}σ: {p['real_rate'][i][c]:.2%} / {p['generated_rate'][i][c]:.2%}"
             for i, t in enumerate(p["thresholds_sigma"])]
    ax_pk.text(0.97, 0.97, "events above (real / gen)\n" + "\n".join(rates),
               transform=ax_pk.transAxes, ha="right", va="top", fontsize=10,
               bbox={"fc": "white", "ec": "0.7"})
    ax_pk.legend(loc="lower left")

    ax_bl = bottom.add_subplot(gs2[:, 0])
    if "block_spread" in d:
        b = d["block_spread"]
        for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
            counts = np.asarray(b[key])[c].astype(float)
            ax_bl.stairs(counts / max(counts.sum(), 1), np.asarray(b["edges"]), color=color,
                         lw=1.5, label=key)
        ax_bl.legend()
    ax_bl.set_xlabel("std of 128-sample block means / real RMS")
    ax_bl.set_ylabel("fraction of events")
    ax_bl.set_title("Digitizer block structure")
    ex = d.get("examples", {})
    for row, key, color in ((0, "real", REAL_COLOR), (1, "generated", GEN_COLOR)):
        traces = np.asarray(ex.get(key, np.zeros((0, 1, 1))))
        for col in range(2):
            ax = bottom.add_subplot(gs2[row, 1 + col])
            if col < len(traces):
                t_ns = np.arange(traces.shape[-1]) / report.sampling_rate * 1e9
                ax.plot(t_ns, traces[col, c] * 1e3, color=color, lw=0.7)
                ax.set_xlim(t_ns[0], t_ns[-1])
            ax.set_title(f"{key} event {col + 1}", fontsize=11)
            ax.set_ylim(-6 * sigma_mv, 6 * sigma_mv)
            if row == 1:
                ax.set_xlabel("time (ns)")
            if col == 0:
                ax.set_ylabel("voltage (mV)")
    return fig


def _xcorr_figure(report: FidelityReport) -> Figure | None:
    d = report.details
    if "xcorr" not in d:
        return None
    x = d["xcorr"]
    pairs = x["pairs"]
    n = len(pairs)
    ncol = min(n, 4) + 1
    nrow = int(np.ceil(n / (ncol - 1)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 3.4 * nrow + 0.8),
                             squeeze=False, gridspec_kw={"wspace": 0.3, "hspace": 0.45})
    fig.subplots_adjust(left=0.06, right=0.97, top=1 - 0.75 / (3.4 * nrow + 0.8),
                        bottom=0.55 / (3.4 * nrow + 0.8) + 0.08)
    edges = np.asarray(x["edges"])
    for k, (i, j) in enumerate(pairs):
        ax = axes[k // (ncol - 1), k % (ncol - 1)]
        for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
            counts = np.asarray(x[key])[k].astype(float)
            ax.stairs(counts / max(counts.sum(), 1), edges, color=color, lw=1.5, label=key)
        ax.set_title(f"ch {i} × ch {j}")
        ax.set_xlabel("max |normalised xcorr|, ±20 ns")
        if k % (ncol - 1) == 0:
            ax.set_ylabel("fraction of events")
    axes[0, 0].legend()
    for k in range(n, nrow * (ncol - 1)):
        axes[k // (ncol - 1), k % (ncol - 1)].axis("off")
    corr = d["correlation"]
    diff = np.asarray(corr["generated"]) - np.asarray(corr["real"])
    ax = axes[0, -1]
    lim = max(0.05, float(np.nanmax(np.abs(diff))))
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ticks = range(len(report.channels))
    ax.set_xticks(ticks, report.channels)
    ax.set_yticks(ticks, report.channels)
    ax.set_title("zero-lag corr.: gen − real")
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)
    for r in range(1, nrow):
        axes[r, -1].axis("off")
    fig.suptitle("Cross-channel correlation", fontsize=15, weight="bold")
    return fig


def _trigger_figure(report: FidelityReport) -> Figure | None:
    t = report.details.get("trigger")
    if not t:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.12, wspace=0.22)
    titles = {"highlow": ("High/low trigger, 2 of N channels in 20 ns", "threshold (× RMS)"),
              "power": ("Power-integration trigger (10 ns, any channel)",
                        "threshold (× mean power)")}
    for ax, (kind, (title, xlabel)) in zip(axes, titles.items(), strict=True):
        c = t[kind]
        thr = np.asarray(c["thresholds"])
        for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
            rate = np.asarray(c[f"{key}_rate"], float)
            err = np.asarray(c[f"{key}_err"], float)
            ax.plot(thr, np.where(rate > 0, rate, np.nan), color=color, lw=1.6, label=key)
            ax.fill_between(thr, np.maximum(rate - err, 1e-6), rate + err, where=rate > 0,
                            color=color, alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(1e-5, 0.3 / max(report.sizes.get("generated_used", 1), 1)))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of events triggering")
        ax.set_title(title)
        ax.legend()
    fig.suptitle("Noise trigger rates", fontsize=15, weight="bold")
    return fig


def make_figures(report: FidelityReport) -> list[tuple[str, Figure]]:
    """All report figures as ``(title, figure)``: per channel, cross-channel, triggers."""
    with plt.rc_context(_STYLE):
        figs: list[tuple[str, Figure]] = []
        for c, ch in enumerate(report.channels):
            figs.append((f"Channel {ch}", _channel_figure(report, c)))
        xf = _xcorr_figure(report)
        if xf is not None:
            figs.append(("Cross-channel correlation", xf))
        tf = _trigger_figure(report)
        if tf is not None:
            figs.append(("Trigger rates", tf))
    return figs


def condition_figure(cond: ConditionalReport) -> Figure | None:
    """Band power per group, real vs generated, and the generated/real ratio per channel.

    Top: the band power averaged over each group's channels (mV², standard errors of the
    mean over events); for a single ``lst`` condition a line versus the LST bin centre,
    with the bins shaded by verdict. Bottom: ``10 log10(generated / real)`` band power per
    channel and group. None when no group was compared.
    """
    groups = cond.evaluated
    if not groups:
        return None
    n = len(groups)
    labels = [g.label for g in groups]
    single_lst = cond.by == [LST]
    chans = cond.channels
    with plt.rc_context(_STYLE):
        fig, (ax_p, ax_r) = plt.subplots(
            2, 1, figsize=(max(9.0, 0.75 * n + 4.0), 5.0 + max(3.0, 0.3 * len(chans) + 1.5)),
            height_ratios=[5.0, max(3.0, 0.3 * len(chans) + 1.5)], layout="constrained")
        x = (np.array([0.5 * (g.values[LST][0] + g.values[LST][1]) for g in groups])
             if single_lst else np.arange(n, dtype=float))
        for key, color, marker in (("real", REAL_COLOR, "o"), ("generated", GEN_COLOR, "s")):
            y = np.array([_nan(g.band_power_mean.get(key)) for g in groups]) * 1e6
            err = np.array([_nan(g.band_power_mean.get(f"{key}_err")) for g in groups]) * 1e6
            ax_p.errorbar(x, y, yerr=np.nan_to_num(err), color=color, marker=marker, ms=6,
                          ls="-" if single_lst else "none", capsize=3, lw=1.5, label=key)
        lo, hi = cond.band[0] / 1e6, cond.band[1] / 1e6
        ax_p.set_title(f"Band power {lo:.0f}-{hi:.0f} MHz per group")
        ax_p.set_ylabel("mean over channels (mV²)")
        if single_lst:
            for g in groups:
                ax_p.axvspan(g.values[LST][0], g.values[LST][1], lw=0, alpha=0.12,
                             color=VERDICT_COLORS.get(g.verdict, "#888"))
            ax_p.set_xlim(0.0, 24.0)
            ax_p.set_xticks(np.arange(0, 25, 3))
            ax_p.set_xlabel("local sidereal time (h); shading: verdict of the bin")
        else:
            ax_p.set_xticks(x, labels, rotation=30, ha="right")
            ax_p.set_xlim(-0.6, n - 0.4)
            for tick, g in zip(ax_p.get_xticklabels(), groups, strict=True):
                tick.set_color(VERDICT_COLORS.get(g.verdict, "#888"))
        ax_p.legend()
        ratio = np.full((len(chans), n), np.nan)
        for j, g in enumerate(groups):
            for c, r in zip(g.channels, g.band_power.get("ratio_db", []), strict=False):
                ratio[chans.index(c), j] = _nan(r)
        finite = ratio[np.isfinite(ratio)]
        lim = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
        im = ax_r.imshow(ratio, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                         interpolation="nearest")
        if ratio.size <= 400:
            for (i, j), v in np.ndenumerate(ratio):
                if np.isfinite(v):
                    ax_r.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=8,
                              color="white" if abs(v) > 0.6 * lim else "black")
        ax_r.set_yticks(range(len(chans)), [f"ch {c}" for c in chans])
        ax_r.set_xticks(range(n), labels, rotation=30, ha="right")
        ax_r.grid(False)
        ax_r.set_title("Generated / real band power per channel (dB)")
        fig.colorbar(im, ax=ax_r, label="dB")
        fig.suptitle(f"Per condition: {', '.join(cond.by)}", fontsize=15, weight="bold")
    return fig


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _png_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
overflow-x:auto}
"""


def _fmt(value: float | None, err: float | None = None) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if err is None or not np.isfinite(err):
        return f"{value:.4g}"
    return f"{value:.4g} ± {err:.2g}"


def _verdict_cell(v: str) -> str:
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
        return (head + _verdict_cell("skipped") +
                f"<td colspan='{n_cols - 4}' class='small'>skipped: {e(str(g.skipped))}</td>"
                "</tr>")
    bp = g.band_power_mean
    ratio = _nan(bp.get("ratio_db"))
    ratio_err = _nan(bp.get("ratio_db_err"))
    ratio_text = (f"{ratio:+.2f} ± {ratio_err:.2f}" if np.isfinite(ratio_err)
                  else _fmt(ratio)) if np.isfinite(ratio) else "n/a"
    issues = g.issues[:4] + ([f"... {len(g.issues) - 4} more"] if len(g.issues) > 4 else [])
    return (head + _verdict_cell(g.verdict) + f"<td class='num'>{_fmt(g.score)}</td>" +
            "".join(_headline_cell(g.headline.get(m)) for m in HEADLINE_METRICS) +
            f"<td class='num'>{_fmt(_nan(bp.get('real')) * 1e6, _nan(bp.get('real_err')) * 1e6)}"
            f"</td><td class='num'>"
            f"{_fmt(_nan(bp.get('generated')) * 1e6, _nan(bp.get('generated_err')) * 1e6)}</td>"
            f"<td class='num'>{ratio_text}</td>"
            f"<td class='small'>{'<br>'.join(e(i) for i in issues) or '-'}</td></tr>")


def _condition_section(cond: ConditionalReport, figure: Figure | None) -> list[str]:
    e = html.escape
    verdict = cond.verdict
    kinds = ", ".join(f"{name} ({cond.kinds.get(name, '?')})" for name in cond.by)
    head = ["group", "real events", "generated events", "verdict", "score",
            *HEADLINE_METRICS, "band power real (mV²)", "band power generated (mV²)",
            "gen/real (dB)", "warn/fail rows"]
    parts = [
        "<h2>By condition</h2>",
        f"<p>Verdict <span class='badge' style='background:{VERDICT_COLORS[verdict]}'>"
        f"{verdict.upper()}</span> &nbsp; score <b>{_fmt(cond.score())}</b> "
        f"(worst group; mean {_fmt(cond.mean_score())}) &nbsp; "
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
                     f"src='data:image/png;base64,{_png_base64(figure)}'>")
    return parts


def render_html(report: FidelityReport, figures: list[tuple[str, Figure]], *,
                by_condition: ConditionalReport | None = None,
                by_condition_figure: Figure | None = None) -> str:
    """The self-contained HTML page of a report with its figures embedded.

    With ``by_condition`` a per-condition section (table and ``by_condition_figure``)
    follows the summary.
    """
    e = html.escape
    verdict = report.verdict
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>rnognoise noise-fidelity report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Noise-fidelity report</h1>",
        f"<p>Verdict <span class='badge' style='background:{VERDICT_COLORS[verdict]}'>"
        f"{verdict.upper()}</span> &nbsp; score <b>{report.score():.3g}</b> "
        "<span class='small'>(0 = as close as real data to itself; 1 = at the pass edge)"
        "</span></p>",
        f"<p class='small'>real: {e(str(report.provenance_real.get('source')))} "
        f"({report.sizes['real']} events); generated: "
        f"{e(str(report.provenance_generated.get('source')))} "
        f"({report.sizes['generated']} events); compared: real halves of "
        f"{report.sizes['real_half_a']} / {report.sizes['real_half_b']} events, "
        f"{report.sizes['generated_used']} generated events; band "
        f"{report.band[0] / 1e6:.0f}-{report.band[1] / 1e6:.0f} MHz; sampling rate "
        f"{report.sampling_rate / 1e9:.4g} GHz; seed {report.seed}</p>",
        "<h2>Summary</h2>",
        "<p class='small'>value = distance(real half A, generated); real-vs-real = "
        "distance(real half A, real half B) from the same sample sizes. "
        "Thresholds: docs/validation.md.</p>",
        "<table><tr><th>group</th><th>metric</th><th>where</th><th>value</th>"
        "<th>real-vs-real</th><th>unit</th><th>verdict</th><th>description</th></tr>",
    ]
    for r in report.rows:
        parts.append(
            f"<tr><td>{e(r.group)}</td><td>{e(r.name)}</td><td>{e(r.where)}</td>"
            f"<td class='num'>{_fmt(r.value, r.uncertainty)}</td>"
            f"<td class='num'>{_fmt(r.reference, r.reference_uncertainty)}</td>"
            f"<td>{e(r.unit)}</td>{_verdict_cell(r.verdict)}<td>{e(r.description)}</td></tr>")
    parts.append("</table>")
    if report.warnings:
        parts.append("<p><b>Warnings:</b></p><ul>" +
                     "".join(f"<li>{e(w)}</li>" for w in report.warnings) + "</ul>")
    if by_condition is not None:
        parts += _condition_section(by_condition, by_condition_figure)
    lines = report.details.get("lines", [])
    parts.append("<h2>Narrow-band lines found in the real data</h2>")
    if lines:
        parts.append("<table><tr><th>channel</th><th>frequency (MHz)</th>"
                     "<th>occupancy real</th><th>occupancy real half B</th>"
                     "<th>occupancy generated</th><th>mean power real (mV²)</th>"
                     "<th>mean power generated (mV²)</th></tr>")
        for ln in lines:
            gen_occ = _fmt(ln["occupancy_generated"], ln["occupancy_generated_err"])
            parts.append(
                f"<tr><td>{ln['channel']}</td><td class='num'>{ln['frequency_hz'] / 1e6:.1f}"
                f"</td><td class='num'>{_fmt(ln['occupancy_real'], ln['occupancy_real_err'])}"
                f"</td><td class='num'>{_fmt(ln['occupancy_reference'])}</td>"
                f"<td class='num'>{gen_occ}</td>"
                f"<td class='num'>{_fmt(ln['mean_power_real_v2'] * 1e6)}</td>"
                f"<td class='num'>{_fmt(ln['mean_power_generated_v2'] * 1e6)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No line reaches the minimum occupancy in the real data.</p>")
    extra = report.details.get("extra_lines_generated", [])
    if extra:
        parts.append("<p>Lines in the generated data only: " + ", ".join(
            f"ch {x['channel']} {x['frequency_hz'] / 1e6:.1f} MHz ({x['occupancy']:.1%})"
            for x in extra) + "</p>")
    for title, fig in figures:
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' "
                     f"src='data:image/png;base64,{_png_base64(fig)}'>")
    parts.append("<h2>Provenance</h2>")
    for label, prov in (("real", report.provenance_real),
                        ("generated", report.provenance_generated)):
        parts.append(f"<h3>{label}</h3><pre>{e(json.dumps(prov, indent=1, default=str))}"
                     "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: FidelityReport, directory: str | os.PathLike[str], *,
                 force: bool = False, pdf: bool = False,
                 by_condition: ConditionalReport | None = None) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.html`` (and ``report.pdf``) into ``directory``.

    Parameters
    ----------
    report : FidelityReport
        From :func:`rnognoise.metrics.compare`.
    directory : str or os.PathLike
        Report folder (created if missing).
    force : bool
        Overwrite existing report files.
    pdf : bool
        Also write every figure, one per page, to ``report.pdf`` (matplotlib PdfPages).
    by_condition : ConditionalReport, optional
        From :func:`rnognoise.metrics.compare_by_condition`: adds the per-condition
        section to the page (and its figure to the PDF) and its
        :meth:`~ConditionalReport.to_dict` under ``"by_condition"`` in metrics.json.

    Returns
    -------
    dict
        ``{"json": path, "html": path[, "pdf": path]}``.
    """
    d = check_report_dir(directory, force=force, pdf=pdf)
    out = {"json": d / "metrics.json", "html": d / "report.html"}
    if by_condition is None:
        report.to_json(out["json"], force=force)
    else:
        data = report.to_dict()
        data["by_condition"] = by_condition.to_dict()
        with atomic_output(out["json"], force=force) as tmp:
            tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    figures = make_figures(report)
    cond_fig = condition_figure(by_condition) if by_condition is not None else None
    try:
        page = render_html(report, figures, by_condition=by_condition,
                           by_condition_figure=cond_fig)
        with atomic_output(out["html"], force=force) as tmp:
            tmp.write_text(page, encoding="utf-8")
        if pdf:
            from matplotlib.backends.backend_pdf import PdfPages

            out["pdf"] = d / "report.pdf"
            with atomic_output(out["pdf"], force=force) as tmp, PdfPages(tmp) as pages:
                summary = _summary_page(report)
                pages.savefig(summary)
                plt.close(summary)
                if cond_fig is not None:
                    pages.savefig(cond_fig)
                for _, fig in figures:
                    pages.savefig(fig)
    finally:
        for _, fig in figures:
            plt.close(fig)
        if cond_fig is not None:
            plt.close(cond_fig)
    return out


def _summary_page(report: FidelityReport) -> Figure:
    rows = report.rows
    fig = plt.figure(figsize=(11.7, 0.28 * len(rows) + 1.6))
    fig.text(0.02, 1 - 0.35 / fig.get_figheight(),
             f"Noise-fidelity report: verdict {report.verdict.upper()}, "
             f"score {report.score():.3g}", fontsize=14, weight="bold", va="top")
    cell: list[list[Any]] = [[r.group, r.name, r.where, _fmt(r.value, r.uncertainty),
                              _fmt(r.reference, r.reference_uncertainty), r.unit, r.verdict]
                             for r in rows]
    ax = fig.add_axes((0.02, 0.02, 0.96, 1 - 0.9 / fig.get_figheight()))
    ax.axis("off")
    table = ax.table(cell, colLabels=["group", "metric", "where", "value", "real-vs-real",
                                      "unit", "verdict"], loc="upper center",
                     cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for i, r in enumerate(rows, start=1):
        table[i, 6].set_facecolor(VERDICT_COLORS.get(r.verdict, "#888"))
    return fig
