"""CW lines: the amplitude distribution of the events carrying a line is the data's (a
quantile table, net of the noise), not a log-normal of the same spread."""

from __future__ import annotations

import math

import numpy as np
import torch
from structured_helpers import FS, shaped_background

from rnognoise.models.lines import Lines

T = 512
LINE_HZ = 400e6          # bin 64 of 512 samples at 3.2 GHz: on a bin centre
FRACTION = 0.3


def _data_with_a_line(spread: float, seed: int, n: int = 2000, amplitude: float = 3.0
                      ) -> tuple[torch.Tensor, np.ndarray]:
    """Unit-RMS background in 2 channels; in ``FRACTION`` of the events a line of
    amplitude ``amplitude * U(1 - spread, 1 + spread)``, the same in both channels.
    Returns the traces and the drawn amplitudes."""
    rng = np.random.default_rng(seed)
    x = shaped_background(n, rng, channels=2, n_samples=T)
    rows = np.flatnonzero(rng.random(n) < FRACTION)
    amps = amplitude * rng.uniform(1 - spread, 1 + spread, len(rows))
    phase = rng.uniform(0, 2 * np.pi, len(rows))
    t = np.arange(T) / FS
    x[rows] += (amps[:, None] * np.cos(2 * np.pi * LINE_HZ * t + phase[:, None]))[:, None, :]
    return torch.from_numpy(x).float(), amps


def _drawn_amplitudes(lines: Lines, n: int = 20000) -> torch.Tensor:
    slots = torch.nonzero(lines.active > 0, as_tuple=True)[0]
    with torch.no_grad():
        gate, _, _, amp = lines._draw(slots, n, torch.Generator().manual_seed(5))
    k = int(torch.argmin((lines.base_freq[slots] - LINE_HZ).abs()))
    on = gate[:, k] > 0
    return amp[on, k]                                                    # (m, C)


def _fitted(data: torch.Tensor) -> Lines:
    lines = Lines(2, T, FS)
    lines.initialize(data)
    assert int((lines.active > 0).sum()) >= 1
    return lines


def test_a_uniform_amplitude_spread_gives_the_data_mean_power_and_range():
    data, amps = _data_with_a_line(0.5, seed=0)   # the weakest 13x the Gaussian level
    lines = _fitted(data)
    drawn = _drawn_amplitudes(lines)
    true_power = float(np.mean(amps**2))
    power_db = 10 * math.log10(float(drawn.square().mean()) / true_power)
    assert abs(power_db) < 0.25
    # bounded by what was recorded (+- the noise on each measured amplitude), where a
    # log-normal reaches beyond both ends
    assert float(drawn.min()) > 1.2 and float(drawn.max()) < 4.8
    # the log-normal of the same median and spread: the mean power 0.5 dB high
    lines.amp_table.zero_()
    lognormal = _drawn_amplitudes(lines)
    assert 10 * math.log10(float(lognormal.square().mean()) / true_power) > 0.35


def test_the_noise_on_measured_amplitudes_is_not_taken_for_a_spread():
    data, _ = _data_with_a_line(0.0, seed=1, amplitude=1.5)
    lines = _fitted(data)
    drawn = _drawn_amplitudes(lines)
    log_spread = float(drawn.log().std())
    assert log_spread < 0.05
    assert abs(float(drawn.median()) - 1.5) < 0.05
