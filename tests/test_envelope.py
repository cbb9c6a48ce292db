"""The learned envelope on data with known per-event structure (and without any)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.models.envelope import (
    _band_edges,
    adapt_band_edges,
    envelope_features,
    quinn_offset,
    sinusoid_spectrum,
)
from tests.structured_helpers import FS, initialised_model, shaped_background
from tests.structured_helpers import generate as _generate

T = 256


def _noise(n: int, seed: int, gain_spread: float = 0.0, burst_fraction: float = 0.0,
           ) -> np.ndarray:
    """Band-limited noise ``(n, 2, T)``; optional log-normal per-event gain (amplitude,
    common to the channels) and, in a fraction of events, a 4x burst 32 samples wide."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / 3.2e9)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.5e8) ** 2)
    x = np.fft.irfft(spec, n=T, axis=-1)
    x /= x.std()
    x *= np.exp(gain_spread * rng.standard_normal((n, 1, 1)))
    if burst_fraction:
        t = np.arange(T)
        hit = rng.random(n) < burst_fraction
        centre = rng.uniform(40, T - 40, n)
        env = 1 + 3 * np.exp(-0.5 * ((t[None] - centre[:, None]) / 16) ** 2)
        x[hit] *= env[hit][:, None, :]
    return x.astype(np.float32)


#: Model options with no general learned part at all (the envelope's absence alone is
#: partly made up by the other general parts).
NOTHING_LEARNED = {"envelope": False, "modes": False, "transients": False, "marginals": False,
                   "transfer": False}


def _model(data: np.ndarray, **options):
    return initialised_model(data, **options)


def test_stationary_noise_leaves_the_envelope_off():
    model = _model(_noise(600, 0))
    assert model.generator.envelope.n_dims == 0
    assert float(model.generator.envelope.active) == 0.0


def test_per_event_gain_spread_is_learned_without_the_estimator_noise():
    sigma = 0.25  # amplitude log-spread: log power spread 0.5
    data = _noise(800, 1, gain_spread=sigma)
    model = _model(data)
    assert model.generator.envelope.n_dims >= 1
    fake = _generate(model, 2000)
    spread_real = np.log(data.std(axis=(1, 2))).std()
    spread_fake = np.log(fake.std(axis=(1, 2))).std()
    assert spread_fake == pytest.approx(spread_real, rel=0.15)
    # the deconvolved envelope: its common-mode log power spread is the true 2 sigma,
    # not 2 sigma plus the scatter of a 256-sample power estimate
    band, _ = model.generator.envelope.draw(4000, torch.Generator().manual_seed(1))
    assert band.mean((1, 2)).std().item() == pytest.approx(2 * sigma, rel=0.08)
    # the envelope describes the common gain: the background's per-event gain is off
    # (on top of the envelope it counted the spread twice)
    assert float(model.generator.background.log_gain_sigma.detach().exp()) < 1e-3
    # without the envelope the per-event gain's moment estimate carries it instead
    without = _model(data, **NOTHING_LEARNED)
    assert float(without.generator.background.log_gain_sigma.detach().exp()) == pytest.approx(
        sigma, rel=0.1)
    spread_without = np.log(_generate(without, 2000).std(axis=(1, 2))).std()
    assert spread_without == pytest.approx(spread_real, rel=0.15)


def test_noise_without_event_to_event_variation_gets_no_gain_spread():
    # a fixed prior of 2 % made every event's power vary in noise whose power does not
    # (a classifier on the band powers of a carrier-free band told the model apart)
    data = _noise(800, 5)
    for options in ({}, NOTHING_LEARNED):
        model = _model(data, **options)
        assert float(model.generator.background.log_gain_sigma.detach().exp()) < 1e-3
    gained = _noise(800, 5, gain_spread=0.05)
    model = _model(gained, **NOTHING_LEARNED)
    assert float(model.generator.background.log_gain_sigma.detach().exp()) == pytest.approx(0.05, rel=0.3)


def test_bursts_in_time_give_the_kurtosis_of_the_data():
    data = _noise(800, 2, burst_fraction=0.2)
    model = _model(data)
    fake = _generate(model, 2000)

    def bursty(x: np.ndarray) -> float:
        kurt = (x**4).mean(-1) / (x**2).mean(-1) ** 2
        return float((kurt.max(-1) > 4.0).mean())

    assert bursty(data) > 0.1
    assert bursty(fake) == pytest.approx(bursty(data), rel=0.35)
    assert bursty(_generate(_model(data, **NOTHING_LEARNED), 2000)) < 0.25 * bursty(data)


def test_sampling_path_equals_the_differentiable_path_with_the_envelope_on():
    model = _model(_noise(600, 4, gain_spread=0.3, burst_fraction=0.2))
    assert model.generator.envelope.n_dims >= 1
    with torch.no_grad():
        fast = model.generate(50, torch.Generator().manual_seed(9))
    slow = model.generate(50, torch.Generator().manual_seed(9)).detach()
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)


