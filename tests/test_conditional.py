"""Conditional models: sidereal time, cells per station, channel groups, encoding, files, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rnognoise.cli import main
from rnognoise.conditions import (
    ConditionSpec,
    add_derived_columns,
    channel_group_of,
    local_sidereal_time,
    parse_condition_names,
    resolve_specs,
)
from rnognoise.errors import ConfigError, DataFileError, ModelFileError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet, read_traces, write_traces
from rnognoise.modelfile import read_model_metadata
from rnognoise.train import FitOptions, fit

RATE = 3.2e9
T = 256
BAND = slice(11, 40)  # rfft bins whose power follows the sidereal time
PEAK_LST = 18.0
DEPTH = 0.8


def _band_ratio(traces: np.ndarray) -> float:
    """Mean power in BAND over the mean power in the other bins above DC."""
    power = np.abs(np.fft.rfft(traces, axis=-1)) ** 2
    mask = np.zeros(power.shape[-1], bool)
    mask[BAND] = True
    mask[0] = False
    other = ~mask
    other[0] = False
    return float(power[..., mask].mean() / power[..., other].mean())


def _make_set(n: int = 1600, seed: int = 0, *, channels: tuple[int, ...] = (0, 1),
              lst_hours: tuple[float, float] | None = None) -> TraceSet:
    """Gaussian noise; station 12 is 1.5x louder; the power in BAND follows the sidereal
    time as 1 + DEPTH cos(2 pi (lst - PEAK_LST) / 24)."""
    rng = np.random.default_rng(seed)
    times = 1.7e9 + np.sort(rng.uniform(0, 2 * 86400, n))
    lst = local_sidereal_time(times)
    if lst_hours is not None:
        keep = (lst >= lst_hours[0]) & (lst < lst_hours[1])
        times, lst, n = times[keep], lst[keep], int(keep.sum())
    station = np.where(np.arange(n) % 2 == 0, 11, 12)
    x = rng.standard_normal((n, len(channels), T))
    spec = np.fft.rfft(x, axis=-1)
    spec[:, :, BAND] *= np.sqrt(1 + DEPTH * np.cos(2 * np.pi * (lst - PEAK_LST) / 24))[
        :, None, None]
    x = np.fft.irfft(spec, n=T, axis=-1)
    x[station == 12] *= 1.5
    events = pd.DataFrame({"station": station, "readout_time": times,
                           "temperature": rng.uniform(-30, -10, n)})
    return TraceSet((0.01 * x).astype(np.float32), RATE, list(channels), events)


@pytest.fixture(scope="module")
def data() -> TraceSet:
    return _make_set()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory, data: TraceSet) -> str:
    path = str(tmp_path_factory.mktemp("cond") / "cond.safetensors")
    fit(data, path, FitOptions(model="baseline", conditions=["station", "lst"], quiet=True))
    return path


# -- sidereal time and condition names ---------------------------------------------------
def test_sidereal_time_reference_values() -> None:
    j2000 = 946728000.0  # 2000-01-01 12:00:00 UTC: GMST 18.697374558 h by definition
    assert local_sidereal_time(j2000, 0.0) == pytest.approx(18.697374558, abs=1e-9)
    # a sidereal day later the same sidereal time; a solar day later 3 min 56.56 s more
    assert local_sidereal_time(j2000 + 86164.0905, 0.0) == pytest.approx(18.697374558,
                                                                          abs=1e-6)
    advance = local_sidereal_time(j2000 + 86400.0, 0.0) - 18.697374558
    assert advance * 3600 == pytest.approx(236.555, abs=0.01)
    # 15 degrees of longitude are one hour; RNO-G lies west of Greenwich
    assert local_sidereal_time(j2000, 15.0) == pytest.approx(19.697374558, abs=1e-9)
    assert local_sidereal_time(j2000) == pytest.approx(18.697374558 - 38.46 / 15, abs=1e-9)
    values = local_sidereal_time(np.linspace(0, 1e9, 1000))
    assert values.min() >= 0 and values.max() < 24


def test_condition_names_kinds_and_derived_columns(data: TraceSet) -> None:
    assert parse_condition_names(" station, lst ,") == ["station", "lst"]
    with pytest.raises(ConfigError, match="twice"):
        parse_condition_names("lst,lst")
    events = add_derived_columns(data.events, ["station", "lst"])
    assert np.allclose(events["lst"], local_sidereal_time(data.events["readout_time"]))
    specs = resolve_specs(["station", "channel_group", "lst", "temperature"], events)
    assert [s.kind for s in specs] == ["categorical", "channel_group", "cyclic", "linear"]
    assert ConditionSpec.from_dict(specs[2].to_dict()) == specs[2]
    with pytest.raises(ConfigError, match="wind"):
        add_derived_columns(data.events, ["wind"], source="x.h5")
    with pytest.raises(ConfigError, match="readout_time"):
        add_derived_columns(data.events.drop(columns="readout_time"), ["lst"])
    assert [channel_group_of(c) for c in (0, 4, 7, 13, 99)] == [
        "phased_array", "deep_hpol", "deep_vpol", "surface", "other"]


# -- what a fitted conditional model reproduces --------------------------------------------
def test_conditional_baseline_reproduces_station_and_sidereal_dependence(
        model_path: str, data: TraceSet) -> None:
    gen = NoiseGenerator.load(model_path)
    assert gen.kind == "conditional" and gen.condition_names == ["station", "lst"]
    for station in (11, 12):
        real = data.traces[data.events["station"].to_numpy() == station]
        fake = gen.sample(2000, seed=1, condition={"station": station})
        assert fake.std() == pytest.approx(real.std(), rel=0.05)
    expected = {lst: 1 + DEPTH * np.cos(2 * np.pi * (lst - PEAK_LST) / 24) for lst in (6, 12, 18)}
    ratios = {lst: _band_ratio(gen.sample(1500, seed=2, condition={"station": 11, "lst": lst}))
              for lst in expected}
    # the modulation is fitted with two harmonics of log-power: close to the truth at the
    # peak and the middle, shallower than the truth in the deep minimum (0.2)
    assert ratios[18] == pytest.approx(expected[18], rel=0.1)
    assert ratios[12] == pytest.approx(expected[12], rel=0.1)
    assert ratios[6] == pytest.approx(expected[6], abs=0.1)
    assert ratios[6] < ratios[12] < ratios[18]
    # an unconditional baseline gives the average, the same at every sidereal time
    plain = fit(data, None, FitOptions(model="baseline", quiet=True)).model
    assert plain.kind == "baseline"


def test_default_conditions_follow_the_training_mixture(model_path: str) -> None:
    gen = NoiseGenerator.load(model_path)
    ts = gen.sample_traceset(4000, seed=3)
    assert list(ts.events.columns) == ["station", "lst"]
    assert set(ts.events["station"]) == {11, 12}
    assert (ts.events["station"] == 12).mean() == pytest.approx(0.5, abs=0.05)
    # partial conditions: the sidereal times of the chosen station's training events
    part = gen.sample_traceset(500, seed=4, condition={"station": 12})
    assert set(part.events["station"]) == {12}
    assert part.events["lst"].std() > 3  # spread over the day, not one value


def test_sampling_is_reproducible_and_conditions_are_per_event(model_path: str) -> None:
    gen = NoiseGenerator.load(model_path)
    cond = {"station": [11, 12, 12], "lst": [1.0, 2.0, 23.5]}
    a = gen.sample(3, seed=5, condition=cond)
    b = gen.sample(3, seed=5, condition=cond, batch_size=1)
    assert np.array_equal(a, gen.sample(3, seed=5, condition=cond))
    assert a.shape == (3, 2, T) and np.isfinite(a).all()
    assert np.allclose(a[0], b[0], atol=1e-6)  # the first batch is the same draw
    frame = pd.DataFrame({"station": [11, 12], "readout_time": [1.7e9, 1.7e9 + 3600]})
    ts = gen.sample_traceset(2, seed=6, condition=frame)
    assert np.allclose(ts.events["lst"], local_sidereal_time(frame["readout_time"]))
    long = gen.sample(4, seed=7, n_samples=3 * T + 5, condition={"station": 12, "lst": 18.0})
    assert long.shape == (4, 2, 3 * T + 5) and np.isfinite(long).all()


@pytest.mark.parametrize(("condition", "message"), [
    ({"station": 13}, "station=13 was not seen in training"),
    ({"wind": 3.0}, "unknown condition"),
    ({"station": [11, 12]}, "needs a scalar or 5 values"),
    ({"lst": float("nan")}, "NaN"),
])
def test_bad_conditions_are_refused(model_path: str, condition: dict, message: str) -> None:
    gen = NoiseGenerator.load(model_path)
    with pytest.raises(ConfigError, match=message):
        gen.sample(5, seed=0, condition=condition)


def test_no_extrapolation_in_sidereal_time_or_linear_conditions(tmp_path) -> None:
    half = _make_set(1600, seed=1, lst_hours=(0.0, 12.0))
    path = tmp_path / "half.safetensors"
    fit(half, path, FitOptions(model="baseline", conditions=["lst", "temperature"], quiet=True))
    gen = NoiseGenerator.load(path)
    # inside the covered half-day the modulation is right (fitted on half a cycle)
    lst = add_derived_columns(half.events, ["lst"])["lst"].to_numpy()
    near = half.traces[np.abs(lst - 6.0) < 1.0]
    fake = gen.sample(1000, seed=0, condition={"lst": 6.0, "temperature": -20})
    assert _band_ratio(fake) == pytest.approx(_band_ratio(near), rel=0.15)
    assert fake.std() == pytest.approx(near.std(), rel=0.05)
    with pytest.raises(ConfigError, match=r"lst=18 is .* from the nearest value"):
        gen.sample(2, seed=0, condition={"lst": 18.0})
    with pytest.raises(ConfigError, match="outside the training range"):
        gen.sample(2, seed=0, condition={"temperature": 5.0})


def test_unconditional_model_refuses_conditions(tmp_path, data: TraceSet) -> None:
    path = tmp_path / "plain.safetensors"
    fit(data, path, FitOptions(model="baseline", quiet=True))
    gen = NoiseGenerator.load(path)
    assert gen.condition_names == []
    with pytest.raises(ConfigError, match="not conditional"):
        gen.sample(2, condition={"station": 11})


def test_fit_errors(tmp_path, data: TraceSet) -> None:
    with pytest.raises(ConfigError, match="--condition"):
        fit(data, None, FitOptions(model="conditional"))
    few = data[np.flatnonzero((data.events["station"] == 11).to_numpy()
                              | (np.arange(data.n_events) < 40))]
    few.events.loc[:39, "station"] = 13  # 20 events of station 13
    with pytest.raises(DataFileError, match="station=13 has only"):
        fit(few, None, FitOptions(model="wgan-gp", conditions=["station"], steps=1,
                                  quiet=True))
    with pytest.raises(ConfigError, match="no per-event column 'run'"):
        fit(data, None, FitOptions(model="baseline", conditions=["run"], quiet=True))


# -- channel groups -------------------------------------------------------------------------
def test_channel_groups_get_their_own_submodels(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 600
    common = rng.standard_normal((n, T))
    x = rng.standard_normal((n, 4, T))
    x[:, 2] = 0.7 * x[:, 2] + 0.7 * common  # channels 12 and 13 (surface) correlated
    x[:, 3] = 0.7 * x[:, 3] + 0.7 * common
    ts = TraceSet((0.01 * x).astype(np.float32), RATE, [0, 4, 12, 13],
                  pd.DataFrame({"station": np.full(n, 11)}))
    path = tmp_path / "groups.safetensors"
    fit(ts, path, FitOptions(model="baseline", conditions=["station", "channel_group"],
                             quiet=True))
    gen = NoiseGenerator.load(path)
    assert gen.model.group_names == ["phased_array", "deep_hpol", "surface"]
    assert [m.layout.channels for m in gen.model.submodels] == [(0,), (4,), (12, 13)]
    y = gen.sample(1500, seed=0)
    assert y.shape == (1500, 4, T)
    corr = np.corrcoef(y.transpose(1, 0, 2).reshape(4, -1))
    assert corr[2, 3] == pytest.approx(0.5, abs=0.05)  # kept inside the surface group
    assert abs(corr[0, 1]) < 0.02 and abs(corr[0, 2]) < 0.02  # none across groups
    meta = read_model_metadata(path)
    assert meta["config"]["groups"] == {"phased_array": [0], "deep_hpol": [4],
                                        "surface": [12, 13]}


# -- model files -----------------------------------------------------------------------------
def test_model_file_round_trip_and_damage(tmp_path, model_path: str) -> None:
    gen = NoiseGenerator.load(model_path)
    meta = read_model_metadata(model_path)
    assert meta["kind"] == "conditional" and meta["config"]["base"] == "baseline"
    assert meta["config"]["cells"] == [[11], [12]]
    assert [c["cell"] for c in meta["provenance"]["cells"]] == ["station=11", "station=12"]
    again = NoiseGenerator.load(model_path)
    cond = {"station": 12, "lst": 3.0}
    assert np.array_equal(gen.sample(3, seed=1, condition=cond),
                          again.sample(3, seed=1, condition=cond))
    # a header whose cells disagree with the stored tensors is refused with one line
    with open(model_path, "rb") as handle:
        raw = handle.read()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    doc = json.loads(header["__metadata__"]["rnognoise_model"])
    doc["config"]["cells"] = [[11], [12], [13]]
    header["__metadata__"]["rnognoise_model"] = json.dumps(doc)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + length:])
    with pytest.raises(ModelFileError, match=r"bad\.safetensors") as info:
        NoiseGenerator.load(bad)
    assert "\n" not in str(info.value)


# -- learned sub-models, checkpoints, resume -------------------------------------------------
def test_conditional_wgan_trains_every_cell_and_resumes(tmp_path, data: TraceSet) -> None:
    out = tmp_path / "w.safetensors"
    # force: this checks the cells' training and resume; two steps on 160 events a cell
    # can come out a little worse than the baseline on the final check (tested elsewhere)
    opts = FitOptions(model="wgan-gp", conditions=["station", "lst"], steps=2, eval_every=1,
                      checkpoint_every=1, quiet=True, batch_size=16, force=True)
    result = fit(data[:400], out, opts)
    cells = result.provenance["cells"]
    assert [c["groups"][0]["train_steps"] for c in cells] == [2, 2]
    assert (tmp_path / "w.safetensors.ckpt" / "station=11" / "last.safetensors").exists()
    opts.steps, opts.resume = 3, True
    resumed = fit(data[:400], out, opts)
    assert [c["groups"][0]["train_steps"] for c in resumed.provenance["cells"]] == [3, 3]
    y = NoiseGenerator.load(out).sample(8, seed=0, condition={"station": 12, "lst": 6.0})
    assert y.shape == (8, 2, T) and np.isfinite(y).all()


# -- command line ------------------------------------------------------------------------------
def test_cli_fit_and_sample_with_conditions(tmp_path, data: TraceSet, capsys) -> None:
    traces = tmp_path / "real.h5"
    write_traces(traces, data[:800])
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(traces), "--model", "baseline", "--condition", "station,lst",
                 "--out", str(model), "--quiet"]) == 0
    out = tmp_path / "s.h5"
    assert main(["sample", str(model), "-n", "20", "--out", str(out), "--conditions-from",
                 str(traces), "--quiet"]) == 0
    generated = read_traces(out)
    real = read_traces(traces)
    assert np.array_equal(generated.events["station"], real.events["station"][:20])
    assert np.allclose(generated.events["lst"],
                       local_sidereal_time(real.events["readout_time"][:20]))
    out2 = tmp_path / "s2.h5"
    assert main(["sample", str(model), "-n", "5", "--out", str(out2), "--condition",
                 "station=12", "--condition", "lst=6.5", "--quiet"]) == 0
    ev = read_traces(out2).events
    assert set(ev["station"]) == {12} and np.allclose(ev["lst"], 6.5)
    capsys.readouterr()
    assert main(["sample", str(model), "-n", "5", "--out", str(tmp_path / "s3.h5"),
                 "--condition", "station=99", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "station=99 was not seen in training" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s3.h5").exists()
    assert main(["fit", str(traces), "--model", "baseline", "--condition", "wind",
                 "--out", str(tmp_path / "x.safetensors"), "--quiet"]) == 2


@pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")
def test_cli_validate_by_condition_for_conditional_and_plain_models(tmp_path, data: TraceSet,
                                                                    capsys) -> None:
    traces = tmp_path / "real.h5"
    write_traces(traces, data[:600])
    models = {}
    for name, cond in (("cond", ["--condition", "station"]), ("plain", [])):
        models[name] = tmp_path / f"{name}.safetensors"
        assert main(["fit", str(traces), "--model", "baseline", *cond, "--out",
                     str(models[name]), "--quiet"]) == 0
    results = {}
    for name, path in models.items():
        capsys.readouterr()
        assert main(["validate", str(traces), str(path), "--quick", "--json", "--by",
                     "station", "--quiet"]) == 0
        doc = json.loads(capsys.readouterr().out)
        groups = {g["label"]: g for g in doc["by_condition"]["groups"]}
        assert set(groups) == {"station=11", "station=12"}
        results[name] = max(abs(x) for g in groups.values()
                            for x in g["band_power"]["ratio_db"])
    # station 12 is 1.5x louder: the plain model is about 1.6 dB off per station,
    # the conditional one matches each
    assert results["plain"] > 1.2
    assert results["cond"] < 0.4


def test_sidereal_time_uses_the_longitude_of_the_fit(tmp_path, data: TraceSet) -> None:
    path = tmp_path / "greenwich.safetensors"
    fit(data[:400], path, FitOptions(model="baseline", conditions=["lst"], longitude_deg=0.0,
                                     quiet=True))
    gen = NoiseGenerator.load(path)
    times = data.events["readout_time"].to_numpy()[:3]
    ts = gen.sample_traceset(3, seed=0, condition={"readout_time": times})
    assert np.allclose(ts.events["lst"], local_sidereal_time(times, 0.0))
    assert not np.allclose(ts.events["lst"], local_sidereal_time(times))


# -- every kind as the base of a conditional model (the all-models test's conditional row) --
_SMALL = {"baseline": {},
          "vae": {"width": 4, "latent_dim": 4, "pretrain_steps": 5, "select_components": False},
          "wgan-gp": {"critic_width": 4, "n_critic": 1, "impulses": False,
                      "select_components": False}}


@pytest.mark.parametrize("kind", sorted(_SMALL))
def test_every_kind_fits_as_a_conditional_model(kind, tmp_path, data: TraceSet) -> None:
    from rnognoise.models import model_kinds

    assert sorted(_SMALL) == model_kinds()  # a new kind must be added here
    path = tmp_path / f"{kind}.safetensors"
    result = fit(data[:240], path, model=kind, model_options=_SMALL[kind],
                 conditions=["station"], steps=2, batch_size=16, eval_every=0, quiet=True,
                 device="cpu")
    cells = result.provenance["cells"]
    assert [c["cell"] for c in cells] == ["station=11", "station=12"]
    assert [c["n_train_events"] + c["n_validation_events"] for c in cells] == [120, 120]
    for cell in cells:
        group = cell["groups"][0]
        assert group["group"] == "all" and "heldout_check" in group
        assert group.get("train_steps") == (2 if kind != "baseline" else None)
    assert [m.kind for m in result.model.submodels] == [kind, kind]
    gen = NoiseGenerator.load(path, device="cpu")
    a = gen.sample(6, seed=3, condition={"station": 12})
    assert a.shape == (6, 2, T) and np.isfinite(a).all()
    assert np.array_equal(a, NoiseGenerator.load(path, device="cpu").sample(
        6, seed=3, condition={"station": 12}))
    assert not np.array_equal(a, gen.sample(6, seed=3, condition={"station": 11}))


def test_fit_takes_keyword_options_and_names_unknown_ones(data: TraceSet) -> None:
    via_keywords = fit(data[:200], None, model="baseline", seed=4, quiet=True)
    via_options = fit(data[:200], None, FitOptions(model="baseline", seed=4, quiet=True))
    assert via_keywords.provenance["split"] == via_options.provenance["split"]
    base = FitOptions(model="baseline", seed=1)
    assert fit(data[:200], None, base, seed=4, quiet=True).provenance["seed"] == 4
    assert base.seed == 1  # the options given are not changed
    with pytest.raises(ConfigError, match=r"unknown fit option\(s\) \['minutes'\]"):
        fit(data[:200], None, model="baseline", minutes=3)
