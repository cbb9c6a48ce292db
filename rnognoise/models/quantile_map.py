"""Piecewise-linear maps through per-column knots: the quantile maps of the general
parts (:mod:`~rnognoise.models.marginals`, :mod:`~rnognoise.models.transfer`), and the
tables of quantiles that the amplitudes of lines and pulses are drawn from
(:mod:`~rnognoise.models.lines`, :mod:`~rnognoise.models.impulses`)."""

from __future__ import annotations

import torch

__all__ = ["draw_from_quantiles", "piecewise_linear", "quantile_knots"]


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
    """Quantiles of ``values`` (1-D) at the probabilities ``linspace(0, 1, n_knots)``
    (float32): a table for :func:`draw_from_quantiles`, spanning the recorded range."""
    p = torch.linspace(0, 1, n_knots, dtype=torch.float64, device=values.device)
    return torch.quantile(values.double(), p).float()


def draw_from_quantiles(table: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Values at probabilities ``u`` from tables of quantiles at ``linspace(0, 1, K)``
    (linear between the knots: inverse-transform sampling of the recorded distribution,
    never beyond its recorded range).

    Parameters
    ----------
    table : torch.Tensor
        ``(..., K)``: one table per leading index.
    u : torch.Tensor
        Probabilities in [0, 1], ``(n, ...)`` with trailing dimensions ``table.shape[:-1]``
        (``(n,)`` for a single table).

    Returns
    -------
    torch.Tensor
        The shape of ``u``; differentiable in ``table``.
    """
    k = table.shape[-1]
    pos = u * (k - 1)
    lo = pos.detach().floor().long().clamp(0, k - 2)
    frac = pos - lo
    flat = table.reshape(-1)
    base = (torch.arange(flat.numel() // k, device=table.device) * k).reshape(table.shape[:-1])
    return flat[base + lo] * (1 - frac) + flat[base + lo + 1] * frac
