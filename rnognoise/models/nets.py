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
    """Differentiable per-event summary ``(n, C * 5)``: log RMS, peak/RMS, kurtosis,
    log spread of block means, and the 99th-percentile |x| / RMS, per channel."""
    rms = x.pow(2).mean(-1).clamp_min(1e-12).sqrt()
    peak = x.abs().amax(-1) / rms
    kurt = (x.pow(4).mean(-1) / rms.pow(4))
    feats = [rms.log(), peak, kurt]
    n, c, t = x.shape
    if block and t % block == 0 and t >= 2 * block:
        means = x.reshape(n, c, t // block, block).mean(-1)
        feats.append((means.std(-1) + 1e-6).log())
    else:
        feats.append(torch.zeros_like(rms))
    top = torch.topk(x.abs(), max(1, t // 100), dim=-1).values[..., -1] / rms
    feats.append(top)
    return torch.cat(feats, dim=1)


class SpectralCritic(nn.Module):
    """Critic that looks at the traces, their log spectra and per-event statistics.

    Three branches, concatenated into a linear head: strided 1D convolutions over time
    (all channels together, so cross-channel structure is visible), strided convolutions
    over the per-event log power spectrum (lines, spectral shape), and the per-event
    statistics of :func:`event_statistics` (gain, tails, block structure). No batch
    normalisation, as required by the gradient penalty.

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
        # backward runs through every layer, n_critic times per generator step.
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
        h = self.time(x)
        t_feat = torch.cat([h.mean(-1), h.amax(-1)], dim=1)
        logspec = torch.log(torch.fft.rfft(x, dim=-1).abs().pow(2) + 1e-3)
        f_feat = self.freq_head(self.freq(logspec).flatten(1))
        stats = event_statistics(x)
        return self.head(torch.cat([t_feat, f_feat, stats], dim=1)).squeeze(-1)
