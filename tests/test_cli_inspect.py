"""``rnognoise inspect`` on HDF5 files, and one-line errors with exit status 2."""

from __future__ import annotations

import json

from rnognoise.cli import main
from rnognoise.io import write_traces


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
