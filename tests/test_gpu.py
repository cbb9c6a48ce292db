"""Sampling on a CUDA GPU (skipped without one; ``bench/gpu.sh`` runs these with -m gpu)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.core.device import to_host
from rnognoise.generator import CUDA_BLOCK_EVENTS, NoiseGenerator
from rnognoise.models import TraceLayout, get_model_class

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
    full = cuda_gen.sample(CUDA_BLOCK_EVENTS + 100, seed=3, stream=2)
    np.testing.assert_array_equal(full, cuda_gen.sample(CUDA_BLOCK_EVENTS + 100, seed=3,
                                                        stream=2))
    np.testing.assert_array_equal(cuda_gen.sample(200, seed=3, stream=2,
                                                  start=CUDA_BLOCK_EVENTS - 100),
                                  full[CUDA_BLOCK_EVENTS - 100:])
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
