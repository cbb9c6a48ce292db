"""CW lines: amplitudes drawn within the range the recorded occurrences span (a line
whose amplitude is uniform over events has no log-normal tail)."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.io import TraceSet
from rnognoise.train import prepare_model

T = 512
FS = 3.2e9


def _line_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited unit noise in two channels; half the events carry a 250 MHz line whose
    amplitude is uniform in 1.5-3 noise RMS."""
    f = np.fft.rfftfreq(T, 1 / FS)
    spec = np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1)
    spec *= np.exp(-0.5 * ((f - 3e8) / 1.5e8) ** 2) + 0.05
    x = np.fft.irfft(spec, n=T, axis=-1)
    x /= x.std()
    t = np.arange(T) / FS
    on = rng.random(n) < 0.5
    amp = rng.uniform(1.5, 3.0, n) * on
    phase = rng.uniform(0, 2 * np.pi, n)
    x += amp[:, None, None] * np.cos(2 * np.pi * 2.5e8 * t + phase[:, None, None])
    return x.astype(np.float32)


def _line_magnitude(x: np.ndarray) -> np.ndarray:
    """Per event, the largest |rfft| of the two channels near 250 MHz."""
    f = np.fft.rfftfreq(T, 1 / FS)
    near = np.abs(f - 2.5e8) < 1e7
    return np.abs(np.fft.rfft(x, axis=-1))[..., near].max(-1).max(-1)


def test_line_amplitudes_stay_within_the_recorded_range():
    rng = np.random.default_rng(5)
    data = _line_noise(2000, rng)
    model = prepare_model(TraceSet(data, FS, [0, 1]), "wgan-gp",
                          {"impulses": False, "block": 0, "envelope": False, "modes": False,
                           "transients": False, "marginals": False, "transfer": False})
    with torch.no_grad():
        model.initialize(torch.from_numpy(data))
    lines = model.generator.lines
    assert int((lines.active > 0).sum()) >= 1
    loudest = _line_magnitude(data).max()
    with torch.no_grad():
        fake = model.generate(20000, torch.Generator().manual_seed(2)).numpy()
    # (noise on top of the loudest recorded line reaches 1.05 in 0.2 % of events)
    assert float((_line_magnitude(fake) > 1.1 * loudest).mean()) < 5e-4
    # the same model with the log-normal's unbounded tail
    lines.jitter_bounds[:, 0] = -1e6
    lines.jitter_bounds[:, 1] = 1e6
    with torch.no_grad():
        unbounded = model.generate(20000, torch.Generator().manual_seed(2)).numpy()
    assert float((_line_magnitude(unbounded) > 1.1 * loudest).mean()) > 2e-3
