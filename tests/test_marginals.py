"""Spectral marginals: known-answer tests on synthetic CW carriers, switching off on
Gaussian data, and the common interface of the general parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from rnognoise.models.marginals import SpectralMarginals

C, T, FS = 2, 512, 3.2e9
F = T // 2 + 1
#: (channel, frequency in bins, magnitude in units of the background's rms in that bin,
#: fraction of events in which the carrier is present)
LINES = [(0, 40.0, 3.0, 1.0), (1, 90.4, 4.0, 1.0), (0, 150.0, 4.0, 0.3), (1, 150.0, 3.0, 0.3)]


def _background_psd() -> np.ndarray:
    """Expected |X_f|^2 of the coloured background (band-pass shape, unit rms)."""
    f = np.arange(F) / F
    shape = np.exp(-0.5 * ((f - 0.4) / 0.25) ** 2) + 0.05
    return np.stack([shape, shape[::-1] * 0.5 + 0.3])[:C] * T / np.mean(shape)


def _gaussian(psd: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian traces (n, C, T) whose expected |X_f|^2 is ``psd`` (C, F)."""
    spec = (rng.standard_normal((n, C, F)) + 1j * rng.standard_normal((n, C, F)))
    spec *= np.sqrt(psd / 2)
    spec[..., 0] = spec[..., 0].real * np.sqrt(2)
    spec[..., -1] = spec[..., -1].real * np.sqrt(2)
    return np.fft.irfft(spec, n=T, axis=-1)


