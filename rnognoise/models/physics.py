"""Physics-structured noise components and their moment-based initialisation.

Recorded RNO-G noise is Gaussian thermal noise shaped by the signal chain *plus* a few
known non-Gaussian structures. Each is a small differentiable module with physical
parameters, initialised from the data by the method of moments and then refined
adversarially (:mod:`~rnognoise.models.wgan_gp`) or variationally
(:mod:`~rnognoise.models.vae`):

- :class:`Background` — stationary Gaussian noise with the robust (median-based)
  cross-spectrum, with a learnable per-channel spectral correction, and a per-event gain
  of the signal chain (applied to everything the chain amplifies: background, lines and
  impulses, not the digitizer's block offsets).
- :class:`BlockOffsets` — a constant offset per digitizer block (128 samples) and channel.
- :class:`~rnognoise.models.lines.Lines` — continuous-wave lines, each present in a
  fraction of events, with a random phase per event that is shared by all channels
  (fixed per-channel phase offsets).
- :class:`~rnognoise.models.impulses.Impulses` — rare broadband pulses at a random time,
  reaching each channel with a learnable shape and delay.

Presence of a line or impulse is a Bernoulli draw with a learnable probability; the
gradient reaches the probability through a straight-through relaxed Bernoulli
(Maddison et al. 2017, arXiv:1611.00712; Bengio et al. 2013, arXiv:1308.3432).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .impulses import Impulses
from .lines import Lines, bernoulli_gate
from .spectral import CrossSpectrum, SpectralSampler

__all__ = ["Background", "BlockOffsets", "Impulses", "Lines", "bernoulli_gate"]


class Background(nn.Module):
    """Gaussian noise with the robust cross-spectrum, spectral correction and per-event gain.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    """

    def __init__(self, n_channels: int, n_samples: int) -> None:
        super().__init__()
        self.sampler = SpectralSampler(n_channels, n_samples, innovations=True)
        self.log_gain_correction = nn.Parameter(torch.zeros(n_channels, n_samples // 2 + 1))
        self.log_gain_sigma = nn.Parameter(torch.tensor(math.log(0.02)))
        #: The per-event gain's spread by the method of moments (:meth:`fit_gain_spread`).
        self.moment_gain_spread = 0.02

    def initialize(self, data: torch.Tensor) -> None:
        """Cross-spectrum of the Gaussian part of ``data`` (block offsets already removed;
        :meth:`CrossSpectrum.robust <rnognoise.models.spectral.CrossSpectrum.robust>`)."""
        est = CrossSpectrum(data.shape[1], data.shape[2])
        for lo in range(0, data.shape[0], 512):
            est.update(data[lo:lo + 512])
        for lo in range(0, data.shape[0], 512):
            est.update_trimmed(data[lo:lo + 512])
        self.sampler.set_spectrum(est.robust())
        self.fit_gain_spread(data)

    #: Reference events of the fitted Gaussian background that the gain spread is measured
    #: against.
    gain_reference_events: int = 2000

    def event_log_levels(self, data: torch.Tensor) -> torch.Tensor:
        """Each event's log power level ``(n,)``, common to its channels: per channel the
        median over the passband's bins of the power relative to the background's
        expected power (robust against lines, pulses and narrow bursts), its log averaged
        over the channels."""
        expected = self.sampler.power().double()                          # (C, F)
        passband = expected.amax(0) >= 1e-3 * expected.max()
        out = []
        for lo in range(0, data.shape[0], 512):
            spec = torch.fft.rfft(data[lo:lo + 512].double(), dim=-1)
            ratio = spec.abs().square()[..., passband] / expected[:, passband].clamp_min(1e-300)
            out.append(ratio.median(-1).values.clamp_min(1e-300).log().mean(-1))
        return torch.cat(out)

    def fit_gain_spread(self, data: torch.Tensor) -> float:
        """Set the per-event gain's log-normal spread by the method of moments and return
        it: the variance of the events' common log level (:meth:`event_log_levels`) less
        that of the same estimate on the fitted stationary background, both from the
        median absolute deviation (a gain drifts every event's level; a few loud events,
        bursts or pulses, are not a gain and leave it alone); zero unless the
        excess is larger than twice its standard error (a fixed prior spread put event
        power variation into noise that has none). The structured generator uses it where
        its envelope is inactive (:meth:`PhysicsGenerator._set_gain_spread
        <rnognoise.models.structured.PhysicsGenerator._set_gain_spread>`)."""
        gen = torch.Generator(device=data.device).manual_seed(2468)
        with torch.no_grad():
            level = self.event_log_levels(data)
            reference = self.event_log_levels(self.sampler(self.gain_reference_events, gen))
        n, m = len(level), len(reference)
        if n < 10:
            return float(self.log_gain_sigma.exp())
        var_d, var_r = _robust_variance(level), _robust_variance(reference)
        # the median absolute deviation's variance is 2.7 times the sample variance's
        error = math.sqrt(2.7 * (2.0 * var_d ** 2 / (n - 1) + 2.0 * var_r ** 2 / (m - 1)))
        excess = var_d - var_r
        # log power = 2 log(amplitude gain): the amplitude's spread is half the power's
        sigma = 0.5 * math.sqrt(excess) if excess > 2.0 * error else 0.0
        sigma = min(sigma, self.max_gain_sigma)
        self.moment_gain_spread = sigma
        self.log_gain_sigma.data.fill_(math.log(max(sigma, 1e-6)))
        return sigma

    def spectra(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Complex spectra ``(n, C, F)`` with the spectral correction (no gain)."""
        if torch.is_grad_enabled():
            return self.sampler.spectra(n, generator) * torch.exp(self.log_gain_correction)
        return self.mix(self.normals(n, generator))

    def normals(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The normal numbers of ``n`` events' spectra (the first draw of
        :meth:`spectra`; :meth:`SpectralSampler.normals
        <rnognoise.models.spectral.SpectralSampler.normals>`)."""
        return self.sampler.normals(n, generator)

    def mix(self, z: torch.Tensor, weights: torch.Tensor | None = None,
            curves: torch.Tensor | None = None) -> torch.Tensor:
        """Sampling (no autograd): spectra ``(n, C, F)`` from :meth:`normals`, with the
        spectral correction folded into the mixing matrix and an optional per-event gain
        ``weights @ curves`` (:meth:`SpectralSampler.mix
        <rnognoise.models.spectral.SpectralSampler.mix>`)."""
        return self.sampler.mix(z, torch.exp(self.log_gain_correction), weights, curves)

    #: Largest log-normal spread of the per-event gain (30 %).
    max_gain_sigma: float = 0.3

    def gains(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Per-event gain factors ``(n, 1, 1)``, log-normal around 1."""
        eps = torch.randn(n, 1, 1, generator=generator, device=self.log_gain_sigma.device)
        sigma = self.log_gain_sigma.clamp(max=math.log(self.max_gain_sigma)).exp()
        return torch.exp(sigma * eps)


