"""Amplitude distribution: histograms, 1-Wasserstein distance of sample values, moments."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._common import as_traces, bootstrap_weights, warn_small, wasserstein_sorted

__all__ = [
    "HIST_EDGES_SIGMA",
    "amplitude_histogram",
    "amplitude_wasserstein",
    "moment_differences",
    "moment_sums",
    "moments_from_sums",
]

#: Bin edges of the amplitude histograms, in units of the real channel RMS.
HIST_EDGES_SIGMA: np.ndarray = np.linspace(-10.0, 10.0, 81)


def amplitude_histogram(traces: np.ndarray, sigma: np.ndarray,
                        edges: np.ndarray = HIST_EDGES_SIGMA) -> np.ndarray:
    """Counts of sample values per channel in bins of ``edges`` x ``sigma``.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sigma : numpy.ndarray, V
        Per-channel scale (the real RMS).
    edges : numpy.ndarray
        Uniform bin edges in units of ``sigma``; values outside go to the outer bins.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_channels, len(edges) - 1)``.
    """
    traces = as_traces(traces)
    n_bins = len(edges) - 1
    width = (edges[-1] - edges[0]) / n_bins
    out = np.zeros((traces.shape[1], n_bins), np.int64)
    for c in range(traces.shape[1]):
        idx = np.floor((traces[:, c].ravel() / sigma[c] - edges[0]) / width)
        idx = np.clip(idx, 0, n_bins - 1).astype(np.int64)
        out[c] = np.bincount(idx, minlength=n_bins)
    return out


def amplitude_wasserstein(values_a: np.ndarray, values_x: np.ndarray, sigma: float, *,
                          events_a: np.ndarray | None = None,
                          events_x: np.ndarray | None = None, max_values: int = 50_000,
                          n_parts: int = 5, rng: np.random.Generator) -> tuple[float, float]:
    """1-Wasserstein distance of the sample values of one channel, in units of ``sigma``.

    Uses ``scipy.stats.wasserstein_distance`` on at most ``max_values`` randomly chosen
    values of each set. The uncertainty is the spread of the distance over ``n_parts``
    disjoint parts of those values, scaled by ``sqrt(1 / n_parts)`` to the full subsample.
    With the events the values come from (``events_a``, ``events_x``), each part holds
    whole events (event ``e`` in part ``e mod n_parts``): the values of one trace share its
    offset and gain, and parts of values drawn across all events hid that event-to-event
    scatter (on the 40 held-out real station-24 events of ``bench/generality.py``, whose
    trace offsets spread by half the RMS, the error of the baseline's distance came out
    0.0054 against 0.039 with whole events in each part; on 40 traces with offsets of
    half the RMS, 0.008 against an actual scatter of 0.072; `tests/test_metrics_amplitude.py`).

    Parameters
    ----------
    values_a, values_x : numpy.ndarray, V
        Sample values of the two sets (any shape; flattened).
    sigma : float, V
        Scale (the real channel RMS).
    events_a, events_x : numpy.ndarray, optional
        The event (any integer label) of each value, in the same order.
    """
    a = np.asarray(values_a).ravel()
    x = np.asarray(values_x).ravel()
    ea = None if events_a is None else np.asarray(events_a).ravel()
    ex = None if events_x is None else np.asarray(events_x).ravel()
    if a.size > max_values:
        pick = rng.integers(0, a.size, max_values)
        a, ea = a[pick], None if ea is None else ea[pick]
    if x.size > max_values:
        pick = rng.integers(0, x.size, max_values)
        x, ex = x[pick], None if ex is None else ex[pick]
    value = float(stats.wasserstein_distance(a, x)) / sigma
    by_event = (ea is not None and ex is not None and np.unique(ea).size >= n_parts
                and np.unique(ex).size >= n_parts)
    if by_event:
        parts_a = [a[ea % n_parts == k] for k in range(n_parts)]
        parts_x = [x[ex % n_parts == k] for k in range(n_parts)]
    else:
        parts_a, parts_x = np.array_split(a, n_parts), np.array_split(x, n_parts)
    parts = [wasserstein_sorted(np.sort(pa), np.sort(px)) / sigma
             for pa, px in zip(parts_a, parts_x, strict=True) if pa.size and px.size]
    return value, float(np.std(parts, ddof=1) / np.sqrt(len(parts)))


def moment_sums(traces: np.ndarray) -> np.ndarray:
    """Per-event power sums ``sum x^k`` for ``k = 1..4``: ``(n_events, n_channels, 4)``."""
    x = as_traces(traces).astype(np.float64)
    x2 = x * x
    return np.stack([x.sum(-1), x2.sum(-1), (x2 * x).sum(-1), (x2 * x2).sum(-1)], axis=-1)


def moments_from_sums(sums: np.ndarray, n_samples: int) -> dict[str, np.ndarray]:
    """RMS (V), skewness and excess kurtosis from summed power sums.

    Parameters
    ----------
    sums : numpy.ndarray
        ``(..., 4)`` power sums over ``n_samples`` values (e.g. ``moment_sums(t).sum(0)``
        with ``n_samples = n_events * n_samples_per_trace``).
    """
    m1, m2, m3, m4 = (sums[..., k] / n_samples for k in range(4))
    var = np.maximum(m2 - m1 ** 2, np.finfo(float).tiny)
    c3 = m3 - 3 * m1 * m2 + 2 * m1 ** 3
    c4 = m4 - 4 * m1 * m3 + 6 * m1 ** 2 * m2 - 3 * m1 ** 4
    return {"rms": np.sqrt(m2), "skewness": c3 / var ** 1.5, "kurtosis": c4 / var ** 2 - 3.0}


def moment_differences(sums_a: np.ndarray, sums_x: np.ndarray, n_samples: int, *,
                       n_boot: int = 30, seed: int = 0,
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel moment differences with bootstrap (over events) uncertainties.

    Parameters
    ----------
    sums_a, sums_x : numpy.ndarray
        Per-event power sums ``(n_events, n_channels, 4)`` from :func:`moment_sums`.
    n_samples : int
        Samples per trace.

    Returns
    -------
    dict
        ``"rms_rel_diff"`` ``|rms_x / rms_a - 1|``, ``"skewness_diff"`` and
        ``"kurtosis_diff"`` (absolute differences); each ``(values, uncertainties)``.
    """
    warn_small(min(len(sums_a), len(sums_x)), 20, "moments")

    def stat(ma: dict[str, np.ndarray], mx: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([np.abs(mx["rms"] / ma["rms"] - 1.0),
                         np.abs(mx["skewness"] - ma["skewness"]),
                         np.abs(mx["kurtosis"] - ma["kurtosis"])])

    ma = moments_from_sums(sums_a.mean(0), n_samples)
    mx = moments_from_sums(sums_x.mean(0), n_samples)
    values = stat(ma, mx)
    rng = np.random.default_rng(seed)
    shape = sums_a.shape[1:]
    ba = (bootstrap_weights(len(sums_a), n_boot, rng) @ sums_a.reshape(len(sums_a), -1)
          ).reshape((n_boot, *shape))
    bx = (bootstrap_weights(len(sums_x), n_boot, rng) @ sums_x.reshape(len(sums_x), -1)
          ).reshape((n_boot, *shape))
    reps = stat(moments_from_sums(ba, n_samples), moments_from_sums(bx, n_samples))
    errors = reps.std(axis=1, ddof=1)
    names = ("rms_rel_diff", "skewness_diff", "kurtosis_diff")
    return {name: (values[i], errors[i]) for i, name in enumerate(names)}
