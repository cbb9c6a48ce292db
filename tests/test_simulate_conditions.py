"""Condition-dependent simulated noise: several stations, galactic noise following LST."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest

from rnognoise.cli import main
from rnognoise.conditions import LST, add_derived_columns
from rnognoise.dsp import periodogram
from rnognoise.errors import ConfigError
from rnognoise.io import read_traces
from rnognoise.simulate import CWLine, SimulationConfig, simulate_noise
from rnognoise.simulate.generator import generate_events, resolve_seed

FS = 3.2e9
STATIONS = (11, 12, 13)
#: Thermal noise only, short traces, one trigger every 5 minutes (300 events: 25 h).
QUIET = SimulationConfig(n_samples=512, cw=False, impulses=False, block_offsets=False,
                         gain_drift=False, quantization=False, trigger_interval=300.0)
GALACTIC = dataclasses.replace(QUIET, galactic=True)


@pytest.fixture(scope="module")
def galactic_pair():
    """The same seed with galactic noise on and off (nothing else differs)."""
    return (simulate_noise(300, config=GALACTIC, seed=3),
            simulate_noise(300, config=QUIET, seed=3))


def _band_power(traces: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Per event and channel: periodogram power summed over ``lo <= f <= hi``, V^2/Hz."""
    f, psd = periodogram(traces.astype(np.float64), FS)
    return psd[..., (f >= lo) & (f <= hi)].sum(-1)


def _cosine_fit(power: np.ndarray, lst: np.ndarray, peak: float) -> tuple[float, float]:
    """Least-squares ``power = a + b cos(2 pi (lst - peak) / 24)``; return ``(a, b)``."""
    c = np.cos(2 * np.pi * (lst - peak) / 24)
    design = np.stack([np.ones_like(c), c], axis=1)
    a, b = np.linalg.lstsq(design, power, rcond=None)[0]
    return float(a), float(b)


# ---------------------------------------------------------------- stations
def test_stations_are_dealt_round_robin_over_the_same_time_span():
    config = dataclasses.replace(QUIET, n_samples=256, stations=STATIONS)
    ts = simulate_noise(30, config=config, seed=1)
    station = ts.events["station"].to_numpy()
    assert station.tolist() == [STATIONS[i % 3] for i in range(30)]
    times = ts.events["readout_time"].to_numpy()
    starts = [times[station == s].min() for s in STATIONS]
    stops = [times[station == s].max() for s in STATIONS]
    assert max(starts) - min(starts) < 3 * config.trigger_interval
    assert max(stops) - min(stops) < 3 * config.trigger_interval
    # the station of an event does not depend on the batch it is made in
    part = generate_events(7, 30, config, resolve_seed(1))
    assert part.events["station"].tolist() == station[7:].tolist()
    np.testing.assert_array_equal(part.traces, ts.traces[7:])


def test_station_rms_ratio_follows_station_gain():
    config = dataclasses.replace(QUIET, stations=STATIONS)
    assert config.station_gains() == pytest.approx(np.geomspace(1.0, 1.25, 3))
    ts = simulate_noise(300, config=config, seed=2)
    station = ts.events["station"].to_numpy()
    traces = ts.traces.astype(np.float64)
    rms = np.array([np.sqrt((traces[station == s] ** 2).mean(axis=(0, 2))) for s in STATIONS])
    ratio = rms / rms[0]  # (station, channel)
    expected = config.station_gains() / config.station_gains()[0]
    np.testing.assert_allclose(ratio, np.repeat(expected[:, None], 4, axis=1), rtol=0.03)
    # an explicit gain per station is used as given
    custom = dataclasses.replace(config, station_gain=(1.0, 0.5, 2.0))
    other = simulate_noise(300, config=custom, seed=2).traces.astype(np.float64)
    for k, gain in enumerate((1.0, 0.5, 2.0)):
        sel = station == STATIONS[k]
        np.testing.assert_allclose(other[sel], traces[sel] / config.station_gains()[k] * gain,
                                   rtol=1e-5, atol=1e-9)


