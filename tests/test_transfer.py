"""The transfer curve (the shape of each trace's amplitude distribution): learned where
the data's events are skewed or heavier-tailed than the model's, inert on Gaussian data,
the same with and without autograd, and files written before it still load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.io import TraceSet
from rnognoise.models.transfer import TransferCurve
from rnognoise.train import prepare_model
from tests.structured_helpers import FS, PLAIN, initialised_model
from tests.structured_helpers import generate as _generate
from tests.structured_helpers import shaped_background as _background

T = 512


def _bent(x: np.ndarray, a: float = 0.08) -> np.ndarray:
    """A signal chain with a quadratic term: skewness about ``6 a``."""
    return (x + a * (x * x - 1.0)).astype(np.float32)


def _skewness(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(-1, keepdims=True)
    return (z ** 3).mean(-1) / (z ** 2).mean(-1) ** 1.5


def _model(data: np.ndarray, **options):
    return initialised_model(data, envelope=False, modes=False, transients=False,
                             marginals=False, **options)


def test_skewed_events_are_learned_and_symmetric_ones_leave_it_inert():
    rng = np.random.default_rng(0)
    data = _bent(_background(600, rng))
    wanted = np.median(_skewness(data), 0)
    assert (wanted > 0.35).all()
    model = _model(data)
    part = model.generator.transfer
    assert part.is_active and "transfer" not in model.inert_components()
    fake = _generate(model, 1000)
    np.testing.assert_allclose(np.median(_skewness(fake), 0), wanted, atol=0.05)
    # the trace power is the envelope's business: the map leaves it where it was
    np.testing.assert_allclose(fake.std(-1).mean(), data.std(-1).mean(), rtol=0.03)
    without = _generate(_model(data, transfer=False), 1000)
    assert (np.abs(np.median(_skewness(without), 0)) < 0.05).all()

    gaussian = _background(600, rng).astype(np.float32)
    plain = _model(gaussian)
    assert not plain.generator.transfer.is_active
    assert "transfer" in plain.inert_components()


def test_skewed_trace_offsets_are_reproduced_with_the_traces_shape():
    """Real traces' offsets need not be Gaussian (station 24: skewness -1.0 while each
    trace's values have +0.1); the pooled sample values then depend on both."""
    rng = np.random.default_rng(6)
    data = _bent(_background(800, rng))
    offsets = 0.4 * (rng.exponential(1.0, (800, 2, 1)) - 1.0)      # skewness 2
    data = (data + offsets).astype(np.float32)
    model = _model(data, block=128)
    assert model.generator.transfer.is_active
    fake = _generate(model, 2000)

    def skewness(values: np.ndarray) -> float:
        v = values - values.mean()
        return float((v ** 3).mean() / (v ** 2).mean() ** 1.5)

    for ch in range(2):
        means, fake_means = data[:, ch].mean(-1), fake[:, ch].mean(-1)
        assert skewness(fake_means) == pytest.approx(skewness(means), abs=0.4)
        assert fake_means.std() == pytest.approx(means.std(), rel=0.1)
        # the pooled values (0.43-0.49 against 0.49: the shape map stops at 2.9 sigma)
        assert skewness(fake[:, ch].ravel()) == pytest.approx(skewness(data[:, ch].ravel()),
                                                              abs=0.1)
    without = _generate(_model(data, block=128, transfer=False), 2000)
    assert abs(skewness(without[:, 0].mean(-1))) < 0.5 < skewness(data[:, 0].mean(-1))


