"""Cross-spectral estimation and random-phase Gaussian sampling (the analytic noise core).

A stationary multi-channel Gaussian process is fully described by its cross-spectral
matrix ``S(f) = E[X(f) X(f)^H]`` (``X`` = rfft of a trace, per channel). Sampling draws
``X(f) = L(f) z(f)`` with ``L L^H = S`` and circular complex normal ``z``, then inverts
the rfft: per-channel spectra and cross-channel coherence (phase relations included)
are reproduced, amplitudes are Rayleigh distributed and phases uniform.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CrossSpectrum", "SpectralSampler", "estimate_cross_spectrum"]


class CrossSpectrum:
    """Streaming estimator of the mean cross-spectral matrix and the median auto-spectrum.

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

    def update(self, traces: torch.Tensor) -> None:
        """Add a batch ``(n, C, T)`` of (normalised) traces."""
        spec = torch.fft.rfft(traces.double(), dim=-1).permute(0, 2, 1)  # (n, F, C)
        # (F, C, n) @ (F, n, C): a batched matmul (einsum's complex path is far slower).
        self.sum += torch.matmul(spec.permute(1, 2, 0), spec.permute(1, 0, 2).conj())
        self.count += traces.shape[0]
        if self.kept < self.keep:
            take = min(self.keep - self.kept, traces.shape[0])
            self.powers.append((spec[:take].abs() ** 2).float())
            self.kept += take

    def mean(self) -> torch.Tensor:
        """Mean cross-spectral matrix ``(F, C, C)`` (complex128), rfft units."""
        if self.count == 0:
            raise ValueError("no data")
        return self.sum / self.count

    def robust(self) -> torch.Tensor:
        """Cross-spectral matrix whose diagonal is the median-based power estimate.

        The median of an exponentially distributed power is ``ln 2`` times its mean, so
        ``median / ln 2`` estimates the mean power of the Gaussian part while ignoring
        lines and impulses present in a minority of events. Coherences are kept from
        the mean matrix.
        """
        mean = self.mean()
        median = torch.cat(self.powers).median(dim=0).values.double() / math.log(2.0)  # (F, C)
        diag = torch.diagonal(mean, dim1=-2, dim2=-1).real.clamp_min(1e-30)
        scale = torch.sqrt(median / diag)
        return mean * scale[:, :, None] * scale[:, None, :]


def estimate_cross_spectrum(traces: torch.Tensor, *, robust: bool = False,
                            batch_size: int = 512) -> torch.Tensor:
    """Cross-spectral matrix ``(F, C, C)`` of traces ``(n, C, T)`` (see :class:`CrossSpectrum`)."""
    est = CrossSpectrum(traces.shape[1], traces.shape[2])
    for lo in range(0, traces.shape[0], batch_size):
        est.update(traces[lo:lo + batch_size])
    return est.robust() if robust else est.mean()


class SpectralSampler(nn.Module):
    """Draw Gaussian noise with a given cross-spectral matrix (random phases).

    Parameters
    ----------
    n_channels, n_samples : int
        Output layout.

    Notes
    -----
    The factor ``L(f)`` is stored as real and imaginary float32 buffers of shape
    ``(F, C, C)``; it is the Hermitian square root from an eigendecomposition, which
    tolerates (near-)singular matrices such as bins outside the passband.
    """

    def __init__(self, n_channels: int, n_samples: int) -> None:
        super().__init__()
        n_freq = n_samples // 2 + 1
        self.n_samples = n_samples
        self.register_buffer("factor_real", torch.zeros(n_freq, n_channels, n_channels))
        self.register_buffer("factor_imag", torch.zeros(n_freq, n_channels, n_channels))

    def set_spectrum(self, cross_spectrum: torch.Tensor) -> None:
        """Set ``L`` from a cross-spectral matrix ``(F, C, C)``."""
        s = cross_spectrum.to(torch.complex128)
        s = 0.5 * (s + s.conj().transpose(-1, -2))
        evals, evecs = torch.linalg.eigh(s)
        factor = evecs * evals.clamp_min(0.0).sqrt()[:, None, :]
        self.factor_real.copy_(factor.real.float())
        self.factor_imag.copy_(factor.imag.float())

    @property
    def factor(self) -> torch.Tensor:
        """``L(f)`` as a complex tensor ``(F, C, C)``."""
        return torch.complex(self.factor_real, self.factor_imag)

    def power(self) -> torch.Tensor:
        """Per-channel expected power ``diag(L L^H)`` ``(C, F)``, rfft units."""
        f = self.factor
        return (f.abs() ** 2).sum(-1).T

    def spectra(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Random complex spectra ``(n, C, F)`` with the stored cross-spectrum."""
        n_freq, n_ch, _ = self.factor_real.shape
        dev = self.factor_real.device
        z = torch.randn(n, n_freq, n_ch, 2, generator=generator, device=dev)
        z = torch.complex(z[..., 0], z[..., 1]) * (1.0 / math.sqrt(2.0))
        # DC and Nyquist bins of a real signal are real with the full variance.
        z[:, 0] = z[:, 0].real * math.sqrt(2.0) + 0j
        if self.n_samples % 2 == 0:
            z[:, -1] = z[:, -1].real * math.sqrt(2.0) + 0j
        # (F, C, C) @ (F, C, n) -> (F, C, n) -> (n, C, F)
        return torch.matmul(self.factor, z.permute(1, 2, 0)).permute(2, 1, 0)

    def forward(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Gaussian noise ``(n, C, T)``."""
        return torch.fft.irfft(self.spectra(n, generator), n=self.n_samples, dim=-1)
