"""Smooth spectral modulation of noise by continuous conditions (sidereal time, ...).

Per cell, channel and frequency band the log band power of each training event is
regressed on condition features: ``log P(f, c) = a(f) + beta(f) . (phi(c) - mean phi)``.
Filtering a trace by ``exp(sign * beta . dphi / 2)`` per band moves its power spectrum to
another condition (``sign = +1``) or back to the cell's mean condition (``sign = -1``,
*demodulation*). Used by :class:`~rnognoise.models.conditional.ConditionalModel`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .spectral import irfft

__all__ = ["SpectralModulation"]


class SpectralModulation(nn.Module):
    """Smooth per-band power modulation by continuous-condition features.

    Parameters
    ----------
    n_cells, n_channels, n_features, n_samples, n_bands : int
        Shapes: coefficients ``(n_cells, n_channels, n_features, n_bands)``.
    """

    def __init__(self, n_cells: int, n_channels: int, n_features: int, n_samples: int,
                 n_bands: int) -> None:
        super().__init__()
        n_freq = n_samples // 2 + 1
        self.n_samples = n_samples
        self.n_bands = max(1, min(n_bands, n_freq))
        self.register_buffer("coefficients",
                             torch.zeros(n_cells, n_channels, n_features, self.n_bands))
        self.register_buffer("feature_mean", torch.zeros(n_cells, n_features))
        # bins -> bands (averaging) and bands -> bins (linear interpolation between centres)
        edges = np.linspace(0, n_freq, self.n_bands + 1).round().astype(int)
        to_bands = np.zeros((n_freq, self.n_bands), np.float32)
        for b in range(self.n_bands):
            to_bands[edges[b]:edges[b + 1], b] = 1.0 / max(1, edges[b + 1] - edges[b])
        centres = 0.5 * (edges[:-1] + edges[1:] - 1)
        to_bins = np.zeros((self.n_bands, n_freq), np.float32)
        for k in range(n_freq):
            j = int(np.clip(np.searchsorted(centres, k) - 1, 0, max(0, self.n_bands - 2)))
            if self.n_bands == 1:
                to_bins[0, k] = 1.0
                continue
            w = float(np.clip((k - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0))
            to_bins[j, k] += 1.0 - w
            to_bins[j + 1, k] += w
        self.register_buffer("to_bands", torch.from_numpy(to_bands), persistent=False)
        self.register_buffer("to_bins", torch.from_numpy(to_bins), persistent=False)

    @property
    def n_features(self) -> int:
        """Number of condition features."""
        return int(self.coefficients.shape[2])

    def band_log_power(self, traces: torch.Tensor) -> torch.Tensor:
        """``log`` of the mean periodogram power per band, ``(n, C, n_bands)``."""
        power = torch.fft.rfft(traces.float(), dim=-1).abs().square()
        return torch.log(power @ self.to_bands + 1e-30)

    def fit_cell(self, cell: int, traces: torch.Tensor, features: torch.Tensor,
                 ridge: float = 1e-2) -> None:
        """Ridge least-squares fit of the log band power on the centred features, one cell.

        The ridge term (``ridge`` times the number of events; features are of order one)
        keeps the fit stable when the training events cover only part of a cycle, where
        the harmonics are nearly collinear; it shrinks a full-cycle fit by about
        ``ridge / var(feature)``, i.e. 2 %.
        """
        if self.n_features == 0:
            return
        feats = features.double()
        mean = feats.mean(dim=0)
        phi = feats - mean
        y = self.band_log_power(traces).double()  # (n, C, B)
        y = y - y.mean(dim=0, keepdim=True)
        gram = phi.T @ phi + ridge * phi.shape[0] * torch.eye(phi.shape[1], dtype=phi.dtype)
        rhs = torch.einsum("nf,ncb->fcb", phi, y)
        coef = torch.linalg.solve(gram, rhs.reshape(phi.shape[1], -1)).reshape(rhs.shape)
        self.coefficients[cell] = coef.permute(1, 0, 2).to(self.coefficients.dtype)
        self.feature_mean[cell] = mean.to(self.feature_mean.dtype)

    def log_gain(self, cell: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Log power ratio per bin, ``(n, C, n_freq)``, relative to the cell's mean condition."""
        # the band sums in float64 (coefficients of nearly collinear harmonics may cancel),
        # the interpolation to every bin in float32
        dphi = features.double() - self.feature_mean[cell].double()
        bands = torch.einsum("nf,ncfb->ncb", dphi, self.coefficients[cell].double())
        return bands.float() @ self.to_bins

    def apply(self, traces: torch.Tensor, cell: torch.Tensor, features: torch.Tensor,
              sign: float = 1.0) -> torch.Tensor:
        """Filter traces by ``exp(sign * log_gain / 2)`` (sign -1 demodulates)."""
        if self.n_features == 0 or traces.shape[0] == 0:
            return traces
        gain = torch.exp(0.5 * sign * self.log_gain(cell, features.to(traces.dtype)))
        spec = torch.fft.rfft(traces, dim=-1) * gain
        return irfft(spec, self.n_samples).to(traces.dtype)