def test_station_cw_occupancy_follows_station_cw_scale():
    lines = (CWLine(403e6, 403e6, 0.2), CWLine(120e6, 120e6, 0.1))
    config = dataclasses.replace(QUIET, n_samples=256, stations=STATIONS, cw=True,
                                 cw_lines=lines, station_gain=(1.0, 1.0, 1.0))
    scale = config.station_cw_scales()
    assert scale.tolist() == [1.0, 2.0, 0.5]  # stations differ by default
    ts = simulate_noise(900, config=config, seed=4)
    station = ts.events["station"].to_numpy()
    for line in lines:
        flags = ts.events[line.truth_column].to_numpy()
        for k, s in enumerate(STATIONS):
            expected = min(1.0, line.fraction * scale[k])
            observed = flags[station == s].mean()
            sigma = np.sqrt(expected * (1 - expected) / 300)
            assert abs(observed - expected) < 4 * sigma, (line.name, s, observed, expected)
    # with equal gains, the 403 MHz power per station follows the occupancy
    f, psd = periodogram(ts.traces, FS)
    k403 = np.argmin(np.abs(f - 403e6))
    mean_power = [psd[station == s][..., k403].mean() for s in STATIONS]
    assert mean_power[2] < mean_power[0] < mean_power[1]
    # zero switches a station's lines off; large factors are clipped to "always on"
    clipped = dataclasses.replace(config, station_cw_scale=(0.0, 1.0, 20.0))
    ev = simulate_noise(90, config=clipped, seed=4).events
    for line in lines:
        assert not ev[line.truth_column][ev["station"] == 11].any()
        assert ev[line.truth_column][ev["station"] == 13].all()


# ---------------------------------------------------------------- galactic noise
def test_galactic_power_truth_follows_lst(galactic_pair):
    on, off = galactic_pair
    events = add_derived_columns(on.events, [LST])
    lst = events[LST].to_numpy()
    assert lst.max() - lst.min() > 23  # 300 events x 300 s cover a sidereal day
    c = GALACTIC
    expected = 1 + c.galactic_modulation * np.cos(2 * np.pi * (lst - c.galactic_peak_lst_hours)
                                                 / 24)
    np.testing.assert_allclose(on.events["truth_galactic_power"], expected, rtol=1e-12)
    assert (off.events["truth_galactic_power"] == 0).all()


def test_galactic_band_power_follows_the_sidereal_cosine(galactic_pair):
    on, _ = galactic_pair
    c = GALACTIC
    lst = add_derived_columns(on.events, [LST])[LST].to_numpy()
    lo, hi = c.galactic_band_hz
    power = _band_power(on.traces, lo, hi).sum(-1)
    # binned by LST (2 h bins), the mean band power follows the cosine
    bins = np.floor(lst / 2).astype(int)
    centres = 2 * np.arange(12) + 1.0
    binned = np.array([power[bins == b].mean() for b in range(12)])
    cosine = np.cos(2 * np.pi * (centres - c.galactic_peak_lst_hours) / 24)
    assert np.corrcoef(binned, cosine)[0, 1] > 0.9
    # amplitude: thermal P (1 + f (1 + m cos)), so b / a = f m / (1 + f) = 0.2
    a, b = _cosine_fit(power, lst, c.galactic_peak_lst_hours)
    f, m = c.galactic_power_fraction, c.galactic_modulation
    assert b / a == pytest.approx(f * m / (1 + f), abs=0.05)
    # outside the band: no modulation
    a_out, b_out = _cosine_fit(_band_power(on.traces, 300e6, 600e6).sum(-1), lst,
                               c.galactic_peak_lst_hours)
    assert abs(b_out / a_out) < 0.04


def test_galactic_component_has_the_configured_power_band_and_coherence(galactic_pair):
    on, off = galactic_pair
    c = GALACTIC
    lo, hi = c.galactic_band_hz
    component = on.traces.astype(np.float64) - off.traces
    # confined to the band (soft edges inside it)
    f, psd = periodogram(component, FS)
    in_band = (f >= lo) & (f <= hi)
    assert psd[..., ~in_band].sum() < 1e-9 * psd[..., in_band].sum()
    # mean power relative to the thermal power in the band, per channel
    thermal = _band_power(off.traces, lo, hi).mean(0)
    galactic = _band_power(component, lo, hi)  # (event, channel)
    truth = on.events["truth_galactic_power"].to_numpy()
    fraction = galactic.mean(0) / thermal / truth.mean()
    np.testing.assert_allclose(fraction, c.galactic_power_fraction, rtol=0.1)
    # per event, the component's power scales with the truth factor
    slope = np.polyfit(truth, galactic.sum(-1) / thermal.sum(), 1)[0]
    assert slope == pytest.approx(c.galactic_power_fraction, rel=0.15)
    # largely common to the channels: correlation about the coherence
    corr = np.corrcoef(component[:, 0].ravel(), component[:, 1].ravel())[0, 1]
    assert corr == pytest.approx(c.galactic_coherence, abs=0.08)
    incoherent = simulate_noise(100, config=dataclasses.replace(GALACTIC, galactic_coherence=0.0),
                                seed=3)
    own = incoherent.traces.astype(np.float64) - off.traces[:100]
    assert abs(np.corrcoef(own[:, 0].ravel(), own[:, 1].ravel())[0, 1]) < 0.05


