"""The shape of each event's amplitude distribution: a monotone transfer curve per channel
(a general part).

Gaussian noise, however shaped in frequency and modulated in time, has a symmetric
distribution of sample values. Recorded traces need not: a slightly non-linear amplifier
or digitizer bends the transfer from input to output volts, and RNO-G traces show it
(the public station-24 forced triggers: per-event skewness 0.10 in the median, positive in
90 % of events; the 60 pulse-free traces of the public station-21 run: -0.16 to 0.37,
median 0.09). No list of components makes that; this part learns it from the data,
whatever its shape, and stays inert when the data's events are as symmetric and as
heavy-tailed as the model's.

Method
------
1. **Normalise.** Each trace (event and channel) of data and model has its own mean
   removed and is divided by its own RMS, ``u = (x - m) / r``: what remains is the shape
   of the amplitude distribution, not the trace's offset or power (those belong to the
   offsets and the envelope and are left as they are).
2. **Test.** Per channel, the per-event skewness and excess kurtosis of ``u`` of the data
   and of the model's samples are compared by a two-sided Mann-Whitney U test (rank
   based: the few events with a pulse, whose kurtosis is large, do not dominate it). The
   part is active when the smallest p-value, times the number of tests ``2 C``
   (Bonferroni), is below ``alpha``.
3. **Map.** Per channel, each trace's quantiles of ``u`` at ``n_knots`` probabilities
   equally spaced in normal score up to ``max_score`` (fewer for short traces: one value
   per trace lies beyond the outermost knot on average), and their median over events,
   give the typical trace's quantiles of data and model. The median, not the pooled
   values: where only some events are heavy-tailed (a burst in time, which the envelope
   and the transients describe), the typical trace is not, and the map does not make
   every event so. The map from the model's quantiles to the data's is the quantile
   transform ``F_data^-1(F_model(u))`` of the typical trace, tabulated on a uniform grid
   of ``n_cells`` cells for a fast lookup. Beyond the outermost knots the map has slope 1
   (it shifts, but does not scale, the tails: pulses keep the amplitudes the model gives
   them).
   With the part active, the trace means (offsets) get their own quantile map, model to
   data, at up to 17 knots (a quarter of the events at most) equally spaced in normal
   score, two means beyond the outermost (slope 1 there): real traces' offsets need
   not be Gaussian (station 24: skewness -1.0), and without it the pooled sample values
   keep the traces' skew where the data's offsets cancel it.
4. **Range** (fitted before the map of step 3, applied before it). A compressing
   amplifier acts on volts, not on each trace's normalised values: it bounds every
   event at the same level, however loud the event, and compresses loud events more.
   The pooled sample values of each channel (all events together, each trace's mean
   removed: the offsets have their own map) of the data and of the model are compared
   at ``n_range_knots`` quantiles equally spaced in normal score out to where about
   ``20 n_groups`` of the data's values lie beyond; each quantile's standard error from
   ``n_groups`` groups of events. Where the model's tail reaches farther than the
   data's by more than ``range_sigmas`` standard errors and 5 % (a bound the model does
   not have), the pooled quantile map, model to data, is applied first and the trace
   map is fitted after it; its outermost knots take the model's most extreme samples to
   the data's, with the end segments' slopes (at most 1) beyond. Data with a tail as
   heavy as the model's leave it off.
5. **Apply.** ``x <- map_offset(m) + r * map(u)`` for every trace, as
   ``x + r * (map(u) - u) + map_offset(m) - m`` with the shift interpolated between the
   grid points (two gathers per sample). The map is deterministic and draws nothing.

References
----------
H. B. Mann, D. R. Whitney, "On a test of whether one of two random variables is
stochastically larger than the other", Ann. Math. Stat. 18 (1947) 50.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import mannwhitneyu, norm
from torch import nn

from .quantile_map import piecewise_linear

__all__ = ["TransferCurve"]


def _shape_moments(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-trace skewness and excess kurtosis ``(n, C)`` of ``x`` ``(n, C, T)``."""
    u = x.double()
    u = u - u.mean(-1, keepdim=True)
    var = u.square().mean(-1).clamp_min(1e-300)
    skew = u.pow(3).mean(-1) / var.pow(1.5)
    kurt = u.pow(4).mean(-1) / var.square() - 3.0
    return skew.cpu().numpy(), kurt.cpu().numpy()


