"""The canonical HDF5 layout: files written by other programs, round trips, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from rnognoise.errors import DataFileError, OutputExistsError
from rnognoise.io import TraceSet, iter_traces, read_traces, write_traces
from rnognoise.units import ADC_TO_VOLTS_RNOG


def _foreign_file(path, data, **attrs):
    """Write a file the way another program would: plain h5py, attributes on /traces."""
    with h5py.File(path, "w") as f:
        d = f.create_dataset("traces", data=data)
        for k, v in attrs.items():
            d.attrs[k] = v


def test_foreign_file_in_millivolts_is_read_in_volts(tmp_path):
    data = np.arange(2 * 3 * 8, dtype=np.float64).reshape(2, 3, 8)
    _foreign_file(tmp_path / "f.h5", data, sampling_rate=2.4e9, channels=[0, 4, 8], units="mV")
    ts = read_traces(tmp_path / "f.h5")
    assert ts.traces.dtype == np.float32
    assert ts.traces.shape == (2, 3, 8)
    np.testing.assert_allclose(ts.traces, data * 1e-3, rtol=1e-6)
    assert ts.sampling_rate == 2.4e9
    assert ts.channels.tolist() == [0, 4, 8]
    assert ts.units == "V"


def test_adc_counts_are_converted_with_the_factor(tmp_path):
    data = np.full((1, 2, 4), 100, dtype=np.int16)
    _foreign_file(tmp_path / "a.h5", data, sampling_rate=3.2e9, units="ADC",
                  adc_to_volts=ADC_TO_VOLTS_RNOG)
    ts = read_traces(tmp_path / "a.h5")
    np.testing.assert_allclose(ts.traces, 100 * 2.5 / 4095, rtol=1e-6)


def test_round_trip_keeps_everything(tmp_path, small_traceset):
    path = tmp_path / "rt.h5"
    write_traces(path, small_traceset, compression="gzip")
    back = read_traces(path, trigger="all")
    np.testing.assert_array_equal(back.traces, small_traceset.traces)
    assert back.channels.tolist() == [5, 6, 9]
    assert back.sampling_rate == 3.2e9
    assert back.events["trigger_type"].tolist() == small_traceset.events["trigger_type"].tolist()


def test_forced_trigger_selection_and_channel_subset(tmp_path, small_traceset):
    path = tmp_path / "sel.h5"
    write_traces(path, small_traceset)
    forced = read_traces(path, channels=[9, 5])
    assert forced.n_events == 60
    assert forced.channels.tolist() == [9, 5]
    np.testing.assert_array_equal(forced.traces[:, 0], small_traceset.traces[:60, 2])
    picked = read_traces(path, events=[3, 1])
    assert picked.events["event_number"].tolist() == [1, 3]


def test_iter_traces_streams_all_events_in_bounded_batches(tmp_path, small_traceset):
    path = tmp_path / "it.h5"
    write_traces(path, small_traceset)
    batches = list(iter_traces(path, batch_size=7, trigger="all"))
    assert max(b.n_events for b in batches) == 7
    joined = TraceSet.concatenate(batches)
    np.testing.assert_array_equal(joined.traces, small_traceset.traces)
    shard = TraceSet.concatenate(list(iter_traces(path, 5, trigger="all", start=1, step=2)))
    np.testing.assert_array_equal(shard.traces, small_traceset.traces[1::2])


def test_existing_output_is_not_overwritten(tmp_path, small_traceset):
    path = tmp_path / "keep.h5"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="already exists"):
        write_traces(path, small_traceset)
    assert path.read_bytes() == b"precious"
    write_traces(path, small_traceset, force=True)
    assert read_traces(path, trigger="all").n_events == 64
    assert [p.name for p in tmp_path.iterdir()] == ["keep.h5"]


BAD_CASES = {
    "missing": (None, "no such file"),
    "empty": ("empty", "empty"),
    "not_hdf5": ("text", "is neither an HDF5"),
    "no_traces": ({"other": np.zeros((1, 1, 4))}, "no '/traces' dataset"),
    "rank2": ({"traces": np.zeros((3, 4))}, "2 dimensions"),
    "complex": ({"traces": np.zeros((1, 1, 4), np.complex64)}, "unsupported sample type"),
    "strings": ({"traces": np.array([[[b"a"]]])}, "unsupported sample type"),
    "ints_no_adc": ({"traces": np.zeros((1, 1, 4), np.int16)}, "need units='ADC'"),
    "adc_no_factor": ({"traces": np.zeros((1, 1, 4), np.int16), "units": "ADC"},
                      "no positive adc_to_volts"),
    "zero_events": ({"traces": np.zeros((0, 2, 4))}, "zero events"),
    "no_rate": ({"traces": np.zeros((1, 1, 4)), "sampling_rate": None}, "no 'sampling_rate'"),
    "zero_rate": ({"traces": np.zeros((1, 1, 4)), "sampling_rate": 0.0}, "positive number"),
    "neg_rate": ({"traces": np.zeros((1, 1, 4)), "sampling_rate": -3.0}, "positive number"),
    "bad_units": ({"traces": np.zeros((1, 1, 4)), "units": "furlong"}, "unknown units"),
    "channels_len": ({"traces": np.zeros((1, 2, 4)), "channels": [1, 2, 3]}, "lists 3 ids"),
    "channels_dup": ({"traces": np.zeros((1, 2, 4)), "channels": [1, 1]}, "repeats an id"),
    "nan": ({"traces": np.full((1, 1, 4), np.nan)}, "NaN/inf"),
    "meta_len": ({"traces": np.zeros((2, 1, 4)), "events/event_number": np.arange(3)},
                 "3 entries for 2 events"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, case):
    content, expected = BAD_CASES[case]
    path = tmp_path / f"{case}.h5"
    if content == "empty":
        path.write_bytes(b"")
    elif content == "text":
        path.write_text("event,channel\n1,2\n")
    elif isinstance(content, dict):
        with h5py.File(path, "w") as f:
            rate = content.get("sampling_rate", 3.2e9)
            if rate is not None:
                f.attrs["sampling_rate"] = rate
            for key in ("units", "channels"):
                if key in content:
                    f.attrs[key] = content[key]
            for key, value in content.items():
                if key not in ("sampling_rate", "units", "channels"):
                    f.create_dataset(key, data=value)
    with pytest.raises(DataFileError) as err:
        read_traces(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_truncated_file_is_reported(tmp_path, small_traceset):
    path = tmp_path / "trunc.h5"
    write_traces(path, small_traceset)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match=str(path)):
        read_traces(path, trigger="all")


def test_unknown_channel_is_reported(tmp_path, small_traceset):
    path = tmp_path / "ch.h5"
    write_traces(path, small_traceset)
    with pytest.raises(DataFileError, match=r"channel\(s\) \[7\] not in the file"):
        read_traces(path, channels=[5, 7])


def _layout_file(path, data, layout, **attrs):
    """Write ``data`` as /traces in one of several storage layouts, attributes on the root."""
    _, n_channels, n_samples = data.shape
    options = {
        "chunked": {"chunks": (4, n_channels, n_samples)},
        "gzip": {"chunks": (4, n_channels, n_samples), "compression": "gzip"},
        "contiguous": {},
        "sample_chunks": {"chunks": (4, n_channels, n_samples // 2)},
    }[layout]
    with h5py.File(path, "w") as f:
        f.create_dataset("traces", data=data, **options)
        f.attrs["sampling_rate"] = 3.2e9
        for key, value in attrs.items():
            f.attrs[key] = value


LAYOUTS = ["chunked", "gzip", "contiguous", "sample_chunks"]
SELECTIONS = [None, slice(3, 9), [0, 5, 9], slice(9, 10)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", "<i2"])
def test_every_layout_and_sample_type_reads_the_stored_samples(tmp_path, layout, dtype):
    rng = np.random.default_rng(7)
    # 10 events in chunks of 4: the last chunk is cut by the end of the dataset.
    counts = rng.integers(-300, 300, size=(10, 3, 16))
    data = counts.astype(dtype)
    attrs = {"units": "ADC", "adc_to_volts": ADC_TO_VOLTS_RNOG} if dtype == "<i2" else {}
    path = tmp_path / "layout.h5"
    _layout_file(path, data, layout, **attrs)
    volts = counts.astype(np.float32) * np.float32(ADC_TO_VOLTS_RNOG if attrs else 1.0)
    for events in SELECTIONS:
        picked = np.arange(10) if events is None else np.arange(10)[events]
        ts = read_traces(path, events=events, channels=[2, 0])
        assert ts.traces.dtype == np.float32
        np.testing.assert_array_equal(ts.traces, volts[picked][:, [2, 0]])
        assert ts.channels.tolist() == [2, 0]
    batches = list(iter_traces(path, 3, start=1))
    assert [b.n_events for b in batches] == [3, 3, 3]
    np.testing.assert_array_equal(TraceSet.concatenate(batches).traces, volts[1:])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nan_and_inf_are_counted_among_the_samples_returned(tmp_path, layout):
    rng = np.random.default_rng(8)
    data = (0.01 * rng.standard_normal((12, 3, 16))).astype(np.float32)
    data[5, 1, 7] = np.nan
    data[10, 2, 0] = np.inf
    data[10, 2, 1] = -np.inf
    path = tmp_path / "bad.h5"
    _layout_file(path, data, layout)
    with pytest.raises(DataFileError, match="contains 3 NaN/inf samples") as err:
        read_traces(path)
    assert str(path) in str(err.value)
    with pytest.raises(DataFileError, match="contains 1 NaN/inf samples"):
        read_traces(path, events=slice(0, 6))
    # Non-finite samples outside the selection (same chunks) are no reason to refuse it.
    np.testing.assert_array_equal(read_traces(path, channels=[0]).traces, data[:, [0]])
    np.testing.assert_array_equal(read_traces(path, events=slice(0, 5)).traces, data[:5])
    np.testing.assert_array_equal(read_traces(path, events=[4, 6, 11]).traces,
                                  data[[4, 6, 11]])
    kept = read_traces(path, allow_nonfinite=True).traces
    assert np.count_nonzero(~np.isfinite(kept)) == 3
    stream = iter_traces(path, 4)
    np.testing.assert_array_equal(next(stream).traces, data[:4])
    with pytest.raises(DataFileError, match="contains 1 NaN/inf samples"):
        next(stream)


def test_huge_finite_samples_are_not_taken_for_inf(tmp_path):
    data = np.full((8, 2, 16), 3e38, np.float32)  # finite, but their squares overflow
    data[:, 1] = -1e30
    path = tmp_path / "huge.h5"
    _layout_file(path, data, "chunked")
    np.testing.assert_array_equal(read_traces(path).traces, data)
