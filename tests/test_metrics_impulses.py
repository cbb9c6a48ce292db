"""Impulsive events (selection, delays, permutation test) and the per-event gain: known answers."""

from __future__ import annotations

import numpy as np
import pytest

from rnognoise.metrics.impulses import (
    impulse_lags,
    impulsive_events,
    lag_distance,
    permutation_null,
)
from rnognoise.metrics.spectra import event_gain, event_psd
from rnognoise.metrics.thresholds import assess

FS = 3.2e9


def wavelet(n: int, at: int, peak: float) -> np.ndarray:
    """A 300 MHz Gaussian-windowed pulse (about 3 ns long) peaking at sample ``at``."""
    t = (np.arange(n) - at) / FS
    return peak * np.exp(-0.5 * (t / 1.5e-9) ** 2) * np.cos(2 * np.pi * 300e6 * t)


def noise(n_ev: int, n_ch: int, n_s: int = 2048, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n_ev, n_ch, n_s))


def test_impulsive_events_need_coincident_peaks_in_two_channels() -> None:
    x = noise(40, 3)
    for e in range(10):  # coincident: 10 samples = 3 ns apart
        x[e, 0] += wavelet(2048, 300 + 50 * e, 9.0)
        x[e, 1] += wavelet(2048, 310 + 50 * e, 8.0)
    for e in range(10, 20):  # two channels, but 500 samples = 156 ns apart
        x[e, 0] += wavelet(2048, 300, 9.0)
        x[e, 2] += wavelet(2048, 800, 9.0)
    for e in range(20, 30):  # one channel only
        x[e, 1] += wavelet(2048, 1000, 12.0)
    flags = impulsive_events(x, np.ones(3), FS)
    assert np.array_equal(np.flatnonzero(flags), np.arange(10))
    # one channel: one peak is enough
    assert np.array_equal(np.flatnonzero(impulsive_events(x[:, 1:2], np.ones(1), FS)),
                          np.concatenate([np.arange(10), np.arange(20, 30)]))


def test_impulse_lags_recover_known_delays_with_sign() -> None:
    x = 0.5 * noise(6, 3, seed=1)
    starts = [60, 300, 1000, 1500, 2010, 700]  # near both ends too
    for e, t0 in enumerate(starts):
        x[e, 0] += wavelet(2048, t0, 10.0)
        x[e, 1] += wavelet(2048, t0 + 13, 9.0)  # channel 1 later by 13 samples
        x[e, 2] += wavelet(2048, t0 - 40, 11.0)  # channel 2 earlier by 40 samples
    lags = impulse_lags(x, np.ones(3), FS, [(0, 1), (0, 2), (1, 2)], max_lag=20e-9)
    expected = np.array([-13, 40, 53]) / FS  # positive: first channel of the pair later
    assert np.allclose(lags, expected[None, :], atol=1.01 / FS)  # within one sample
    # a pair with a channel below the threshold has no delay
    x[:, 2] = 0.5 * noise(6, 1, seed=2)[:, 0]
    lags = impulse_lags(x, np.ones(3), FS, [(0, 1), (0, 2)])
    assert np.all(np.isfinite(lags[:, 0])) and np.all(np.isnan(lags[:, 1]))


def test_lag_distance_is_the_shift_and_skips_sparse_pairs() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(0, 3e-9, (50, 2))
    b = a + np.array([1e-9, 3e-9])
    assert lag_distance(a, b) == pytest.approx(2e-9, rel=1e-9)  # mean of 1 and 3 ns
    b[4:, 1] = np.nan  # only 4 delays left in pair 1: that pair is left out
    assert lag_distance(a, b) == pytest.approx(1e-9, rel=1e-9)
    assert np.isnan(lag_distance(a[:3], b[:3]))


def test_permutation_null_passes_equal_sets_and_fails_flipped_delays() -> None:
    rng = np.random.default_rng(4)
    real = rng.uniform(2e-9, 6e-9, (60, 3))
    same = rng.uniform(2e-9, 6e-9, (60, 3))
    flipped = -rng.uniform(2e-9, 6e-9, (25, 3))  # arrivals from the other side
    null = permutation_null(real, same, rng=rng)
    assert lag_distance(real, same) < null[0] + 3.5 * null[1]
    null_f = permutation_null(real, flipped, rng=rng)
    judged = assess("impulse_lag_w1", lag_distance(real, flipped), null_f[1], 0.0, 0.0,
                    null=null_f)
    assert judged.verdict == "fail" and "permutation centre" in judged.reason
    assert judged.centre == pytest.approx(null_f[0])


def test_event_gain_recovers_known_gains_and_ignores_a_line() -> None:
    n_ev = 200
    x = noise(n_ev, 2, n_s=1024, seed=5)
    gain = np.where(np.arange(n_ev) % 2 == 0, 1.0, 1.5)
    x *= gain[:, None, None]
    t = np.arange(1024) / FS
    x[::4] += 3.0 * np.sin(2 * np.pi * 403e6 * t)  # a strong line in a quarter of the events
    freqs, psd = event_psd(x, FS)
    g = event_gain(psd, freqs, (100e6, 1500e6), psd.mean(0))
    step = g[gain > 1].mean() - g[gain == 1].mean()
    assert step == pytest.approx(np.log(1.5), abs=0.02)
    with_line, without = g[::4], g[2::4]  # both gain 1
    assert abs(with_line.mean() - without.mean()) < 0.02
