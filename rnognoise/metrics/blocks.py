"""Digitizer structure: spread of the 128-sample block means of the LAB4D digitizer."""

from __future__ import annotations

import numpy as np

from ._common import as_traces

__all__ = ["BLOCK_SIZE", "block_mean_spread"]

#: Samples per LAB4D block.
BLOCK_SIZE: int = 128


def block_mean_spread(traces: np.ndarray, sigma: np.ndarray, *,
                      block_size: int = BLOCK_SIZE) -> np.ndarray:
    """Per event and channel: std of the means of consecutive blocks, in units of ``sigma``.

    Per-block pedestal offsets of the digitizer raise this spread above the value of
    smooth noise (``1 / sqrt(block_size)`` for white noise).

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sigma : numpy.ndarray, V
        Per-channel scale (the real channel RMS).
    block_size : int
        Samples per block; trailing samples of an incomplete block are ignored.

    Returns
    -------
    numpy.ndarray
        ``(n_events, n_channels)``; NaN when a trace holds fewer than two blocks.
    """
    x = as_traces(traces)
    n_blocks = x.shape[-1] // block_size
    if n_blocks < 2:
        return np.full(x.shape[:2], np.nan)
    means = x[..., :n_blocks * block_size].reshape(*x.shape[:2], n_blocks, block_size
                                                     ).mean(-1, dtype=np.float64)
    return means.std(axis=-1, ddof=1) / np.asarray(sigma)[None, :]
