"""Noise of any trace length and sampling rate from a model trained on fixed-length traces.

Models generate traces of the length they were trained on (``T`` samples at the
recording's sampling rate). Simulations need other lengths and rates. The methods here
use nothing but independent draws of the model, so they work for every model kind.

Longer traces (``L > T``): overlap-add with power-complementary cross-fades
    Consecutive independent draws are laid end to end with a hop of ``T - O`` samples;
    in each overlap of ``O`` samples the earlier draw fades out with ``cos(theta)`` and
    the next fades in with ``sin(theta)``, ``theta`` rising from 0 to pi/2. Since
    ``cos^2 + sin^2 = 1`` and the draws are independent, the variance and the power
    spectrum of stationary noise are the same at every sample, seams included (a
    linear cross-fade, ``w1 + w2 = 1``, would leave a dip of up to 3 dB in the
    variance at each seam). The fade is applied to the normalised, zero-mean output of
    the model, so a constant offset is not faded.

    What it does to structures that are coherent over a trace: each draw has its own
    realisation, so a continuous-wave line (random phase per draw) becomes a sequence
    of mutually incoherent pieces about ``T`` samples long, joined by cross-fades: its
    power is kept, but it is no longer one phase-continuous sinusoid and its spectral
    width grows to about ``1 / (T dt)``. An impulse that falls into an overlap is
    scaled by the fade weight (by ``1/sqrt(2)`` at the centre of the overlap), and the
    number of model samples per output sample is ``T / (T - O)``, so rare transient
    features (impulses, glitches) occur up to that factor more often per unit time,
    some of them attenuated. A per-event quantity (a gain drift, a line switching on
    for the whole trace) changes from piece to piece. The default overlap (``T / 8``,
    with the hop a multiple of the 128-sample LAB4D block where that is possible)
    keeps these effects small.

Shorter traces (``L < T``): random crop
    One draw per event, and a window of ``L`` samples starting at a uniformly random
    offset in ``[0, T - L]``.

Other sampling rates: band-limited resampling
    Noise is generated at the model's rate for the needed duration plus margins on
    both sides, resampled in the frequency domain (:func:`scipy.signal.resample`: the
    rfft is kept up to the lower of the two Nyquist frequencies and zero above, i.e.
    an ideal low-pass), and the centre is kept, so the periodic-extension artefacts of
    the FFT method stay in the discarded margins. The spectrum below both Nyquist
    frequencies is preserved; power of the model above the target's Nyquist frequency
    is removed, not aliased (:func:`power_above` measures that fraction).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np
import scipy.fft
import scipy.signal
import torch

from .errors import ConfigError

__all__ = [
    "BAND_TAIL",
    "BLOCK",
    "ResamplePlan",
    "StitchPlan",
    "band_edges",
    "check_band",
    "crossfade",
    "plan_resample",
    "plan_stitch",
    "power_above",
    "random_crop",
    "resample",
    "stitch",
]

#: LAB4D digitizer block length in samples; the default hop is a multiple of it.
BLOCK = 128

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def crossfade(overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Power-complementary fade-out and fade-in windows of ``overlap`` samples.

    Returns
    -------
    fade_out, fade_in : numpy.ndarray
        ``cos(theta)`` and ``sin(theta)`` with ``theta = pi/2 (k + 1/2) / overlap``;
        ``fade_out**2 + fade_in**2 == 1`` at every sample.

    Examples
    --------
    >>> out, inn = crossfade(4)
    >>> bool(np.allclose(out**2 + inn**2, 1.0))
    True
    """
    if overlap < 1:
        raise ConfigError(f"overlap must be >= 1 sample, got {overlap}")
    theta = 0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap
    return np.cos(theta), np.sin(theta)


