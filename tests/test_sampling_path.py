"""The fast sampling path: mixing into the spectrum buffer, slices, in-place finishing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnognoise.io import TraceSet
from rnognoise.models.physics import BlockOffsets
from rnognoise.models.spectral import SpectralSampler, estimate_cross_spectrum
from rnognoise.train import prepare_model

T = 256
F = T // 2 + 1


def _cross_spectrum(zero_bins: slice) -> torch.Tensor:
    """Two channels, powers 4 and 1, coherence 0.5 with a phase turning 3 times over
    the band; no power in ``zero_bins``."""
    spec = torch.zeros(F, 2, 2, dtype=torch.complex128)
    phase = torch.exp(1j * 2 * math.pi * 3 * torch.arange(F, dtype=torch.float64) / F)
    spec[:, 0, 0], spec[:, 1, 1] = 4.0, 1.0
    spec[:, 0, 1], spec[:, 1, 0] = phase, phase.conj()
    spec[zero_bins] = 0
    return spec


@pytest.mark.parametrize("zero_bins", [slice(100, None), slice(40, 60)],
                         ids=["contiguous band", "notch"])
def test_sampled_spectra_have_the_cross_spectrum_and_its_phase(zero_bins):
    truth = _cross_spectrum(zero_bins)
    sampler = SpectralSampler(2, T)
    sampler.set_spectrum(truth)
    bins = sampler.active_bins()
    contiguous = bool((bins[1:] - bins[:-1] == 1).all())
    assert contiguous == (zero_bins.stop is None)
    with torch.no_grad():
        spec = sampler.spectra(4000, torch.Generator().manual_seed(1))
    assert torch.all(spec[..., zero_bins] == 0)
    est = estimate_cross_spectrum(torch.fft.irfft(spec, n=T))
    inner = torch.ones(F, dtype=torch.bool)
    inner[zero_bins] = False
    inner[[0, -1]] = False
    # powers, and the cross term turned back by the known phase: real 1 (not its conjugate)
    torch.testing.assert_close(est[inner, 0, 0].real.mean(), torch.tensor(4.0, dtype=torch.float64),
                               rtol=0.02, atol=0)
    torch.testing.assert_close(est[inner, 1, 1].real.mean(), torch.tensor(1.0, dtype=torch.float64),
                               rtol=0.02, atol=0)
    turned = (est[inner, 0, 1] / truth[inner, 0, 1]).mean()
    assert abs(turned - 1.0) < 0.03
    # the real DC bin carries its full power in the real part
    assert float(est[0, 0, 0].real) == pytest.approx(4.0, rel=0.1)


def test_slices_scale_and_event_gains_give_the_product_of_the_factors():
    sampler = SpectralSampler(2, T)
    sampler.set_spectrum(_cross_spectrum(slice(100, None)))
    z = sampler.normals(64, torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(3)
    scale = 0.5 + torch.rand(2, F, generator=gen)
    weights = 0.5 + torch.rand(64, 2, 4, generator=gen)
    curves = torch.rand(4, F, generator=gen)
    with torch.no_grad():
        plain = sampler.mix(z)
        whole = sampler.mix(z, scale, weights, curves)
        sampler.slice_bytes = 1  # one bin at a time
        sliced = sampler.mix(z, scale, weights, curves)
    torch.testing.assert_close(sliced, whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(whole, plain * scale * (weights @ curves), rtol=1e-5, atol=1e-6)


def test_block_offsets_are_added_after_the_factor():
    traces = torch.ones(2, 1, 8)
    offsets = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])
    BlockOffsets.apply_(traces, offsets, torch.tensor([2.0, 3.0])[:, None, None])
    assert traces.tolist() == [[[3.0] * 4 + [4.0] * 4], [[6.0] * 4 + [7.0] * 4]]
    traces = torch.ones(2, 1, 8)
    BlockOffsets.apply_(traces, offsets, torch.arange(8.0)[None, None])
    assert traces[1, 0].tolist() == [3.0, 4.0, 5.0, 6.0, 8.0, 9.0, 10.0, 11.0]
    traces = torch.zeros(2, 1, 8)
    BlockOffsets.apply_(traces, offsets)
    assert traces[0, 0].tolist() == [1.0] * 4 + [2.0] * 4


def _bursty(n: int, seed: int) -> np.ndarray:
    """Band-limited noise ``(n, 2, T)`` with a log-normal gain per event and a 4x burst in
    a fifth of the events."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / 3.2e9)
    x = np.fft.irfft(spec * np.exp(-0.5 * ((f - 4e8) / 1.5e8) ** 2), n=T, axis=-1)
    x *= np.exp(0.3 * rng.standard_normal((n, 1, 1))) / x.std()
    hit = rng.random(n) < 0.2
    centre = rng.uniform(40, T - 40, n)
    x[hit] *= (1 + 3 * np.exp(-0.5 * ((np.arange(T) - centre[:, None]) / 16) ** 2))[hit][:, None]
    return x.astype(np.float32)


def test_sampling_in_slices_gives_the_events_of_the_differentiable_path():
    data = _bursty(600, 4)
    model = prepare_model(TraceSet(data, 3.2e9, [0, 1]), "wgan-gp",
                          {"max_lines": 0, "impulses": False, "block": 64})
    with torch.no_grad():
        model.initialize(torch.from_numpy(data))
    gen = model.generator
    assert gen.envelope.has_time_variation and gen.is_on("blocks")
    with torch.no_grad():
        fast = gen.sample(40, torch.Generator().manual_seed(9))
        gen.slice_bytes = 1  # one event at a time
        gen.background.sampler.slice_bytes = 1
        sliced = gen.sample(40, torch.Generator().manual_seed(9))
    slow = gen(40, torch.Generator().manual_seed(9)).detach()
    # the general parts (quantile maps of bin magnitudes, transients) act on the result
    # and can stretch a float32 rounding difference by a few times
    torch.testing.assert_close(sliced, fast, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)
