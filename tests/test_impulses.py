"""The impulse component's amplitudes: drawn from the recorded pulses' distribution,
calibrated through the detection threshold, not a log-normal guessed from the flagged
events."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from rnognoise.io import TraceSet
from rnognoise.train import prepare_model

T = 512
FS = 3.2e9


def _pulsed_noise(n: int, rate: float, rng: np.random.Generator,
                  delay_spread: int = 0, gain: tuple[float, float] = (1.0, 1.0),
                  peaks: tuple[float, float] = (4.0, 14.0)) -> np.ndarray:
    """Band-limited unit noise in two channels; a fraction ``rate`` of events carries a
    band-limited pulse whose peak is uniform in ``peaks`` noise RMS (not log-normal) times
    the channel's ``gain``, arriving in channel 1 a uniform
    ``-delay_spread..delay_spread`` samples after channel 0."""
    f = np.fft.rfftfreq(T, 1 / FS)
    shape = np.exp(-0.5 * ((f - 3e8) / 1e8) ** 2)
    spec = np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1) * (shape + 0.05)
    x = np.fft.irfft(spec, n=T, axis=-1)
    x /= x.std()
    pulse = np.fft.irfft(shape, n=T)
    pulse = np.roll(pulse / np.abs(pulse).max(), T // 2)
    events = np.nonzero(rng.random(n) < rate)[0]
    for e in events:
        peak = rng.uniform(*peaks) * rng.choice([-1.0, 1.0])
        at = rng.integers(-T // 3, T // 3)
        x[e, 0] += gain[0] * peak * np.roll(pulse, at)
        x[e, 1] += gain[1] * peak * np.roll(pulse, at + rng.integers(-delay_spread,
                                                                    delay_spread + 1))
    return x.astype(np.float32)


def _initialised(data: np.ndarray):
    """A ``wgan-gp`` model with the impulse component as its only named feature (no
    lines, offsets, envelope or general parts), initialised on ``data``."""
    model = prepare_model(TraceSet(data, FS, [0, 1]), "wgan-gp",
                          {"max_lines": 0, "block": 0, "envelope": False,
                           "modes": False, "transients": False, "marginals": False,
                           "transfer": False})
    with torch.no_grad():
        model.initialize(torch.from_numpy(data))
    return model


def _event_peaks(traces: np.ndarray) -> np.ndarray:
    return np.abs(traces).max(axis=(1, 2))


def test_pulse_peaks_above_the_threshold_follow_the_data():
    rng = np.random.default_rng(4)
    data = _pulsed_noise(3000, 0.08, rng)
    model = _initialised(data)
    with torch.no_grad():
        fake = model.generate(12000, torch.Generator().manual_seed(1)).numpy()
    gen = model.generator
    assert bool(gen.impulses.amp_table > 0)
    found = model.component_details()["impulses"]                   # in the provenance
    assert abs(found["model_rate"] - found["data_rate"]) < 0.015
    threshold = gen._pulse_threshold
    real_on = _event_peaks(data)[_event_peaks(data) > threshold]
    fake_on = _event_peaks(fake)[_event_peaks(fake) > threshold]
    # the rate of events above the threshold, and the distribution of their peaks
    assert abs(len(fake_on) / len(fake) - len(real_on) / len(data)) < 0.015
    assert stats.ks_2samp(real_on, fake_on).pvalue > 0.01
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(fake_on, q) / np.quantile(real_on, q) - 1) < 0.08
    # bounded by what was recorded: no pulse far beyond the largest recorded one
    assert fake_on.max() < 1.3 * real_on.max()
    # the heavy tail of the sample values (excess kurtosis, mostly the pulses') follows
    kurt_real = stats.kurtosis(data.ravel())
    kurt_fake = stats.kurtosis(fake.ravel())
    assert abs(kurt_fake - kurt_real) < 0.25 * kurt_real


def test_offset_steps_in_flagged_events_do_not_enter_the_pulse_spectrum():
    """With no offset component, events whose trace steps by 6 RMS half-way are flagged
    along with the pulses; the pulse spectrum keeps the pulses' band, not the steps'
    low-frequency power."""
    rng = np.random.default_rng(7)
    data = _pulsed_noise(3000, 0.05, rng)
    steps = rng.random(len(data)) < 0.05
    data[steps, :, T // 2 + 37:] += 6.0
    gen = _initialised(data).generator
    template = (gen.impulses.template_real.detach() ** 2
                + gen.impulses.template_imag.detach() ** 2).numpy()
    f = np.fft.rfftfreq(T, 1 / FS)
    low = template[:, f < 1e8].sum(-1)
    band = template[:, (f >= 2e8) & (f <= 4e8)].sum(-1)
    assert (low < 0.05 * band).all()


def test_a_pulse_at_one_end_of_the_trace_does_not_wrap_round_to_the_other():
    rng = np.random.default_rng(8)
    impulses = _initialised(_pulsed_noise(3000, 0.08, rng)).generator.impulses
    impulses.logit.data.fill_(5.0)                        # a pulse in every event
    with torch.no_grad():
        _, pulses = impulses.draw_traces(4000, torch.Generator().manual_seed(3))
    x = pulses.numpy()
    peak = np.abs(x).argmax(-1)                           # (m, C)
    late = peak > T - 16
    assert late.sum() > 50
    # a pulse peaking in its trace's last samples has nothing in the first quarter
    start = np.abs(x[..., :T // 4])[late].max(-1)
    assert (start == 0).all()
    # and a pulse in the middle keeps its tails on both sides (but where a faint channel's
    # largest sample is not its pulse's)
    mid = (peak > 3 * T // 8) & (peak < 5 * T // 8)
    assert (np.abs(x[..., :T // 8])[mid].max(-1) > 0).mean() > 0.99


def test_calibration_moves_a_wrong_table_towards_the_data():
    rng = np.random.default_rng(5)
    data = _pulsed_noise(2000, 0.1, rng)
    model = _initialised(data)
    gen = model.generator
    pulses = gen.impulses
    pulses.log_amp.data.add_(0.5)                       # 65 % too loud
    x = torch.from_numpy(data)
    data_peak = x.abs().amax(-1).amax(-1)

    def model_peak() -> torch.Tensor:
        with torch.no_grad():
            return gen(8000, torch.Generator().manual_seed(2)).abs().amax(-1).amax(-1)

    threshold = gen._pulse_threshold

    def median_error() -> float:
        fake = model_peak()
        return abs(float(fake[fake > threshold].median() / data_peak[data_peak > threshold]
                         .median()) - 1)

    before = median_error()
    for _ in range(3):
        info = pulses.calibrate(data_peak, model_peak(), threshold)
    assert before > 0.2
    assert median_error() < 0.05
    assert abs(info["model_rate"] - info["data_rate"]) < 0.02
    assert (pulses.log_amp_quantiles.diff() >= 0).all()


def _arrival_differences(traces: np.ndarray, threshold: float) -> np.ndarray:
    """Channel 1's minus channel 0's peak position (circular, in ``[-T/2, T/2)``), in
    events where both channels' peaks pass ``threshold``."""
    both = (np.abs(traces).max(-1) > threshold).all(-1)
    at = np.abs(traces[both]).argmax(-1)
    return ((at[:, 1] - at[:, 0] + T // 2) % T - T // 2).astype(float)


def test_pulses_arrive_with_the_recorded_spread_of_delays():
    """Pulses from changing directions: the delay between channels changes from event
    to event; the model draws recorded arrival patterns instead of one fixed delay."""
    rng = np.random.default_rng(6)
    data = _pulsed_noise(3000, 0.1, rng, delay_spread=40)
    model = _initialised(data)
    with torch.no_grad():
        fake = model.generate(6000, torch.Generator().manual_seed(1)).numpy()
    assert int(model.generator.impulses.n_patterns) >= 200
    real = _arrival_differences(data, 5.0)
    generated = _arrival_differences(fake, 5.0)
    assert len(real) > 100 and len(generated) > 200
    # uniform over -40..40 samples: a standard deviation of 23.7; one fixed delay: ~0
    assert real.std() > 20
    assert abs(generated.std() / real.std() - 1) < 0.25
    assert stats.ks_2samp(real, generated).statistic < 0.12


def test_the_fit_reports_a_model_that_leaves_the_physical_envelope(caplog):
    """The end-of-fit check draws thousands of events (rare explosions escape the held-out
    check's few hundred) and says plainly when they leave the training data's range."""
    import logging

    from rnognoise.fitting.options import FitOptions
    from rnognoise.fitting.parts import PartContext, _envelope_check
    from rnognoise.models.base import FitPart

    data = _pulsed_noise(1500, 0.05, np.random.default_rng(8))
    model = _initialised(data)
    x = torch.from_numpy(data)
    ctx = PartContext(FitOptions(model="wgan-gp"), FS, torch.device("cpu"), "pulses.h5")
    part = FitPart("", model, x, x[:0])
    assert _envelope_check(part, x, ctx) is None                  # as fitted: inside
    with torch.no_grad():
        model.generator.impulses.log_amp.add_(3.0)                 # pulses 20x too loud
        model.generator.impulses.channel_limit.zero_()             # and unbounded (older files)
    with caplog.at_level(logging.WARNING):
        finding = _envelope_check(part, x, ctx)
    assert finding is not None and "training peak" in finding and " V " in finding
    assert "pulses.h5" in caplog.text and "physical envelope" in caplog.text


def _with_bursts(data: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``data`` with a fraction ``rate`` of events 3.5 times louder in both channels for
    half the trace, 80 ns (a noise burst: loud, but not a pulse)."""
    out = data.copy()
    for e in np.nonzero(rng.random(len(out)) < rate)[0]:
        at = rng.integers(0, T // 2)
        out[e, :, at:at + T // 2] *= 3.5
    return out


def test_pulse_peaks_leave_out_the_events_loud_away_from_their_peak():
    rng = np.random.default_rng(9)
    quiet = _pulsed_noise(600, 0.0, rng)
    pulsed = _pulsed_noise(600, 1.0, rng)
    bursts = _with_bursts(quiet, 1.0, rng)
    from rnognoise.models.impulses import pulse_half_width, pulse_peaks

    half = pulse_half_width(torch.from_numpy(pulsed), FS, 4.0)
    assert half == 32                            # short pulses: the shortest, 10 ns

    def peaks(x: np.ndarray) -> np.ndarray:
        return pulse_peaks(torch.from_numpy(x), half).numpy()

    # a pulse (or nothing) keeps its event's peak; a burst is not a pulse
    assert (peaks(pulsed) == _event_peaks(pulsed)).mean() > 0.99
    assert (peaks(quiet) == _event_peaks(quiet)).mean() > 0.97
    assert (peaks(bursts) == 0).mean() > 0.9
    assert (_event_peaks(bursts) > 5.0).mean() > 0.9      # above any pulse threshold


def test_events_loud_throughout_are_not_pulse_events():
    """Pulses in 6 % of the events, and every event's level log-normal (a factor e^0.4
    per standard deviation): the loudest pulse-free events pass any fixed peak threshold,
    but their peak does not stand above their own noise (the pulse component had taken
    the tail of such a level for pulses, in 3 % of the events of a set without any). The
    rate found is the pulses'; without pulses, none."""
    from rnognoise.models.impulses import peak_contrast

    rng = np.random.default_rng(14)
    level = np.exp(0.4 * rng.standard_normal((3000, 1, 1))).astype(np.float32)
    quiet = _pulsed_noise(3000, 0.0, rng) * level
    assert (_event_peaks(quiet) > 6.0).mean() > 0.05
    found = _initialised(quiet).component_details()["impulses"]
    assert found["data_rate"] < 0.003
    data = _pulsed_noise(3000, 0.06, rng) * level
    model = _initialised(data)
    found = model.component_details()["impulses"]
    assert abs(found["data_rate"] - 0.06) < 0.015
    assert abs(found["model_rate"] - found["data_rate"]) < 0.015
    contrast = float(model.generator.impulses.min_contrast)
    assert 3.5 < contrast < float(np.quantile(peak_contrast(torch.from_numpy(data)), 0.99))


def _band_noise(n: int, t: int, rng: np.random.Generator) -> np.ndarray:
    """Unit noise of 120-600 MHz ``(n, 1, t)``."""
    f = np.fft.rfftfreq(t, 1 / FS)
    spec = np.fft.rfft(rng.standard_normal((n, 1, t)), axis=-1) * ((f > 1.2e8) & (f < 6e8))
    x = np.fft.irfft(spec, n=t, axis=-1)
    return x / x.std()


def _ringing(t: int, decay_s: float) -> np.ndarray:
    """A 300 MHz oscillation decaying as ``exp(-t / decay_s)``, peak 1, at ``t // 2``."""
    ts = np.arange(t) / FS
    ring = np.exp(-ts / decay_s) * np.sin(2 * np.pi * 3e8 * ts)
    return np.roll(ring / np.abs(ring).max(), t // 2)


def test_a_noise_burst_of_120_ns_is_not_a_pulse_and_the_pulses_set_their_width():
    """A band-limited noise burst whose envelope lasts 120 ns (full width at half maximum)
    is extended at the shortest half width (10 ns); with 20 ns, the earlier fixed rule
    (T/32 of a 2048-sample trace), about half of them counted as pulses. Pulses that
    ring for 3 ns are pulses at that width; pulses dispersed over 30 ns widen it (from
    the data's clearest pulses) so that they stay pulses."""
    from rnognoise.models.impulses import pulse_half_width, pulse_peaks

    rng = np.random.default_rng(12)
    n, t = 400, 2048
    noise = _band_noise(n, t, rng)
    f = np.fft.rfftfreq(t, 1 / FS)
    ts = np.arange(t) / FS
    centre = rng.uniform(0.3, 0.7, n)[:, None, None] * ts[-1]
    burst = np.fft.irfft(np.fft.rfft(rng.standard_normal((n, 1, t)), axis=-1)
                         * np.exp(-0.5 * ((f - 3e8) / 5e7) ** 2), n=t)
    burst /= burst.std()
    envelope = np.exp(-0.5 * ((ts - centre) / (120e-9 / 2.355)) ** 2)
    bursts = torch.from_numpy(noise + 3.0 * envelope * burst)

    def extended(x: torch.Tensor, half: int) -> float:
        return float((pulse_peaks(x, half) == 0).double().mean())

    short = torch.from_numpy(noise + 10.0 * _ringing(t, 3e-9))
    dispersed = torch.from_numpy(noise + 10.0 * _ringing(t, 30e-9))
    assert pulse_half_width(short, FS, 4.0) == 32               # 10 ns at 3.2 GHz
    assert extended(bursts, 32) > 0.8
    assert extended(bursts, 64) < 0.6                           # the earlier rule
    assert extended(short, 32) < 0.02
    wide = pulse_half_width(dispersed, FS, 4.0)
    assert 48 < wide <= 128                                     # 15-40 ns
    assert extended(dispersed, 32) > 0.5
    assert extended(dispersed, wide) < 0.02
    # fewer than five clear pulses: the shortest
    assert pulse_half_width(dispersed[:4], FS, 4.0) == 32


def test_bursts_above_the_threshold_do_not_count_as_pulses():
    """Pulses in 6 % of the events and noise bursts in another 6 %: the pulse component
    takes the pulses' rate, not the rate of all events above its threshold (which the
    bursts would double)."""
    rng = np.random.default_rng(10)
    data = _with_bursts(_pulsed_noise(3000, 0.06, rng), 0.06, rng)
    model = _initialised(data)
    found = model.component_details()["impulses"]
    assert abs(found["data_rate"] - 0.06) < 0.015
    assert abs(found["model_rate"] - found["data_rate"]) < 0.015


def test_no_channel_pulse_exceeds_the_largest_recorded_sample():
    """Pulses that land in one of three channels at a time (independent sources): no
    channel is the loudest in most events, the typical pattern's channel amplitudes are
    all below 1, and a recorded pattern's gains relative to it alone drew channel peaks
    up to twice the largest recorded pulse."""
    rng = np.random.default_rng(11)
    n, c = 3000, 3
    f = np.fft.rfftfreq(T, 1 / FS)
    shape = np.exp(-0.5 * ((f - 3e8) / 1e8) ** 2)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal((n, c, T)), axis=-1) * (shape + 0.05),
                     n=T, axis=-1)
    x /= x.std()
    pulse = np.roll(np.fft.irfft(shape, n=T), T // 2)
    pulse /= np.abs(pulse).max()
    events = np.nonzero(rng.random(n) < 0.15)[0]
    for e in events:
        x[e, rng.integers(0, c)] += rng.uniform(6.0, 14.0) * np.roll(pulse, rng.integers(-T // 3, T // 3))
    x = x.astype(np.float32)
    model = prepare_model(TraceSet(x, FS, list(range(c))), "wgan-gp",
                          {"max_lines": 0, "block": 0, "envelope": False, "modes": False,
                           "transients": False, "marginals": False, "transfer": False})
    with torch.no_grad():
        model.initialize(torch.from_numpy(x))
    impulses = model.generator.impulses
    k = int(impulses.n_patterns)
    assert k > 100
    # a pattern's channel peak over its event's peak: at most 1 (2.6 before), so that the
    # amplitude table, calibrated on event peaks, is each pulse's largest channel peak
    template = torch.complex(impulses.template_real, impulses.template_imag).detach()
    channel_peak = torch.fft.irfft(template, n=T).abs().amax(-1)
    assert float((channel_peak[None] * impulses.pattern_gains[:k]).max()) <= 1.02
    impulses.logit.data.fill_(5.0)                        # a pulse in every event
    with torch.no_grad():
        _, pulses = impulses.draw_traces(4000, torch.Generator().manual_seed(3))
    drawn = np.abs(pulses.numpy()).max(-1).max(0)        # per channel
    assert drawn.max() <= 1.05 * np.abs(x[events]).max()
    # a channel that never recorded a pulse as loud as the others' gets none beyond its
    # own largest sample, however loud the amplitude table's pulses
    quiet = np.abs(x[:, 2]).max()
    impulses.channel_limit[2] = float(quiet) / 3
    with torch.no_grad():
        _, pulses = impulses.draw_traces(4000, torch.Generator().manual_seed(3))
    assert np.abs(pulses.numpy()[:, 2]).max() <= quiet / 3 * 1.0001
    assert np.abs(pulses.numpy()[:, :2]).max() > quiet / 2


def _pulse_trains(n: int, rate: float, counts: tuple[int, ...], rng: np.random.Generator
                  ) -> np.ndarray:
    """Band-limited unit noise in two channels; a fraction ``rate`` of events carries
    ``counts[i]`` pulses (each event one of ``counts`` at random), each at its own time and
    with its own delay between the channels (its direction), peaks uniform in 6-14 RMS."""
    f = np.fft.rfftfreq(T, 1 / FS)
    shape = np.exp(-0.5 * ((f - 3e8) / 1e8) ** 2)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1) * (shape + 0.05),
                     n=T, axis=-1)
    x /= x.std()
    pulse = np.roll(np.fft.irfft(shape, n=T), T // 2)
    pulse /= np.abs(pulse).max()
    for e in np.nonzero(rng.random(n) < rate)[0]:
        for at in rng.integers(-T // 2 + 40, T // 2 - 40, rng.choice(counts)):
            peak = rng.uniform(6.0, 14.0) * rng.choice([-1.0, 1.0])
            x[e, 0] += peak * np.roll(pulse, at)
            x[e, 1] += peak * np.roll(pulse, at + rng.integers(-8, 9))
    return x.astype(np.float32)


def test_several_pulses_per_event_are_counted_and_drawn():
    """Events with one, two or three pulses (a third each) at independent times: the
    component counts the pulses of each pulse event (pulses closer than the separation
    count as one), calibrates the drawn numbers through the same count and draws as many,
    so that the generated events have the data's share of events with a second pulse
    above the threshold (with one pulse per event, as before, none); data with one pulse
    per event keep one."""
    from rnognoise.models.impulses import count_pulses

    rng = np.random.default_rng(12)
    data = _pulse_trains(3000, 0.1, (1, 2, 3), rng)
    model = _initialised(data)
    impulses = model.generator.impulses
    prob = impulses.count_prob.numpy()
    assert abs(prob[0] - 1 / 3) < 0.1 and abs(prob[1] - 1 / 3) < 0.1 and prob[3] < 0.05
    with torch.no_grad():
        fake = model.generate(12000, torch.Generator().manual_seed(1))
    threshold = 6.0
    half = int(impulses.half_width)

    def share_with_more(x: torch.Tensor) -> float:
        loud = x[x.abs().amax((1, 2)) > threshold]
        return float((count_pulses(loud, half, threshold, 4) > 1).double().mean())

    real = share_with_more(torch.from_numpy(data))
    assert real > 0.3
    assert abs(share_with_more(fake) - real) < 0.1
    single = _initialised(_pulse_trains(3000, 0.1, (1,), np.random.default_rng(13)))
    assert float(single.generator.impulses.count_prob[0]) > 0.95


def _spiked_noise(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """The pulse-free noise of :func:`_pulsed_noise`; a fraction ``rate`` of events holds
    one to three single samples of one channel off by 8-16 noise RMS (a digitizer's bit
    errors: nothing through the signal chain, a white spectrum)."""
    x = _pulsed_noise(n, 0.0, rng)
    for e in np.nonzero(rng.random(n) < rate)[0]:
        at = rng.choice(T, rng.integers(1, 4), replace=False)
        x[e, rng.integers(2), at] += rng.choice([-1.0, 1.0], at.size) * rng.uniform(8, 16, at.size)
    return x


def test_a_spike_in_one_channel_is_drawn_in_that_channel_alone_and_one_sample_wide():
    """Single-sample spikes in one channel of two: a channel whose peak is the noise's
    does not carry the pulse (before, each drawn pulse put at least a fifth of its peak
    into the other channel), and the pulse's spectrum is the spikes' own, white above the
    chain's passband, so that the drawn pulses keep most of their energy in one sample
    (before, the chain's band-limited shape)."""
    rng = np.random.default_rng(21)
    impulses = _initialised(_spiked_noise(3000, 0.06, rng)).generator.impulses
    assert int(impulses.n_patterns) > 100
    impulses.logit.data.fill_(5.0)                        # a pulse in every event
    with torch.no_grad():
        _, pulses = impulses.draw_traces(2000, torch.Generator().manual_seed(4))
    peak = pulses.abs().amax(-1).numpy()                  # (n, C)
    drawn = peak.max(-1) > 0
    pulses, peak = pulses[drawn], peak[drawn]
    loud, faint = peak.max(-1), peak.min(-1)
    assert (faint < 0.1 * loud).mean() > 0.9
    x = pulses.numpy()[np.arange(len(peak)), peak.argmax(-1)]
    share = np.square(x).max(-1) / np.square(x).sum(-1)
    assert np.median(share) > 0.5


def test_a_weaker_channel_that_carries_the_pulse_keeps_it():
    """Pulses whose second channel holds 0.45 of the first's peak, 4.5-7.2 noise RMS
    there: a matched filter finds most of them in that channel's noise (not those as weak
    as the noise's own largest excursions: a pulse with the noise's spectrum stands out
    of it by no more than its peak), so that the drawn pulses keep the recorded ratio of
    the channels' peaks and most keep their second channel's part."""
    rng = np.random.default_rng(22)
    data = _pulsed_noise(3000, 0.1, rng, gain=(1.0, 0.45), peaks=(10.0, 16.0))
    impulses = _initialised(data).generator.impulses
    impulses.logit.data.fill_(5.0)
    with torch.no_grad():
        _, pulses = impulses.draw_traces(2000, torch.Generator().manual_seed(5))
    peak = pulses.abs().amax(-1).numpy()
    peak = peak[peak[:, 0] > 0]
    ratio = peak[:, 1] / peak[:, 0]
    assert (ratio == 0).mean() < 0.2
    assert abs(np.median(ratio) - 0.45) < 0.1
