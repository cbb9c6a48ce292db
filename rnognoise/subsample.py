"""Evenly spaced subsets: how the fits thin a set of events they measure on."""

from __future__ import annotations

import torch

__all__ = ["evenly_spaced"]


def evenly_spaced(n: int, most: int, device: torch.device | None = None) -> torch.Tensor:
    """Indices of at most ``most`` of ``n`` items, evenly spaced from the first to the last
    (all of them when ``n <= most``).

    Parameters
    ----------
    n : int
        Number of items.
    most : int
        Largest number of indices returned.
    device : torch.device, optional
        Device of the returned indices.

    Returns
    -------
    torch.Tensor
        ``(min(n, most),)`` increasing ``long`` indices.
    """
    return torch.linspace(0, n - 1, min(n, most), device=device).round().long()
