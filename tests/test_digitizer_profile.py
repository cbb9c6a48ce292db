"""The digitizer's sample-position profile on data with a known pattern (and without)."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.models.digitizer import SampleProfile


def _gaussian(n: int, c: int, t: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, c, t)))


def test_stationary_noise_gets_no_spread_and_a_nearly_flat_profile():
    # the two kurtosis estimates differ by their noise alone: without a significance
    # threshold about half the channels got a spread of ~0.04 (0.2 % of the power spread
    # as white noise over every frequency)
    profile = SampleProfile(8, 256, period=128)
    data = _gaussian(300, 8, 256, seed=1)
    profile.initialize(data)
    profile.fit_spread(data, _gaussian(300, 8, 256, seed=2))
    assert float(profile.spread.abs().max()) == 0.0
    # shrunk towards flat (a position's power scatters by 5 % on 600 samples)
    assert float((profile.amplitude.square() - 1).abs().max()) < 0.1


def test_a_position_pattern_is_recovered():
    n, c, t, period = 2000, 2, 256, 128
    pattern = np.ones(period)
    pattern[::16] = 1.45                               # louder cells, as in station 24
    pattern /= pattern.mean()
    x = _gaussian(n, c, t, seed=3) * torch.from_numpy(np.sqrt(np.tile(pattern, t // period)))
    profile = SampleProfile(c, t, period=period)
    profile.initialize(x)
    power = profile.amplitude.double().square().numpy()
    np.testing.assert_allclose(power, np.broadcast_to(pattern, power.shape), rtol=0.08)


def test_a_per_sample_amplitude_spread_is_recovered():
    n, c, t, spread = 400, 2, 256, 0.15
    x = _gaussian(n, c, t, seed=5) * torch.exp(spread * _gaussian(n, c, t, seed=6) - spread ** 2)
    profile = SampleProfile(c, t, period=128)
    profile.fit_spread(x, _gaussian(n, c, t, seed=4))
    np.testing.assert_allclose(profile.spread.numpy(), spread, rtol=0.15)
