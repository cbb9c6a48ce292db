"""Random streams of NoiseGenerator: reproducible, independent of chunking, independent of
each other; the physical-envelope guard; the band check; repr; the autocast path."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from rnognoise.cli import main
from rnognoise.errors import (
    ConfigError,
    ModelFileError,
    PhysicalEnvelopeWarning,
    UnphysicalOutputError,
)
from rnognoise.generator import BLOCK_EVENTS, CUDA_BLOCK_VALUES, NoiseGenerator, block_events
from rnognoise.modelfile import save_model
from rnognoise.models import TraceLayout, get_model_class

T = 256
FS = 3.2e9


def _band_noise(n: int, seed: int) -> np.ndarray:
    """Band-limited noise around 400 MHz (sigma 120 MHz), 3 channels, 10 mV RMS, volts."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((n, 3, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / FS)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.2e8) ** 2)
    x = np.fft.irfft(spec, n=T, axis=-1)
    return 0.01 * x / x.std()


def _baseline(data: np.ndarray):
    model = get_model_class("baseline")(get_model_class("baseline").make_config(),
                                        TraceLayout((0, 1, 4), T, FS))
    offset, scale = data.mean(axis=(0, 2)), data.std(axis=(0, 2))
    model.set_normalization(offset, scale)
    model.initialize(torch.as_tensor((data - offset[:, None]) / scale[:, None],
                                     dtype=torch.float32))
    return model


def _envelope(data: np.ndarray, rms_factor: float = 1.0, peak_factor: float = 1.0) -> dict:
    dev = data - data.mean(axis=(0, 2))[:, None]
    return {"rms_volts": (rms_factor * np.sqrt((dev ** 2).mean(axis=(0, 2)))).tolist(),
            "peak_volts": (peak_factor * np.abs(dev).max(axis=(0, 2))).tolist(),
            "adc_range_volts": None}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return _band_noise(400, seed=0)


@pytest.fixture(scope="module")
def gen(data) -> NoiseGenerator:
    meta = {"provenance": {"envelope": _envelope(data)}}
    return NoiseGenerator(_baseline(data), meta, torch.device("cpu"))


# -- chunking ------------------------------------------------------------------------------

def test_first_events_do_not_depend_on_n_batch_size_or_chunks(gen):
    full = gen.sample(1000, seed=42)
    np.testing.assert_array_equal(gen.sample(3, seed=42), full[:3])
    np.testing.assert_array_equal(gen.sample(1000, seed=42, batch_size=7), full)
    chunks = [gen.sample(100, seed=42, start=s) for s in range(0, 1000, 100)]
    np.testing.assert_array_equal(np.concatenate(chunks), full)
    # chunks that cross block boundaries, drawn by the streaming iterator
    parts = list(gen.iter_samples(300, seed=42, start=BLOCK_EVENTS - 50, batch_size=64))
    assert [len(p) for p in parts] == [64, 64, 64, 64, 44]
    np.testing.assert_array_equal(np.concatenate(parts), full[BLOCK_EVENTS - 50:BLOCK_EVENTS + 250])
    assert not np.array_equal(gen.sample(3, seed=43), full[:3])


def test_cuda_blocks_hold_a_fixed_number_of_values_and_cpu_blocks_a_fixed_number_of_events():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # (a device name; no GPU needed)
    assert block_events(cpu, 4, 2048) == block_events(cpu, 24, 2**20) == BLOCK_EVENTS
    assert block_events(cuda, 4, 2048) == 16384
    for channels, samples in ((4, 2048), (24, 2048), (3, 1000), (24, 8192)):
        size = block_events(cuda, channels, samples)
        assert size % BLOCK_EVENTS == 0
        assert CUDA_BLOCK_VALUES - BLOCK_EVENTS * channels * samples < \
            size * channels * samples <= CUDA_BLOCK_VALUES
    # events too long for a block of BLOCK_EVENTS: as many as fit, at least one
    assert block_events(cuda, 24, 2**20) == CUDA_BLOCK_VALUES // (24 * 2**20) == 5
    assert block_events(cuda, 64, 2**22) == 1


def test_the_noise_does_not_depend_on_the_number_of_worker_threads(data):
    meta = {"provenance": {"envelope": _envelope(data)}}
    serial = NoiseGenerator(_baseline(data), meta, torch.device("cpu"), workers=1)
    parallel = NoiseGenerator(_baseline(data), meta, torch.device("cpu"), workers=3)
    n = 5 * BLOCK_EVENTS + 17
    full = serial.sample(n, seed=9, stream=2)
    np.testing.assert_array_equal(parallel.sample(n, seed=9, stream=2), full)
    parts = list(parallel.iter_samples(n - 40, seed=9, stream=2, start=40, batch_size=300))
    np.testing.assert_array_equal(np.concatenate(parts), full[40:])


