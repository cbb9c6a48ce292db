"""The digitizer's saturation: detected in training data, never left by generated noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from rnognoise.cli.inspect import inspect_model
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet, write_traces
from rnognoise.modelfile import load_model
from rnognoise.models.saturation import SaturationCounter
from rnognoise.train import FitOptions, fit

T = 512


def _levels(x: np.ndarray, quantum: float = 0.0, chunks: int = 1
            ) -> tuple[np.ndarray, np.ndarray]:
    counter = SaturationCounter(x.shape[1])
    for part in np.array_split(x, chunks):
        counter.update(part)
    return counter.levels(x.std(axis=(0, 2)), quantum)


def test_gaussian_noise_has_no_saturation_continuous_or_quantised():
    x = np.random.default_rng(0).standard_normal((1000, 2, 1024))
    low, high = _levels(x)
    assert np.isinf(low).all() and np.isinf(high).all()
    q = 0.25                                     # 4 steps per RMS, the coarsest accepted
    low, high = _levels(np.round(x / q) * q, q)
    assert np.isinf(low).all() and np.isinf(high).all()


@pytest.mark.parametrize("quantum", [0.0, 0.05])
def test_clipped_channels_give_their_levels(quantum: float):
    x = np.random.default_rng(1).standard_normal((400, 3, 1024))
    if quantum:
        x = np.round(x / quantum) * quantum
    x[:, 1] = np.clip(x[:, 1], -2.5, 2.5)                # both sides
    x[:, 2] = np.minimum(x[:, 2], 3.0)                    # the upper side only
    low, high = _levels(x, quantum, chunks=7)
    assert np.isinf(low[0]) and np.isinf(high[0])
    assert low[1] == -2.5 and high[1] == 2.5
    assert np.isinf(low[2]) and high[2] == 3.0


def test_a_few_samples_at_an_edge_are_not_saturation():
    x = np.random.default_rng(2).standard_normal((100, 1, 1024))
    x[0, 0, :5] = 6.0                                     # five equal outliers
    low, high = _levels(x)
    assert np.isinf(high[0]) and np.isinf(low[0])


def _clipped_set(n: int = 300, level: float = 2.0) -> TraceSet:
    rng = np.random.default_rng(3)
    spec = np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / 3.2e9)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.5e8) ** 2)
    x = np.fft.irfft(spec, n=T, axis=-1)
    x /= x.std()
    x[:, 1] = np.clip(x[:, 1], -level, level)
    return TraceSet((0.01 * x).astype(np.float32), 3.2e9, [0, 1])


def test_a_fitted_model_never_leaves_a_saturated_channels_range(tmp_path):
    data = _clipped_set()
    edge = float(np.abs(data.traces[:, 1]).max())
    path = tmp_path / "m.safetensors"
    result = fit(data, path, FitOptions(model="baseline", quiet=True, device="cpu"))
    sat = result.provenance["saturation_volts"]
    assert sat["high"][0] is None and sat["low"][0] is None
    assert sat["high"][1] == pytest.approx(edge) and sat["low"][1] == pytest.approx(-edge)
    noise = NoiseGenerator.load(path).sample(500, seed=1)
    assert np.abs(noise[:, 1]).max() <= edge * (1 + 1e-6)
    at_edge = np.mean(np.abs(noise[:, 1]) >= edge * (1 - 1e-6))
    assert at_edge > 0.01                                 # the pile-up is reproduced
    assert np.abs(noise[:, 0]).max() > edge               # the other channel is free
    shown = inspect_model(str(path))
    assert shown["saturation_high_mV"][0] is None
    assert shown["saturation_high_mV"][1] == pytest.approx(edge * 1e3, abs=1e-3)

    # a model file from before the saturation levels loads without them
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        old = {k: handle.get_tensor(k) for k in handle.keys() if "saturation" not in k}
    save_file(old, str(tmp_path / "old.safetensors"), metadata=meta)
    model, _ = load_model(tmp_path / "old.safetensors")
    assert not model.saturates
    with torch.no_grad():
        volts = model.to_volts(torch.full((1, 2, 4), 1e3))
    assert float(volts.max()) > 1.0


def test_a_streamed_fit_finds_the_same_levels_as_one_in_memory(tmp_path):
    path = tmp_path / "clipped.h5"
    write_traces(path, _clipped_set(n=700, level=2.5))      # several chunks of the file
    memory = fit(path, None, model="baseline", stream=False, quiet=True, device="cpu")
    streamed = fit(path, None, model="baseline", stream=True, quiet=True, device="cpu")
    assert "streamed" in streamed.provenance
    assert streamed.provenance["saturation_volts"] == memory.provenance["saturation_volts"]
    assert memory.provenance["saturation_volts"]["high"][1] is not None
    torch.testing.assert_close(streamed.model.saturation_high, memory.model.saturation_high)
