"""The fixed pattern: the data's mean trace, kept only where a test finds one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from structured_helpers import generate, initialised_model, shaped_background

from rnognoise.cli.inspect import inspect_model
from rnognoise.modelfile import load_model, save_model
from rnognoise.models.fixed_pattern import FixedPattern


def _fit(data: np.ndarray) -> tuple[FixedPattern, dict]:
    pattern = FixedPattern(data.shape[1], data.shape[2])
    info = pattern.initialize(torch.from_numpy(np.asarray(data, np.float32)))
    return pattern, info


def _odd_minus_even(x: np.ndarray) -> np.ndarray:
    """Per channel, the mean of the odd samples minus that of the even ones."""
    return x[..., 1::2].mean((0, 2)) - x[..., 0::2].mean((0, 2))


def test_an_interleaving_offset_is_found_on_its_channel_only():
    rng = np.random.default_rng(1)
    data = shaped_background(800, rng)
    data[:, 0, 1::2] += 0.05
    pattern, info = _fit(data)
    assert [c["significant"] for c in info["channels"]] == [True, False]
    values = pattern.values.numpy()
    assert _odd_minus_even(values[None])[0] == pytest.approx(0.05, rel=0.05)
    assert not values[1].any()


def test_a_glitch_at_fixed_samples_is_found_by_the_time_test():
    # three samples of white noise 0.5 off in every event: spread over every bin, none
    # of them alone beyond the frequency test's threshold
    rng = np.random.default_rng(2)
    data = rng.standard_normal((400, 1, 512))
    data[:, 0, 300:303] += 0.5
    pattern, info = _fit(data)
    assert info["channels"][0]["significant"]
    assert info["channels"][0]["strongest_ratio"] < 10.0
    kept = pattern.values.numpy()[0]
    assert kept[300:303].mean() - np.median(kept) == pytest.approx(0.5, abs=0.15)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_noise_without_a_pattern_gets_none_despite_offsets_and_bursts(seed):
    # four block offsets as strong as the noise and rare bursts 6 times as loud make the
    # bins far from independent: on seed 1 a sum over the bins, even against its
    # sign-flip distribution fitted by a scaled chi-square law, gave p = 1e-5
    rng = np.random.default_rng(10 + seed)
    data = shaped_background(1500, rng, channels=2)
    data += np.repeat(rng.normal(0.0, 1.0, (1500, 2, 4)), 128, axis=-1)
    loud = rng.random(1500) < 0.03
    data[loud] *= 6.0
    pattern, info = _fit(data)
    assert not any(c["significant"] for c in info["channels"]), info
    assert not pattern.is_active and not pattern.values.any()


def test_the_model_draws_the_pattern_and_keeps_it_in_its_file(tmp_path):
    rng = np.random.default_rng(3)
    data = shaped_background(600, rng)
    data[:, :, 1::2] += 0.04
    model = initialised_model(data)
    assert model.generator.pattern.is_active
    drawn = generate(model, 1500)
    assert _odd_minus_even(drawn) == pytest.approx(_odd_minus_even(data), abs=0.01)
    # the parts were fitted to the data without the pattern: the power is the data's
    assert drawn.std() == pytest.approx(data.std(), rel=0.03)
    path = tmp_path / "m.safetensors"
    save_model(path, model, provenance={"components": {
        "kept": [], "dropped": [], "found": model.component_details()}})
    loaded, _ = load_model(path)
    # 0.04 on odd samples: a pattern of RMS 0.02 of the (unit) channel RMS, per channel
    # (0.028 before the threshold: the shrunk noise of every bin added a pattern)
    assert inspect_model(str(path))["fixed_pattern_rms"] == pytest.approx([0.02, 0.02],
                                                                           abs=0.002)
    assert torch.equal(loaded.generator.pattern.values, model.generator.pattern.values)
    assert model.component_details()["pattern"]["channels"][0]["significant"]
    without = initialised_model(data, fixed_pattern=False)
    assert not without.generator.pattern.is_active
    assert np.abs(_odd_minus_even(generate(without, 1500))).max() < 0.01