def test_galactic_off_leaves_the_default_simulation_unchanged():
    default = SimulationConfig(n_samples=512)
    base = simulate_noise(40, config=default, seed=6)
    # explicit "off" settings, galactic parameters changed: same traces, same events
    off = dataclasses.replace(default, galactic=False, galactic_power_fraction=2.0,
                              galactic_modulation=1.0, stations=None)
    again = simulate_noise(40, config=off, seed=6)
    np.testing.assert_array_equal(again.traces, base.traces)
    assert again.events.equals(base.events)
    assert (base.events["station"] == 11).all()
    # galactic noise on changes only the band-limited component: the other features'
    # draws (CW, impulses) stay the same
    on = simulate_noise(40, config=dataclasses.replace(default, galactic=True), seed=6)
    flags = [col for col in base.events.columns if col.startswith("truth_")
             and col != "truth_galactic_power"]
    assert on.events[flags].equals(base.events[flags])
    assert not np.array_equal(on.traces, base.traces)


# ---------------------------------------------------------------- configuration
def test_config_round_trip_with_stations_and_galactic():
    config = SimulationConfig(stations=STATIONS, station_gain=(1.0, 1.1, 0.9), galactic=True,
                              galactic_band_hz=(90e6, 180e6), galactic_modulation=0.4)
    stored = json.loads(json.dumps(config.to_dict()))
    rebuilt = SimulationConfig.from_dict(stored)
    assert rebuilt.to_dict() == config.to_dict()
    assert rebuilt.stations == STATIONS and rebuilt.galactic_band_hz == (90e6, 180e6)
    assert stored["station_cw_scale"] == [1.0, 2.0, 0.5]  # resolved defaults are stored
    # the file attribute of a simulation rebuilds it too
    ts = simulate_noise(3, config=dataclasses.replace(config, n_samples=256), seed=0)
    sim = {k: v for k, v in ts.attrs["simulation"].items() if k != "seed"}
    assert SimulationConfig.from_dict(sim).to_dict() == sim
    # a single station keeps its old meaning
    assert SimulationConfig().station_ids().tolist() == [11]


@pytest.mark.parametrize("kwargs, match", [
    ({"stations": STATIONS, "station_gain": (1.0, 1.1)}, "station_gain has 2 entries"),
    ({"stations": STATIONS, "station_cw_scale": (1.0,) * 4}, "station_cw_scale has 4"),
    ({"station_gain": (1.0, 1.1)}, "station_gain has 2 entries for 1 station"),
    ({"stations": (11, 11)}, "station ids repeat"),
    ({"stations": (11, -1)}, "non-negative integers"),
    ({"stations": STATIONS, "station_gain": (1.0, 0.0, 1.0)}, "station_gain must be positive"),
    ({"galactic_modulation": 1.5}, "galactic_modulation"),
    ({"galactic_coherence": -0.1}, "galactic_coherence"),
    ({"galactic_band_hz": (200e6, 80e6)}, "galactic_band_hz"),
    ({"galactic": True, "galactic_band_hz": (80e6, 2e9)}, "Nyquist"),
    ({"galactic": True, "n_samples": 16}, "fewer than 3 frequency bins"),
    ({"galactic_peak_lst_hours": 24.0}, "galactic_peak_lst_hours"),
])
def test_bad_condition_settings_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SimulationConfig(**kwargs)


# ---------------------------------------------------------------- command line
def test_cli_stations_and_galactic_flags(tmp_path, capsys):
    out = tmp_path / "conditions.h5"
    assert main(["simulate", str(out), "--events", "12", "--samples", "256", "--seed", "2",
                 "--stations", "11,12,13", "--galactic", "--trigger-interval", "3600",
                 "--galactic-modulation", "0.3", "-q"]) == 0
    ts = read_traces(out)
    assert ts.events["station"].tolist() == [11, 12, 13] * 4
    lst = add_derived_columns(ts.events, [LST])[LST].to_numpy()
    assert lst.max() - lst.min() > 6  # 12 triggers an hour apart
    np.testing.assert_allclose(ts.events["truth_galactic_power"],
                               1 + 0.3 * np.cos(2 * np.pi * (lst - 17.8) / 24), rtol=1e-12)
    with h5py.File(out) as f:
        stored = json.loads(f.attrs["simulation"])
    assert stored["galactic"] and stored["stations"] == [11, 12, 13]
    expected = simulate_noise(12, seed=2, config=SimulationConfig(
        n_samples=256, stations=STATIONS, galactic=True, trigger_interval=3600.0,
        galactic_modulation=0.3))
    np.testing.assert_array_equal(ts.traces, expected.traces)
    capsys.readouterr()
    # a malformed list is a one-line error with exit status 2
    assert main(["simulate", str(tmp_path / "bad.h5"), "--events", "2", "--stations", "11,x",
                 "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--stations" in err
    assert not (tmp_path / "bad.h5").exists()
