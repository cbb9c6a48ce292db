"""Plots and a self-contained HTML (and optional PDF) report of a :class:`FidelityReport`.

Modules
-------
figures
    The matplotlib figures (``Agg``): per channel, cross-channel, trigger rates,
    memorisation, band power per condition.
html
    :func:`render_html`: the page, with its one verdict, the rule behind it, the failing
    and warning rows first and every row's limit and reason.
sample_size
    What the real sample can and cannot resolve (limited and uncomputed rows), at the top.
provenance
    Where the real events came from (file, stations, runs, time span, trigger types) and
    what the model file records (training events, held-out check, components, envelope).
grouped, group_figures
    A full station: rows collapsed per RNO-G channel group with the worst channel shown;
    a scoreboard of every channel and one figure per group.
latent
    The VAE's latent means of the real events coloured by noise class, with a k-NN
    measure of how well the latent space separates the classes.

The HTML page embeds every figure as a base64 PNG and carries its own CSS, so it can be
mailed or archived as one file. With a :class:`~rnognoise.metrics.ConditionalReport` the
page gains a per-condition section and metrics.json a ``by_condition`` key; with a
reference report (NuRadioMC noise) every row shows the reference's value too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..errors import DataFileError
from ..fileutil import atomic_output, check_writable
from ..metrics._format import jsonable
from ..metrics.conditional import ConditionalReport
from ..metrics.fidelity import FidelityReport
from ..metrics.verdict import final_verdict
from .figures import VERDICT_COLORS, condition_figure, make_figures
from .grouped import GROUPED_ABOVE, collapse_rows
from .html import render_html
from .latent import latent_map
from .provenance import event_provenance, model_provenance
from .sample_size import sample_size_summary

__all__ = ["check_report_dir", "condition_figure", "event_provenance", "latent_map",
           "make_figures", "model_provenance", "render_html", "report_dict",
           "sample_size_summary", "write_report"]


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


def report_dict(report: FidelityReport, *, by_condition: ConditionalReport | None = None,
                reference: FidelityReport | None = None) -> dict[str, Any]:
    """metrics.json content: the report, with the one verdict and its rule on top.

    ``verdict`` is :func:`~rnognoise.metrics.final_verdict` of the parts;
    ``overall_result`` is the overall comparison's own result.
    """
    data = report.to_dict()
    verdict = final_verdict(report, by_condition)
    data["overall_result"] = data.pop("verdict")
    data = {"verdict": verdict.verdict, "verdict_rule": verdict.rule,
            "verdict_parts": verdict.parts, "verdict_reasons": verdict.reasons,
            "limited_rows": verdict.limited, **data}
    data["sample_size"] = sample_size_summary(report)
    if by_condition is not None:
        data["by_condition"] = by_condition.to_dict()
    if reference is not None:
        ref = reference.to_dict()
        ref["result"] = ref.pop("verdict")
        ref.pop("details", None)
        data["reference"] = ref
    return jsonable(data)


def write_report(report: FidelityReport, directory: str | os.PathLike[str], *,
                 force: bool = False, pdf: bool = False,
                 by_condition: ConditionalReport | None = None,
                 reference: FidelityReport | None = None) -> dict[str, Path]:
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
    reference : FidelityReport, optional
        The same comparison for a reference noise (NuRadioMC): a column of the row table
        and ``"reference"`` in metrics.json.

    Returns
    -------
    dict
        ``{"json": path, "html": path[, "pdf": path]}``.
    """
    d = check_report_dir(directory, force=force, pdf=pdf)
    out = {"json": d / "metrics.json", "html": d / "report.html"}
    data = report_dict(report, by_condition=by_condition, reference=reference)
    with atomic_output(out["json"], force=force) as tmp:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    figures = make_figures(report)
    cond_fig = condition_figure(by_condition) if by_condition is not None else None
    try:
        page = render_html(report, figures, by_condition=by_condition,
                           by_condition_figure=cond_fig, reference=reference)
        with atomic_output(out["html"], force=force) as tmp:
            tmp.write_text(page, encoding="utf-8")
        if pdf:
            from matplotlib.backends.backend_pdf import PdfPages

            out["pdf"] = d / "report.pdf"
            with atomic_output(out["pdf"], force=force) as tmp, PdfPages(tmp) as pages:
                summary = _summary_page(report, final_verdict(report, by_condition).verdict)
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


def _fmt(value: float | None, err: float | None = None) -> str:
    from .html import _fmt as fmt

    return fmt(value, err)


def _summary_page(report: FidelityReport, verdict: str) -> Figure:
    rows = report.rows
    where = [r.where for r in rows]
    if len(report.channels) > GROUPED_ABOVE:  # a full station: the worst channel per group
        groups = collapse_rows(rows)
        rows = [g.worst for g in groups]
        where = [f"{g.where}: worst {g.worst.where}" if len(g.rows) > 1 else g.where
                 for g in groups]
    fig = plt.figure(figsize=(11.7, 0.28 * len(rows) + 1.6))
    fig.text(0.02, 1 - 0.35 / fig.get_figheight(),
             f"Noise-fidelity report: verdict {verdict.upper()}, "
             f"score {report.score():.3g}; band {report.band[0] / 1e6:.0f}-"
             f"{report.band[1] / 1e6:.0f} MHz", fontsize=14, weight="bold", va="top")
    cell: list[list[Any]] = [[r.group, r.name, w, _fmt(r.value, r.uncertainty),
                              _fmt(r.reference, r.reference_uncertainty), _fmt(r.limit_pass),
                              r.unit, r.verdict + (" (limited)" if r.limited else "")]
                             for r, w in zip(rows, where, strict=True)]
    ax = fig.add_axes((0.02, 0.02, 0.96, 1 - 0.9 / fig.get_figheight()))
    ax.axis("off")
    table = ax.table(cell, colLabels=["group", "metric", "where", "value", "real-vs-real",
                                      "pass limit", "unit", "result"], loc="upper center",
                     cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for i, r in enumerate(rows, start=1):
        table[i, 7].set_facecolor(VERDICT_COLORS.get(r.verdict, "#888"))
    return fig
