"""The NuRadioReco module on real NuRadioReco events (skipped where NuRadioMC is not installed)."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pandas as pd
import pytest
import scipy.signal

from rnognoise.conditions import local_sidereal_time
from rnognoise.errors import ConfigError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.train import FitOptions, fit

HAVE_NURADIO = importlib.util.find_spec("NuRadioReco") is not None
T = 512
FS = 3.2e9
IDS = [0, 1, 4]
# conditional model: two stations of different RMS, power following the sidereal time
STATION_RMS = {11: 0.01, 12: 0.02}  # V, at the mean of the sidereal modulation
LST_PEAK = 6.0  # h
LST_DEPTH = 0.6  # log power: 0.6 cos(2 pi (lst - LST_PEAK) / 24)
COND_T = 256
SIDEREAL_DAY_S = 86400 / 1.00273790935


@pytest.fixture(scope="module")
def nrr():
    """NuRadioReco's framework classes and units."""
    pytest.importorskip("NuRadioReco")
    from NuRadioReco.framework.channel import Channel
    from NuRadioReco.framework.event import Event
    from NuRadioReco.framework.station import Station
    from NuRadioReco.utilities import units

    return Event, Station, Channel, units


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> NoiseGenerator:
    rng = np.random.default_rng(0)
    spec = np.fft.rfft(rng.standard_normal((300, 3, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / FS)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.2e8) ** 2)
    x = np.fft.irfft(spec, n=T, axis=-1)
    x[:, 2] = 0.6 * x[:, 0] + 0.8 * x[:, 2]
    data = TraceSet((0.01 * x / x.std()).astype(np.float32), FS, IDS)
    path = tmp_path_factory.mktemp("nuradio") / "baseline.safetensors"
    fit(data, path, FitOptions(model="baseline", quiet=True, device="cpu"))
    return NoiseGenerator.load(path, device="cpu")


@pytest.fixture(scope="module")
def reference(generator) -> np.ndarray:
    return generator.sample(2000, seed=99).astype(np.float64)


@pytest.fixture(scope="module")
def conditional_data() -> TraceSet:
    """400 events, 2 channels x 256 samples: stations 11 and 12 (RMS 10 and 20 mV) over two
    days, every event scaled by exp(LST_DEPTH / 2 * cos(2 pi (lst - LST_PEAK) / 24))."""
    rng = np.random.default_rng(5)
    n = 400
    times = 1.7e9 + np.sort(rng.uniform(0, 2 * 86400, n))
    station = np.where(np.arange(n) % 2 == 0, 11, 12)
    lst = local_sidereal_time(times)
    gain = np.exp(0.5 * LST_DEPTH * np.cos(2 * np.pi * (lst - LST_PEAK) / 24))
    rms = np.array([STATION_RMS[s] for s in station])
    x = rng.standard_normal((n, 2, COND_T)) * (rms * gain)[:, None, None]
    events = pd.DataFrame({"station": station, "readout_time": times})
    return TraceSet(x.astype(np.float32), FS, [0, 1], events)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory, conditional_data) -> NoiseGenerator:
    path = tmp_path_factory.mktemp("nuradio") / "conditional.safetensors"
    fit(conditional_data, path, FitOptions(model="baseline", conditions=["station", "lst"],
                                           quiet=True, device="cpu"))
    return NoiseGenerator.load(path, device="cpu")


def _unix_time_at_lst(lst_hours: float, after: float = 1.75e9) -> float:
    """The first unix time after ``after`` at which the RNO-G local sidereal time is
    ``lst_hours``."""
    shift = np.mod(lst_hours - local_sidereal_time(after), 24.0) / 24.0
    return after + shift * SIDEREAL_DAY_S


def _event(nrr, channel_ids, n_samples, rate_ghz, signal=None, event_id=0, station_id=11,
           time=None):
    Event, Station, Channel, units = nrr
    event = Event(1, event_id)
    station = Station(station_id)
    if time is not None:
        from astropy.time import Time

        station.set_station_time(Time(time, format="unix"))
    for cid in channel_ids:
        channel = Channel(cid)
        trace = np.zeros(n_samples) if signal is None else signal.copy()
        channel.set_trace(trace, rate_ghz * units.GHz)
        station.add_channel(channel)
    event.set_station(station)
    return event, station


