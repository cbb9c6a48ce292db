"""Shared fixtures: every test is seeded; small trace files are written by the tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.io import TraceSet


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)  # noqa: NPY002  (legacy global state some libraries still use)
    torch.manual_seed(0)


@pytest.fixture
def small_traceset() -> TraceSet:
    """White Gaussian noise, 64 events x 3 channels x 256 samples, 10 mV RMS, ids 5, 6, 9."""
    rng = np.random.default_rng(1)
    traces = (0.01 * rng.standard_normal((64, 3, 256))).astype(np.float32)
    import pandas as pd

    events = pd.DataFrame({"event_number": np.arange(64), "trigger_type": ["FORCE"] * 60 +
                           ["LT"] * 4})
    return TraceSet(traces, 3.2e9, [5, 6, 9], events)
