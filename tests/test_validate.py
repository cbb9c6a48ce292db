"""``rnognoise validate``: report files, self-contained HTML, errors, model files."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from rnognoise.cli import validate
from rnognoise.errors import ConfigError, DataFileError, OutputExistsError
from rnognoise.io import TraceSet, write_traces
from rnognoise.simulate import SimulationConfig, simulate_noise


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    validate.add_parser(parser.add_subparsers(), parents=[])
    return parser.parse_args(["validate", *argv])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("validate")
    cfg = SimulationConfig(n_samples=256, common_noise_fraction=0.3)
    sim = simulate_noise(600, config=cfg, seed=1)
    real, other = sim.split(0.5, seed=2)
    rng = np.random.default_rng(3)
    gauss = TraceSet((rng.standard_normal(other.traces.shape) * other.traces.std(axis=(0, 2),
                     keepdims=True)).astype(np.float32), other.sampling_rate, other.channels)
    paths = {"real": d / "real.h5", "generated": d / "gen.h5", "gauss": d / "gauss.h5",
             "bad_rate": d / "bad_rate.h5"}
    write_traces(paths["real"], real)
    write_traces(paths["generated"], other)
    write_traces(paths["gauss"], gauss)
    write_traces(paths["bad_rate"], TraceSet(other.traces, 2.4e9, other.channels))
    return paths


@pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")
def test_validate_writes_self_contained_report(files: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rep"
    assert validate.run(parse(str(files["real"]), str(files["gauss"]), "--report", str(out),
                              "--pdf")) == 0
    printed = capsys.readouterr().out
    assert "psd_median_abs_db" in printed and printed.count("VERDICT") == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verdict"] == "fail" and metrics["verdict_rule"]
    assert metrics["verdict_reasons"][0].startswith("fail")  # failing rows listed first
    assert metrics["provenance_real"]["source"].endswith("real.h5")
    assert any("too few" in w for w in metrics["warnings"])  # 150-event halves
    page = (out / "report.html").read_text()
    sources = re.findall(r"""src=['"]([^'"]*)['"]""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page
    # one figure per channel, cross-channel, trigger rates, memorisation
    assert len(sources) == 4 + 3
    assert "<table>" in page and "c2st_auc" in page and "Provenance" in page
    assert page.count("class='badge'") == 1  # exactly one verdict
    assert "Analysis band" in page and "automatic" in page  # the band and why
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"


