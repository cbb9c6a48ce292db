"""``compare_by_condition``: grouping, per-group verdicts, band power, skipped groups, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rnognoise.conditions import local_sidereal_time
from rnognoise.errors import ConfigError
from rnognoise.io import TraceSet
from rnognoise.metrics import ConditionalReport, compare_by_condition

FS = 3.2e9
T0 = 1.69e9  # 2023-07-22, unix s
SIDEREAL_DAY_S = 86164.1
RMS = {11: 0.010, 12: 0.012, 13: 0.008}  # V


def noise_set(counts: dict[int, int], *, seed: int, rms: dict[int, float] | None = None,
              lst_gain: tuple[float, float, float] | None = None, lst_column: bool = False,
              extra: dict[str, np.ndarray] | None = None, source: str | None = None,
              ) -> TraceSet:
    """White Gaussian noise, 4 channels x 256 samples, events spread over a sidereal day.

    ``rms`` sets each station's RMS; ``lst_gain = (lo, hi, g)`` multiplies the amplitude
    of events with ``lo <= lst < hi`` (hours) by ``g``. Events carry ``station`` and
    ``readout_time``, or ``lst`` instead of the time (as a conditional model's output).
    """
    rng = np.random.default_rng(seed)
    rms = rms or RMS
    station = np.repeat(list(counts), list(counts.values()))
    times = T0 + rng.uniform(0.0, SIDEREAL_DAY_S, station.size)
    lst = local_sidereal_time(times)
    scale = np.array([rms[s] for s in station])
    if lst_gain is not None:
        lo, hi, g = lst_gain
        scale = scale * np.where((lst >= lo) & (lst < hi), g, 1.0)
    traces = (rng.standard_normal((station.size, 4, 256)) * scale[:, None, None])
    events = pd.DataFrame({"station": station})
    if lst_column:
        events["lst"] = lst
    else:
        events["readout_time"] = times
    for name, values in (extra or {}).items():
        events[name] = values
    return TraceSet(traces.astype(np.float32), FS, np.arange(4), events, source=source)


COUNTS = {11: 150, 12: 150, 13: 150}


@pytest.fixture(scope="module")
def real() -> TraceSet:
    return noise_set(COUNTS, seed=1, source="real.h5")


@pytest.fixture(scope="module")
def matching() -> TraceSet:
    return noise_set(COUNTS, seed=2, lst_column=True)


def test_matching_sets_pass_in_every_station(real: TraceSet, matching: TraceSet) -> None:
    cond = compare_by_condition(real, matching, ["station"])
    assert [g.label for g in cond.groups] == ["station=11", "station=12", "station=13"]
    assert [(g.n_real, g.n_generated) for g in cond.groups] == [(150, 150)] * 3
    assert [g.verdict for g in cond.groups] == ["pass"] * 3
    assert cond.verdict == "pass" and not cond.skipped
    assert cond.score() == max(g.score for g in cond.groups) < 0.5
    for g in cond.groups:
        assert g.report is not None and g.report.quick
        assert {r.group for r in g.report.rows}.isdisjoint({"twosample", "trigger"})
        # band power of the whole band is the variance: 4 channels at the station's RMS
        np.testing.assert_allclose(g.band_power["real"], RMS[g.values["station"]] ** 2,
                                   rtol=0.05)
        assert abs(g.band_power_mean["ratio_db"]) < 3 * g.band_power_mean["ratio_db_err"]
        assert g.headline["rms_rel_diff"]["result"] == "pass"


def test_one_station_with_the_wrong_rms_fails_alone(real: TraceSet) -> None:
    wrong = noise_set(COUNTS, seed=2, lst_column=True, rms={**RMS, 12: RMS[12] * 1.3})
    cond = compare_by_condition(real, wrong, "station")
    verdicts = {g.values["station"]: g.verdict for g in cond.groups}
    assert verdicts == {11: "pass", 12: "fail", 13: "pass"}
    assert cond.verdict == "fail"
    bad = cond.group("station=12")
    assert cond.score() == bad.score > 1.0
    assert bad.headline["rms_rel_diff"]["value"] == pytest.approx(0.3, abs=0.03)
    assert bad.headline["rms_rel_diff"]["result"] == "fail"
    assert any(i.startswith("rms_rel_diff fail: ch 0") for i in bad.issues)
    expected_db = 20 * np.log10(1.3)
    np.testing.assert_allclose(bad.band_power["ratio_db"], expected_db, atol=0.15)
    for label in ("station=11", "station=13"):
        assert abs(cond.group(label).band_power_mean["ratio_db"]) < 0.15
    text = cond.table()
    assert "station=12" in text and "fail" in text and "+2.2" in text


def test_power_that_does_not_follow_lst_fails_that_bin_only() -> None:
    # real: 6-12 h LST louder by 1.5 in amplitude (e.g. the galactic centre in view);
    # generated: the same power at every LST. One RMS for all stations, so that each LST
    # bin holds one noise level apart from the LST dependence.
    same = dict.fromkeys(COUNTS, 0.01)
    real = noise_set(COUNTS, seed=1, rms=same, lst_gain=(6.0, 12.0, 1.5))
    flat = noise_set(COUNTS, seed=2, rms=same, lst_column=True)
    cond = compare_by_condition(real, flat, ["lst"], lst_bins=4)
    assert [g.label for g in cond.groups] == ["lst=0-6 h", "lst=6-12 h", "lst=12-18 h",
                                             "lst=18-24 h"]
    assert [g.values["lst"] for g in cond.groups] == [[0, 6], [6, 12], [12, 18], [18, 24]]
    assert [g.verdict for g in cond.groups] == ["pass", "fail", "pass", "pass"]
    assert cond.kinds == {"lst": "cyclic"}
    ratio = [g.band_power_mean["ratio_db"] for g in cond.groups]
    assert ratio[1] == pytest.approx(-20 * np.log10(1.5), abs=0.3)
    assert max(abs(r) for i, r in enumerate(ratio) if i != 1) < 0.3
    # every real event lands in the bin of its own LST
    real_lst = local_sidereal_time(real.events["readout_time"].to_numpy())
    assert [g.n_real for g in cond.groups] == np.histogram(real_lst, [0, 6, 12, 18, 24])[0]\
        .tolist()


def test_station_and_lst_combine_and_small_groups_are_skipped(real: TraceSet) -> None:
    gen = noise_set({11: 150, 12: 150, 13: 150, 14: 60}, seed=2, lst_column=True,
                    rms={**RMS, 14: 0.01})
    cond = compare_by_condition(real, gen, ["station", "lst"], lst_bins=2, min_events=40)
    labels = [g.label for g in cond.groups]
    assert labels[:2] == ["station=11, lst=0-12 h", "station=11, lst=12-24 h"]
    assert len(labels) == 8  # 3 stations x 2 bins in both sets, station 14 only generated
    for g in cond.groups:
        if g.values["station"] == 14:
            assert g.n_real == 0 and not g.evaluated and g.verdict == "n/a"
            assert "0 real" in g.skipped and "min_events" in g.skipped
        else:
            assert g.evaluated and g.n_real >= 40
    assert sum(g.n_real for g in cond.groups) == real.n_events
    assert sum(g.n_generated for g in cond.groups) == gen.n_events
    # skipped groups do not count: no fail in the compared ones (a chance warn may be)
    assert cond.verdict in ("pass", "warn")
    assert cond.verdict == max((g.verdict for g in cond.evaluated), key=["pass", "warn"].index)
    assert "skipped station=14, lst=0-12 h" in cond.table()
    # min_events above every group: nothing compared, verdict n/a
    none = compare_by_condition(real, gen, ["station"], min_events=1000)
    assert not none.evaluated and none.verdict == "n/a" and np.isnan(none.score())


def test_float_condition_uses_quantile_bins_of_the_real_values(real: TraceSet) -> None:
    rng = np.random.default_rng(5)
    temp_real = rng.normal(-20.0, 5.0, real.n_events)
    gen = noise_set(COUNTS, seed=2, lst_column=True,
                    extra={"temperature": rng.normal(-20.0, 5.0, real.n_events)})
    real_t = TraceSet(real.traces, FS, real.channels,
                      real.events.assign(temperature=temp_real))
    cond = compare_by_condition(real_t, gen, ["temperature"], bins=3)
    edges = np.quantile(temp_real, [0, 1 / 3, 2 / 3, 1])
    assert cond.kinds == {"temperature": "linear"}
    assert [g.n_real for g in cond.groups] == [150, 150, 150]
    np.testing.assert_allclose([g.values["temperature"] for g in cond.groups],
                               np.stack([edges[:-1], edges[1:]], 1))
    inner = np.searchsorted(edges[1:-1], gen.events["temperature"], side="right")
    assert [g.n_generated for g in cond.groups] == np.bincount(inner, minlength=3).tolist()


def test_channel_group_compares_channel_subsets() -> None:
    ts = noise_set(COUNTS, seed=1)
    ids = np.array([0, 1, 12, 13])  # phased array, surface
    real = TraceSet(ts.traces, FS, ids, ts.events)
    other = noise_set(COUNTS, seed=2)
    gen = TraceSet(other.traces, FS, ids, other.events)
    cond = compare_by_condition(real, gen, ["channel_group"])
    assert [(g.label, g.channels) for g in cond.groups] == [
        ("channel_group=phased_array", [0, 1]), ("channel_group=surface", [12, 13])]
    assert all(g.report.channels == g.channels for g in cond.groups)
    assert [len(g.band_power["real"]) for g in cond.groups] == [2, 2]


def test_missing_columns_name_the_set_and_its_columns(real: TraceSet,
                                                      matching: TraceSet) -> None:
    no_station = TraceSet(matching.traces, FS, matching.channels,
                          matching.events.drop(columns="station"), source="gen.h5")
    with pytest.raises(ConfigError, match=r"generated set gen\.h5: no per-event column "
                       r"'station'.*columns: \['lst'\]"):
        compare_by_condition(real, no_station, ["station"])
    no_time = TraceSet(real.traces, FS, real.channels, real.events[["station"]],
                       source="real.h5")
    with pytest.raises(ConfigError, match=r"real set real\.h5: condition 'lst' needs the "
                       r"per-event column 'readout_time'.*columns: \['station'\]"):
        compare_by_condition(no_time, matching, ["lst"])
    with pytest.raises(ConfigError, match="min_events"):
        compare_by_condition(real, matching, ["station"], min_events=2)
    with pytest.raises(ConfigError, match="no condition"):
        compare_by_condition(real, matching, [])


def test_json_round_trip(real: TraceSet) -> None:
    gen = noise_set({11: 150, 12: 150, 13: 20}, seed=2, lst_column=True)
    cond = compare_by_condition(real, gen, ["station"], seed=3)
    data = json.loads(json.dumps(cond.to_dict(), allow_nan=False))
    assert data["worst_group_result"] == cond.verdict and "verdict" not in data
    assert data["by"] == ["station"]
    assert data["score"] == pytest.approx(cond.score())
    assert [g["evaluated"] for g in data["groups"]] == [True, True, False]
    assert data["groups"][2]["score"] is None and data["sources"]["real"] == "real.h5"
    back = ConditionalReport.from_dict(data)
    assert back.to_dict() == data
    assert back.table() == cond.table()
    with pytest.raises(ConfigError, match="invalid per-condition report"):
        ConditionalReport.from_dict({"by": ["station"]})
