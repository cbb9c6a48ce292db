"""A full station in the report: rows and figures grouped by RNO-G channel group.

With more than :data:`GROUPED_ABOVE` channels the row table is collapsed: the rows of one
metric over the channels of one group (phased array, deep VPol, deep HPol, surface; see
:func:`rnognoise.conditions.group_channels`) become one line that shows the worst channel,
with every channel's value one click away. Pair rows are grouped by the groups of their
two channels.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..conditions import channel_group_of, group_channels
from ..metrics.fidelity import FidelityReport
from ..metrics.rows import MetricRow
from ..metrics.thresholds import VERDICT_ORDER
from .figures import VERDICT_COLORS

__all__ = ["GROUPED_ABOVE", "RowGroup", "collapse_rows", "group_label", "grouped_reasons",
           "grouped_rows_table", "worst_channel", "worst_row"]

#: Reports with more channels than this group their rows and figures by channel group.
GROUPED_ABOVE = 4

GROUP_LABELS = {"phased_array": "phased array", "deep_vpol": "deep VPol",
                "deep_hpol": "deep HPol", "surface": "surface LPDA", "other": "other"}


def group_label(name: str) -> str:
    """Display name of an RNO-G channel group."""
    return GROUP_LABELS.get(name, name)


@dataclass
class RowGroup:
    """The rows of one metric over one channel group (or a single row)."""

    where: str
    rows: list[MetricRow]

    @property
    def worst(self) -> MetricRow:
        """The row with the worst verdict, then the largest excess over its centre."""
        return worst_row(self.rows)


def _rank(r: MetricRow) -> tuple[int, float]:
    excess = r.excess
    return VERDICT_ORDER.index(r.verdict), excess if excess == excess else -1.0


def worst_row(rows: list[MetricRow]) -> MetricRow:
    """Worst verdict first, then largest excess over the centre (``MetricRow.excess``)."""
    return max(rows, key=_rank)


def _key(r: MetricRow) -> str | None:
    if r.pair is not None:
        a, b = sorted((channel_group_of(r.pair[0]), channel_group_of(r.pair[1])))
        return f"{group_label(a)} x {group_label(b)} pairs"
    if r.channel is not None:
        return group_label(channel_group_of(r.channel))
    return None


def collapse_rows(rows: list[MetricRow]) -> list[RowGroup]:
    """Rows of one metric and one channel group merged: metrics in the order they first
    appear, groups in the RNO-G order (phased array, deep VPol, deep HPol, surface)."""
    ranks = {label: i for i, label in enumerate(GROUP_LABELS.values())}
    entries: list[tuple[int, int, RowGroup]] = []
    index: dict[tuple[str, str, str], RowGroup] = {}
    first: dict[tuple[str, str], int] = {}
    for r in rows:
        metric = first.setdefault((r.group, r.name), len(first))
        key = _key(r)
        if key is None:
            entries.append((metric, -1, RowGroup(r.where, [r])))
            continue
        k = (r.group, r.name, key)
        if k not in index:
            index[k] = RowGroup(key, [])
            a, _, b = key.removesuffix(" pairs").partition(" x ")
            rank = 10 * ranks.get(a, 9) + (ranks.get(b, 9) if b else 0)
            entries.append((metric, rank, index[k]))
        index[k].rows.append(r)
    return [g for _, _, g in sorted(entries, key=lambda e: (e[0], e[1]))]


def worst_channel(report: FidelityReport, channels: list[int]) -> int:
    """The channel of ``channels`` whose rows are worst: most fails, then warns, then the
    largest summed excess over the centres."""
    def score(c: int) -> tuple[int, int, float]:
        rows = [r for r in report.rows if r.channel == c]
        ex = sum(r.excess for r in rows if r.excess == r.excess)
        return (sum(r.verdict == "fail" for r in rows), sum(r.verdict == "warn" for r in rows),
                ex)
    return max(channels, key=score)


def _fmt(value: float, err: float | None = None) -> str:
    from .html import _fmt as fmt

    return fmt(value, err)


def _cell(v: str, text: str) -> str:
    return (f'<td class="v" style="background:{VERDICT_COLORS.get(v, "#888")}">'
            f"{html.escape(text)}</td>")


def grouped_rows_table(report: FidelityReport,
                       reference: FidelityReport | None = None) -> list[str]:
    """HTML table with one line per metric and channel group, the worst channel shown.

    Columns as the full table, plus the verdicts over the group's channels
    (e.g. ``7 pass, 2 warn``) and, folded, every channel's value and result.
    """
    e = html.escape
    groups = group_channels(report.channels)
    ref_rows = {(r.name, r.where): r for r in reference.rows} if reference is not None else {}
    ref_head = "<th>NuRadioMC generic noise (worst)</th>" if reference is not None else ""
    parts = ["<p class='small'>Rows collapsed per channel group ("
             + "; ".join(f"{e(group_label(g))}: ch {', '.join(map(str, c))}"
                         for g, c in groups.items())
             + "): each line shows the worst channel of the group (worst result, then the "
             "largest excess over the centre); open 'all' for every channel.</p>",
             "<table><tr><th>group</th><th>metric</th><th>channels</th><th>worst</th>"
             "<th>value</th><th>real-vs-real</th>" + ref_head + "<th>pass limit</th>"
             "<th>unit</th><th>result</th><th>results over the group</th><th>why (worst)"
             "</th></tr>"]
    for g in collapse_rows(report.rows):
        w = g.worst
        result = w.verdict + (" (limited)" if w.limited and w.verdict == "pass" else "")
        ref_cell = ""
        if reference is not None:
            refs = [ref_rows[(r.name, r.where)] for r in g.rows if (r.name, r.where) in ref_rows]
            ref_cell = ("<td class='num'>-</td>" if not refs else
                        f"<td class='num'>{_fmt(worst_row(refs).value)} "
                        f"({e(worst_row(refs).verdict)})</td>")
        counts = {v: sum(r.verdict == v for r in g.rows) for v in ("fail", "warn", "pass", "n/a")}
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        if len(g.rows) > 1:
            detail = "".join(f"<li>{e(r.where)}: {_fmt(r.value, r.uncertainty)} "
                             f"({e(r.verdict)}{' limited' if r.limited else ''})</li>"
                             for r in g.rows)
            summary = (f"<details><summary>{e(summary)}; all</summary><ul class='small'>"
                       f"{detail}</ul></details>")
        else:
            summary = e(summary)
        parts.append(
            f"<tr><td>{e(w.group)}</td><td>{e(w.name)}</td><td>{e(g.where)}</td>"
            f"<td>{e(w.where)}</td><td class='num'>{_fmt(w.value, w.uncertainty)}</td>"
            f"<td class='num'>{_fmt(w.reference, w.reference_uncertainty)}</td>{ref_cell}"
            f"<td class='num'>{_fmt(w.limit_pass)}</td><td>{e(w.unit)}</td>"
            f"{_cell(w.verdict, result)}<td class='small'>{summary}</td>"
            f"<td class='small'>{e(w.reason)}</td></tr>")
    parts.append("</table>")
    return parts


def grouped_reasons(report: FidelityReport, reasons: list[str]) -> list[str]:
    """The failing and warning rows of the verdict, one line per metric and channel group.

    Lines of ``reasons`` that are not rows of ``report`` (per-condition groups) follow
    unchanged.
    """
    own = {f"{r.verdict} {r.name} {r.where}: {r.reason}" for r in report.rows}
    totals: dict[tuple[str, str], int] = {}
    unit: dict[tuple[str, str], str] = {}
    for g in collapse_rows(report.rows):
        key = (g.rows[0].name, g.where)
        totals[key] = len(g.rows)
        places = {r.channel if r.pair is None else r.pair for r in g.rows}
        one_per_channel = len(places) == len(g.rows)
        unit[key] = "channels" if one_per_channel and g.rows[0].pair is None else (
            "pairs" if one_per_channel else "rows")
    out = []
    for g in collapse_rows(report.flagged()):
        w = g.worst
        if len(g.rows) == 1 and totals.get((w.name, g.where), 1) == 1:
            out.append(f"{w.verdict} {w.name} {w.where}: {w.reason}")
            continue
        counts = ", ".join(f"{n} {v}" for v in ("fail", "warn")
                           if (n := sum(r.verdict == v for r in g.rows)))
        key = (w.name, g.where)
        out.append(f"{w.verdict} {w.name}, {g.where}: {counts} of "
                   f"{totals.get(key, len(g.rows))} {unit.get(key, 'rows')}; worst {w.where}: "
                   f"{w.reason}")
    return out + [x for x in reasons if x not in own]
