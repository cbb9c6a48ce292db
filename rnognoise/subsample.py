"""Evenly spaced subsets: how the fits and the metrics thin a set of events they measure on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["evenly_spaced", "evenly_spaced_indices"]


def evenly_spaced_indices(n: int, most: int) -> np.ndarray:
    """Indices of at most ``most`` of ``n`` items, evenly spaced from the first to the last
    (all of them when ``n <= most``).

    Parameters
    ----------
    n : int
        Number of items.
    most : int
        Largest number of indices returned.

    Returns
    -------
    numpy.ndarray
        ``(min(n, most),)`` increasing ``int64`` indices.
    """
    return np.linspace(0, n - 1, min(n, most)).round().astype(np.int64)


def evenly_spaced(n: int, most: int, device: torch.device | None = None) -> torch.Tensor:
    """:func:`evenly_spaced_indices` as a ``long`` tensor on ``device``."""
    import torch

    return torch.from_numpy(evenly_spaced_indices(n, most)).to(device)
