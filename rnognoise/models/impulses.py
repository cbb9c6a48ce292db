"""Rare broadband impulses (:class:`Impulses`), a component of the structured generator
(:mod:`~rnognoise.models.physics`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..subsample import evenly_spaced
from .lines import bernoulli_gate
from .pulse_shape import pulse_phase, rotate, rotated_peak
from .quantile_map import draw_from_quantiles, quantile_knots
from .spectral import chain_passband

__all__ = ["Impulses", "count_pulses", "peak_contrast", "pulse_half_width", "pulse_peaks"]


#: Significance, in standard deviations of its estimator, of the excess energy away from
#: an event's peak that makes the event extended (a burst, a step) rather than a pulse.
EXTENDED_SIGNIFICANCE = 3.0
#: Fraction of an event's excess energy away from its peak above which it is extended.
EXTENDED_FRACTION = 1.0 / 3.0
#: The same, away from several pulses of one event: stricter, since windows around the
#: local maxima of a noise burst, however far apart, hold more of it than one window
#: (a burst of 80 ns counted as two or three pulses in a third of its events with 1/3).
EXTENDED_FRACTION_SEVERAL = 0.15
#: Shortest and longest time on either side of an event's peak that counts as near it
#: (seconds); between them, the data's clearest pulses decide (:func:`pulse_half_width`).
#: Pulses through the embedded simulator's chain keep all their excess energy within 5 ns
#: of the peak, the noise bursts of its ``bursts`` last 20-150 ns (full width at half
#: maximum), and with 20 ns (a fixed T/32 before) two thirds of the bursts counted as
#: pulses. Real pulses ring and a surface LPDA's are dispersed: in the public
#: calibration-pulser run (station 21) the three surface channels keep 3-52 % of a pulse's
#: excess energy beyond 20 ns of its peak, 20-69 % beyond 10 ns.
PULSE_HALF_WIDTH_S = (10e-9, 40e-9)
#: Share of the excess energy of the data's clearest pulses within the half width.
PULSE_ENERGY_SHARE = 0.9
#: Fewest clear pulses that decide the half width (else the shortest is used).
MIN_CLEAR_PULSES = 5
#: Further pulses of an event: peaks of at least this fraction of the event's largest, at
#: least :data:`PULSE_SEPARATION` half widths from the pulses before them.
FURTHER_PULSE_FRACTION = 0.3
#: Half widths between two pulses of one event: a pulse's own window (one half width on
#: either side) and a gap as long again, so that a noise burst, whose local maxima follow
#: each other without gaps, keeps excess energy between the windows.
PULSE_SEPARATION = 4
#: Power of a Gaussian sample relative to the median of the squared samples (the median of
#: chi-square with one degree of freedom is 0.455).
_MEDIAN_TO_MEAN_SQUARE = 1.0 / 0.4549364


def _loudest_channel_excess(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                         torch.Tensor]:
    """Per event ``(n,)``: the peak ``max |x|``, the excess power of the loudest channel
    ``(n, T)`` (the squared samples less the Gaussian power, taken from the median of the
    squared samples), that Gaussian power ``(n,)`` and the sample of the peak ``(n,)``."""
    n = data.shape[0]
    peak, channel = data.abs().amax(-1).max(-1)
    x = data[torch.arange(n, device=data.device), channel].double()
    power = x.square()
    level = power.median(-1).values * _MEDIAN_TO_MEAN_SQUARE
    return peak, power - level[:, None], level, x.abs().argmax(-1)


def _masked_median(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per channel, the median over events of ``values`` ``(m, C, ...)`` where ``rows``
    ``(m, C)`` is set: ``(C, ...)``, NaN for a channel without any."""
    out = torch.full(values.shape[1:], float("nan"), dtype=values.dtype, device=values.device)
    for ch in range(values.shape[1]):
        if bool(rows[:, ch].any()):
            out[ch] = values[rows[:, ch], ch].median(0).values
    return out


def peak_contrast(data: torch.Tensor) -> torch.Tensor:
    """Each event's peak ``max |x|`` in units of its loudest channel's own Gaussian level
    (the root of that channel's median squared sample, as a mean square) ``(n,)``.

    A pulse stands above the event's own noise; an event that is loud throughout (its
    level raised from event to event by a gain, an envelope, broadband pickup) does not:
    its contrast is the noise's, whatever its peak in the units of all events.
    """
    peak, _, level, _ = _loudest_channel_excess(data)
    return _contrast(peak, level)