def _normalised(x: torch.Tensor) -> torch.Tensor:
    """``(x - m) / r`` per trace, float64."""
    u = x.double()
    u = u - u.mean(-1, keepdim=True)
    return u / u.square().mean(-1, keepdim=True).clamp_min(1e-300).sqrt()


def _lookup(table: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Each channel's row of ``table`` ``(C, G + 1)``, tabulated on a uniform grid,
    interpolated linearly at grid coordinates ``where`` ``(n, C, T)`` in ``[0, G]``.
    Without autograd ``where`` is worked in place (it is the scratch space of the hot
    sampling path)."""
    c, points = table.shape
    cell = where.detach().to(torch.int32).clamp_(max=points - 2)
    grad = torch.is_grad_enabled() and where.requires_grad
    frac = where - cell if grad else where.sub_(cell)
    cell.add_((torch.arange(c, device=where.device, dtype=torch.int32) * points)[:, None])
    index = cell.reshape(-1)
    flat = table.reshape(-1)
    low = torch.index_select(flat, 0, index).view(where.shape)
    high = torch.index_select(flat, 0, index.add_(1)).view(where.shape)
    return low + (high - low) * frac if grad else high.sub_(low).mul_(frac).add_(low)


class TransferCurve(nn.Module):
    """Monotone map of each trace's normalised sample values, per channel.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    n_knots : int
        Quantiles the map is fitted at.
    n_cells : int
        Cells of the uniform grid the map is tabulated on.
    max_score : float
        Outermost knot, in normal score (standard deviations of a Gaussian).
    alpha : float
        Family-wise false-detection rate of the test over ``2 C`` tests.
    """

    #: Largest number of knots of the trace means' map.
    n_offset_knots: int = 17

    #: Bytes of events mapped at a time on the CPU without autograd (each slice while it
    #: is in the cache).
    slice_bytes: int = 1 << 20

    #: Knots of the pooled range map, equally spaced in normal score.
    n_range_knots: int = 33
    #: Groups of events the pooled quantiles' standard errors come from.
    n_groups: int = 8
    #: Standard errors by which the model's tail must pass the data's for the range map.
    range_sigmas: float = 6.0
    #: Cells of the uniform grid the range map is tabulated on.
    range_cells: int = 1024

    def __init__(self, n_channels: int, n_samples: int, n_knots: int = 49, n_cells: int = 256,
                 max_score: float = 4.0, alpha: float = 1e-3) -> None:
        super().__init__()
        if n_knots < 3 or n_cells < 2:
            raise ValueError("n_knots must be at least 3 and n_cells at least 2")
        self.n_channels = n_channels
        self.n_samples = n_samples
        self.n_knots = n_knots
        self.n_cells = n_cells
        self.max_score = max_score
        self.alpha = alpha
        self.register_buffer("active", torch.zeros(()))
        self.register_buffer("lower", torch.zeros(n_channels))         # first grid point
        self.register_buffer("inverse_step", torch.ones(n_channels))   # 1 / cell width
        # map(u) - u at the n_cells + 1 grid points (constant beyond the ends)
        self.register_buffer("shift", torch.zeros(n_channels, n_cells + 1))
        # the trace means' quantile map: the first ``n_offset`` knots of model and data
        self.register_buffer("n_offset", torch.zeros((), dtype=torch.long))
        self.register_buffer("offset_model", torch.zeros(n_channels, self.n_offset_knots))
        self.register_buffer("offset_data", torch.zeros(n_channels, self.n_offset_knots))
        # the pooled range map (none when range_on is 0): its values at the
        # range_cells + 1 points of a uniform grid between the model's extremes, and the
        # slopes beyond the lower and upper extreme
        self.register_buffer("range_on", torch.zeros(()))
        self.register_buffer("range_lower", torch.zeros(n_channels))
        self.register_buffer("range_inverse_step", torch.ones(n_channels))
        self.register_buffer("range_table", torch.zeros(n_channels, self.range_cells + 1))
        self.register_buffer("range_slopes", torch.ones(n_channels, 2))

    @property
    def is_active(self) -> bool:
        """Whether the map is applied."""
        return bool(self.active > 0)

    # -- fitting -------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, data: torch.Tensor, model: torch.Tensor, *, seed: int = 0
            ) -> dict[str, float]:
        """Test whether the data's amplitude distributions differ from the model's and,
        if they do, fit the map.

        Parameters
        ----------
        data : torch.Tensor
            ``(n, C, T)`` training traces.
        model : torch.Tensor
            ``(m, C, T)`` traces of the current model without this part.
        seed : int
            Unused (the fit is deterministic); part of the common interface.

        Returns
        -------
        dict
            ``p_value`` (smallest, Bonferroni-adjusted), ``n_tests``, the largest
            difference of the channels' median per-event skewness (``skewness_shift``)
            and excess kurtosis (``kurtosis_shift``), data minus model, and ``max_shift``
            (largest move of a knot, in units of the trace RMS; 0 when inactive);
            ``range_excess`` (the largest excess of the model's pooled tail over the
            data's, in standard errors) and ``range`` (whether the range map is on).
        """
        del seed
        shape = (self.n_channels, self.n_samples)
        for name, x in (("data", data), ("model", model)):
            if x.ndim != 3 or tuple(x.shape[1:]) != shape or x.shape[0] < 2:
                raise ValueError(f"{name} must be (n >= 2, {shape[0]}, {shape[1]})")
        self.active.zero_()
        self.lower.zero_()
        self.inverse_step.fill_(1.0)
        self.shift.zero_()
        self.n_offset.zero_()
        self.range_on.zero_()
        sd, kd = _shape_moments(data)
        sm, km = _shape_moments(model)
        p = np.concatenate([mannwhitneyu(sd, sm, axis=0).pvalue,
                            mannwhitneyu(kd, km, axis=0).pvalue])
        p_adjusted = float(min(1.0, np.nanmin(p) * p.size)) if np.isfinite(p).any() else 1.0
        skew_shift = np.median(sd, 0) - np.median(sm, 0)
        kurt_shift = np.median(kd, 0) - np.median(km, 0)
        info = {"p_value": p_adjusted, "n_tests": int(p.size),
                "skewness_shift": float(skew_shift[np.argmax(np.abs(skew_shift))]),
                "kurtosis_shift": float(kurt_shift[np.argmax(np.abs(kurt_shift))]),
                "max_shift": 0.0}
        if p_adjusted >= self.alpha:
            return info
        # the range first: a memoryless compression is a pooled map, and the loud events
        # it compresses more keep their own shape; the trace map takes what is left
        info.update(self._fit_range(data, model))
        model = self._mapped_range(model.detach())
        top = min(self.max_score, float(norm.isf(1.0 / self.n_samples)))
        prob = norm.cdf(np.linspace(-top, top, self.n_knots))
        qd = self._quantiles(data, prob)
        qm = self._quantiles(model, prob)
        qm = np.maximum.accumulate(qm, axis=1) + 1e-9 * np.arange(self.n_knots)
        self._tabulate(qm, qd)
        self._fit_offsets(data, model)
        self.active.fill_(1.0)
        info["max_shift"] = float(np.abs(qd - qm).max())
        return info

    def _fit_range(self, data: torch.Tensor, model: torch.Tensor) -> dict[str, Any]:
        """The pooled range map (step 4 of the module docstring), from the data and the
        model without this part; on only where the model's tail passes the data's."""
        n, t = data.shape[0], data.shape[-1]
        # around each trace's mean: the offsets have their own map
        data = data - data.mean(-1, keepdim=True)
        model = model - model.mean(-1, keepdim=True)
        groups = min(self.n_groups, n // 2, model.shape[0] // 2)
        if groups < 2:
            return {"range": False, "range_excess": 0.0}
        top = float(norm.isf(min(0.25, 20.0 * groups / (n * t))))
        prob = norm.cdf(np.linspace(-top, top, self.n_range_knots))

        def pooled(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
            """Pooled quantiles ``(C, K)`` and their standard errors from the groups (one
            channel at a time: no copy of the whole set)."""
            whole, spread = [], []
            for c in range(x.shape[1]):
                values = x[:, c].detach().cpu().numpy()
                whole.append(np.quantile(values, prob))
                parts = [np.quantile(g, prob) for g in np.array_split(values, groups)]
                spread.append(np.std(parts, axis=0, ddof=1) / math.sqrt(groups))
            return np.asarray(whole), np.asarray(spread)

        qd, ed = pooled(data)
        qm, em = pooled(model)
        error = np.hypot(ed, em)
        beyond = np.abs(qm) - np.abs(qd)                  # > 0: the model's reaches farther
        tails = np.abs(np.linspace(-top, top, self.n_range_knots)) >= 2.0
        sigmas = np.where(tails, beyond / np.maximum(error, 1e-12), 0.0)
        significant = tails & (beyond > self.range_sigmas * error) & (beyond > 0.05 * np.abs(qd))
        info = {"range": bool(significant.any()), "range_excess": float(sigmas.max())}
        if not significant.any():
            return info
        # the recorded extremes: the model's most extreme samples go to the data's
        lo_m = model.detach().amin((0, 2)).double().cpu().numpy()
        hi_m = model.detach().amax((0, 2)).double().cpu().numpy()
        lo_d = data.detach().amin((0, 2)).double().cpu().numpy()
        hi_d = data.detach().amax((0, 2)).double().cpu().numpy()
        qm = np.concatenate([np.minimum(lo_m, qm[:, 0] - 1e-6)[:, None], qm,
                             np.maximum(hi_m, qm[:, -1] + 1e-6)[:, None]], 1)
        qd = np.concatenate([np.minimum(lo_d, qd[:, 0])[:, None], qd,
                             np.maximum(hi_d, qd[:, -1])[:, None]], 1)
        qm = np.maximum.accumulate(qm, axis=1) + 1e-9 * np.arange(qm.shape[1])
        # beyond them: the end segments' slopes, at most 1
        lo_slope = np.minimum((qd[:, 1] - qd[:, 0]) / (qm[:, 1] - qm[:, 0]), 1.0)
        hi_slope = np.minimum((qd[:, -1] - qd[:, -2]) / (qm[:, -1] - qm[:, -2]), 1.0)
        # tabulated on a uniform grid between the extremes, for a lookup per sample
        g = self.range_cells
        step = (qm[:, -1] - qm[:, 0]) / g
        table = np.stack([np.interp(qm[c, 0] + step[c] * np.arange(g + 1), qm[c], qd[c])
                          for c in range(self.n_channels)])
        self.range_lower.copy_(torch.from_numpy(qm[:, 0]))
        self.range_inverse_step.copy_(torch.from_numpy(1.0 / step))
        self.range_table.copy_(torch.from_numpy(table))
        self.range_slopes.copy_(torch.from_numpy(np.stack([lo_slope, hi_slope], 1)))
        self.range_on.fill_(1.0)
        return info

    def _fit_offsets(self, data: torch.Tensor, model: torch.Tensor) -> None:
        """The quantile map of the trace means, per channel, at ``min(n_offset_knots,
        n // 4)`` knots (at least 3) equally spaced in normal score, the outermost with two
        of the ``n`` means beyond it."""
        n = min(len(data), len(model))
        k = max(3, min(self.n_offset_knots, n // 4))
        # equally spaced in normal score out to where two means lie beyond the last knot
        prob = norm.cdf(np.linspace(-1, 1, k) * float(norm.isf(2.0 / max(n, 4))))
        md = data.double().mean(-1).cpu().numpy()
        mm = model.double().mean(-1).cpu().numpy()
        qd = np.quantile(md, prob, axis=0).T                            # (C, k)
        qm = np.quantile(mm, prob, axis=0).T
        qm = np.maximum.accumulate(qm, axis=1) + 1e-9 * np.arange(k)
        self.offset_model.zero_()
        self.offset_data.zero_()
        self.offset_model[:, :k] = torch.from_numpy(qm)
        self.offset_data[:, :k] = torch.from_numpy(qd)
        self.n_offset.fill_(k)

    @staticmethod
    def _quantiles(x: torch.Tensor, prob: np.ndarray, chunk: int = 256) -> np.ndarray:
        """The typical trace's quantiles ``(C, K)``: per channel, the median over events
        of each trace's quantiles of its normalised values at ``prob`` (the median event,
        not the pooled values: what only some events carry, a burst in time, does not
        become every event's shape)."""
        n, t = x.shape[0], x.shape[-1]
        position = torch.as_tensor(prob * (t - 1), dtype=torch.float64)
        low = position.floor().long().clamp(0, t - 1)
        high = (low + 1).clamp(max=t - 1)
        frac = position - low
        parts = []
        for a in range(0, n, chunk):
            u = _normalised(x[a:a + chunk]).sort(-1).values.cpu()      # (m, C, T)
            parts.append(u[..., low] * (1 - frac) + u[..., high] * frac)
        return torch.cat(parts).median(0).values.numpy()              # (C, K)

    def _tabulate(self, model_knots: np.ndarray, data_knots: np.ndarray) -> None:
        """The piecewise-linear map through ``(model_knots, data_knots)`` ``(C, K)`` as its
        shift ``map(u) - u`` at the ``n_cells + 1`` points of a uniform grid, interpolated
        linearly in between (continuous: the map agrees exactly with the knots' map
        wherever they share a point and differs by far less than the quantiles' own
        scatter elsewhere), constant outside."""
        g = self.n_cells
        shift = np.zeros((self.n_channels, g + 1))
        lower = model_knots[:, 0]
        step = (model_knots[:, -1] - lower) / g
        for ch in range(self.n_channels):
            grid = lower[ch] + step[ch] * np.arange(g + 1)
            shift[ch] = np.interp(grid, model_knots[ch], data_knots[ch]) - grid
        self.lower.copy_(torch.from_numpy(lower))
        self.inverse_step.copy_(torch.from_numpy(1.0 / step))
        self.shift.copy_(torch.from_numpy(shift))

    # -- sampling ------------------------------------------------------------------
    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Map the normalised sample values of every trace of ``x`` ``(n, C, T)``.

        Parameters
        ----------
        x : torch.Tensor
            Model traces.
        generator : torch.Generator
            Unused: the map is deterministic and draws nothing.

        Returns
        -------
        torch.Tensor
            The mapped traces; ``x`` itself when inactive. Worked in place, a slice of
            events at a time, when gradients are off or ``x`` does not require them.
        """
        del generator
        if not self.is_active:
            return x
        if torch.is_grad_enabled() and x.requires_grad:
            return self._map(x)
        n, c, t = x.shape
        step = max(1, self.slice_bytes // (c * t * x.element_size())) \
            if x.device.type == "cpu" else n
        for a in range(0, n, step):
            self._map(x[a:a + step])                  # in place
        return x

    def _map(self, x: torch.Tensor) -> torch.Tensor:
        """The range map, then ``x + r * shift((x - m) / r)`` per trace: ``m + r *
        map((x - m) / r)``."""
        if torch.is_grad_enabled() and x.requires_grad:
            x = self._mapped_range(x)
        elif bool(self.range_on > 0):
            x.copy_(self._mapped_range(x))
        mean = x.mean(-1, keepdim=True)
        rms = (x.square().mean(-1, keepdim=True) - mean.square()).clamp_min(1e-30).sqrt()
        with torch.no_grad():
            # grid coordinate of (x - m) / r, clamped to the grid (non-negative, so the
            # conversion to an integer is the floor); the cell's first point, offset to
            # the channel's row of the table, and the fraction of the way to the next
            inverse = self.inverse_step.to(x)[:, None]
            first = -(mean / rms + self.lower.to(x)[:, None]) * inverse
            where = torch.addcmul(first, x.detach(), inverse / rms).clamp_(0, self.n_cells)
            shift = _lookup(self.shift.to(x), where)
        moved = self._mapped_means(mean.detach()) - mean.detach()               # (n, C, 1)
        if torch.is_grad_enabled() and x.requires_grad:
            return x + rms * shift + moved
        return x.add_(shift.mul_(rms).add_(moved))

    def _mapped_range(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(n, C, T)`` through each channel's pooled range map (step 4), around
        each trace's mean; ``x`` itself without one."""
        if not bool(self.range_on > 0):
            return x
        g = self.range_cells
        mean = x.mean(-1, keepdim=True)
        inverse = self.range_inverse_step.to(x)[:, None]
        # grid coordinate of each sample around its trace's mean, and how far beyond the
        # grid's ends it lies (in cells)
        where = (x - mean - self.range_lower.to(x)[:, None]) * inverse
        below = where.clamp(max=0.0)
        above = (where - g).clamp(min=0.0)
        mapped = _lookup(self.range_table.to(x), where.clamp(0.0, float(g)))
        slopes = self.range_slopes.to(x)
        beyond = (below * slopes[:, :1] + above * slopes[:, 1:]) / inverse
        return mapped + beyond + mean

    def _mapped_means(self, mean: torch.Tensor) -> torch.Tensor:
        """The trace means ``(n, C, 1)`` through the offsets' quantile map (piecewise
        linear, slope 1 beyond the outermost knots); unchanged without one."""
        k = int(self.n_offset)
        if k < 2:
            return mean
        xk = self.offset_model[:, :k].to(mean).contiguous()                    # (C, k)
        yk = self.offset_data[:, :k].to(mean).contiguous()
        return piecewise_linear(mean[..., 0], xk, yk, unit_slope_outside=True)[..., None]