def _noise_of(nrr, generator, n_events, n_samples, rate_ghz, *, seed=1, channel_ids=IDS,
              **begin):
    from rnognoise.nuradio import noiseAdder

    adder = noiseAdder()
    adder.begin(generator, seed=seed, **begin)
    out = np.empty((n_events, len(channel_ids), n_samples))
    for i in range(n_events):
        event, station = _event(nrr, channel_ids, n_samples, rate_ghz, event_id=i)
        adder.run(event, station, None)
        out[i] = [station.get_channel(c).get_trace() for c in channel_ids]
    adder.end()
    return out


def _psd(traces, fs, nperseg):
    f, p = scipy.signal.welch(traces, fs, nperseg=nperseg, axis=-1)
    return f, p.mean(0)


@pytest.mark.skipif(HAVE_NURADIO, reason="NuRadioMC is installed")
def test_import_without_nuradiomc_names_the_extra():
    with pytest.raises(ModuleNotFoundError, match=r"rnognoise\[nuradio\]"):
        import rnognoise.nuradio  # noqa: F401


def test_noise_at_the_models_rate_and_length_has_its_spectrum_and_rms(nrr, generator,
                                                                       reference):
    noise = _noise_of(nrr, generator, 600, T, 3.2)
    _, p_ref = _psd(reference, FS, 128)
    _, p_sim = _psd(noise, FS, 128)
    band = p_ref.mean(0) > 0.1 * p_ref.mean(0).max()
    assert np.abs(10 * np.log10(p_sim[:, band] / p_ref[:, band])).max() < 0.3
    np.testing.assert_allclose(noise.std(axis=(0, 2)), reference.std(axis=(0, 2)), rtol=0.03)
    # one joint draw per event: the model's correlation between channels 0 and 4 is kept
    c_ref = np.corrcoef(reference[:, 0].ravel(), reference[:, 2].ravel())[0, 1]
    c_sim = np.corrcoef(noise[:, 0].ravel(), noise[:, 2].ravel())[0, 1]
    assert c_ref > 0.3 and c_sim == pytest.approx(c_ref, abs=0.03)
    # fresh draws: no two events or channels share noise
    assert abs(np.corrcoef(noise[0, 1], noise[1, 1])[0, 1]) < 0.3
    assert abs(np.corrcoef(noise[:, 0].ravel(), noise[:, 1].ravel())[0, 1]) < 0.02


def test_other_sampling_rate_and_length_keep_spectral_density_and_rms(nrr, generator,
                                                                      reference):
    """2.4 GS/s and 1024 samples (427 ns against the model's 160 ns)."""
    noise = _noise_of(nrr, generator, 400, 1024, 2.4)
    f_ref, p_ref = _psd(reference, FS, 128)  # 25 MHz resolution at both rates
    f_sim, p_sim = _psd(noise, 2.4e9, 96)
    common = f_ref <= 1.2e9
    np.testing.assert_allclose(f_sim, f_ref[common])
    band = (p_ref.mean(0) > 0.1 * p_ref.mean(0).max())[common]
    ratio_db = 10 * np.log10(p_sim[:, band] / p_ref[:, common][:, band])
    assert np.abs(ratio_db).max() < 0.3
    np.testing.assert_allclose(noise.std(axis=(0, 2)), reference.std(axis=(0, 2)), rtol=0.02)
    # longer than the model's traces: the variance is flat along the trace
    profile = (noise**2).mean(axis=(0, 1))
    halves = profile.reshape(8, -1).mean(1)
    assert np.ptp(halves) / halves.mean() < 0.08