def _robust_variance(x: torch.Tensor) -> float:
    """Variance of ``x`` from its median absolute deviation (Gaussian-consistent)."""
    deviation = (x - x.median()).abs().median()
    return float((1.4826 * deviation) ** 2)


class BlockOffsets(nn.Module):
    """Per-event baseline offsets: one per trace, plus one per digitizer block.

    After pedestal subtraction recorded traces keep a baseline offset of their own (it
    drifts from event to event by several ADC counts) and a smaller offset per
    ``block``-sample LAB4D block. Both are drawn per event and channel: the trace offset
    with spread ``sigma_event``, the block offsets around it with spread ``sigma``.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout (block offsets need ``n_samples`` a multiple of ``block`` and at least two
        blocks; trace offsets are always modelled).
    block : int
        Block length in samples (128 for the LAB4D).
    """

    def __init__(self, n_channels: int, n_samples: int, block: int = 128) -> None:
        super().__init__()
        self.block = block
        self.active = block > 0 and n_samples % block == 0 and n_samples >= 2 * block
        self.n_blocks = n_samples // block if self.active else 0
        self.log_sigma = nn.Parameter(torch.full((n_channels,), math.log(1e-3)))
        self.log_sigma_event = nn.Parameter(torch.full((n_channels,), math.log(1e-3)))

    def block_means(self, data: torch.Tensor) -> torch.Tensor:
        """Per-block means ``(n, C, n_blocks)`` of traces ``(n, C, T)``."""
        n, c, _ = data.shape
        return data.reshape(n, c, self.n_blocks, self.block).mean(-1)

    def remove(self, data: torch.Tensor) -> torch.Tensor:
        """``data`` with each block's mean (or, without blocks, each trace's) subtracted."""
        if not self.active:
            return data - data.mean(-1, keepdim=True)
        means = self.block_means(data)
        return data - means.repeat_interleave(self.block, dim=-1)

    def initialize(self, data: torch.Tensor, background: torch.Tensor | None = None) -> None:
        """Spreads per channel from the trace means and the block means around them.

        The background's own contribution to a mean over ``L`` samples is subtracted in
        quadrature: measured on ``background``, traces drawn from the fitted background
        model, when given (what the model supplies itself), otherwise estimated on the
        data with the offsets removed (before the background is fitted). With ``B``
        blocks, the block offsets (spread ``sigma``) give the block means about their
        trace's mean a variance of ``sigma^2 (1 - 1/B)`` and the trace mean one of
        ``sigma^2 / B``: both are taken out (without, ``sigma`` came out
        ``sqrt(1 - 1/B)``, 3 % for 16 blocks, too small, and the trace offsets took
        the block offsets' share of the trace mean once more).
        """
        trace_mean = data.mean(-1)                                         # (n, C)
        share = torch.zeros(data.shape[1], dtype=data.dtype, device=data.device)
        if self.active:
            means = self.block_means(data)                                 # (n, C, B)
            rel = means - trace_mean[..., None]
            if background is None:
                clean = self.remove(data)
                # background scatter of block means: block means of the offset-free
                # data, shifted by half a block
                noise_block = self.block_means(clean.roll(self.block // 2, -1)).var(dim=(0, 2))
            else:
                own = self.block_means(background)
                noise_block = (own - background.mean(-1)[..., None]).var(dim=(0, 2))
            var_block = ((rel.var(dim=(0, 2)) - noise_block) / (1.0 - 1.0 / self.n_blocks)
                         ).clamp_min(1e-8)
            self.log_sigma.data.copy_(0.5 * var_block.log())
            share = var_block / self.n_blocks
            noise_trace = noise_block * self.block / data.shape[-1]
        else:
            noise_trace = torch.zeros(data.shape[1], dtype=data.dtype, device=data.device)
        if background is not None:
            noise_trace = background.mean(-1).var(dim=0)
        var_event = (trace_mean.var(dim=0) - noise_trace - share).clamp_min(1e-8)
        self.log_sigma_event.data.copy_(0.5 * var_event.log())

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Offsets per block ``(n, C, n_blocks)`` (per trace, ``(n, C, 1)``, without blocks)."""
        c = self.log_sigma.shape[0]
        dev = self.log_sigma.device
        event = torch.randn(n, c, 1, generator=generator, device=dev) \
            * self.log_sigma_event.exp()[:, None]
        if not self.active:
            return event
        eps = torch.randn(n, c, self.n_blocks, generator=generator, device=dev)
        return eps * self.log_sigma.exp()[:, None] + event

    def forward(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Offsets ``(n, C, T)`` (``(n, C, 1)`` without blocks)."""
        offsets = self.draw(n, generator)
        return offsets.repeat_interleave(self.block, dim=-1) if self.active else offsets

    def add_to(self, traces: torch.Tensor, generator: torch.Generator,
               factor: torch.Tensor | None = None) -> torch.Tensor:
        """``traces * factor + offsets`` in place, in one pass over contiguous traces
        ``(n, C, T)`` (sampling, no autograd; the same draws as :meth:`forward`).

        Parameters
        ----------
        traces : torch.Tensor
            Contiguous ``(n, C, T)``, overwritten.
        generator : torch.Generator
            Random numbers.
        factor : torch.Tensor, optional
            Multiplies the traces before the offsets are added: ``(n, C, T)`` or
            anything of shape ``(n, C or 1, 1)``.
        """
        return self.apply_(traces, self.draw(traces.shape[0], generator), factor)

    @staticmethod
    def apply_(traces: torch.Tensor, offsets: torch.Tensor,
               factor: torch.Tensor | None = None) -> torch.Tensor:
        """``traces * factor + offsets`` in place, in one pass (sampling, no autograd).

        Parameters
        ----------
        traces : torch.Tensor
            Contiguous ``(n, C, T)``, overwritten.
        offsets : torch.Tensor
            ``(n, C, B)`` offsets of ``B`` equal blocks (:meth:`draw`).
        factor : torch.Tensor, optional
            ``(n or 1, C, T)``, or anything of shape ``(n or 1, C or 1, 1)``.
        """
        n, c, t = traces.shape
        blocks = offsets.shape[2]
        view = traces.view(n, c, blocks, t // blocks)
        if factor is None:
            view.add_(offsets[..., None])
        else:
            factor = (factor.view(factor.shape[0], factor.shape[1], blocks, t // blocks)
                      if factor.shape[-1] == t else factor[..., None])
            torch.addcmul(offsets[..., None], view, factor, out=view)
        return traces
