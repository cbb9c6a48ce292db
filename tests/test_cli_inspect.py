"""``rnognoise inspect`` on HDF5 files, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rnognoise.cli import main
from rnognoise.io import TraceSet, write_traces
from rnognoise.train import FitOptions, fit, validation_count


def test_inspect_json_reports_shape_rate_rms_and_trigger_mix(tmp_path, small_traceset, capsys):
    path = tmp_path / "t.h5"
    write_traces(path, small_traceset)
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_events"] == 64
    assert info["n_channels"] == 3
    assert info["n_samples"] == 256
    assert info["channels"] == [5, 6, 9]
    assert info["sampling_rate_GHz"] == 3.2
    assert info["trigger_mix"] == {"FORCE": 60, "LT": 4}
    assert all(abs(r - 10.0) < 0.5 for r in info["rms_mV"])  # 10 mV white noise


def test_cli_error_is_one_line_with_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.h5"
    assert main(["inspect", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert str(missing) in err and "no such file" in err


def test_inspect_a_model_file_reads_only_its_metadata(tmp_path, capsys):
    rng = np.random.default_rng(0)
    events = pd.DataFrame({"station": np.repeat([11, 12], 40)})
    data = TraceSet((0.01 * rng.standard_normal((80, 2, 128))).astype(np.float32), 3.2e9,
                    [0, 1], events)
    path = tmp_path / "m.safetensors"
    fit(data, path, FitOptions(model="baseline", conditions=["station"], quiet=True))
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "conditional (baseline)"
    assert info["cells"] == ["station=11", "station=12"]
    assert info["channels"] == [0, 1] and info["n_samples"] == 128
    assert info["rms_mV"] == pytest.approx([10.0, 10.0], rel=0.05)
    assert info["n_train_events"] == 80 - validation_count(80, 0.1)  # the rest held out
    assert main(["inspect", str(path)]) == 0
    assert "station (categorical)" in capsys.readouterr().out