def test_seed_stream_and_start_are_checked(gen):
    for kwargs in ({"stream": -1}, {"start": -5}, {"stream": 1.5}, {"seed": -3},
                   {"batch_size": 0}, {"on_unphysical": "shout"}):
        with pytest.raises(ConfigError):
            gen.sample(2, **kwargs)


# -- independent streams -------------------------------------------------------------------

def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-event correlation coefficient of two sets of events (all channels and samples)."""
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def test_streams_are_independent_at_the_white_noise_level(gen):
    n = 2000
    s0, s1, s7 = (gen.sample(n, seed=5, stream=k) for k in (0, 1, 7))
    np.testing.assert_array_equal(s0, gen.sample(n, seed=5))  # stream 0 is the default
    # no event appears in two streams
    keys = {row.tobytes() for row in s0}
    assert not any(row.tobytes() in keys for row in np.concatenate([s1, s7]))
    # the reference: independent events within one stream (event i vs i + 1)
    ref = _corr(s0[:-1], s0[1:])
    assert abs(ref.mean()) < 4 * ref.std() / np.sqrt(len(ref))
    for other in (s1, s7):
        cross = _corr(s0, other)
        assert abs(cross.mean()) < 4 * cross.std() / np.sqrt(n)
        assert 0.9 < cross.std() / ref.std() < 1.1
        assert np.abs(cross).max() < 8 * ref.std()
    # what the test detects: a stream sharing its draws gives correlation 1
    np.testing.assert_allclose(_corr(s0, gen.sample(n, seed=5, stream=0)), 1.0)
    # streams are spawned seed sequences, not seed + k
    assert not np.array_equal(gen.sample(4, seed=6), s1[:4])
    assert not np.array_equal(gen.sample(4, seed=5, stream=1), gen.sample(4, seed=6))


# -- physical envelope ---------------------------------------------------------------------

def test_noise_inside_the_envelope_passes_silently(gen):
    gen.sample(300, seed=1)  # warnings are errors in the test suite


def test_too_loud_noise_warns_once_and_raises_on_request(data):
    quiet_training = {"provenance": {"envelope": _envelope(data, rms_factor=1 / 3,
                                                           peak_factor=10.0)}}
    loud = NoiseGenerator(_baseline(data), quiet_training, torch.device("cpu"))
    with pytest.warns(PhysicalEnvelopeWarning, match=r"RMS .* 3 x the training RMS") as rec:
        loud.sample(100, seed=1)
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    loud.sample(100, seed=2)  # once per generator: no second warning (it would be an error)
    with pytest.raises(UnphysicalOutputError, match="physical envelope"):
        loud.sample(100, seed=1, on_unphysical="raise")
    loud.sample(100, seed=1, on_unphysical="ignore")


def test_samples_beyond_twice_the_training_peak_are_caught(data):
    low_peak = {"provenance": {"envelope": _envelope(data, peak_factor=0.3)}}
    gen = NoiseGenerator(_baseline(data), low_peak, torch.device("cpu"))
    with pytest.raises(UnphysicalOutputError, match="beyond 2 x the training peak"):
        gen.sample(1, seed=0, on_unphysical="raise")
    env = _envelope(data, peak_factor=0.3)
    env["adc_range_volts"] = 1.25  # the digitizer's range allows it
    NoiseGenerator(_baseline(data), {"provenance": {"envelope": env}},
                   torch.device("cpu")).sample(10, seed=0, on_unphysical="raise")


def test_old_model_files_are_not_checked_and_bad_envelopes_refused(data, tmp_path):
    model = _baseline(data)
    NoiseGenerator(model, {}, torch.device("cpu")).sample(100, seed=1)
    path = tmp_path / "bad.safetensors"
    save_model(path, model, provenance={"envelope": {"rms_volts": [0.01], "peak_volts": [0.1],
                                                     "adc_range_volts": None}})
    with pytest.raises(ModelFileError, match=r"bad\.safetensors: invalid 'envelope'"):
        NoiseGenerator.load(path, device="cpu")


def test_cli_sample_refuses_unphysical_noise_unless_allowed(data, tmp_path, capsys):
    path = tmp_path / "loud.safetensors"
    save_model(path, _baseline(data),
               provenance={"envelope": _envelope(data, rms_factor=0.25, peak_factor=10.0)})
    out = tmp_path / "o.h5"
    assert main(["sample", str(path), "-n", "64", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "loud.safetensors" in err
    assert "--allow-unphysical" in err and not out.exists()
    assert main(["sample", str(path), "-n", "64", "--out", str(out), "--allow-unphysical"]) == 0
    assert "physical envelope" in capsys.readouterr().err and out.exists()


# -- streams through the CLI ---------------------------------------------------------------

def test_cli_stream_and_start_continue_one_file(data, tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    save_model(path, _baseline(data), provenance={"envelope": _envelope(data)})
    whole, a, b = (tmp_path / f"{k}.h5" for k in ("whole", "a", "b"))
    assert main(["sample", str(path), "-n", "300", "--seed", "3", "--stream", "2",
                 "--out", str(whole), "-q"]) == 0
    assert main(["sample", str(path), "-n", "100", "--seed", "3", "--stream", "2",
                 "--out", str(a), "-q"]) == 0
    assert main(["sample", str(path), "-n", "200", "--seed", "3", "--stream", "2",
                 "--start", "100", "--out", str(b), "-q"]) == 0
    with h5py.File(whole) as w, h5py.File(a) as fa, h5py.File(b) as fb:
        np.testing.assert_array_equal(np.concatenate([fa["traces"][()], fb["traces"][()]]),
                                      w["traces"][()])
        np.testing.assert_array_equal(fb["events/event_number"][()], np.arange(100, 300))
        assert json.loads(w["traces"].attrs["dims"]) == ["event", "channel", "sample"]
        assert (int(w.attrs["stream"]), int(fb.attrs["start"])) == (2, 100)
    # the same events whatever the number of threads
    before = torch.get_num_threads()
    try:
        for threads in (1, 3):
            one = tmp_path / f"t{threads}.h5"
            assert main(["sample", str(path), "-n", "300", "--seed", "3", "--stream", "2",
                         "--threads", str(threads), "--out", str(one), "-q"]) == 0
            with h5py.File(whole) as w, h5py.File(one) as f:
                np.testing.assert_array_equal(f["traces"][()], w["traces"][()])
    finally:
        torch.set_num_threads(before)
    assert main(["sample", str(path), "-n", "3", "--threads", "-1", "--out",
                 str(tmp_path / "x.h5"), "-q"]) == 2
    gen = NoiseGenerator.load(path, device="cpu")
    with h5py.File(whole) as w:
        np.testing.assert_array_equal(w["traces"][()], gen.sample(300, seed=3, stream=2))


def test_cli_announces_large_outputs_and_refuses_huge_ones(data, tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    save_model(path, _baseline(data))
    # 3 channels x 256 samples x 4 bytes = 3072 bytes per event: 5.3 GB for 1.7 M events
    out = tmp_path / "huge.h5"
    assert main(["sample", str(path), "-n", "1700000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "5.2 GB" in err and "--force-large" in err and not out.exists()


# -- band, repr, precision -----------------------------------------------------------------

def test_resampling_far_below_the_band_is_refused_and_into_it_warns(gen):
    with pytest.raises(ConfigError, match=r"1 MHz is too low .* below the model's band"):
        gen.sample(2, sampling_rate=1e6)
    with pytest.warns(PhysicalEnvelopeWarning, match=r"cuts into the model's band .* % of "):
        x = gen.sample(4, sampling_rate=0.9e9, n_samples=100)
    assert x.shape == (4, 3, 100)
    gen.sample(2, sampling_rate=2.4e9)  # Nyquist 1.2 GHz above the band: silent


def test_repr_names_kind_layout_rate_and_conditions(gen):
    text = repr(gen)
    assert text.startswith("NoiseGenerator(kind='baseline', channels=[0, 1, 4], n_samples=256")
    assert "sampling_rate=3.2 GHz" in text and "conditions=[]" in text


def test_autocast_lowers_networks_but_not_the_spectral_parts(gen):
    bf16 = NoiseGenerator(gen.model, gen.metadata, torch.device("cpu"), precision="bf16")
    np.testing.assert_array_equal(bf16.sample(64, seed=9), gen.sample(64, seed=9))
    wgan = get_model_class("wgan-gp")
    conv = wgan(wgan.make_config({"generator": "conv"}), TraceLayout((0, 1), 512, FS)).eval()
    ref = NoiseGenerator(conv, {}, torch.device("cpu")).sample(16, seed=1)
    low = NoiseGenerator(conv, {}, torch.device("cpu"), precision="bf16").sample(16, seed=1)
    rel = np.sqrt(np.mean((low - ref) ** 2) / np.mean(ref ** 2))
    assert low.dtype == np.float32 and 0 < rel < 0.05
    with pytest.raises(ConfigError, match="unknown precision"):
        NoiseGenerator(conv, {}, torch.device("cpu"), precision="fp8")
