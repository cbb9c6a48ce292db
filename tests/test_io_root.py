"""RNO-G ROOT files: flat and mattak layouts written with uproot, round trips, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot

from rnognoise.cli import main
from rnognoise.errors import ConfigError, DataFileError, OutputExistsError, SamplingRateWarning
from rnognoise.io import TraceSet, iter_traces, open_traces, read_traces, write_traces
from rnognoise.io import root_read as root_module
from rnognoise.io.root import RootSource, trigger_types, write_root
from rnognoise.units import ADC_TO_VOLTS_RNOG

MATTAK_SAMPLES = "radiant_data[24][2048]"
MATTAK_RATE = "mattak::IWaveforms/radiant_sampling_rate"


def _counts(n_events: int, n_channels: int = 24, n_samples: int = 2048, seed: int = 0,
            ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-300, 300, (n_events, n_channels, n_samples)).astype(np.int16)


def _write_tree(path: Path, trees: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write trees of fixed-shape branches with plain uproot, as another program would."""
    with uproot.recreate(path) as f:
        for tree_name, branches in trees.items():
            types = {k: np.dtype((v.dtype, v.shape[1:])) for k, v in branches.items()}
            tree = f.mktree(tree_name, types)
            if branches and len(next(iter(branches.values()))):
                tree.extend(branches)
    return path


def _flags(forced: list[bool]) -> dict[str, np.ndarray]:
    forced_arr = np.array(forced, dtype=bool)
    return {"force_trigger": forced_arr, "rf_trigger": ~forced_arr, "lt_trigger": ~forced_arr}


def _mattak_run(run_dir: Path, counts: np.ndarray, forced: list[bool], *,
                wf_tree: str = "waveforms", hd_tree: str = "header", rate_mhz: int = 3200,
                ) -> Path:
    """A run directory with waveforms.root + headers.root using mattak's branch names."""
    n = counts.shape[0]
    run_dir.mkdir(parents=True)
    numbers = np.arange(100, 100 + n, dtype=np.uint32)
    _write_tree(run_dir / "waveforms.root", {wf_tree: {
        MATTAK_SAMPLES: counts,
        MATTAK_RATE: np.full(n, rate_mhz, np.uint32),
        "event_number": numbers,
        "run_number": np.full(n, 1000, np.uint32),
        "station_number": np.full(n, 11, np.uint16),
    }})
    header = {"event_number": numbers, "run_number": np.full(n, 1000, np.uint32),
              "station_number": np.full(n, 11, np.uint16),
              "readout_time": 1.7e9 + np.arange(n, dtype=np.float64)}
    header.update({f"trigger_info/trigger_info.{k}": v for k, v in _flags(forced).items()})
    _write_tree(run_dir / "headers.root", {hd_tree: header})
    return run_dir


def _flat(path: Path, counts: np.ndarray, **extra: np.ndarray) -> Path:
    n = counts.shape[0]
    branches = {"radiant_data": counts, "radiant_sampling_rate": np.full(n, 2400, np.uint32),
                "event_number": np.arange(n, dtype=np.uint32)}
    branches.update(extra)
    return _write_tree(path, {"combined": branches})


# -- layouts --------------------------------------------------------------------------------


