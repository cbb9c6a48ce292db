"""The simulator's structures that no model component names, each measured on its own."""

from __future__ import annotations

import numpy as np
import pytest

from rnognoise.errors import ConfigError
from rnognoise.simulate import SimulationConfig, simulate_noise

QUIET = {"cw": False, "impulses": False, "block_offsets": False, "gain_drift": False,
         "quantization": False}


def _sim(n: int, seed: int = 1, **options) -> object:
    return simulate_noise(n, config=SimulationConfig(**QUIET, **options), seed=seed)


def _window_power(x: np.ndarray, width: int = 128) -> np.ndarray:
    n, c, t = x.shape
    return (x[..., : t // width * width] ** 2).reshape(n, c, -1, width).mean(-1)


def test_bursts_raise_the_power_of_a_few_windows_in_every_channel():
    ts = _sim(400, bursts=True, burst_fraction=0.3, burst_rms=(3.0, 4.0))
    flag = ts.events["truth_burst"].to_numpy()
    assert 0.2 < flag.mean() < 0.4
    p = _window_power(ts.traces)
    contrast = p.max(-1) / np.median(p, -1)            # (n, C)
    assert np.all(np.median(contrast[flag], 0) > 3 * np.median(contrast[~flag], 0))


def test_chirp_frequency_drifts_within_the_trace():
    ts = _sim(60, chirps=True, chirp_fraction=1.0, chirp_amplitude=(5.0, 5.0),
              chirp_start_hz=(300e6, 300e6), chirp_drift_hz=(60e6, 60e6))
    x = ts.traces[:, 0]
    half = x.shape[-1] // 2
    f = np.fft.rfftfreq(half, 1 / ts.sampling_rate)
    peak_first = f[np.abs(np.fft.rfft(x[:, :half], axis=-1)).mean(0).argmax()]
    peak_last = f[np.abs(np.fft.rfft(x[:, half:], axis=-1)).mean(0).argmax()]
    # instantaneous frequency 300 -> 360 MHz: the halves peak near 315 and 345 MHz
    assert peak_first == pytest.approx(315e6, abs=8e6)
    assert peak_last == pytest.approx(345e6, abs=8e6)


def test_pulse_trains_put_several_pulses_in_one_event():
    ts = _sim(300, pulse_trains=True, pulse_train_fraction=0.5, pulse_train_peak=(12.0, 12.0))
    count = ts.events["truth_pulse_train"].to_numpy()
    assert set(np.unique(count)) <= {0, 2, 3, 4} and (count >= 2).mean() > 0.35
    x = ts.traces[:, 0] / ts.traces[count == 0, 0].std()
    peaks = (np.abs(x) > 6).reshape(len(x), -1, 64).any(-1).sum(-1)   # 64-sample windows
    assert np.median(peaks[count >= 3]) >= 2 and np.median(peaks[count == 0]) == 0


def test_breathing_tilts_each_event_by_its_truth():
    ts = _sim(300, breathing_db_per_octave=2.0)
    tilt = ts.events["truth_breathing_db"].to_numpy()
    spec = np.abs(np.fft.rfft(ts.traces, axis=-1)) ** 2
    f = np.fft.rfftfreq(ts.n_samples, 1 / ts.sampling_rate)
    lo = spec[..., (f > 150e6) & (f < 250e6)].mean((-1, -2))
    hi = spec[..., (f > 400e6) & (f < 550e6)].mean((-1, -2))
    assert np.corrcoef(tilt, np.log(hi / lo))[0, 1] > 0.9


def test_unmodelled_events_do_not_depend_on_the_batch():
    config = SimulationConfig(bursts=True, chirps=True, pulse_trains=True,
                              breathing_db_per_octave=0.5)
    whole = simulate_noise(40, config=config, seed=5)
    from rnognoise.simulate.generator import generate_events

    part = generate_events(20, 40, config, 5)
    np.testing.assert_array_equal(whole.traces[20:], part.traces)


@pytest.mark.parametrize("bad", [{"burst_rms": (4.0, 1.0)}, {"chirp_fraction": 1.5},
                                 {"pulse_train_max": 1}])
def test_bad_ranges_are_one_line_config_errors(bad):
    with pytest.raises(ConfigError):
        SimulationConfig(**bad).validate()
