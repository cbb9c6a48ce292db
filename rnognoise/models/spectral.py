"""Cross-spectral estimation and random-phase Gaussian sampling (the analytic noise core).

A stationary multi-channel Gaussian process is fully described by its cross-spectral
matrix ``S(f) = E[X(f) X(f)^H]`` (``X`` = rfft of a trace, per channel). Sampling draws
``X(f) = L(f) z(f)`` with ``L L^H = S`` and circular complex normal ``z``, then inverts
the rfft: per-channel spectra and cross-channel coherence (phase relations included)
are reproduced, amplitudes are Rayleigh distributed and phases uniform.
"""

from __future__ import annotations

import math

import scipy.fft
import torch
from torch import nn

__all__ = ["INNOVATION_TRUNCATION", "LEAKAGE_FLOOR", "MAX_BORROW", "MAX_INNOVATION_SPREAD", "MAX_INNOVATION_TAIL",
           "OUTLIER_POWER",
           "PASSBAND_FRACTION", "CrossSpectrum", "SpectralSampler", "chain_passband",
           "estimate_cross_spectrum", "innovation_factor", "irfft", "white_to_normals"]


def irfft(spec: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Inverse real FFT along the last axis, ``(..., F)`` complex -> ``(..., n_samples)``.

    Without autograd on the CPU it uses :func:`scipy.fft.irfft` with
    ``torch.get_num_threads()`` workers, which reads strided views without a transpose
    pass and was faster than ``torch.fft.irfft`` here (``bench/sample_speed.py``).
    """
    if spec.device.type == "cpu" and not (spec.requires_grad and torch.is_grad_enabled()):
        return torch.from_numpy(scipy.fft.irfft(spec.detach().numpy(), n=n_samples, axis=-1,
                                                workers=torch.get_num_threads()))
    return torch.fft.irfft(spec, n=n_samples, dim=-1)


#: Bins whose power is below this fraction of the channel's largest are outside the
#: signal chain's passband (:func:`chain_passband`).
PASSBAND_FRACTION: float = 1e-2


def chain_passband(power: torch.Tensor, fraction: float = PASSBAND_FRACTION) -> torch.Tensor:
    """``(C, F)`` bool: the bins of a power spectrum ``(C, F)`` where the signal chain
    passes power (at least ``fraction`` of the channel's largest)."""
    power = power.clamp_min(0)
    return power >= fraction * power.amax(-1, keepdim=True)


#: Largest log-normal spread of the innovations' amplitude (kurtosis factor
#: ``exp(4 s^2)`` of the innovations before truncation; the kurtosis of a band-limited
#: chain's output stops rising near 2).
MAX_INNOVATION_SPREAD: float = 1.5
#: Largest power-law tail of the innovations' amplitude (``1 / tail`` is the exponent of
#: the amplitude's tail; 0.45: about that of Student-t innovations with 2.2 degrees of
#: freedom, whose variance is nearly infinite).
MAX_INNOVATION_TAIL: float = 0.45
#: The innovations' amplitude normal number is clamped here (in standard deviations):
#: the largest innovation is at most ``exp(INNOVATION_TRUNCATION s - s^2)`` times a
#: normal one without a tail, about ``exp(10.4 tail)`` times more with one.
INNOVATION_TRUNCATION: float = 4.0


def _innovation_log_norm(spread: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
    """``(C,)`` half the log mean power of ``exp(s u - tail log Phi(-u))`` over standard
    normal ``u`` clamped at :data:`INNOVATION_TRUNCATION` (a quadrature on 4001 points
    and the two clamped masses)."""
    top = INNOVATION_TRUNCATION
    u = torch.linspace(-top, top, 4001, dtype=torch.float64, device=spread.device)
    weight = torch.exp(-0.5 * u * u)
    weight[[0, -1]] *= 0.5                                   # trapezoid ends
    end = float(torch.special.ndtr(torch.tensor(-top, dtype=torch.float64)))
    weight = weight / weight.sum() * (1.0 - 2.0 * end)
    weight[[0, -1]] += end
    log_a = (spread.double()[:, None] * u
             - tail.double()[:, None] * torch.special.log_ndtr(-u))
    return 0.5 * torch.logsumexp(2.0 * log_a + weight.log(), dim=-1)


def innovation_factor(u: torch.Tensor, spread: torch.Tensor,
                      tail: torch.Tensor | None = None) -> torch.Tensor:
    """The innovations' amplitude for normal numbers ``u`` ``(n, C, T)`` (clamped at
    :data:`INNOVATION_TRUNCATION`) and per channel ``(C,)`` a log-normal ``spread`` ``s``
    (at most :data:`MAX_INNOVATION_SPREAD`) and a power-law ``tail`` (at most
    :data:`MAX_INNOVATION_TAIL`), whatever a file holds.

    Without a tail it is ``exp(s u - s^2)`` (unit mean power before the clamp). With one,
    ``exp(s u - tail log Phi(-u) - c)``, ``c`` setting unit mean power: the factor
    ``Phi(-u)^-tail`` is the Pareto quantile of ``u``'s probability, an amplitude whose
    tail falls as a power law with exponent ``1 / tail`` (Student-t innovations with
    ``nu`` degrees of freedom have ``1 / nu``), where the log-normal's falls faster than
    any power."""
    s = spread.to(u.dtype).clamp(0.0, MAX_INNOVATION_SPREAD)
    u = u.clamp(-INNOVATION_TRUNCATION, INNOVATION_TRUNCATION)
    if tail is None or not bool((tail > 0).any()):
        s = s[None, :, None]
        return torch.exp(s * u - s * s)
    tail = tail.to(u.dtype).clamp(0.0, MAX_INNOVATION_TAIL)
    norm = _innovation_log_norm(s, tail).to(u.dtype)
    log_a = (s[None, :, None] * u - tail[None, :, None] * torch.special.log_ndtr(-u)
             - norm[None, :, None])
    return torch.exp(log_a)


def white_to_normals(w: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """The numbers ``(F_active, n, 2C)`` that :meth:`SpectralSampler.mix` reads, from
    white traces ``w`` ``(n, C, T)`` of unit power: their orthonormal Fourier coefficients
    at ``bins``, the real and imaginary parts of interior bins scaled to unit variance
    (the DC and Nyquist bins are real and already have it)."""
    n, c, t = w.shape
    spec = torch.fft.rfft(w, dim=-1, norm="ortho")[..., bins]          # (n, C, Fa)
    scale = torch.full((bins.numel(),), math.sqrt(2.0), dtype=w.dtype, device=w.device)
    scale[bins == 0] = 1.0
    if t % 2 == 0:
        scale[bins == t // 2] = 1.0
    spec = spec * scale
    return torch.view_as_real(spec.permute(2, 0, 1).contiguous()).reshape(-1, n, 2 * c)


#: Median of a chi-square variable with one degree of freedom over its mean.
CHI2_1_MEDIAN = 0.454936423119572


#: A bin of an event whose power exceeds this multiple of the bin's Gaussian mean power
#: (median / ln 2) in any channel carries something intermittent (a line, a pulse, a
#: drifting carrier): it does not count in the coherence of the Gaussian part (a Gaussian
#: bin exceeds it with probability e^-10).
OUTLIER_POWER = 10.0


def _cross_products(spec: torch.Tensor) -> torch.Tensor:
    """Sum over events of ``X X^H`` per bin, ``(F, C, C)`` complex128, from spectra
    ``(n, F, C)``: four real batched matmuls over ``(F, C, n)`` (complex batched matmuls
    are several times, at times 100x, slower on the CPU)."""
    re = spec.real.permute(1, 2, 0).contiguous()
    im = spec.imag.permute(1, 2, 0).contiguous()
    real_part = torch.bmm(re, re.transpose(1, 2)) + torch.bmm(im, im.transpose(1, 2))
    imag_part = torch.bmm(im, re.transpose(1, 2)) - torch.bmm(re, im.transpose(1, 2))
    return torch.complex(real_part, imag_part)


#: Leakage of an outlier into a neighbouring bin, as a fraction of the Gaussian power,
#: below which the neighbour counts in the coherence of the Gaussian part.
LEAKAGE_FLOOR = 0.01


def _near_outliers(ratio: torch.Tensor, outlier_power: float) -> torch.Tensor:
    """``(n, F)`` True where a bin is an outlier (``ratio > outlier_power``) or within the
    leakage reach ``sqrt(ratio / (pi^2 LEAKAGE_FLOOR))`` bins of one, from power ratios
    ``(n, F)`` to the Gaussian level: a dilation with a radius per outlier, as two running
    maxima (the reach from below, ``max_{f' <= f} r(f') + f' - f``, and from above)."""
    radius = torch.where(ratio > outlier_power,
                         (ratio / (math.pi ** 2 * LEAKAGE_FLOOR)).sqrt(),
                         torch.full_like(ratio, -math.inf))
    idx = torch.arange(ratio.shape[-1], dtype=ratio.dtype, device=ratio.device)
    from_below = torch.cummax(radius + idx, dim=-1).values - idx
    from_above = torch.cummax((radius - idx).flip(-1), dim=-1).values.flip(-1) + idx
    return (from_below >= 0) | (from_above >= 0)


class CrossSpectrum:
    """Streaming estimator of the mean cross-spectral matrix, the median auto-spectrum and
    the coherence of the Gaussian part.

    Usage: :meth:`update` with every batch, then (optionally, a second pass)
    :meth:`update_trimmed` with every batch, then :meth:`robust`.

    Parameters
    ----------
    n_channels, n_samples : int
        Trace layout.
    keep_for_median : int
        Events whose per-bin power is kept for the robust (median) auto-spectrum.
    """

    def __init__(self, n_channels: int, n_samples: int, keep_for_median: int = 4096) -> None:
        self.n_samples = n_samples
        n_freq = n_samples // 2 + 1
        self.sum = torch.zeros(n_freq, n_channels, n_channels, dtype=torch.complex128)
        self.count = 0
        self.keep = keep_for_median
        self.powers: list[torch.Tensor] = []
        self.kept = 0
        self.trimmed_sum = torch.zeros_like(self.sum)
        self.trimmed_count = torch.zeros(n_freq, dtype=torch.float64)
        self._level: torch.Tensor | None = None

    def update(self, traces: torch.Tensor) -> None:
        """Add a batch ``(n, C, T)`` of (normalised) traces."""
        spec = torch.fft.rfft(traces.double(), dim=-1).permute(0, 2, 1)  # (n, F, C)
        self.sum += _cross_products(spec)
        self.count += traces.shape[0]
        self._level = None
        if self.kept < self.keep:
            take = min(self.keep - self.kept, traces.shape[0])
            self.powers.append((spec[:take].abs() ** 2).float())
            self.kept += take

    def update_trimmed(self, traces: torch.Tensor, outlier_power: float = OUTLIER_POWER) -> None:
        """Second pass: add a batch ``(n, C, T)`` to the coherence of the Gaussian part.

        In each bin only the events count that have no outlier there or near enough to
        leak into it: an outlier is a bin whose power exceeds ``outlier_power`` times
        the bin's Gaussian mean power (:meth:`gaussian_power`) in any channel, and an
        outlier ``R`` times the Gaussian level leaks (a line between two bins of an
        unwindowed transform falls off as ``1 / (pi dk)^2`` in power) more than
        :data:`LEAKAGE_FLOOR` of the Gaussian power into the bins within
        ``dk = sqrt(R / (pi^2 LEAKAGE_FLOOR))``, which are left out as well. A line or
        carrier coherent across channels in a minority of events would otherwise give
        every event's Gaussian noise its coherence, in its own bin and, through the
        leakage, in the bins around it (a carrier at twice the noise RMS in a quarter of
        the events had halved the lag-0 correlation of two channels' quiet noise).
        """
        level = self.gaussian_power()                                     # (F, C)
        spec = torch.fft.rfft(traces.double(), dim=-1).permute(0, 2, 1)  # (n, F, C)
        ratio = (spec.abs().square() / level.clamp_min(1e-300)).amax(-1)  # (n, F)
        keep = ~_near_outliers(ratio, outlier_power)
        self.trimmed_sum += _cross_products(spec * keep[..., None])
        self.trimmed_count += keep.sum(0, dtype=torch.float64)

    def mean(self) -> torch.Tensor:
        """Mean cross-spectral matrix ``(F, C, C)`` (complex128), rfft units."""
        if self.count == 0:
            raise ValueError("no data")
        return self.sum / self.count

    def gaussian_power(self) -> torch.Tensor:
        """Median-based mean power of the Gaussian part per bin and channel ``(F, C)``.

        The median of an exponentially distributed power is ``ln 2`` times its mean, so
        ``median / ln 2`` estimates the mean power of the Gaussian part while ignoring
        lines and impulses present in a minority of events. The DC and Nyquist bins of a
        real trace are real: their power is chi-square with one degree of freedom, whose
        median is :data:`CHI2_1_MEDIAN` times its mean.
        """
        if self._level is None:
            if not self.powers:
                raise ValueError("no data")
            n_freq = self.sum.shape[0]
            ratio = torch.full((n_freq, 1), math.log(2.0), dtype=torch.float64)
            ratio[0] = CHI2_1_MEDIAN
            if self.n_samples % 2 == 0:
                ratio[-1] = CHI2_1_MEDIAN
            self._level = torch.cat(self.powers).median(dim=0).values.double() / ratio
        return self._level

    def robust(self) -> torch.Tensor:
        """Cross-spectral matrix of the Gaussian part: the diagonal is
        :meth:`gaussian_power`; the coherences are those of the events that
        :meth:`update_trimmed` kept in each bin. In a bin where it kept fewer than half
        of the events (a carrier in most events, and the bins its leakage reaches), the
        coherences are interpolated linearly between the nearest bins on either side
        where it kept enough, up to :data:`MAX_BORROW` bins away: the mean matrix there
        holds the carrier's own coherence, which the Gaussian part has not (a modulated
        carrier in every event gave the noise within +-30 bins of it a coherence of 0.7
        between two channels whose noise had none). Farther, and when
        :meth:`update_trimmed` was not called, the mean matrix's.
        """
        mean = self.mean()
        coherent = _coherence_matrix(mean)
        if self.trimmed_count.sum() > 0:
            enough = self.trimmed_count >= 0.5 * self.count                # (F,)
            trimmed = _coherence_matrix(
                self.trimmed_sum / self.trimmed_count.clamp_min(1.0)[:, None, None])
            coherent = torch.where(enough[:, None, None], trimmed,
                                   _borrowed(trimmed, enough, coherent))
        scale = torch.sqrt(self.gaussian_power())
        return coherent * scale[:, :, None] * scale[:, None, :]


#: Farthest a bin's Gaussian coherence is taken from, in bins (:meth:`CrossSpectrum.robust`).
MAX_BORROW = 128


def _coherence_matrix(s: torch.Tensor) -> torch.Tensor:
    """Cross-spectral matrices ``(F, C, C)`` normalised to unit diagonal."""
    d = torch.diagonal(s, dim1=-2, dim2=-1).real.clamp_min(1e-30).sqrt()   # (F, C)
    return s / (d[:, :, None] * d[:, None, :])


def _borrowed(coherence: torch.Tensor, enough: torch.Tensor, fallback: torch.Tensor
              ) -> torch.Tensor:
    """Per bin, ``coherence`` interpolated linearly between the nearest bins on either side
    where ``enough`` holds (one side alone where the other has none within
    :data:`MAX_BORROW` bins), or ``fallback`` where neither side has one."""
    n = enough.shape[0]
    pos = torch.arange(n, device=enough.device)
    left = torch.cummax(torch.where(enough, pos, torch.full_like(pos, -1)), 0).values
    right = torch.cummin(torch.where(enough, pos, torch.full_like(pos, n)).flip(0),
                         0).values.flip(0)
    has_left = (left >= 0) & (pos - left <= MAX_BORROW)
    has_right = (right < n) & (right - pos <= MAX_BORROW)
    span = (right - left).clamp_min(1).to(coherence.real.dtype)
    w_right = torch.where(has_left & has_right, (pos - left).to(span.dtype) / span,
                          has_right.to(span.dtype))                         # (F,)
    lo, hi = coherence[left.clamp(0, n - 1)], coherence[right.clamp(0, n - 1)]
    mixed = lo * (1 - w_right)[:, None, None] + hi * w_right[:, None, None]
    return torch.where((has_left | has_right)[:, None, None], mixed, fallback)


def estimate_cross_spectrum(traces: torch.Tensor, *, robust: bool = False,
                            batch_size: int = 512) -> torch.Tensor:
    """Cross-spectral matrix ``(F, C, C)`` of traces ``(n, C, T)`` (see :class:`CrossSpectrum`)."""
    est = CrossSpectrum(traces.shape[1], traces.shape[2])
    for lo in range(0, traces.shape[0], batch_size):
        est.update(traces[lo:lo + batch_size])
    if not robust:
        return est.mean()
    for lo in range(0, traces.shape[0], batch_size):
        est.update_trimmed(traces[lo:lo + batch_size])
    return est.robust()


class SpectralSampler(nn.Module):
    """Draw Gaussian noise with a given cross-spectral matrix (random phases).

    Parameters
    ----------
    n_channels, n_samples : int
        Output layout.
    innovations : bool
        Hold an amplitude law for non-Gaussian innovations (:attr:`innovation_spread`).

    Notes
    -----
    The factor ``L(f)`` is stored as real and imaginary float32 buffers of shape
    ``(F, C, C)``; it is a square root ``V sqrt(L)`` from an eigendecomposition, which
    tolerates (near-)singular matrices such as bins outside the passband (the Hermitian
    root where the innovations are not Gaussian, :meth:`use_hermitian_root`).

    Sampling is arranged for speed, with the same statistics as ``X(f) = L(f) z(f)``:

    - only bins that carry power are drawn: the bins dropped are the weakest ones whose
      summed power is below :attr:`max_dropped_power` of every channel's total (bins
      with no power at all, e.g. outside the passband of band-limited data);
    - the product is one complex batched matrix product per bin, ``z @ L^T`` on
      standard-normal numbers laid out ``(F, n, 2C)`` and read as ``(F, n, C)``
      complex (1.7x faster on a 2-core EPYC than the equivalent real product with the
      ``2C x 2C`` block matrix), written straight into the zero-padded ``(F, n, C)``
      spectrum buffer; a real per-channel, per-bin amplitude factor (:meth:`spectra`'s
      ``scale``) is folded into that matrix instead of being applied to the spectra;
    - the inverse FFT reads that layout through a strided view (no transpose pass) and
      writes ``(n, C, T)`` directly: on the CPU with :func:`scipy.fft.irfft`
      (``workers = torch.get_num_threads()``), elsewhere with :func:`torch.fft.irfft`;
    - the DC and Nyquist bins of a real signal are real: their factor is scaled by
      ``sqrt(2)`` so that the real part alone carries the full variance ``S(f)``.
    """

    #: Largest fraction of any channel's total power that may be left out by skipping
    #: the weakest frequency bins.
    max_dropped_power: float = 1e-7
    #: Size in bytes of the slices of bins :meth:`mix` does at a time on the CPU (each
    #: slice is finished while it is in the cache).
    slice_bytes: int = 1 << 20

    def __init__(self, n_channels: int, n_samples: int, innovations: bool = False) -> None:
        super().__init__()
        n_freq = n_samples // 2 + 1
        self.n_samples = n_samples
        self.register_buffer("factor_real", torch.zeros(n_freq, n_channels, n_channels))
        self.register_buffer("factor_imag", torch.zeros(n_freq, n_channels, n_channels))
        #: Log-normal spread per channel of the white innovations' amplitude (0: Gaussian
        #: innovations; :mod:`rnognoise.models.innovations`); only with ``innovations``
        #: (the baseline's draws are Gaussian by definition).
        self.register_buffer("innovation_spread",
                             torch.zeros(n_channels) if innovations else None)
        #: Power-law tail per channel of the innovations' amplitude (0: none;
        #: :func:`innovation_factor`); only with ``innovations``.
        self.register_buffer("innovation_tail",
                             torch.zeros(n_channels) if innovations else None)

    def set_spectrum(self, cross_spectrum: torch.Tensor, hermitian: bool = False) -> None:
        """Set ``L`` from a cross-spectral matrix ``(F, C, C)``: ``V sqrt(L)`` from its
        eigendecomposition, or with ``hermitian`` the Hermitian root ``V sqrt(L) V^H``."""
        s = cross_spectrum.to(torch.complex128)
        s = 0.5 * (s + s.conj().transpose(-1, -2))
        evals, evecs = torch.linalg.eigh(s)
        factor = evecs * evals.clamp_min(0.0).sqrt()[:, None, :]
        if hermitian:
            factor = factor @ evecs.conj().transpose(-1, -2)
        self.factor_real.copy_(factor.real.float())
        self.factor_imag.copy_(factor.imag.float())

    def use_hermitian_root(self) -> None:
        """Replace ``L`` by the Hermitian root of the same matrices: each channel then
        draws mostly on its own numbers, which matters where they are not Gaussian
        (:attr:`innovation_spread`); the root ``V sqrt(L)`` mixes them arbitrarily (at a
        bin of two independent channels of equal power, 30 % of each channel's amplitude
        came from the other's numbers). Gaussian draws have the same distribution with
        either root."""
        factor = self.factor.to(torch.complex128)
        self.set_spectrum(factor @ factor.conj().transpose(-1, -2), hermitian=True)

    @property
    def factor(self) -> torch.Tensor:
        """``L(f)`` as a complex tensor ``(F, C, C)``."""
        return torch.complex(self.factor_real, self.factor_imag)

    def power(self) -> torch.Tensor:
        """Per-channel expected power ``diag(L L^H)`` ``(C, F)``, rfft units."""
        return (self.factor_real.square() + self.factor_imag.square()).sum(-1).T

    def active_bins(self) -> torch.Tensor:
        """Indices of the frequency bins that are drawn (sorted, int64).

        The complement is the largest set of weakest bins whose summed power stays below
        :attr:`max_dropped_power` of the total power in every channel.
        """
        power = self.power().double()                                  # (C, F)
        share = (power / power.sum(-1, keepdim=True).clamp_min(1e-300)).amax(0)  # (F,)
        order = torch.argsort(share)
        dropped = torch.cumsum(share[order], 0) < self.max_dropped_power
        keep = order[~dropped]
        return torch.sort(keep).values

    def _mixing_matrix(self, bins: torch.Tensor) -> torch.Tensor:
        """Complex ``(F_active, C, C)`` matrix ``M`` with ``y = z @ M`` for row vectors
        ``z`` of circular complex normals (real and imaginary parts standard normal):
        ``M[f] = L(f)^T / sqrt(2)``, and ``L(f)^T`` at the DC and Nyquist bins, whose
        real part alone is kept."""
        lt = torch.complex(self.factor_real[bins], self.factor_imag[bins]).transpose(1, 2)
        scale = torch.full((bins.numel(), 1, 1), 1.0 / math.sqrt(2.0),
                           dtype=self.factor_real.dtype, device=lt.device)
        n_freq = self.factor_real.shape[0]
        edges = [0] + ([n_freq - 1] if self.n_samples % 2 == 0 else [])
        for edge in edges:
            scale[bins == edge] = 1.0
        return (lt * scale).contiguous()

    def _mixing(self) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int] | None]:
        """Active bins, mixing matrix and, when the active bins are one contiguous range,
        its ``(lo, hi)``; rebuilt only when the factor buffers change."""
        fr, fi = self.factor_real, self.factor_imag
        key = (fr.data_ptr(), fi.data_ptr(), fr._version, fi._version, fr.device, fr.dtype,
               tuple(fr.shape))
        cached = self.__dict__.get("_mixing_cache")
        if cached is None or cached[0] != key:
            with torch.no_grad():
                bins = self.active_bins().to(fr.device)
                lo, hi = (int(bins[0]), int(bins[-1]) + 1) if bins.numel() else (0, 0)
                span = (lo, hi) if hi - lo == bins.numel() else None
                cached = (key, bins, self._mixing_matrix(bins), span)
            self.__dict__["_mixing_cache"] = cached
        return cached[1], cached[2], cached[3]

    def normals(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The standard normal numbers ``(F_active, n, 2C)`` of ``n`` events' spectra (one
        ``torch.randn``), to be turned into spectra by :meth:`mix`.

        Where :attr:`innovation_spread` or :attr:`innovation_tail` is not 0 they are the
        Fourier coefficients of white, heavy-tailed innovations ``z``
        :func:`innovation_factor` instead (:func:`white_to_normals`): the same spectrum,
        and the sample values of a linear chain driven by impulsive noise
        (:mod:`rnognoise.models.innovations`)."""
        n_ch = self.factor_real.shape[1]
        bins = self._mixing()[0]
        spread, tail = self.innovation_spread, self.innovation_tail
        if spread is not None and (bool((spread > 0).any())
                                   or (tail is not None and bool((tail > 0).any()))):
            shape = (n, n_ch, self.n_samples)
            w = torch.randn(shape, generator=generator, device=spread.device)
            u = torch.randn(shape, generator=generator, device=spread.device)
            return white_to_normals(w.mul_(innovation_factor(u, spread, tail)), bins)
        return torch.randn(bins.numel(), n, 2 * n_ch, generator=generator,
                           device=self.factor_real.device, dtype=self.factor_real.dtype)

    def mix(self, z: torch.Tensor, scale: torch.Tensor | None = None,
            weights: torch.Tensor | None = None, curves: torch.Tensor | None = None
            ) -> torch.Tensor:
        """Complex spectra ``(n, C, F)`` from the normal numbers of :meth:`normals`.

        Each bin's numbers, read as ``C`` circular complex normals, are multiplied by the
        mixing matrix straight into a zero-padded ``(F, n, C)`` complex buffer; the result
        is a strided view of it (no transpose pass), which :func:`irfft` reads as it is.
        On the CPU the bins are done in slices of :attr:`slice_bytes`, each finished
        (event gains) while it is in the cache.

        Parameters
        ----------
        z : torch.Tensor
            ``(F_active, n, 2C)`` standard normal numbers.
        scale : torch.Tensor, optional
            Real amplitude factor per channel and bin ``(C, F)``, folded into the mixing
            matrix (no pass over the spectra). Sampling only (no gradient reaches it).
        weights, curves : torch.Tensor, optional
            A real amplitude gain per event, channel and bin given as a combination of
            ``B`` curves over frequency: ``weights`` ``(n, C, B)``, ``curves`` ``(B, F)``,
            gain ``weights @ curves``. Sampling only.

        Returns
        -------
        torch.Tensor
            ``(n, C, F)`` complex64, rfft units.
        """
        bins, m, span = self._mixing()
        n_freq, n_ch = self.factor_real.shape[:2]
        fa, n = z.shape[0], z.shape[1]
        if scale is not None:
            m = m * scale.detach()[:, bins].T[:, None, :].to(self.factor_real.dtype)
        gain = None
        if weights is not None and curves is not None:
            gain = (curves.detach().T, weights.detach().reshape(n * n_ch, -1).T)  # (F, B), (B, nC)
        buf = torch.empty(n_freq, n, n_ch, device=z.device, dtype=m.dtype)
        with torch.autocast(z.device.type, enabled=False):  # spectral parts stay float32
            zc = torch.view_as_complex(z.view(fa, n, n_ch, 2))
            if span is None:
                buf.zero_()
                buf[bins] = torch.bmm(zc, m)
                if gain is not None:
                    buf.mul_((gain[0] @ gain[1]).view(n_freq, n, n_ch))
            else:
                lo, hi = span
                buf[:lo].zero_()
                buf[hi:].zero_()
                step = (max(1, self.slice_bytes // max(1, n * n_ch * buf.element_size()))
                        if z.device.type == "cpu" else max(1, hi - lo))
                for a in range(lo, hi, step):
                    b = min(a + step, hi)
                    torch.bmm(zc[a - lo:b - lo], m[a - lo:b - lo], out=buf[a:b])
                    if gain is not None:
                        buf[a:b].mul_((gain[0][a:b] @ gain[1]).view(b - a, n, n_ch))
        # the DC and Nyquist bins of a real signal are real
        buf[0].imag.zero_()
        if self.n_samples % 2 == 0:
            buf[-1].imag.zero_()
        return buf.permute(1, 2, 0)

    def spectra(self, n: int, generator: torch.Generator,
                scale: torch.Tensor | None = None) -> torch.Tensor:
        """Random complex spectra ``(n, C, F)`` with the stored cross-spectrum:
        :meth:`mix` of :meth:`normals` (``scale`` as there)."""
        return self.mix(self.normals(n, generator), scale)

    def forward(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Gaussian noise ``(n, C, T)``."""
        return irfft(self.spectra(n, generator), self.n_samples)
