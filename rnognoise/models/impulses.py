"""Rare broadband impulses (:class:`Impulses`), a component of the structured generator
(:mod:`~rnognoise.models.physics`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .lines import bernoulli_gate

__all__ = ["Impulses"]


class Impulses(nn.Module):
    """Rare broadband pulses at a uniformly random time, with per-channel shape and delay.

    The pulse is defined by a learnable complex spectrum per channel (shape and delay),
    shifted to a random arrival time in the frequency domain and scaled by a log-normal
    amplitude; its presence per event is a Bernoulli draw.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    """

    def __init__(self, n_channels: int, n_samples: int) -> None:
        super().__init__()
        n_freq = n_samples // 2 + 1
        self.n_samples = n_samples
        self.template_real = nn.Parameter(torch.zeros(n_channels, n_freq))
        self.template_imag = nn.Parameter(torch.zeros(n_channels, n_freq))
        self.logit = nn.Parameter(torch.tensor(-6.0))
        self.log_amp = nn.Parameter(torch.tensor(0.0))
        self.log_amp_jitter = nn.Parameter(torch.tensor(math.log(0.3)))

    def initialize(self, data: torch.Tensor, background_power: torch.Tensor,
                   gauss_peak_quantile: float) -> None:
        """Rate, amplitude, shape and delays from events with an excess peak-to-RMS.

        Parameters
        ----------
        data : torch.Tensor
            Normalised traces ``(n, C, T)``.
        background_power : torch.Tensor
            Expected background power per channel ``(C, F)`` (rfft units).
        gauss_peak_quantile : float
            The 99.9 % quantile of the max-over-channels peak of background noise.
        """
        peak = data.abs().amax(-1)                       # (n, C)
        event_peak = peak.amax(-1)
        flagged = event_peak > max(gauss_peak_quantile, 1.0)
        rate = float(flagged.double().mean()) - 1e-3
        shape = background_power.clamp_min(0).sqrt()     # zero-phase band-limited pulse
        pulse = torch.fft.irfft(shape, n=self.n_samples, dim=-1)
        shape = shape / pulse.abs().amax(-1, keepdim=True).clamp_min(1e-12)
        delays = torch.zeros(data.shape[1], dtype=torch.float64)
        amp_c = torch.ones(data.shape[1], dtype=torch.float64)
        if flagged.sum() >= 3 and rate > 0:
            ev = data[flagged]
            arrival = ev.abs().argmax(-1).double()       # (m, C)
            delays = (arrival - arrival[:, :1]).median(0).values
            amp_c = peak[flagged].double().median(0).values
            amp_c = amp_c / amp_c.max()
            self.log_amp.data.fill_(float(event_peak[flagged].median().log()))
            self.log_amp_jitter.data.fill_(math.log(max(float(
                event_peak[flagged].log().std()), 0.05)))
            self.logit.data.fill_(math.log(rate / (1 - rate)))
        else:
            self.logit.data.fill_(-8.0)
        k = torch.arange(shape.shape[-1], dtype=torch.float64)
        phase = -2 * math.pi * k[None, :] * delays[:, None] / self.n_samples
        template = shape.double() * amp_c[:, None] * torch.exp(1j * phase)
        self.template_real.data.copy_(template.real.float())
        self.template_imag.data.copy_(template.imag.float())

    #: Largest standard deviation of the pulse's log amplitude (a factor e per standard
    #: deviation).
    max_amp_jitter: float = 1.0

    def _draw(self, n: int, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gate ``(n,)``, arrival time ``(n,)`` in samples and signed amplitude ``(n,)``."""
        dev = self.template_real.device
        gate = bernoulli_gate(self.logit.reshape(1), n, generator)[:, 0]           # (n,)
        t0 = torch.rand(n, generator=generator, device=dev) * self.n_samples
        jitter = self.log_amp_jitter.clamp(max=math.log(self.max_amp_jitter)).exp()
        amp = torch.exp(self.log_amp + jitter
                        * torch.randn(n, generator=generator, device=dev)) * gate
        sign = torch.where(torch.rand(n, generator=generator, device=dev) < 0.5, -1.0, 1.0)
        return gate, t0, amp * sign

    def _shifted(self, t0: torch.Tensor) -> torch.Tensor:
        """Template spectra ``(m, C, F)`` arriving at ``t0`` ``(m,)`` samples."""
        template = torch.complex(self.template_real, self.template_imag)             # (C, F)
        k = torch.arange(template.shape[-1], device=template.device)
        shift = torch.polar(torch.ones(t0.shape[0], k.numel(), device=template.device),
                            -2 * math.pi * t0[:, None] * k[None, :] / self.n_samples)
        return template[None] * shift[:, None, :]

    def add_to(self, spec: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add the pulses to complex spectra ``(n, C, F)``; in place without autograd,
        where only the events that carry a pulse are touched."""
        gate, t0, amp = self._draw(spec.shape[0], generator)
        if not torch.is_grad_enabled():
            events = torch.nonzero(gate > 0, as_tuple=True)[0]
            if events.numel():
                spec[events] += amp[events, None, None] * self._shifted(t0[events])
            return spec
        return spec + amp[:, None, None] * self._shifted(t0)

    def draw_traces(self, n: int, generator: torch.Generator,
                    scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling (no autograd): the pulses of the events that carry one (the same draws
        as :meth:`add_to`).

        Parameters
        ----------
        n : int
            Number of events.
        generator : torch.Generator
            Random numbers.
        scale : torch.Tensor, optional
            Per-event factor ``(n,)`` applied to the pulses (e.g. the event gain).

        Returns
        -------
        events : torch.Tensor
            ``(m,)`` indices of the events with a pulse, int64.
        pulses : torch.Tensor
            ``(m, C, T)`` normalised units, to be added with ``index_add_``.
        """
        gate, t0, amp = self._draw(n, generator)
        events = torch.nonzero(gate > 0, as_tuple=True)[0]
        if events.numel() == 0:  # an empty FFT is an error in some backends (MKL)
            c = self.template_real.shape[0]
            return events, torch.zeros(0, c, self.n_samples, device=self.template_real.device)
        amp = amp[events] if scale is None else amp[events] * scale[events]
        pulses = torch.fft.irfft(amp[:, None, None] * self._shifted(t0[events]),
                                 n=self.n_samples, dim=-1)
        return events, pulses

    def add_to_traces(self, traces: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add the pulses to traces ``(n, C, T)`` (the same draws as :meth:`add_to`); in
        place without autograd, where only the events that carry a pulse are touched."""
        if not torch.is_grad_enabled():
            events, pulses = self.draw_traces(traces.shape[0], generator)
            if events.numel():
                traces.index_add_(0, events, pulses.to(traces.dtype))
            return traces
        _, t0, amp = self._draw(traces.shape[0], generator)
        pulses = torch.fft.irfft(amp[:, None, None] * self._shifted(t0), n=self.n_samples,
                                 dim=-1)
        return traces + pulses
