"""The digitizer's sample-position noise profile.

A switched-capacitor digitizer (the LAB4D) samples through an array of cells whose noise
differs from cell to cell; read out in blocks, the same cells come back at the same
position in every block. Recorded traces then carry a noise power that depends on the
sample's position within its block (in the public station-24 forced triggers: power at
some positions up to 1.45 times the mean, a spread of 0.10 against the 0.035 a stationary
trace shows), and that fixed pattern makes every trace heavier-tailed than Gaussian
(excess kurtosis about 0.2 in every event).

:class:`SampleProfile` measures the pattern (mean power per position modulo the block,
shrunk towards 1 by the James-Stein factor so that a stationary trace gets a flat
profile) and multiplies the stationary background by its square root. Cells also differ
in a way that moves with the readout window from event to event; the remaining
sample-to-sample amplitude variation is modelled as a fresh random factor per sample
whose spread is fitted to the excess kurtosis that the data keep at the shortest scale.

References
----------
G. S. Varner et al., "The LABRADOR4 waveform sampling ASIC", and the RNO-G DAQ
description, arXiv:2010.12279 (block readout of the LAB4D).
W. James, C. Stein, "Estimation with quadratic loss", Proc. 4th Berkeley Symp. (1961).
"""

from __future__ import annotations

import torch
from torch import nn

from rnognoise.models.innovations import solve_increasing, windowed_kurtosis

__all__ = ["SampleProfile"]


class SampleProfile(nn.Module):
    """Noise amplitude per sample position modulo ``period``, per channel.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    period : int
        Block length in samples (128 for the LAB4D); 0 disables the profile.
    """

    def __init__(self, n_channels: int, n_samples: int, period: int = 128) -> None:
        super().__init__()
        self.period = period if 0 < period <= n_samples // 2 else 0
        self.n_samples = n_samples
        self.register_buffer("amplitude", torch.ones(n_channels, max(self.period, 1)))
        self.register_buffer("spread", torch.zeros(n_channels))

    def initialize(self, data: torch.Tensor) -> None:
        """Measure the profile from traces ``(n, C, T)`` (offsets removed)."""
        if not self.period:
            return
        n, c, t = data.shape
        pos = torch.arange(t, device=data.device) % self.period
        power = data.double().pow(2)                                   # (n, C, T)
        total = power.mean((0, 2))                                      # (C,)
        sums = torch.zeros(c, self.period, dtype=torch.float64, device=data.device)
        sums.index_add_(1, pos, power.sum(0))
        counts = torch.bincount(pos, minlength=self.period).double() * n
        rel = sums / counts / total[:, None]                            # (C, P), mean ~1
        # scatter of a stationary Gaussian trace's relative power at one position
        noise_var = 2.0 / counts                                        # (P,)
        excess = (rel - 1.0).pow(2).sum(-1)                             # (C,)
        shrink = (1.0 - (self.period - 1) * noise_var.mean() / excess.clamp_min(1e-30))
        rel = 1.0 + (rel - 1.0) * shrink.clamp(0.0, 1.0)[:, None]
        rel = rel / rel.mean(-1, keepdim=True)
        self.amplitude.copy_(rel.clamp_min(1e-3).sqrt().float())

    def fit_spread(self, data: torch.Tensor, gaussian: torch.Tensor, window: int = 16) -> None:
        """Per-sample amplitude spread from the excess kurtosis at the shortest scale.

        Both ``data`` and ``gaussian`` (stationary noise with the data's spectrum) are cut
        into ``window``-sample pieces normalised to unit power, which removes every slower
        change of power; what kurtosis the data keep beyond the Gaussian's, ``r``, comes
        from sample-to-sample amplitude variation ``a = exp(s z - s^2)``. Its kurtosis
        factor is ``exp(4 s^2)`` over a whole trace, but less in normalised windows
        (the window's power moves with its samples' amplitudes: ``s = sqrt(ln(r) / 4)``
        came out 0.10 for a spread of 0.15); ``s`` is the spread whose factor on
        ``gaussian``, measured the same way, is ``r`` (bisection). It is 0 unless ``r``
        exceeds 1 by three standard errors of the two kurtosis estimates (a Gaussian
        sample's kurtosis has a relative standard error ``sqrt(8 / (3 N))`` for ``N``
        samples): the estimation noise alone (``r = 1.008`` on 300 x 256 samples) gave a
        spread of 0.044, which spreads 0.2 % of the power as white noise over all
        frequencies, more than the data have outside the passband.
        """
        reference = windowed_kurtosis(gaussian, window)
        ratio = windowed_kurtosis(data, window) / reference
        n_data, n_ref = data[:, 0].numel(), gaussian[:, 0].numel()
        error = (8.0 / (3.0 * n_data) + 8.0 / (3.0 * n_ref)) ** 0.5
        significant = ratio > 1.0 + 3.0 * error
        if not bool(significant.any()):
            self.spread.zero_()
            return
        # the factor of a spread, on at most 256 of the Gaussian events (a bounded cost)
        g = gaussian[:256].double()
        g_kurtosis = windowed_kurtosis(g, window)
        z = torch.randn(g.shape, generator=torch.Generator().manual_seed(5),
                        dtype=torch.float64).to(g.device)

        def factor(spread: torch.Tensor) -> torch.Tensor:
            s = spread[None, :, None]
            return windowed_kurtosis(g * torch.exp(s * z - s * s), window) / g_kurtosis

        fitted = solve_increasing(factor, ratio, 1.0, 20)
        self.spread.copy_(torch.where(significant, fitted, torch.zeros_like(fitted)).float())

    def factor(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Amplitude per sample of ``n`` events ``(n, C, T)``: the position profile times a
        fresh random factor of unit mean power per sample (where the spread is not 0)."""
        gain = self.gain()[None]
        if not bool((self.spread > 0).any()):
            return gain.expand(n, -1, -1)
        s = self.spread[None, :, None]
        z = torch.randn(n, gain.shape[1], self.n_samples, generator=generator,
                        device=gain.device)
        return gain * torch.exp(s * z - s * s)

    def gain(self) -> torch.Tensor:
        """Amplitude per sample ``(C, T)``."""
        reps = -(-self.n_samples // self.amplitude.shape[1])
        return self.amplitude.repeat(1, reps)[:, :self.n_samples]

    @property
    def is_flat(self) -> bool:
        """No pattern and no spread (disabled, or shrunk to 1)."""
        return not self.period or bool((self.amplitude - 1.0).abs().amax() < 1e-6
                                       and (self.spread == 0).all())
