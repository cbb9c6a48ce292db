"""The sample-value Wasserstein distance and its error when the values of a trace share
its offset (rnognoise.metrics.amplitude.amplitude_wasserstein)."""

from __future__ import annotations

import numpy as np

from rnognoise.metrics.amplitude import amplitude_wasserstein


def _events(rng: np.random.Generator, n: int = 40, t: int = 512,
            offset_spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``n`` traces of unit white noise, each with its own offset, and the
    event of each value, in random order (as a summary's randomly picked values are)."""
    x = rng.standard_normal((n, t)) + offset_spread * rng.standard_normal((n, 1))
    order = rng.permutation(n * t)
    return x.ravel()[order], np.repeat(np.arange(n), t)[order]


def test_the_error_follows_the_event_to_event_scatter_when_traces_carry_offsets():
    rng = np.random.default_rng(0)
    values, by_event, by_value = [], [], []
    for _ in range(40):
        a, ea = _events(rng)
        x, ex = _events(rng)
        v, err = amplitude_wasserstein(a, x, 1.0, events_a=ea, events_x=ex, rng=rng)
        _, err_values = amplitude_wasserstein(a, x, 1.0, rng=rng)
        values.append(v)
        by_event.append(err)
        by_value.append(err_values)
    scatter = np.std(values, ddof=1)       # what the error should describe
    assert 0.5 < np.median(by_event) / scatter < 2.0
    assert np.median(by_value) / scatter < 0.4  # parts across events hide the offsets


def test_without_offsets_both_ways_of_splitting_agree():
    rng = np.random.default_rng(1)
    a, ea = _events(rng, offset_spread=0.0)
    x, ex = _events(rng, offset_spread=0.0)
    v1, e1 = amplitude_wasserstein(a, x, 1.0, events_a=ea, events_x=ex, rng=rng)
    v2, e2 = amplitude_wasserstein(a, x, 1.0, rng=rng)
    assert v1 == v2
    assert 0.4 < e1 / e2 < 2.5
