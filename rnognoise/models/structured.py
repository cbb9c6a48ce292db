"""The structured noise generator shared by the learned models: a general learned part
plus optional named components, each kept only where the data support it.

``x = g * (E_t * irfft(E_f * S) + lines + pulses) + blocks (+ residual)``:

- ``S`` — stationary Gaussian background with the robust cross-spectrum
  (:class:`~rnognoise.models.physics.Background`), always on;
- ``E_f, E_t`` — the general part: a random per-event spectral gain and time envelope
  drawn from a distribution learned from the data (:class:`~rnognoise.models.envelope.Envelope`);
  it describes whatever makes events differ from one another in power, spectrum and
  stationarity, named or not;
- named components, each switchable (:data:`NAMED`): ``lines`` (intermittent CW),
  ``impulses`` (rare pulses), ``blocks`` (digitizer block offsets), ``envelope``,
  ``profile`` (the digitizer's sample-position noise profile);
- general parts (:data:`GENERAL`), fitted last, each to what the data show and the model
  built so far lacks, and applied in that order to its output: ``modes`` (additive
  structure locked to sample positions, :mod:`~rnognoise.models.modes`), ``transients``
  (time-localised excess power at random times, :mod:`~rnognoise.models.transients`),
  ``marginals`` (per-frequency-bin amplitude distributions, e.g. CW carriers, of any
  shape, :mod:`~rnognoise.models.marginals`), ``transfer`` (the shape of each trace's
  amplitude distribution, e.g. the skew of a non-linear signal chain,
  :mod:`~rnognoise.models.transfer`). Each decides by a statistical test against
  the model's own samples whether the data hold such structure at all, and stays inert
  when they do not;
- ``pattern`` — the fixed pattern, the data's mean trace where a test finds one
  (:mod:`~rnognoise.models.fixed_pattern`): fitted first and taken out of the data every
  other part is fitted to (they all have mean zero), added last to every event.

:meth:`PhysicsGenerator.initialize` fits every enabled component by moments;
:meth:`PhysicsGenerator.set_components` switches components and refits what depends on
the others, so that a caller can keep a component only if it improves a held-out score
(:func:`rnognoise.selection.select_components`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .digitizer import SampleProfile
from .envelope import Envelope
from .fixed_pattern import FixedPattern
from .impulses import Impulses, peak_contrast
from .innovations import fit_innovation_law
from .lines import Lines
from .marginals import SpectralMarginals
from .modes import TimeLockedModes
from .nets import ConvUpsampler
from .physics import Background, BlockOffsets
from .power_match import match_power_spectrum
from .spectral import irfft
from .transfer import TransferCurve
from .transients import Transients

__all__ = ["COMPONENTS", "GENERAL", "NAMED", "PhysicsGenerator"]

#: The named components, in the order of the ``component_on`` buffer.
NAMED: tuple[str, ...] = ("blocks", "lines", "impulses", "envelope", "profile")
#: The general parts, in the order they are fitted and applied (``general_on`` buffer).
GENERAL: tuple[str, ...] = ("modes", "transients", "marginals", "transfer")
#: Every switchable component.
COMPONENTS: tuple[str, ...] = NAMED + GENERAL


def _event_power_spread(x: torch.Tensor) -> torch.Tensor:
    """``(C,)`` the standard deviation over events of each trace's log RMS (its mean
    removed) of ``x`` ``(n, C, T)``: the event-to-event spread of power."""
    return x.double().std(-1).clamp_min(1e-30).log().std(0)


class PhysicsGenerator(nn.Module):
    """Background, learned envelope, block offsets, lines, impulses (+ conv residual).

    Parameters
    ----------
    config : object
        Needs ``block``, ``max_lines``, ``impulses``, ``envelope``, ``envelope_bands``,
        ``envelope_windows``, ``residual_width``, ``latent_channels`` and optionally
        ``modes``, ``transients``, ``marginals``, ``transfer`` (default on) and
        ``envelope_adapt`` (default off)
        (:class:`~rnognoise.models.wgan_gp.WGANGPConfig`).
    layout : TraceLayout
        Channels, samples, sampling rate.
    """

    #: Size in bytes of the slices of events whose time envelope :meth:`sample` makes
    #: and applies at a time on the CPU (each while it is in the cache).
    slice_bytes: int = 1 << 20

    def __init__(self, config: Any, layout: Any) -> None:
        super().__init__()
        c, t = layout.n_channels, layout.n_samples
        self.n_samples = t
        self.background = Background(c, t)
        self.blocks = BlockOffsets(c, t, config.block)
        self.lines = Lines(c, t, layout.sampling_rate, config.max_lines, config.envelope_bands)
        self.impulses = Impulses(c, t, layout.sampling_rate)
        self.envelope = Envelope(c, t, config.envelope_bands, config.envelope_windows,
                                 adapt_bands=getattr(config, "envelope_adapt", False))
        self.profile = SampleProfile(c, t, config.block)
        wanted = {"blocks": config.block > 0, "lines": config.max_lines > 0,
                  "impulses": bool(config.impulses), "envelope": bool(config.envelope),
                  "profile": bool(self.profile.period)}
        self.register_buffer("component_on",
                             torch.tensor([float(wanted[k]) for k in NAMED]))
        self.modes = TimeLockedModes(c, t, layout.sampling_rate)
        self.transients = Transients(c, t, layout.sampling_rate)
        self.marginals = SpectralMarginals(c, t, layout.sampling_rate)
        self.transfer = TransferCurve(c, t)
        self.pattern = FixedPattern(c, t)
        self._pattern_wanted = bool(getattr(config, "fixed_pattern", True))
        #: Whether :meth:`forward` adds the fixed pattern (off while the parts are
        #: fitted to the data without it).
        self._with_pattern = True
        self._pattern_info: dict[str, Any] = {}
        self.register_buffer("general_on", torch.tensor(
            [float(bool(getattr(config, k, True))) for k in GENERAL]))
        #: Only the first ``_general_limit`` general parts are applied (while fitting).
        self._general_limit = len(GENERAL)
        #: How much the last fit widened the envelope's draws behind a compressing range
        #: map (:meth:`_spread_through_range`; 1: not at all). A learned sampler of the
        #: envelope trained on the data's coordinates widens them by it.
        self.event_spread_widening = 1.0
        self._general_info: dict[str, Any] = {}
        self.residual = None
        self.n_up = 4
        width = getattr(config, "residual_width", 0)
        if width and t % (2 ** self.n_up) == 0:
            self.latent_channels = config.latent_channels
            self.residual = ConvUpsampler(config.latent_channels, width, c, self.n_up)
            self.residual_scale = nn.Parameter(torch.zeros(c))
        self._fit_info: dict[str, Any] = {}
        self._pulse_threshold = float("inf")
        #: What the last round of the pulses' calibration found (:meth:`_calibrate_impulses`).
        self._impulse_info: dict[str, float] = {}
        #: The state at the end of :meth:`initialize`, where :meth:`set_components` starts.
        self._initial_state: dict[str, torch.Tensor] | None = None

    # -- components ----------------------------------------------------------------
    def is_on(self, name: str) -> bool:
        """Whether component ``name`` is enabled."""
        if name in GENERAL:
            return bool(self.general_on[GENERAL.index(name)] > 0)
        return bool(self.component_on[NAMED.index(name)] > 0)

    @property
    def inert_components(self) -> list[str]:
        """Enabled components that found nothing to model in the data (switching them
        off changes no generated event)."""
        inert = [k for k in GENERAL if self.is_on(k) and not getattr(self, k).is_active]
        if self.is_on("envelope") and not bool(self.envelope.active > 0):
            inert.append("envelope")
        return inert

    @property
    def components(self) -> list[str]:
        """The enabled components."""
        return [k for k in COMPONENTS if self.is_on(k)]

    def set_components(self, enabled: Iterable[str], data: torch.Tensor) -> None:
        """Enable exactly ``enabled`` and refit what depends on the others.

        Parameters
        ----------
        enabled : iterable of str
            Names from :data:`COMPONENTS`.
        data : torch.Tensor
            The normalised training traces the model was initialised on.
        """
        enabled = set(enabled)
        unknown = enabled - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)} (valid: {COMPONENTS})")
        if self._initial_state is not None:
            # every choice starts from the initial fit, so that the model depends on the
            # components chosen and not on the trials made before (the power match and
            # the general parts start from the state they find)
            self.load_state_dict(self._initial_state)
        data = self.pattern.remove(data)
        for i, k in enumerate(NAMED):
            self.component_on[i] = float(k in enabled)
        for i, k in enumerate(GENERAL):
            self.general_on[i] = float(k in enabled)
        if self.is_on("envelope"):
            self._fit_envelope(data)
        else:
            self._set_gain_spread()
            self.lines.follow_level(None)
        self._match_power(data)
        self._fit_general(data)

    def physical_parameters(self) -> list[nn.Parameter]:
        """Parameters of the physical components (learning rate ``lr_physics``)."""
        skip = {id(p) for p in self.residual.parameters()} if self.residual else set()
        return [p for p in self.parameters() if id(p) not in skip]

    def network_parameters(self) -> list[nn.Parameter]:
        """Parameters of the convolutional residual."""
        return list(self.residual.parameters()) if self.residual else []

    # -- fitting -------------------------------------------------------------------
    def initialize(self, data: torch.Tensor) -> None:
        """Moment-based initialisation of every component from normalised data."""
        self._pattern_info = self.pattern.initialize(data) if self._pattern_wanted else {}
        data = self.pattern.remove(data)
        self.blocks.initialize(data)
        clean = self.blocks.remove(data)
        self.profile.initialize(clean)
        # the stationary background underneath the digitizer's position profile
        self.background.initialize(clean if self.profile.is_flat
                                   else clean / self.profile.gain())
        gaussian = self._reference_events(min(len(clean), 2000), data.device)
        if self.profile.period:
            self.profile.fit_spread(clean / self.profile.gain(), gaussian)
            gaussian = self._fit_innovations(clean / self.profile.gain(), gaussian)
        # the offsets make up what the fitted background itself gives the trace and block
        # means (fitted on offset-free traces, it has no DC power of its own)
        self.blocks.initialize(data, gaussian * self.profile.gain())
        self.lines.initialize(clean)
        # the impulse threshold: 99.9 % quantile of the event peak of everything but the
        # impulses (background, lines, blocks), so that lines and block offsets are not
        # counted as impulses; without the event-to-event variation (envelope and gain),
        # whose moment estimate the loud events themselves raise
        saved = self.component_on.clone()
        saved_gain = self.background.log_gain_sigma.detach().clone()
        self.component_on[NAMED.index("impulses")] = 0.0
        self.component_on[NAMED.index("envelope")] = 0.0
        self.background.log_gain_sigma.data.fill_(math.log(1e-6))
        gen = torch.Generator(device=data.device).manual_seed(1234)
        try:
            with torch.no_grad():
                bg = self._draw_without_general(min(4000, 4 * len(data)), gen)
        finally:
            self.component_on.copy_(saved)
            self.background.log_gain_sigma.data.copy_(saved_gain)
        self._pulse_threshold = max(float(torch.quantile(bg.abs().amax(-1).amax(-1), 0.999)),
                                    1.0)
        # and the least contrast of a pulse over its event's own noise: an event loud
        # throughout (a log-normal pickup's loudest) is the envelope's, not a pulse
        contrast = float(torch.quantile(peak_contrast(bg), 0.999))
        self.impulses.initialize(clean, self.background.sampler.power(),
                                 self._pulse_threshold, contrast)
        if self.is_on("envelope"):
            self._fit_envelope(data)
        else:
            self._set_gain_spread()
            self.lines.follow_level(None)
        self._match_power(data)
        if self.is_on("impulses"):
            self._calibrate_impulses(data)
        self._fit_general(data)
        self._initial_state = {k: v.detach().clone() for k, v in self.state_dict().items()}

    #: Rounds of indirect inference of the pulses' rate and amplitudes.
    impulse_calibration_rounds: int = 3

    def _calibrate_impulses(self, data: torch.Tensor) -> None:
        """Match the rate, peak distribution and pulses per event of the model's events
        above the pulse threshold to the data's, through the same selection
        (:meth:`Impulses.calibrate <rnognoise.models.impulses.Impulses.calibrate>`,
        :meth:`Impulses.calibrate_counts
        <rnognoise.models.impulses.Impulses.calibrate_counts>`)."""
        threshold = self._pulse_threshold
        data_peak = self.impulses.peaks(data)
        data_counts = self.impulses.counts(data[data_peak > threshold], threshold)
        n = max(2000, min(8000, 4 * len(data)))
        self._impulse_info = {}
        for i in range(self.impulse_calibration_rounds):
            gen = torch.Generator(device=data.device).manual_seed(8642 + i)
            peaks, counts = [], []
            with torch.no_grad():
                for a in range(0, n, 1000):
                    x = self._draw_without_general(min(1000, n - a), gen)
                    peaks.append(self.impulses.peaks(x))
                    counts.append(self.impulses.counts(x[peaks[-1] > threshold], threshold))
            self._impulse_info = self.impulses.calibrate(data_peak, torch.cat(peaks), threshold)
            self.impulses.calibrate_counts(data_counts, torch.cat(counts))

    def _draw_without_general(self, n: int, generator: torch.Generator, upto: int = 0
                              ) -> torch.Tensor:
        """``forward(n, generator)`` with only the first ``upto`` general parts and
        without the fixed pattern (what the parts are fitted to is the data without it)."""
        limit, self._general_limit = self._general_limit, upto
        with_pattern, self._with_pattern = self._with_pattern, False
        try:
            return self.forward(n, generator)
        finally:
            self._general_limit = limit
            self._with_pattern = with_pattern

    #: Most values (events x channels x samples) of the model's own samples that a
    #: general part is fitted against (512 MiB in float32).
    general_fit_values: int = 1 << 27

    def _fit_general(self, data: torch.Tensor) -> None:
        """Fit each enabled general part, in order, to what the data show and the model
        with the parts before it lacks."""
        self._general_info = {}
        self.event_spread_widening = 1.0
        per_event = data.shape[1] * data.shape[2]
        n = max(1000, min(4000, 2 * len(data)))
        n = max(min(n, self.general_fit_values // per_event), min(len(data), 500))
        for i, name in enumerate(GENERAL):
            part = getattr(self, name)
            part.active.zero_()
            if not self.is_on(name):
                continue
            if name == "marginals" and any(self.is_on(k) and getattr(self, k).is_active
                                           for k in GENERAL[:i]):
                # the additive parts brought power the background had already taken on:
                # match the spectrum again with them, then calibrate the bins' marginals
                self._match_power(data, upto=i)
            gen = torch.Generator(device=data.device).manual_seed(5678 + i)
            with torch.no_grad():
                model = self._draw_without_general(n, gen, upto=i)
            self._general_info[name] = part.fit(data, model, seed=i)
            del model
        if self.is_on("transfer") and bool(self.transfer.range_on > 0):
            self._spread_through_range(data, n)

    #: Rounds of widening the event-to-event spread through a compressing range map.
    range_spread_rounds: int = 3
    #: Events a round of it draws (the last refit of the map uses the full number).
    range_spread_events: int = 1000

    def _spread_through_range(self, data: torch.Tensor, n: int) -> None:
        """Widen the event-to-event spread of power behind a compressing range map.

        The envelope (or the event gain) was fitted to the data's event-to-event spread of
        power as recorded, after the compression the transfer curve's range map now
        applies to the model too: the model's events scatter less than the data's (a
        tanh amplifier behind a gain spread of 0.25 e-folds: per-event log RMS spread
        0.134 against 0.175). Each round measures that spread (per channel, the median
        ratio of the data's to the full model's), widens the drawn spread by the ratio
        and refits the transfer curve on the new model, until the ratio is within 2 %.
        A compressing map passes a part of a change of the spread (about 0.8 of it
        there), so the rounds approach the data's spread from below and never overshoot;
        a model already as wide as the data is left as it is."""
        i = GENERAL.index("transfer")
        target = _event_power_spread(data)
        m = min(n, self.range_spread_events)
        # the rounds widen the envelope's mixture: draw from it, not from a learned sampler
        use_sampler, self.envelope.use_sampler = self.envelope.use_sampler, False
        try:
            total, rounds = self._widen_rounds(data, target, m, i)
            if total > 1.0:
                gen = torch.Generator(device=data.device).manual_seed(5678 + i)
                with torch.no_grad():
                    model = self._draw_without_general(n, gen, upto=i)
                info = self.transfer.fit(data, model, seed=i)
                self._general_info["transfer"] = {**info, "spread_rounds": rounds,
                                                  "spread_widened": total}
        finally:
            self.envelope.use_sampler = use_sampler
        self.event_spread_widening = total

    def _widen_rounds(self, data: torch.Tensor, target: torch.Tensor, m: int, i: int
                      ) -> tuple[float, list[float]]:
        """The rounds of :meth:`_spread_through_range` on ``m`` events: the total
        widening and each round's ratio of the spreads."""
        total, rounds = 1.0, []
        for r in range(self.range_spread_rounds + 1):
            gen = torch.Generator(device=data.device).manual_seed(4321 + r)
            with torch.no_grad():
                model = self._draw_without_general(m, gen, upto=len(GENERAL))
            spread = _event_power_spread(model)
            ratio = float((target / spread.clamp_min(1e-12)).median())
            rounds.append(round(ratio, 4))
            if ratio < 1.02 or r == self.range_spread_rounds:
                break
            factor = min(ratio, 1.5)
            total *= factor
            self._widen_event_spread(factor)
            gen = torch.Generator(device=data.device).manual_seed(5678 + i)
            with torch.no_grad():
                model = self._draw_without_general(m, gen, upto=i)
            self.transfer.fit(data, model, seed=i)
            del model
        return total, rounds

    def _widen_event_spread(self, factor: float) -> None:
        """Multiply the drawn event-to-event log-power spread by ``factor``: the
        envelope's latent draws about their mean (every mixture component's mean and
        factor), or the event gain's spread without an envelope."""
        envelope = self.envelope
        if self.is_on("envelope") and bool(envelope.active > 0):
            weights = envelope.weights / envelope.weights.sum().clamp_min(1e-30)
            centre = (weights[:, None] * envelope.means).sum(0)
            envelope.means.copy_(centre + factor * (envelope.means - centre))
            envelope.factors.mul_(factor)
        else:
            self.background.log_gain_sigma.data.add_(math.log(factor))

    @property
    def general_info(self) -> dict[str, Any]:
        """What the last fit of each enabled general part found, and the last round of
        the pulses' calibration (``impulses``: flagged fractions of data and model, the
        largest move of a knot of the amplitude table)."""
        info = {k: dict(v) for k, v in self._general_info.items()}
        if self._impulse_info:
            info["impulses"] = dict(self._impulse_info)
        if self._pattern_info:
            info["pattern"] = dict(self._pattern_info)
        return info

    def _apply_general(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Apply the enabled, active general parts (the first ``_general_limit``)."""
        for name in GENERAL[:self._general_limit]:
            part = getattr(self, name)
            if self.is_on(name) and part.is_active:
                x = part.apply(x, generator)
        return x

    def _match_power(self, data: torch.Tensor, iterations: int = 2, upto: int = 0) -> None:
        """Scale the background, bin by bin, so that each channel's typical power spectrum
        (the median over events of each bin's power) equals the data's.

        The robust (median-based) background spectrum plus lines, pulses, offsets and the
        envelope's gains need not add up to the data's spectrum: a component that is
        switched off or finds less than the data hold leaves power missing at its own
        frequencies. The per-bin spectral correction of the background closes the gap
        where it is (a per-channel factor spread a missing CW line over the band, up to
        4 dB off). The median over events, not the mean, so that what only some events
        carry (intermittent lines, bursts, pulses) is not given to every event's
        background: that is for the general parts to model. The model's spectrum includes
        the first ``upto`` general parts; :meth:`NoiseModel.calibrate_power
        <rnognoise.models.base.NoiseModel.calibrate_power>` matches the spectrum again, in
        bands, and the total power at the end of a fit (both by
        :func:`~rnognoise.models.power_match.match_power_spectrum`).
        """
        match_power_spectrum(
            self.background.log_gain_correction.data, data,
            lambda n, gen: self._draw_without_general(n, gen, upto=upto),
            n_events=self.power_match_events, rounds=iterations, seed=2468)

    #: Events whose bin powers the power match takes the median of (data and model).
    power_match_events: int = 2000

    def _fit_envelope(self, data: torch.Tensor) -> None:
        """Fit the envelope to what the enabled components leave unexplained: bins of
        enabled lines are left out, and so are events with a pulse when impulses are on."""
        clean = self._described(data)
        line_bins = None
        if self.is_on("lines"):
            slots = torch.nonzero(self.lines.active > 0, as_tuple=True)[0]
            line_bins = torch.round(self.lines.base_freq[slots] / self.lines.bin_width).long()
        gen = torch.Generator(device=data.device).manual_seed(4321)
        with torch.no_grad():
            reference = self.background.sampler(max(1000, min(4000, 2 * len(clean))), gen)
        self._fit_info = self.envelope.initialize(clean, reference, line_bins)
        self._set_gain_spread()
        self._follow_level(data, reference)

    #: Events drawn without the envelope by :meth:`envelope_excess_variance`.
    excess_variance_events: int = 2000

    def envelope_excess_variance(self) -> torch.Tensor:
        """Variance ``(max_dims,)`` of the envelope's coordinates on events drawn with the
        envelope switched off (everything else as it is), measured as the training
        events are, beyond the unit the envelope's fit assumed; at least 0.

        The training events' coordinates hold it as well, so that a distribution fitted
        to them and drawn on top of the rest counts it twice. It is the measurement's own
        variance, which the envelope's directions underestimate (chosen where the
        reference noise happened to be low: twice the unit on 300 events of 256
        samples), and what the other parts (lines, pulses, bursts, the general parts'
        maps) add.
        """
        k = self.envelope.max_dims
        extra = torch.zeros(k, device=self.envelope.basis.device)
        if not (self.is_on("envelope") and bool(self.envelope.active > 0)):
            return extra
        on = self.component_on.clone()
        self.component_on[NAMED.index("envelope")] = 0.0
        draws = torch.Generator(device=extra.device).manual_seed(2718)
        n, batch = self.excess_variance_events, 256
        try:
            with torch.no_grad():
                y = torch.cat([self.envelope.coordinates(self.described_events(
                    self.sample(min(batch, n - a), draws))) for a in range(0, n, batch)])
        finally:
            self.component_on.copy_(on)
        if len(y) >= 2:
            extra = (y.var(0) - 1.0).clamp_min(0.0) * (self.envelope.basis.abs().sum(-1) > 0)
        return extra

    def _follow_level(self, data: torch.Tensor, reference: torch.Tensor) -> None:
        """Lines whose recorded amplitudes follow the event's broadband level, as the
        envelope measures and draws it (:meth:`Lines.follow_level
        <rnognoise.models.lines.Lines.follow_level>`); ``reference``: stationary events
        of the background, the level's measurement noise."""
        if not (self.is_on("lines") and bool(self.envelope.active > 0)):
            self.lines.follow_level(None)
            return
        events = self.blocks.remove(data) if self.is_on("blocks") else data
        with torch.no_grad():
            found = self.lines.follow_level(self.envelope.measured_bands(events),
                                            self.envelope.band_edges,
                                            self.envelope.measured_bands(reference))
        if found:
            self._fit_info["lines_following_level"] = found

    def _fit_innovations(self, clean: torch.Tensor, gaussian: torch.Tensor) -> torch.Tensor:
        """Short-scale kurtosis from before the chain (heavy-tailed innovations of the
        background) or after it (the digitizer's per-sample amplitude), per channel
        (:func:`~rnognoise.models.innovations.fit_innovation_law`, on the background's
        Hermitian root); where the innovations take it the profile's spread is 0, and the
        gain spread and the reference events are remeasured on the new background.
        Returns the reference events ``gaussian`` (new ones where anything changed)."""
        sampler = self.background.sampler
        sampler.innovation_spread.zero_()
        sampler.innovation_tail.zero_()
        if not bool((self.profile.spread > 0).any()):
            return gaussian
        saved = sampler.factor_real.clone(), sampler.factor_imag.clone()
        sampler.use_hermitian_root()
        spread, tail = fit_innovation_law(clean, sampler, self.profile.spread)
        chosen = (spread > 0) | (tail > 0)
        if not bool(chosen.any()):
            sampler.factor_real.copy_(saved[0])
            sampler.factor_imag.copy_(saved[1])
            return gaussian
        sampler.innovation_spread.copy_(spread)
        sampler.innovation_tail.copy_(tail)
        self.profile.spread.masked_fill_(chosen, 0.0)
        self.background.fit_gain_spread(clean)
        return self._reference_events(len(gaussian), clean.device)

    def _reference_events(self, n: int, device: torch.device) -> torch.Tensor:
        """``n`` events of the fitted background alone, from fixed random numbers: what
        the model itself gives the statistics that the other parts are fitted beside."""
        with torch.no_grad():
            return self.background.sampler(n, torch.Generator(device=device).manual_seed(97))

    def _set_gain_spread(self) -> None:
        """The per-event gain: none where the envelope is active (it describes every
        event-to-event variation above the stationary background, a common gain among
        them: a gain on top counted it twice), else the background's moment estimate."""
        envelope = self.is_on("envelope") and bool(self.envelope.active > 0)
        sigma = 0.0 if envelope else self.background.moment_gain_spread
        self.background.log_gain_sigma.data.fill_(math.log(max(sigma, 1e-6)))

    def described_events(self, data: torch.Tensor) -> torch.Tensor:
        """The events of normalised ``data`` that the envelope describes, as in its fit:
        fixed pattern and block offsets removed; events with a pulse left out when
        impulses are on (events loud away from their pulses stay: the pulses do not take
        them, :func:`~rnognoise.models.impulses.pulse_peaks`)."""
        return self._described(self.pattern.remove(data))

    def described_mask(self, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every event of normalised ``data`` with the fixed pattern and the block offsets
        removed ``(n, C, T)``, and which of them :meth:`described_events` keeps ``(n,)``."""
        return self._described_mask(self.pattern.remove(data))

    def _described_mask(self, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`described_mask` of ``data`` without the fixed pattern."""
        clean = self.blocks.remove(data) if self.is_on("blocks") else data
        keep = (self.impulses.peaks(clean) <= self._pulse_threshold if self.is_on("impulses")
                else torch.ones(clean.shape[0], dtype=torch.bool, device=clean.device))
        return clean, keep

    def _described(self, data: torch.Tensor) -> torch.Tensor:
        """:meth:`described_events` of ``data`` without the fixed pattern."""
        clean, keep = self._described_mask(data)
        return clean[keep] if self.is_on("impulses") else clean

    @property
    def fit_info(self) -> dict[str, Any]:
        """What the last envelope fit found (modelled directions, mixture components)."""
        return dict(self._fit_info)

    # -- sampling --------------------------------------------------------------------
    def forward(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` events ``(n, C, T)`` of normalised noise.

        Without autograd this is :meth:`sample`: the same draws, computed in place.
        """
        if not torch.is_grad_enabled():
            return self.sample(n, generator)
        spec = self.background.spectra(n, generator)
        gain = self.background.gains(n, generator)
        envelope = self.is_on("envelope") and bool(self.envelope.active > 0)
        impulses = self.is_on("impulses")
        band = None
        if envelope:
            band, window = self.envelope.draw(n, generator)
            x = irfft(spec * self.envelope.spectral_gain(band), self.n_samples)
            x = x * self.envelope.time_gain(window)
        else:
            x = irfft(spec, self.n_samples)
        if self.is_on("profile"):
            x = x * self.profile.factor(n, generator)
        if impulses:
            x = self.impulses.add_to_traces(x, generator)
        if self.is_on("lines"):
            x = x + self.lines(n, generator, bands=band)
        x = x * gain
        if self.is_on("blocks"):
            x = x + self.blocks(n, generator)
        if self.residual is not None:
            x = x + self._residual(n, generator)
        x = self._apply_general(x, generator)
        return self.pattern(x) if self._with_pattern else x

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` events ``(n, C, T)`` without autograd: the draws of the
        differentiable path, in the same order, with one full-size pass after the
        inverse FFT.

        The spectral correction is folded into the mixing matrix of the background and
        the envelope's spectral gain (with the event gain) is applied to each slice of
        bins as it is mixed; without an envelope the event gain goes into the final
        pass. The time envelope and the block offsets are applied together
        (``x * E_t + blocks``, :meth:`_scale_and_offset`); lines and pulses, times the
        gain, are added to the events that carry them only. Autocast is off for all but
        the convolutional residual (the spectral parts stay float32).
        """
        with torch.autocast(self.component_on.device.type, enabled=False):
            x = self._sample_components(n, generator)
        if self.residual is not None:
            x.add_(self._residual(n, generator))
        with torch.autocast(self.component_on.device.type, enabled=False):
            x = self._apply_general(x, generator)
            return self.pattern.add_(x) if self._with_pattern else x

    def _sample_components(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """:meth:`sample` but the residual."""
        z = self.background.normals(n, generator)
        gain = self.background.gains(n, generator).reshape(n)
        factor: torch.Tensor | None = gain[:, None, None]
        weights = amplitudes = band = None
        if self.is_on("envelope") and bool(self.envelope.active > 0):
            band, window = self.envelope.draw(n, generator)
            weights = self.envelope.band_amplitudes(band) * gain[:, None, None]
            factor = None
            if self.envelope.has_time_variation:
                amplitudes = self.envelope.window_amplitudes(window)
        spec = self.background.mix(z, weights, self.envelope.band_interp)
        del z
        if self.is_on("profile") and not self.profile.is_flat:
            profile = self.profile.factor(n, generator)
            factor = profile if factor is None else factor * profile
        added = []
        if self.is_on("impulses"):
            added.append(self.impulses.draw_traces(n, generator, gain))
        x = irfft(spec, self.n_samples)
        del spec
        if self.is_on("lines"):
            added.append(self.lines.draw_traces(n, generator, gain, band))
        offsets = self.blocks.draw(n, generator) if self.is_on("blocks") else None
        self._scale_and_offset(x, amplitudes, factor, offsets)
        for events, signals in added:
            if events.numel():
                x.index_add_(0, events, signals.to(x.dtype))
        return x

    def _scale_and_offset(self, x: torch.Tensor, amplitudes: torch.Tensor | None,
                          factor: torch.Tensor | None, offsets: torch.Tensor | None
                          ) -> torch.Tensor:
        """``x * E_t * factor + offsets`` in place, ``E_t`` the time envelope of the window
        ``amplitudes`` ``(n, C, W)`` (none: 1), ``factor`` ``(n or 1, C or 1, T or 1)``,
        ``offsets`` per block ``(n, C, B)``. On the CPU ``E_t`` is made for slices of
        :attr:`slice_bytes` of events, each applied while it is in the cache."""
        if amplitudes is None:
            if offsets is not None:
                BlockOffsets.apply_(x, offsets, factor)
            elif factor is not None:
                x.mul_(factor)
            return x
        n, c, t = x.shape
        step = max(1, self.slice_bytes // (c * t * x.element_size())) if x.device.type == "cpu" \
            else n
        for a in range(0, n, step):
            b = min(a + step, n)
            envelope = amplitudes[a:b] @ self.envelope.window_interp
            if factor is not None:
                envelope.mul_(factor[a:b] if factor.shape[0] == n else factor)
            if offsets is None:
                x[a:b].mul_(envelope)
            else:
                BlockOffsets.apply_(x[a:b], offsets[a:b], envelope)
        return x

    def _residual(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.latent_channels, self.n_samples // 2 ** self.n_up,
                        generator=generator, device=self.residual_scale.device)
        return self.residual_scale[:, None] * self.residual(z)