def test_noise_is_added_to_the_signal_and_seeded(nrr, generator):
    from rnognoise.nuradio import noiseAdder

    signal = np.zeros(T)
    signal[100] = 0.5
    runs = []
    for seed in (7, 7, 8):
        adder = noiseAdder()
        adder.begin(generator, seed=seed)
        traces = []
        for i in range(2):
            event, station = _event(nrr, IDS, T, 3.2, signal=signal, event_id=i)
            adder.run(event, station, None)
            traces.append([station.get_channel(c).get_trace() for c in IDS])
            names = [m[0] for m in event.iter_modules(station.get_id())]
            assert names == ["noiseAdder"]
        runs.append(np.array(traces))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])
    assert not np.allclose(runs[0][0], runs[0][1])  # events get different draws
    noise = runs[0] - signal
    assert 0.005 < noise.std() < 0.02
    assert noise[..., 100].std() < 0.05  # the pulse is still there, under the noise


def test_channel_mapping_subset_and_clear_errors(nrr, generator, reference, caplog):
    from rnognoise.nuradio import noiseAdder

    station_ids = [10, 11, 14]
    mapping = {10: 0, 11: 1, 14: 4}
    noise = _noise_of(nrr, generator, 200, T, 3.2, channel_ids=station_ids,
                      channel_mapping=mapping)
    np.testing.assert_allclose(noise.std(axis=(0, 2)), reference.std(axis=(0, 2)), rtol=0.06)

    adder = noiseAdder()
    adder.begin(generator, seed=1)
    event, station = _event(nrr, [0, 1, 4, 7], T, 3.2)
    with pytest.raises(ConfigError, match=r"channel\(s\) 7 not in the noise model"):
        adder.run(event, station, None)
    adder.run(event, station, None, channel_ids=[1])  # only channel 1 gets noise
    assert station.get_channel(1).get_trace().std() > 0.005
    assert all(not station.get_channel(c).get_trace().any() for c in (0, 4, 7))
    with pytest.raises(ConfigError, match=r"channel\(s\) \[3\] not in station"):
        adder.run(event, station, None, channel_ids=[3])

    adder.begin(generator, channel_mapping={7: 5})
    with pytest.raises(ConfigError, match=r"7 \(mapped to 5\)"):
        adder.run(event, station, None, channel_ids=[7])
    adder.begin(generator, channel_mapping={7: 4})
    with pytest.raises(ConfigError, match="identical noise"):
        adder.run(event, station, None)
    with pytest.raises(ConfigError, match="identical noise"):
        adder.begin(generator, channel_mapping={1: 0, 7: 0})

    Channel, units = nrr[2], nrr[3]
    mixed, mixed_station = _event(nrr, [0, 1], T, 3.2)
    odd = Channel(4)
    odd.set_trace(np.zeros(T), 2.4 * units.GHz)
    mixed_station.add_channel(odd)
    adder.begin(generator)
    with pytest.raises(ConfigError, match="different sampling rates"):
        adder.run(mixed, mixed_station, None)


def test_a_low_target_rate_warns_about_the_power_it_removes(nrr, generator, reference,
                                                            caplog):
    with caplog.at_level(logging.WARNING, logger="NuRadioReco.rnognoise.noiseAdder"):
        low = _noise_of(nrr, generator, 200, 256, 0.8)
    assert any("Nyquist frequency 400 MHz cuts into the model's band" in r.getMessage()
               for r in caplog.records)
    # half the band (400 MHz centre) is above 400 MHz: the RMS drops, but nothing aliases
    ratio = low.std() / reference.std()
    assert 0.62 < ratio < 0.8
    with caplog.at_level(logging.WARNING, logger="NuRadioReco.rnognoise.noiseAdder"):
        caplog.clear()
        _noise_of(nrr, generator, 5, 256, 2.4)
    assert not caplog.records


def test_buffered_draws_follow_changes_of_length_and_need_begin(nrr, generator):
    from rnognoise.nuradio import noiseAdder

    adder = noiseAdder()
    event, station = _event(nrr, IDS, T, 3.2)
    with pytest.raises(ConfigError, match="begin"):
        adder.run(event, station, None)
    with pytest.raises(ConfigError, match="buffer_size"):
        adder.begin(generator, buffer_size=0)
    adder.begin(generator, seed=2, buffer_size=3)
    seen = []
    for i, length in enumerate([T, 1024, 1024, T, T, T, T, 1024]):
        event, station = _event(nrr, IDS, length, 3.2, event_id=i)
        adder.run(event, station, None)
        trace = station.get_channel(0).get_trace()
        assert trace.shape == (length,) and 0.005 < trace.std() < 0.02
        seen.append(trace[:T])
    assert adder.n_events == 8
    corr = np.corrcoef(np.array(seen))[np.triu_indices(8, 1)]
    assert np.abs(corr).max() < 0.5  # no draw is handed out twice


