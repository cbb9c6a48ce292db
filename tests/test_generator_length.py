"""Noise of other trace lengths and sampling rates: stitching, cropping and resampling."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from rnognoise.errors import ConfigError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.models import model_kinds
from rnognoise.stitching import (
    StitchPlan,
    crossfade,
    plan_resample,
    plan_stitch,
    power_above,
    random_crop,
    resample,
    stitch,
)
from rnognoise.train import FitOptions, fit

T = 512
FS = 3.2e9
N_EVENTS = 2000


def _band_noise(n: int, seed: int, length: int = T) -> TraceSet:
    """Band-limited noise around 400 MHz in 3 channels, channel 4 correlated with channel 0."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((n, 3, length)), axis=-1)
    f = np.fft.rfftfreq(length, 1 / FS)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.2e8) ** 2)
    x = np.fft.irfft(spec, n=length, axis=-1)
    x[:, 2] = 0.6 * x[:, 0] + 0.8 * x[:, 2]
    return TraceSet((0.01 * x / x.std()).astype(np.float32), FS, [0, 1, 4])


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> NoiseGenerator:
    path = tmp_path_factory.mktemp("length") / "baseline.safetensors"
    fit(_band_noise(300, seed=0), path, FitOptions(model="baseline", quiet=True, device="cpu"))
    return NoiseGenerator.load(path, device="cpu")


@pytest.fixture(scope="module")
def short(generator) -> np.ndarray:
    """The model's own traces at its trained length."""
    return generator.sample(N_EVENTS, seed=101).astype(np.float64)


@pytest.fixture(scope="module")
def long(generator) -> np.ndarray:
    """3.5 times the trained length: four seams per trace."""
    return generator.sample(N_EVENTS, seed=102, n_samples=int(3.5 * T)).astype(np.float64)


def _psd(traces: np.ndarray, fs: float = FS, nperseg: int = 128) -> tuple[np.ndarray, np.ndarray]:
    f, p = scipy.signal.welch(traces, fs, nperseg=nperseg, axis=-1)
    return f, p.reshape(-1, *p.shape[-2:]).mean(0)  # (C, F)


def _in_band(psd: np.ndarray) -> np.ndarray:
    total = psd.mean(0)
    return total > 0.1 * total.max()