def test_heavier_tails_are_learned_and_pulses_beyond_the_knots_keep_their_size():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(_background(800, rng, channels=1).astype(np.float32))
    model = torch.from_numpy(_background(800, rng, channels=1).astype(np.float32))
    # a symmetric, heavier-tailed chain: excess kurtosis about 0.8
    data = x + 0.04 * x ** 3
    part = TransferCurve(1, T)
    info = part.fit(data, model)
    assert part.is_active and info["kurtosis_shift"] > 0.4 and info["p_value"] < 1e-6

    def kurtosis(y: torch.Tensor) -> float:
        z = y - y.mean(-1, keepdim=True)
        return float((z ** 4).mean(-1).div((z ** 2).mean(-1) ** 2).median()) - 3.0

    with torch.no_grad():
        mapped = part.apply(model.clone(), torch.Generator())
    # (0.62 of 0.78 from -0.10: beyond the outermost knot, 2.9 sigma for 512 samples,
    # the map only shifts)
    assert kurtosis(mapped) == pytest.approx(kurtosis(data), rel=0.25)
    # beyond the outermost knot the map only shifts: a 12-sigma pulse keeps its size
    pulse = torch.zeros(1, 1, T)
    pulse[0, 0, T // 2] = 40.0
    event = model[:1] + pulse
    with torch.no_grad():
        out = part.apply(event.clone(), torch.Generator())
    rms = float((event - event.mean()).square().mean().sqrt())
    jump = float(out[0, 0, T // 2] - out[0, 0, T // 2 - 1]) / rms
    assert jump == pytest.approx(float(event[0, 0, T // 2] - event[0, 0, T // 2 - 1]) / rms,
                                 rel=0.1)


def test_the_map_is_the_same_with_and_without_autograd():
    rng = np.random.default_rng(2)
    data = _bent(_background(400, rng))
    model = _model(data)
    part = model.generator.transfer
    assert part.is_active
    x = torch.from_numpy(_background(40, rng).astype(np.float32))
    with torch.no_grad():
        fast = part.apply(x.clone(), torch.Generator())
    slow = part.apply(x.clone().requires_grad_(True), torch.Generator())
    slow.sum().backward()
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-5, atol=1e-5)


def test_files_written_before_the_transfer_curve_still_load(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from rnognoise.generator import NoiseGenerator
    from rnognoise.modelfile import load_model, save_model

    rng = np.random.default_rng(3)
    data = _bent(_background(300, rng))
    model = _model(data)
    assert model.generator.transfer.is_active
    path = tmp_path / "new.safetensors"
    save_model(path, model)
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        old = {k: handle.get_tensor(k) for k in handle.keys() if ".transfer." not in k}
    key = next(k for k in old if k.endswith("general_on"))
    old[key] = old[key][:3].clone()      # three general parts before this one
    save_file(old, str(tmp_path / "old.safetensors"), metadata=meta)
    loaded, _ = load_model(tmp_path / "old.safetensors")
    assert len(loaded.generator.general_on) == 4
    assert "transfer" in loaded.inert_components()
    sample = NoiseGenerator.load(tmp_path / "old.safetensors").sample(200, seed=1)
    assert np.abs(np.median(_skewness(sample), 0)).max() < 0.05


@pytest.mark.parametrize("n", [50, 3000])
def test_gaussian_data_against_a_gaussian_model_leave_it_inert(n):
    rng = np.random.default_rng(n)
    data = torch.from_numpy(_background(n, rng).astype(np.float32))
    model = torch.from_numpy(_background(max(n, 1000), rng).astype(np.float32))
    part = TransferCurve(2, T)
    info = part.fit(data, model)
    assert not part.is_active and info["p_value"] > 1e-3
    x = model[:10].clone()
    assert part.apply(x, torch.Generator()) is x
    torch.testing.assert_close(x, model[:10])


def test_a_compressing_amplifier_bounds_the_generated_samples_like_the_data():
    """``a tanh(g x / a)`` with a per-event gain ``g``: no recorded sample exceeds ``a``,
    loud events are compressed more. The trace map alone (slope 1 beyond its knots, one
    shape for the typical trace) drew samples to twice the bound; the pooled range map
    keeps them at it."""
    rng = np.random.default_rng(11)
    x = _background(800, rng)
    x = x / x.std()
    gain = np.exp(0.25 * rng.standard_normal((800, 1, 1)))
    level = 2.0
    data = (level * np.tanh(gain * x / level)).astype(np.float32)
    model = _model(data)
    part = model.generator.transfer
    assert part.is_active and bool(part.range_on > 0)
    fake = _generate(model, 1600)
    bound = np.abs(data).max()
    assert np.abs(fake).max() < 1.05 * bound
    # the pooled tails of the data, not only their bound
    for q in (0.999, 0.9999):
        assert np.quantile(np.abs(fake), q) == pytest.approx(np.quantile(np.abs(data), q),
                                                            rel=0.05)
    part.range_on.zero_()
    assert np.abs(_generate(model, 1600)).max() > 1.3 * bound


def test_the_range_map_gives_a_bent_chain_its_light_tail():
    """``x + a (x^2 - 1)`` reaches no lower than about -2.9 RMS here; the trace map
    (slope 1 beyond its outermost knots) drew to -4.2, the range map to the data's."""
    rng = np.random.default_rng(12)
    data = _bent(_background(600, rng))
    model = _model(data)
    part = model.generator.transfer
    assert bool(part.range_on > 0)
    fake = _generate(model, 1200)
    assert fake.min() == pytest.approx(data.min(), rel=0.05)
    assert np.quantile(fake, 1e-4) == pytest.approx(np.quantile(data, 1e-4), rel=0.05)
    part.range_on.zero_()
    assert _generate(model, 1200).min() < 1.3 * data.min()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_range_map_stays_off_between_samples_of_one_distribution(seed):
    rng = np.random.default_rng(seed)
    a, b = (torch.from_numpy(_background(400, rng)) for _ in range(2))
    info = TransferCurve(2, T)._fit_range(a, b)
    assert not info["range"] and info["range_excess"] < 6.0


def _log_rms_spread(x: np.ndarray) -> float:
    """The median over channels of the per-event log RMS's standard deviation."""
    return float(np.median(np.log(x.std(-1)).std(0)))


def _compressed(n: int = 800, seed: int = 13) -> np.ndarray:
    """A tanh amplifier (2 sigma) behind a per-event gain of 0.25 e-folds (log-normal)."""
    rng = np.random.default_rng(seed)
    x = _background(n, rng)
    x = x / x.std()
    gain = np.exp(0.25 * rng.standard_normal((n, 1, 1)))
    return (2.0 * np.tanh(gain * x / 2.0)).astype(np.float32)


def test_the_event_spread_behind_a_compressing_amplifier_is_the_datas(monkeypatch):
    """The envelope is fitted to the compressed data's spread of event power, and the
    range map compresses the model's events again: without the widening the model's
    events scattered a quarter less than the data's (per-event log RMS)."""
    data = _compressed()
    options = {"modes": False, "transients": False, "marginals": False}
    model = initialised_model(data, **options)
    assert bool(model.generator.transfer.range_on > 0)
    assert bool(model.generator.envelope.active > 0)
    assert model.generator.general_info["transfer"]["spread_widened"] > 1.2
    target = _log_rms_spread(data)
    assert _log_rms_spread(_generate(model, 1600)) == pytest.approx(target, rel=0.06)
    monkeypatch.setattr(type(model.generator), "range_spread_rounds", 0)
    plain = initialised_model(data, **options)
    assert "spread_widened" not in plain.generator.general_info["transfer"]
    assert _log_rms_spread(_generate(plain, 1600)) < 0.8 * target


def test_the_vae_envelope_sampler_gets_the_widened_spread_too():
    """The VAE's envelope sampler learns the data's coordinates: behind a compressing
    range map they are widened as the mixture was (without it: 25 % narrower)."""
    data = _compressed()
    options = {**PLAIN, "modes": False, "transients": False, "marginals": False}
    model = prepare_model(TraceSet(data, FS, [0, 1]), "vae", options)
    with torch.no_grad():
        model.initialize(torch.from_numpy(data))
    assert model.generator.event_spread_widening > 1.2
    target = _log_rms_spread(data)
    assert _log_rms_spread(_generate(model, 1600)) == pytest.approx(target, rel=0.06)
    model.generator.event_spread_widening = 1.0
    model._pretrain(torch.from_numpy(data))
    assert _log_rms_spread(_generate(model, 1600)) < 0.85 * target
