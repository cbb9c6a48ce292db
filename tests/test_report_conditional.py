"""The per-condition section of the report, and ``rnognoise validate --by``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from rnognoise.cli import main, validate
from rnognoise.conditions import local_sidereal_time
from rnognoise.io import TraceSet, write_traces
from rnognoise.metrics import ConditionalReport, compare, compare_by_condition
from rnognoise.report import condition_figure, write_report

FS = 3.2e9
T0 = 1.69e9  # unix s
RMS = {11: 0.010, 12: 0.012}  # V


N_CHANNELS = 2  # few channels keep the report figures quick to draw


def noise_set(n_per_station: int, *, seed: int, rms: dict[int, float] | None = None,
              lst_column: bool = False) -> TraceSet:
    """White Gaussian noise (2 channels x 256 samples) of stations 11 and 12 over a day."""
    rng = np.random.default_rng(seed)
    rms = rms or RMS
    station = np.repeat(list(rms), n_per_station)
    times = T0 + rng.uniform(0.0, 86164.1, station.size)
    scale = np.array([rms[s] for s in station])[:, None, None]
    traces = (rng.standard_normal((station.size, N_CHANNELS, 256)) * scale).astype(np.float32)
    events = pd.DataFrame({"station": station})
    if lst_column:
        events["lst"] = local_sidereal_time(times)
    else:
        events["readout_time"] = times
    return TraceSet(traces, FS, np.arange(N_CHANNELS), events)


@pytest.fixture(scope="module")
def sets() -> dict[str, TraceSet]:
    return {"real": noise_set(120, seed=1),
            "generated": noise_set(120, seed=2, rms={11: 0.010, 12: 0.015}, lst_column=True)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, sets: dict[str, TraceSet],
          ) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("validate_by")
    paths = {"real": d / "real.h5", "generated": d / "gen.h5", "bare": d / "bare.h5"}
    write_traces(paths["real"], sets["real"])
    write_traces(paths["generated"], sets["generated"])
    g = sets["generated"]
    write_traces(paths["bare"], TraceSet(g.traces, FS, g.channels, g.events[["lst"]]))
    return paths


def test_report_has_the_per_condition_section(sets: dict[str, TraceSet], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # the per-channel figures are covered by test_validate.py; leaving them out keeps
    # this test quick
    monkeypatch.setattr("rnognoise.report.make_figures", lambda report: [])
    real, gen = sets["real"], sets["generated"]
    report = compare(real, gen, quick=True)
    cond = compare_by_condition(real, gen, ["station"])
    assert [g.verdict for g in cond.groups] == ["pass", "fail"]
    out = write_report(report, tmp_path / "with", by_condition=cond, pdf=True)
    page = out["html"].read_text()
    assert "<h2>By condition</h2>" in page
    section = page[page.index("<h2>By condition</h2>"):page.index("<h2>Narrow-band")]
    assert "station=11" in section and "station=12" in section
    assert section.count("<tr>") == 1 + len(cond.groups)
    assert "band power real (mV²)" in section and "rms_rel_diff fail" in section
    ratio = cond.group("station=12").band_power_mean["ratio_db"]
    assert f"{ratio:+.2f}" in section
    assert len(re.findall(r"src='data:image/png;base64,", section)) == 1
    metrics = json.loads(out["json"].read_text())
    assert metrics["verdict"] == "fail" and metrics["overall_result"] == report.verdict
    assert metrics["by_condition"]["worst_group_result"] == "fail"
    assert ConditionalReport.from_dict(metrics["by_condition"]).to_dict() == cond.to_dict()
    assert out["pdf"].read_bytes()[:4] == b"%PDF"
    assert b"/Count 2" in out["pdf"].read_bytes()  # pages: summary, per condition

    plain = write_report(report, tmp_path / "without")
    assert "By condition" not in plain["html"].read_text()
    assert "by_condition" not in json.loads(plain["json"].read_text())
    per_condition_only = ("by_condition", "verdict_parts", "verdict_reasons")
    plain_metrics = json.loads(plain["json"].read_text())
    assert ({k: v for k, v in plain_metrics.items() if k not in per_condition_only} ==
            {k: v for k, v in metrics.items() if k not in per_condition_only})
    # the per-condition groups' failing rows join the reasons of the one verdict
    assert set(plain_metrics["verdict_reasons"]) < set(metrics["verdict_reasons"])
    assert metrics["verdict_parts"] == {"overall": "fail", "per_condition": "fail"}


def test_condition_figure_lines_up_lst_bins(sets: dict[str, TraceSet]) -> None:
    cond = compare_by_condition(sets["real"], sets["generated"], ["lst"], lst_bins=3,
                                min_events=20)
    fig = condition_figure(cond)
    ax_power, ax_ratio = fig.axes[:2]
    real_line = ax_power.lines[0]
    np.testing.assert_allclose(real_line.get_xdata(), [4.0, 12.0, 20.0])
    np.testing.assert_allclose(real_line.get_ydata(),
                               [g.band_power_mean["real"] * 1e6 for g in cond.groups])
    image = ax_ratio.images[0].get_array()
    assert image.shape == (N_CHANNELS, 3)
    np.testing.assert_allclose(image[:, 1], cond.groups[1].band_power["ratio_db"])
    skipped_all = compare_by_condition(sets["real"], sets["generated"], ["station"],
                                       min_events=10_000)
    assert condition_figure(skipped_all) is None


def test_cli_by_station_and_lst(files: dict[str, Path], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    written: dict[str, object] = {}

    def fake_write_report(report: object, directory: object, **kwargs: object) -> dict:
        written.update(kwargs, directory=directory)
        return {}

    monkeypatch.setattr("rnognoise.report.write_report", fake_write_report)
    out = tmp_path / "rep"
    code = main(["validate", "-q", str(files["real"]), str(files["generated"]), "--quick",
                 "--by", "station,lst", "--lst-bins", "2", "--min-events", "30",
                 "--report", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    for label in ("station=11, lst=0-12 h", "station=11, lst=12-24 h",
                  "station=12, lst=0-12 h", "station=12, lst=12-24 h"):
        assert label in printed
    assert "Per condition (station, lst)" in printed
    cond = written["by_condition"]
    assert isinstance(cond, ConditionalReport) and written["directory"] == str(out)
    assert cond.by == ["station", "lst"] and cond.lst_bins == 2 and cond.min_events == 30
    assert [g.values["station"] for g in cond.groups] == [11, 11, 12, 12]
    assert {g.verdict for g in cond.groups if g.values["station"] == 12} == {"fail"}


def test_cli_by_json(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-q", str(files["real"]), str(files["generated"]), "--quick",
                 "--json", "--by", "station"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by_condition"]["by"] == ["station"]
    assert [g["n_real"] for g in data["by_condition"]["groups"]] == [120, 120]


def test_cli_missing_column_is_one_line_exit_2(files: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "-q", str(files["real"]), str(files["bare"]), "--quick",
                 "--by", "station"])
    assert code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and not captured.out
    assert err.startswith("rnognoise validate: error: generated set ")
    assert "bare.h5" in err and "'station'" in err and "['lst']" in err
    assert main(["validate", "-q", str(files["real"]), str(files["generated"]),
                 "--lst-bins", "3"]) == 2
    assert "--lst-bins needs --by" in capsys.readouterr().err


def test_conditional_model_is_sampled_with_the_real_conditions(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.rnn"
    model.write_bytes(b"fake model")
    seen: dict[str, object] = {}

    class FakeConditionalGenerator:
        sampling_rate = FS
        channels = np.arange(N_CHANNELS)
        metadata: ClassVar[dict[str, str]] = {}
        condition_names: ClassVar[list[str]] = ["station", "lst"]

        @classmethod
        def load(cls, path: str) -> FakeConditionalGenerator:
            return cls()

        def sample_traceset(self, n: int, *, seed: int | None = None,
                            condition: pd.DataFrame | None = None) -> TraceSet:
            assert condition is not None
            seen["n"], seen["seed"], seen["columns"] = n, seed, list(condition.columns)
            events = pd.DataFrame({
                "station": condition["station"].to_numpy(),
                "lst": local_sidereal_time(condition["readout_time"].to_numpy())})
            rms = np.where(events["station"] == 11, 0.010, 0.012)[:, None, None]
            rng = np.random.default_rng(seed)
            traces = (rng.standard_normal((n, N_CHANNELS, 256)) * rms).astype(np.float32)
            return TraceSet(traces, FS, self.channels, events, attrs={"generated_by": "fake"})

    monkeypatch.setattr("rnognoise.modelfile.is_model_file", lambda p: Path(p) == model)
    monkeypatch.setattr("rnognoise.generator.NoiseGenerator", FakeConditionalGenerator)
    assert main(["validate", "-q", str(files["real"]), str(model), "--quick", "--json",
                 "--seed", "5", "--by", "station", "--generated-factor", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert seen["n"] == 240 and seen["seed"] == 5
    assert sorted(seen["columns"]) == ["readout_time", "station"]
    assert data["provenance_generated"]["source"] == str(model)
    assert data["provenance_generated"]["attrs"]["generated_by"] == "fake"
    assert [g["n_generated"] for g in data["by_condition"]["groups"]] == [120, 120]
    assert data["by_condition"]["worst_group_result"] in ("pass", "warn")
    with pytest.raises(Exception, match="sampling needs the real events"):
        validate.load_generated(model, 10)