def test_conditional_model_takes_the_station_id_and_time(nrr, conditional, conditional_data):
    """Events with stations 11 and 12, four events at each of 20 times spread over a sidereal
    day: every station gets its own noise level (the training set's RMS of that station),
    and the interleaved buffers of the (station, time) pairs never hand out a draw twice."""
    from rnognoise.nuradio import noiseAdder

    adder = noiseAdder()
    adder.begin(conditional, seed=3, buffer_size=3)
    noise: dict[int, list[np.ndarray]] = {11: [], 12: []}
    for i in range(80):
        time = 1.7e9 + (i // 4 + 0.5) * SIDEREAL_DAY_S / 20
        event, _ = _event(nrr, [0, 1], COND_T, 3.2, event_id=i, station_id=11, time=time)
        event.set_station(_event(nrr, [0, 1], COND_T, 3.2, station_id=12, time=time)[1])
        for station in event.get_stations():
            adder.run(event, station, None)
            noise[station.get_id()].append([station.get_channel(c).get_trace()
                                            for c in (0, 1)])
    for sid in (11, 12):
        got = np.array(noise[sid])
        trained = conditional_data.traces[conditional_data.events["station"].to_numpy() == sid]
        np.testing.assert_allclose(got.std(axis=(0, 2)), trained.std(axis=(0, 2)), rtol=0.08)
        corr = np.corrcoef(got[:, 0])[np.triu_indices(len(got), 1)]
        assert np.abs(corr).max() < 0.4
    assert adder.n_events == 160


def test_station_time_sets_the_sidereal_time(nrr, conditional):
    """Station times at lst 6 h and 18 h (the peak and trough of the training modulation):
    the power ratio is the one the training data had."""
    from rnognoise.nuradio import noiseAdder

    def rms(adder, time, n=60):
        traces = []
        for i in range(n):
            event, station = _event(nrr, [0, 1], COND_T, 3.2, event_id=i, time=time)
            adder.run(event, station, None)
            traces.append([station.get_channel(c).get_trace() for c in (0, 1)])
        return float(np.std(traces))

    peak, trough = _unix_time_at_lst(LST_PEAK), _unix_time_at_lst(LST_PEAK + 12)
    assert local_sidereal_time(peak) == pytest.approx(LST_PEAK, abs=1e-6)
    adder = noiseAdder()
    adder.begin(conditional, seed=4)
    ratio = rms(adder, peak) / rms(adder, trough)
    assert ratio == pytest.approx(np.exp(LST_DEPTH), rel=0.08)  # 1.82

    # no station time: an error, unless lst is given (as hours or as a readout time)
    with pytest.raises(ConfigError, match=r"conditioned on lst, but station 11 has no "
                                          r"station time"):
        rms(adder, None, n=1)
    adder.begin(conditional, seed=4, condition={"lst": LST_PEAK + 12})
    fixed = rms(adder, None)
    adder.begin(conditional, seed=4, condition={"readout_time": trough})
    from_time = rms(adder, peak)  # the given value overrides the station time
    adder.begin(conditional, seed=4)
    assert fixed == pytest.approx(from_time, rel=1e-6)
    assert fixed == pytest.approx(rms(adder, trough), rel=1e-6)


def test_unknown_station_and_bad_conditions_are_one_line_errors(nrr, conditional, generator):
    from rnognoise.nuradio import noiseAdder

    adder = noiseAdder()
    adder.begin(conditional, seed=1)
    event, station = _event(nrr, [0, 1], COND_T, 3.2, station_id=13, time=1.7e9)
    with pytest.raises(ConfigError, match=r"station=13 was not seen in training "
                                          r"\(known: 11, 12\)") as err:
        adder.run(event, station, None)
    assert "\n" not in str(err.value) and "begin(condition=" in str(err.value)
    assert not station.get_channel(0).get_trace().any()

    # an explicit station overrides the id: station 13 gets station 12's noise
    adder.begin(conditional, seed=1, condition={"station": 12})
    traces = []
    for i in range(40):
        event, station = _event(nrr, [0, 1], COND_T, 3.2, event_id=i, station_id=13,
                                time=1.7e9 + 3600 * i)
        adder.run(event, station, None)
        traces.append(station.get_channel(0).get_trace())
    assert 0.016 < np.std(traces) < 0.025

    for bad, message in [({"station": 99}, "station=99 was not seen"),
                         ({"wind": 3.0}, r"unknown condition\(s\) \['wind'\]"),
                         ({"station": [11, 12]}, "one value for all events"),
                         ({"lst": 1.0, "readout_time": 1.7e9}, "not both")]:
        with pytest.raises(ConfigError, match=message):
            adder.begin(conditional, condition=bad)
    with pytest.raises(ConfigError, match="not conditional"):
        adder.begin(generator, condition={"station": 11})


def test_inside_a_module_chain_with_nuradioreco_filters(nrr, generator, reference):
    """noiseAdder -> NuRadioReco's channelBandPassFilter -> channelResampler: the chain's
    output is the model's noise, filtered and resampled by NuRadioReco's own modules."""
    from NuRadioReco.modules.channelBandPassFilter import channelBandPassFilter
    from NuRadioReco.modules.channelResampler import channelResampler

    from rnognoise.nuradio import noiseAdder

    units = nrr[3]
    adder, bandpass, resampler = noiseAdder(), channelBandPassFilter(), channelResampler()
    adder.begin(generator, seed=3)
    bandpass.begin()
    resampler.begin()
    out = []
    for i in range(300):
        event, station = _event(nrr, IDS, T, 3.2, event_id=i)
        adder.run(event, station, None)
        bandpass.run(event, station, None, passband=[300 * units.MHz, 500 * units.MHz],
                     filter_type="rectangular")
        resampler.run(event, station, None, sampling_rate=1.6 * units.GHz)
        out.append([station.get_channel(c).get_trace() / units.V for c in IDS])
        assert station.get_channel(IDS[0]).get_sampling_rate() == pytest.approx(
            1.6 * units.GHz)
    adder.end()
    noise = np.asarray(out)
    assert noise.shape == (300, len(IDS), T // 2)
    f_ref, p_ref = _psd(reference, FS, 128)
    f_sim, p_sim = _psd(noise, 1.6e9, 64)  # 25 MHz bins in both
    inside = (f_sim >= 325e6) & (f_sim <= 475e6)
    # (below 50 MHz the Welch segments' windowed edges leak a little power into the first
    # bins of any band-limited trace)
    outside = ((f_sim >= 50e6) & (f_sim <= 250e6)) | (f_sim >= 550e6)
    ref_inside = p_ref[:, np.isin(f_ref, f_sim[inside])]
    # the pass band keeps the model's spectrum (rectangular filter: unit gain inside) ...
    assert np.abs(10 * np.log10(p_sim[:, inside] / ref_inside)).max() < 0.5
    # ... and the stop band is removed by the NuRadioReco filter (the model has power there)
    ref_outside = p_ref[:, np.isin(f_ref, f_sim[outside])]
    assert (p_sim[:, outside].sum(1) < 1e-3 * ref_outside.sum(1)).all()


def test_campaign_jobs_get_independent_streams_of_one_seed(nrr, generator):
    """Jobs of a campaign share the seed and take their job number as the stream."""
    job0 = _noise_of(nrr, generator, 40, 256, 3.2, seed=11, stream=0)
    job1 = _noise_of(nrr, generator, 40, 256, 3.2, seed=11, stream=1)
    np.testing.assert_array_equal(job1, _noise_of(nrr, generator, 40, 256, 3.2, seed=11,
                                                  stream=1))
    a, b = job0.reshape(40, -1), job1.reshape(40, -1)
    corr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    assert np.abs(corr).max() < 0.3
    with pytest.raises(ConfigError, match="stream must be an integer >= 0"):
        _noise_of(nrr, generator, 1, 256, 3.2, stream=-1)