def test_flat_round_trip_keeps_volts_channels_rate_and_triggers(tmp_path):
    counts = _counts(6, 3, 256)
    events = pd.DataFrame({"event_number": np.arange(6) + 40, "readout_time": np.arange(6.0),
                           "trigger_type": ["FORCE", "LT", "FORCE", "RADIANT1", "PPS",
                                            "FORCE"]})
    ts = TraceSet(counts * np.float32(ADC_TO_VOLTS_RNOG), 3.2e9, [12, 0, 5], events)
    path = tmp_path / "flat.root"
    write_traces(path, ts, format="root")
    back = read_traces(path, trigger="all")
    assert back.traces.dtype == np.float32
    assert back.traces.shape == (6, 3, 256)
    np.testing.assert_array_equal(back.traces, ts.traces)
    assert back.channels.tolist() == [12, 0, 5]
    assert back.sampling_rate == 3.2e9
    assert back.events["trigger_type"].tolist() == events["trigger_type"].tolist()
    assert back.events["event_number"].tolist() == list(range(40, 46))
    forced = read_traces(path)
    assert forced.events["event_number"].tolist() == [40, 42, 45]
    np.testing.assert_array_equal(forced.traces, ts.traces[[0, 2, 5]])
    assert read_traces(path, trigger="radiant").events["trigger_type"].tolist() == ["RADIANT1"]
    assert read_traces(path, trigger="RF").n_events == 2  # LT and RADIANT are RF triggers


def test_flat_tree_from_a_plain_uproot_script(tmp_path):
    counts = _counts(3)
    path = _flat(tmp_path / "plain.root", counts,
                 force_trigger=np.array([True, False, True]))
    ts = read_traces(path)
    assert ts.traces.shape == (2, 24, 2048)
    assert ts.channels.tolist() == list(range(24))
    assert ts.sampling_rate == 2.4e9
    np.testing.assert_allclose(ts.traces, counts[[0, 2]] * 2.5 / 4095, rtol=1e-6)
    assert ts.events["trigger_type"].tolist() == ["FORCE", "FORCE"]


def test_run_directory_with_mattak_branch_names(tmp_path):
    counts = _counts(4)
    run = _mattak_run(tmp_path / "station11" / "run1000", counts, [False, True, False, True])
    ts = read_traces(run)
    assert ts.n_events == 2
    np.testing.assert_allclose(ts.traces, counts[[1, 3]] * ADC_TO_VOLTS_RNOG, rtol=1e-6)
    assert ts.sampling_rate == 3.2e9
    assert ts.events["event_number"].tolist() == [101, 103]
    assert ts.events["station"].tolist() == [11, 11]
    assert ts.events["run_number"].tolist() == [1000, 1000]
    assert ts.events["readout_time"].tolist() == [1.7e9 + 1, 1.7e9 + 3]
    assert ts.events["trigger_type"].tolist() == ["FORCE", "FORCE"]
    everything = read_traces(run, trigger="all")
    assert everything.events["trigger_type"].tolist() == ["LT", "FORCE", "LT", "FORCE"]
    # the waveforms.root file alone picks up its sibling headers.root
    alone = read_traces(run / "waveforms.root")
    assert alone.events["event_number"].tolist() == [101, 103]


def test_combined_file_with_waveform_and_header_groups(tmp_path):
    counts = _counts(3, 24, 2048, seed=3)
    n = 3
    branches = {"waveforms/" + MATTAK_SAMPLES: counts,
                "waveforms/" + MATTAK_RATE: np.full(n, 2400, np.uint32),
                "waveforms/event_number": np.array([7, 8, 9], np.uint32),
                "header/event_number": np.array([7, 8, 9], np.uint32),
                "header/station_number": np.full(n, 23, np.uint16),
                "header/readout_time": np.array([1.0, 2.0, 3.0]),
                "header/trigger_info/trigger_info.radiant_trigger": np.array([1, 0, 0], bool),
                "header/trigger_info/trigger_info.which_radiant_trigger":
                    np.array([-1, -1, -1], np.int8),
                "header/trigger_info/trigger_info.force_trigger": np.array([0, 1, 1], bool)}
    run = tmp_path / "run5"
    run.mkdir()
    _write_tree(run / "combined.root", {"combined": branches})
    for where in (run, run / "combined.root"):
        with open_traces(where, trigger="all") as src:
            assert src.info()["trigger_mix"] == {"FORCE": 2, "RADIANTX": 1}
            assert src.sampling_rate == 2.4e9
        ts = read_traces(where)
        assert ts.events["event_number"].tolist() == [8, 9]
        assert ts.events["station"].tolist() == [23, 23]
        np.testing.assert_allclose(ts.traces, counts[1:] * ADC_TO_VOLTS_RNOG, rtol=1e-6)


