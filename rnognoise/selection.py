"""The validation score used to keep the best weights during training.

It is the validation suite's own score (:meth:`rnognoise.metrics.FidelityReport.score`
of :func:`rnognoise.metrics.compare` in quick mode) between held-out real traces and
generated traces, so that training selects by the same yardstick as the report:
every metric's excess over its real-vs-real reference, in units of its tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np

from .io import TraceSet

__all__ = ["validation_score"]


def validation_score(real: np.ndarray, generated: np.ndarray, sampling_rate: float,
                     *, seed: int = 0) -> float:
    """Scalar distance between ``real`` and ``generated`` traces ``(n, C, T)``; lower is better.

    Parameters
    ----------
    real, generated : numpy.ndarray
        Traces (any consistent units) of the same layout.
    sampling_rate : float
        Hz.
    seed : int
        Seed of the real-data split and resampling inside the comparison.
    """
    from .metrics import compare

    channels = np.arange(real.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small held-out sets warn by design
        report = compare(TraceSet(real, sampling_rate, channels),
                         TraceSet(generated, sampling_rate, channels), seed=seed, quick=True)
    score = float(report.score())
    return score if np.isfinite(score) else float("inf")