def test_features_of_a_known_trace():
    x = torch.ones(1, 1, 64)
    x[..., 32:] = 3.0
    band_edges = torch.tensor([1, 17, 33])
    window_edges = torch.tensor([0, 32, 64])
    feats = envelope_features(x, band_edges, torch.ones(33, dtype=torch.bool), window_edges)
    # window log powers 0 and log 9, centred: -/+ log(9)/2
    assert feats[0, 2:].tolist() == pytest.approx([-np.log(9) / 2, np.log(9) / 2])


def test_drawn_envelopes_have_the_data_spread_in_a_noisy_channel_too():
    # a common gain, one broad-band channel and one narrow-band one (few bins per band:
    # noisier band levels); drawn along the modelled direction mapped back with the
    # shortest vector of its coordinates (the pseudo-inverse), the narrow channel's
    # spread came out 14 % low
    sigma = 0.25
    rng = np.random.default_rng(1)
    spec = np.fft.rfft(rng.standard_normal((800, 2, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / 3.2e9)
    spec[:, 0] *= np.exp(-0.5 * ((f - 4e8) / 1.5e8) ** 2)
    spec[:, 1] *= np.exp(-0.5 * ((f - 4e8) / 0.4e8) ** 2) + 0.02
    x = np.fft.irfft(spec, n=T, axis=-1)
    x /= x.std(axis=(0, 2), keepdims=True)
    x *= np.exp(sigma * rng.standard_normal((800, 1, 1)))
    model = _model(x.astype(np.float32))
    assert model.generator.envelope.n_dims >= 1
    band, _ = model.generator.envelope.draw(4000, torch.Generator().manual_seed(1))
    spread = band.mean(-1).std(0).numpy()                           # per channel
    np.testing.assert_allclose(spread, 2 * sigma, rtol=0.06)


@pytest.mark.parametrize("frequency", [300.0, 300.25, 300.5, 300.37])
def test_a_carrier_between_bins_leaves_the_band_levels_alone(frequency):
    # a carrier between two bins of an unwindowed transform leaks as 1 / (pi dk)^2: kept in
    # the band levels, a carrier 3 times the noise RMS raised its band by 3.6-5.0 dB and the
    # next three by 0.04-0.4 dB, and a model whose lines leak the same way drew it twice
    n, t = 400, 2048
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.standard_normal((n, 2, t)))
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, (n, 1, 1)))
    carrier = 3.0 * torch.cos(2 * np.pi * frequency * torch.arange(t) / t + theta)
    band_edges = torch.linspace(100, 900, 17).round().long()
    window_edges = torch.linspace(0, t, 17).round().long()
    everywhere = torch.ones(t // 2 + 1, dtype=torch.bool)
    quiet = envelope_features(noise, band_edges, everywhere, window_edges)[:, :16]
    loud = envelope_features(noise + carrier, band_edges, everywhere, window_edges)[:, :16]
    shift_db = 10 / np.log(10) * (loud - quiet).mean(0).numpy()
    assert np.abs(shift_db).max() < 0.2, shift_db


def test_quinn_offset_and_the_sinusoid_spectrum_of_a_known_tone():
    t = 512
    for frequency in (40.0, 40.2, 40.5, 40.77):
        x = torch.cos(2 * np.pi * frequency * torch.arange(t, dtype=torch.float64) / t + 0.3)
        spec = torch.fft.rfft(x)[None]
        peak = spec.abs().argmax(-1)
        found = float(peak + quinn_offset(spec, peak))
        assert found == pytest.approx(frequency, abs=5e-3)
        # the Dirichlet kernel through the loudest bin gives the whole positive-frequency
        # spectrum (the negative-frequency image, 1 / (2 f) smaller, is left)
        model = sinusoid_spectrum(spec[0, peak], torch.tensor([found], dtype=torch.float64),
                                  t, t // 2 + 1)[0]
        residual = (spec[0] - model).abs().square().sum() / spec[0].abs().square().sum()
        assert float(residual) < 1e-2  # of the tone's power (1 without the subtraction)


def _pickup(n: int, seed: int, t: int = 1024, centre: float = 1.2e8, width: float = 1e7,
            ) -> tuple[np.ndarray, np.ndarray]:
    """Two channels of a background with a 5 % floor up to the Nyquist frequency, plus
    pickup common to both (Gaussian band ``width`` around ``centre``, log-normal amplitude
    of 0.5 e-folds); and the rfft frequencies."""
    rng = np.random.default_rng(seed)
    x = shaped_background(n, rng, channels=2, n_samples=t)
    f = np.fft.rfftfreq(t, 1 / FS)
    pickup = np.fft.irfft(np.fft.rfft(rng.standard_normal((n, t)), axis=-1)
                          * np.exp(-0.5 * ((f - centre) / width) ** 2), n=t, axis=-1)
    pickup *= 0.5 / pickup.std() * np.exp(0.5 * rng.standard_normal((n, 1)))
    return (x + pickup[:, None, :]).astype(np.float32), f


def _band_spread(x: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Per channel, the events' spread of the log mean power in the bins ``band``."""
    power = np.abs(np.fft.rfft(x, axis=-1))[..., band] ** 2
    return np.log(power.mean(-1)).std(0)


def test_bands_moved_to_a_narrow_band_whose_power_changes_on_its_own_keep_its_spread():
    # with `envelope_adapt`; with 16 equal bands of 100 MHz the band's gain averaged the
    # pickup with the noise beside it, and the drawn pickup had 0.65 of the data's spread
    # in log power
    data, f = _pickup(800, 4)
    model = _model(data, envelope_adapt=True)
    fake = _generate(model, 2000)
    band = np.abs(f - 1.2e8) < 2e7
    np.testing.assert_allclose(_band_spread(fake, band), _band_spread(data, band), rtol=0.12)
    edges = model.generator.envelope.band_edges.numpy() * (f[1] - f[0])
    assert np.sum(np.abs(edges - 1.2e8) < 5e7) >= 3      # bands of 50 MHz or less there
    # off by default: equal bands
    plain = _model(data).generator.envelope.band_edges.numpy()
    assert np.ptp(np.diff(plain)) <= 1


def test_a_band_whose_power_varies_alone_is_drawn_with_its_spread_to_its_edges():
    """One of the 16 equal bands with a log-normal level of its own (1 e-fold in power):
    each band's gain covers its own bins, so the drawn band has the data's spread in log
    power over the band and at its edges. Gains interpolated linearly between the band
    centres averaged it with the neighbours: 0.79-0.82 of the spread, over the band and at
    its edges."""
    rng = np.random.default_rng(5)
    n = 800
    lo, hi = (int(e) for e in _band_edges(1, T // 2 + 1, 16)[5:7])
    spec = np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1)
    spec[..., lo:hi] *= np.exp(0.5 * rng.standard_normal((n, 1, 1)))
    data = np.fft.irfft(spec, n=T, axis=-1).astype(np.float32)
    model = _model(data)
    assert {lo, hi} <= set(model.generator.envelope.band_edges.tolist())
    fake = _generate(model, 2000)
    for bins in (np.arange(lo, hi), np.arange(lo, lo + 2), np.arange(hi - 2, hi)):
        np.testing.assert_allclose(_band_spread(fake, bins), _band_spread(data, bins),
                                   rtol=0.08)


def test_band_edges_stay_equal_where_the_bands_vary_alike():
    # a gain common to all frequencies, and stationary noise, give no band of its own
    reference = torch.from_numpy(_noise(1600, 3))
    edges = _band_edges(10, 100, 16)
    keep = torch.ones(T // 2 + 1, dtype=torch.bool)
    for data in (_noise(800, 1, gain_spread=0.25), _noise(800, 2)):
        moved = adapt_band_edges(torch.from_numpy(data), reference, edges, keep)
        np.testing.assert_array_equal(moved, edges)


def test_band_edges_stay_equal_on_the_embedded_simulator_with_its_lines_masked():
    # its lines come and go, two of them wander over 20-30 MHz, and they leak beyond the
    # bins masked round each line's centre (as the model masks them); with the bands'
    # mean powers (not medians) the edges moved by up to 62 bins, crowding round the lines
    from rnognoise.simulate import DEFAULT_CW_LINES, simulate_noise

    data = simulate_noise(600, seed=3)
    x = data.traces.astype(np.float64)
    x = (x - x.mean(-1, keepdims=True)) / x.std()
    _, c, t = x.shape
    power = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(0)                # (C, F)
    rng = np.random.default_rng(1)
    z = rng.standard_normal((1200, c, t // 2 + 1)) + 1j * rng.standard_normal((1200, c, t // 2 + 1))
    reference = np.fft.irfft(z * np.sqrt(power / 2), n=t, axis=-1)      # stationary, same spectrum
    bin_hz = data.sampling_rate / t
    keep = torch.ones(t // 2 + 1, dtype=torch.bool)
    for line in DEFAULT_CW_LINES:
        b = int(round(0.5 * (line.f_min + line.f_max) / bin_hz))
        keep[b - 3:b + 4] = False
    spectrum = power.mean(0)
    passband = np.nonzero(spectrum >= 1e-3 * spectrum.max())[0]
    edges = _band_edges(int(passband.min()), int(passband.max()) + 1, 16)
    moved = adapt_band_edges(torch.from_numpy(x), torch.from_numpy(reference), edges, keep)
    np.testing.assert_array_equal(moved, edges)
