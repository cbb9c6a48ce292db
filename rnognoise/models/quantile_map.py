"""Piecewise-linear maps through per-column knots: the quantile maps of the general
parts (:mod:`~rnognoise.models.marginals`, :mod:`~rnognoise.models.transfer`)."""

from __future__ import annotations

import torch

__all__ = ["piecewise_linear"]


def piecewise_linear(v: torch.Tensor, xk: torch.Tensor, yk: torch.Tensor, *,
                     unit_slope_outside: bool = False) -> torch.Tensor:
    """Map ``v`` ``(n, B)`` through the knots ``xk -> yk`` ``(B, K)`` of each column.

    Parameters
    ----------
    v : torch.Tensor
        Values, one column per map.
    xk, yk : torch.Tensor
        Knots per map, ``xk`` increasing along its rows.
    unit_slope_outside : bool
        Outside the knots, continue with slope 1 (a shift) rather than with the end
        segments' slopes.

    Returns
    -------
    torch.Tensor
        ``(n, B)``.
    """
    k = xk.shape[1]
    vt = v.t().contiguous()                                   # (B, n)
    i = torch.searchsorted(xk, vt.detach()).clamp(1, k - 1)
    x0, x1 = xk.gather(1, i - 1), xk.gather(1, i)
    y0, y1 = yk.gather(1, i - 1), yk.gather(1, i)
    out = y0 + (y1 - y0) / (x1 - x0).clamp_min(1e-30) * (vt - x0)
    if unit_slope_outside:
        out = torch.where(vt < xk[:, :1], vt - xk[:, :1] + yk[:, :1], out)
        out = torch.where(vt > xk[:, -1:], vt - xk[:, -1:] + yk[:, -1:], out)
    return out.t()
