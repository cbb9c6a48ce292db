"""A carrier's modulation within the trace: the recorded complex envelopes of a line.

A continuous-wave line of constant amplitude puts all its power at one frequency. A
carrier whose amplitude or phase changes within the trace (amplitude modulation, a
transmitter keyed on or off, a frequency drift) spreads part of its power into sidebands
beside it, and its samples have another amplitude distribution: a carrier modulated to
100 % at 10 MHz is twice as loud at its crests as a constant one of the same mean power.

Method
------
1. Record. For each event that carries the line, the trace is moved to the line's
   frequency ``f0`` (multiplied by ``exp(-2 pi i f0 t)``) and Fourier transformed: its
   coefficients at offsets ``d = -R .. R`` bins are the trace's spectrum at
   ``f0 + d f_s / T``. The channels are combined with the line's channel pattern
   ``p_c = A_c exp(i phi_c)`` (``sum_c conj(p_c) X_c / sum_c |p_c|^2``, the least-squares
   estimate of a waveform common to the channels), the result is turned to a real
   positive coefficient at ``d = 0`` (the event's random phase is drawn again) and
   scaled to unit power in ``|d| <= 1``, the bins that the line's amplitude table measures
   (:meth:`~rnognoise.models.lines.Lines.initialize`): the envelope's shape, its level
   being the amplitude the table draws. A carrier whose frequency changes from event to
   event (a band carrier) is moved down by each event's own frequency, so that a drift
   within the trace is recorded relative to it; there, only envelopes of steady power
   are kept (``max_power_cv``: not a burst in the band, not a band of noise).
2. Denoise. The recorded coefficients hold the Gaussian noise of those bins too (its
   level per offset, projected in the same way, is given by the caller:
   :meth:`~rnognoise.models.lines.Lines.initialize` interpolates it from the Gaussian
   level just beyond the window, and leaves out the bins of other lines). Per offset,
   the mean recorded power over the events is compared with the noise's: offsets whose
   excess is not significant (below ``1 + 4 / sqrt(m)`` times the noise over ``m``
   events, four standard errors of a mean of exponential powers) are set to zero. In the others each coefficient keeps
   ``max(0, 1 - 3 noise / power)`` of its power (power subtraction with over-subtraction,
   Boll 1979, Berouti et al. 1979: a modulation's sidebands are a few coefficients of an
   event, the noise is in all of them), and the kept coefficients are scaled (by at most
   2) so that their mean power at each offset is the line's own, the mean less the
   noise's. Shrinking each offset by one factor instead kept the noise of every offset
   of every event, replayed as a waveform common to the channels (a drawn modulated
   carrier's kurtosis 2.27 against the data's 2.35 in ``tests/test_lines.py``; 2.31
   with the power subtraction).
3. Keep or not. The envelopes are kept only when the significant power outside
   ``|d| <= 1`` is at least :data:`MIN_SIDEBAND_FRACTION` of the carrier's; otherwise the
   line is drawn as a constant carrier. At most :data:`N_ENVELOPES` envelopes, evenly
   spaced over the carrying events, are kept.
4. Draw. A generated event that carries the line takes one of the recorded envelopes at
   random, with the amplitude from the line's table and a fresh phase:
   ``w(t) = sum_d u(d) exp(2 pi i d t f_s / T)`` (an inverse FFT, once per recorded
   envelope) times the carrier.
"""

from __future__ import annotations

import math

import torch

from ..subsample import evenly_spaced

__all__ = ["MIN_SIDEBAND_FRACTION", "N_ENVELOPES", "envelope_waves", "record_envelopes"]

#: Recorded envelopes kept per line at most.
N_ENVELOPES: int = 256
#: Least power outside the carrier's three bins, as a fraction of the carrier's, for a
#: line's envelopes to be kept (a modulation of 1 % of the power changes nothing a
#: classifier or the amplitude distribution sees).
MIN_SIDEBAND_FRACTION: float = 0.02
#: Significance of an offset's excess power over the noise, in standard errors.
EXCESS_SIGMAS: float = 4.0
#: Carrying events the recording and the significance use at most.
MAX_EVENTS: int = 1024
#: A recorded coefficient keeps ``1 - OVER_SUBTRACTION * noise / power`` of its power (at
#: least 0): a coefficient of noise alone keeps ``exp(-3)``, 5 %, of the noise's mean
#: power, a sideband 28 times the noise 89 % of its own (Berouti et al. 1979).
OVER_SUBTRACTION: float = 3.0
#: Largest factor by which an offset's kept coefficients are scaled up so that their mean
#: power is the offset's excess over the noise.
MAX_RESCALE: float = 2.0


