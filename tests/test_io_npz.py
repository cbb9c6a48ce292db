"""``.npz`` trace files (data_specs/npz.md): volts, metadata, rate, triggers, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnognoise.cli import main
from rnognoise.errors import ConfigError, DataFileError, SamplingRateWarning
from rnognoise.io import detect_format, iter_traces, open_traces, read_traces
from rnognoise.io.npz import provenance_from_name
from rnognoise.units import ADC_TO_VOLTS_RNOG


def _counts(n: int = 6, c: int = 2, t: int = 64) -> np.ndarray:
    return np.random.default_rng(3).integers(-40, 40, (n, c, t)).astype(np.int16)


def _save(path: Path, **keys: object) -> Path:
    np.savez(path, **keys)
    return path


def test_int16_counts_with_every_key(tmp_path):
    counts = _counts()
    path = _save(tmp_path / "noise.npz", traces=counts, sampling_rate_hz=2.4e9,
                 channel_ids=np.array([7, 3]), adc_to_volts=1e-3, station=11,
                 run_number=np.arange(6) + 100, readout_time=1.7e9,
                 trigger_type=np.array(["force", "LT", "FORCE", "radiant0", "FORCE", "PPS"]))
    assert detect_format(path) == "npz"
    ts = read_traces(path)
    np.testing.assert_array_equal(ts.traces, counts[[0, 2, 4]] * np.float32(1e-3))
    assert ts.traces.dtype == np.float32
    assert ts.sampling_rate == 2.4e9
    assert ts.channels.tolist() == [7, 3]
    assert ts.events["station"].tolist() == [11] * 3
    assert ts.events["run_number"].tolist() == [100, 102, 104]
    assert ts.events["readout_time"].tolist() == [1.7e9] * 3
    assert read_traces(path, trigger="rf").events["trigger_type"].tolist() == ["LT", "RADIANT0"]
    assert read_traces(path, trigger="all", channels=[3]).traces.shape == (6, 1, 64)
    assert read_traces(path, adc_to_volts=1.0, trigger="pps").traces[0, 0, 0] == counts[5, 0, 0]
    streamed = list(iter_traces(path, 2, trigger="all"))
    assert [b.n_events for b in streamed] == [2, 2, 2]
    with open_traces(path) as src:
        info = src.info()
    assert info["trigger_mix"] == {"FORCE": 3, "LT": 1, "RADIANT0": 1, "PPS": 1}
    assert info["adc_to_volts_source"] == "'adc_to_volts' key"


def test_float_volts_two_dimensional_and_rate_from_the_argument(tmp_path):
    volts = np.random.default_rng(0).normal(0, 0.01, (4, 32)).astype(np.float32)
    path = _save(tmp_path / "v.npz", traces=volts, units="mV")
    ts = read_traces(path, sampling_rate=3.2e9)  # no sampling_rate_hz: the argument, silently
    assert ts.traces.shape == (4, 1, 32) and ts.channels.tolist() == [0]
    np.testing.assert_allclose(ts.traces[:, 0], volts * 1e-3, rtol=1e-6)
    with pytest.warns(SamplingRateWarning, match=r"v\.npz: no sampling rate in the file "
                      r"\(none given\); assuming 3\.2 GHz"):
        assert read_traces(path).sampling_rate == 3.2e9
    float_counts = _save(tmp_path / "fc.npz", traces=_counts().astype(np.float32),
                         sampling_rate_hz=3.2e9)
    np.testing.assert_allclose(read_traces(float_counts).traces,
                               _counts() * ADC_TO_VOLTS_RNOG, rtol=1e-6)


def test_provenance_from_the_file_name():
    assert provenance_from_name("rnog_st24_forced_trigger_noise_100ev.npz") == {
        "station": 24, "trigger_type": "FORCE"}
    assert provenance_from_name("/x/station11-force.npz") == {"station": 11,
                                                              "trigger_type": "FORCE"}
    assert provenance_from_name("best_first_forcefield.npz") == {}  # no whole tokens


def test_keys_win_over_the_file_name(tmp_path, capsys):
    path = _save(tmp_path / "st24_forced.npz", traces=_counts(3), sampling_rate_hz=3.2e9,
                 station=np.array([23, 23, 23]), trigger_type="LT")
    assert main(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["station"] == [23]
    assert summary["trigger_mix"] == {"LT": 3}
    assert summary["metadata_source"] == {"station": "key", "trigger_type": "key"}


def _write_npy(p: Path) -> Path:
    np.save(p.with_suffix(".npy"), _counts())
    return p.with_suffix(".npy")


@pytest.mark.parametrize(("keys", "message"), [
    ({"x": np.zeros(3)}, r"no 'traces' key \(keys: \['sampling_rate_hz', 'x'\]\)"),
    ({"traces": np.zeros((2, 2, 2, 2))}, r"'traces' has shape \(2, 2, 2, 2\)"),
    ({"traces": np.zeros((0, 2, 8))}, r"'traces' has shape \(0, 2, 8\)"),
    ({"traces": np.array([[["a"]]])}, "'traces' holds <U1"),
    ({"traces": _counts(), "sampling_rate_hz": -1.0}, "'sampling_rate_hz' is -1"),
    ({"traces": _counts(), "sampling_rate_hz": [1.0, 2.0]}, "'sampling_rate_hz' must be one"),
    ({"traces": _counts(), "channel_ids": [1]}, "'channel_ids' must hold 2"),
    ({"traces": _counts(), "channel_ids": [1, 1]}, "'channel_ids' repeats an id"),
    ({"traces": _counts(), "units": "V"}, r"'units' is 'V' for int16 traces"),
    ({"traces": _counts(), "adc_to_volts": 0.0}, "'adc_to_volts' is 0"),
    ({"traces": _counts(), "station": [1, 2]}, r"'station' holds 2 values for 6 events"),
    ({"traces": _counts(), "trigger_type": "LT"},
     r"no 'FORCE' trigger events: 0 of 6 \(trigger types in the file: LT 6\)"),
])
def test_bad_npz_is_a_one_line_error_naming_the_file(tmp_path, keys, message):
    path = _save(tmp_path / "bad.npz", **{"sampling_rate_hz": 3.2e9, **keys})
    with pytest.raises(DataFileError, match=message) as info:
        read_traces(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_bad_files_and_arguments(tmp_path, capsys):
    npy = _write_npy(tmp_path / "a")
    with pytest.raises(DataFileError, match=r"a\.npy: is a bare \.npy array"):
        read_traces(npy)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(DataFileError, match=r"broken\.npz: cannot be read as npz"):
        read_traces(broken)
    good = _save(tmp_path / "g.npz", traces=_counts(), sampling_rate_hz=3.2e9)
    with pytest.raises(ConfigError, match="unknown trigger selection 'bogus'"):
        read_traces(good, trigger="bogus")
    with pytest.raises(DataFileError, match=r"disagrees with the file's 'sampling_rate_hz' key"):
        read_traces(good, sampling_rate=2.4e9)
    assert main(["inspect", str(good), "--sampling-rate", "2.4e9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rnognoise inspect: error: {good}: ")
