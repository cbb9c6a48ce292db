"""The evenly spaced subsets the fits and the metrics thin events with."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.subsample import evenly_spaced, evenly_spaced_indices


def test_evenly_spaced_indices_span_the_set_without_repeats():
    for n, most in ((1, 5), (7, 7), (10, 3), (1001, 500), (4000, 1000), (2999, 2000)):
        pick = evenly_spaced_indices(n, most)
        assert len(pick) == min(n, most)
        assert pick[0] == 0 and pick[-1] == n - 1
        assert np.all(np.diff(pick) > 0)
        gaps = np.diff(pick)
        if len(gaps):
            assert gaps.max() - gaps.min() <= 1  # evenly spaced to the nearest index


def test_the_fits_and_the_metrics_thin_alike():
    pick = evenly_spaced(4000, 1000)
    assert pick.dtype == torch.long
    np.testing.assert_array_equal(pick.numpy(), evenly_spaced_indices(4000, 1000))
