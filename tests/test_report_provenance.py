"""Provenance in the report (real events and model file) and what a small real sample can
resolve, on the public real samples of ``../shared/realdata``."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from rnognoise.cli import validate
from rnognoise.io import TraceSet, read_traces, write_traces
from rnognoise.report import event_provenance, model_provenance
from rnognoise.report.provenance import provenance_section

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
PULSER = REALDATA / "pulser_data_21.root"
ST24 = REALDATA / "rnog_st24_forced_trigger_noise_100ev.npz"
needs_realdata = pytest.mark.skipif(not ST24.exists() or not PULSER.exists(),
                                    reason=f"public real samples not found in {REALDATA}")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    validate.add_parser(parser.add_subparsers(), parents=[])
    return parser.parse_args(["validate", *argv])


@needs_realdata
def test_event_provenance_of_a_mattak_file() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no sampling rate in the 2021 file: 3.2 GHz assumed
        ts = read_traces(PULSER, trigger="all")
    p = event_provenance(ts)
    assert p["n_events"] == 5 and p["file"].endswith("pulser_data_21.root")
    assert p["stations"] == {"21": 5} and p["runs"] == {"476": 5}
    assert p["trigger_types"] == {"UNKNOWN": 5}  # the 2021 header's flags are all false
    assert p["event_numbers"] == [7, 55]
    assert p["time_span_utc"][0].startswith("2021-08-18") and 0 < p["duration_s"] < 3600
    assert p["missing"] == []
    html = "\n".join(provenance_section(p, None))
    assert "21 (5)" in html and "476 (5)" in html and "2021-08-18" in html


METADATA = {
    "kind": "wgan-gp", "layout": {"channels": [12]},
    "provenance": {
        "source": "st24_train.npz", "n_events": 100, "n_train_events": 80,
        "n_validation_events": 20, "trigger": "forced", "seed": 0, "fit_wall_s": 61.2,
        "heldout_check": {"model_score": 1.5, "baseline_score": 1.2, "model_auc": 0.71,
                          "baseline_auc": 0.66, "n_events": 20, "worse_than_baseline": True,
                          "conclusive": False},
        "components": {"kept": ["blocks"], "dropped": ["lines", "impulses"], "trials": []},
        "envelope": {"rms_volts": [0.011], "peak_volts": [0.062], "adc_range_volts": None}}}


def test_model_provenance_shows_the_held_out_check_and_components() -> None:
    m = model_provenance(METADATA)
    assert m is not None and m["components"] == {"kept": ["blocks"],
                                                 "dropped": ["lines", "impulses"]}
    assert m["training_events"] is None  # station/run/time of the training events: not stored
    html = "\n".join(provenance_section(None, m))
    assert "worse than the baseline: score 1.5 vs baseline 1.2" in html
    assert "inconclusive" in html and "kept: blocks; dropped: lines, impulses" in html
    assert "ch 12: RMS 11 mV, peak 62 mV" in html
    assert "not recorded in the model file" in html
    assert "training events score" not in html  # a file without the check on them
    check = {**METADATA["provenance"]["heldout_check"], "train_model_score": 0.45,
             "train_baseline_score": 0.23, "n_train_events": 1000}
    m["heldout_check"] = check
    html = "\n".join(provenance_section(None, m))
    assert "20 held-out events; on 1000 training events score 0.45 vs 0.23" in html
    assert model_provenance({}) is None


class _GaussGenerator:
    """A fake model file: white Gaussian noise at the real RMS, with METADATA."""

    sampling_rate = 3.2e9
    channels = np.array([12])
    metadata: ClassVar[dict] = METADATA
    rms = 0.011

    @classmethod
    def load(cls, path: str) -> _GaussGenerator:
        return cls()

    def sample(self, n: int, *, seed: int | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (self.rms * rng.standard_normal((n, 1, 2048))).astype(np.float32)


@needs_realdata
@pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")
def test_small_real_sample_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = read_traces(ST24)
    _GaussGenerator.rms = float(np.std(real.traces - real.traces.mean(-1, keepdims=True)))
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"fake")
    monkeypatch.setattr("rnognoise.modelfile.is_model_file", lambda p: Path(p) == model)
    monkeypatch.setattr("rnognoise.generator.NoiseGenerator", _GaussGenerator)
    out = tmp_path / "rep"
    assert validate.run(parse(str(ST24), str(model), "--quick", "--no-memorisation",
                              "--report", str(out))) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    size = metrics["sample_size"]
    assert size["small"] and size["n_real"] == 100 and size["min_rate"] == pytest.approx(0.03)
    assert size["limited"]  # 100 events cannot resolve every difference that matters
    assert metrics["provenance_real"]["events"]["stations"] == {"24": 100}
    page = (out / "report.html").read_text()
    top = page[:page.index("<h2>Every row</h2>")]  # stated before the rows
    assert "Small sample: what 100 real events can and cannot resolve" in top
    assert "3/100 = 3 %" in top and "resolves only differences above" in top
    for name in size["limited"]:
        assert name in top
    assert "24 (100)" in top and "FORCE (100)" in top  # station, trigger types
    assert "readout time</th><td>not recorded" in top
    assert "worse than the baseline" in top  # the model's own held-out check


@pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")
def test_large_sample_has_no_small_sample_block(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sets = [TraceSet((0.01 * rng.standard_normal((600, 1, 256))).astype(np.float32), 3.2e9,
                     [0]) for _ in range(2)]
    for name, ts in zip(("real.h5", "gen.h5"), sets, strict=True):
        write_traces(tmp_path / name, ts)
    out = tmp_path / "rep"
    assert validate.run(parse(str(tmp_path / "real.h5"), str(tmp_path / "gen.h5"), "--quick",
                              "--no-memorisation", "--report", str(out))) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert not metrics["sample_size"]["small"]
    assert "Small sample" not in (out / "report.html").read_text()


def test_inspect_shows_the_fit_record(tmp_path: Path) -> None:
    import torch

    from rnognoise.cli.inspect import inspect_model
    from rnognoise.modelfile import save_model
    from rnognoise.models import TraceLayout, get_model_class

    cls = get_model_class("baseline")
    model = cls(cls.make_config({}), TraceLayout((12,), 256, 3.2e9))
    with torch.no_grad():
        model.initialize(torch.randn(64, 1, 256, generator=torch.Generator().manual_seed(0)))
    save_model(tmp_path / "m.safetensors", model, provenance=METADATA["provenance"])
    s = inspect_model(str(tmp_path / "m.safetensors"))
    assert s["heldout_check"].startswith("worse than the baseline: score 1.5 vs 1.2")
    assert s["heldout_check"].endswith("(inconclusive)")
    assert "training events" not in s["heldout_check"]
    assert s["components_kept"] == ["blocks"] and s["components_dropped"] == ["lines", "impulses"]
    assert s["envelope_rms_mV"] == [11.0] and s["envelope_peak_mV"] == [62.0]
