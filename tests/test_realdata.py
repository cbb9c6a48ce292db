"""The public real RNO-G samples of ``../shared/realdata`` through ``read_traces`` and the CLI.

- ``pulser_data_21.root``: a mattak ``combined`` tree exactly as ROOT writes it (station 21,
  run 476, 2021; 5 events x 24 channels x 2048 samples; no ``radiant_sampling_rate``
  branch; all trigger flags false; a calibration pulse after sample 200 on most channels);
- ``rnog_st24_forced_trigger_noise_100ev.npz``: 100 forced-trigger traces of channel 12 of
  station 24, int16 ADC counts, 3.2 GHz.

The expected values are checked against uproot and numpy reading the same files directly.
Every test skips when the folder is absent (it sits beside the repository in CI).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import uproot

from rnognoise.cli import main
from rnognoise.errors import DataFileError, SamplingRateWarning
from rnognoise.io import iter_traces, open_traces, read_traces
from rnognoise.units import ADC_TO_VOLTS_RNOG

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
PULSER = REALDATA / "pulser_data_21.root"
ST24 = REALDATA / "rnog_st24_forced_trigger_noise_100ev.npz"

pytestmark = pytest.mark.skipif(not (PULSER.is_file() and ST24.is_file()),
                                reason=f"public real samples not found in {REALDATA}")

#: Channels without the calibration pulse (README of the samples).
QUIET = [4, 8, 11, *range(12, 21)]
PULSED = [0, 1, 2, 3, 5, 6, 9, 10, 21, 22, 23]


def _pulser_counts() -> np.ndarray:
    with uproot.open(PULSER) as f:
        return f["combined"]["waveforms/radiant_data[24][2048]"].array(library="np")


# -- station 21 pulser run (mattak combined.root) ------------------------------------------


def test_pulser_file_reads_with_the_assumed_rate_and_a_warning():
    with pytest.warns(SamplingRateWarning, match=r"pulser_data_21\.root: no sampling rate.*"
                      r"no aux/runinfo\.txt found.*assuming 3\.2 GHz"):
        ts = read_traces(PULSER, trigger="all")
    assert ts.traces.shape == (5, 24, 2048)
    assert ts.traces.dtype == np.float32
    assert ts.sampling_rate == 3.2e9
    assert ts.channels.tolist() == list(range(24))
    np.testing.assert_array_equal(ts.traces, _pulser_counts() * np.float32(ADC_TO_VOLTS_RNOG))
    events = ts.events
    assert events["station"].tolist() == [21] * 5
    assert events["run_number"].tolist() == [476] * 5
    assert events["event_number"].tolist() == [7, 11, 16, 46, 55]
    assert events["trigger_type"].tolist() == ["UNKNOWN"] * 5  # every flag is false
    # readout times: 18 August 2021, in event order, within a minute
    times = events["readout_time"].to_numpy()
    assert (np.diff(times) >= 0).all() and times[-1] - times[0] < 60
    assert 1629244800 < times[0] < 1629331200


def test_pulser_pulse_is_where_the_readme_says():
    with pytest.warns(SamplingRateWarning):
        ts = read_traces(PULSER, trigger="all")
    peak = np.abs(ts.traces)
    ratio = peak[:, :, 200:].max(axis=(0, 2)) / peak[:, :, :200].max(axis=(0, 2))
    assert (ratio[QUIET] < 2).all(), ratio[QUIET]
    assert (ratio[PULSED] > 5).all(), ratio[PULSED]


def test_the_calibration_pulses_set_the_pulse_width_and_stay_pulses():
    """The pulse component's test of an event's energy around its peak, on real pulses
    through RNO-G's signal chains: the deep channels' pulses keep their energy within
    the shortest half width (10 ns); the surface LPDAs' are dispersed, the loudest
    channel of each event, and the half width taken from these events is about twice as
    long, where four of the five events are pulses (one at 10 ns)."""
    import torch

    from rnognoise.models.impulses import pulse_half_width, pulse_peaks

    with pytest.warns(SamplingRateWarning):
        ts = read_traces(PULSER, trigger="all")
    x = ts.traces[:, PULSED].astype(np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    x = x / x[..., :200].std(axis=-1, keepdims=True)              # noise before the pulse
    events = torch.from_numpy(x)
    deep = torch.from_numpy(x[:, :8].reshape(-1, 1, x.shape[-1]))  # each channel an event
    shortest = pulse_half_width(deep, ts.sampling_rate, 4.0)
    assert 32 <= shortest <= 40
    assert (pulse_peaks(deep, shortest) > 8).all()
    half = pulse_half_width(events, ts.sampling_rate, 4.0)
    assert 2 * 32 - 8 <= half <= 96
    assert int((pulse_peaks(events, half) > 0).sum()) >= 4
    assert int((pulse_peaks(events, 32) > 0).sum()) <= 1


def test_pulser_default_forced_selection_is_refused_with_the_trigger_counts():
    # refused before the rate is looked at: no warning precedes the error
    with pytest.raises(DataFileError, match=r"pulser_data_21\.root: no 'FORCE' trigger events: "
                       r"0 of 5 \(trigger types in the file: UNKNOWN 5 \(no trigger flag "
                       r"set\)\); use trigger='all' / --trigger all") as info:
        read_traces(PULSER)
    assert "\n" not in str(info.value)


def test_pulser_trigger_unknown_rate_override_and_missing_channel():
    ts = read_traces(PULSER, trigger="unknown", channels=[21, 4], sampling_rate=3.2e9)
    assert ts.n_events == 5 and ts.channels.tolist() == [21, 4]
    with pytest.raises(DataFileError, match=r"channel\(s\) \[24\] not in the file"):
        read_traces(PULSER, trigger="all", channels=[0, 24], sampling_rate=3.2e9)
    batches = list(iter_traces(PULSER, 2, trigger="all", sampling_rate=2.4e9))
    assert [b.n_events for b in batches] == [2, 2, 1]
    assert {b.sampling_rate for b in batches} == {2.4e9}


def test_pulser_in_a_run_directory_takes_the_rate_from_runinfo(tmp_path):
    run = tmp_path / "station21" / "run476"
    (run / "aux").mkdir(parents=True)
    shutil.copy(PULSER, run / "combined.root")
    (run / "aux" / "runinfo.txt").write_text("station = 21\nrun = 476\n"
                                            "radiant-samplerate = 3200\n")
    for where in (run, run / "combined.root"):
        with open_traces(where, trigger="all") as src:  # no warning: the rate is known
            assert src.sampling_rate == 3.2e9
            info = src.info()
        assert info["sampling_rate_source"].startswith("radiant-samplerate in ")
        assert info["station"] == [21] and info["run"] == [476]
        assert info["trigger_mix"] == {"UNKNOWN": 5}


def test_cli_inspect_pulser_prints_the_warning_on_one_line(capsys):
    assert main(["inspect", str(PULSER), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["n_events"] == 5 and summary["n_channels"] == 24
    assert summary["sampling_rate_GHz"] == 3.2
    assert summary["trigger_mix"] == {"UNKNOWN": 5}
    assert summary["station"] == [21] and summary["run"] == [476]
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rnognoise inspect: warning: ")
    assert str(PULSER) in lines[0] and "assuming 3.2 GHz" in lines[0]
    assert main(["inspect", str(PULSER), "--sampling-rate", "3.2e9", "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_fit_on_pulser_with_default_trigger_exits_2_with_one_line(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["fit", str(PULSER), "--model", "baseline", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnognoise fit: error: ")
    assert "UNKNOWN 5" in err[0] and "--trigger all" in err[0]
    assert not out.exists()


# -- station 24 forced-trigger noise (npz) ---------------------------------------------------


def test_station24_npz_reads_as_forced_station_24_volts():
    raw = np.load(ST24)
    counts = raw["traces"]
    ts = read_traces(ST24)
    assert ts.traces.shape == (100, 1, 2048)
    assert ts.sampling_rate == 3.2e9
    assert ts.channels.tolist() == [12]
    np.testing.assert_array_equal(ts.traces, counts * np.float32(ADC_TO_VOLTS_RNOG))
    assert ts.events["station"].tolist() == [24] * 100
    assert ts.events["trigger_type"].tolist() == ["FORCE"] * 100
    # the README's figures: RMS about 18 counts about each trace's own baseline, and
    # baselines that drift by up to ~15 counts (the reader removes neither)
    baseline = ts.traces.mean(axis=2) / ADC_TO_VOLTS_RNOG
    about_own = np.sqrt(((ts.traces / ADC_TO_VOLTS_RNOG - baseline[..., None]) ** 2).mean())
    assert 16 < about_own < 20
    assert np.abs(baseline).max() > 10


def test_cli_inspect_station24_npz(capsys):
    assert main(["inspect", str(ST24), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert captured.err == ""
    assert summary["format"] == "npz"
    assert summary["n_events"] == 100 and summary["channels"] == [12]
    assert summary["sampling_rate_GHz"] == 3.2
    assert summary["station"] == [24]
    assert summary["trigger_mix"] == {"FORCE": 100}
    assert summary["metadata_source"] == {"station": "file name", "trigger_type": "file name"}


def test_cli_fit_and_validate_read_the_station24_npz(tmp_path, capsys):
    model = tmp_path / "st24.baseline.safetensors"
    assert main(["fit", str(ST24), "--model", "baseline", "--out", str(model), "-q"]) == 0
    assert model.is_file()
    capsys.readouterr()
    status = main(["validate", str(ST24), str(model), "--quick", "--no-c2st", "--json", "-q"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sizes"]["real"] == 100
    assert report["channels"] == [12]
    assert report["sampling_rate_hz"] == 3.2e9
    with pytest.raises(SystemExit):  # argparse refuses a rate given in MHz
        main(["validate", str(ST24), str(model), "--sampling-rate", "3200"])
    assert main(["validate", str(ST24), str(model), "--sampling-rate", "2.4e9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("rnognoise validate: error: ") and "disagrees" in err


def test_a_real_pulses_shape_is_learned_from_the_others():
    """The pulse component's shape, on real pulses through RNO-G's signal chains: each
    channel's shape learned from four of the pulser run's five events (phase by
    alignment, amplitude the median spectrum) matches the fifth event's pulse, aligned on
    it, far better than a zero-phase pulse with the same spectrum (deep channels: 0.96-0.99
    against 0.61-0.78; the surface LPDAs, whose pulses change more from event to event:
    0.4-1.0 against 0.4-0.9)."""
    import torch

    from rnognoise.models.pulse_shape import pulse_phase, shape_similarity

    with pytest.warns(SamplingRateWarning):
        ts = read_traces(PULSER, trigger="all")
    x = ts.traces[:, PULSED].astype(np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    n, c, t = x.shape
    w = 256
    at = np.abs(x).argmax(-1)
    centred = np.zeros_like(x)                       # each pulse's largest excursion at 0
    for e in range(n):
        for ch in range(c):
            window = x[e, ch, (at[e, ch] - w // 2 + np.arange(w)) % t]
            centred[e, ch, (np.arange(w) - w // 2) % t] = window - window.mean()
    spectra = torch.from_numpy(np.fft.rfft(centred, axis=-1))
    learned, zero_phase = np.zeros((n, c)), np.zeros((n, c))
    for hold in range(n):
        rest = [e for e in range(n) if e != hold]
        for ch in range(c):
            amplitude = spectra[rest, ch].abs().square().median(0).values.sqrt()
            phase, _ = pulse_phase(spectra[rest, ch], amplitude, t, 64)
            for out, shape in ((learned, torch.polar(amplitude, phase)),
                               (zero_phase, amplitude.to(torch.complex128))):
                out[hold, ch] = float(shape_similarity(spectra[hold:hold + 1, ch], shape, t,
                                                       64)[0])
    deep = [PULSED.index(ch) for ch in PULSED if ch < 21]
    assert learned[:, deep].min() > 0.95
    assert (learned[:, deep] > zero_phase[:, deep] + 0.15).all()
    assert np.median(learned) > np.median(zero_phase) + 0.15
