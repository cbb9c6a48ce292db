"""Intermittent continuous-wave lines (:class:`Lines`) and the Bernoulli gate that switches
them, and the impulses of :mod:`~rnognoise.models.impulses`, on and off per event.

Presence of a line or impulse is a Bernoulli draw with a learnable probability; the
gradient reaches the probability through a straight-through relaxed Bernoulli
(Maddison et al. 2017, arXiv:1611.00712; Bengio et al. 2013, arXiv:1308.3432).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import f as f_dist
from scipy.stats import ttest_ind
from torch import nn

from ..subsample import evenly_spaced
from .envelope import quinn_offset
from .line_envelope import MAX_EVENTS, N_ENVELOPES, envelope_waves, record_envelopes
from .quantile_map import draw_from_quantiles, quantile_knots

__all__ = [
    "CLEAR_RATIO",
    "PRESENCE_FALSE_ALARM",
    "PRESENCE_P_VALUE",
    "Lines",
    "bernoulli_gate",
    "beyond_false_alarms",
    "gaussian_level",
    "leakage_kernel",
    "peak_frequency",
    "presence_threshold",
    "side_bins",
]


def bernoulli_gate(logits: torch.Tensor, n: int, generator: torch.Generator,
                   temperature: float = 0.3) -> torch.Tensor:
    """Hard 0/1 gates ``(n, K)`` with P(1) = sigmoid(logits); straight-through gradients."""
    u = torch.rand(n, logits.shape[-1], generator=generator, device=logits.device)
    u = u.clamp(1e-6, 1 - 1e-6)
    soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    if not torch.is_grad_enabled():
        return (soft > 0.5).to(soft.dtype)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + soft - soft.detach()


def leakage_kernel(offset: torch.Tensor) -> torch.Tensor:
    """Fraction of a sinusoid's power in an rfft bin ``offset`` bins from its frequency
    (rectangular window, long trace): ``sinc^2(offset)``; sums to 1 over all bins."""
    return torch.special.sinc(offset).square()


def peak_frequency(traces: torch.Tensor, bin_index: int, *, oversample: int = 16,
                   max_events: int = 512) -> float:
    """Frequency, in rfft bins, of a line near ``bin_index`` in ``traces (n, C, T)``.

    The power of each event's discrete-time Fourier transform, on a grid ``1/oversample``
    of a bin fine over ``bin_index +- 0.5`` bins (``bin_index`` is the line's nearest bin),
    is summed over events and channels (a line's random phase from event to event does not
    move the peak), and the peak is refined by a parabola through the three grid points
    around it. The power-weighted centroid of the bins, by contrast, is pulled towards
    the nearest bin's centre (by 0.18 bins for a line 0.36 bins from it): over a 640 ns
    trace a 0.28 MHz error turns the line's phase by a radian from one end to the other.

    Parameters
    ----------
    traces : torch.Tensor
        Events that carry the line.
    bin_index : int
        The bin nearest the line.
    oversample : int
        Grid points per bin.
    max_events : int
        Events used at most (evenly spaced), bounding the cost.

    Returns
    -------
    float
        The line's frequency in bins (``f / (f_s / T)``).
    """
    n, _, t = traces.shape
    pick = evenly_spaced(n, max_events, traces.device)
    x = traces[pick].double().reshape(-1, t)
    half = oversample // 2 + 1                        # one point beyond +-0.5 bins
    grid = bin_index + torch.arange(-half, half + 1, dtype=torch.float64,
                                    device=traces.device) / oversample
    arg = -2.0 * math.pi * torch.arange(t, dtype=torch.float64, device=traces.device
                                        )[:, None] * grid[None] / t
    power = (x @ torch.cos(arg)).square().sum(0) + (x @ torch.sin(arg)).square().sum(0)
    i = int(power[1:-1].argmax()) + 1
    lp = power[i - 1:i + 2].clamp_min(1e-300).log()
    curve = float(lp[0] - 2 * lp[1] + lp[2])
    shift = 0.5 * float(lp[0] - lp[2]) / curve if curve < 0 else 0.0
    return min(max(float(grid[i]) + max(min(shift, 0.5), -0.5) / oversample,
                   bin_index - 0.5), bin_index + 0.5)


#: Bins of the running median across frequency that gives a bin the Gaussian level of its
#: neighbours (:func:`gaussian_level`).
LEVEL_WIDTH = 15
#: A bin whose own median-based level exceeds its neighbours' by more than this factor
#: takes theirs (:func:`gaussian_level`).
LEVEL_EXCESS = 2.0


def gaussian_level(power: torch.Tensor) -> torch.Tensor:
    """Mean power of the Gaussian noise per channel and bin ``(C, F)`` from event powers
    ``(n, C, F)``: the median over events / ln 2, except where that exceeds the running
    median of those levels over :data:`LEVEL_WIDTH` bins by :data:`LEVEL_EXCESS`.

    A line present in half of the events or more is the median of its bins (and in a
    third of them it doubles the median's level): measured against its own bins' median
    it was not found at all. Such bins take their neighbours' level; a smooth spectrum
    (on a monotone slope the running median is the bin's own level) keeps its own.
    """
    own = power.median(dim=0).values / math.log(2.0)                           # (C, F)
    half = LEVEL_WIDTH // 2
    if own.shape[-1] <= 2 * half:
        return own
    padded = torch.nn.functional.pad(own[None], (half, half), mode="replicate")[0]
    beside = padded.unfold(-1, LEVEL_WIDTH, 1).median(-1).values               # (C, F)
    return torch.where(own > LEVEL_EXCESS * beside, beside, own)


#: Fraction of events without a narrow line that its presence test calls present
#: (:func:`presence_threshold`). A fixed threshold of 10 on the event's power at the line
#: over the Gaussian level missed an intermittent transmitter of a few times the noise's
#: level in a bin: 4 % of the events called present against the 40 % that carried it,
#: the rest of its power drawn as stationary noise independent in each channel (held-out
#: C2ST AUC 0.76; 0.53 with this test, docs/benchmarks.md).
PRESENCE_FALSE_ALARM = 1e-3
#: A line is made only where more events exceed its presence threshold than Gaussian
#: noise would put there: the binomial probability of as many false alarms or more must
#: be below this.
PRESENCE_P_VALUE = 1e-3
#: An event carries a carrier wandering in a band where its power in some bin of the band
#: exceeds the Gaussian level by this factor, and a narrow line with fewer than four bins
#: beside it (for the presence test) where its power over the line's bins does.
CLEAR_RATIO = 10.0
#: Bins beside a line (offsets ``3 .. 10`` on each side) whose power in the same event is
#: the reference of its presence test: a broadband transient or a louder event raises
#: both, a line only its own bins.
SIDE_OFFSETS = tuple(range(3, 11))


def presence_threshold(n_channels: int, n_bins: int, n_side: int,
                       false_alarm: float = PRESENCE_FALSE_ALARM) -> float:
    """Threshold on an event's mean power over ``n_bins`` bins at a line relative to its
    mean power over ``n_side`` bins beside it (each bin over its Gaussian level, both
    means over ``n_channels`` channels) that Gaussian noise alone exceeds in a fraction
    ``false_alarm`` of events.

    A bin's power is exponential for Gaussian noise, so each mean is gamma distributed
    and their ratio follows an F distribution with ``2 n_bins n_channels`` and
    ``2 n_side n_channels`` degrees of freedom.

    Parameters
    ----------
    n_channels : int
        Channels averaged.
    n_bins, n_side : int
        Bins per channel at the line and beside it.
    false_alarm : float
        Fraction of events without the line that exceed the threshold.

    Returns
    -------
    float
        The threshold on the ratio (about 1 for Gaussian noise).
    """
    from scipy.stats import f

    return float(f.isf(false_alarm, 2 * n_bins * n_channels, 2 * n_side * n_channels))


def beyond_false_alarms(present: torch.Tensor) -> bool:
    """Whether more events are ``present`` than Gaussian noise alone makes at the
    presence threshold's false-alarm rate (binomial tail below :data:`PRESENCE_P_VALUE`)."""
    from scipy.stats import binom

    m, n = int(present.sum()), int(present.numel())
    return m >= 2 and float(binom.sf(m - 1, n, PRESENCE_FALSE_ALARM)) < PRESENCE_P_VALUE


def side_bins(line: int, n_freq: int, avoid: list[int], passband: torch.Tensor) -> list[int]:
    """Bins at :data:`SIDE_OFFSETS` from bin ``line`` inside the ``passband`` mask and more
    than two bins from every bin in ``avoid`` (other lines)."""
    out = []
    for d in SIDE_OFFSETS:
        for j in (line - d, line + d):
            if 3 <= j < n_freq and bool(passband[j]) and all(abs(j - a) > 2 for a in avoid):
                out.append(j)
    return sorted(out)


#: Mean fraction of a sinusoid's power in its nearest bin and the two beside it, for a
#: frequency anywhere between two bins: mean of ``sum_{d=-1..1} sinc^2(d - x)``,
#: ``|x| <= 1/2``.
BETWEEN_BINS_HELD = float(leakage_kernel(
    torch.arange(-1, 2, dtype=torch.float64)[:, None]
    - torch.linspace(-0.5, 0.5, 1001, dtype=torch.float64)[None]).sum(0).mean())


def _level_rss(slope: float, level: torch.Tensor, power: torch.Tensor,
               weight: torch.Tensor) -> float:
    """Weighted residual sum of squares of ``power ~ a exp(2 slope level)`` at the best
    ``a`` (:meth:`Lines.follow_level`)."""
    w = torch.exp(2.0 * slope * level)
    a = float((weight * power * w).sum() / (weight * w * w).sum())
    return float((weight * (power - a * w).square()).sum())


def _presence_moves_level(level: torch.Tensor, events: torch.Tensor,
                          p_value: float = 1e-3) -> bool:
    """Whether the events carrying a line (indices ``events``) differ in ``level`` from
    those without it (Welch's t test, two-sided, at ``p_value``; False with fewer than 20
    of either): then the level is not the chain's alone (the line's leakage, or louder
    noise that comes with the line or hides it)."""
    carrying = torch.zeros(len(level), dtype=torch.bool, device=level.device)
    carrying[events] = True
    a, b = level[carrying].double(), level[~carrying].double()
    if len(a) < 20 or len(b) < 20:
        return False
    return bool(ttest_ind(a.cpu().numpy(), b.cpu().numpy(), equal_var=False).pvalue < p_value)


def _carrying_slope(level: torch.Tensor, amp: torch.Tensor,
                    min_significance: float) -> float | None:
    """Least-squares slope of the carrying events' log amplitude (relative to the
    per-channel medians, averaged over channels as in the line's table) on their log
    amplitude ``level``, or None unless it stands out by ``min_significance`` standard
    errors."""
    rel = (amp / amp.clamp_min(1e-12).log().median(0).values.exp()).double()
    y = 0.5 * rel.square().mean(1).clamp_min(1e-12).log()
    x = level.double() - level.double().mean()
    sxx = float(x.square().sum())
    if sxx <= 0 or len(x) < 20:
        return None
    slope = float((x * (y - y.mean())).sum()) / sxx
    resid = y - y.mean() - slope * x
    se = math.sqrt(float(resid.square().sum()) / (len(x) - 2) / sxx)
    return slope if slope > min_significance * se else None


class Lines(nn.Module):
    """Continuous-wave lines, each present in a fraction of events.

    Line ``k`` in channel ``c`` of an event is
    ``g_k A_kc exp(s_k e) cos(2 pi f_k t + theta + phi_kc)`` with a Bernoulli gate ``g_k``,
    an amplitude jitter ``e`` common to the channels and a random phase ``theta`` shared by
    all channels. ``e`` is drawn from the line's table of recorded quantiles (the log
    amplitudes of the events that carry it relative to ``A_kc``, in units of their spread,
    which ``s_k`` is unless bounded). The amplitudes of a carrier are not log-normal (a
    Rayleigh amplitude's log has a long lower tail and a short upper one): on a
    NuRadioMC-built set, a log-normal with the recorded median and spread gave a
    Rayleigh-amplitude carrier 22 % more mean power than the data's. Models made before
    the table draw ``e ~ N(0, 1)``.

    A line whose amplitude or phase changes within the trace (a modulated or keyed
    carrier) is drawn with one of its recorded complex envelopes
    (:mod:`~rnognoise.models.line_envelope`): ``cos`` becomes the real part of the envelope
    times the carrier, and its sidebands and amplitude distribution are the data's.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    sampling_rate : float
        Hz.
    max_lines : int
        Number of line slots.
    n_level_bands : int
        Bands of the envelope whose levels a line's amplitude may follow
        (:meth:`follow_level`).
    """

    #: Largest standard deviation of a line's log amplitude from event to event (a factor
    #: exp(0.7) ~ 2 per standard deviation). A larger fitted spread means the "line" is
    #: something else (a burst); left unbounded it gives log-normal tails of volts.
    max_amp_jitter: float = 0.7
    #: Knots of each line's table of log amplitudes: dense enough that the top segment
    #: (drawn uniformly between the last two knots, up to the largest recorded amplitude)
    #: holds under 1 % of the draws (with 33 knots a Rayleigh amplitude's 99th percentile
    #: came out 11 % high).
    n_amp_knots: int = 129
    #: Largest variation (standard deviation over mean) of the power within the trace of
    #: a band carrier's recorded envelope. A carrier's power is steady whatever its
    #: frequency does (drifting by up to 40 MHz: 0.1-0.45 with the noise the recording
    #: keeps; amplitude-modulated to 50 %: 0.63); a burst in the band, which its loudest
    #: bin also takes for a carrier, holds its power in tens of nanoseconds (1.7-2.4), and
    #: a band of Gaussian noise (common-mode pickup) varies as noise does (0.8-1.1).
    max_band_power_cv: float = 0.6

    def __init__(self, n_channels: int, n_samples: int, sampling_rate: float,
                 max_lines: int = 8, n_level_bands: int = 16) -> None:
        super().__init__()
        self.n_samples = n_samples
        self.sampling_rate = sampling_rate
        k = max_lines
        self.register_buffer("base_freq", torch.zeros(k))
        self.register_buffer("active", torch.zeros(k))
        self.freq_shift = nn.Parameter(torch.zeros(k))        # in rfft bins
        self.log_freq_jitter = nn.Parameter(torch.full((k,), math.log(0.05)))
        self.log_amp = nn.Parameter(torch.full((k, n_channels), -5.0))
        self.phase = nn.Parameter(torch.zeros(k, n_channels))
        self.logit = nn.Parameter(torch.full((k,), -4.0))
        self.log_amp_jitter = nn.Parameter(torch.full((k,), math.log(0.1)))
        #: per slot: log amplitude relative to ``log_amp`` at probabilities
        #: ``linspace(0, 1, K)``, in units of the recorded spread; a draw is multiplied by
        #: ``exp(log_amp_jitter)`` (the recorded spread unless bounded)
        self.register_buffer("log_amp_quantiles", torch.zeros(k, self.n_amp_knots))
        #: 1 when the amplitudes are drawn from the tables, 0 for the log-normal
        self.register_buffer("amp_table", torch.tensor(0.0))
        #: per slot and channel: the Gaussian noise's mean power in three of its bins
        #: (rfft units of normalised traces), the unit of :meth:`event_log_power`
        self.register_buffer("noise_power", torch.zeros(k, n_channels))
        #: offsets (bins) of a line's recorded envelopes: ``-envelope_reach .. envelope_reach``
        self.envelope_reach = max(1, min(24, n_samples // 8))
        #: per slot: recorded complex envelopes (real, imaginary) at those offsets, of which
        #: the first ``envelope_count`` are used (none: a constant carrier)
        self.register_buffer("envelope_table",
                             torch.zeros(k, N_ENVELOPES, 2 * self.envelope_reach + 1, 2))
        self.register_buffer("envelope_count", torch.zeros(k))
        #: per slot: how the line's amplitude follows the event's broadband level
        #: (:meth:`follow_level`): ``A ~ exp(level_slope (l - level_centre))`` with ``l``
        #: the event's log amplitude level in the envelope's bands ``level_bands`` (1:
        #: counted; the line's own band and its neighbours are not), the factor within
        #: ``level_bounds`` (the recorded events' range); slope 0: the amplitude
        #: ignores the level
        self.register_buffer("level_slope", torch.zeros(k))
        self.register_buffer("level_centre", torch.zeros(k))
        self.register_buffer("level_bounds", torch.ones(k, 2))
        self.register_buffer("level_bands", torch.zeros(k, n_level_bands))
        #: per narrow slot, for :meth:`follow_level` (not saved): the carrying events
        #: (indices into the data of :meth:`initialize`), their measured amplitudes
        #: ``(m, C)``, every event's power at the line over its own noise ``(n,)`` and
        #: that noise's level over the Gaussian level ``(n,)``
        self._recorded: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                        torch.Tensor]] = {}

    @property
    def bin_width(self) -> float:
        """rfft bin width in Hz."""
        return self.sampling_rate / self.n_samples

    def initialize(self, data: torch.Tensor, *, excess_threshold: float = 2.0,
                   band_threshold: float = 1.06, band_width: int = 9) -> None:
        """Find intermittent lines (mean power above the Gaussian level) and set slots.

        Narrow lines first: bins whose mean power exceeds the Gaussian level
        (median / ln 2) by ``excess_threshold``. Then carriers whose frequency changes from
        event to event inside a band: bumps of the excess smoothed over ``band_width``
        bins that stand ``band_threshold`` above its passband median; such a slot gets
        the band's centre and a frequency spread of width / sqrt(12) (a uniform band).
        An event carries a narrow line where its power there, relative to its power in
        the bins beside it, exceeds what Gaussian noise alone reaches in a fraction
        :data:`PRESENCE_FALSE_ALARM` of events (:func:`presence_threshold`).

        Parameters
        ----------
        data : torch.Tensor
            Normalised traces ``(n, C, T)``.
        excess_threshold : float
            Minimum ratio of mean power to the Gaussian level for a narrow line.
        band_threshold : float
            Minimum smoothed excess (relative to its passband median) for a band.
        band_width : int
            Smoothing width in bins for the band search.
        """
        spec = torch.fft.rfft(data.double(), dim=-1)              # (n, C, F)
        power = spec.abs() ** 2
        gauss = gaussian_level(power)                             # (C, F)
        excess = (power.mean(0) / gauss.clamp_min(1e-30)).mean(0)  # (F,)
        level = gauss.mean(0)
        passband = level >= 0.01 * level.max()
        excess[~passband] = 0.0
        excess[:3] = 0.0
        self.active.zero_()
        self.envelope_count.zero_()
        self.level_slope.zero_()
        self.level_centre.zero_()
        self.level_bounds.fill_(1.0)
        self.level_bands.zero_()
        self._recorded = {}
        chosen: list[int] = []
        order = torch.argsort(excess, descending=True)
        for b in order.tolist():
            if excess[b] < excess_threshold or len(chosen) >= 4 * self.active.numel():
                break
            if any(abs(b - c) <= 3 for c in chosen):
                continue
            chosen.append(b)
        n_freq = power.shape[-1]
        # a modulated carrier's sidebands stand above the Gaussian level too: the bins its
        # recorded envelopes cover are not lines of their own
        covered: set[int] = set()
        used: list[int] = []
        for b in chosen:
            if len(used) >= self.active.numel():
                break
            if b in covered:
                continue
            k = len(used)
            used.append(b)
            lo, hi = max(b - 1, 0), min(b + 2, n_freq)
            # Presence: the event's power at the line, relative to its power beside it,
            # above what Gaussian noise reaches in all but a fraction
            # PRESENCE_FALSE_ALARM of events
            side = side_bins(b, n_freq, [c for c in chosen if c != b], passband)
            if len(side) >= 4:
                # the event's noise level beside the line, over the Gaussian level
                beside = (power[:, :, side] / gauss[:, side]).mean((1, 2))
                contrast = (power[:, :, lo:hi] / gauss[:, lo:hi]).mean((1, 2)) / beside
                present = contrast > presence_threshold(power.shape[1], hi - lo, len(side))
            else:   # too few bins beside it (a passband edge, other lines)
                beside = torch.ones(power.shape[0], dtype=power.dtype, device=power.device)
                present = (power[:, :, lo:hi].sum(-1) / gauss[:, lo:hi].sum(-1)
                           ).mean(1) > CLEAR_RATIO
            if not beyond_false_alarms(present):
                continue
            occupancy = float(present.double().mean().clamp(1e-3, 1 - 1e-3))
            # the line's frequency between the bins, and the fraction of its power the
            # bins lo..hi hold (the rest leaks further out)
            centre = peak_frequency(data[present], b)
            held = float(leakage_kernel(torch.arange(lo, hi, dtype=torch.float64) - centre
                                        ).sum())
            p = power[present][:, :, lo:hi].sum(-1) - gauss[:, lo:hi].sum(-1)  # (m, C)
            amp = 2.0 * (p / held).clamp_min(1e-12).sqrt() / self.n_samples  # cos amplitude
            cross = (spec[present, :, b] * spec[present, :1, b].conj()).mean(0)  # (C,)
            self.base_freq[k] = centre * self.bin_width
            self.active[k] = 1.0
            self.freq_shift.data[k] = 0.0
            self.noise_power[k] = gauss[:, lo:hi].sum(-1).float()
            self._set_amplitudes(k, amp)
            # every event's power at the line over its own noise there (carrying or not:
            # the events found to carry a weak line are, among louder noise, those whose
            # noise added to it), for follow_level
            at_line = (power[:, :, lo:hi].sum(-1)
                       - gauss[:, lo:hi].sum(-1) * beside[:, None]).sum(1)           # (n,)
            self._recorded[k] = (torch.nonzero(present, as_tuple=True)[0], amp.clone(),
                                 at_line, beside.clone())
            self.phase.data[k] = torch.angle(cross).float()
            self.logit.data[k] = math.log(occupancy / (1 - occupancy))
            # the events without the line measure the noise beside it where it is in a
            # minority of events; where it is in most, those without it are mostly its
            # weakest (a carrier in every event, some below the presence threshold), whose
            # sidebands would be taken for noise
            absent = None
            if occupancy <= 0.5:
                rows = torch.nonzero(~present, as_tuple=True)[0]
                absent = data[rows[evenly_spaced(len(rows), MAX_EVENTS, rows.device)]]
            covered |= self._record_envelopes(k, data[present], centre, gauss,
                                              self._other_lines(b, chosen, power, ~present,
                                                                gauss, excess_threshold),
                                              absent)
        self._initialize_bands(data, spec, power, gauss, excess, passband,
                               sorted(set(used) | covered), band_threshold, band_width)

    def _initialize_bands(self, data: torch.Tensor, spec: torch.Tensor, power: torch.Tensor,
                          gauss: torch.Tensor, excess: torch.Tensor, passband: torch.Tensor,
                          narrow: list[int], threshold: float, width: int) -> None:
        """Slots for carriers whose frequency wanders inside a band (see :meth:`initialize`),
        each with its recorded envelopes relative to every carrying event's own frequency
        (:meth:`_record_band_envelopes`)."""
        free = [k for k in range(self.active.numel()) if self.active[k] == 0]
        if not free or passband.sum() < 3 * width:
            return
        flat = excess.clone()
        for b in narrow:
            flat[max(b - 3, 0):b + 4] = float("nan")
        ref = flat[passband].nanmedian()
        rel = torch.nan_to_num(flat / ref, nan=1.0)
        rel[~passband] = 1.0
        kernel = torch.ones(1, 1, width, dtype=rel.dtype) / width
        smooth = torch.nn.functional.conv1d(rel[None, None], kernel, padding=width // 2)[0, 0]
        n_freq = power.shape[-1]
        taken = torch.zeros(n_freq, dtype=torch.bool)
        for b in narrow:
            taken[max(b - width, 0):b + width + 1] = True
        while free:
            candidate = torch.where(taken, torch.zeros_like(smooth), smooth)
            peak = int(torch.argmax(candidate))
            top = float(candidate[peak])
            if top < threshold:
                break
            half = 1.0 + 0.5 * (top - 1.0)
            lo, hi = peak, peak
            while lo > 0 and smooth[lo - 1] >= half and not taken[lo - 1]:
                lo -= 1
            while hi < n_freq - 1 and smooth[hi + 1] >= half and not taken[hi + 1]:
                hi += 1
            taken[max(lo - width, 0):hi + width + 1] = True
            a, b = max(lo - 1, 0), min(hi + 2, n_freq)
            ratio = (power[:, :, a:b] / gauss[:, a:b]).mean(1)          # (n, bins)
            best = ratio.argmax(-1)                                      # bin offset per event
            present = ratio.amax(-1) > CLEAR_RATIO
            if present.sum() < 2:
                continue
            idx = torch.nonzero(present, as_tuple=True)[0]
            cols = a + best[idx]
            # the carrier's power in its loudest bin and the two beside it (one bin holds
            # 41-100 % of it, as its frequency falls between the bins), over the mean
            # fraction three bins hold
            near = (cols[:, None] + torch.arange(-1, 2, device=cols.device)).clamp(0, n_freq - 1)
            p = (torch.gather(power[idx], 2, near[:, None].expand(-1, power.shape[1], -1))
                 - gauss[:, near].permute(1, 0, 2)).sum(-1)               # (m, C)
            amp = 2.0 * (p / BETWEEN_BINS_HELD).clamp_min(1e-12).sqrt() / self.n_samples
            cross = (spec[idx, :, cols] * spec[idx, :1, cols].conj())
            cross = (cross / cross.abs().clamp_min(1e-30)).mean(0)       # (C,)
            occupancy = float(present.double().mean().clamp(1e-3, 1 - 1e-3))
            # each carrying event's frequency (its loudest bin and, in its loudest channel,
            # Quinn's offset between the bins): their mean and spread. The half-maximum
            # width of the smoothed excess is wider by the smoothing: every carrier got a
            # spread of at least 2.6 bins (the default set's 482-485 MHz one: 0.55)
            loud = torch.gather(power[idx], 2, cols[:, None, None].expand(
                -1, power.shape[1], 1))[..., 0].argmax(-1)
            edge = cols.clamp(1, n_freq - 2)
            freq = edge.double() + quinn_offset(spec[idx, loud], edge).double()
            k = free.pop(0)
            self.base_freq[k] = float(freq.mean()) * self.bin_width
            self.active[k] = 1.0
            self.freq_shift.data[k] = 0.0
            self.log_freq_jitter.data[k] = math.log(max(float(freq.std()), 0.05))
            self.noise_power[k] = 3.0 * gauss[:, a:b].mean(-1).float()
            self._set_amplitudes(k, amp)
            self.phase.data[k] = torch.angle(cross).float()
            self.logit.data[k] = math.log(occupancy / (1 - occupancy))
            self._record_band_envelopes(k, data[idx], freq, gauss, narrow)

    def _record_band_envelopes(self, k: int, carrying: torch.Tensor, centre: torch.Tensor,
                               gauss: torch.Tensor, narrow: list[int]) -> None:
        """Slot ``k``'s recorded envelopes for a carrier whose frequency changes from event
        to event: each carrying event is moved down by its own frequency ``centre`` (bins,
        ``(m,)``), so that what spreads its power beyond its three bins within the trace (a
        frequency drift) is recorded relative to it; the narrow lines' bins (``narrow``,
        within two bins) are left out of each event's window, and only envelopes of steady
        power are kept (:attr:`max_band_power_cv`)."""
        reach = self.envelope_reach
        n_freq = gauss.shape[-1]
        offsets = torch.arange(-reach, reach + 1, device=gauss.device)
        bins = (centre.round().long()[:, None] + offsets).clamp(0, n_freq - 1)      # (m, D)
        level = gauss[:, bins].permute(1, 0, 2)                                     # (m, C, D)
        exclude = torch.zeros(bins.shape, dtype=torch.bool, device=gauss.device)
        for b in narrow:
            exclude |= (bins - b).abs() <= 2
        exclude[:, reach] = False
        pattern = torch.polar(self.log_amp.data[k].double().exp(),
                              self.phase.data[k].double())
        table = record_envelopes(carrying, centre, pattern, level, reach, exclude,
                                 max_power_cv=self.max_band_power_cv)
        if table is not None:
            self.envelope_table[k, :len(table)] = torch.view_as_real(table)
            self.envelope_count[k] = float(len(table))

    def _other_lines(self, b: int, candidates: list[int], power: torch.Tensor,
                     absent: torch.Tensor, gauss: torch.Tensor, threshold: float
                     ) -> torch.Tensor:
        """Offsets ``(2 reach + 1,)`` of line ``b``'s envelope window that belong to another
        line: within 2 bins of a candidate whose excess (mean power over the Gaussian
        level in its three bins) exceeds ``threshold`` in the events without line ``b``
        (``absent``, a mask over the events of ``power (n, C, F)``). A modulation's
        sidebands come and go with their carrier; a line of its own is there without it
        (a line 33 MHz from a carrier with 4 % of its power in sidebands became part of
        the carrier's envelopes, present only with it)."""
        reach = self.envelope_reach
        out = torch.zeros(2 * reach + 1, dtype=torch.bool)
        if int(absent.sum()) < 2:
            return out
        n_freq = gauss.shape[-1]
        for c in candidates:
            d = c - b
            if c == b or abs(d) > reach + 2:
                continue
            lo, hi = max(c - 1, 0), min(c + 2, n_freq)
            near = power[:, :, lo:hi][absent]                                  # (m, C, 3)
            ratio = (near.sum(-1).mean(0) / gauss[:, lo:hi].sum(-1)).mean()
            if float(ratio) > threshold:
                out[max(d - 2 + reach, 0):min(d + 3 + reach, 2 * reach + 1)] = True
        return out

    def _record_envelopes(self, k: int, carrying: torch.Tensor, centre: float,
                          gauss: torch.Tensor, exclude: torch.Tensor,
                          absent: torch.Tensor | None = None) -> set[int]:
        """Slot ``k``'s recorded envelopes from the events that carry it, if its modulation
        is significant (:func:`~rnognoise.models.line_envelope.record_envelopes`); returns
        the bins their sidebands cover (none without). The noise at each offset is the
        power there in the events without the line (``absent``, where given and 16 or
        more), so that only what comes with the carrier is its modulation (in a set with
        drifting carriers, those passing by made a constant 403 MHz line "modulated");
        otherwise the level below."""
        reach = self.envelope_reach
        n_freq = gauss.shape[-1]
        offsets = torch.arange(-reach, reach + 1, device=gauss.device)
        bins = (round(centre) + offsets).clamp(0, n_freq - 1)
        # the Gaussian level inside the window is raised where the modulation's sidebands
        # are in many events (by 2-4 times for a carrier modulated at a random rate in
        # every event): the noise there is interpolated (log-linearly) between the levels
        # just beyond the window on either side, and bounded by the bins' own level
        side = torch.arange(1, 5, device=gauss.device)
        left = gauss[:, (round(centre) - reach - side).clamp(0, n_freq - 1)].median(-1).values
        right = gauss[:, (round(centre) + reach + side).clamp(0, n_freq - 1)].median(-1).values
        w = ((offsets + reach + 2.5) / (2 * reach + 5)).to(gauss.dtype)
        beyond = (left.clamp_min(1e-30).log()[:, None] * (1 - w)
                  + right.clamp_min(1e-30).log()[:, None] * w).exp()
        level = torch.minimum(gauss[:, bins], beyond)
        pattern = torch.polar(self.log_amp.data[k].double().exp(),
                              self.phase.data[k].double())
        table = record_envelopes(carrying, centre, pattern, level, reach, exclude,
                                 reference=absent)
        if table is None:
            return set()
        self.envelope_table[k, :len(table)] = torch.view_as_real(table)
        self.envelope_count[k] = float(len(table))
        held = (table.abs() ** 2).mean(0) > 0
        return {int(b) for b in bins[held]}

    def _set_amplitudes(self, k: int, amp: torch.Tensor) -> None:
        """Slot ``k``'s amplitudes from those measured in the events that carry it
        ``(m, C)``: per-channel medians, and the table of the event's log amplitude
        relative to them in units of its spread, half the distance between its 16th and
        84th percentiles (the standard deviation of a normal law; unlike the standard
        deviation, not set by the few events whose carrier the noise nearly cancelled),
        bounded by :attr:`max_amp_jitter`. The drawn log amplitudes are the recorded ones,
        or, beyond the bound, the recorded shape narrowed to it."""
        log_amp = amp.clamp_min(1e-12).log()
        centre = log_amp.median(0).values
        # the event's power over the channels relative to the medians' (a mean of logs
        # would take a channel whose carrier the noise cancelled for a silent event; a
        # mean of the channels' ratios gave a channel without the carrier, whose ratio is
        # the noise's, as much say as the one that carries it: a steady carrier in one of
        # two channels was drawn with a log-amplitude spread of 0.7 and peaks of 14 times
        # its amplitude)
        typical = centre.exp().square().sum().clamp_min(1e-24)
        common = 0.5 * (amp.square().sum(1) / typical).clamp_min(1e-12).log()       # (m,)
        q16, q84 = torch.quantile(common.double(), torch.tensor(
            [0.16, 0.84], dtype=torch.float64, device=common.device)).tolist()
        spread = max(0.5 * (q84 - q16), 0.02)
        self.log_amp.data[k] = centre.float()
        self.log_amp_jitter.data[k] = math.log(min(spread, self.max_amp_jitter))
        self.log_amp_quantiles[k] = quantile_knots(common, self.n_amp_knots) / spread
        self.amp_table.fill_(1.0)

    #: Least significance (slope over its standard error) of the carrying events' line
    #: amplitudes on their levels for the line to follow the level.
    level_min_significance: float = 4.0

    def follow_level(self, bands: torch.Tensor | None, band_edges: torch.Tensor | None = None,
                     noise_bands: torch.Tensor | None = None) -> dict[str, float]:
        """Let each narrow line's amplitude follow the event's broadband level where the
        recorded power does.

        A signal chain whose gain changes from event to event (an amplifier that
        switches, a temperature step) scales its carriers with its noise; noise added
        in front of it (wind, a loud sky) does not. Which one the data hold is measured.
        An event's level ``x_i`` is half its band log powers, averaged over channels and
        over the bands but the line's own and its neighbours (its leakage is not the
        level), less the mean over events. The line's power over the event's own noise
        there, ``p_i``, in every event, carrying the line or not (the events found to
        carry a weak line among louder noise are those whose noise added to it: their
        amplitudes rise with the level whatever the line does), is fitted by
        ``a exp(2 b x_i)``, least squares weighted by the inverse of the events' noise
        level (``p_i`` scatters with the noise's power where the noise dominates and with
        the carrier's amplitude jitter where the carrier does; weighted by the inverse
        noise power, a loud class of 3 % of the events five times louder weighed 25 times
        less than the others and its carriers' slope of 1 went unseen), ``b`` on a grid
        of 0-1 (1: a common gain), where it explains more than a slope of 0 beyond the F
        distribution's 1e-4 quantile; and the carrying events' log
        amplitudes against their levels, where that slope stands out by
        :attr:`level_min_significance` standard errors (a line whose presence comes with
        a louder event gives all events a slope and the carrying ones none). Nothing
        follows where the carrying events' levels differ from the others' (Welch's
        t test, p < 1e-3): a gain does not change whether a line is found, but a
        strong carrier's leakage raises its events' level, and louder noise in front
        of the chain hides a weak line. The smaller slope is kept, corrected for the
        level's measurement noise (regression dilution, from ``noise_bands``), and the
        amplitude table is refitted to the carrying events' amplitudes with the level's
        part divided out. Without it, a
        line recorded 2.5 times louder in the 15 % of events whose whole chain was
        louder drew its loud amplitudes in any event (``tests/test_line_level.py``).
        ``bands`` None restores the amplitudes as recorded.

        Parameters
        ----------
        bands : torch.Tensor or None
            ``(n, C, B)`` band log powers of the events of the data of :meth:`initialize`,
            as the envelope draws them (:meth:`Envelope.measured_bands
            <rnognoise.models.envelope.Envelope.measured_bands>`).
        band_edges : torch.Tensor
            ``B + 1`` rfft bin edges of the bands.
        noise_bands : torch.Tensor
            ``(m, C, B)`` the same of stationary noise: the levels' measurement noise.

        Returns
        -------
        dict
            Per slot followed (as a string key): its slope.
        """
        found: dict[str, float] = {}
        for k, (events, amp, at_line, noise) in self._recorded.items():
            self._set_amplitudes(k, amp)
            self.level_slope[k] = 0.0
            self.level_centre[k] = 0.0
            self.level_bounds[k] = 1.0
            self.level_bands[k] = 0.0
            if bands is None or band_edges is None or noise_bands is None \
                    or len(at_line) < 50 or events.numel() < 20 \
                    or bands.shape[-1] != self.level_bands.shape[1]:
                continue
            mask = self._level_mask(k, band_edges)
            if int(mask.sum()) < 2:
                continue
            lev = self._levels(bands.to(mask.device), mask).double()
            centre = float(lev.mean())
            x = lev - centre
            var_x = float(x.var())
            noise_var = float(self._levels(noise_bands.to(mask.device), mask).double().var())
            if var_x <= 2.0 * noise_var:
                continue
            if _presence_moves_level(x, events):
                continue
            weight = 1.0 / noise.double().clamp_min(1e-12)
            p = at_line.double()
            grid = [0.05 * i for i in range(21)]
            sums = [_level_rss(b, x, p, weight) for b in grid]
            best = int(np.argmin(sums))
            f_stat = (sums[0] - sums[best]) / max(sums[best] / (len(p) - 2), 1e-300)
            if best == 0 or f_stat < float(f_dist.isf(1e-4, 1, len(p) - 2)):
                continue
            within = _carrying_slope(x[events], amp, self.level_min_significance)
            if within is None:
                continue
            slope = min(min(grid[best], within) * var_x / (var_x - noise_var), 1.0)
            self._set_amplitudes(k, amp * torch.exp(-slope * x[events]).to(amp.dtype)[:, None])
            self.level_slope[k] = slope
            self.level_centre[k] = centre
            self.level_bands[k] = mask.float()
            factor = torch.exp(slope * x)
            self.level_bounds[k, 0] = float(factor.min())
            self.level_bounds[k, 1] = float(factor.max())
            found[str(k)] = round(slope, 3)
        return found

    def _level_mask(self, k: int, band_edges: torch.Tensor) -> torch.Tensor:
        """The bands that measure slot ``k``'s level: all but the band that holds the
        line and its two neighbours."""
        line = float(self.base_freq[k]) / self.bin_width
        edges = band_edges.double().cpu()
        holds = int(torch.searchsorted(edges, torch.tensor([line], dtype=torch.float64),
                                       right=True)[0]) - 1
        mask = torch.ones(len(edges) - 1, dtype=torch.bool)
        mask[max(holds - 1, 0):max(holds + 2, 0)] = False
        return mask.to(self.level_bands.device)

    @staticmethod
    def _levels(bands: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Half the band log powers ``(n, C, B)`` averaged over channels and the bands of
        ``mask``: each event's log amplitude level ``(n,)``."""
        return 0.5 * bands[..., mask.bool()].mean((1, 2))

    def level_factor(self, slots: torch.Tensor, bands: torch.Tensor | None
                     ) -> torch.Tensor | None:
        """Each event's amplitude factor at each of ``slots`` ``(n, k)`` for drawn band log
        powers ``bands`` ``(n, C, B)`` (None where no slot follows the level)."""
        slope = self.level_slope[slots]
        if bands is None or not bool((slope > 0).any()):
            return None
        mask = self.level_bands[slots]                                            # (k, B)
        level = 0.5 * torch.einsum("ncb,kb->nk", bands, mask) / (
            bands.shape[1] * mask.sum(-1).clamp_min(1.0))
        bounds = self.level_bounds[slots]
        factor = torch.exp(slope[None] * (level - self.level_centre[slots][None]))
        return torch.minimum(torch.maximum(factor, bounds[:, 0]), bounds[:, 1])

    def event_log_power(self, data: torch.Tensor) -> torch.Tensor:
        """Each event's power at each line ``(n, K)`` (0 for inactive slots): the log of
        the power of the three adjacent bins of the slot's range that hold the most
        (for a narrow line its nearest bin and the two beside it; a wandering carrier
        anywhere in its band), summed over channels, over the Gaussian level of three
        bins there (:attr:`noise_power`, from the fit's :func:`gaussian_level`; a level
        taken from each event's own bins beside the line would move with the line's
        leakage, twice the noise's for a line 1.5 times the noise RMS). Its difference
        between two events is the log ratio of their power at the line: a per-event,
        per-line measure of what the line's gate and amplitude draw. (Where a line is
        in many events, :func:`gaussian_level` is above the noise's level, 1.8 times for
        a line in 30 % of the events: the measure is offset by a constant.)

        Parameters
        ----------
        data : torch.Tensor
            Normalised traces ``(n, C, T)``.
        """
        n = data.shape[0]
        out = torch.zeros(n, self.active.numel(), dtype=torch.float64, device=data.device)
        slots = torch.nonzero((self.active > 0) & (self.noise_power.sum(-1) > 0),
                              as_tuple=True)[0].tolist()
        if not slots or n == 0:
            return out.float()
        power = torch.fft.rfft(data.double(), dim=-1).abs().square()           # (n, C, F)
        n_freq = power.shape[-1]
        for k in slots:
            centre = int(round(float(self.base_freq[k]) / self.bin_width))
            # a uniform band of width w has a frequency spread w / sqrt(12)
            spread = float(self.log_freq_jitter[k].detach().exp())
            reach = max(1, int(round(math.sqrt(3.0) * spread)))
            lo, hi = max(centre - reach, 0), min(centre + reach + 1, n_freq)
            if hi - lo < 3:
                continue
            held = power[..., lo:hi].sum(1).unfold(-1, 3, 1).sum(-1).amax(-1)   # (n,)
            level = float(self.noise_power[k].double().sum())
            out[:, k] = (held / level).clamp_min(1e-30).log()
        return out.float()

    def add_to(self, traces: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add the line signals to traces ``(n, C, T)`` in place (sampling, no autograd);
        only the events carrying a line are touched."""
        return self.forward(traces.shape[0], generator, into=traces)

    def _draw(self, slots: torch.Tensor, n: int, generator: torch.Generator,
              bands: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                         torch.Tensor | None]:
        """Gates ``(n, k)``, phases ``(n, k)``, frequencies ``(n, k)`` in Hz, amplitudes
        ``(n, k, C)`` (zero where the gate is off; times :meth:`level_factor` of the
        events' drawn ``bands``) of the active ``slots``, and the recorded envelope each
        (event, line) takes ``(n, k)`` (None when no slot has envelopes; then no random
        numbers are drawn for them)."""
        dev = self.log_amp.device
        k = slots.numel()
        gate = bernoulli_gate(self.logit[slots], n, generator)                       # (n, k)
        theta = 2 * math.pi * torch.rand(n, k, generator=generator, device=dev)
        if bool(self.amp_table > 0):
            u = torch.rand(n, k, generator=generator, device=dev)
            jitter = draw_from_quantiles(self.log_amp_quantiles[slots], u)
        else:
            jitter = torch.randn(n, k, generator=generator, device=dev)
        fjit = torch.randn(n, k, generator=generator, device=dev)
        freq = self.base_freq[slots] + (self.freq_shift[slots]
                                        + self.log_freq_jitter[slots].exp() * fjit) \
            * self.bin_width                                                         # (n, k)
        spread = self.log_amp_jitter[slots].clamp(max=math.log(self.max_amp_jitter)).exp()
        amp = torch.exp(self.log_amp[slots][None] + spread[None, :, None]
                        * jitter[..., None]) * gate[..., None]                       # (n, k, C)
        factor = self.level_factor(slots, bands)
        if factor is not None:
            amp = amp * factor[..., None]
        count = self.envelope_count[slots]
        choice = None
        if bool((count > 0).any()):
            u = torch.rand(n, k, generator=generator, device=dev)
            choice = torch.minimum((u * count).long(), (count - 1).clamp_min(0).long())
        return gate, theta, freq, amp, choice

    def _envelope_waves(self, slot: int) -> torch.Tensor:
        """Slot ``slot``'s recorded envelopes as waveforms ``(count, T)`` complex, computed
        once per table (an inverse FFT per drawn row cost a quarter of the default
        model's sampling time)."""
        key = (self.envelope_table.data_ptr(), self.envelope_table._version,
               self.envelope_count._version, self.envelope_table.device)
        cache = getattr(self, "_wave_cache", None)
        if cache is None or cache[0] != key:
            cache = (key, {})
            self._wave_cache = cache
        if slot not in cache[1]:
            count = int(self.envelope_count[slot])
            coef = torch.view_as_complex(self.envelope_table[slot, :count].contiguous())
            cache[1][slot] = envelope_waves(coef, self.envelope_reach, self.n_samples)
        return cache[1][slot]

    def _waves(self, slot: torch.Tensor, freq: torch.Tensor, theta: torch.Tensor,
               choice: torch.Tensor | None) -> torch.Tensor:
        """Real and imaginary parts ``(m, 2, T)`` of each row's carrier
        ``exp(i (2 pi f t + theta))``, times its recorded envelope where its slot has them
        (``choice``: the envelope of each row)."""
        t = torch.arange(self.n_samples, device=freq.device) / self.sampling_rate
        arg = 2 * math.pi * freq[:, None] * t + theta[:, None]                       # (m, T)
        if torch.is_grad_enabled():
            cos, sin = torch.cos(arg), torch.sin(arg)
        else:
            waves = torch.empty(arg.shape[0], 2, self.n_samples, device=freq.device)
            cos, sin = torch.cos(arg, out=waves[:, 0]), torch.sin(arg, out=waves[:, 1])
        rows = (torch.zeros(0, dtype=torch.long, device=freq.device) if choice is None
                else torch.nonzero(self.envelope_count[slot] > 0, as_tuple=True)[0])
        if rows.numel() == 0:
            return waves if not torch.is_grad_enabled() else torch.stack((cos, sin), 1)
        w = torch.empty(rows.numel(), self.n_samples, dtype=torch.complex64,
                        device=freq.device)
        for k in torch.unique(slot[rows]).tolist():
            sel = torch.nonzero(slot[rows] == k, as_tuple=True)[0]
            w[sel] = self._envelope_waves(k)[choice[rows][sel]]                     # (r, T)
        if not torch.is_grad_enabled():
            c, s = cos[rows], sin[rows]
            waves[rows, 0] = w.real * c - w.imag * s
            waves[rows, 1] = w.real * s + w.imag * c
            return waves
        re = torch.ones_like(arg, requires_grad=False).index_put((rows,), w.real)
        im = torch.zeros_like(arg, requires_grad=False).index_put((rows,), w.imag)
        return torch.stack((re * cos - im * sin, re * sin + im * cos), 1)

    def draw_traces(self, n: int, generator: torch.Generator,
                    scale: torch.Tensor | None = None, bands: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling (no autograd): the line signals of the events that carry one.

        The same draws as :meth:`forward`. Each (event, line) pair with its gate on is
        one row: one ``(2 C) x T`` product of the amplitudes with ``cos`` and ``sin`` of
        its phase per pair.

        Parameters
        ----------
        n : int
            Number of events.
        generator : torch.Generator
            Random numbers.
        scale : torch.Tensor, optional
            Per-event factor ``(n,)`` applied to the signals (e.g. the event gain).
        bands : torch.Tensor, optional
            The events' drawn band log powers ``(n, C, B)``, whose level the lines that
            follow it scale with (:meth:`follow_level`).

        Returns
        -------
        events : torch.Tensor
            ``(m,)`` event indices (an event once per line it carries), int64.
        signals : torch.Tensor
            ``(m, C, T)`` normalised units, to be added with ``index_add_``.
        """
        dev = self.log_amp.device
        c = self.log_amp.shape[1]
        slots = torch.nonzero(self.active > 0, as_tuple=True)[0]
        if slots.numel() == 0:
            return torch.zeros(0, dtype=torch.long, device=dev), torch.zeros(
                0, c, self.n_samples, device=dev)
        gate, theta, freq, amp, choice = self._draw(slots, n, generator, bands)
        events, which = torch.nonzero(gate > 0, as_tuple=True)
        a = amp[events, which]                                                       # (m, C)
        if scale is not None:
            a = a * scale[events, None]
        waves = self._waves(slots[which], freq[events, which], theta[events, which],
                            None if choice is None else choice[events, which])      # (m, 2, T)
        phase = self.phase[slots][which]                                             # (m, C)
        coef = torch.stack([a * torch.cos(phase), -a * torch.sin(phase)], -1)       # (m, C, 2)
        return events, torch.bmm(coef, waves)

    def forward(self, n: int, generator: torch.Generator,
                into: torch.Tensor | None = None, bands: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Line signals ``(n, C, T)`` (a zero-size contribution when no slot is active).

        With ``into`` (only without autograd) the lines are added to it in place;
        ``bands`` as in :meth:`draw_traces`.

        ``cos(a + phi) = cos a cos phi - sin a sin phi`` keeps the transcendental work at
        one ``(events, lines, T)`` array; without gradients only events whose gate is on
        are computed (:meth:`draw_traces`).
        """
        dev = self.log_amp.device
        c = self.log_amp.shape[1]
        slots = torch.nonzero(self.active > 0, as_tuple=True)[0]
        if into is not None and torch.is_grad_enabled():
            raise RuntimeError("Lines: adding in place is for sampling without autograd")
        if slots.numel() == 0:
            return torch.zeros(n, c, 1, device=dev) if into is None else into
        if not torch.is_grad_enabled():
            out = torch.zeros(n, c, self.n_samples, device=dev) if into is None else into
            events, signals = self.draw_traces(n, generator, bands=bands)
            if events.numel():
                out.index_add_(0, events, signals.to(out.dtype))
            return out
        _, theta, freq, amp, choice = self._draw(slots, n, generator, bands)
        k = slots.numel()
        waves = self._waves(slots.repeat(n), freq.reshape(-1), theta.reshape(-1),
                            None if choice is None else choice.reshape(-1)
                            ).reshape(n, k, 2, self.n_samples)
        cos_phi, sin_phi = torch.cos(self.phase[slots]), torch.sin(self.phase[slots])  # (k, C)
        w_cos = (amp * cos_phi[None]).transpose(1, 2)                                # (n, C, k)
        w_sin = (amp * sin_phi[None]).transpose(1, 2)
        return torch.bmm(w_cos, waves[:, :, 0]) - torch.bmm(w_sin, waves[:, :, 1])
