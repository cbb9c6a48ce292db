"""A pulse's waveform from noisy recordings, up to a shift and a rotation of its phase.

A pulse through a signal chain is not zero-phase: the chain disperses it, and its
positive and negative excursions are of similar size (the recorded pulses of the
embedded simulator: the smaller excursion within 5 ns of the peak is 0.63 of the larger
in the median; a zero-phase pulse with their spectrum: 0.44). Recorded pulses differ
from each other by their arrival time and, through direction, polarisation and polarity,
by a rotation of their phase that is the same at every frequency: the pulse
``Re[e^{i theta} a(t - tau)]`` of the analytic signal ``a`` of a reference shape. Both
are taken out by aligning each recorded pulse on the reference where the modulus of
their analytic cross-correlation peaks (the correlation's phase there is the rotation);
the mean of the aligned pulses gives the reference's phase, and a few rounds from a
zero-phase start settle it. Each pulse's rotation is kept, so that the variety of shapes
can be drawn back.
"""

from __future__ import annotations

import math

import torch

__all__ = ["align_pulses", "pulse_phase", "rotate", "rotated_peak", "shape_similarity"]

#: Rounds of alignment and averaging from the zero-phase start.
ALIGNMENT_ROUNDS = 3


def _one_sided(spectra: torch.Tensor) -> torch.Tensor:
    """rfft spectra ``(..., F)`` without their DC and Nyquist bins (zeroed): the positive
    frequencies whose phase a rotation turns."""
    out = spectra.clone()
    out[..., 0] = 0
    if out.shape[-1] > 1:
        out[..., -1] = 0
    return out


def align_pulses(spectra: torch.Tensor, reference: torch.Tensor, n_samples: int,
                 max_shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift and rotation of each pulse relative to ``reference``.

    Parameters
    ----------
    spectra : torch.Tensor
        rfft spectra ``(m, F)`` of the recorded pulses (complex).
    reference : torch.Tensor
        rfft spectrum ``(F,)`` of the reference shape.
    n_samples : int
        Trace length ``T``.
    max_shift : int
        Largest shift (samples) searched on either side.

    Returns
    -------
    shift, rotation : torch.Tensor
        ``(m,)`` float64: the pulse is ``Re[e^{i rotation} a(t - shift)]`` for the
        reference's analytic signal ``a`` (shift in samples, refined between samples by a
        parabola through the correlation's modulus).
    """
    cross = _one_sided(spectra.to(torch.complex128) * reference.to(torch.complex128).conj())
    m, n_freq = cross.shape
    full = torch.zeros(m, n_samples, dtype=torch.complex128, device=cross.device)
    full[:, :n_freq] = cross
    corr = torch.fft.ifft(full, dim=-1) * n_samples                  # sum_f c_f e^{2 pi i f t/T}
    lags = torch.arange(-max_shift, max_shift + 1, device=cross.device)
    modulus = corr[:, lags % n_samples].abs()                        # (m, L)
    best = modulus.argmax(-1)
    inner = (best > 0) & (best < len(lags) - 1)
    at = best.clamp(1, len(lags) - 2)
    left, mid, right = (modulus.gather(1, (at + d)[:, None])[:, 0] for d in (-1, 0, 1))
    curve = left - 2 * mid + right
    step = torch.where(inner & (curve < 0), 0.5 * (left - right) / curve.clamp(max=-1e-300),
                       torch.zeros_like(mid)).clamp(-0.5, 0.5)
    shift = lags[best].double() + step
    f = torch.arange(n_freq, device=cross.device, dtype=torch.float64)
    at_shift = (cross * torch.exp(2j * math.pi * f[None] * shift[:, None] / n_samples)).sum(-1)
    return shift, torch.angle(at_shift)


def rotate(spectra: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """rfft spectra ``(..., F)`` of pulses rotated by ``rotation`` ``(...)`` (radians):
    every positive frequency's phase turned by the same angle (DC and Nyquist scaled by
    its cosine, the real part of the rotation of a real value)."""
    turn = torch.polar(torch.ones_like(rotation), rotation)[..., None].to(spectra.dtype)
    out = spectra * turn
    out[..., 0] = spectra[..., 0] * turn[..., 0].real
    if out.shape[-1] > 1:
        out[..., -1] = spectra[..., -1] * turn[..., 0].real
    return out


def pulse_phase(spectra: torch.Tensor, amplitude: torch.Tensor, n_samples: int,
                max_shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The phase of recorded pulses' mean shape and each pulse's rotation.

    Starting from the zero-phase pulse of ``amplitude``, each round aligns the pulses on
    the reference (:func:`align_pulses`), takes their mean and gives the reference that
    mean's phase (the amplitude stays ``amplitude``, which is measured robustly
    elsewhere). At the end the reference's analytic envelope peaks at sample 0 and its
    rotation is the pulses' typical one (the axial mean of the rotations, in which a
    pulse and its negative count alike), so that a rotation of 0 is the typical shape
    and ``pi`` the typical shape inverted.

    Parameters
    ----------
    spectra : torch.Tensor
        rfft spectra ``(m, F)`` of recorded pulses, each near sample 0 (complex).
    amplitude : torch.Tensor
        ``(F,)`` amplitude spectrum of the pulse (real, non-negative).
    n_samples : int
        Trace length ``T``.
    max_shift : int
        Largest shift (samples) of a pulse from the reference.

    Returns
    -------
    phase : torch.Tensor
        ``(F,)`` float64 phase of the reference shape.
    rotation : torch.Tensor
        ``(m,)`` float64 rotation of each pulse relative to it, in ``(-pi, pi]``.
    """
    amp = amplitude.to(torch.float64)
    spectra = spectra.to(torch.complex128)
    f = torch.arange(amp.shape[-1], device=amp.device, dtype=torch.float64)
    phase = torch.zeros_like(amp)
    for _ in range(ALIGNMENT_ROUNDS):
        reference = torch.polar(amp, phase)
        shift, rotation = align_pulses(spectra, reference, n_samples, max_shift)
        aligned = spectra * torch.exp(2j * math.pi * f[None] * shift[:, None] / n_samples
                                      - 1j * rotation[:, None])
        phase = torch.angle(aligned.mean(0))
    reference = torch.polar(amp, phase)
    # the envelope's peak at sample 0
    analytic = torch.zeros(n_samples, dtype=torch.complex128, device=amp.device)
    analytic[:amp.shape[-1]] = 2 * _one_sided(reference)
    peak = int(torch.fft.ifft(analytic).abs().argmax())
    peak = peak - n_samples if peak > n_samples // 2 else peak
    phase = phase + 2 * math.pi * f * peak / n_samples
    _, rotation = align_pulses(spectra, torch.polar(amp, phase), n_samples, max_shift)
    typical = 0.5 * float(torch.angle(torch.exp(2j * rotation).mean()))
    phase = phase + typical
    rotation = torch.angle(torch.exp(1j * (rotation - typical)))
    return phase, rotation


