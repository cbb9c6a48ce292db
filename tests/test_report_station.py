"""A full 24-channel station in the report: rows collapsed per RNO-G channel group with the
worst channel shown, one figure per group instead of 24 per-channel figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from rnognoise.conditions import group_channels
from rnognoise.io import TraceSet
from rnognoise.metrics import FidelityReport, compare
from rnognoise.report import make_figures, write_report
from rnognoise.report.grouped import collapse_rows, worst_channel
from rnognoise.simulate import SimulationConfig, simulate_noise

LOUD = 7  # a deep VPol channel whose generated noise is 1.3 x too loud (+2.3 dB)


@pytest.fixture(scope="module")
def report() -> FidelityReport:
    sim = simulate_noise(240, config=SimulationConfig(n_samples=256, channels=tuple(range(24))),
                         seed=3)
    real, gen = sim.split(0.5, seed=1)
    traces = gen.traces.copy()
    traces[:, LOUD] *= 1.3
    return compare(real, TraceSet(traces, gen.sampling_rate, gen.channels, gen.events),
                   quick=True)


def test_rows_collapse_per_channel_group_with_the_worst_channel(report: FidelityReport) -> None:
    groups = collapse_rows(report.rows)
    assert sum(len(g.rows) for g in groups) == len(report.rows)  # every row exactly once
    rms = [g for g in groups if g.rows[0].name == "rms_rel_diff"]
    assert [g.where for g in rms] == ["phased array", "deep VPol", "deep HPol", "surface LPDA"]
    assert [len(g.rows) for g in rms] == [4, 7, 4, 9]
    vpol = rms[1]
    assert vpol.worst.channel == LOUD and vpol.worst.verdict == "fail"
    assert {g.worst.verdict for g in rms if g is not vpol} == {"pass"}
    pairs = [g for g in groups if g.rows[0].name == "xcorr_max_w1"]
    assert pairs and all(g.where.endswith("pairs") for g in pairs)
    assert worst_channel(report, group_channels(report.channels)["deep_vpol"]) == LOUD


def test_page_shows_one_line_per_metric_and_group(report: FidelityReport, tmp_path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rnognoise.report.make_figures", lambda report: [])  # figures below
    page = write_report(report, tmp_path / "rep")["html"].read_text()
    table = page[page.index("<h2>Every row</h2>"):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 1 + len(collapse_rows(report.rows))
    assert "Rows collapsed per channel group" in table
    top = page[:page.index("<h2>Every row</h2>")]  # failing rows, one line per group
    assert "fail rms_rel_diff, deep VPol: 1 fail of 7 channels; worst ch 7:" in top
    assert "rms_rel_diff ch 7:" not in top
    line = next(t for t in table.split("<tr>") if "rms_rel_diff" in t and "deep VPol" in t)
    assert f"<td>ch {LOUD}</td>" in line and ">fail<" in line and "1 fail, 6 pass" in line


def test_station_figures_are_per_group(report: FidelityReport) -> None:
    figs = make_figures(report)
    try:
        titles = [t for t, _ in figs]
        assert titles[0] == "Every channel at a glance"
        assert len(titles) == 1 + 2 * 4 + 1  # scoreboard, group + worst channel, xcorr
        assert f"Channel {LOUD}: the worst of the deep VPol group" in titles
        assert sum(t.startswith("Channel ") for t in titles) == 4  # not 24
    finally:
        for _, fig in figs:
            plt.close(fig)


def test_pdf_summary_page_is_collapsed_too(report: FidelityReport) -> None:
    from rnognoise.report import _summary_page

    fig = _summary_page(report, "fail")
    try:
        cells = fig.axes[0].tables[0].get_celld().values()
        texts = [c.get_text().get_text() for c in cells]
        assert f"deep VPol: worst ch {LOUD}" in texts
        assert sum(t == "rms_rel_diff" for t in texts) == 4  # one line per channel group
    finally:
        plt.close(fig)


def test_scoreboard_shows_the_worst_row_of_a_cell(report: FidelityReport) -> None:
    from rnognoise.report.group_figures import scoreboard_figure

    fig = scoreboard_figure(report)
    try:
        ax = fig.axes[0]
        names = [t.get_text() for t in ax.get_yticklabels()]
        order = [int(t.get_text()) for t in ax.get_xticklabels()]
        shown = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
                 for t in ax.texts if t.get_position()[1] >= 0}
        for name in ("line_power_db", "rms_rel_diff"):
            for j, ch in enumerate(order):
                rows = [r for r in report.rows if r.name == name and r.channel == ch]
                worst = max(r.excess for r in rows)
                assert float(shown[(names.index(name), j)]) == pytest.approx(worst, abs=0.051)
    finally:
        plt.close(fig)