@pytest.mark.parametrize(("wf_tree", "hd_tree"),
                         [("wfs", "hdr"), ("wf", "hd"), ("waveform", "hds"),
                          ("waveforms", "headers")])
def test_older_tree_names_are_accepted(tmp_path, wf_tree, hd_tree):
    counts = _counts(3, 24, 2048, seed=1)
    run = _mattak_run(tmp_path / "run", counts, [True, False, True], wf_tree=wf_tree,
                      hd_tree=hd_tree)
    ts = read_traces(run)
    assert ts.events["event_number"].tolist() == [100, 102]
    np.testing.assert_allclose(ts.traces, counts[[0, 2]] * ADC_TO_VOLTS_RNOG, rtol=1e-6)


def test_headers_cover_more_events_than_waveforms_matched_by_event_number(tmp_path):
    run = _mattak_run(tmp_path / "run", _counts(5, 2, 64), [True, False, True, True, False])
    # rewrite waveforms.root with only events 101, 102 and 104 of the five headers
    counts = _counts(3, 2, 64, seed=4)
    _write_tree(run / "waveforms.root", {"waveforms": {
        "radiant_data": counts, "radiant_sampling_rate": np.full(3, 3200, np.uint32),
        "event_number": np.array([101, 102, 104], np.uint32)}})
    ts = read_traces(run, trigger="all")
    assert ts.events["event_number"].tolist() == [101, 102, 104]
    assert ts.events["trigger_type"].tolist() == ["LT", "FORCE", "LT"]
    np.testing.assert_allclose(read_traces(run).traces, counts[[1]] * ADC_TO_VOLTS_RNOG,
                               rtol=1e-6)


def test_headerless_waveforms_file_takes_every_event(tmp_path):
    counts = _counts(3, 4, 128)
    path = _write_tree(tmp_path / "waveforms.root", {"waveforms": {
        "radiant_data": counts, "radiant_sampling_rate": np.full(3, 3200, np.uint32)}})
    with RootSource(path) as src:
        assert src.n_events == 3
        assert "every event" in src.info()["trigger_info"]
        assert "trigger_type" not in src.events


def test_adc_factor_override(tmp_path):
    counts = _counts(2, 2, 32)
    path = _flat(tmp_path / "f.root", counts)
    ts = read_traces(path, adc_to_volts=1e-3)
    np.testing.assert_allclose(ts.traces, counts * 1e-3, rtol=1e-6)
    with pytest.raises(ConfigError, match="adc_to_volts"):
        read_traces(path, adc_to_volts=-1.0)


def test_write_root_with_another_adc_factor_and_run_station(tmp_path, small_traceset):
    path = tmp_path / "w.root"
    write_root(path, small_traceset, adc_to_volts=1e-4, run_number=7, station=21)
    back = read_traces(path, trigger="all")  # the factor is read back from the file
    np.testing.assert_allclose(back.traces, small_traceset.traces, atol=0.5e-4 + 1e-9)
    with open_traces(path) as src:
        assert src.info()["adc_to_volts_source"] == "'adc_to_volts' branch"
    raw = read_traces(path, trigger="all", adc_to_volts=1.0)  # the argument wins: counts
    np.testing.assert_array_equal(raw.traces, np.rint(small_traceset.traces / 1e-4))
    write_root(tmp_path / "plain.root", small_traceset, compression=None)
    assert (tmp_path / "plain.root").stat().st_size > small_traceset.traces.size * 2
    np.testing.assert_allclose(read_traces(tmp_path / "plain.root", trigger="all").traces,
                               small_traceset.traces, atol=ADC_TO_VOLTS_RNOG / 2 + 1e-9)
    assert set(back.events["run_number"]) == {7}
    assert set(back.events["station"]) == {21}
    assert back.events["trigger_type"].tolist() == small_traceset.events["trigger_type"].tolist()
    with uproot.open(path) as f:
        assert f["combined"]["radiant_data"].array(library="np").dtype == np.int16