def _contrast(peak: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """``peak`` over the root of the Gaussian power ``level`` (:func:`peak_contrast`)."""
    return peak.double() / level.clamp_min(1e-30).sqrt()


def _excess_within(excess: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """``(n, T)``: the excess energy within ``d`` samples of each event's peak, for every
    distance ``d``."""
    t = excess.shape[-1]
    dist = (torch.arange(t, device=excess.device)[None, :] - at[:, None]).abs()
    return torch.zeros_like(excess).scatter_add_(1, dist, excess).cumsum(-1)


def pulse_half_width(data: torch.Tensor, sampling_rate: float, threshold: float,
                     min_contrast: float = 0.0) -> int:
    """Samples on either side of a pulse's peak that count as near it, from the data.

    The data's clearest pulses (events whose peak exceeds twice ``threshold`` and which are
    not extended at the longest half width) each need some half width to hold
    :data:`PULSE_ENERGY_SHARE` of their loudest channel's excess energy within the longest;
    the median of it, between the limits :data:`PULSE_HALF_WIDTH_S` (at most T/16 and T/8
    of a short trace: a noise burst of half the trace is not a clear pulse). With fewer
    than :data:`MIN_CLEAR_PULSES` clear pulses, the shortest.

    Parameters
    ----------
    data : torch.Tensor
        Normalised traces ``(n, C, T)``.
    sampling_rate : float, Hz
        Samples per second.
    threshold : float
        The pulse threshold (normalised units).
    min_contrast : float
        Least contrast of a pulse event (:func:`pulse_peaks`).
    """
    t = data.shape[-1]
    shortest = max(4, min(round(PULSE_HALF_WIDTH_S[0] * sampling_rate), t // 16))
    longest = max(shortest, min(round(PULSE_HALF_WIDTH_S[1] * sampling_rate), t // 8))
    clear = pulse_peaks(data, longest, min_contrast=min_contrast) > 2.0 * threshold
    if int(clear.sum()) < MIN_CLEAR_PULSES:
        return shortest
    _, excess, _, at = _loudest_channel_excess(data[clear])
    within = _excess_within(excess, at)
    # shares of the excess within the longest half width (the noise of the whole trace's
    # excess, and its bias from the median of the squared samples, left out)
    share = within[:, : longest + 1] / within[:, longest:longest + 1].clamp_min(1e-30)
    need = (share >= PULSE_ENERGY_SHARE).double().argmax(-1)
    return int(min(max(int(need.median()), shortest), longest))


def _near_pulses(x: torch.Tensor, half_width: int, max_pulses: int) -> torch.Tensor:
    """``(n, T)`` bool: the samples of traces ``x`` ``(n, T)`` within ``half_width`` of
    their largest ``|x|`` and of up to ``max_pulses - 1`` further peaks (each at least
    :data:`FURTHER_PULSE_FRACTION` of the largest and :data:`PULSE_SEPARATION` half widths
    from the peaks before it)."""
    left = x.abs()
    span = torch.arange(x.shape[-1], device=x.device)
    near = torch.zeros_like(left, dtype=torch.bool)
    floor = FURTHER_PULSE_FRACTION * left.amax(-1, keepdim=True)
    for j in range(max_pulses):
        value, at = left.max(-1, keepdim=True)
        found = (value >= floor) if j else torch.ones_like(value, dtype=torch.bool)
        dist = (span - at).abs()
        near |= (dist <= half_width) & found
        left = left.masked_fill(dist <= PULSE_SEPARATION * half_width, 0.0)
    return near


def pulse_peaks(data: torch.Tensor, half_width: int, max_pulses: int = 1,
                min_contrast: float = 0.0) -> torch.Tensor:
    """Each event's peak ``max |x|`` over channels and samples ``(n,)``, or 0 for an event
    whose excess energy is not concentrated around its pulses (an extended event: a noise
    burst, a step) or whose peak does not stand above its own noise by more than
    ``min_contrast`` (:func:`peak_contrast`: an event loud throughout).

    An event is extended when the excess energy of its loudest channel (the squared
    samples less the channel's Gaussian power, taken from the median of the squared
    samples) outside ``half_width`` samples on either side of its peak
    (:func:`pulse_half_width`) exceeds both
    :data:`EXTENDED_SIGNIFICANCE` standard deviations of its estimate under Gaussian noise
    (taken for independent samples: band-limited noise spreads more, and the fraction is
    the stricter test) and :data:`EXTENDED_FRACTION` of the event's excess energy, and,
    with ``max_pulses`` above 1, its excess outside ``half_width`` samples of several
    pulses (the peak and up to ``max_pulses - 1`` further peaks of at least
    :data:`FURTHER_PULSE_FRACTION` of it, :data:`PULSE_SEPARATION` half widths apart:
    pulses from their own directions) exceeds :data:`EXTENDED_FRACTION_SEVERAL` of it.
    Such events are above a peak threshold because their power is, not because they carry
    pulses: the pulses' rate, amplitudes and shape are fitted to the others, and the
    envelope and the transients take them.

    Parameters
    ----------
    data : torch.Tensor
        Normalised traces ``(n, C, T)``.
    half_width : int
        Samples on either side of a peak that count as near it.
    max_pulses : int
        Pulses an event may hold.
    min_contrast : float
        Least contrast of a pulse event (0: every event's peak counts).
    """
    t = data.shape[-1]
    half = max(1, min(int(half_width), t // 4))
    peak, excess, level, at = _loudest_channel_excess(data)
    faint = _contrast(peak, level) <= min_contrast
    within = _excess_within(excess, at)
    near_excess = within[:, half]
    n_far = (t - 2 * half - 1
             + (half - at).clamp_min(0) + (at + half - (t - 1)).clamp_min(0)).double()
    extended = _extended(within[:, -1] - near_excess, near_excess, n_far, level,
                         EXTENDED_FRACTION)
    if max_pulses > 1:
        loudest = data.abs().amax(-1).argmax(-1)
        x = data[torch.arange(len(data), device=data.device), loudest].double()
        near = _near_pulses(x, half, max_pulses)
        near_excess = (excess * near).sum(-1)
        extended &= _extended(excess.sum(-1) - near_excess, near_excess,
                              (~near).sum(-1).double(), level, EXTENDED_FRACTION_SEVERAL)
    return torch.where(extended | faint, torch.zeros_like(peak), peak)


def _extended(far: torch.Tensor, near: torch.Tensor, n_far: torch.Tensor, level: torch.Tensor,
              fraction: float) -> torch.Tensor:
    """Whether the excess energy ``far`` from the pulses (over ``n_far`` samples of
    Gaussian power ``level``) exceeds :data:`EXTENDED_SIGNIFICANCE` standard deviations
    of its estimate and a ``fraction`` of the event's excess energy ``far + near``."""
    noise = EXTENDED_SIGNIFICANCE * math.sqrt(2.0) * level * n_far.sqrt()
    return (far > noise) & (far > fraction / (1 - fraction) * near)


def count_pulses(events: torch.Tensor, half_width: int, threshold: float,
                 max_pulses: int) -> torch.Tensor:
    """Pulses above ``threshold`` in each event ``(m, C, T)`` (at least 1, at most
    ``max_pulses``): each channel's largest excursion and :data:`PULSE_SEPARATION` half
    widths on either side of it are set aside, and the event counts one more pulse while
    what is left still exceeds ``threshold`` somewhere. A pulse that arrives at different times
    in different channels (its direction) is set aside in each channel at its own time.

    Parameters
    ----------
    events : torch.Tensor
        Normalised traces of events with a pulse.
    half_width : int
        Samples on either side of a pulse's peak that hold it (:func:`pulse_half_width`).
    threshold : float
        The pulse threshold (normalised units).
    max_pulses : int
        Largest count.

    Returns
    -------
    torch.Tensor
        ``(m,)`` int64.
    """
    left = events.abs().clone()
    t = left.shape[-1]
    count = torch.ones(left.shape[0], dtype=torch.long, device=left.device)
    span = torch.arange(t, device=left.device)
    for j in range(1, max_pulses):
        at = left.argmax(-1, keepdim=True)                                   # (m, C, 1)
        left.masked_fill_((span - at).abs() <= PULSE_SEPARATION * half_width, 0.0)
        more = (left.amax((-1, -2)) > threshold) & (count == j)
        count += more.long()
    return count


class Impulses(nn.Module):
    """Rare broadband pulses at a uniformly random time, with per-channel shape and delay.

    The pulse is defined by a learnable complex spectrum per channel (shape and delay),
    shifted to a random arrival time in the frequency domain and scaled by an amplitude
    drawn from the empirical distribution of the pulses' peaks (a quantile table between
    the smallest and largest recorded pulse, calibrated against the model's own samples by
    :meth:`calibrate`; a log-normal with a bounded spread in files made before the table);
    its presence per event is a Bernoulli draw.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    """

    def __init__(self, n_channels: int, n_samples: int, sampling_rate: float) -> None:
        super().__init__()
        n_freq = n_samples // 2 + 1
        self.n_samples = n_samples
        self.sampling_rate = float(sampling_rate)
        #: samples on either side of a pulse's peak that count as near it
        #: (:func:`pulse_half_width`, set by :meth:`initialize`; T/32 in files made before)
        self.register_buffer("half_width", torch.tensor(max(4, n_samples // 32)))
        #: least peak over the event's own noise level of a pulse event
        #: (:func:`peak_contrast`; set by :meth:`initialize`, 0 in files made before)
        self.register_buffer("min_contrast", torch.tensor(0.0))
        self.template_real = nn.Parameter(torch.zeros(n_channels, n_freq))
        self.template_imag = nn.Parameter(torch.zeros(n_channels, n_freq))
        self.logit = nn.Parameter(torch.tensor(-6.0))
        self.log_amp = nn.Parameter(torch.tensor(0.0))
        self.log_amp_jitter = nn.Parameter(torch.tensor(math.log(0.3)))
        #: log amplitude relative to ``log_amp``, in units of the spread
        #: ``exp(log_amp_jitter)``, at probabilities ``linspace(0, 1, K)``
        self.register_buffer("log_amp_quantiles", torch.zeros(self.n_amp_knots))
        #: 1 when the amplitude is drawn from the quantile table, 0 for the log-normal
        self.register_buffer("amp_table", torch.tensor(0.0))
        #: recorded arrival patterns: per-channel delay (samples) and gain of a pulse
        #: relative to the template's, one row per recorded pulse (the first
        #: ``n_patterns`` rows); each pulse takes one at random (its direction)
        self.register_buffer("pattern_delays", torch.zeros(self.max_patterns, n_channels))
        self.register_buffer("pattern_gains", torch.ones(self.max_patterns, n_channels))
        self.register_buffer("n_patterns", torch.tensor(0.0))
        #: per recorded pulse and channel: the rotation of its phase relative to the
        #: template's (radians; :mod:`~rnognoise.models.pulse_shape`), polarity included
        self.register_buffer("pattern_rotations", torch.zeros(self.max_patterns, n_channels))
        #: 1 when the template's phase and the pulses' rotations were learned from the
        #: data (files made before: a zero-phase template and a random polarity)
        self.register_buffer("shape_recorded", torch.tensor(0.0))
        #: probability of 1, 2, ... pulses in an event that carries any (several pulses,
        #: from their own directions; files made before: one)
        self.register_buffer("count_prob", torch.zeros(self.max_pulses))
        self.count_prob[0] = 1.0
        #: the largest |sample| recorded per channel (normalised units; 0: no bound, as
        #: in files written before it): no drawn pulse reaches beyond it in its channel
        self.register_buffer("channel_limit", torch.zeros(n_channels))

    #: Most recorded arrival patterns kept.
    max_patterns: int = 256
    #: Most pulses in one event.
    max_pulses: int = 4
    #: A channel's pulse counts in its arrival pattern when its peak is at least this
    #: fraction of the event's largest (else the channel keeps the typical delay).
    pattern_min_fraction: float = 0.5

    #: Knots of the amplitude quantile table.
    n_amp_knots: int = 33

    def initialize(self, data: torch.Tensor, background_power: torch.Tensor,
                   gauss_peak_quantile: float, gauss_contrast_quantile: float = 0.0) -> None:
        """Rate, amplitude, shape and delays from the events with a pulse above the
        threshold (:func:`pulse_peaks`: events loud away from their peak are not pulses).

        Parameters
        ----------
        data : torch.Tensor
            Normalised traces ``(n, C, T)``.
        background_power : torch.Tensor
            Expected background power per channel ``(C, F)`` (rfft units).
        gauss_peak_quantile : float
            The 99.9 % quantile of the max-over-channels peak of background noise.
        gauss_contrast_quantile : float
            The 99.9 % quantile of background noise's :func:`peak_contrast`: a pulse
            event's least contrast (0: none).
        """
        self.shape_recorded.zero_()
        self.count_prob.zero_()
        self.count_prob[0] = 1.0
        peak = data.abs().amax(-1)                       # (n, C)
        event_peak = peak.amax(-1)
        self.channel_limit.copy_(peak.amax(0))
        threshold = max(gauss_peak_quantile, 1.0)
        self.min_contrast.fill_(gauss_contrast_quantile)
        self.half_width.fill_(pulse_half_width(data, self.sampling_rate, threshold,
                                               gauss_contrast_quantile))
        flagged = self.peaks(data) > threshold
        rate = float(flagged.double().mean()) - 1e-3
        shape = background_power.clamp_min(0).sqrt()     # zero-phase band-limited pulse
        pulse = torch.fft.irfft(shape, n=self.n_samples, dim=-1)
        shape = shape / pulse.abs().amax(-1, keepdim=True).clamp_min(1e-12)
        delays = torch.zeros(data.shape[1], dtype=torch.float64)
        amp_c = torch.ones(data.shape[1], dtype=torch.float64)
        if flagged.sum() >= 3 and rate > 0:
            ev = data[flagged]
            quiet = data[event_peak <= threshold]
            if len(quiet) == 0:
                quiet = data[~flagged]
            quiet = quiet[evenly_spaced(len(quiet), 2000, data.device)]
            arrival = ev.abs().argmax(-1).double()       # (m, C)
            relative = peak[flagged].double() / event_peak[flagged, None].double()
            carried = self._carried(ev, quiet, relative)
            shape = self._excess_amplitude(self._around_peak(ev),
                                           self._typical_power(self._around_peak(quiet)), shape,
                                           self._passband(background_power), carried)
            shape, rotation = self._shape_and_rotations(ev, shape, relative)
            pulse = torch.fft.irfft(shape, n=self.n_samples, dim=-1)
            shape = shape / pulse.abs().amax(-1, keepdim=True).clamp_min(1e-12)
            delays = (arrival - arrival[:, :1]).median(0).values
            amp_c = _masked_median(relative, carried).nan_to_num(0.0)
            amp_c = amp_c / amp_c.max()
            self._record_patterns(arrival - arrival[:, :1] - delays, relative * carried, amp_c,
                                  rotation)
            counts = self.counts(ev, threshold)
            self.count_prob.copy_(torch.bincount(counts - 1, minlength=self.max_pulses
                                                 ).to(self.count_prob) / len(counts))
            log_peak = event_peak[flagged].double().log()
            self.log_amp.data.fill_(float(log_peak.median()))
            spread = max(float(log_peak.std()), 0.05)
            self.log_amp_jitter.data.fill_(math.log(spread))
            self.log_amp_quantiles.copy_((self._knots(log_peak) - float(log_peak.median()))
                                         / spread)
            self.amp_table.fill_(1.0)
            self.logit.data.fill_(math.log(rate / (1 - rate)))
        else:
            self.logit.data.fill_(-8.0)
        k = torch.arange(shape.shape[-1], dtype=torch.float64)
        phase = -2 * math.pi * k[None, :] * delays[:, None] / self.n_samples
        template = shape.to(torch.complex128) * amp_c[:, None] * torch.exp(1j * phase)
        self.template_real.data.copy_(template.real.float())
        self.template_imag.data.copy_(template.imag.float())

    def peaks(self, data: torch.Tensor) -> torch.Tensor:
        """Each event's peak, or 0 where it is not a pulse event (:func:`pulse_peaks` with
        this component's half width and up to :attr:`max_pulses` pulses) ``(n,)``."""
        return pulse_peaks(data, int(self.half_width), self.max_pulses, float(self.min_contrast))

    def counts(self, events: torch.Tensor, threshold: float) -> torch.Tensor:
        """Pulses above ``threshold`` in each of ``events`` ``(m,)`` (:func:`count_pulses`
        with this component's half width and :attr:`max_pulses`)."""
        return count_pulses(events, int(self.half_width), threshold, self.max_pulses)

    @torch.no_grad()
    def calibrate_counts(self, data_counts: torch.Tensor, model_counts: torch.Tensor) -> None:
        """One step of indirect inference of the number of pulses per event: pulses drawn
        at independent times overlap and are counted as one, as the recorded ones are, so
        the recorded counts are a biased picture of the drawn ones (drawn in the
        proportions of the recorded counts 1, 2, 3: 0.60, 0.36, 0.03, counted again
        0.75, 0.25, 0.006). Each probability is multiplied by the ratio of the data's
        share of that count to the model's (both among events above the threshold, with
        :meth:`counts`), damped by :attr:`calibration_damping`.

        Parameters
        ----------
        data_counts, model_counts : torch.Tensor
            Counts ``(m,)`` of the data's and the model's pulse events.
        """
        if len(data_counts) < 3 or len(model_counts) < 3:
            return
        k = self.max_pulses
        share = [torch.bincount(c.long() - 1, minlength=k)[:k].double() / len(c)
                 for c in (data_counts, model_counts)]
        ratio = ((share[0] + 1e-3) / (share[1] + 1e-3)).clamp(0.25, 4.0)
        prob = self.count_prob.double() * ratio ** self.calibration_damping
        self.count_prob.copy_((prob / prob.sum()).to(self.count_prob))

    def _shape_and_rotations(self, events: torch.Tensor, amplitude: torch.Tensor,
                             relative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The template's spectrum ``(C, F)`` with the phase of the flagged ``events``'
        mean pulse (:func:`~rnognoise.models.pulse_shape.pulse_phase`; ``amplitude`` is its
        modulus) and each event's rotation relative to it ``(m, C)``, per channel from the
        events whose pulse is strong there (channel peak at least
        :attr:`pattern_min_fraction` of the event's: elsewhere the noise sets the phase;
        there the rotation is 0, the typical shape). A channel with fewer than three
        strong pulses keeps the zero-phase template."""
        m, c, t = events.shape
        w = min(self.pulse_window, t)
        at = events.abs().argmax(-1, keepdim=True)                             # (m, C, 1)
        idx = (at - w // 2 + torch.arange(w, device=events.device)) % t
        window = events.gather(-1, idx).double()
        window = window - window.mean(-1, keepdim=True)
        centred = torch.zeros(m, c, t, dtype=torch.float64, device=events.device)
        centred[..., (torch.arange(w, device=events.device) - w // 2) % t] = window
        spectra = torch.fft.rfft(centred, dim=-1)                              # (m, C, F)
        shape = amplitude.to(torch.complex128)
        rotation = torch.zeros(m, c, dtype=torch.float64, device=events.device)
        strong = relative >= self.pattern_min_fraction
        for ch in range(c):
            if int(strong[:, ch].sum()) < 3:
                continue
            phase, turned = pulse_phase(spectra[strong[:, ch], ch], amplitude[ch], t,
                                        int(self.half_width))
            shape[ch] = torch.polar(amplitude[ch].double(), phase)
            rotation[strong[:, ch], ch] = turned
        self.shape_recorded.fill_(1.0)
        return shape.to(torch.complex64), rotation

    def _record_patterns(self, delay: torch.Tensor, relative: torch.Tensor,
                         amplitude: torch.Tensor, rotation: torch.Tensor) -> None:
        """Keep up to :attr:`max_patterns` recorded pulses' delays (relative to the typical
        ones) and channel gains relative to the template's channel ``amplitude`` (the
        typical pattern, its loudest channel 1): a gain times that amplitude is the
        recorded pulse's channel peak over its event's peak, at most 1, so that the
        amplitude table, calibrated on event peaks, is each pulse's loudest channel's.
        Relative to the typical pattern without its scale, pulses whose loudest channel
        changes from event to event were drawn with a channel up to 2.6 times the event
        peak (`tests/test_impulses.py`)."""
        m = len(delay)
        keep = evenly_spaced(m, self.max_patterns)
        delay, relative, rotation = delay[keep], relative[keep], rotation[keep]
        strong = relative >= self.pattern_min_fraction
        # the arrival time of a channel lost in the noise is the noise's, not the pulse's
        delay = torch.where(strong, delay, torch.zeros_like(delay))
        # a channel that does not carry the pulse (relative 0, :meth:`_carried`) gets none
        gains = (relative / amplitude.clamp_min(1e-6)).clamp(0.2, 5.0) * (relative > 0)
        self.pattern_delays.zero_()
        self.pattern_gains.fill_(1.0)
        self.pattern_rotations.zero_()
        self.pattern_delays[:len(keep)] = delay.float()
        self.pattern_gains[:len(keep)] = gains.float()
        self.pattern_rotations[:len(keep)] = rotation.float()
        self.n_patterns.fill_(float(len(keep)))

    #: Width, in frequency bins, of the smoothing of the pulses' excess power spectrum.
    smoothing_bins: int = 9
    #: Samples around each channel's largest excursion whose spectrum is a pulse's (the
    #: rest of the trace holds what the event carries besides the pulse, e.g. offsets).
    pulse_window: int = 256

    def _around_peak(self, events: torch.Tensor) -> torch.Tensor:
        """``events (m, C, T)`` with everything but :attr:`pulse_window` samples around
        each channel's largest ``|x|`` set to zero (circularly), the window's mean
        removed (an event's offset is not its pulse's)."""
        w = min(self.pulse_window, self.n_samples)
        at = events.abs().argmax(-1, keepdim=True)                             # (m, C, 1)
        idx = (at - w // 2 + torch.arange(w, device=events.device)) % self.n_samples
        window = events.gather(-1, idx)
        out = torch.zeros_like(events)
        return out.scatter_(-1, idx, window - window.mean(-1, keepdim=True))

    #: Fraction of quiet events' channels that the test of :meth:`_carried` takes for
    #: carrying a pulse.
    carried_false_alarm: float = 1e-2

    def _carried(self, events: torch.Tensor, quiet: torch.Tensor,
                 relative: torch.Tensor) -> torch.Tensor:
        """``(m, C)`` bool: whether each channel of the flagged ``events`` carries their
        pulse.

        A channel whose peak is at least :attr:`pattern_min_fraction` of its event's does.
        A weaker one does where the event's pulse, as its loudest channel shows it (the
        ``2 half_width + 1`` samples around that channel's peak), stands out of the
        channel's noise under a matched filter: the largest modulus of their analytic
        cross-correlation (any rotation of the phase, a polarity flip included) within the
        delays between channels that the strong channels show, over its standard deviation
        for the channel's noise spectrum (the ``quiet`` events'), exceeds what a fraction
        :attr:`carried_false_alarm` of the quiet events' channel reach with the same
        filters. Elsewhere the channel's peak is its noise's, not a pulse's: a digitizer's
        bit error, a spike in one channel, drawn with a pulse of that peak in every
        channel, put pulses where the data have none (held-out C2ST AUC 0.59 against 0.50
        without the pulses, on a set with such spikes in 5 % of the events).
        """
        m, t = events.shape[0], events.shape[-1]
        hw = int(self.half_width)
        strong = relative >= self.pattern_min_fraction
        rows = torch.arange(m, device=events.device)
        loudest = relative.argmax(-1)
        at = events[rows, loudest].abs().argmax(-1)
        offsets = torch.arange(-hw, hw + 1, device=events.device)
        idx = (at[:, None] + offsets) % t
        window = events[rows[:, None], loudest[:, None], idx].double()
        pulse = torch.zeros(m, t, dtype=torch.float64, device=events.device)
        pulse[:, offsets % t] = window - window.mean(-1, keepdim=True)
        filters = torch.fft.rfft(pulse, dim=-1).conj()                            # (m, F)
        # delays the strong channels show between them and the loudest
        arrival = events.abs().argmax(-1)
        delay = ((arrival - at[:, None] + t // 2) % t - t // 2).abs()
        seen = delay[strong & (relative < 1)]
        reach = hw + (int(torch.quantile(seen.double(), 0.95)) if len(seen) >= 3 else 0)
        lags = torch.arange(-reach, reach + 1, device=events.device)
        noise = torch.fft.rfft(quiet.double(), dim=-1).abs().square().mean(0)      # (C, F)

        def statistic(x: torch.Tensor, f: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
            # in batches: the complex correlations of 2000 events of 24 channels of 2048
            # samples hold 1.5 GB
            if len(x) > 256:
                return torch.cat([statistic(x[a:a + 256], f[a:a + 256], centre[a:a + 256])
                                  for a in range(0, len(x), 256)])
            spectra = torch.fft.rfft(x.double(), dim=-1) * f[:, None]             # (k, C, F)
            full = torch.zeros(*spectra.shape[:2], t, dtype=spectra.dtype, device=x.device)
            full[..., 1:spectra.shape[-1]] = spectra[..., 1:]                      # analytic
            near = ((centre[:, None] + lags) % t)[:, None].expand(-1, x.shape[1], -1)
            peak = torch.fft.ifft(full, dim=-1).abs().gather(-1, near).amax(-1)
            scale = (noise[None, :, 1:] * f[:, None, 1:].abs().square()).sum(-1).sqrt()
            return peak / scale.clamp_min(1e-30)

        pick = torch.arange(len(quiet), device=events.device) % m
        limit = torch.quantile(statistic(quiet, filters[pick], at[pick]),
                               1.0 - self.carried_false_alarm, dim=0)
        return strong | (statistic(events, filters, at) > limit)

    @staticmethod
    def _typical_power(events: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Median over events of ``|rfft|^2`` ``(C, F)``, float64: robust to a minority of
        flagged events that are not pulses (an offset step, a burst); with ``rows``
        ``(m, C)`` bool, per channel over the events marked there (NaN where none)."""
        power = torch.fft.rfft(events.double(), dim=-1).abs().square()
        if rows is None:
            return power.median(0).values
        return _masked_median(power, rows)

    def _passband(self, background_power: torch.Tensor) -> torch.Tensor:
        """``(C, F)`` bool: the bins from the lowest where the background, i.e. the signal
        chain, passes power (:func:`~rnognoise.models.spectral.chain_passband`) up to the
        Nyquist frequency. What flagged events carry below the passband (an offset step
        that sets a pulse's threshold off, DC and the lowest bins) is not the pulse's;
        above it a pulse that went through the chain has no power, but one made at the
        digitizer (a bit error: one sample, a white spectrum) has."""
        return chain_passband(background_power).cumsum(-1) > 0

    def _excess_amplitude(self, events: torch.Tensor, reference_power: torch.Tensor,
                          fallback: torch.Tensor, passband: torch.Tensor,
                          carried: torch.Tensor) -> torch.Tensor:
        """Amplitude spectrum ``(C, F)`` of the pulses: the power the flagged ``events``
        carry above the other events' (which have the same lines, bursts and background;
        both seen around their largest excursion) within the ``passband``, per channel
        over the events whose pulse it ``carried`` ``(m, C)``, smoothed over neighbouring
        bins (no alignment of pulses needed); ``fallback`` for a channel without excess."""
        excess = (self._typical_power(events, carried) - reference_power).nan_to_num(0.0)
        excess = excess.clamp_min(0)
        k = self.smoothing_bins
        excess = torch.nn.functional.avg_pool1d(excess[:, None], k, 1, k // 2,
                                                count_include_pad=False)[:, 0]
        excess = excess * passband.to(excess)
        amplitude = excess.sqrt().to(fallback)
        empty = excess.sum(-1) <= 0
        amplitude[empty] = fallback[empty]
        return amplitude

    def _knots(self, values: torch.Tensor) -> torch.Tensor:
        """Quantiles of ``values`` at the table's probabilities (float32)."""
        return quantile_knots(values, self.n_amp_knots)

    #: Fraction of the measured difference a calibration step takes.
    calibration_damping: float = 0.7

    @torch.no_grad()
    def calibrate(self, data_peak: torch.Tensor, model_peak: torch.Tensor,
                  threshold: float, false_rate: float = 1e-3) -> dict[str, float]:
        """One step of indirect inference: make the model's pulses look like the data's
        where both are seen, above the detection threshold.

        The recorded pulses are seen through the noise and only above ``threshold``, so
        the peaks of the flagged events are a biased picture of the pulse amplitudes. The
        model's own events (drawn with the current amplitudes) pass through the same
        selection; the table is moved by the difference of the two sets' log-peak
        quantiles, the rate by the ratio of their flagged fractions.

        Parameters
        ----------
        data_peak, model_peak : torch.Tensor
            Largest ``|x|`` over channels and samples per event ``(n,)``, data and model
            (normalised units, the same selection of components).
        threshold : float
            The detection threshold (:meth:`initialize`'s ``gauss_peak_quantile``).
        false_rate : float
            Fraction of pulse-free events above the threshold.

        Returns
        -------
        dict
            ``data_rate``, ``model_rate`` (flagged fractions) and ``shift`` (largest change
            of a knot, in log amplitude).
        """
        data_on = data_peak[data_peak > threshold]
        model_on = model_peak[model_peak > threshold]
        info = {"data_rate": float(len(data_on) / max(len(data_peak), 1)),
                "model_rate": float(len(model_on) / max(len(model_peak), 1)), "shift": 0.0}
        if len(data_on) < 3 or len(model_on) < 3 or not bool(self.amp_table > 0):
            return info
        step = self._knots(data_on.log()) - self._knots(model_on.log())
        # the extreme knots of a few dozen recorded pulses are noisy: smooth the step
        # over neighbouring knots and take part of it
        step = torch.nn.functional.avg_pool1d(step[None, None], 3, 1, 1,
                                              count_include_pad=False)[0, 0]
        spread = float(self._spread())
        table = spread * self.log_amp_quantiles + self.calibration_damping * step.to(
            self.log_amp_quantiles)
        table = table.sort().values                        # a quantile function rises
        centre = float(table[self.n_amp_knots // 2])
        self.log_amp.data.add_(centre)
        self.log_amp_quantiles.copy_((table - centre) / spread)
        excess_data = max(info["data_rate"] - false_rate, 1e-6)
        excess_model = max(info["model_rate"] - false_rate, 1e-6)
        self.logit.data.add_(math.log(excess_data / excess_model))
        self.logit.data.clamp_(max=0.0)
        info["shift"] = float(step.abs().max())
        return info

    #: Largest standard deviation of the pulse's log amplitude (a factor e per standard
    #: deviation) in files made before the quantile table.
    max_amp_jitter: float = 1.0

    def _spread(self) -> torch.Tensor:
        """The spread of the log amplitude (bounded by :attr:`max_amp_jitter`)."""
        return self.log_amp_jitter.clamp(max=math.log(self.max_amp_jitter)).exp()

    def _log_amplitude(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Log amplitudes ``(n,)`` from the quantile table (or the log-normal)."""
        dev = self.template_real.device
        if bool(self.amp_table > 0):
            u = torch.rand(n, generator=generator, device=dev)
            return self.log_amp + self._spread() * draw_from_quantiles(self.log_amp_quantiles,
                                                                       u)
        return self.log_amp + self._spread() * torch.randn(n, generator=generator, device=dev)

    def _draw(self, n: int, generator: torch.Generator, gated: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Gate ``(n,)``, arrival time ``(n,)`` in samples, signed amplitude ``(n,)`` and
        the index of the arrival pattern ``(n,)`` (None without recorded patterns); with
        ``gated`` False every gate is 1 (no draw)."""
        dev = self.template_real.device
        gate = (bernoulli_gate(self.logit.reshape(1), n, generator)[:, 0] if gated
                else torch.ones(n, device=dev))                                     # (n,)
        t0 = torch.rand(n, generator=generator, device=dev) * self.n_samples
        amp = torch.exp(self._log_amplitude(n, generator)) * gate
        sign = torch.where(torch.rand(n, generator=generator, device=dev) < 0.5, -1.0, 1.0)
        if bool(self.shape_recorded > 0) and int(self.n_patterns) > 0:
            sign = torch.ones_like(sign)         # the recorded rotations hold the polarity
        pattern = None
        if int(self.n_patterns) > 0:
            pattern = torch.randint(int(self.n_patterns), (n,), generator=generator,
                                    device=dev)
        return gate, t0, amp * sign, pattern

    def _shifted(self, t0: torch.Tensor, pattern: torch.Tensor | None) -> torch.Tensor:
        """Template spectra ``(m, C, F)`` arriving at ``t0`` ``(m,)`` samples, each with its
        arrival pattern (``(m,)`` indices, or None: the template's)."""
        template = torch.complex(self.template_real, self.template_imag)             # (C, F)
        k = torch.arange(template.shape[-1], device=template.device)
        if pattern is None:
            shift = torch.polar(torch.ones(t0.shape[0], k.numel(), device=template.device),
                                -2 * math.pi * t0[:, None] * k[None, :] / self.n_samples)
            return template[None] * shift[:, None, :]
        arrival = t0[:, None] + self.pattern_delays[pattern]                        # (m, C)
        shift = torch.polar(self.pattern_gains[pattern][..., None].expand(-1, -1, k.numel()),
                            -2 * math.pi * arrival[..., None] * k / self.n_samples)
        shifted = template[None] * shift
        if not bool(self.shape_recorded > 0):
            return shifted
        # each pulse's recorded rotation, its channel peak kept at the recorded one
        rotation = self.pattern_rotations[pattern]                                  # (m, C)
        with torch.no_grad():
            keep = (torch.fft.irfft(template, n=self.n_samples, dim=-1).abs().amax(-1)[None]
                    / rotated_peak(template, rotation, self.n_samples).clamp_min(1e-12))
        return rotate(shifted, rotation) * keep[..., None]

    def _inside(self, t0: torch.Tensor, pattern: torch.Tensor | None) -> torch.Tensor:
        """``(m, C, T)`` 1 where a sample lies within half a trace of its channel's pulse
        peak (arriving at ``t0`` with its pattern), else 0. The shift in frequency is
        circular; a trace is not: what of a pulse runs past one end of the trace is cut,
        not wrapped round to the other."""
        with torch.no_grad():
            template = torch.complex(self.template_real, self.template_imag)
            shape = torch.fft.irfft(template, n=self.n_samples, dim=-1)              # (C, T)
            peak = shape.abs().argmax(-1).to(t0.dtype)
            peak = torch.where(peak >= self.n_samples / 2, peak - self.n_samples, peak)
            arrival = t0[:, None] + peak[None]                                      # (m, C)
            if pattern is not None:
                arrival = arrival + self.pattern_delays[pattern]
            j = torch.arange(self.n_samples, device=t0.device, dtype=t0.dtype)
            offset = j - arrival[..., None]                                        # (m, C, T)
            return ((offset >= -self.n_samples / 2) & (offset < self.n_samples / 2)
                    ).to(self.template_real.dtype)

    def draw_traces(self, n: int, generator: torch.Generator,
                    scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling (no autograd): the pulses of the events that carry one (the same draws
        as :meth:`add_to_traces`).

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
        gate, t0, amp, pattern = self._draw(n, generator)
        events = torch.nonzero(gate > 0, as_tuple=True)[0]
        if events.numel() == 0:  # an empty FFT is an error in some backends (MKL)
            c = self.template_real.shape[0]
            return events, torch.zeros(0, c, self.n_samples, device=self.template_real.device)
        t0, amp = t0[events], amp[events]
        pattern = None if pattern is None else pattern[events]
        more = self._more(events, generator)
        if more is not None:
            events, t0, amp = (torch.cat([a, b]) for a, b in zip((events, t0, amp), more[:3],
                                                                  strict=True))
            pattern = None if pattern is None else torch.cat([pattern, more[3]])
        if scale is not None:
            amp = amp * scale[events]
        return events, self._pulses(t0, amp, pattern)

    def add_to_traces(self, traces: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add the pulses to traces ``(n, C, T)`` (the same draws as :meth:`draw_traces`); in
        place without autograd, where only the events that carry a pulse are touched."""
        if not torch.is_grad_enabled():
            events, pulses = self.draw_traces(traces.shape[0], generator)
            if events.numel():
                traces.index_add_(0, events, pulses.to(traces.dtype))
            return traces
        gate, t0, amp, pattern = self._draw(traces.shape[0], generator)
        out = traces + self._pulses(t0, amp, pattern)
        more = self._more(torch.nonzero(gate > 0, as_tuple=True)[0], generator)
        if more is not None:
            owners, t0, amp, pattern = more
            out = out.index_add(0, owners, self._pulses(t0, amp, pattern).to(out.dtype))
        return out

    def _pulses(self, t0: torch.Tensor, amp: torch.Tensor, pattern: torch.Tensor | None
                ) -> torch.Tensor:
        """Pulses ``(m, C, T)`` arriving at ``t0`` ``(m,)`` samples with signed amplitudes
        ``amp`` ``(m,)`` and arrival patterns ``(m,)`` (or None), each cut at the trace's
        ends and bounded by the channels' records."""
        pulses = torch.fft.irfft(amp[:, None, None] * self._shifted(t0, pattern),
                                 n=self.n_samples, dim=-1) * self._inside(t0, pattern)
        return pulses * self._bound(pulses)

    def _more(self, events: torch.Tensor, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
        """The further pulses of ``events`` (those with one): their events (repeated for
        several), arrival times, signed amplitudes and patterns, the number per event
        drawn from :attr:`count_prob`; None where every event holds one pulse."""
        if events.numel() == 0 or not bool(self.count_prob[1:].sum() > 0):
            return None
        extra = torch.multinomial(self.count_prob, events.numel(), replacement=True,
                                  generator=generator)
        owners = torch.repeat_interleave(events, extra)
        if owners.numel() == 0:
            return None
        _, t0, amp, pattern = self._draw(owners.numel(), generator, gated=False)
        return owners, t0, amp, pattern

    def _bound(self, pulses: torch.Tensor) -> torch.Tensor:
        """Factor ``(m, C, 1)`` (at most 1, no gradient) that keeps each channel's pulse
        within the largest recorded sample of that channel (:attr:`channel_limit`). The
        amplitude table holds event peaks and the pattern is drawn independently of it:
        a pattern loud in a channel that never recorded more than a third of another
        channel's largest sample drew it there with that channel's amplitudes (a sample
        8 times the channel's record, on impulsive noise in independent channels)."""
        limit = self.channel_limit.to(pulses.dtype)
        if not bool((limit > 0).all()):
            return torch.ones((), dtype=pulses.dtype, device=pulses.device)
        peak = pulses.detach().abs().amax(-1, keepdim=True).clamp_min(1e-30)
        return (limit[:, None] / peak).clamp_(max=1.0)
