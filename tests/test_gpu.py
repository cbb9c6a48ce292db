"""Fitting and sampling on a CUDA GPU (skipped without one; ``bench/gpu.sh`` runs these with
-m gpu)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.core.device import to_host
from rnognoise.generator import NoiseGenerator, block_events
from rnognoise.models import TraceLayout, get_model_class
from rnognoise.simulate import SimulationConfig, simulate_noise
from rnognoise.train import fit

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]


@pytest.fixture(scope="module")
def cuda_gen() -> NoiseGenerator:
    rng = np.random.default_rng(0)
    data = torch.as_tensor(rng.standard_normal((200, 4, 512)), dtype=torch.float32)
    cls = get_model_class("wgan-gp")
    model = cls(cls.make_config(), TraceLayout((0, 1, 2, 3), 512, 3.2e9))
    with torch.no_grad():
        model.initialize(data)
    return NoiseGenerator(model, {}, torch.device("cuda"))


def test_cuda_streams_are_reproducible_and_chunk_independent(cuda_gen):
    block = block_events(cuda_gen.device, cuda_gen.n_channels, cuda_gen.n_samples)
    full = cuda_gen.sample(block + 100, seed=3, stream=2)
    np.testing.assert_array_equal(full, cuda_gen.sample(block + 100, seed=3,
                                                        stream=2))
    np.testing.assert_array_equal(cuda_gen.sample(200, seed=3, stream=2,
                                                  start=block - 100),
                                  full[block - 100:])
    assert np.isfinite(full).all() and 0.5 < full.std() < 2.0


def test_cuda_low_precision_stays_close_to_fp32(cuda_gen):
    ref = cuda_gen.sample(512, seed=1)
    for precision in ("bf16", "fp16"):
        low = NoiseGenerator(cuda_gen.model, {}, torch.device("cuda"), precision)
        out = low.sample(512, seed=1)
        assert out.dtype == np.float32
        assert np.sqrt(np.mean((out - ref) ** 2) / np.mean(ref ** 2)) < 0.02


def test_pinned_transfer_returns_the_device_values():
    x = torch.randn(64, 4, 512, device="cuda")
    host = to_host(x)
    assert host.device.type == "cpu" and host.is_pinned()
    torch.testing.assert_close(host, x.cpu())



def fit_and_sample(kind: str, device: str, folder) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Training events, and 256 events drawn on each device from a model fitted on ``device``."""
    data = simulate_noise(240, config=SimulationConfig(n_samples=512), seed=2)
    out = folder / f"{kind}.safetensors"
    result = fit(data, out, model=kind, steps=4, device=device, seed=0, quiet=True,
                 force=True)
    assert result.provenance["device"].startswith(device)
    return data.traces, {dev: NoiseGenerator.load(out, device=dev).sample(256, seed=5)
                         for dev in ("cpu", device)}


@pytest.mark.parametrize("kind", ["wgan-gp", "vae"])
def test_cuda_fit_trains_on_the_gpu_and_its_model_samples_anywhere(kind, tmp_path):
    real, noise = fit_and_sample(kind, "cuda", tmp_path)
    for x in noise.values():
        assert np.isfinite(x).all()
        ratio = x.std(axis=(0, 2)) / real.std(axis=(0, 2))
        assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio
    # one model: the devices' random streams differ, their channel RMS does not
    rms = {dev: x.std(axis=(0, 2)) for dev, x in noise.items()}
    np.testing.assert_allclose(rms["cuda"], rms["cpu"], rtol=0.1)
