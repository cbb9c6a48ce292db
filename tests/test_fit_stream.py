"""Training that streams: epochs of shuffled windows, the same fit as in memory on a small
file, and resident memory set by the window rather than by the file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rnognoise.fitting.data import CHUNK_EVENTS
from rnognoise.fitting.stream import WindowSource
from rnognoise.io import TraceSet, write_traces
from rnognoise.train import fit

T = 256
SMALL_WGAN = {"critic_width": 4, "n_critic": 1, "impulses": False}


def _noise(n: int, c: int = 2, t: int = T, seed: int = 0) -> TraceSet:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, t)) * np.exp(0.2 * rng.standard_normal((n, 1, 1)))
    return TraceSet((0.01 * x).astype(np.float32), 3.2e9, np.arange(c))


def test_every_event_is_drawn_once_per_epoch_and_batches_depend_on_the_step_only():
    n = 1000  # not a multiple of the chunk: a short last chunk
    reads: list[int] = []

    def read(rows: np.ndarray) -> np.ndarray:
        reads.append(rows.size)
        return rows.astype(np.float32)[:, None, None]

    source = WindowSource(n, read, buffer_events=2 * CHUNK_EVENTS, seed=3)
    assert source.windows_per_epoch == 2 and max(reads or [0]) == 0
    batch_fn = source.batches(64, 1)
    drawn = torch.cat([batch_fn(step, 0) for step in range(3 * n // 64 + 1)]).flatten()
    for epoch in range(3):
        rows = drawn[epoch * n:(epoch + 1) * n].numpy().astype(int)
        assert np.array_equal(np.sort(rows), np.arange(n))  # each event exactly once
    assert not np.array_equal(drawn[:n], drawn[n:2 * n])  # a new order every epoch
    assert max(reads) <= 2 * CHUNK_EVENTS  # never more than a window read at once
    again = WindowSource(n, read, buffer_events=2 * CHUNK_EVENTS, seed=3).batches(64, 1)
    assert torch.equal(again(20, 0), batch_fn(20, 0))  # a resumed run sees the same batch
    whole = WindowSource.in_memory(torch.arange(n, dtype=torch.float32)[:, None, None], 3)
    assert whole.windows_per_epoch == 1
    first = whole.batches(n, 1)(0, 0).flatten().numpy().astype(int)
    assert np.array_equal(np.sort(first), np.arange(n))


@pytest.mark.parametrize(("kind", "options"), [("wgan-gp", SMALL_WGAN),
                                               ("vae", {"pretrain_steps": 50})])
def test_streamed_fit_equals_the_in_memory_fit_on_a_small_file(tmp_path, kind, options):
    """(The VAE trains on per-event state rows: measured once for the events in memory,
    batch by batch when streamed; the same rows either way.)"""
    path = tmp_path / "small.h5"
    write_traces(path, _noise(300))
    common = {"model": kind, "model_options": options, "steps": 4, "batch_size": 16,
              "eval_every": 2, "quiet": True, "device": "cpu"}
    memory = fit(path, None, stream=False, **common)
    streamed = fit(path, None, stream=True, buffer_events=4096, **common)
    assert "streamed" in streamed.provenance and "streamed" not in memory.provenance
    for key in ("n_events", "n_train_events", "n_validation_events", "data_sha256", "split",
                "quantum_volts", "components", "train_steps", "best_step"):
        assert streamed.provenance[key] == memory.provenance[key], key
    np.testing.assert_allclose(streamed.provenance["envelope"]["rms_volts"],
                               memory.provenance["envelope"]["rms_volts"], rtol=1e-9)
    a, b = memory.model.export_state(), streamed.model.export_state()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_a_file_above_max_events_is_streamed_whole_in_windows(tmp_path):
    path = tmp_path / "large.h5"
    write_traces(path, _noise(700, seed=1))
    result = fit(path, None, model="wgan-gp", model_options=SMALL_WGAN, steps=3,
                 batch_size=16, eval_every=0, quiet=True, device="cpu", max_events=200,
                 buffer_events=CHUNK_EVENTS)
    prov = result.provenance
    assert prov["streamed"] == {"buffer_events": CHUNK_EVENTS, "init_events": CHUNK_EVENTS}
    # every event of the file takes part: held out (as in memory for max_events) or trained
    assert prov["n_events"] == 700
    assert prov["n_validation_events"] == 40 and prov["n_train_events"] == 660
    assert prov["train_steps"] == 3
    subset = fit(path, None, model="baseline", quiet=True, max_events=200, stream=False)
    assert subset.provenance["n_events"] == 200 and "streamed" not in subset.provenance


_PEAK = """
import json, resource, sys
from rnognoise.train import fit
fit(sys.argv[1], None, model="wgan-gp", model_options={"critic_width": 4, "n_critic": 1,
    "impulses": False, "select_components": False}, steps=20, batch_size=32,
    eval_every=0, quiet=True, device="cpu", max_events=int(sys.argv[2]),
    buffer_events=512, val_fraction=0.02, force=True)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
"""


def _peak_mb(path, max_events: int) -> float:
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(max_events)],
                         capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_streamed_fit_memory_is_set_by_the_window_not_by_the_file(tmp_path):
    """4-channel files of 2000 and 6000 x 2048 samples (66 and 197 MB): streamed with a
    512-event window the peak does not follow the file; read whole it does."""
    small, big = tmp_path / "small.h5", tmp_path / "big.h5"
    write_traces(small, _noise(2000, c=4, t=2048, seed=2))
    write_traces(big, _noise(6000, c=4, t=2048, seed=2))
    grown_mb = 4000 * 4 * 2048 * 4 / 2**20
    streamed_small, streamed_big = _peak_mb(small, 1000), _peak_mb(big, 1000)
    whole_big = _peak_mb(big, 100_000)
    assert streamed_big - streamed_small < 0.25 * grown_mb, (streamed_small, streamed_big)
    assert whole_big - streamed_big > 2 * 6000 * 4 * 2048 * 4 / 2**20, (whole_big, streamed_big)
