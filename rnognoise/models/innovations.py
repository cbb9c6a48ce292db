"""Heavy-tailed innovations: the sample values of a linear chain driven by impulsive noise.

Noise that enters before the signal chain need not be Gaussian: many small discharges
(wind-driven static on the antennas), switching transients or any impulsive source make
white innovations with heavy tails, which the chain's filter then colours. The spectrum is
the chain's, as for Gaussian noise; the sample values are heavier-tailed, and each event's
band powers scatter more (a few large innovations carry a visible share of an event's
power), with a floor set by the many small ones.

The model draws the background's Fourier coefficients from white innovations
``w = z exp(s u - s^2)`` (``z``, ``u`` standard normal, ``u`` truncated; unit mean power)
instead of Gaussian numbers (:meth:`SpectralSampler.normals
<rnognoise.models.spectral.SpectralSampler.normals>`): the same spectrum and
cross-spectrum, an amplitude law per channel set by the spread ``s``. This module fits
``s``.

The same excess kurtosis can come from after the chain instead, a random amplitude per
sample of the digitizer (:class:`~rnognoise.models.digitizer.SampleProfile`): that spreads
power over every frequency, while innovations before the chain keep it within the
passband. :func:`fit_innovation_spread` fits both to the data's kurtosis in short windows
and keeps, per channel, the one whose kurtosis after whitening by the background's
spectrum (which undoes the chain) is closer to the data's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from .spectral import MAX_INNOVATION_SPREAD, chain_passband, innovation_factor, white_to_normals

if TYPE_CHECKING:
    from .spectral import SpectralSampler

__all__ = ["fit_innovation_spread", "solve_increasing", "whitened", "windowed_kurtosis"]


def windowed_kurtosis(x: torch.Tensor, window: int = 16) -> torch.Tensor:
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


def fit_innovation_spread(data: torch.Tensor, sampler: SpectralSampler,
                          post_spread: torch.Tensor, n_events: int = 256,
                          seed: int = 7) -> torch.Tensor:
    """Spread per channel of the background's innovations, or 0 where a random amplitude
    per sample after the chain explains the data better.

    Parameters
    ----------
    data : torch.Tensor
        Offset-free traces ``(n, C, T)``, normalised as the background was fitted.
    sampler : SpectralSampler
        The fitted background (its :attr:`innovation_spread` is left as it was).
    post_spread : torch.Tensor
        ``(C,)`` the spread of the per-sample amplitude after the chain fitted to the
        same data (:meth:`SampleProfile.fit_spread
        <rnognoise.models.digitizer.SampleProfile.fit_spread>`): 0 where the data's short-
        scale kurtosis is not significantly above Gaussian noise's, and then 0 here too.
    n_events, seed : int
        Reference events of the model and their random numbers (a bounded cost).

    Returns
    -------
    torch.Tensor
        ``(C,)``: where ``post_spread`` is 0, 0. Elsewhere, the spread ``s`` in
        ``[0, MAX_INNOVATION_SPREAD]`` whose innovations give the background the data's windowed
        kurtosis (:func:`windowed_kurtosis`, bisection on fixed random numbers), kept
        where, after whitening by the background's spectrum (:func:`whitened`), the
        data's windowed kurtosis is closer (in log) to that model's than to the
        after-the-chain model's; else 0.
    """
    c = post_spread.shape[0]
    out = torch.zeros(c, dtype=torch.float32, device=post_spread.device)
    candidates = post_spread > 0
    if not bool(candidates.any()):
        return out
    gen = torch.Generator(device=data.device).manual_seed(seed)
    t = sampler.n_samples
    shape = (min(n_events, max(len(data), 16)), c, t)
    z = torch.randn(shape, generator=gen, device=data.device)
    u = torch.randn(shape, generator=gen, device=data.device)
    v = torch.randn(shape, generator=gen, device=data.device)
    bins = sampler.active_bins().to(data.device)
    power = sampler.power()

    def model(spread: torch.Tensor) -> torch.Tensor:
        normals = white_to_normals(z * innovation_factor(u, spread), bins)
        with torch.no_grad():
            return torch.fft.irfft(sampler.mix(normals), n=t, dim=-1)

    gaussian = model(torch.zeros(c, device=data.device))
    reference = windowed_kurtosis(gaussian)
    target = windowed_kurtosis(data) / reference
    fitted = solve_increasing(lambda s: windowed_kurtosis(model(s.float())) / reference,
                              target, MAX_INNOVATION_SPREAD, 16)
    before = torch.where(candidates, fitted, torch.zeros_like(fitted)).float()
    after = gaussian * innovation_factor(v, post_spread)
    k_data = windowed_kurtosis(whitened(data, power)).log()
    k_before = windowed_kurtosis(whitened(model(before), power)).log()
    k_after = windowed_kurtosis(whitened(after, power)).log()
    chosen = candidates & ((k_data - k_before).abs() < (k_data - k_after).abs())
    return torch.where(chosen, before, out)
