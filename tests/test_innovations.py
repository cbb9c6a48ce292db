"""Heavy-tailed innovations: a linear chain driven by impulsive noise."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.models.digitizer import SampleProfile
from rnognoise.models.innovations import fit_innovation_law, windowed_kurtosis
from rnognoise.models.spectral import (
    INNOVATION_TRUNCATION,
    MAX_INNOVATION_TAIL,
    SpectralSampler,
    estimate_cross_spectrum,
    innovation_factor,
)

FS, T = 3.2e9, 1024


def _chain(x: np.ndarray) -> np.ndarray:
    """A band-pass signal chain (120-650 MHz, 4th order) no model here has."""
    f = np.fft.rfftfreq(x.shape[-1], 1 / FS)
    h = 1 / np.sqrt(1 + (120e6 / np.maximum(f, 1)) ** 8) / np.sqrt(1 + (f / 650e6) ** 8)
    y = np.fft.irfft(np.fft.rfft(x, axis=-1) * h, n=x.shape[-1], axis=-1)
    return y / y.std()


def _fitted(x: torch.Tensor) -> tuple[SpectralSampler, SampleProfile]:
    c, t = x.shape[1:]
    sampler = SpectralSampler(c, t, innovations=True)
    sampler.set_spectrum(estimate_cross_spectrum(x, robust=True))
    sampler.use_hermitian_root()
    profile = SampleProfile(c, t, period=128)
    profile.fit_spread(x, sampler(1000, torch.Generator().manual_seed(1)))
    return sampler, profile


def test_innovation_numbers_are_standard_normal_in_the_mean_and_variance():
    sampler = SpectralSampler(2, T, innovations=True)
    sampler.set_spectrum(torch.eye(2).expand(T // 2 + 1, 2, 2))
    sampler.innovation_spread.copy_(torch.tensor([0.0, 0.8]))
    z = sampler.normals(400, torch.Generator().manual_seed(0))
    assert z.shape == (T // 2 + 1, 400, 4)
    # per channel (real and imaginary parts interleaved): unit variance, zero mean; the
    # DC and Nyquist bins' real parts too (their imaginary parts are dropped by the mix)
    var = z[1:-1].reshape(-1, 400, 2, 2).var(dim=(0, 1, 3))
    np.testing.assert_allclose(var.numpy(), 1.0, atol=0.03)
    np.testing.assert_allclose(z[[0, -1], :, ::2].var().item(), 1.0, atol=0.1)
    assert float(z.mean().abs()) < 0.01


def test_the_hermitian_root_keeps_the_cross_spectrum_and_each_channel_its_numbers():
    x = torch.from_numpy(_chain(np.random.default_rng(1).standard_normal((300, 2, T)))).float()
    sampler = SpectralSampler(2, T)
    sampler.set_spectrum(estimate_cross_spectrum(x, robust=True))
    before = sampler.factor @ sampler.factor.conj().transpose(-1, -2)
    sampler.use_hermitian_root()
    root = sampler.factor
    after = root @ root.conj().transpose(-1, -2)
    scale = float(before.abs().max())
    assert float((after - before).abs().max()) < 1e-5 * scale
    assert float((root - root.conj().transpose(-1, -2)).abs().max()) < 1e-5 * scale
    # independent channels: the diagonal carries the amplitude in the passband
    diag = root.diagonal(dim1=-2, dim2=-1).abs()[60:200]
    assert float((root.abs().sum(-1)[60:200] - diag).max() / diag.min()) < 0.2


def test_innovations_keep_the_spectrum_and_make_heavier_tails():
    x = torch.from_numpy(_chain(np.random.default_rng(0).standard_normal((300, 2, T)))).float()
    sampler, _ = _fitted(x)
    gaussian = sampler(600, torch.Generator().manual_seed(2))
    sampler.innovation_spread.fill_(0.8)
    heavy = sampler(600, torch.Generator().manual_seed(2))
    power = lambda y: torch.fft.rfft(y.double(), dim=-1).abs().square().mean((0, 1))  # noqa: E731
    band = slice(60, 200)
    ratio = (power(heavy)[band].sum() / power(gaussian)[band].sum()).item()
    assert abs(ratio - 1) < 0.03
    assert float(windowed_kurtosis(heavy).min()) > 1.15 * float(windowed_kurtosis(gaussian).max())


def test_a_chain_driven_by_impulsive_noise_is_fitted_and_gaussian_noise_is_not():
    rng = np.random.default_rng(3)
    heavy = torch.from_numpy(_chain(rng.standard_t(4, (600, 2, T)))).float()
    sampler, profile = _fitted(heavy)
    assert bool((profile.spread > 0).all())
    spread, tail = fit_innovation_law(heavy, sampler, profile.spread)
    assert bool((spread + tail > 0.2).all())
    sampler.innovation_spread.copy_(spread)
    sampler.innovation_tail.copy_(tail)
    model = sampler(600, torch.Generator().manual_seed(4))
    np.testing.assert_allclose(windowed_kurtosis(model).numpy(),
                               windowed_kurtosis(heavy).numpy(), rtol=0.04)
    # Gaussian noise through the same chain: nothing to fit
    gauss = torch.from_numpy(_chain(rng.standard_normal((600, 2, T)))).float()
    sampler, profile = _fitted(gauss)
    assert float(profile.spread.max()) == 0.0
    assert all(float(p.max()) == 0.0 for p in fit_innovation_law(gauss, sampler, profile.spread))


def test_the_peak_of_an_event_is_closer_to_impulsive_data_with_innovations():
    rng = np.random.default_rng(5)
    heavy = torch.from_numpy(_chain(rng.standard_t(4, (600, 1, T)))).float()
    sampler, profile = _fitted(heavy)
    peak = lambda y: float(y.abs().amax(-1).median())  # noqa: E731
    gaussian = peak(sampler(600, torch.Generator().manual_seed(6)))
    spread, tail = fit_innovation_law(heavy, sampler, profile.spread)
    sampler.innovation_spread.copy_(spread)
    sampler.innovation_tail.copy_(tail)
    innov = peak(sampler(600, torch.Generator().manual_seed(6)))
    data = peak(heavy)
    assert abs(innov - data) < 0.5 * abs(gaussian - data)


def _kurtosis(x: torch.Tensor) -> np.ndarray:
    """Per-event excess kurtosis ``(n, C)``."""
    y = (x - x.mean(-1, keepdim=True)).double()
    return (y.pow(4).mean(-1) / y.pow(2).mean(-1).square() - 3).numpy()


def test_a_tailed_law_has_unit_power_and_a_bounded_largest_value():
    u = torch.randn(200, 2, 4096, generator=torch.Generator().manual_seed(0))
    spread = torch.tensor([0.3, 0.0])
    tail = torch.tensor([0.25, MAX_INNOVATION_TAIL])
    a = innovation_factor(u, spread, tail)
    np.testing.assert_allclose(a.square().mean((0, 2)).numpy(), 1.0, rtol=0.05)
    top = innovation_factor(torch.full((1, 2, 1), 1e3), spread, tail)
    assert torch.equal(top, innovation_factor(torch.full((1, 2, 1), INNOVATION_TRUNCATION),
                                              spread, tail))
    assert float(top.max()) < 200.0
    # a file's out-of-range tail is bounded at use
    assert torch.equal(innovation_factor(u[:2], spread, torch.tensor([0.25, 9.0])),
                       innovation_factor(u[:2], spread, tail))
    # without a tail: the log-normal law as before, bit for bit
    assert torch.equal(innovation_factor(u[:2], spread, torch.zeros(2)),
                       torch.exp(spread[None, :, None] * u[:2].clamp(-4, 4)
                                 - spread.square()[None, :, None]))


def test_the_long_scale_tells_a_power_law_tail_from_a_log_normal_law():
    rng = np.random.default_rng(11)
    student = torch.from_numpy(_chain(rng.standard_t(3, (600, 2, T)))).float()
    z = torch.from_numpy(rng.standard_normal((600, 2, T)))
    u = torch.from_numpy(rng.standard_normal((600, 2, T)))
    lognormal = torch.from_numpy(_chain(
        (z * innovation_factor(u, torch.full((2,), 0.6))).numpy())).float()
    fitted = {}
    for name, data in (("student", student), ("lognormal", lognormal)):
        sampler, profile = _fitted(data)
        spread, tail = fit_innovation_law(data, sampler, profile.spread)
        sampler.innovation_spread.copy_(spread)
        sampler.innovation_tail.copy_(tail)
        fitted[name] = tail
        model = sampler(600, torch.Generator().manual_seed(12))
        # the per-event kurtosis, which neither statistic of the fit is, follows
        ratio = np.median(_kurtosis(model), 0) / np.median(_kurtosis(data), 0)
        assert np.all(np.abs(np.log(ratio)) < np.log(1.25)), (name, ratio)
    assert bool((fitted["student"] > 0.15).all())
    assert bool((fitted["lognormal"] < 0.05).all())