def demodulated_spectrum(traces: torch.Tensor, centre_bins: float | torch.Tensor, reach: int
                         ) -> torch.Tensor:
    """Spectrum ``(n, C, 2 reach + 1)`` of ``traces (n, C, T)`` at ``centre_bins + d`` rfft
    bins, ``d = -reach .. reach`` (the traces moved down by ``centre_bins`` and transformed);
    ``centre_bins`` is one frequency or one per trace ``(n,)``."""
    t = traces.shape[-1]
    n = torch.arange(t, dtype=torch.float64, device=traces.device)
    centre = torch.as_tensor(centre_bins, dtype=torch.float64, device=traces.device)
    if centre.ndim:
        centre = centre[:, None, None]
    carrier = torch.exp(-2j * math.pi * centre * n / t)
    spec = torch.fft.fft(traces.double() * carrier, dim=-1)
    index = torch.arange(-reach, reach + 1, device=traces.device) % t
    return spec[..., index]


def record_envelopes(traces: torch.Tensor, centre_bins: float | torch.Tensor,
                     pattern: torch.Tensor, noise_level: torch.Tensor, reach: int,
                     exclude: torch.Tensor | None = None, max_power_cv: float | None = None,
                     reference: torch.Tensor | None = None) -> torch.Tensor | None:
    """The recorded envelopes of a line in the events that carry it (module docstring).

    Parameters
    ----------
    traces : torch.Tensor
        ``(m, C, T)`` the events that carry the line.
    centre_bins : float or torch.Tensor
        The line's frequency in rfft bins, or each event's ``(m,)`` (a carrier whose
        frequency changes from event to event: each envelope is relative to its event's).
    pattern : torch.Tensor
        ``(C,)`` complex: the line's amplitude and phase per channel.
    noise_level : torch.Tensor
        ``(C, 2 reach + 1)`` the Gaussian noise's mean power at each offset (rfft units),
        or each event's ``(m, C, 2 reach + 1)``.
    reach : int
        Offsets ``-reach .. reach`` bins.
    exclude : torch.Tensor, optional
        ``(2 reach + 1,)`` bool: offsets left out (another line's bins), or each event's
        ``(m, 2 reach + 1)``.
    max_power_cv : float, optional
        A carrier's power is steady within the trace: envelopes whose power ``|w(t)|^2``
        varies more (standard deviation over mean) than this are not kept, and none are
        when fewer than half of the events pass (then what the slot holds is not a
        carrier: a band of Gaussian noise has a ratio of 1, a burst more).
    reference : torch.Tensor, optional
        ``(r, C, T)`` events without the line (one frequency ``centre_bins`` only): the
        noise's power at each offset is their mean, projected alike, instead of
        ``noise_level``. A modulation's sidebands come with the carrier; what is in the
        window as often without it (a drifting carrier passing by, a burst) is not the
        carrier's, and the noise's level is measured, not interpolated.

    Returns
    -------
    torch.Tensor or None
        ``(M, 2 reach + 1)`` complex64 envelopes (``M <= N_ENVELOPES``), or None when the
        line's modulation is not significant.
    """
    m = traces.shape[0]
    if m < 16:
        return None
    pick = evenly_spaced(m, MAX_EVENTS, traces.device)
    per_event = torch.is_tensor(centre_bins) and centre_bins.ndim > 0
    spec = demodulated_spectrum(traces[pick], centre_bins[pick] if per_event else centre_bins,
                                reach)                                      # (m, C, D)
    p = pattern.to(torch.complex128)
    norm = float((p.abs() ** 2).sum())
    if norm <= 0:
        return None
    z = torch.einsum("c,mcd->md", p.conj(), spec) / norm                    # (m, D)
    floor = noise_level.double()
    noise = (torch.einsum("c,mcd->md", p.abs() ** 2, floor[pick]) if floor.ndim == 3
             else (p.abs() ** 2) @ floor) / norm ** 2                      # (D,) or (m, D)
    without = None                                   # the reference events' powers (r, D)
    if reference is not None and len(reference) >= 16 and not per_event:
        ref = evenly_spaced(len(reference), MAX_EVENTS, reference.device)
        without = (torch.einsum("c,mcd->md", p.conj(), demodulated_spectrum(
            reference[ref], centre_bins, reach)) / norm).abs() ** 2
        noise = without.mean(0)                                                 # (D,)
    centre = slice(reach - 1, reach + 2)
    carrier = (z[:, centre].abs() ** 2).sum(-1)                              # (m,)
    z = z * (z[:, reach].conj() / z[:, reach].abs().clamp_min(1e-300))[:, None]
    z = z / carrier.clamp_min(1e-300).sqrt()[:, None]
    power = z.abs() ** 2                                                     # (m, D)
    noise_e = noise / carrier.clamp_min(1e-300)[:, None]                     # (m, D)
    # each event's excluded coefficients (another line's bins there) count in no mean
    use = (None if exclude is None or exclude.ndim == 1
           else (~exclude[pick]).to(device=power.device, dtype=power.dtype))   # (m, D)

    def over_events(v: torch.Tensor) -> torch.Tensor:
        return v.mean(0) if use is None else (v * use).sum(0) / use.sum(0).clamp_min(1.0)

    mean, level = over_events(power), over_events(noise_e)                   # (D,)
    if without is None:
        # exponential powers: the standard error of their mean is the mean over sqrt(m)
        significant = mean > level * (1.0 + EXCESS_SIGMAS / math.sqrt(len(pick)))
    else:
        # the two means' standard errors from the powers themselves (what the window holds
        # besides the noise, a drifting carrier passing by in a few events, has a heavy
        # tail, and by chance more of it in the carrying events than in the others)
        inverse = (1.0 / carrier.clamp_min(1e-300)).mean()
        error = (power.var(0) / len(pick) + without.var(0) * inverse ** 2 / len(without)
                 ).sqrt()
        significant = mean - level > EXCESS_SIGMAS * error
    if exclude is not None and exclude.ndim == 1:
        significant &= ~exclude.to(significant.device)
    significant[reach] = True
    # per coefficient, power subtraction with over-subtraction: a sideband holds one or a
    # few coefficients of an event, the noise all of them, and a shrinkage per offset
    # alone replayed the noise of every offset as a waveform common to the channels
    kept = (1.0 - OVER_SUBTRACTION * noise_e / power.clamp_min(1e-300)).clamp_min(0.0)
    if use is not None:
        kept = kept * use
    retained = over_events(power * kept)                                     # (D,)
    excess = (mean - level).clamp_min(0.0)
    scale = (excess / retained.clamp_min(1e-300)).clamp(max=MAX_RESCALE ** 2)
    gain = torch.where(significant[None], (kept * scale[None]).sqrt(), torch.zeros_like(kept))
    gain[:, reach] = 1.0
    if max_power_cv is not None:
        wave = envelope_waves(z * gain, reach, traces.shape[-1]).abs() ** 2      # (m, T)
        steady = wave.std(-1) <= max_power_cv * wave.mean(-1)
        if int(steady.sum()) < max(16, len(steady) // 2):
            return None
        z, gain, power = z[steady], gain[steady], power[steady]
    outside = torch.ones(gain.shape[1], dtype=torch.bool, device=gain.device)
    outside[centre] = False
    sidebands = float((power * gain ** 2).mean(0)[outside].sum())
    if sidebands < MIN_SIDEBAND_FRACTION:
        return None
    keep = evenly_spaced(len(z), N_ENVELOPES, traces.device)
    return (z[keep] * gain[keep]).to(torch.complex64)


def envelope_waves(envelopes: torch.Tensor, reach: int, n_samples: int) -> torch.Tensor:
    """The envelopes' waveforms ``w(t) = sum_d u(d) exp(2 pi i d t / T)``, ``(m, T)``
    complex, from their coefficients ``(m, 2 reach + 1)`` (one inverse FFT each)."""
    m = envelopes.shape[0]
    full = torch.zeros(m, n_samples, dtype=torch.complex64, device=envelopes.device)
    index = torch.arange(-reach, reach + 1, device=envelopes.device) % n_samples
    full[:, index] = envelopes.to(torch.complex64)
    return torch.fft.ifft(full, dim=-1) * n_samples
