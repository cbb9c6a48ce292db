"""Paired, unpaired and physics pipelines: simulator physics, footprint I/O, networks,
paired image metrics on known answers, and short runs of every pipeline."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines import airshower_wgan, cyclegan, pix2pix, srgan
from pipelines.airshower_sim import (
    Footprints,
    ShowerSimulator,
    expected_signal,
    load_footprints,
    load_footprints_dir,
    save_footprints,
    station_positions,
)
from pipelines.evaluation.paired import PSNR_CAP_DB, l1_error, paired_metrics, psnr, ssim
from pipelines.nets_image2image import (
    ImagePool,
    PatchDiscriminator,
    ResnetGenerator,
    SRDiscriminator,
    SRGenerator,
    UNetGenerator,
)
from rnognoise.core import load_state, save_state
from rnognoise.errors import ConfigError, DataFileError, OutputExistsError

# -- air-shower simulator -----------------------------------------------------------------


def test_lateral_distribution_falls_with_distance_and_rises_with_energy() -> None:
    r = np.array([200.0, 500.0, 1000.0, 1500.0, 2500.0])
    s = expected_signal(r, 1e19, 0.3)
    assert np.all(np.diff(s) < 0)
    assert expected_signal(1000.0, 1e19) == pytest.approx(10 ** 0.97 * expected_signal(1000.0,
                                                                                        1e18))
    # attenuation: at 1000 m an inclined shower of the same energy gives less signal
    assert expected_signal(1000.0, 1e19, np.deg2rad(60)) < expected_signal(1000.0, 1e19, 0.0)


def test_footprint_peaks_at_core_and_falls_outwards() -> None:
    sim = ShowerSimulator()
    signals, _ = sim.footprint([1e19], [0.0], [0.0], [[0.0, 0.0]])
    grid = signals[0]
    assert np.unravel_index(grid.argmax(), grid.shape) == (4, 4)
    assert grid[4, 4] > grid[4, 5] > grid[4, 6] > grid[4, 7] > grid[4, 8]
    assert np.allclose(grid, grid.T)  # vertical shower on the centre: symmetric
    # an inclined shower arrives first at the stations it points away from (upstream)
    _, t = sim.footprint([1e19], [np.deg2rad(45)], [0.0], [[0.0, 0.0]])
    assert t[0, 4, 0] > t[0, 4, 8]  # axis comes from +x, so +x side is hit first
    pos = station_positions()
    assert pos.shape == (9, 9, 2) and pos[4, 4].tolist() == [0.0, 0.0]
    assert pos[0, 1, 0] - pos[0, 0, 0] == 1500.0


def test_simulated_signal_rises_with_energy_and_respects_threshold_and_saturation() -> None:
    sim = ShowerSimulator()
    rng = np.random.default_rng(3)
    n = 200
    zen, az, core = np.zeros(n), np.zeros(n), rng.uniform(-700, 700, (n, 2))
    low, _ = sim.footprint(np.full(n, 1e18), zen, az, core, rng=rng)
    high, _ = sim.footprint(np.full(n, 1e19), zen, az, core, rng=rng)
    assert high.sum() > 3 * low.sum()  # 10x the energy; saturation caps the core stations
    assert (high > 0).sum() > (low > 0).sum()
    for fp in (low, high):
        nonzero = fp[fp > 0]
        assert nonzero.min() >= sim.threshold
        assert fp.max() <= sim.saturation
    # a 1e20 eV shower landing on a station saturates it (expected signal there is huge)
    top, _ = sim.footprint([1e20], [0.0], [0.0], [[0.0, 0.0]], rng=rng)
    assert top[0, 4, 4] == sim.saturation
    assert expected_signal(100.0, 1e20) > 100 * sim.saturation


def test_simulate_is_reproducible_and_validates() -> None:
    a = ShowerSimulator().simulate(20, seed=5)
    b = ShowerSimulator().simulate(20, seed=5)
    c = ShowerSimulator().simulate(20, seed=6)
    assert np.array_equal(a.signals, b.signals) and not np.array_equal(a.signals, c.signals)
    assert a.signals.shape == (20, 9, 9) and a.signals.dtype == np.float32
    assert np.all((a.energy >= 1e18) & (a.energy <= 1e20))
    assert np.all(a.zenith <= np.deg2rad(60) + 1e-12)
    with pytest.raises(ConfigError, match="energy range"):
        ShowerSimulator(e_min=1e20, e_max=1e18)
    sim = ShowerSimulator()
    with pytest.raises(ConfigError, match="number of showers must be positive, got 0"):
        sim.simulate(0)


def test_npz_round_trip_and_folder(tmp_path: Path) -> None:
    fp = ShowerSimulator().simulate(12, seed=1)
    path = save_footprints(tmp_path / "a.npz", fp)
    back = load_footprints(path)
    for key, value in fp.arrays().items():
        assert np.allclose(getattr(back, key), value), key
    with pytest.raises(OutputExistsError):
        save_footprints(path, fp)
    save_footprints(tmp_path / "b.npz", Footprints(fp.signals[:5], fp.times[:5], fp.energy[:5],
                                                   fp.zenith[:5], fp.azimuth[:5], fp.core[:5]))
    merged = load_footprints_dir(tmp_path)
    assert len(merged) == 17
    only_signals = tmp_path / "sig" / "s.npz"
    only_signals.parent.mkdir()
    save_footprints(only_signals, Footprints(fp.signals))
    assert load_footprints(only_signals).energy is None


@pytest.mark.parametrize(("arrays", "message"), [
    ({"signal": np.zeros((2, 9, 9))}, "unknown key"),
    ({"energy": np.ones(2)}, "missing key 'signals'"),
    ({"signals": np.zeros((2, 9, 8))}, "shape"),
    ({"signals": -np.ones((2, 9, 9))}, ">= 0"),
    ({"signals": np.zeros((2, 9, 9)), "energy": np.ones(3)}, "'energy' must have shape"),
])
def test_npz_bad_keys_and_shapes(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataFileError, match=message) as info:
        load_footprints(path)
    assert str(path) in str(info.value)


def test_npz_unreadable_and_empty_folder(tmp_path: Path) -> None:
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match=r"not a readable \.npz"):
        load_footprints(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFileError, match="expected files"):
        load_footprints_dir(empty)


# -- procedural paired data ---------------------------------------------------------------


def test_outlines_and_filled_shapes_agree() -> None:
    from pipelines.data import KIND_COLOURS, paired_edges_filled

    edges, filled = paired_edges_filled(40, size=32, seed=3)
    assert edges.shape == filled.shape == (40, 3, 32, 32)
    assert set(np.unique(edges)) == {0.0, 1.0}
    # every filled pixel is white or the colour of one of the three kinds
    palette = np.concatenate([np.ones((1, 3)), KIND_COLOURS])
    pixels = filled.transpose(0, 2, 3, 1).reshape(-1, 3)
    assert np.abs(pixels[:, None] - palette[None]).max(axis=2).min(axis=1).max() < 1e-6
    # wherever the fill colour changes there is an outline in the input
    change = np.zeros((40, 32, 32), dtype=bool)
    change[:, 1:] |= np.any(filled[:, :, 1:] != filled[:, :, :-1], axis=1)
    change[:, :, 1:] |= np.any(filled[:, :, :, 1:] != filled[:, :, :, :-1], axis=1)
    assert change.any() and np.all(edges[:, 0][change] == 0.0)
    # the target is dense: shapes cover a good part of the image, outlines a small one
    assert 0.1 < (filled.min(axis=1) < 1).mean() < 0.5 and (edges[:, 0] == 0).mean() < 0.15


# -- paired metrics -----------------------------------------------------------------------


def test_metrics_identical_images() -> None:
    x = np.random.default_rng(0).uniform(size=(4, 3, 16, 16))
    m = paired_metrics(x, x)
    assert m["l1"] == 0.0 and m["ssim"] == pytest.approx(1.0) and m["psnr_db"] == PSNR_CAP_DB
    assert m["n"] == 4


def test_psnr_of_known_noise_level() -> None:
    rng = np.random.default_rng(1)
    x = np.full((16, 1, 32, 32), 0.5)
    sigma = 0.05
    noisy = x + sigma * rng.standard_normal(x.shape)
    expected = 10 * math.log10(1.0 / sigma ** 2)  # 26.02 dB
    assert psnr(noisy, x).mean() == pytest.approx(expected, abs=0.15)
    # a constant offset: exact values; data range 2 adds 20 log10(2) dB
    assert psnr(x + 0.1, x)[0] == pytest.approx(20.0)
    assert psnr(x + 0.1, x, data_range=2.0)[0] == pytest.approx(20.0 + 20 * math.log10(2))
    assert l1_error(x + 0.1, x)[0] == pytest.approx(0.1)


def test_ssim_constant_images_and_monotonic_in_noise() -> None:
    # constant images: SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1), C1 = (0.01 L)^2
    a, b = np.full((1, 20, 20), 0.3), np.full((1, 20, 20), 0.6)
    c1 = 0.01 ** 2
    assert ssim(a, b)[0] == pytest.approx((2 * 0.3 * 0.6 + c1) / (0.3 ** 2 + 0.6 ** 2 + c1))
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(2, 3, 24, 24))
    values = [ssim(x + s * rng.standard_normal(x.shape), x).mean() for s in (0.01, 0.1, 0.3)]
    assert values[0] > values[1] > values[2]
    assert values[0] > 0.95


def test_metrics_validate_shapes() -> None:
    with pytest.raises(ConfigError, match="differ in shape"):
        l1_error(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)))
    with pytest.raises(ConfigError, match="11x11"):
        ssim(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)))
    t = torch.zeros(2, 1, 12, 12)
    assert l1_error(t, t + 1).tolist() == [1.0, 1.0]


# -- networks -----------------------------------------------------------------------------

_NETS = {
    "unet": (lambda: UNetGenerator(3, 2, num_downs=4, ngf=4), (2, 3, 16, 16), (2, 2, 16, 16)),
    "resnet": (lambda: ResnetGenerator(3, 3, ngf=4, n_blocks=1), (2, 3, 16, 16),
               (2, 3, 16, 16)),
    "patchgan": (lambda: PatchDiscriminator(6, ndf=4, n_layers=3), (2, 6, 32, 32),
                 (2, 1, 2, 2)),
    "srgen": (lambda: SRGenerator(3, width=4, n_blocks=1, scale=4), (2, 3, 4, 4),
              (2, 3, 16, 16)),
    "srdisc": (lambda: SRDiscriminator(3, width=4, pool=1, hidden=8), (2, 3, 16, 16), (2, 1)),
}


@pytest.mark.parametrize("name", sorted(_NETS))
def test_network_shapes_gradients_and_save_load(name: str, tmp_path: Path) -> None:
    make, in_shape, out_shape = _NETS[name]
    net = make()
    x = torch.randn(in_shape)
    y = net(x)
    assert tuple(y.shape) == out_shape
    y.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing
    net.eval()
    path = tmp_path / "net.safetensors"
    save_state(path, modules={"net": net})
    twin = make().eval()
    load_state(path, modules={"net": twin})
    assert torch.equal(net(x), twin(x))


def test_paper_parameter_counts() -> None:
    def count(net: torch.nn.Module) -> int:
        return sum(p.numel() for p in net.parameters())

    # the published configurations (counts as in the reference implementations)
    assert count(UNetGenerator(3, 3, 8, 64)) == 54_414_531
    assert count(PatchDiscriminator(6, 64, 3)) == 2_768_705
    assert count(ResnetGenerator(3, 3, 64, 9)) == 11_378_179


def test_image_pool_fills_then_mixes_and_checkpoints(tmp_path: Path) -> None:
    pool = ImagePool(3, (1, 2, 2))
    first = torch.arange(12, dtype=torch.float32).reshape(3, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    assert int(pool.count) == 3
    g = torch.Generator().manual_seed(0)
    new = 100.0 + torch.arange(40, dtype=torch.float32)[:, None, None, None].expand(40, 1, 2, 2)
    out = pool.query(new, g)
    from_pool = (out != new).flatten(1).all(1)
    assert 10 < int(from_pool.sum()) < 30  # about half come from the history
    path = tmp_path / "pool.safetensors"
    save_state(path, modules={"pool": pool})
    other = ImagePool(3, (1, 2, 2))
    load_state(path, modules={"pool": other})
    assert torch.equal(other.images, pool.images) and int(other.count) == 3
    assert torch.equal(ImagePool(0, (1, 2, 2)).query(new), new)


# -- pipeline runs ------------------------------------------------------------------------
# (one torch thread: these networks are too small to gain from more, and shared CI cores
# make extra threads slower)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _outputs(out: Path) -> dict:
    for name in ("samples.png", "losses.png", "metrics.json", "losses.jsonl",
                 "checkpoints/last.safetensors"):
        assert (out / name).is_file(), name
    import matplotlib.image as mpimg

    grid = mpimg.imread(out / "samples.png")
    assert grid.ndim == 3 and grid.shape[0] > 20 and grid.std() > 0.01
    return json.loads((out / "metrics.json").read_text())


def _finite(d: dict) -> bool:
    return all(math.isfinite(v) for v in d.values() if isinstance(v, float))


def test_airshower_wgan_run(tmp_path: Path) -> None:
    out = tmp_path / "aw"
    args = ["--smoke", "--n-showers", "300", "--max-steps", "6", "--out", str(out), "--quiet", "--threads", "1"]
    assert airshower_wgan.main(args) == 0
    m = _outputs(out)
    assert (out / "real.png").is_file()
    assert m["steps"] == 6 and m["n_critic"] == 5 and m["n_train"] == 270
    assert set(m["w1_generated_vs_real"]) == {"log10_total", "n_triggered", "log10_max",
                                              "n_saturated"}
    assert _finite(m["w1_generated_vs_real"]) and _finite(m["w1_real_vs_real"])
    real = m["mean_real"]
    assert 1 <= real["n_triggered"] <= 81 and real["log10_total"] > 1
    # the real radial profile falls away from the hottest station
    prof = m["radial_profile_real_vem"]
    assert prof[0] > prof[1] > prof[2]
    assert set(m["last_losses"]) == {"critic", "gp", "generator", "wasserstein_estimate"}
    assert m["memorisation"]["memorised"] is False
    # outputs are not overwritten without --force
    assert airshower_wgan.main(args) == 2


def test_airshower_wgan_reads_npz_and_reports_bad_files(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    save_footprints(data / "f.npz", ShowerSimulator().simulate(60, seed=2))
    out = tmp_path / "aw"
    assert airshower_wgan.main(["--data-dir", str(data), "--max-steps", "2", "--width", "4",
                                "--out", str(out), "--quiet", "--threads", "1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_train"] + m["n_test"] == 60 and str(data) in m["data"]
    np.savez(data / "g.npz", energy=np.ones(3))
    assert airshower_wgan.main(["--data-dir", str(data), "--out", str(tmp_path / "x"),
                                "--quiet", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("airshower_wgan: error: ") and "g.npz" in err and "signals" in err


def test_pix2pix_run_and_exact_resume(tmp_path: Path) -> None:
    common = ["--smoke", "--n-images", "24", "--quiet", "--threads", "1", "--ngf", "8"]
    straight = tmp_path / "straight"
    assert pix2pix.main([*common, "--max-steps", "8", "--out", str(straight)]) == 0
    m = _outputs(straight)
    assert m["steps"] == 8 and m["image_size"] == 32 and m["direction"] == "AtoB"
    for key in ("test", "baseline_mean_target", "baseline_input"):
        assert _finite(m[key]) and 0 <= m[key]["l1"] <= 1 and -1 <= m[key]["ssim"] <= 1
        assert 3 < m[key]["psnr_db"] < 60
    resumed = tmp_path / "resumed"
    assert pix2pix.main([*common, "--max-steps", "4", "--out", str(resumed)]) == 0
    assert pix2pix.main([*common, "--max-steps", "8", "--out", str(resumed), "--resume"]) == 0
    from safetensors.torch import load_file

    a = load_file(straight / "checkpoints/last.safetensors")
    b = load_file(resumed / "checkpoints/last.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8)).save(path)


def test_pix2pix_on_a_paired_folder(tmp_path: Path, capsys) -> None:
    root = tmp_path / "maps"
    (root / "train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        a = rng.uniform(size=(16, 16, 3))
        _write_png(root / "train" / f"{i}.png", np.concatenate([a, 1 - a], axis=1))
    out = tmp_path / "out"
    assert pix2pix.main(["--data-dir", str(root), "--image-size", "16", "--ngf", "4",
                         "--d-layers", "1", "--max-steps", "3", "--out", str(out),
                         "--quiet", "--threads", "1", "--direction", "BtoA"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_train"] == 5 and m["n_test"] == 1 and m["direction"] == "BtoA"
    assert pix2pix.main(["--data-dir", str(tmp_path / "nothing"), "--out",
                         str(tmp_path / "o2"), "--quiet", "--threads", "1"]) == 2
    assert "expected a folder train/" in capsys.readouterr().err


def test_cyclegan_run(tmp_path: Path) -> None:
    out = tmp_path / "cg"
    assert cyclegan.main(["--smoke", "--n-images", "12", "--max-steps", "6", "--ngf", "8",
                          "--out", str(out), "--quiet", "--threads", "1"]) == 0
    m = _outputs(out)
    assert m["steps"] == 6 and m["pool_size"] == 50 and m["lambda_cycle"] == 10.0
    for key in ("cycle_A", "cycle_B"):
        assert _finite(m[key]) and m[key]["n"] == 100 and -1 <= m[key]["ssim"] <= 1
    dc = m["domain_classifier"]
    # the two procedural domains are easy to tell apart; untranslated A never looks like B
    assert dc["accuracy_real_test"] >= 0.95 and dc["untranslated_A_classified_B"] <= 0.05
    assert set(m["last_losses"]) == {"G_adv", "cycle", "identity", "D"}


def test_cyclegan_learning_rate_schedule() -> None:
    lrs = [cyclegan.learning_rate(s, 10, 2e-4) for s in range(10)]
    assert lrs[:6] == [2e-4] * 6
    assert all(a > b for a, b in itertools.pairwise(lrs[5:]))
    assert lrs[-1] == pytest.approx(2e-4 / 5)


def test_srgan_run_on_folder_with_crops(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        _write_png(folder / f"{i}.png", rng.uniform(size=(30, 40, 3)))
    out = tmp_path / "sr"
    assert srgan.main(["--data-dir", str(folder), "--hr-size", "16", "--load-size", "24",
                       "--width", "4", "--n-blocks", "1", "--max-steps", "4",
                       "--batch-size", "4", "--out", str(out), "--quiet", "--threads", "1"]) == 0
    m = _outputs(out)
    assert m["n_train"] == 7 and m["n_test"] == 1 and m["pretrain_steps"] == 3  # 0.8 * 4
    assert set(m["last_losses"]) == {"content", "G_adv", "D"}  # adversarial phase reached
    for key in ("test", "baseline_bicubic", "baseline_nearest"):
        assert _finite(m[key]) and m[key]["psnr_db"] > 3


def test_srgan_smoke_defaults_and_baselines(tmp_path: Path) -> None:
    out = tmp_path / "sr"
    assert srgan.main(["--smoke", "--n-images", "32", "--max-steps", "3", "--out", str(out),
                       "--quiet", "--threads", "1"]) == 0
    m = _outputs(out)
    assert m["hr_size"] == 32 and m["scale"] == 4 and m["width"] == 16
    # bicubic beats nearest-neighbour upsampling on smooth-edged shapes in PSNR
    assert m["baseline_bicubic"]["psnr_db"] > m["baseline_nearest"]["psnr_db"]
    assert srgan.main(["--smoke", "--hr-size", "20", "--out", str(tmp_path / "bad"),
                       "--quiet", "--threads", "1"]) == 2
