"""Time-locked modes: known injected structure recovered, off on stationary data, sampling."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rnognoise.models.modes import TimeLockedModes

FS = 3.2e9


def coloured(n: int, c: int, t: int, seed: int) -> torch.Tensor:
    """Stationary Gaussian noise with a band-limited spectrum, unit RMS."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.rfftfreq(t, 1.0 / FS)
    gain = torch.exp(-0.5 * ((f - 350e6) / 120e6) ** 2) + 0.02
    x = torch.fft.irfft(torch.fft.rfft(torch.randn(n, c, t, generator=g)) * gain, n=t)
    return (x / x.std()).float()


def block_offsets(n: int, c: int, t: int, seed: int, scale: float = 0.3,
                  block: int = 128) -> torch.Tensor:
    """A random N(0, scale^2) constant per block, channel and event."""
    g = torch.Generator().manual_seed(seed)
    o = scale * torch.randn(n, c, t // block, 1, generator=g)
    return o.expand(n, c, t // block, block).reshape(n, c, t)


def block_mean_var(x: torch.Tensor, block: int = 128) -> float:
    n, c, t = x.shape
    return float(x.reshape(n, c, t // block, block).mean(-1).var(0).mean())


def test_block_offsets_are_found_and_reproduced():
    c, t = 2, 1024                                      # 16 blocks, within max_modes
    data = coloured(2000, c, t, 1) + block_offsets(2000, c, t, 2)
    part = TimeLockedModes(c, t, FS)
    info = part.fit(data, coloured(3000, c, t, 3), seed=0)
    assert part.is_active
    assert info["n_modes"] == 16
    fresh = coloured(3000, c, t, 4)
    out = part.apply(fresh.clone(), torch.Generator().manual_seed(0))
    added = out - fresh
    # the offsets' variance 0.3^2 per sample, and little else
    assert float(added.var(0).mean()) == pytest.approx(0.09, rel=0.1)
    # per-block means: data 0.09 + the stationary part's small share, model without: ~0
    assert block_mean_var(fresh) < 0.01
    assert block_mean_var(out) == pytest.approx(block_mean_var(data), rel=0.1)


def test_shared_pattern_with_random_amplitude_is_recovered():
    c, t, n = 3, 512, 1000
    pos = torch.arange(t, dtype=torch.float32)
    pattern = torch.stack([torch.exp(-0.5 * ((pos - 200) / 15) ** 2),
                           -0.5 * torch.exp(-0.5 * ((pos - 200) / 15) ** 2),
                           torch.zeros(t)])                  # channels 0 and 1 together
    amp = 0.8 * torch.randn(n, 1, 1, generator=torch.Generator().manual_seed(7))
    data = coloured(n, c, t, 5) + amp * pattern
    part = TimeLockedModes(c, t, FS)
    info = part.fit(data, coloured(2000, c, t, 6), seed=1)
    assert info["n_modes"] == 1
    mode = (part.sigma[0] * part.basis[0]).reshape(c, t)
    mode = mode * torch.sign((mode * pattern).sum())
    truth = 0.8 * pattern
    assert float((mode - truth).norm() / truth.norm()) < 0.15
    # without the Wiener filter the direction keeps its estimation noise (about 0.38 here)
    raw = TimeLockedModes(c, t, FS, denoise=False)
    raw.fit(data, coloured(2000, c, t, 6), seed=1)
    mode = (raw.sigma[0] * raw.basis[0]).reshape(c, t)
    mode = mode * torch.sign((mode * pattern).sum())
    assert float((mode - truth).norm() / truth.norm()) > 0.25


@pytest.mark.parametrize(("n", "seeds"), [(50, (0, 1, 2, 3, 4)), (3000, (0,))])
def test_stationary_data_leave_it_off(n, seeds):
    c, t = 2, 1024
    for seed in seeds:
        data = coloured(n, c, t, 100 + seed)
        model = coloured(max(1000, 2 * n), c, t, 200 + seed)
        part = TimeLockedModes(c, t, FS)
        info = part.fit(data, model, seed=seed)
        assert not part.is_active, info
        assert info["n_modes"] == 0
        assert info["n_candidates"] > 0                   # it did test something


def _fitted(c: int = 2, t: int = 512) -> TimeLockedModes:
    part = TimeLockedModes(c, t, FS)
    part.fit(coloured(600, c, t, 1) + block_offsets(600, c, t, 2), coloured(1000, c, t, 3))
    assert part.is_active
    return part


def test_apply_is_reproducible_and_differentiable():
    part = _fitted()
    x = coloured(8, 2, 512, 9)
    a = part.apply(x.clone(), torch.Generator().manual_seed(3))
    b = part.apply(x.clone(), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.allclose(a, part.apply(x.clone(), torch.Generator().manual_seed(4)))
    xg = x.clone().requires_grad_(True)
    y = part.apply(xg, torch.Generator().manual_seed(3))
    assert torch.allclose(y, a)
    y.square().sum().backward()
    assert torch.allclose(xg.grad, 2 * a)
    assert torch.equal(xg.detach(), x)                  # input untouched under autograd


def test_inactive_returns_input_without_draws():
    part = TimeLockedModes(2, 512, FS)
    x = coloured(4, 2, 512, 1)
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert torch.equal(part.apply(x, gen), x)
    assert torch.equal(gen.get_state(), state)


def test_buffers_have_fixed_shapes():
    part = _fitted()
    shapes = {k: tuple(v.shape) for k, v in part.state_dict().items()}
    k = part.max_modes
    assert shapes == {"active": (), "n_modes": (), "basis": (k, 1024), "sigma": (k,)}
    fresh = TimeLockedModes(2, 512, FS)
    fresh.load_state_dict(part.state_dict())
    x = coloured(4, 2, 512, 1)
    assert torch.equal(fresh.apply(x.clone(), torch.Generator().manual_seed(1)),
                       part.apply(x.clone(), torch.Generator().manual_seed(1)))


def test_fit_time_at_training_size():
    c, t = 4, 2048
    data = coloured(3000, c, t, 1) + block_offsets(3000, c, t, 2)
    model = coloured(4000, c, t, 3)
    part = TimeLockedModes(c, t, FS)
    start = time.perf_counter()
    info = part.fit(data, model)
    elapsed = time.perf_counter() - start
    print(f"fit n=3000 C=4 T=2048: {elapsed:.2f} s, {info}")
    assert elapsed < 20.0
    assert info["n_modes"] == min(64, part.max_modes)   # one per block and channel



ST24 = (Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
        / "rnog_st24_forced_trigger_noise_100ev.npz")


@pytest.mark.skipif(not ST24.is_file(), reason=f"public real sample not found: {ST24}")
@pytest.mark.parametrize("seed", [0, 1])
def test_recorded_traces_that_do_not_wrap_get_no_variance_at_their_ends(seed):
    # recorded traces are cut from a stream: their last and first samples are not
    # neighbours, a circular background's are; whitened, that break looks like a variance
    # excess, which a mode would turn into raw variance at the first samples (6.8-7.7
    # times the data's there before the raw-domain check)
    x = np.load(ST24)["traces"].astype(np.float64)
    x -= x.mean(-1, keepdims=True)
    data = torch.from_numpy(x / x.std()).float()
    _, c, t = data.shape
    amplitude = torch.fft.rfft(data.double(), dim=-1).abs().square().mean(0).sqrt()
    g = torch.Generator().manual_seed(2)
    white = torch.fft.rfft(torch.randn(400, c, t, generator=g, dtype=torch.float64))
    model = torch.fft.irfft(white * amplitude / np.sqrt(t), n=t).float()
    model /= model.std()
    part = TimeLockedModes(c, t, 2.4e9)
    part.fit(data, model, seed=seed)
    k = int(part.n_modes)
    added = (part.sigma[:k, None] ** 2 * part.basis[:k] ** 2).sum(0)
    assert float(torch.cat([added[:8], added[-8:]]).max()) < 0.5   # the data: 1 per sample
