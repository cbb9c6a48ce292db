"""The cross-spectrum of the Gaussian part: intermittent coherent lines do not give every
event their coherence."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.models.physics import Background
from rnognoise.models.spectral import CrossSpectrum, SpectralSampler

T = 256
LINE_BIN = 40


def _noise_with_a_coherent_line(n: int = 3000, fraction: float = 0.2,
                                seed: int = 0) -> torch.Tensor:
    """Two channels of white-ish Gaussian noise with coherence 0.5 in every bin, plus a
    sinusoid at rfft bin ``LINE_BIN``, the same in both channels, in ``fraction`` of the
    events (amplitude 20 times the noise's per-bin amplitude)."""
    x = _coherent_noise(n, 0.5, seed)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(rng.random(n) < fraction)
    t = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, len(rows))[:, None]
    # a bin's power for unit spectrum is 1 in rfft units: amplitude a gives (a T / 2)^2
    line = (2 * 20.0 / T) * np.cos(2 * np.pi * LINE_BIN * t / T + phase)
    x[rows] += torch.from_numpy(line)[:, None, :]
    return x.float()


def _coherent_noise(n: int, coherence: float, seed: int) -> torch.Tensor:
    """Two channels of white Gaussian noise with ``coherence`` in every bin, float64."""
    spec = torch.zeros(T // 2 + 1, 2, 2, dtype=torch.complex128)
    spec[:, 0, 0] = spec[:, 1, 1] = 1.0
    spec[:, 0, 1] = spec[:, 1, 0] = coherence
    sampler = SpectralSampler(2, T)
    sampler.set_spectrum(spec)
    return sampler(n, torch.Generator().manual_seed(seed)).double()


def _coherence(s: torch.Tensor) -> torch.Tensor:
    d = torch.diagonal(s, dim1=-2, dim2=-1).real
    return (s[:, 0, 1].abs() / torch.sqrt(d[:, 0] * d[:, 1])).float()


def test_the_gaussian_coherence_leaves_out_an_intermittent_coherent_line():
    data = _noise_with_a_coherent_line()
    est = CrossSpectrum(2, T)
    est.update(data)
    est.update_trimmed(data)
    mean, robust = _coherence(est.mean()), _coherence(est.robust())
    assert mean[LINE_BIN] > 0.9           # the line's events dominate the mean matrix
    assert abs(robust[LINE_BIN] - 0.5) < 0.06
    inner = torch.arange(2, T // 2 - 1)
    inner = inner[inner != LINE_BIN]
    # elsewhere the trimmed coherence is the true one (the trim leaves out e^-10 of the
    # Gaussian events): mean over bins within 0.02, every bin within its scatter
    assert abs(float(robust[inner].mean()) - 0.5) < 0.02
    assert float((robust[inner] - 0.5).abs().max()) < 0.1
    # the diagonal is the Gaussian part's power (the median, biased up by 40 % when a
    # fifth of the events carry the line), not the mean power the line dominates
    power = torch.diagonal(est.robust(), dim1=-2, dim2=-1).real[LINE_BIN]
    mean_power = torch.diagonal(est.mean(), dim1=-2, dim2=-1).real[LINE_BIN]
    assert float(power.max()) < 1.6 and float(mean_power.min()) > 20.0


def test_without_the_second_pass_the_coherence_is_the_mean_matrix():
    data = _noise_with_a_coherent_line(n=1000, seed=1)
    est = CrossSpectrum(2, T)
    est.update(data)
    torch.testing.assert_close(_coherence(est.robust()), _coherence(est.mean()))


def test_the_background_draws_the_gaussian_coherence():
    data = _noise_with_a_coherent_line(seed=2)
    background = Background(2, T)
    background.initialize(data)
    with torch.no_grad():
        draws = background.sampler(4000, torch.Generator().manual_seed(3))
    spec = torch.fft.rfft(draws.double(), dim=-1)
    cross = (spec[:, 0] * spec[:, 1].conj()).mean(0)
    coherence = cross.abs() / torch.sqrt(spec[:, 0].abs().square().mean(0)
                                         * spec[:, 1].abs().square().mean(0))
    assert abs(float(coherence[LINE_BIN]) - 0.5) < 0.08


def test_the_leakage_of_a_line_between_bins_is_left_out_too():
    # coherence 0.3 in every bin; in a quarter of the events a carrier half-way between
    # two bins (it leaks into every bin, falling off as 1 / dk^2 in power), in
    # antiphase in the two channels, 40 times the per-bin noise amplitude
    n, t = 3000, np.arange(T)
    x = _coherent_noise(n, 0.3, seed=5)
    rng = np.random.default_rng(5)
    rows = np.flatnonzero(rng.random(n) < 0.25)
    phase = rng.uniform(0, 2 * np.pi, len(rows))[:, None]
    wave = (2 * 40.0 / T) * np.cos(2 * np.pi * (LINE_BIN + 0.5) * t / T + phase)
    x[rows, 0] += torch.from_numpy(wave)
    x[rows, 1] -= torch.from_numpy(wave)
    est = CrossSpectrum(2, T)
    est.update(x.float())
    est.update_trimmed(x.float())
    robust = est.robust()
    coherence = (robust[:, 0, 1].real / torch.sqrt(robust[:, 0, 0].real
                                                   * robust[:, 1, 1].real)).float()
    # the bins where the leakage is 1-10 times the noise: a trim of the outlier bins alone
    # left the antiphase leakage in them (coherence 0 to -0.6 there)
    near = torch.tensor([b for b in range(LINE_BIN - 8, LINE_BIN + 10)
                         if b not in (LINE_BIN, LINE_BIN + 1)])
    assert abs(float(coherence[near].mean()) - 0.3) < 0.05
    assert float((coherence[near] - 0.3).abs().max()) < 0.12
    # far from the line all events count: the estimate is as good as without the line
    far = torch.arange(2, 20)
    assert abs(float(coherence[far].mean()) - 0.3) < 0.03


def test_a_carrier_in_every_event_leaves_the_noise_its_own_coherence():
    """In every event a carrier at a frequency drawn within +-10 bins of ``LINE_BIN`` (like
    the sidebands of a carrier modulated at a random rate), in antiphase in the two
    channels: its leakage reaches every bin near it in most events, no bin there keeps
    half of the events, and the mean matrix holds the carrier's coherence (negative); the
    Gaussian part gets its neighbours' (0.3)."""
    n, t = 2000, np.arange(T)
    x = _coherent_noise(n, 0.3, seed=7)
    rng = np.random.default_rng(7)
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    freq = LINE_BIN + rng.uniform(-10, 10, n)[:, None]
    wave = torch.from_numpy((2 * 10.0 / T) * np.cos(2 * np.pi * freq * t / T + phase))
    x[:, 0] += wave
    x[:, 1] -= wave
    est = CrossSpectrum(2, T)
    est.update(x.float())
    est.update_trimmed(x.float())
    robust, mean = est.robust(), est.mean()
    near = torch.arange(LINE_BIN - 8, LINE_BIN + 9)
    assert float(est.trimmed_count[near].max()) < 0.5 * n
    assert float((mean[near, 0, 1].real / mean[near, 0, 0].real).max()) < 0.0
    coherence = (robust[:, 0, 1].real / torch.sqrt(robust[:, 0, 0].real
                                                   * robust[:, 1, 1].real)).float()
    assert float((coherence[near] - 0.3).abs().max()) < 0.1