def shape_similarity(spectra: torch.Tensor, reference: torch.Tensor, n_samples: int,
                     max_shift: int) -> torch.Tensor:
    """Normalised correlation of each pulse with ``reference`` once aligned on it
    (:func:`align_pulses`): 1 for the same shape up to a shift, a rotation and a scale.

    Parameters
    ----------
    spectra : torch.Tensor
        rfft spectra ``(m, F)`` of the pulses.
    reference : torch.Tensor
        rfft spectrum ``(F,)`` of the reference shape.
    n_samples : int
        Trace length.
    max_shift : int
        Largest shift (samples) searched on either side.

    Returns
    -------
    torch.Tensor
        ``(m,)`` float64, at most 1.
    """
    spectra = spectra.to(torch.complex128)
    reference = reference.to(torch.complex128)
    shift, rotation = align_pulses(spectra, reference, n_samples, max_shift)
    f = torch.arange(spectra.shape[-1], device=spectra.device, dtype=torch.float64)
    back = rotate(spectra * torch.exp(2j * math.pi * f * shift[:, None] / n_samples), -rotation)
    x = torch.fft.irfft(back, n=n_samples, dim=-1)
    r = torch.fft.irfft(reference, n=n_samples, dim=-1)
    return (x @ r) / (x.norm(dim=-1) * r.norm()).clamp_min(1e-300)


def rotated_peak(template: torch.Tensor, rotation: torch.Tensor, n_samples: int
                 ) -> torch.Tensor:
    """Largest ``|sample|`` of each channel's shape rotated by ``rotation``.

    Parameters
    ----------
    template : torch.Tensor
        rfft spectra ``(C, F)`` of the shapes (complex).
    rotation : torch.Tensor
        ``(m, C)`` radians.
    n_samples : int
        Trace length.

    Returns
    -------
    torch.Tensor
        ``(m, C)``.
    """
    turned = rotate(template[None].expand(rotation.shape[0], -1, -1), rotation)
    return torch.fft.irfft(turned, n=n_samples, dim=-1).abs().amax(-1).to(rotation.dtype)