def test_validate_json_quick_and_no_overwrite(files: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.html").write_text("old")
    args = ("--report", str(out), "--json", "--quick", "--seed", "4")
    with pytest.raises(OutputExistsError):
        validate.run(parse(str(files["real"]), str(files["generated"]), *args))
    assert (out / "report.html").read_text() == "old"
    assert validate.run(parse(str(files["real"]), str(files["generated"]), *args,
                              "--force")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 4 and data["quick"] is True
    assert {r["group"] for r in data["rows"]}.isdisjoint({"twosample", "trigger"})
    assert data["verdict"] in ("pass", "warn")
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_unwritable_report_dir_fails_before_work(files: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")

    def no_compare(*a: object, **k: object) -> None:
        raise AssertionError("compare ran before the report folder was checked")

    monkeypatch.setattr("rnognoise.metrics.compare", no_compare)
    with pytest.raises(DataFileError, match="report folder"):
        validate.run(parse(str(files["real"]), str(files["generated"]), "--report",
                           str(blocker / "sub")))


def test_mismatched_sampling_rate_is_config_error(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="sampling rates differ"):
        validate.run(parse(str(files["real"]), str(files["bad_rate"]), "--quick"))
    with pytest.raises(ConfigError, match="--pdf needs --report"):
        validate.run(parse(str(files["real"]), str(files["generated"]), "--pdf"))


def test_model_file_is_sampled(files: dict[str, Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.rnn"
    model.write_bytes(b"fake model")
    calls: dict[str, object] = {}

    class FakeGenerator:
        sampling_rate = 3.2e9
        channels = np.arange(4)
        metadata: ClassVar[dict[str, str]] = {"kind": "fake"}

        @classmethod
        def load(cls, path: str) -> FakeGenerator:
            calls["path"] = path
            return cls()

        def sample(self, n: int, *, seed: int | None = None) -> np.ndarray:
            calls["n"], calls["seed"] = n, seed
            rng = np.random.default_rng(seed)
            return (0.01 * rng.standard_normal((n, 4, 256))).astype(np.float32)

    monkeypatch.setattr("rnognoise.modelfile.is_model_file", lambda p: Path(p) == model)
    monkeypatch.setattr("rnognoise.generator.NoiseGenerator", FakeGenerator)
    assert validate.run(parse(str(files["real"]), str(model), "--quick", "--json",
                              "--seed", "9")) == 0
    data = json.loads(capsys.readouterr().out)
    # 10 x the 300 real events by default, in chunks of 300 with seeds 9, 10, ...
    assert calls == {"path": str(model), "n": 300, "seed": 18}
    assert data["provenance_generated"]["attrs"]["model_metadata"] == {"kind": "fake"}
    assert data["sizes"]["generated_used"] == 3000 and data["sizes"]["real"] == 300
    assert data["verdict"] == "fail"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")
@pytest.mark.skipif(shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists(),
                    reason="chromium not installed")
def test_report_renders_in_headless_chromium(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rep"
    validate.run(parse(str(files["real"]), str(files["gauss"]), "--report", str(out)))
    shot = tmp_path / "shot.png"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1400,3000",
                    (out / "report.html").as_uri()], check=True, timeout=120,
                   capture_output=True)
    assert shot.exists() and shot.stat().st_size > 10_000


class _CopyGenerator:
    """A fake model: training events (all but the recorded validation ones) plus noise."""

    sampling_rate = 3.2e9
    channels = np.arange(4)
    traces: np.ndarray
    metadata: ClassVar[dict] = {}

    @classmethod
    def load(cls, path: str) -> _CopyGenerator:
        return cls()

    def sample(self, n: int, *, seed: int | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        split = self.metadata["provenance"]["split"]
        train = np.setdiff1d(np.arange(len(self.traces)), split["validation_indices"])
        pick = self.traces[rng.choice(train, n)]
        if self.metadata["kind"] == "gauss":
            return (rng.standard_normal(pick.shape) * pick.std(axis=(0, 2), keepdims=True)
                    ).astype(np.float32)
        return (pick + 0.01 * pick.std() * rng.standard_normal(pick.shape)).astype(np.float32)


@pytest.mark.parametrize(("kind", "expected"), [("copy", "fail"), ("gauss", "pass")])
def test_memorisation_check_catches_a_copying_model(files: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str],
                                                    kind: str, expected: str) -> None:
    from rnognoise.io import read_traces

    real = read_traces(files["real"])
    held = np.arange(0, real.n_events, 4)
    model = tmp_path / "model.rnn"
    model.write_bytes(b"fake")
    _CopyGenerator.traces = real.traces
    _CopyGenerator.metadata = {"kind": kind, "provenance": {"split": {
        "seed": 0, "n_events": real.n_events, "validation_indices": held.tolist()}}}
    monkeypatch.setattr("rnognoise.modelfile.is_model_file", lambda p: Path(p) == model)
    monkeypatch.setattr("rnognoise.generator.NoiseGenerator", _CopyGenerator)
    assert validate.run(parse(str(files["real"]), str(model), "--quick", "--json",
                              "--generated-factor", "1")) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["rows"] if r["name"] == "memorisation_closer_fraction")
    assert row["verdict"] == expected, row["reason"]
    assert data["details"]["memorisation"]["mode"] == "split"
    if kind == "copy":
        assert row["value"] > 0.9 and data["verdict"] == "fail"
    else:
        assert row["value"] < 0.05


def test_memorisation_without_split_is_leave_one_out(files: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.run(parse(str(files["real"]), str(files["generated"]), "--quick",
                              "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    mem = data["details"]["memorisation"]
    assert mem["mode"] == "leave-one-out" and "split unknown" in mem["note"]
    row = next(r for r in data["rows"] if r["name"] == "memorisation_closer_fraction")
    assert row["verdict"] == "pass"


@pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")
def test_nuradio_reference_column(files: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from rnognoise.metrics import nuradio_available

    if not nuradio_available():
        pytest.skip("NuRadioMC not installed")
    out = tmp_path / "rep"
    assert validate.run(parse(str(files["real"]), str(files["generated"]), "--quick",
                              "--nuradio-reference", "--report", str(out))) == 0
    assert "reference (NuRadioMC generic noise)" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reference"]["result"] == "fail"  # Gaussian noise misses lines, blocks...
    assert "verdict" not in metrics["reference"]
    assert "NuRadioMC generic noise" in (out / "report.html").read_text()