def _with_lines(n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Coloured Gaussian background plus the carriers of :data:`LINES` (magnitudes
    times ``scale``)."""
    psd = _background_psd()
    x = _gaussian(psd, n, rng)
    t = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))                 # shared by the channels
    present = {}
    for c, f, r, frac in LINES:
        on = present.setdefault(f, rng.random((n, 1)) < frac)
        amp = 2 * scale * r * np.sqrt(psd[c, round(f)]) / T            # |X_f| = r * rms at centre
        x[:, c] += on * amp * np.cos(2 * np.pi * f * t / T + phase)
    return x


def _psd(x: np.ndarray) -> np.ndarray:
    return (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(0)


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32))


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    data = _with_lines(2000, rng)
    psd = _psd(_with_lines(8000, rng))                        # data's PSD, lines included
    model = _gaussian(psd, 4000, rng)
    part = SpectralMarginals(C, T, FS)
    info = part.fit(_tensor(data), _tensor(model))
    fresh = _tensor(_gaussian(psd, 3000, rng))
    return part, info, data, fresh, model


def test_finds_the_carrier_bins(fitted):
    part, info, *_ = fitted
    assert part.is_active and info["n_bins"] == int(part.n_bins) > 0
    k = int(part.n_bins)
    found = set(zip(part.channel[:k].tolist(), part.bins[:k].tolist(), strict=True))
    for c, f, _, _ in LINES:
        assert (c, int(f)) in found                           # the bin holding the line
    assert (1, 91) in found                                   # leakage of the off-centre line
    for c, f in found:                                        # nothing away from the lines
        assert any(c == lc and abs(f - lf) <= 2.5 for lc, lf, _, _ in LINES), (c, f)
    assert info["strongest_hz"] in {round(f) * FS / T for _, f, _, _ in LINES}


def test_maps_magnitudes_onto_the_data(fitted):
    part, _, data, fresh, _ = fitted
    gen = torch.Generator().manual_seed(0)
    out = part.apply(fresh.clone(), gen).numpy().astype(np.float64)
    mag_d = np.abs(np.fft.rfft(data, axis=-1))
    mag_o = np.abs(np.fft.rfft(out, axis=-1))
    mag_f = np.abs(np.fft.rfft(fresh.numpy().astype(np.float64), axis=-1))
    for c, f in [(0, 40), (1, 90), (1, 91), (0, 150), (1, 150)]:
        d, o, before = mag_d[:, c, f], mag_o[:, c, f], mag_f[:, c, f]
        assert ks_2samp(before, d).pvalue < 1e-6              # Rayleigh before: differs
        assert ks_2samp(o, d).pvalue > 0.01, (c, f)
        cv_d = (d**2).std() / (d**2).mean()
        cv_o = (o**2).std() / (o**2).mean()
        assert abs(cv_o / cv_d - 1) < 0.15, (c, f, cv_o, cv_d)
    k = int(part.n_bins)
    mapped = np.zeros((C, F), bool)
    mapped[part.channel[:k].numpy(), part.bins[:k].numpy()] = True
    ratio = (mag_o**2).mean(0)[~mapped] / (mag_f**2).mean(0)[~mapped]
    assert np.abs(ratio - 1).max() < 0.02


@pytest.mark.parametrize("n", [50, 3000])
def test_inactive_on_gaussian_data(n):
    rng = np.random.default_rng(n)
    psd = _background_psd()
    data = _tensor(_gaussian(psd, n, rng))
    model = _tensor(_gaussian(psd, max(1000, min(4000, 2 * n)), rng))
    part = SpectralMarginals(C, T, FS)
    info = part.fit(data, model)
    assert not part.is_active and info["n_bins"] == 0 and info["n_significant"] == 0
    assert float(part.active) == 0 and int(part.n_bins) == 0
    x = model[:10]
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    assert part.apply(x, gen) is x                            # identity, nothing drawn
    assert torch.equal(gen.get_state(), state)


def test_small_sample_finds_strong_lines_only():
    rng = np.random.default_rng(7)
    data = _with_lines(50, rng, scale=3.0)
    psd = _psd(_with_lines(4000, rng, scale=3.0))
    part = SpectralMarginals(C, T, FS)
    part.fit(_tensor(data), _tensor(_gaussian(psd, 1000, rng)))
    k = int(part.n_bins)
    found = set(zip(part.channel[:k].tolist(), part.bins[:k].tolist(), strict=True))
    assert {(0, 40), (1, 90)} <= found                        # the constant carriers
    for c, f in found:
        assert any(c == lc and abs(f - lf) <= 2.5 for lc, lf, _, _ in LINES), (c, f)


def test_keeps_the_strongest_bins_when_capped(fitted):
    _, info, data, _, model = fitted
    part = SpectralMarginals(C, T, FS, max_bins=2)
    capped = part.fit(_tensor(data), _tensor(model))
    assert capped["n_bins"] == int(part.n_bins) == 2
    assert capped["n_significant"] == info["n_significant"] > 2
    assert set(part.bins.tolist()) <= {40, 90, 150}           # no weak leakage bin kept


def test_sparse_and_fft_paths_agree_and_state_round_trips(fitted):
    part, _, _, fresh, _ = fitted
    gen = torch.Generator().manual_seed(0)
    x = fresh[:200]
    sparse = part.apply(x.clone(), gen)
    assert part.use_sparse()
    other = SpectralMarginals(C, T, FS)
    other.load_state_dict(part.state_dict())
    assert {k: v.shape for k, v in other.state_dict().items()} == \
        {k: v.shape for k, v in SpectralMarginals(C, T, FS).state_dict().items()}
    other.sparse_factor = 0.0                                 # force the rfft/irfft path
    assert not other.use_sparse()
    dense = other.apply(x.clone(), gen)
    assert torch.allclose(sparse, dense, atol=1e-4)
    assert torch.equal(part.apply(x.clone(), gen), sparse)    # reproducible


def test_paths_agree_at_dc_and_nyquist():
    part = SpectralMarginals(C, T, FS)
    k = 3
    part.bins[:k] = torch.tensor([0, T // 2, 5])
    part.channel[:k] = torch.tensor([0, 0, 1])
    part.model_knots[:k] = torch.linspace(0.0, 60.0, part.n_knots)
    part.data_knots[:k] = torch.linspace(0.0, 90.0, part.n_knots)    # |X| -> 1.5 |X|
    part.n_bins.fill_(k)
    part.active.fill_(1.0)
    x = torch.randn(30, C, T, generator=torch.Generator().manual_seed(0))
    sparse = part.apply(x.clone(), None)
    part.sparse_factor = 0.0
    dense = part.apply(x.clone(), None)
    assert torch.allclose(sparse, dense, atol=1e-4)
    spec, before = torch.fft.rfft(dense), torch.fft.rfft(x)
    assert torch.allclose(spec[:, 0, [0, T // 2]], 1.5 * before[:, 0, [0, T // 2]], atol=1e-3)
    assert torch.allclose(spec[:, 1, 5], 1.5 * before[:, 1, 5], atol=1e-3)
    assert torch.allclose(spec[:, 1, 6:], before[:, 1, 6:], atol=1e-3)   # others untouched


@pytest.mark.parametrize("factor", [2.0, 0.0])
def test_autograd(fitted, factor):
    part, _, _, fresh, _ = fitted
    part.sparse_factor = factor
    try:
        x = fresh[:20].clone().requires_grad_(True)
        before = x.detach().clone()
        y = part.apply(x, torch.Generator().manual_seed(0))
        assert y is not x and y.requires_grad
        assert torch.equal(x.detach(), before)                # x not modified
        y.pow(2).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert not torch.allclose(x.grad, 2 * x.detach())     # the map has a gradient
    finally:
        del part.sparse_factor


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(fitted):
    part, _, _, fresh, _ = fitted
    x = fresh[:100]
    cpu = part.apply(x.clone(), torch.Generator().manual_seed(0))
    dev = part.to("cuda").apply(x.cuda(), torch.Generator(device="cuda").manual_seed(0))
    part.to("cpu")
    assert torch.allclose(dev.cpu(), cpu, atol=1e-3)