@dataclass(frozen=True)
class StitchPlan:
    """Where the draws go in a trace of ``n_samples`` built from ``segment_length`` draws.

    Attributes
    ----------
    n_samples : int
        Output length.
    segment_length : int
        Length of one draw (the model's trace length).
    overlap : int
        Samples shared by consecutive draws (0 when one draw is enough).
    """

    n_samples: int
    segment_length: int
    overlap: int

    @property
    def hop(self) -> int:
        """Offset between the starts of consecutive draws."""
        return self.segment_length - self.overlap

    @property
    def n_segments(self) -> int:
        """Number of draws per output trace."""
        if self.n_samples <= self.segment_length:
            return 1
        return math.ceil((self.n_samples - self.overlap) / self.hop)

    @property
    def seams(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of every cross-fade region in output samples."""
        return [(k * self.hop, k * self.hop + self.overlap) for k in range(1, self.n_segments)]

    def weights(self, k: int) -> np.ndarray:
        """Window applied to draw ``k`` (ones, with fades where it overlaps a neighbour)."""
        w = np.ones(self.segment_length)
        if self.n_segments == 1:
            return w
        fade_out, fade_in = crossfade(self.overlap)
        if k > 0:
            w[:self.overlap] = fade_in
        if k < self.n_segments - 1:
            w[self.segment_length - self.overlap:] = fade_out
        return w


def plan_stitch(n_samples: int, segment_length: int, *, overlap: int | None = None,
                align: int = BLOCK) -> StitchPlan:
    """Plan the overlap-add of draws of ``segment_length`` samples into ``n_samples``.

    Parameters
    ----------
    n_samples : int
        Wanted trace length.
    segment_length : int
        The model's trace length ``T``.
    overlap : int, optional
        Cross-fade length in samples, ``1 <= overlap <= T // 2``. Default ``T // 8``,
        enlarged (at most to ``T // 4``) so that the hop is a multiple of ``align``.
    align : int
        Block length the default hop is aligned to (0: no alignment).

    Raises
    ------
    ConfigError
        Non-positive lengths or an overlap outside ``[1, T // 2]``.
    """
    if n_samples < 1 or segment_length < 2:
        raise ConfigError(f"cannot plan {n_samples} samples from draws of {segment_length}")
    if overlap is None:
        overlap = max(1, segment_length // 8)
        if align > 0:
            hop = (segment_length - overlap) // align * align
            if hop > 0 and segment_length - hop <= 2 * overlap:
                overlap = segment_length - hop
    if not 1 <= overlap <= segment_length // 2:
        raise ConfigError(f"overlap must be between 1 and {segment_length // 2} samples "
                          f"(half the model's trace length), got {overlap}")
    if n_samples <= segment_length:
        overlap = 0
    return StitchPlan(int(n_samples), int(segment_length), int(overlap))


def stitch(segments: Iterable[Array], plan: StitchPlan) -> Array:
    """Overlap-add independent draws into longer traces.

    Parameters
    ----------
    segments : iterable of numpy.ndarray or torch.Tensor
        ``plan.n_segments`` draws, each ``(..., segment_length)``, zero-mean (e.g. a
        model's normalised output); consumed one at a time, so a generator keeps only
        one draw in memory.
    plan : StitchPlan
        From :func:`plan_stitch`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``(..., n_samples)``, of the type, dtype and device of the draws.
    """
    out = None
    count = 0
    for k, seg in enumerate(segments):
        if k >= plan.n_segments:
            raise ConfigError(f"more than the planned {plan.n_segments} draws")
        if seg.shape[-1] != plan.segment_length:
            raise ConfigError(f"draw of {seg.shape[-1]} samples, planned {plan.segment_length}")
        if out is None:
            shape = (*seg.shape[:-1], plan.n_samples)
            out = (torch.zeros(shape, dtype=seg.dtype, device=seg.device)
                   if isinstance(seg, torch.Tensor) else np.zeros(shape, dtype=seg.dtype))
        w = plan.weights(k)
        w = (torch.as_tensor(w, dtype=seg.dtype, device=seg.device)
             if isinstance(seg, torch.Tensor) else w.astype(seg.dtype))
        start = k * plan.hop
        stop = min(start + plan.segment_length, plan.n_samples)
        out[..., start:stop] += (seg * w)[..., :stop - start]
        count += 1
    if count != plan.n_segments:
        raise ConfigError(f"got {count} draws, planned {plan.n_segments}")
    return out


def random_crop(traces: torch.Tensor, n_samples: int, generator: torch.Generator,
                ) -> torch.Tensor:
    """A window of ``n_samples`` at a uniformly random offset per event.

    Parameters
    ----------
    traces : torch.Tensor
        ``(n, C, T)``; all channels of an event share the offset.
    n_samples : int
        Window length, ``<= T``.
    generator : torch.Generator
        Source of the offsets (on the device of ``traces``).
    """
    n, n_ch, length = traces.shape
    if n_samples > length:
        raise ConfigError(f"cannot crop {n_samples} samples from {length}")
    offsets = torch.randint(0, length - n_samples + 1, (n,), generator=generator,
                            device=traces.device)
    index = offsets[:, None] + torch.arange(n_samples, device=traces.device)[None, :]
    return torch.gather(traces, -1, index[:, None, :].expand(n, n_ch, n_samples))


@dataclass(frozen=True)
class ResamplePlan:
    """How to obtain ``n_out`` samples at ``rate_out`` from ``n_in`` samples at ``rate_in``.

    ``n_in`` samples (the needed duration plus margins, a multiple of ``down``, rounded
    up so that both FFT lengths factor into small primes) are
    resampled by the factor ``up / down`` to ``n_in * up / down`` samples, of which
    ``n_out`` starting at ``start`` are kept.

    Attributes
    ----------
    rate_in, rate_out : float
        Hz.
    n_in, n_out : int
        Samples before and after.
    up, down : int
        ``rate_out / rate_in`` as a fraction.
    start : int
        First kept output sample.
    """

    rate_in: float
    rate_out: float
    n_in: int
    n_out: int
    up: int
    down: int
    start: int

    @property
    def n_mid(self) -> int:
        """Samples after resampling, before the margins are cut."""
        return self.n_in * self.up // self.down


def plan_resample(n_out: int, rate_in: float, rate_out: float, *, margin: int = 256,
                  max_denominator: int = 4096) -> ResamplePlan:
    """Plan band-limited resampling from ``rate_in`` to ``rate_out``.

    Parameters
    ----------
    n_out : int
        Wanted samples at ``rate_out``.
    rate_in, rate_out : float, Hz
        Sampling rates of the model and of the target.
    margin : int
        Extra samples at ``rate_in`` on each side, discarded after resampling.
    max_denominator : int
        The rate ratio is approximated by a fraction ``up / down`` with
        ``down <= max_denominator`` (exact for rates such as 2.4, 3.2, 5 GHz).

    Raises
    ------
    ConfigError
        Non-positive or non-finite rates or lengths.
    """
    for name, rate in (("rate_in", rate_in), ("rate_out", rate_out)):
        if not (np.isfinite(rate) and rate > 0):
            raise ConfigError(f"{name} must be positive and finite, got {rate}")
    if n_out < 1:
        raise ConfigError(f"n_out must be >= 1, got {n_out}")
    ratio = Fraction(rate_out / rate_in).limit_denominator(max_denominator)
    up, down = ratio.numerator, ratio.denominator
    if up < 1:
        raise ConfigError(f"sampling-rate ratio {rate_out / rate_in:g} is too small")
    needed = math.ceil(n_out * down / up) + 2 * margin
    m = math.ceil(needed / down)
    for k in range(m, 2 * m + 64):  # both FFT lengths with small prime factors (fast)
        if (scipy.fft.next_fast_len(k * down, real=True) == k * down
                and scipy.fft.next_fast_len(k * up, real=True) == k * up):
            m = k
            break
    n_in = m * down
    start = (n_in * up // down - n_out) // 2
    return ResamplePlan(float(rate_in), float(rate_out), int(n_in), int(n_out), up, down,
                        int(start))


def resample(traces: np.ndarray, plan: ResamplePlan) -> np.ndarray:
    """Resample ``(..., n_in)`` traces as planned; returns ``(..., n_out)`` float32.

    The rfft is kept up to the lower Nyquist frequency and set to zero above it
    (:func:`scipy.signal.resample`); the margins carrying the periodic-extension
    artefacts are cut.
    """
    if traces.shape[-1] != plan.n_in:
        raise ConfigError(f"traces of {traces.shape[-1]} samples, planned {plan.n_in}")
    mid = scipy.signal.resample(np.asarray(traces, dtype=np.float64), plan.n_mid, axis=-1)
    return mid[..., plan.start:plan.start + plan.n_out].astype(np.float32)


def power_above(traces: np.ndarray, sampling_rate: float, frequency: float) -> float:
    """Fraction of the mean power of ``traces`` (last axis: time) above ``frequency``.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(..., n_samples)``.
    sampling_rate : float, Hz
        Of ``traces``.
    frequency : float, Hz
        E.g. the Nyquist frequency of a target rate.
    """
    x = np.asarray(traces, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    power = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).reshape(-1, x.shape[-1] // 2 + 1).sum(0)
    freqs = np.fft.rfftfreq(x.shape[-1], 1.0 / sampling_rate)
    total = power.sum()
    return float(power[freqs > frequency].sum() / total) if total > 0 else 0.0


#: Fraction of a model's power left out on each side of its band (:func:`band_edges`).
BAND_TAIL = 0.01


def band_edges(traces: np.ndarray, sampling_rate: float, tail: float = BAND_TAIL,
               ) -> tuple[float, float]:
    """The band holding all but ``tail`` of the power on each side, ``(low, high)`` in Hz.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(..., n_samples)`` noise, e.g. a probe draw of a model.
    sampling_rate : float, Hz
        Of ``traces``.
    tail : float
        Fraction of the total power below ``low`` and above ``high``.
    """
    x = np.asarray(traces, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    power = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).reshape(-1, x.shape[-1] // 2 + 1).sum(0)
    freqs = np.fft.rfftfreq(x.shape[-1], 1.0 / sampling_rate)
    cum = np.cumsum(power) / max(float(power.sum()), 1e-300)
    low = freqs[min(int(np.searchsorted(cum, tail)), freqs.size - 1)]
    high = freqs[min(int(np.searchsorted(cum, 1.0 - tail)), freqs.size - 1)]
    return float(low), float(high)


def check_band(probe: np.ndarray, rate_in: float, rate_out: float, *,
               source: str = "model") -> str | None:
    """Refuse a target rate whose Nyquist frequency lies below the model's band; describe
    one that cuts into it.

    Parameters
    ----------
    probe : numpy.ndarray
        ``(..., n_samples)`` draws of the model at ``rate_in``.
    rate_in, rate_out : float, Hz
        The model's and the target's sampling rates.
    source : str
        Named in the messages (the model file).

    Returns
    -------
    str or None
        A one-line warning when the target's Nyquist frequency lies inside the band
        (:func:`band_edges`), with the fraction of power removed; None otherwise.

    Raises
    ------
    ConfigError
        The Nyquist frequency lies below the band's lower edge: almost all the model's
        power would be removed.
    """
    nyquist = rate_out / 2.0
    low, high = band_edges(probe, rate_in)
    band = (f"{low / 1e6:.0f}-{high / 1e6:.0f} MHz hold {100 * (1 - 2 * BAND_TAIL):.0f} % of "
            "its power")
    if nyquist < low:
        raise ConfigError(f"{source}: sampling rate {rate_out / 1e6:.4g} MHz is too low for "
                          f"this model: its Nyquist frequency {nyquist / 1e6:.4g} MHz lies "
                          f"below the model's band ({band}); the noise would be almost "
                          "nothing")
    if nyquist < high:
        lost = power_above(probe, rate_in, nyquist)
        return (f"{source}: sampling rate {rate_out / 1e6:.4g} MHz: its Nyquist frequency "
                f"{nyquist / 1e6:.4g} MHz cuts into the model's band ({band}); "
                f"{100 * lost:.1f} % of the noise power is removed")
    return None