def _variance_profile(traces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean square per (channel, sample) over events and its standard error."""
    sq = traces**2
    return sq.mean(0), sq.std(0) / np.sqrt(len(traces))


def _seam_excess(traces: np.ndarray, plan: StitchPlan) -> tuple[float, float]:
    """(mean square in the cross-fades) / (mean square elsewhere) - 1, with its error."""
    inside = np.zeros(traces.shape[-1], bool)
    for a, b in plan.seams:
        inside[a:b] = True
    per_event_in = (traces[..., inside] ** 2).mean(-1).mean(-1)
    per_event_out = (traces[..., ~inside] ** 2).mean(-1).mean(-1)
    ratio = per_event_in / per_event_out.mean() - 1
    return float(ratio.mean()), float(ratio.std() / np.sqrt(len(ratio)))


# -- the stitching module on its own --------------------------------------------------------

def test_crossfade_is_power_complementary_and_monotonic():
    fade_out, fade_in = crossfade(100)
    np.testing.assert_allclose(fade_out**2 + fade_in**2, 1.0, atol=1e-12)
    assert np.all(np.diff(fade_in) > 0) and np.all(np.diff(fade_out) < 0)
    np.testing.assert_allclose(fade_in, fade_out[::-1], atol=1e-12)
    with pytest.raises(ConfigError):
        crossfade(0)


def test_plan_places_seams_and_aligns_the_hop_to_lab4d_blocks():
    plan = plan_stitch(7000, 2048)
    assert (plan.overlap, plan.hop, plan.n_segments) == (256, 1792, 4)
    assert plan.seams == [(1792, 2048), (3584, 3840), (5376, 5632)]
    # every output sample is covered with total power weight 1
    cover = np.zeros(plan.n_segments * plan.hop + plan.overlap)
    for k in range(plan.n_segments):
        cover[k * plan.hop:k * plan.hop + 2048] += plan.weights(k) ** 2
    np.testing.assert_allclose(cover[:7000], 1.0, atol=1e-12)
    assert plan_stitch(1000, 2048).n_segments == 1
    assert plan_stitch(2048, 2048).seams == []
    assert plan_stitch(600, 256).overlap == 32  # too short to align: T // 8
    with pytest.raises(ConfigError, match="overlap"):
        plan_stitch(5000, 2048, overlap=1500)


def test_stitch_rejects_the_wrong_number_of_draws():
    plan = plan_stitch(900, 512)
    draws = [np.zeros((2, 512))] * plan.n_segments
    assert stitch(iter(draws), plan).shape == (2, 900)
    with pytest.raises(ConfigError, match="planned"):
        stitch(iter(draws[:-1]), plan)
    with pytest.raises(ConfigError, match="more than"):
        stitch(iter([*draws, draws[0]]), plan)


def test_random_crop_takes_contiguous_windows_shared_by_the_channels():
    import torch

    traces = torch.arange(64.0).repeat(500, 2, 1)
    out = random_crop(traces, 10, torch.Generator().manual_seed(0))
    assert out.shape == (500, 2, 10)
    assert torch.equal(out[:, 0], out[:, 1])
    assert torch.all(out.diff(dim=-1) == 1)
    starts = out[:, 0, 0].numpy()
    assert starts.min() == 0 and starts.max() == 54  # every offset 0..T-L is reachable


def test_a_cw_line_keeps_its_power_but_loses_phase_coherence_across_seams():
    """A line with a random phase per draw becomes incoherent pieces (as documented)."""
    rng = np.random.default_rng(5)
    n, f0 = 400, 403e6
    t = np.arange(T) / FS
    plan = plan_stitch(4 * T, T)
    draws = (np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi, (n, 1)))
             for _ in range(plan.n_segments))
    long_line = stitch(draws, plan)
    assert (long_line**2).mean() == pytest.approx(0.5, rel=0.03)  # power kept
    coherent = np.sin(2 * np.pi * f0 * np.arange(4 * T) / FS + rng.uniform(0, 2 * np.pi, (n, 1)))
    window = np.hanning(4 * T)
    spec_st = (np.abs(np.fft.rfft(long_line * window, axis=-1)) ** 2).mean(0)
    spec_co = (np.abs(np.fft.rfft(coherent * window, axis=-1)) ** 2).mean(0)
    freqs = np.fft.rfftfreq(4 * T, 1 / FS)

    def width(spec):
        peak = int(np.argmax(spec))
        near = slice(peak - 30, peak + 31)
        mean = np.average(freqs[near], weights=spec[near])
        return np.sqrt(np.average((freqs[near] - mean) ** 2, weights=spec[near]))

    # the stitched line spreads over ~1/(T dt) instead of one Hann main lobe
    assert width(spec_st) > 3 * width(spec_co)
    assert width(spec_st) < FS / T
    # and the phases of the first and last pieces are unrelated
    first = long_line[:, :plan.hop] @ np.exp(-2j * np.pi * f0 * t[:plan.hop])
    last_start = (plan.n_segments - 1) * plan.hop
    last = long_line[:, last_start:last_start + plan.hop] @ np.exp(-2j * np.pi * f0 * (
        np.arange(last_start, last_start + plan.hop) / FS))
    assert abs(np.mean(np.exp(1j * (np.angle(first) - np.angle(last))))) < 0.2


def test_resample_reproduces_a_sine_at_the_new_rate():
    f0, rate_out, n_out = 310e6, 2.4e9, 1000
    plan = plan_resample(n_out, FS, rate_out)
    assert (plan.up, plan.down) == (3, 4)
    t0 = 7.3e-9  # a phase that fits no integer number of periods: the FFT wrap is not smooth
    x = np.sin(2 * np.pi * f0 * (t0 + np.arange(plan.n_in) / FS))
    y = resample(x, plan)
    expected = np.sin(2 * np.pi * f0 * (t0 + (plan.start + np.arange(n_out)) / rate_out))
    assert y.shape == (n_out,)
    assert np.abs(y - expected).max() < 2e-3
    assert plan_resample(100, 3.2e9, 5e9).up == 25


def test_power_above_measures_what_a_lower_rate_removes():
    t = np.arange(4096) / FS
    x = np.sin(2 * np.pi * 300e6 * t) + 0.5 * np.sin(2 * np.pi * 1.4e9 * t)
    assert power_above(x, FS, 1.2e9) == pytest.approx(0.2, abs=0.01)
    assert power_above(x, FS, 1.5e9) < 1e-3


# -- NoiseGenerator at other lengths ---------------------------------------------------------

def test_trained_length_is_unchanged_and_other_lengths_are_seeded(generator):
    base = generator.sample(5, seed=3, batch_size=4)
    np.testing.assert_array_equal(base, generator.sample(5, seed=3, batch_size=4, n_samples=T))
    np.testing.assert_array_equal(base, generator.sample(5, seed=3, batch_size=4,
                                                         sampling_rate=FS))
    for length in (100, 1300):
        a = generator.sample(6, seed=4, n_samples=length, batch_size=4)
        assert a.shape == (6, 3, length) and a.dtype == np.float32
        np.testing.assert_array_equal(a, generator.sample(6, seed=4, n_samples=length,
                                                          batch_size=4))
        assert not np.array_equal(a, generator.sample(6, seed=5, n_samples=length,
                                                      batch_size=4))
        batches = list(generator.iter_samples(6, seed=4, n_samples=length, batch_size=4))
        np.testing.assert_array_equal(np.concatenate(batches), a)
    ts = generator.sample_traceset(2, seed=1, n_samples=700, sampling_rate=2.4e9)
    assert (ts.n_samples, ts.sampling_rate) == (700, 2.4e9)
    assert ts.attrs["model_n_samples"] == T and ts.attrs["model_sampling_rate_hz"] == FS


def test_bad_lengths_and_rates_are_rejected(generator):
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="n_samples"):
            generator.sample(2, n_samples=bad)
    for bad in (0.0, -1e9, float("nan")):
        with pytest.raises(ConfigError, match="sampling rate"):
            generator.sample(2, sampling_rate=bad)


def test_long_traces_have_the_spectrum_and_rms_of_the_models_own(short, long):
    _, p_short = _psd(short)
    _, p_long = _psd(long)
    band = _in_band(p_short)
    assert band.sum() >= 8
    ratio_db = 10 * np.log10(p_long[:, band] / p_short[:, band])
    assert np.abs(ratio_db).max() < 0.3
    rms_short, rms_long = short.std(axis=(0, 2)), long.std(axis=(0, 2))
    np.testing.assert_allclose(rms_long, rms_short, rtol=0.02)
    # amplitude distribution: quantiles in units of the RMS agree
    q = [0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999]
    qs = np.quantile(short / rms_short[:, None], q, axis=(0, 2))
    ql = np.quantile(long / rms_short[:, None], q, axis=(0, 2))
    np.testing.assert_allclose(ql, qs, atol=0.06)
    # cross-channel correlation (channel 4 shares noise with channel 0) survives
    c_short = np.corrcoef(short[:, 0].ravel(), short[:, 2].ravel())[0, 1]
    c_long = np.corrcoef(long[:, 0].ravel(), long[:, 2].ravel())[0, 1]
    assert c_short > 0.3 and c_long == pytest.approx(c_short, abs=0.02)


def test_no_seams_variance_is_flat_at_the_stitch_points(short, long):
    plan = plan_stitch(long.shape[-1], T)
    assert len(plan.seams) == 4
    mean_sq, err = _variance_profile(long)
    level = (short**2).mean(axis=(0, 2))[:, None]
    z = (mean_sq - level) / err
    assert np.abs(z).max() < 5.0  # no sample position stands out (5376 positions)
    for a, b in plan.seams:  # per cross-fade region, errors from the event-to-event spread
        per_event = (long[..., a:b] ** 2).mean(-1)
        z_seam = (per_event.mean(0) - level[:, 0]) / (per_event.std(0) / np.sqrt(len(long)))
        assert np.abs(z_seam).max() < 4.0
    excess, excess_err = _seam_excess(long, plan)
    assert abs(excess) < 4 * excess_err and excess_err < 0.01


def test_the_seam_check_catches_a_linear_crossfade(short):
    """Negative control: an amplitude-linear fade (w1 + w2 = 1) leaves a variance dip."""

    class LinearPlan(StitchPlan):
        def weights(self, k: int) -> np.ndarray:
            w = super().weights(k)
            ramp = (np.arange(self.overlap) + 0.5) / self.overlap
            if k > 0:
                w[:self.overlap] = ramp
            if k < self.n_segments - 1:
                w[-self.overlap:] = ramp[::-1]
            return w

    base = plan_stitch(2 * T - 128, T)
    plan = LinearPlan(base.n_samples, base.segment_length, base.overlap)
    draws = iter([short[:1000], short[1000:2000]])
    bad = stitch(draws, plan)
    excess, excess_err = _seam_excess(bad, plan)
    assert excess < -0.2 and abs(excess) > 10 * excess_err


def test_windows_straddling_seams_have_the_spectrum_of_windows_away_from_them(long):
    plan = plan_stitch(long.shape[-1], T)
    width = 128
    at_seam = [(a + b) // 2 for a, b in plan.seams]
    away = [(k * plan.hop + plan.overlap + (k + 1) * plan.hop) // 2
            for k in range(plan.n_segments - 1)]
    window = np.hanning(width)

    def spectrum(centres):
        cut = np.stack([long[..., c - width // 2:c + width // 2] for c in centres])
        return (np.abs(np.fft.rfft(cut * window, axis=-1)) ** 2).mean(axis=(0, 1))

    s_seam, s_away = spectrum(at_seam), spectrum(away)
    band = _in_band(s_away)
    ratio_db = 10 * np.log10(s_seam[:, band] / s_away[:, band])
    assert np.abs(ratio_db).max() < 0.3


def test_cropped_traces_keep_spectrum_and_rms(generator, short):
    cropped = generator.sample(N_EVENTS, seed=7, n_samples=200).astype(np.float64)
    _, p_short = _psd(short)
    _, p_crop = _psd(cropped)
    band = _in_band(p_short)
    assert np.abs(10 * np.log10(p_crop[:, band] / p_short[:, band])).max() < 0.3
    np.testing.assert_allclose(cropped.std(axis=(0, 2)), short.std(axis=(0, 2)), rtol=0.02)


def test_other_sampling_rate_keeps_the_spectral_density_and_rms(generator, short):
    rate = 2.4e9
    other = generator.sample(2000, seed=8, n_samples=1000, sampling_rate=rate)
    f_s, p_short = _psd(short, FS, nperseg=128)  # 25 MHz resolution at both rates
    f_o, p_other = _psd(other.astype(np.float64), rate, nperseg=96)
    common = f_s <= rate / 2
    np.testing.assert_allclose(f_o, f_s[common])
    band = _in_band(p_short) & common
    ratio_db = 10 * np.log10(p_other[:, band[common]] / p_short[:, band])
    assert np.abs(ratio_db).max() < 0.3
    np.testing.assert_allclose(other.std(axis=(0, 2)), short.std(axis=(0, 2)), rtol=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [k for k in model_kinds() if k != "baseline"])
def test_learned_models_stitch_to_their_own_rms(kind, tmp_path):
    path = tmp_path / f"{kind}.safetensors"
    fit(_band_noise(400, seed=1), path, FitOptions(model=kind, steps=20, batch_size=16,
                                                   quiet=True, device="cpu"))
    gen = NoiseGenerator.load(path, device="cpu")
    own = gen.sample(1000, seed=1).astype(np.float64)
    longer = gen.sample(1000, seed=2, n_samples=3 * T).astype(np.float64)
    assert np.isfinite(longer).all()
    np.testing.assert_allclose(longer.std(axis=(0, 2)), own.std(axis=(0, 2)), rtol=0.05)