def test_write_root_refuses_overwrite_nan_and_overflow(tmp_path, small_traceset):
    path = tmp_path / "keep.root"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        write_root(path, small_traceset)
    assert path.read_bytes() == b"precious"
    bad = TraceSet(small_traceset.traces.copy(), 3.2e9, small_traceset.channels)
    bad.traces[0, 0, 0] = np.nan
    with pytest.raises(DataFileError, match="NaN"):
        write_root(tmp_path / "nan.root", bad)
    loud = TraceSet(small_traceset.traces * 1e4, 3.2e9, small_traceset.channels)
    with pytest.raises(ConfigError, match="int16 range"):
        write_root(tmp_path / "loud.root", loud)
    assert not (tmp_path / "nan.root").exists() and not (tmp_path / "loud.root").exists()


def test_trigger_type_precedence_follows_mattak():
    flags = {"force_trigger": np.array([1, 1, 1, 0, 0], bool),
             "lt_trigger": np.array([0, 1, 0, 0, 0], bool),
             "radiant_trigger": np.array([0, 0, 1, 1, 0], bool)}
    names = trigger_types(flags, np.array([-1, -1, 0, -1, -1]), 5)
    assert names.tolist() == ["FORCE", "LT", "RADIANT0", "RADIANTX", "UNKNOWN"]


# -- files without a sampling rate ------------------------------------------------------------


