"""Every model kind on short traces: fit, shapes, gradients, determinism, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnognoise.errors import ConfigError, ModelFileError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.modelfile import is_model_file, load_model, save_model
from rnognoise.models import get_model_class, model_kinds
from rnognoise.models.spectral import SpectralSampler, estimate_cross_spectrum
from rnognoise.train import FitOptions, fit, prepare_model

KINDS = model_kinds()
T = 256


def _correlated_noise(n: int = 160, seed: int = 0, gain_spread: float = 0.0) -> TraceSet:
    """Band-limited noise in 3 channels; channel 2 shares half its noise with channel 0;
    optionally a log-normal per-event gain common to all channels."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((n, 3, T))
    spec = np.fft.rfft(white, axis=-1)
    f = np.fft.rfftfreq(T, 1 / 3.2e9)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.2e8) ** 2)
    x = np.fft.irfft(spec, n=T, axis=-1)
    x[:, 2] = 0.6 * x[:, 0] + 0.8 * x[:, 2]
    x *= np.exp(gain_spread * rng.standard_normal((n, 1, 1)))
    return TraceSet((0.01 * x / x.std()).astype(np.float32), 3.2e9, [0, 1, 4])


def test_registry_lists_the_three_kinds_and_rejects_others():
    assert {"baseline", "wgan-gp", "vae"} <= set(KINDS)
    with pytest.raises(ConfigError, match="valid: baseline"):
        get_model_class("gan9000")


@pytest.mark.parametrize("kind", KINDS)
def test_fit_sample_gradients_determinism_and_round_trip(kind, tmp_path):
    data = _correlated_noise(gain_spread=0.3)
    path = tmp_path / f"{kind}.safetensors"
    result = fit(data, path, FitOptions(model=kind, steps=3, batch_size=16, quiet=True,
                                        eval_every=2, device="cpu"))
    model = result.model
    gen = torch.Generator().manual_seed(1)
    out = model.generate(5, gen)
    assert out.shape == (5, 3, T)
    assert torch.isfinite(out).all()
    # Determinism and round trip through the file.
    assert is_model_file(path)
    g1 = NoiseGenerator.load(path, device="cpu")
    a = g1.sample(7, seed=3, batch_size=4)
    b = NoiseGenerator.load(path, device="cpu").sample(7, seed=3, batch_size=4)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (7, 3, T)
    assert not np.array_equal(a, g1.sample(7, seed=4, batch_size=4))
    assert g1.channels.tolist() == [0, 1, 4]
    assert g1.sampling_rate == 3.2e9
    assert g1.metadata["provenance"]["n_events"] == 160
    reloaded, meta = load_model(path)
    assert meta["kind"] == kind
    for key, value in model.export_state().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value)
    if model.learned:
        plan = model.training_plan(batch_size=8)
        for module in plan.modules.values():
            module.zero_grad()
            module.train()
        rows = plan.prepare(torch.from_numpy(data.traces[:8] / data.traces.std()))
        plan.step_fn(0, lambda step, k: rows)
        # components switched off (by the held-out selection, or absent from the data:
        # no CW line here leaves the line slots off) take no part in the step
        unused: tuple[str, ...] = ()
        if kind == "wgan-gp":
            from rnognoise.models.structured import COMPONENTS

            unused = tuple(f"{c}." for c in COMPONENTS if c not in model.components())
            if model.generator.lines.active.sum() == 0:
                unused += ("lines.",)
        for name, module in plan.modules.items():
            for pname, p in module.named_parameters():
                if not pname.startswith(unused):
                    assert p.grad is not None, f"{name}.{pname} got no gradient"


def test_baseline_reproduces_spectrum_rms_and_cross_channel_correlation():
    data = _correlated_noise(n=400)
    result = fit(data, None, FitOptions(model="baseline", quiet=True))
    gen = torch.Generator().manual_seed(0)
    sample = result.model.to_volts(result.model.generate(4000, gen)).numpy()
    np.testing.assert_allclose(sample.std(axis=(0, 2)), data.traces.std(axis=(0, 2)), rtol=0.02)
    real_corr = np.corrcoef(data.traces[:, 0].ravel(), data.traces[:, 2].ravel())[0, 1]
    fake_corr = np.corrcoef(sample[:, 0].ravel(), sample[:, 2].ravel())[0, 1]
    assert real_corr == pytest.approx(0.6, abs=0.05)
    assert fake_corr == pytest.approx(real_corr, abs=0.03)
    # Mean power spectrum within 0.3 dB in the band (statistical error of 400 events).
    p_real = (np.abs(np.fft.rfft(data.traces, axis=-1)) ** 2).mean(0)
    p_fake = (np.abs(np.fft.rfft(sample, axis=-1)) ** 2).mean(0)
    band = p_real > 0.1 * p_real.max(-1, keepdims=True)
    smooth = np.convolve(np.ones(5) / 5, np.ones(1))  # 5-bin averages
    ratio = np.log10(np.apply_along_axis(np.convolve, -1, p_fake, smooth, "same")[band]
                     / np.apply_along_axis(np.convolve, -1, p_real, smooth, "same")[band])
    assert np.median(np.abs(10 * ratio)) < 0.3


