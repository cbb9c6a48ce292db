"""The simulated RNO-G-like noise: every feature measured on generated events."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import h5py
import numpy as np
import pytest

from rnognoise import cli
from rnognoise.cli import simulate as simulate_cli
from rnognoise.dsp import periodogram
from rnognoise.errors import ConfigError, OutputExistsError
from rnognoise.io import read_traces, write_traces
from rnognoise.simulate import (
    CWLine,
    SimulationConfig,
    signal_chain_response,
    simulate_noise,
    simulate_to_file,
)
from rnognoise.simulate.generator import generate_events, resolve_seed
from rnognoise.simulate.response import band_edges
from rnognoise.units import ADC_TO_VOLTS_RNOG

FS = 3.2e9
#: Thermal noise only: every optional feature off.
QUIET = SimulationConfig(cw=False, impulses=False, block_offsets=False, gain_drift=False,
                         quantization=False)


@pytest.fixture(scope="module")
def default_set():
    return simulate_noise(400, seed=7)


@pytest.fixture(scope="module")
def quiet_set():
    return simulate_noise(300, config=QUIET, seed=5)


def _block_mean_spread(traces: np.ndarray, block: int = 128) -> np.ndarray:
    """Per channel: mean over events of std(block means) / trace RMS."""
    n, c, s = traces.shape
    means = traces.astype(np.float64).reshape(n, c, s // block, block).mean(-1)
    return (means.std(-1) / traces.std(-1)).mean(0)


def _lag(a: np.ndarray, b: np.ndarray) -> float:
    """Delay of ``b`` relative to ``a``, s, from the cross-correlation maximum."""
    corr = np.correlate(b, a, "full")
    return (int(np.argmax(corr)) - (a.size - 1)) / FS


# ---------------------------------------------------------------- shape, metadata, seeds
def test_shape_dtype_units_and_metadata(default_set):
    ts = default_set
    assert ts.traces.shape == (400, 4, 2048)
    assert ts.traces.dtype == np.float32
    assert ts.units == "V"
    assert ts.sampling_rate == FS
    assert ts.channels.tolist() == [0, 1, 2, 3]
    ev = ts.events
    assert ev["event_number"].tolist() == list(range(400))
    assert set(ev["run_number"]) == {1000} and set(ev["station"]) == {11}
    assert set(ev["trigger_type"]) == {"FORCE"}
    assert np.all(np.diff(ev["readout_time"].to_numpy()) > 0)
    # about one forced trigger every 10 s, in 2023
    assert 5 < np.diff(ev["readout_time"].to_numpy()).mean() < 15
    assert 1.672e9 < ev["readout_time"].iloc[0] < 1.704e9
    for col in ("truth_cw_403", "truth_cw_120", "truth_cw_240_272", "truth_cw_360_380",
                "truth_cw_482_485", "truth_impulse", "truth_glitch"):
        assert ev[col].dtype == bool, col
    assert not ev["truth_glitch"].any()  # glitches are off by default
    assert (ev["truth_glitch_channel"] == -1).all()
    # the attrs rebuild the configuration
    stored = ts.attrs["simulation"]
    assert stored["seed"] == 7
    rebuilt = SimulationConfig.from_dict({k: v for k, v in stored.items() if k != "seed"})
    assert rebuilt.to_dict() == SimulationConfig().to_dict()
    json.dumps(stored)  # provenance is JSON-ready


def test_same_seed_same_events_other_seed_differs():
    a = simulate_noise(20, seed=3)
    b = simulate_noise(20, seed=3)
    c = simulate_noise(20, seed=4)
    np.testing.assert_array_equal(a.traces, b.traces)
    assert a.events.equals(b.events)
    assert np.abs(a.traces - c.traces).mean() > 1e-3
    # no two events (or channels) are copies of each other
    flat = a.traces.reshape(-1, 2048)
    corr = np.corrcoef(flat)
    assert np.abs(corr[~np.eye(len(flat), dtype=bool)]).max() < 0.6


def test_events_do_not_depend_on_the_batch_they_are_made_in():
    whole = simulate_noise(30, seed=11)
    part = generate_events(10, 30, SimulationConfig(), resolve_seed(11))
    np.testing.assert_array_equal(part.traces, whole.traces[10:])
    np.testing.assert_array_equal(part.events["readout_time"], whole.events["readout_time"][10:])
    assert part.events["event_number"].tolist() == list(range(10, 30))


def test_seed_none_records_fresh_entropy():
    ts = simulate_noise(2, seed=None, config=QUIET)
    entropy = ts.attrs["simulation"]["seed"]
    again = simulate_noise(2, seed=entropy, config=QUIET)
    np.testing.assert_array_equal(ts.traces, again.traces)
    with pytest.raises(ConfigError):
        simulate_noise(2, seed=-1)
    with pytest.raises(ConfigError):
        simulate_noise(0)


# ---------------------------------------------------------------- thermal noise, response
def test_rms_per_channel_in_rno_g_range(default_set, quiet_set):
    rms = default_set.traces.std(axis=(0, 2))
    assert np.all((rms > 0.008) & (rms < 0.025))
    # the thermal part alone has the configured RMS (10 -> 20 mV geometric steps)
    np.testing.assert_allclose(quiet_set.traces.std(axis=(0, 2)),
                               np.geomspace(0.010, 0.020, 4), rtol=0.02)
    assert len(set(np.round(rms, 4))) == 4  # channels differ


def test_response_band_edges_match_the_in_ice_chain():
    f = np.linspace(1e6, 1.6e9, 40001)
    h = np.abs(signal_chain_response(f, tilt=False)[0])
    lo3, hi3 = band_edges(f, h, -3)
    lo10, hi10 = band_edges(f, h, -10)
    assert abs(lo3 - 118e6) < 2e6 and abs(hi3 - 609e6) < 3e6
    assert abs(lo10 - 82e6) < 3e6 and abs(hi10 - 705e6) < 8e6


def test_simulated_spectrum_has_the_response_band_edges(quiet_set):
    f, psd = periodogram(quiet_set.traces, FS)
    mean = psd.mean(0)
    smooth = np.array([np.convolve(c, np.ones(9) / 9, "same") for c in mean])
    db = 10 * np.log10(smooth / smooth.max(-1, keepdims=True))
    at = {mhz: db[:, np.argmin(np.abs(f - mhz * 1e6))] for mhz in (82, 118, 609, 705)}
    # averaged over channels the tilts (-0.5 ... +0.5 dB/octave) cancel
    assert abs(at[118].mean() + 3) < 0.75 and abs(at[609].mean() + 3) < 0.75
    assert abs(at[82].mean() + 10) < 1.0 and abs(at[705].mean() + 10) < 1.0
    # the tilt makes channels differ: low-frequency edge falls from channel 0 to 3
    assert np.all(np.diff(at[118]) < 0)
    in_band = (f > 150e6) & (f < 550e6)
    out_band = (f < 50e6) | (f > 900e6)
    assert np.all(mean[:, out_band].mean(-1) < 1e-3 * mean[:, in_band].mean(-1))


def test_channels_are_independent_unless_common_noise_is_asked_for(quiet_set):
    corr = np.corrcoef(quiet_set.traces[:, 0].ravel(), quiet_set.traces[:, 1].ravel())[0, 1]
    assert abs(corr) < 0.02
    shared = simulate_noise(100, config=dataclasses.replace(QUIET, common_noise_fraction=0.3),
                            seed=5)
    corr = np.corrcoef(shared.traces[:, 0].ravel(), shared.traces[:, 1].ravel())[0, 1]
    assert 0.2 < corr < 0.35


# ---------------------------------------------------------------- CW lines
def test_403_mhz_line_in_flagged_events_at_the_configured_fraction(default_set):
    f, psd = periodogram(default_set.traces, FS)
    k = np.argmin(np.abs(f - 403e6))
    flagged = default_set.events["truth_cw_403"].to_numpy()
    assert abs(flagged.mean() - 0.15) < 0.05
    ratio = np.median(psd[flagged, :, k]) / np.median(psd[~flagged, :, k])
    assert ratio > 30
    # a monitored-band carrier too
    band = default_set.events["truth_cw_240_272"].to_numpy()
    assert 0.005 < band.mean() < 0.1
    sel = (f > 240e6) & (f < 272e6)
    assert np.median(psd[band][..., sel].max(-1)) > 10 * np.median(psd[~band][..., sel].max(-1))


def test_cw_phase_is_coherent_across_channels(default_set):
    spectrum = np.fft.rfft(default_set.traces.astype(np.float64), axis=-1)
    k = np.argmin(np.abs(np.fft.rfftfreq(2048, 1 / FS) - 403e6))
    cross = spectrum[:, 0, k] * np.conj(spectrum[:, 1, k])
    unit = cross / np.abs(cross)
    flagged = default_set.events["truth_cw_403"].to_numpy()
    assert np.abs(unit[flagged].mean()) > 0.95  # stable phase difference
    assert np.abs(unit[~flagged].mean()) < 0.3  # thermal noise alone: random
    # equal to the configured plane-wave delay between the channels
    delays = SimulationConfig().plane_wave_delays(SimulationConfig().cw_cos_zenith)
    expected = np.exp(2j * np.pi * 403e6 * (delays[1] - delays[0]))
    assert abs(np.angle(unit[flagged].mean() / expected)) < 0.2


def test_cw_switch_removes_only_the_lines():
    on = simulate_noise(60, config=dataclasses.replace(QUIET, cw=True), seed=2)
    off = simulate_noise(60, config=QUIET, seed=2)
    any_line = np.zeros(60, dtype=bool)
    for line in SimulationConfig().cw_lines:
        any_line |= on.events[line.truth_column].to_numpy()
        assert not off.events[line.truth_column].any()
    assert any_line.any()
    np.testing.assert_array_equal(on.traces[~any_line], off.traces[~any_line])
    diff = on.traces[any_line] - off.traces[any_line]
    # the difference is narrowband: a few bins hold almost all of its power
    power = np.abs(np.fft.rfft(diff, axis=-1)) ** 2
    top = np.sort(power, axis=-1)[..., -12:].sum(-1)
    assert np.all(top / power.sum(-1) > 0.9)


def test_cw_line_above_nyquist_is_refused():
    with pytest.raises(ConfigError, match="Nyquist"):
        SimulationConfig(sampling_rate=0.6e9)
    ok = SimulationConfig(sampling_rate=0.6e9, cw_lines=(CWLine(120e6, 120e6, 0.5),))
    assert simulate_noise(3, config=ok).traces.shape == (3, 4, 2048)


def test_2p4_ghz_sampling_puts_the_line_at_403_mhz():
    config = dataclasses.replace(SimulationConfig(sampling_rate=2.4e9), impulses=False,
                                 cw_lines=(CWLine(403e6, 403e6, 1.0),))
    ts = simulate_noise(20, config=config, seed=1)
    f, psd = periodogram(ts.traces, 2.4e9)
    assert abs(f[np.argmax(psd.mean((0, 1)))] - 403e6) < 1.2e6


# ---------------------------------------------------------------- block offsets
def test_block_offsets_spread_block_means(quiet_set):
    white_expectation = 1 / np.sqrt(128)  # std of a 128-sample mean of white noise / RMS
    off = _block_mean_spread(quiet_set.traces)
    on_set = simulate_noise(300, config=dataclasses.replace(QUIET, block_offsets=True), seed=5)
    on = _block_mean_spread(on_set.traces)
    assert np.all(off < white_expectation)  # band-limited noise: almost no DC
    assert np.all(on > 1.3 * white_expectation)
    assert np.all(np.abs(on - 0.15) < 0.03)  # configured sigma: 15 % of the RMS
    # the switch adds a constant per 128-sample block and nothing else
    diff = (on_set.traces - quiet_set.traces).reshape(300, 4, 16, 128)
    assert np.abs(diff - diff.mean(-1, keepdims=True)).max() < 1e-6


# ---------------------------------------------------------------- impulses
def test_impulses_make_the_peak_to_rms_tail(default_set):
    traces = default_set.traces.astype(np.float64)
    rms = np.median(traces.std(-1), axis=0)
    peak = (np.abs(traces) / rms[None, :, None]).max(-1).max(-1)
    flagged = default_set.events["truth_impulse"].to_numpy()
    assert 0.005 < flagged.mean() < 0.07
    assert (peak[flagged] > 6).mean() >= 0.8
    assert (peak[~flagged] > 6).mean() < 0.01
    off = simulate_noise(400, config=SimulationConfig(impulses=False), seed=7)
    assert not off.events["truth_impulse"].any()
    traces = off.traces.astype(np.float64)
    assert ((np.abs(traces) / rms[None, :, None]).max(-1).max(-1) > 6).mean() < 0.01


def test_impulses_arrive_as_a_plane_wave_with_ns_delays():
    config = dataclasses.replace(SimulationConfig(), impulse_fraction=0.5, cw=False)
    ts = simulate_noise(40, config=config, seed=9)
    flagged = np.flatnonzero(ts.events["truth_impulse"].to_numpy())
    assert flagged.size > 10
    lag01, lag03 = [], []
    for event in flagged:
        x = ts.traces[event].astype(np.float64)
        centre = int(np.abs(x[0]).argmax())
        lo = max(centre - 80, 0)
        window = x[:, lo:lo + 160]
        lag01.append(_lag(window[0], window[1]))
        lag03.append(_lag(window[0], window[3]))
    lag01, lag03 = np.array(lag01), np.array(lag03)
    # 1 m apart in ice (n = 1.78), cos(zenith) 0.3-0.95: 1.8-5.6 ns, deeper channel later
    assert np.mean((lag01 > 1e-9) & (lag01 < 7e-9)) >= 0.9
    assert 1.8e-9 < np.median(lag01) < 5.6e-9
    assert np.mean(np.abs(lag03 - 3 * lag01) < 1.5e-9) >= 0.8


# ---------------------------------------------------------------- glitches
def test_glitches_swap_two_64_sample_halves_of_one_channel(quiet_set):
    config = dataclasses.replace(QUIET, glitches=True, glitch_fraction=0.2)
    on = simulate_noise(300, config=config, seed=5)
    flagged = on.events["truth_glitch"].to_numpy()
    assert 0.1 < flagged.mean() < 0.3
    np.testing.assert_array_equal(on.traces[~flagged], quiet_set.traces[~flagged])
    jump_glitched, jump_clean = [], []
    for event in np.flatnonzero(flagged):
        channel = int(on.events["truth_glitch_channel"].iloc[event])
        changed = np.flatnonzero(np.any(on.traces[event] != quiet_set.traces[event], axis=-1))
        assert changed.tolist() == [channel]
        a, b = on.traces[event, channel], quiet_set.traces[event, channel]
        moved = np.flatnonzero(a != b)
        start = moved[0] - moved[0] % 128
        assert moved.min() >= start and moved.max() < start + 128
        np.testing.assert_array_equal(a[start:start + 64], b[start + 64:start + 128])
        np.testing.assert_array_equal(a[start + 64:start + 128], b[start:start + 64])
        # the swap makes steps at the three segment boundaries
        edges = [i - 1 for i in (start, start + 64, start + 128) if 0 < i < a.size]
        for trace, out in ((a, jump_glitched), (b, jump_clean)):
            step = np.diff(trace.astype(np.float64))
            out.append(np.abs(step[edges]).mean() / step.std())
    assert np.median(jump_glitched) > 1.25 > 1.0 > np.median(jump_clean)


# ---------------------------------------------------------------- gain drift
def test_gain_drift_scales_whole_events():
    on = simulate_noise(200, config=dataclasses.replace(QUIET, gain_drift=True), seed=4)
    off = simulate_noise(200, config=QUIET, seed=4)
    gain = on.events["truth_gain"].to_numpy()
    assert (off.events["truth_gain"] == 1).all()
    assert 0.01 < gain.std() < 0.06 and np.all(np.abs(gain - 1) < 0.2)
    np.testing.assert_allclose(on.traces, off.traces * gain[:, None, None].astype(np.float32),
                               rtol=1e-5, atol=1e-9)
    # measurable: per-event RMS follows the gain
    rms = on.traces.std(axis=(1, 2))
    assert np.corrcoef(rms, gain)[0, 1] > 0.7


# ---------------------------------------------------------------- quantisation
def test_quantisation_to_adc_counts(default_set, quiet_set):
    counts = default_set.traces.astype(np.float64) / ADC_TO_VOLTS_RNOG
    assert np.abs(counts - np.rint(counts)).max() < 1e-3
    assert np.abs(counts).max() <= 2048
    raw = quiet_set.traces.astype(np.float64) / ADC_TO_VOLTS_RNOG
    assert np.abs(raw - np.rint(raw)).mean() > 0.2  # off: not on the ADC grid
    clipped = simulate_noise(2, config=dataclasses.replace(SimulationConfig(),
                                                           channel_rms=(1.0, 1.0, 1.0, 1.0)))
    assert np.abs(clipped.traces).max() == pytest.approx(2048 * ADC_TO_VOLTS_RNOG, rel=1e-6)


# ---------------------------------------------------------------- configuration
def test_config_validation_names_the_problem():
    with pytest.raises(ConfigError, match="channel_rms"):
        SimulationConfig(channel_rms=(0.01, 0.02))
    with pytest.raises(ConfigError, match="repeat"):
        SimulationConfig(channels=(0, 0))
    with pytest.raises(ConfigError, match="integers"):
        SimulationConfig(channels=(0.5, 1))
    with pytest.raises(ConfigError, match="glitches"):
        SimulationConfig(n_samples=100, glitches=True)
    with pytest.raises(ConfigError, match="unknown"):
        SimulationConfig.from_dict({"no_such_parameter": 1})
    six = SimulationConfig(channels=range(6))
    assert simulate_noise(2, config=six).traces.shape == (2, 6, 2048)


# ---------------------------------------------------------------- files and CLI
def test_simulate_to_file_writes_the_canonical_hdf5_layout(tmp_path):
    path = tmp_path / "sim.h5"
    simulate_to_file(path, 45, seed=2, batch_size=16)
    ts = read_traces(path)
    ref = simulate_noise(45, seed=2)
    np.testing.assert_array_equal(ts.traces, ref.traces)
    assert ts.sampling_rate == FS and ts.channels.tolist() == [0, 1, 2, 3]
    for name in ref.events.columns:
        np.testing.assert_array_equal(ts.events[name].to_numpy(), ref.events[name].to_numpy())
    # same file layout and attributes as the in-memory writer
    write_traces(tmp_path / "ref.h5", ref)

    def describe(p):
        with h5py.File(p) as f:
            out = {"/": {k: np.asarray(v).tolist() for k, v in f.attrs.items()}}
            f.visititems(lambda n, o: out.__setitem__(n, (
                o.shape, str(o.dtype), o.chunks, h5py.check_string_dtype(o.dtype) is not None,
                dict(o.attrs))) if isinstance(o, h5py.Dataset) else None)
        return out

    assert describe(path) == describe(tmp_path / "ref.h5")
    stored = json.loads(h5py.File(path)["/"].attrs["simulation"])
    assert stored["seed"] == 2 and stored["n_samples"] == 2048
    # batch size does not change the file
    simulate_to_file(tmp_path / "one.h5", 45, seed=2, batch_size=1000)
    np.testing.assert_array_equal(read_traces(tmp_path / "one.h5").traces, ts.traces)


def test_simulate_to_file_does_not_overwrite_without_force(tmp_path):
    path = tmp_path / "sim.h5"
    simulate_to_file(path, 3, config=QUIET)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        simulate_to_file(path, 3, config=QUIET, seed=1)
    assert path.read_bytes() == before
    simulate_to_file(path, 3, config=QUIET, seed=1, force=True)
    assert not np.array_equal(read_traces(path).traces, simulate_noise(3, config=QUIET).traces)
    with pytest.raises(ConfigError):
        simulate_to_file(tmp_path / "x.h5", 3, format="csv")


def test_simulate_to_root_round_trip(tmp_path):
    path = tmp_path / "sim.root"
    simulate_to_file(path, 12, seed=3)
    ts = read_traces(path)
    ref = simulate_noise(12, seed=3)
    assert ts.traces.shape == (12, 4, 2048) and ts.sampling_rate == FS
    np.testing.assert_allclose(ts.traces, ref.traces, atol=1e-6)  # already on the ADC grid


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnognoise")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true")
    common.add_argument("--log-json", action="store_true")
    sub = parser.add_subparsers(dest="command")
    simulate_cli.add_parser(sub, [common])
    return parser


def test_cli_simulate_writes_50_events(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    args = _parser().parse_args(["simulate", str(out), "--events", "50", "--seed", "4",
                                 "--glitches", "--no-cw", "--quiet"])
    assert args.handler(args) == 0
    ts = read_traces(out)
    assert ts.traces.shape == (50, 4, 2048)
    assert str(out) in capsys.readouterr().out
    expected = simulate_noise(50, seed=4, config=SimulationConfig(glitches=True, cw=False))
    np.testing.assert_array_equal(ts.traces, expected.traces)
    config = simulate_cli.config_from_args(_parser().parse_args(
        ["simulate", "x.h5", "--channels", "2", "--samples", "1024", "--sampling-rate", "2.4e9",
         "--no-impulses", "--no-block-offsets", "--no-gain-drift", "--no-quantization"]))
    assert (config.channels, config.n_samples, config.sampling_rate) == ((0, 1), 1024, 2.4e9)
    assert not (config.impulses or config.block_offsets or config.gain_drift
                or config.quantization)
    assert config.cw and not config.glitches


def test_cli_main_refuses_to_overwrite_with_exit_2(tmp_path, monkeypatch, capsys):
    if "simulate" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, "simulate"])
    out = tmp_path / "cli.h5"
    assert cli.main(["simulate", str(out), "--events", "5", "-q"]) == 0
    assert cli.main(["simulate", str(out), "--events", "5", "-q"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.strip().count("\n") == 0
    assert cli.main(["simulate", str(out), "--events", "5", "-q", "--force"]) == 0


@pytest.mark.slow
def test_2000_events_in_a_few_seconds():
    start = time.perf_counter()
    ts = simulate_noise(2000, seed=0)
    assert ts.traces.shape == (2000, 4, 2048)
    assert time.perf_counter() - start < 5.0
