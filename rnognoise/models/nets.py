"""Convolutional building blocks shared by the learned noise models."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvUpsampler", "SpectralCritic", "event_statistics"]


class ConvUpsampler(nn.Module):
    """Latent sequence -> traces by repeated (nearest x2 upsample, Conv1d, LeakyReLU).

    Parameters
    ----------
    in_channels : int
        Channels of the latent sequence.
    width : int
        Hidden channels.
    out_channels : int
        Output channels (detector channels).
    n_up : int
        Number of x2 upsampling stages.
    kernel : int
        Convolution kernel size.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, n_up: int,
                 kernel: int = 5) -> None:
        super().__init__()
        pad = kernel // 2
        layers: list[nn.Module] = [nn.Conv1d(in_channels, width, kernel, padding=pad),
                                   nn.LeakyReLU(0.2)]
        for _ in range(n_up):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv1d(width, width, kernel, padding=pad), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv1d(width, out_channels, kernel, padding=pad))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def event_statistics(x: torch.Tensor, block: int = 128) -> torch.Tensor:
    """Differentiable per-event summary ``(n, C * 5)``, per channel: log RMS, peak/RMS,
    kurtosis, log spread of block means, and the mean over blocks of the block peak / RMS.

    Everything is computed from ``x**2`` and block reductions, so the statistics cost a
    few passes over the traces, also in the double backward of the gradient penalty.
    Traces shorter than two blocks count as one block (block spread 0).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, C, T)`` normalised traces.
    block : int
        Block length in samples (the digitizer block of RNO-G: 128).
    """
    n, c, t = x.shape
    x2 = x * x
    power = x2.mean(-1).clamp_min(1e-12)
    nb = t // block if block else 0
    if nb >= 2:
        peak2 = x2[..., :nb * block].reshape(n, c, nb, block).amax(-1)  # (n, C, blocks)
        means = x[..., :nb * block].reshape(n, c, nb, block).mean(-1)
        spread = (means.std(-1) + 1e-6).log()
    else:
        peak2 = x2.amax(-1, keepdim=True)
        spread = torch.zeros_like(power)
    rel = peak2 / power[..., None]
    feats = [0.5 * power.log(), rel.amax(-1).sqrt(), (x2 * x2).mean(-1) / power.pow(2),
             spread, rel.sqrt().mean(-1)]
    return torch.cat(feats, dim=1)


class SpectralCritic(nn.Module):
    """Critic that looks at the traces, their log spectra and per-event statistics.

    Three branches, concatenated into a linear head: strided 1D convolutions over time
    (all channels together, so cross-channel structure is visible), strided convolutions
    over the per-event log power spectrum at full frequency resolution (lines, spectral
    shape, event-to-event spectral variation), and the per-event statistics of
    :func:`event_statistics` (gain, tails, block structure). No batch normalisation, as
    required by the gradient penalty: every score depends on its own event only.

    Parameters
    ----------
    n_channels, n_samples : int
        Input layout.
    width : int
        Base width of the convolutional branches.
    """

    def __init__(self, n_channels: int, n_samples: int, width: int = 32) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2)
        # Large strides keep the critic cheap on a CPU: the gradient penalty's double
        # backward runs through every layer.
        self.time = nn.Sequential(
            nn.Conv1d(n_channels, width, 16, stride=8, padding=4), act,
            nn.Conv1d(width, 2 * width, 8, stride=4, padding=2), act,
            nn.Conv1d(2 * width, 4 * width, 8, stride=4, padding=2), act,
        )
        self.freq = nn.Sequential(
            nn.Conv1d(n_channels, width, 7, stride=4, padding=3), act,
            nn.Conv1d(width, 2 * width, 7, stride=4, padding=3), act,
        )
        n_freq = n_samples // 2 + 1
        with torch.no_grad():
            f_len = self.freq(torch.zeros(1, n_channels, n_freq)).shape[-1]
        self.freq_head = nn.Linear(2 * width * f_len, 4 * width)
        self.head = nn.Sequential(
            nn.Linear(4 * width * 2 + 4 * width + 5 * n_channels, 4 * width), act,
            nn.Linear(4 * width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(n,)`` of traces ``(n, C, T)``."""
        h = self.time(x)
        t_feat = torch.cat([h.mean(-1), h.amax(-1)], dim=1)
        spec = torch.fft.rfft(x, dim=-1)
        # |X|^2 from the real and imaginary parts: no complex abs, whose gradient (and the
        # gradient penalty's second derivative through it) costs several complex passes
        logspec = torch.log(spec.real.pow(2) + spec.imag.pow(2) + 1e-3)
        f_feat = self.freq_head(self.freq(logspec).flatten(1))
        stats = event_statistics(x)
        return self.head(torch.cat([t_feat, f_feat, stats], dim=1)).squeeze(-1)
