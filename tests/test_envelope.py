"""The learned envelope on data with known per-event structure (and without any)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.models.envelope import envelope_features
from tests.structured_helpers import generate as _generate
from tests.structured_helpers import initialised_model

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
    without = _model(data, **NOTHING_LEARNED)
    spread_without = np.log(_generate(without, 2000).std(axis=(1, 2))).std()
    assert spread_without < 0.5 * spread_real


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
