"""Piecewise-linear maps through per-column knots: the quantile maps of the general
parts (:mod:`~rnognoise.models.marginals`, :mod:`~rnognoise.models.transfer`), and the
quantile tables that named parts draw amplitudes from (:mod:`~rnognoise.models.impulses`,
:mod:`~rnognoise.models.lines`)."""

from __future__ import annotations

import torch

__all__ = ["piecewise_linear", "quantile_knots", "quantile_table_draw"]


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


def quantile_knots(values: torch.Tensor, n_knots: int) -> torch.Tensor:
    """Quantiles of ``values`` (1-d) at the probabilities ``linspace(0, 1, n_knots)``
    (smallest and largest value included), float32."""
    p = torch.linspace(0, 1, n_knots, dtype=torch.float64, device=values.device)
    return torch.quantile(values.double(), p).float()


def quantile_table_draw(table: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Values at probabilities ``u`` from quantile tables at ``linspace(0, 1, K)``.

    Linear interpolation between the knots: the empirical distribution, bounded by the
    smallest and largest recorded value (no tail beyond what was seen).

    Parameters
    ----------
    table : torch.Tensor
        ``(K,)`` or ``(..., K)`` knots, one table per trailing position of ``u``.
    u : torch.Tensor
        Uniform numbers in [0, 1), ``(n,)`` for one table or ``(n, ...)`` matching
        ``table.shape[:-1]``.

    Returns
    -------
    torch.Tensor
        Same shape as ``u``.
    """
    k = table.shape[-1]
    pos = u * (k - 1)
    lo = pos.floor().long().clamp(0, k - 2)
    frac = pos - lo
    if table.dim() == 1:
        return table[lo] * (1 - frac) + table[lo + 1] * frac
    rows = table.expand(*u.shape[:1], *table.shape)                 # (n, ..., K)
    at = rows.gather(-1, lo[..., None])[..., 0]
    nxt = rows.gather(-1, (lo + 1)[..., None])[..., 0]
    return at * (1 - frac) + nxt * frac
