"""Heavy-tailed innovations: the sample values of a linear chain driven by impulsive noise.

Noise that enters before the signal chain need not be Gaussian: many small discharges
(wind-driven static on the antennas), switching transients or any impulsive source make
white innovations with heavy tails, which the chain's filter then colours. The spectrum is
the chain's, as for Gaussian noise; the sample values are heavier-tailed, and each event's
band powers scatter more (a few large innovations carry a visible share of an event's
power), with a floor set by the many small ones.

The model draws the background's Fourier coefficients from white innovations
``w = z a(u)`` (``z``, ``u`` standard normal, ``u`` clamped; unit mean power) instead of
Gaussian numbers (:meth:`SpectralSampler.normals
<rnognoise.models.spectral.SpectralSampler.normals>`): the same spectrum and
cross-spectrum, an amplitude law ``a`` per channel with two parameters
(:func:`~rnognoise.models.spectral.innovation_factor`): a log-normal spread ``s`` (many
moderate discharges) and a power-law tail (a few large ones; Student-t innovations have
one). This module fits both, from the data's kurtosis at two time scales: the same
short-scale kurtosis comes from a log-normal law or from a milder one with a power-law
tail, and the long-scale kurtosis tells them apart (filtered Student-t(3) innovations:
short-window kurtosis 2.75 for both, 256-sample windows 5.7 against 4.8 for the
log-normal, per-event kurtosis 5.7 against 2.5 in the median).

The same excess kurtosis can come from after the chain instead, a random amplitude per
sample of the digitizer (:class:`~rnognoise.models.digitizer.SampleProfile`): that spreads
power over every frequency, while innovations before the chain keep it within the
passband. :func:`fit_innovation_law` fits both to the data's kurtosis in short windows
and keeps, per channel, the one whose kurtosis after whitening by the background's
spectrum (which undoes the chain) is closer to the data's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from .spectral import (
    MAX_INNOVATION_SPREAD,
    MAX_INNOVATION_TAIL,
    chain_passband,
    innovation_factor,
    white_to_normals,
)

if TYPE_CHECKING:
    from .spectral import SpectralSampler

__all__ = ["SHORT_WINDOW", "fit_innovation_law", "long_window", "solve_increasing", "whitened",
           "windowed_kurtosis"]


#: Samples per window of the short-scale kurtosis (:func:`windowed_kurtosis`).
SHORT_WINDOW: int = 16


def long_window(n_samples: int) -> int:
    """Samples per window of the long-scale kurtosis for traces of ``n_samples``: an
    eighth of the trace, at least 4 short windows (0, no long scale, for traces shorter
    than 512 samples)."""
    window = n_samples // 8
    return window if window >= 4 * SHORT_WINDOW else 0


def windowed_kurtosis(x: torch.Tensor, window: int = SHORT_WINDOW) -> torch.Tensor:
    """Kurtosis per channel ``(C,)`` of traces ``(n, C, T)`` cut into ``window``-sample
    pieces, each with its mean removed and normalised to unit power: every change of power
    slower than the window is removed, what is left is the short-scale amplitude law."""
    n, c, t = x.shape
    t = t // window * window
    y = x[..., :t].double().reshape(n, c, -1, window)
    y = y - y.mean(-1, keepdim=True)
    y = y / y.pow(2).mean(-1, keepdim=True).clamp_min(1e-30).sqrt()
    return y.pow(4).mean((0, 2, 3))


def solve_increasing(function: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor,
                     upper: float, steps: int) -> torch.Tensor:
    """Per channel, the ``s`` in ``[0, upper]`` where ``function(s)`` ``(C,) -> (C,)``,
    increasing in each channel's ``s``, reaches ``target`` ``(C,)`` (bisection, ``steps``
    halvings; ``upper`` where it is never reached)."""
    lo = torch.zeros_like(target, dtype=torch.float64)
    hi = torch.full_like(lo, upper)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        below = function(mid) < target
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


def whitened(x: torch.Tensor, power: torch.Tensor) -> torch.Tensor:
    """Traces ``(n, C, T)`` divided, bin by bin, by the amplitude of the spectrum ``power``
    ``(C, F)``, within each channel's passband (:func:`~rnognoise.models.spectral.
    chain_passband`; the other bins set to 0)."""
    spec = torch.fft.rfft(x.double(), dim=-1)
    p = power.double()
    weight = torch.where(chain_passband(p), p.clamp_min(1e-300).rsqrt(), torch.zeros_like(p))
    return torch.fft.irfft(spec * weight, n=x.shape[-1], dim=-1)


def fit_innovation_law(data: torch.Tensor, sampler: SpectralSampler,
                       post_spread: torch.Tensor, n_events: int = 256,
                       seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Amplitude law per channel of the background's innovations (a log-normal spread
    and a power-law tail, :func:`~rnognoise.models.spectral.innovation_factor`), or none
    where a random amplitude per sample after the chain explains the data better.

    Parameters
    ----------
    data : torch.Tensor
        Offset-free traces ``(n, C, T)``, normalised as the background was fitted.
    sampler : SpectralSampler
        The fitted background (its innovation law is left as it was).
    post_spread : torch.Tensor
        ``(C,)`` the spread of the per-sample amplitude after the chain fitted to the
        same data (:meth:`SampleProfile.fit_spread
        <rnognoise.models.digitizer.SampleProfile.fit_spread>`): 0 where the data's short-
        scale kurtosis is not significantly above Gaussian noise's, and then 0 here too.
    n_events, seed : int
        Reference events of the model and their random numbers (a bounded cost).

    Returns
    -------
    spread, tail : torch.Tensor
        ``(C,)`` each; 0 where ``post_spread`` is 0. Elsewhere two statistics of the
        data, both relative to Gaussian innovations and matched on fixed random numbers,
        set the law: the kurtosis in short windows (:data:`SHORT_WINDOW` samples,
        :func:`windowed_kurtosis`) the spread for a given tail, and the kurtosis in long
        windows (:func:`long_window`), which the rare large innovations of a power-law
        tail raise more than a log-normal's many moderate ones, the tail (the smallest
        in ``[0, MAX_INNOVATION_TAIL]`` that reaches it; 0 where the log-normal alone
        does). The law is kept where, after whitening by the background's spectrum
        (:func:`whitened`), the data's short-window kurtosis is closer (in log) to that
        model's than to the after-the-chain model's; else both are 0.
    """
    c = post_spread.shape[0]
    none = torch.zeros(c, dtype=torch.float32, device=post_spread.device)
    candidates = post_spread > 0
    if not bool(candidates.any()):
        return none, none.clone()
    gen = torch.Generator(device=data.device).manual_seed(seed)
    t = sampler.n_samples
    shape = (min(n_events, max(len(data), 16)), c, t)
    z = torch.randn(shape, generator=gen, device=data.device)
    u = torch.randn(shape, generator=gen, device=data.device)
    v = torch.randn(shape, generator=gen, device=data.device)
    bins = sampler.active_bins().to(data.device)
    power = sampler.power()
    long = long_window(t)

    def model(spread: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        normals = white_to_normals(z * innovation_factor(u, spread.float(), tail.float()),
                                   bins)
        with torch.no_grad():
            return torch.fft.irfft(sampler.mix(normals), n=t, dim=-1)

    zero = torch.zeros(c, dtype=torch.float64, device=data.device)
    gaussian = model(zero, zero)
    short_reference = windowed_kurtosis(gaussian)
    short_target = windowed_kurtosis(data) / short_reference

    def spread_for(tail: torch.Tensor) -> torch.Tensor:
        return solve_increasing(
            lambda s: windowed_kurtosis(model(s, tail)) / short_reference,
            short_target, MAX_INNOVATION_SPREAD, 14)

    tail = zero
    if long:
        long_reference = windowed_kurtosis(gaussian, long)
        long_target = windowed_kurtosis(data, long) / long_reference

        def long_ratio(tail: torch.Tensor) -> torch.Tensor:
            return windowed_kurtosis(model(spread_for(tail), tail), long) / long_reference

        tail = solve_increasing(long_ratio, long_target, MAX_INNOVATION_TAIL, 8)
        tail = torch.where(long_ratio(zero) >= long_target, zero, tail)
    spread = spread_for(tail)
    spread = torch.where(candidates, spread, zero).float()
    tail = torch.where(candidates, tail, zero).float()
    after = gaussian * innovation_factor(v, post_spread)
    k_data = windowed_kurtosis(whitened(data, power)).log()
    k_before = windowed_kurtosis(whitened(model(spread, tail), power)).log()
    k_after = windowed_kurtosis(whitened(after, power)).log()
    chosen = candidates & ((k_data - k_before).abs() < (k_data - k_after).abs())
    return torch.where(chosen, spread, none), torch.where(chosen, tail, none)