def test_spectral_sampler_matches_a_known_cross_spectrum():
    spec = torch.zeros(T // 2 + 1, 2, 2, dtype=torch.complex128)
    spec[:, 0, 0], spec[:, 1, 1] = 4.0, 1.0
    spec[:, 0, 1] = spec[:, 1, 0] = 1.0  # coherence 0.5
    sampler = SpectralSampler(2, T)
    sampler.set_spectrum(spec)
    draws = sampler(3000, torch.Generator().manual_seed(0))
    est = estimate_cross_spectrum(draws)
    torch.testing.assert_close(est[1:-1].mean(0).real, spec[0].real, atol=0.05, rtol=0.03)


def _fitted(tmp_path):
    path = tmp_path / "m.safetensors"
    fit(_correlated_noise(), path, FitOptions(model="baseline", quiet=True))
    return path


def test_model_file_bad_inputs_are_clear_errors(tmp_path):
    good = _fitted(tmp_path)
    raw = good.read_bytes()
    cases = {
        "missing.safetensors": None,
        "empty.safetensors": b"",
        "text.safetensors": b"hello, this is not a model at all",
        "truncated.safetensors": raw[: len(raw) // 2],
        "pickle.safetensors": b"\x80\x04\x95" + b"cos\nsystem\n" * 10,
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelFileError) as err:
            NoiseGenerator.load(path, device="cpu")
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    # A safetensors file that is not ours.
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(ModelFileError, match="without rnognoise model metadata"):
        NoiseGenerator.load(foreign, device="cpu")


def test_model_file_with_wrong_tensor_shape_or_nan_is_refused(tmp_path):
    model, _ = load_model(_fitted(tmp_path))
    model.sampler.factor_real.data = torch.zeros(5, 3, 3)
    with pytest.raises(ModelFileError, match="shape"):
        save_model(tmp_path / "bad.safetensors", model)
        load_model(tmp_path / "bad.safetensors")
    model2, _ = load_model(_fitted(tmp_path / ".." / tmp_path.name) if False else
                           tmp_path / "m.safetensors")
    model2.norm_scale.data[0] = float("nan")
    save_model(tmp_path / "nan.safetensors", model2)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(tmp_path / "nan.safetensors")


def test_sampling_bad_arguments(tmp_path):
    gen = NoiseGenerator.load(_fitted(tmp_path), device="cpu")
    for n in (0, -5, 2.5):
        with pytest.raises(ConfigError):
            gen.sample(n)
    with pytest.raises(ConfigError, match="do not end in"):
        gen.add_noise(np.zeros((2, 3, 100)))


def test_add_noise_adds_independent_noise_of_the_model_rms(tmp_path):
    gen = NoiseGenerator.load(_fitted(tmp_path), device="cpu")
    signal = np.zeros((2, 50, 3, T), np.float32)
    signal[..., 10] = 1.0
    noisy = gen.add_noise(signal, seed=1)
    assert noisy.shape == signal.shape
    noise = noisy - signal
    assert noise.std() == pytest.approx(0.01, rel=0.1)
    assert not np.allclose(noise[0, 0], noise[0, 1])  # fresh draws, not copies


def test_physics_generator_sampling_path_equals_the_training_path():
    """Sampling adds lines, gain, block offsets and the residual in place; with the same
    draws it must give what the differentiable path gives."""
    from rnognoise.simulate import SimulationConfig, simulate_noise

    cfg = SimulationConfig(n_samples=256, impulse_fraction=0.2)
    data = simulate_noise(400, config=cfg, seed=2)
    model = fit(data, None, FitOptions(model="wgan-gp", steps=1, batch_size=16, quiet=True,
                                       device="cpu")).model
    gen = model.generator
    assert int((gen.lines.active > 0).sum()) >= 2 and gen.blocks.active
    with torch.no_grad():
        fast = model.generate(300, torch.Generator().manual_seed(5))
    with torch.enable_grad():
        slow = model.generate(300, torch.Generator().manual_seed(5)).detach()
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-4 * float(slow.std()))


def test_model_files_written_before_the_envelope_and_trace_offsets_still_load(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    data = _correlated_noise(gain_spread=0.3)
    path = tmp_path / "new.safetensors"
    fit(data, path, FitOptions(model="wgan-gp", steps=1, batch_size=16, quiet=True,
                               device="cpu"))
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        old = {k: handle.get_tensor(k) for k in handle.keys()
               if not (k == "quantum" or ".envelope." in k or k.endswith("log_sigma_event")
                       or k.endswith(("general_on", "log_amp_quantiles", "amp_table",
                                      "envelope_table", "envelope_count"))
                       or any(f".{g}." in k for g in ("modes", "transients", "marginals")))}
    save_file(old, str(tmp_path / "old.safetensors"), metadata=meta)
    model, _ = load_model(tmp_path / "old.safetensors")
    assert float(model.generator.envelope.active) == 0.0 and float(model.quantum) == 0.0
    assert set(model.inert_components()) >= {"modes", "transients", "marginals"}
    # the log-normal amplitudes of pulses and lines
    assert float(model.generator.impulses.amp_table) == 0.0
    assert float(model.generator.lines.amp_table) == 0.0
    # constant carriers: no recorded envelopes
    assert float(model.generator.lines.envelope_count.sum()) == 0.0
    assert np.isfinite(NoiseGenerator.load(tmp_path / "old.safetensors").sample(3, seed=1)).all()
    save_file({**old, "decoder.weight": torch.zeros(2)}, str(tmp_path / "bad.safetensors"),
              metadata=meta)
    with pytest.raises(ModelFileError, match="older design"):
        load_model(tmp_path / "bad.safetensors")


def _band_levels(x: torch.Tensor, band_bins: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Median-over-events bin powers summed in bands of ``band_bins`` bins (DC left out)
    ``(C, B)``, and each channel's mean power without DC ``(C,)``."""
    power = torch.fft.rfft(x.double(), dim=-1).abs().square()[..., 1:]
    n_bands = power.shape[-1] // band_bins
    typical = power.median(dim=0).values[..., :n_bands * band_bins]
    return (typical.reshape(x.shape[1], n_bands, band_bins).sum(-1).numpy(),
            power.mean(0).sum(-1).numpy())


def test_power_calibration_matches_the_spectrum_in_bands_and_the_total_power():
    data = _correlated_noise(n=300)
    x = torch.from_numpy((data.traces / data.traces.std(axis=(0, 2), keepdims=True))
                         .astype(np.float32))
    model = prepare_model(data, "wgan-gp", {"select_components": False})
    with torch.no_grad():
        model.initialize(x)
    # the data the model is calibrated on: louder or quieter per channel, with a tilt of
    # 6 dB across the band and a DC offset that the calibration must leave alone
    wanted = torch.tensor([1.0, 1.3, 0.8])
    tilt = torch.linspace(0.0, 1.0, T // 2 + 1).mul(math.log(2.0)).exp()
    target = torch.fft.irfft(torch.fft.rfft(x, dim=-1) * tilt, n=T, dim=-1)
    target = target * wanted[:, None] + 0.3
    dc_before = model.spectral_correction()[:, 0].clone()
    factor = model.calibrate_power(target, n_events=1000, seed=1)
    data_rms = (target - target.mean(-1, keepdim=True)).pow(2).mean((0, 2)).sqrt()
    assert np.all(np.abs(factor / data_rms.numpy() - 1) < 0.1)  # the model was at RMS 1
    torch.testing.assert_close(model.spectral_correction()[:, 0], dc_before)
    with torch.no_grad():
        fake = model.generate(2000, torch.Generator().manual_seed(2))
    (want_bands, want_total), (got_bands, got_total) = _band_levels(target), _band_levels(fake)
    np.testing.assert_allclose(got_total, want_total, rtol=0.03)
    strong = want_bands > 0.05 * want_bands.max(-1, keepdims=True)  # the passband
    ratio = got_bands[strong] / want_bands[strong]
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    # before the calibration the tilt was missing: the top of the band was 2x too weak
    with torch.no_grad():
        model.initialize(x)
        before = _band_levels(model.generate(2000, torch.Generator().manual_seed(2)))[0]
    assert np.abs(before[strong] / want_bands[strong] - 1).max() > 0.5


def test_power_calibration_without_a_spectral_correction_matches_the_mean_square():
    data = _correlated_noise(n=300)
    x = torch.from_numpy((data.traces / data.traces.std(axis=(0, 2), keepdims=True))
                         .astype(np.float32))
    model = prepare_model(data, "wgan-gp", {"generator": "conv"})
    assert model.spectral_correction() is None
    with torch.no_grad():
        model.initialize(x)
    wanted = torch.tensor([1.0, 1.3, 0.8])
    louder = x * wanted[:, None]
    with torch.no_grad():
        model_ms = model.generate(256, torch.Generator().manual_seed(1)).double().pow(2).mean((0, 2))
    expected = (louder.double().pow(2).mean((0, 2)) / model_ms).sqrt().clamp(0.5, 2.0)
    before = model.norm_scale.clone()
    factor = model.calibrate_power(louder, n_events=256, seed=1)
    np.testing.assert_allclose(factor, expected.numpy(), rtol=1e-5)
    torch.testing.assert_close(model.norm_scale, before * torch.from_numpy(factor))


def _calibrated_on_rounded(data: TraceSet, step: float, carrier: np.ndarray | None = None,
                           ) -> tuple[object, torch.Tensor]:
    """A wgan-gp model (normalisation 1, digitizer step ``step``) initialised and
    power-calibrated on ``data`` normalised, plus ``carrier`` in its first events, rounded
    to the step; and those rounded traces."""
    x = data.traces / data.traces.std(axis=(0, 2), keepdims=True)
    if carrier is not None:
        x[:len(carrier)] += carrier
    target = torch.round(torch.from_numpy(x.astype(np.float32)) / step) * step
    model = prepare_model(data, "wgan-gp", {"select_components": False})
    model.set_normalization(np.zeros(3), np.ones(3))
    model.set_quantum(step)
    with torch.no_grad():
        model.initialize(target)
    model.calibrate_power(target, n_events=1000, seed=1)
    return model, target


def test_power_calibration_counts_the_digitizer_rounding_once():
    # quantised data: outside the passband all the power is the rounding's own white
    # noise (step^2 / 12 per sample). Matched before the rounding, the model had that
    # floor, then its samples were rounded again: twice the data's power there
    step = 0.25
    model, target = _calibrated_on_rounded(_correlated_noise(n=300), step)
    with torch.no_grad():  # volts are normalised units here (offset 0, scale 1)
        fake = model.to_volts(model.generate(2000, torch.Generator().manual_seed(2)))
    torch.testing.assert_close(fake, torch.round(fake / step) * step)  # rounded
    want, got = _band_levels(target)[0], _band_levels(fake)[0]
    floor = want < 0.01 * want.max(-1, keepdims=True)  # the rounding noise alone
    assert floor.sum() >= 6
    ratio = got[floor] / want[floor]
    assert np.all(np.abs(ratio - 1) < 0.2) and abs(ratio.mean() - 1) < 0.12, ratio


def test_power_calibration_with_the_rounding_and_a_carrier_in_a_third_of_the_events():
    # a carrier's leakage fills the stopband in a third of the events: a bin's median is
    # then no sum of its parts' medians, and matching the data's median less the
    # rounding noise's gave the events without the carrier 1.5 times the data's floor
    t = np.arange(T)
    phase = np.random.default_rng(4).uniform(0, 2 * np.pi, (200, 1, 1))
    model, target = _calibrated_on_rounded(_correlated_noise(n=600, seed=3), 0.25,
                                           3.0 * np.cos(2 * np.pi * 30.4 * t / T + phase))
    assert int((model.generator.lines.active > 0).sum()) == 1
    with torch.no_grad():
        fake = model.to_volts(model.generate(3000, torch.Generator().manual_seed(2)))

    def quiet_floor(traces: torch.Tensor) -> float:
        power = torch.fft.rfft(traces.double(), dim=-1).abs().square()
        carrier = power[..., 29:33].sum(-1).mean(-1)
        quiet = carrier < 5 * float(carrier.median())
        return float(power[quiet][..., 100:].mean())   # the stopband

    assert quiet_floor(fake) == pytest.approx(quiet_floor(target), rel=0.1)