def _rateless_combined(path: Path, n: int = 3) -> Path:
    """A mattak-style combined.root of the 2021-2023 generation: no rate branch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_tree(path, {"combined": {
        "waveforms/" + MATTAK_SAMPLES: _counts(n, seed=5),
        "waveforms/event_number": np.arange(n, dtype=np.uint32),
        "header/event_number": np.arange(n, dtype=np.uint32),
        "header/station_number": np.full(n, 21, np.uint16),
        "header/run_number": np.full(n, 476, np.uint32),
        "header/trigger_info/trigger_info.force_trigger": np.ones(n, bool)}})


def _runinfo(folder: Path, text: str) -> Path:
    (folder / "aux").mkdir(parents=True, exist_ok=True)
    (folder / "aux" / "runinfo.txt").write_text(text)
    return folder / "aux" / "runinfo.txt"


def test_no_rate_and_no_runinfo_assumes_3_2_ghz_with_a_warning(tmp_path):
    path = _rateless_combined(tmp_path / "run" / "combined.root")
    with pytest.warns(SamplingRateWarning) as record:
        ts = read_traces(path)
    assert ts.sampling_rate == 3.2e9
    assert ts.n_events == 3 and ts.traces.shape[1:] == (24, 2048)
    assert len(record) == 1
    text = str(record[0].message)
    assert "\n" not in text
    assert text.startswith(f"{path}: no sampling rate in the file (no aux/runinfo.txt found); "
                           "assuming 3.2 GHz")


@pytest.mark.parametrize("where", ["run", "file", "parent"])
def test_rate_from_runinfo_beside_the_data(tmp_path, where):
    run = tmp_path / "station21" / "run476"
    if where == "parent":  # combined.root one folder below the run directory's aux/
        path = _rateless_combined(run / "merged" / "combined.root")
    else:
        path = _rateless_combined(run / "combined.root")
    _runinfo(run, "# written by the DAQ\nstation = 21\nRADIANT-SAMPLERATE: 2400\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_traces(run if where == "run" else path) as src:
            assert src.sampling_rate == 2.4e9
            assert src.info()["sampling_rate_source"] == (
                f"radiant-samplerate in {run / 'aux' / 'runinfo.txt'}")


def test_runinfo_without_the_rate_warns_and_a_bad_rate_is_an_error(tmp_path):
    run = tmp_path / "run"
    _rateless_combined(run / "combined.root")
    runinfo = _runinfo(run, "station = 21\nrun = 476\n")
    with pytest.warns(SamplingRateWarning, match=f"{runinfo} has no radiant-samplerate\\); "
                      "assuming 3.2 GHz"):
        assert read_traces(run).sampling_rate == 3.2e9
    for bad in ("fast", "", "-3200", "nan"):
        runinfo.write_text(f"radiant-samplerate = {bad}\n")
        with pytest.raises(DataFileError, match=f"^{runinfo}: radiant-samplerate = '{bad}' is "
                           "not a positive number of MHz"):
            read_traces(run)
    # an explicit rate does not need runinfo.txt at all
    assert read_traces(run, sampling_rate=2.4e9).sampling_rate == 2.4e9


def test_sampling_rate_argument(tmp_path):
    run = tmp_path / "run"
    rateless = _rateless_combined(run / "combined.root")
    _runinfo(run, "radiant-samplerate = 3200\n")
    # no rate branch: the argument wins over runinfo.txt and the assumption
    with open_traces(run, sampling_rate=2.4e9) as src:
        assert src.sampling_rate == 2.4e9
        assert src.info()["sampling_rate_source"] == "argument"
    # a rate branch: the same value is accepted, another one refused
    flat = _flat(tmp_path / "flat.root", _counts(2, 2, 16))  # 2400 MHz
    assert read_traces(flat, trigger="all", sampling_rate=2.4e9).sampling_rate == 2.4e9
    with pytest.raises(DataFileError, match=r"flat\.root: sampling_rate / --sampling-rate "
                       r"3\.2e\+09 Hz disagrees with the file's 'radiant_sampling_rate' "
                       r"branch \(2\.4e\+09 Hz\)"):
        read_traces(flat, trigger="all", sampling_rate=3.2e9)
    for bad, message in ((-1.0, "positive"), (3200, "implausibly low"), ("x", "number")):
        with pytest.raises(ConfigError, match=message):
            read_traces(rateless, sampling_rate=bad)


def test_cli_sampling_rate(tmp_path, capsys):
    run = tmp_path / "run"
    _rateless_combined(run / "combined.root")
    assert main(["inspect", str(run), "--json", "--trigger", "forced"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["sampling_rate_GHz"] == 3.2
    assert captured.err.strip().splitlines() == [
        f"rnognoise inspect: warning: {run}: no sampling rate in the file (no aux/runinfo.txt "
        "found); assuming 3.2 GHz, the RNO-G rate before 2024 (pass --sampling-rate / "
        "sampling_rate= to set it)"]
    assert main(["inspect", str(run), "--json", "--sampling-rate", "2.4e9"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["sampling_rate_GHz"] == 2.4 and captured.err == ""
    flat = _flat(tmp_path / "flat.root", _counts(2, 2, 16))
    assert main(["inspect", str(flat), "--sampling-rate", "3.2e9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rnognoise inspect: error: {flat}: ")
    assert "disagrees" in err[0]


# -- mattak generations ------------------------------------------------------------------------


def test_daqstatus_branches_are_never_taken_for_header_values(tmp_path):
    n = 2
    path = _write_tree(tmp_path / "combined.root", {"combined": {
        "waveforms/" + MATTAK_SAMPLES: _counts(n),
        "header/station_number": np.full(n, 23, np.uint16),
        "header/trigger_info/trigger_info.force_trigger": np.ones(n, bool),
        "daqstatus/station_number": np.full(n, 99, np.uint8),
        "daqstatus/run_number": np.full(n, 7, np.uint32),
        "daqstatus/radiant_thresholds[24]": np.zeros((n, 24), np.uint32)}})
    ts = read_traces(path, sampling_rate=3.2e9)
    assert ts.events["station"].tolist() == [23, 23]
    assert "run_number" not in ts.events  # the DAQ status's run_number is not the header's


@pytest.mark.parametrize("layout", ["2021", "2024", "no rf flag"])
def test_old_and_new_trigger_flag_layouts(tmp_path, layout):
    # events: RADIANT (upper), RADIANT (lower), LT, FORCE, nothing set
    flags = {"radiant_trigger": [1, 1, 0, 0, 0], "lt_trigger": [0, 0, 1, 0, 0],
             "force_trigger": [0, 0, 0, 1, 0], "pps_trigger": [0] * 5, "ext_trigger": [0] * 5,
             "rf_trigger": [1, 1, 1, 0, 0]}
    if layout == "2021":  # rf/force/pps/ext/radiant/lt/surface, no which_radiant_trigger
        flags["surface_trigger"] = [0] * 5
        expected = ["RADIANTX", "RADIANTX", "LT", "FORCE", "UNKNOWN"]
    elif layout == "2024":  # which_radiant_trigger, which_lt_trigger, didaq_trigger
        flags.update(which_radiant_trigger=[0, 1, -1, -1, -1],
                     which_lt_trigger=[-1, -1, 0, -1, -1], didaq_trigger=[0] * 5)
        expected = ["RADIANT0", "RADIANT1", "LT", "FORCE", "UNKNOWN"]
    else:
        del flags["rf_trigger"]
        expected = ["RADIANTX", "RADIANTX", "LT", "FORCE", "UNKNOWN"]
    branches: dict[str, np.ndarray] = {"waveforms/radiant_data": _counts(5, 2, 32)}
    for name, values in flags.items():
        dtype = np.int8 if name.startswith("which") else bool
        branches[f"header/trigger_info/trigger_info.{name}"] = np.array(values, dtype)
    path = _write_tree(tmp_path / "combined.root", {"combined": branches})
    everything = read_traces(path, trigger="all", sampling_rate=3.2e9)
    assert everything.events["trigger_type"].tolist() == expected
    for trigger, kept in (("forced", [3]), ("rf", [0, 1, 2]), ("lt", [2]),
                          ("radiant", [0, 1]), ("unknown", [4]), ("ALL", [0, 1, 2, 3, 4])):
        ts = read_traces(path, trigger=trigger, sampling_rate=3.2e9)
        assert ts.events["trigger_type"].tolist() == [expected[i] for i in kept], trigger
    with pytest.raises(DataFileError, match=r"no 'PPS' trigger events: 0 of 5 \(trigger types "
                       r"in the file: FORCE 1, LT 1, RADIANT.*UNKNOWN 1 \(no trigger flag "
                       r"set\)\)"):
        read_traces(path, trigger="pps", sampling_rate=3.2e9)


def test_unsplit_trigger_info_is_an_unknown_layout(tmp_path):
    path = _write_tree(tmp_path / "combined.root", {"combined": {
        "waveforms/radiant_data": _counts(2, 2, 32),
        "header/event_number": np.arange(2, dtype=np.uint32),
        "header/trigger_info": np.array([1, 4], np.uint32)}})
    with pytest.raises(DataFileError, match=r"combined\.root: unknown trigger flag layout: "
                       r"\['header/trigger_info'\] holds mattak::TriggerInfo unsplit"):
        read_traces(path, sampling_rate=3.2e9)


def test_run_directory_needs_headers_but_a_lone_waveforms_file_does_not(tmp_path):
    run = _mattak_run(tmp_path / "run", _counts(2), [True, False])
    (run / "headers.root").unlink()
    with pytest.raises(DataFileError, match=r"run: run directory has waveforms\.root but no "
                       r"headers\.root"):
        read_traces(run)
    assert read_traces(run / "waveforms.root").n_events == 2  # named file: read whole


# -- streaming ------------------------------------------------------------------------------


def test_iter_traces_streams_the_same_data_as_read_traces(tmp_path, monkeypatch):
    counts = _counts(40, 3, 128, seed=2)
    forced = [i % 3 != 1 for i in range(40)]
    path = _flat(tmp_path / "s.root", counts, force_trigger=np.array(forced))
    whole = read_traces(path, channels=[2, 0])
    # blocks of 4 events force several windowed reads per batch
    monkeypatch.setattr(root_module, "_WINDOW_BYTES", 4 * 3 * 128 * 2)
    batches = list(iter_traces(path, batch_size=6, channels=[2, 0]))
    assert max(b.n_events for b in batches) == 6
    joined = TraceSet.concatenate(batches)
    np.testing.assert_array_equal(joined.traces, whole.traces)
    assert joined.events["event_number"].tolist() == np.flatnonzero(forced).tolist()
    np.testing.assert_allclose(whole.traces, counts[np.array(forced)][:, [2, 0]]
                               * ADC_TO_VOLTS_RNOG, rtol=1e-6)


def test_reads_touch_only_the_needed_baskets_and_decode_each_once(tmp_path, monkeypatch):
    path = tmp_path / "r.root"
    counts = _counts(50, 2, 64)
    forced = np.zeros(50, bool)
    forced[[2, 5, 33]] = True
    with uproot.recreate(path) as f:  # five baskets of ten events
        tree = f.mktree("combined", {"radiant_data": np.dtype((np.int16, (2, 64))),
                                     "radiant_sampling_rate": np.uint32, "force_trigger": bool})
        for lo in range(0, 50, 10):
            tree.extend({"radiant_data": counts[lo:lo + 10], "force_trigger": forced[lo:lo + 10],
                         "radiant_sampling_rate": np.full(10, 3200, np.uint32)})
    calls = []
    original = RootSource._read_block

    def spy(self, lo, hi):
        calls.append((lo, hi))
        return original(self, lo, hi)

    monkeypatch.setattr(RootSource, "_read_block", spy)
    picked = read_traces(path, events=slice(21, 24), trigger="all")
    assert calls == [(21, 30)]
    np.testing.assert_allclose(picked.traces, counts[21:24] * ADC_TO_VOLTS_RNOG, rtol=1e-6)
    calls.clear()
    sparse = read_traces(path)  # forced events 2, 5, 33: baskets 1 and 2 are skipped
    assert calls == [(2, 10), (33, 40)]
    np.testing.assert_allclose(sparse.traces, counts[[2, 5, 33]] * ADC_TO_VOLTS_RNOG, rtol=1e-6)
    with RootSource(path, trigger="all") as src:
        shuffled = src.read_events(np.array([33, 2, 33]))
    np.testing.assert_allclose(shuffled.traces, counts[[33, 2, 33]] * ADC_TO_VOLTS_RNOG,
                               rtol=1e-6)
    calls.clear()
    streamed = TraceSet.concatenate(list(iter_traces(path, batch_size=4, trigger="all")))
    assert calls == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50)]
    np.testing.assert_allclose(streamed.traces, counts * ADC_TO_VOLTS_RNOG, rtol=1e-6)


def test_inspect_json_on_a_root_file(tmp_path, capsys, small_traceset):
    path = tmp_path / "i.root"
    write_traces(path, small_traceset)
    assert main(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "root"
    assert summary["n_events"] == 64
    assert summary["channels"] == [5, 6, 9]
    assert summary["sampling_rate_GHz"] == 3.2
    assert summary["trigger_mix"] == {"FORCE": 60, "LT": 4}
    assert summary["rms_mV"][0] == pytest.approx(10.0, rel=0.05)


# -- bad input ------------------------------------------------------------------------------


def _not_root(d: Path) -> Path:
    (d / "x.root").write_bytes(b"root" + b"\x00garbage" * 20)
    return d / "x.root"


def _truncated(d: Path) -> Path:
    path = _flat(d / "t.root", _counts(20, 4, 512))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _no_tree(d: Path) -> Path:
    return _write_tree(d / "x.root", {"other": {"a": np.arange(3)}})


def _no_samples(d: Path) -> Path:
    return _write_tree(d / "x.root", {"combined": {"radiant_sampling_rate": np.full(2, 3200)}})


def _no_rate(d: Path) -> Path:
    return _write_tree(d / "x.root", {"combined": {"radiant_data": _counts(2, 2, 8)}})


def _one_d(d: Path) -> Path:
    return _write_tree(d / "x.root", {"combined": {
        "radiant_data": np.zeros((2, 2048), np.int16),
        "radiant_sampling_rate": np.full(2, 3200)}})


def _zero_events(d: Path) -> Path:
    return _write_tree(d / "x.root", {"combined": {
        "radiant_data": np.zeros((0, 24, 2048), np.int16),
        "radiant_sampling_rate": np.zeros(0, np.uint32)}})


def _rate(values: list[float]) -> object:
    def build(d: Path) -> Path:
        n = len(values)
        return _write_tree(d / "x.root", {"combined": {
            "radiant_data": _counts(n, 2, 8), "radiant_sampling_rate": np.array(values)}})
    return build


def _no_forced(d: Path) -> Path:
    return _flat(d / "x.root", _counts(3, 2, 8), force_trigger=np.zeros(3, bool),
                 lt_trigger=np.ones(3, bool))


def _mismatch(d: Path) -> Path:
    run = _mattak_run(d / "run", _counts(3, 24, 2048), [True, True, True])
    _write_tree(run / "headers.root", {"header": {
        "event_number": np.array([1, 2], np.uint32),
        "trigger_info/trigger_info.force_trigger": np.ones(2, bool)}})
    return run


def _empty_dir(d: Path) -> Path:
    (d / "run").mkdir()
    return d / "run"


def _bad_channel_ids(d: Path) -> Path:
    return _flat(d / "x.root", _counts(2, 3, 8), channel_ids=np.zeros((2, 2), np.int32))


@pytest.mark.parametrize(("build", "message"), [
    (_not_root, "cannot be opened as ROOT"),
    (_truncated, "truncated"),
    (_no_tree, r"no waveform tree \(looked for \['combined', 'waveforms'"),
    (_no_samples, "no 'radiant_data' branch"),
    (_one_d, r"per-event shape \(2048,\); expected \(n_channels, n_samples\)"),
    (_zero_events, "zero events"),
    (_rate([0.0, 0.0]), "must be positive"),
    (_rate([-3200.0, -3200.0]), "must be positive"),
    (_rate([3200.0, 2400.0]), "varies within the file"),
    (_no_forced, r"no 'FORCE' trigger events: 0 of 3 \(trigger types in the file: LT 3\); "
                 r"use trigger='all' / --trigger all"),
    (_mismatch, "header/waveform mismatch"),
    (_empty_dir, "neither waveforms.root nor combined.root"),
    (_bad_channel_ids, "'channel_ids' must hold 3"),
])
def test_bad_input_raises_one_line_error_naming_the_file(tmp_path, build, message):
    path = build(tmp_path)
    with pytest.raises(DataFileError, match=message) as info:
        read_traces(path)
    text = str(info.value)
    assert "\n" not in text
    assert str(tmp_path) in text


def test_cli_reports_a_bad_root_file_without_traceback(tmp_path, capsys):
    path = _no_samples(tmp_path)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no 'radiant_data' branch" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_trigger_name_is_a_config_error(tmp_path):
    path = _flat(tmp_path / "f.root", _counts(2, 2, 8), force_trigger=np.ones(2, bool))
    with pytest.raises(ConfigError, match="unknown trigger selection 'bogus'"):
        read_traces(path, trigger="bogus")
