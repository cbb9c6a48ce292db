"""One writer of the canonical HDF5 layout: every writer's output follows the layout spec and
reads back through the reader; the streaming writer refuses what would break the layout."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from rnognoise.cli.sample import write_samples
from rnognoise.errors import ConfigError, OutputExistsError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet, read_traces
from rnognoise.io.hdf5 import layout_spec
from rnognoise.io.hdf5_writer import HDF5Writer, write_hdf5
from rnognoise.models import TraceLayout, get_model_class
from rnognoise.simulate import SimulationConfig, simulate_to_file


def _check_layout(path) -> TraceSet:
    """Assert every rule of ``hdf5_layout.json`` the writer is responsible for; read back."""
    spec = layout_spec()
    with h5py.File(path) as f:
        traces = f[spec["traces"]["path"]]
        n, c, _ = traces.shape
        assert traces.ndim == spec["traces"]["ndim"] and traces.dtype == np.float32
        assert json.loads(traces.attrs["dims"]) == spec["traces"]["dims"]
        assert traces.chunks[1:] == traces.shape[1:]  # whole events per chunk
        assert f.attrs["layout"] == f"{spec['name']}/{spec['version']}"
        assert float(f.attrs["sampling_rate"]) > 0
        channels = np.asarray(f.attrs["channels"])
        assert channels.dtype.kind in "iu" and len(set(channels.tolist())) == channels.size == c
        assert f.attrs["units"] in spec["attributes"]["units"]["allowed"]
        group = f.get(spec["events"]["group"], {})
        assert all(group[k].ndim == 1 and group[k].shape[0] == n for k in group)
        stored = traces[()]
    back = read_traces(path, trigger="all")
    np.testing.assert_array_equal(back.traces, stored)
    return back


def test_write_hdf5_simulate_and_sample_all_follow_the_layout(tmp_path, small_traceset):
    write_hdf5(tmp_path / "w.h5", small_traceset, attrs={"note": {"a": 1}})
    back = _check_layout(tmp_path / "w.h5")
    np.testing.assert_array_equal(back.traces, small_traceset.traces)
    assert back.events["trigger_type"].tolist() == small_traceset.events["trigger_type"].tolist()

    cfg = SimulationConfig(n_samples=256)
    simulate_to_file(tmp_path / "s.h5", 40, config=cfg, seed=1, batch_size=16)
    sim = _check_layout(tmp_path / "s.h5")
    assert sim.n_events == 40 and sim.n_samples == 256

    model = get_model_class("baseline")(get_model_class("baseline").make_config(),
                                        TraceLayout((5, 6, 9), 256, 3.2e9))
    model.initialize(torch.as_tensor(small_traceset.traces / 0.01))
    model.set_normalization(np.zeros(3), np.full(3, 0.01))
    gen = NoiseGenerator(model, {}, torch.device("cpu"))
    write_samples(gen, 50, str(tmp_path / "g.h5"), seed=2, batch_size=16, quiet=True)
    sampled = _check_layout(tmp_path / "g.h5")
    np.testing.assert_array_equal(sampled.traces, gen.sample(50, seed=2))
    np.testing.assert_array_equal(sampled.events["event_number"], np.arange(50))


def test_the_streaming_writer_refuses_what_breaks_the_layout(tmp_path):
    kw = {"n_events": 10, "channels": [0, 1], "n_samples": 8, "sampling_rate": 1e9}
    batch = np.zeros((5, 2, 8), np.float32)
    events = pd.DataFrame({"event_number": np.arange(5)})
    out = tmp_path / "o.h5"
    with pytest.raises(ConfigError, match="5 of the 10 declared events"), \
            HDF5Writer(out, **kw) as writer:
        writer.append(batch, events)
    with pytest.raises(ConfigError, match=r"batch of shape \(5, 3, 8\)"), \
            HDF5Writer(out, **kw) as writer:
        writer.append(np.zeros((5, 3, 8)))
    with pytest.raises(ConfigError, match="event columns"), HDF5Writer(out, **kw) as writer:
        writer.append(batch, events)
        writer.append(batch, events.assign(run_number=1))
    with pytest.raises(ConfigError, match="11 events appended"), \
            HDF5Writer(out, **kw) as writer:
        writer.append(np.zeros((11, 2, 8)))
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left
    with HDF5Writer(out, **kw) as writer:
        writer.append(batch, events)
        writer.append(batch + 1, events + 5)
    assert _check_layout(out).events["event_number"].tolist() == list(range(10))
    with pytest.raises(OutputExistsError):
        HDF5Writer(out, **kw).__enter__()
