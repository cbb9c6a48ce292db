"""The fixed pattern: what every event holds at the same sample positions.

Every other part of the structured generator is zero-mean: its mean trace over events is
flat. Recorded traces need not be. A digitizer of interleaved converters leaves an offset
on every other sample (a line at half the sampling rate); a switched-capacitor digitizer
leaves pedestal residuals at fixed positions in its blocks (the public station-24 forced
triggers: a 25 MHz component, the 128-sample block period, 14.5 times its noise level
in the mean trace of 100 events, too few events for the test below to keep it); a
trigger or readout artefact sits at a fixed time. Each
is a fixed pattern ``m(c, t)`` added to every event, which the random parts cannot draw
(block offsets, time-locked modes and the background all have mean zero).

:class:`FixedPattern` estimates ``m`` as the mean trace over events, tests it against its
own estimation noise and keeps it, denoised, only where the test says the data hold one.

Method
------
Two statistics per channel, each normalised by the events themselves (neither changes
when events flip sign, neither assumes Gaussian noise): for every frequency bin ``f``,
``r_f = |sum_i X_if|^2 / sum_i |X_if|^2`` (event ``i``'s Fourier coefficient
``X_if``), exponentially distributed with mean 1 without a pattern; for every sample
``t``, ``z_t = sum_i x_it / sqrt(sum_i x_it^2)``, standard normal without one (both by
the central limit theorem over the events). A channel holds a pattern when the largest
``r_f`` or the largest ``|z_t|`` exceeds what noise gives with probability ``alpha``
(Bonferroni over the bins or samples, the two tests and the channels): the first finds
periodic patterns (an interleaving offset, a block period), the second patterns at a few
samples (a glitch at a fixed time). A sum over the bins, which would find weaker
broadband patterns, has no usable null law here: block offsets and bursts correlate the
bins (on noise without any pattern the mean ``r_f`` scatters by 0.1, not the 0.03 that
independent bins give), and even its sign-flip distribution, dominated by a few shared
directions, has a tail no simple law matches. Where the frequency test decides, the
pattern kept is ``irfft(M_f * max(0, 1 - V_f / |M_f|^2))`` over the bins whose ``r_f``
exceeds the universal threshold ``ln F`` (the largest of ``F`` exponentials' typical
size; Donoho and Johnstone 1994), ``M_f`` the mean's coefficients and ``V_f`` their
variance, each kept bin shrunk by its own Wiener factor; where the time test does, the
mean trace is thresholded (``z_t^2 > 2 ln T``) and shrunk the same way sample by sample
(a pattern of a few samples is weak in every bin, and shrunk bin by bin it kept half its
height). Without the threshold the shrunk estimation noise of all bins, a fraction
``0.22 / n`` of the trace's power, made a pattern of its own: of RMS 0.019 of the
channel's on 600 events, as large as the 0.02 of the interleaving offset it came with.
The pattern's own mean is left out: the channel offset is the normalisation's.

References
----------
D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by wavelet shrinkage",
Biometrika 81 (1994) 425 (the universal threshold).
N. Kurosawa et al., "Explicit analysis of channel mismatch effects in time-interleaved
ADC systems", IEEE Trans. Circuits Syst. I 48 (2001) 261 (the offset mismatch's line at
``f_s / 2``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["FixedPattern"]


def _chi2_1_survival(x: torch.Tensor) -> torch.Tensor:
    """``P(chi^2_1 / 1 > x)`` elementwise (a real bin's ``r``: DC or Nyquist)."""
    return torch.special.erfc(torch.sqrt(x.clamp_min(0.0) / 2.0))


class FixedPattern(nn.Module):
    """A fixed additive pattern per channel and sample position (the data's mean trace).

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    alpha : float
        False-alarm probability of the test over all channels.
    """

    #: Fewest events a pattern is estimated from (fewer: none).
    min_events: int = 16
    #: Events whose spectra are summed at a time.
    chunk_events: int = 256

    def __init__(self, n_channels: int, n_samples: int, alpha: float = 1e-3) -> None:
        super().__init__()
        self.alpha = alpha
        self.register_buffer("values", torch.zeros(n_channels, n_samples))
        self.register_buffer("active", torch.zeros(()))

    @property
    def is_active(self) -> bool:
        """Whether any channel holds a pattern."""
        return bool(self.active > 0)

    def initialize(self, data: torch.Tensor) -> dict[str, Any]:
        """Estimate and test the pattern from normalised traces ``(n, C, T)``.

        Parameters
        ----------
        data : torch.Tensor
            Normalised traces ``(n, C, T)``.

        Returns
        -------
        dict
            ``events``, and per channel: ``significant`` (bool), ``p_value`` (the
            smaller of the two tests', corrected for the bins or samples and the two
            tests), ``found_by`` (``frequency`` or ``time``), ``strongest_bin`` and
            its ``strongest_ratio`` ``r_f``, ``rms`` (of the pattern kept, normalised
            units).
        """
        self.values.zero_()
        self.active.zero_()
        n, c, t = data.shape
        if n < self.min_events:
            return {"events": n, "reason": f"fewer than {self.min_events} events"}
        f = t // 2 + 1
        dev = data.device
        sums = torch.zeros(c, f, dtype=torch.complex128, device=dev)
        power = torch.zeros(c, f, dtype=torch.float64, device=dev)
        total = torch.zeros(c, t, dtype=torch.float64, device=dev)
        square = torch.zeros(c, t, dtype=torch.float64, device=dev)
        for a in range(0, n, self.chunk_events):
            chunk = data[a:a + self.chunk_events].double()
            total += chunk.sum(0)
            square += chunk.pow(2).sum(0)
            spec = torch.fft.rfft(chunk, dim=-1)
            sums += spec.sum(0)
            power += spec.abs().pow(2).sum(0)
        power = power.clamp_min(1e-300)
        ratio = sums.abs().pow(2) / power                                   # (C, F)
        ratio[:, 0] = 0.0                                                   # the offset's
        real = torch.zeros(f, dtype=torch.bool, device=dev)
        if t % 2 == 0:
            real[-1] = True
        survival = torch.where(real, _chi2_1_survival(ratio), torch.exp(-ratio))
        p_freq = (survival[:, 1:].min(-1).values * (f - 1)).clamp_max(1.0)
        z = total / square.sqrt().clamp_min(1e-300)                         # (C, T)
        p_time = (_chi2_1_survival(z.pow(2)).min(-1).values * t).clamp_max(1.0)
        p_value = (2.0 * torch.minimum(p_freq, p_time)).clamp_max(1.0)
        significant = p_value < self.alpha / c
        mean = sums / n
        variance = ((power / n - mean.abs().pow(2)) / (n - 1)).clamp_min(1e-300)
        # Wiener factors, on the bins (samples) beyond the universal threshold only: the
        # shrunk estimation noise of every bin would add up to a pattern of its own
        gain = (1.0 - variance / mean.abs().pow(2).clamp_min(1e-300)).clamp_min(0.0)
        gain = gain * (ratio > math.log(f - 1))
        gain[:, 0] = 0.0
        periodic = torch.fft.irfft(mean * gain, n=t, dim=-1)
        # what the time test found is shrunk sample by sample (bin by bin, a pattern of a
        # few samples is weak in every bin and its estimate shrunk to a fraction)
        level = total / n
        spread = ((square / n - level.pow(2)) / (n - 1)).clamp_min(1e-300)
        local = level * (1.0 - spread / level.pow(2).clamp_min(1e-300)).clamp_min(0.0)
        local = local * (z.pow(2) > 2.0 * math.log(t))
        local = local - local.mean(-1, keepdim=True)
        pattern = torch.where((p_time < p_freq)[:, None], local, periodic) * significant[:, None]
        self.values.copy_(pattern.to(self.values.dtype))
        self.active.fill_(float(bool(significant.any())))
        strongest = ratio[:, 1:].argmax(-1) + 1
        return {"events": n, "channels": [
            {"significant": bool(significant[k]), "p_value": float(p_value[k]),
             "found_by": "time" if bool(p_time[k] < p_freq[k]) else "frequency",
             "strongest_bin": int(strongest[k]),
             "strongest_ratio": round(float(ratio[k, strongest[k]]), 2),
             "rms": float(pattern[k].pow(2).mean().sqrt())} for k in range(c)]}

    def remove(self, data: torch.Tensor) -> torch.Tensor:
        """``data`` ``(n, C, T)`` without the pattern (unchanged when there is none)."""
        if not self.is_active:
            return data
        return data - self.values.to(data.dtype)

    def add_(self, traces: torch.Tensor) -> torch.Tensor:
        """Add the pattern to ``traces`` ``(n, C, T)`` in place (sampling, no autograd)."""
        if self.is_active:
            traces.add_(self.values.to(traces.dtype))
        return traces

    def forward(self, traces: torch.Tensor) -> torch.Tensor:
        """``traces + pattern`` (differentiable path)."""
        if not self.is_active:
            return traces
        return traces + self.values.to(traces.dtype)

