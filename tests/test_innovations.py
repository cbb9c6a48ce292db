"""Heavy-tailed innovations: a linear chain driven by impulsive noise."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.models.digitizer import SampleProfile
from rnognoise.models.innovations import fit_innovation_spread, windowed_kurtosis
from rnognoise.models.spectral import SpectralSampler, estimate_cross_spectrum

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
    spread = fit_innovation_spread(heavy, sampler, profile.spread)
    assert bool((spread > 0.2).all())
    sampler.innovation_spread.copy_(spread)
    model = sampler(600, torch.Generator().manual_seed(4))
    np.testing.assert_allclose(windowed_kurtosis(model).numpy(),
                               windowed_kurtosis(heavy).numpy(), rtol=0.04)
    # Gaussian noise through the same chain: nothing to fit
    gauss = torch.from_numpy(_chain(rng.standard_normal((600, 2, T)))).float()
    sampler, profile = _fitted(gauss)
    assert float(profile.spread.max()) == 0.0
    assert float(fit_innovation_spread(gauss, sampler, profile.spread).max()) == 0.0


def test_the_peak_of_an_event_is_closer_to_impulsive_data_with_innovations():
    rng = np.random.default_rng(5)
    heavy = torch.from_numpy(_chain(rng.standard_t(4, (600, 1, T)))).float()
    sampler, profile = _fitted(heavy)
    peak = lambda y: float(y.abs().amax(-1).median())  # noqa: E731
    gaussian = peak(sampler(600, torch.Generator().manual_seed(6)))
    sampler.innovation_spread.copy_(fit_innovation_spread(heavy, sampler, profile.spread))
    innov = peak(sampler(600, torch.Generator().manual_seed(6)))
    data = peak(heavy)
    assert abs(innov - data) < 0.5 * abs(gaussian - data)
