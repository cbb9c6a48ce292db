"""NaN/inf checks of trace arrays, shared by the readers of every format."""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataFileError

__all__ = ["all_finite", "raise_if_nonfinite"]


def all_finite(values: np.ndarray) -> bool:
    """One dot product: True proves that no sample is NaN/inf.

    The sum of squares is finite only when every sample is; False means a NaN/inf sample
    or an overflow of the sum, so it calls for an element-wise check
    (:func:`raise_if_nonfinite` does that).
    """
    flat = values.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.dot(flat, flat)))


def raise_if_nonfinite(path: str | os.PathLike[str], traces: np.ndarray) -> None:
    """Refuse traces that hold NaN/inf samples.

    Parameters
    ----------
    path : str or os.PathLike
        The file the traces come from, for the message.
    traces : numpy.ndarray
        Samples in volts.

    Raises
    ------
    DataFileError
        Naming the file and the number of NaN/inf samples.
    """
    if traces.size == 0 or all_finite(traces):
        return
    finite = np.isfinite(traces)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise DataFileError(path, f"contains {bad} NaN/inf samples")
