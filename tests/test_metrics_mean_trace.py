"""The mean-trace row: a fixed pattern one set has and the other lacks."""

from __future__ import annotations

import numpy as np
import pytest
from structured_helpers import FS, shaped_background

from rnognoise.io import TraceSet
from rnognoise.metrics import compare
from rnognoise.metrics.mean_trace import mean_trace_excess

pytestmark = pytest.mark.filterwarnings("ignore::rnognoise.metrics.SmallSampleWarning")


def test_two_draws_of_one_noise_have_no_excess_whatever_their_sizes():
    rng = np.random.default_rng(1)
    values, raw = [], []
    for _ in range(6):
        real, other = shaped_background(300, rng), shaped_background(3000, rng)
        value, error = mean_trace_excess(real, other, np.ones(2))
        values.append(value / error)
        raw.append(np.square(real.mean(0) - other.mean(0)).mean(-1))
    # the raw mean square of the difference is the two means' estimation noise (1/300 +
    # 1/3000 of the unit variance): what the row takes out
    assert np.mean(raw) == pytest.approx(1 / 300 + 1 / 3000, rel=0.1)
    assert np.abs(np.mean(values)) < 1.0
    assert np.max(np.abs(values)) < 4.0


def test_a_missing_interleaving_offset_is_flagged_by_its_row():
    rng = np.random.default_rng(2)
    real = shaped_background(1000, rng)
    real[:, 0, 1::2] += 0.06
    other = shaped_background(3000, rng)
    sigma = np.sqrt(np.square(real).mean((0, 2)))
    value, error = mean_trace_excess(real, other, sigma)
    # 0.06 on every other sample: a mean square of 0.0018
    assert value[0] * sigma[0] ** 2 == pytest.approx(0.0018, rel=0.2)
    assert abs(value[1]) < 4 * error[1]
    report = compare(TraceSet(real.astype(np.float32), FS, [0, 1]),
                     TraceSet(other.astype(np.float32), FS, [0, 1]), seed=1, c2st=False)
    rows = {r.channel: r for r in report.rows_named("mean_trace_ms_diff")}
    assert rows[0].verdict != "pass" and rows[1].verdict == "pass"
    assert rows[0].reason
