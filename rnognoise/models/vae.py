"""``vae``: a 1D-convolutional variational autoencoder with a coloured-noise likelihood.

An event ``x`` (all channels) is modelled as ``x = D(z) + g(z) * n`` with a latent
``z ~ N(0, I)``, a convolutional decoder ``D`` for the structured, event-specific part
(block offsets, pulses, ...), a per-event gain ``g`` and ``n`` stationary Gaussian noise
with the data's robust cross-spectrum (:mod:`~rnognoise.models.spectral`). The
likelihood of the residual ``x - D(z)`` is evaluated in the frequency domain against
that spectrum (a whitened Gaussian), so the decoder is not asked to reproduce thermal
noise sample by sample, the usual reason a VAE's output is too smooth. Sampling draws
``z``, decodes, and adds fresh coloured noise with the cross-channel coherence.

References
----------
D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..core.losses import gaussian_kl
from .base import NoiseModel, TraceLayout, TrainingPlan, register_model
from .nets import ConvUpsampler
from .spectral import CrossSpectrum, SpectralSampler

__all__ = ["VAEConfig", "VAEModel"]


@dataclass
class VAEConfig:
    """Hyper-parameters of ``vae``.

    Parameters
    ----------
    latent_dim : int
        Size of the latent vector.
    width : int
        Base width of encoder and decoder.
    n_up : int
        Upsampling stages of the decoder (the decoder starts at ``n_samples / 2**n_up``).
    beta : float
        Weight of the KL term (1: the ELBO).
    lr : float
        Adam learning rate.
    """

    latent_dim: int = 32
    width: int = 16
    n_up: int = 4
    beta: float = 1.0
    lr: float = 1e-3


class _Encoder(nn.Module):
    def __init__(self, n_channels: int, n_samples: int, width: int, latent_dim: int) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.net = nn.Sequential(
            nn.Conv1d(n_channels, width, 9, stride=4, padding=4), act,
            nn.Conv1d(width, 2 * width, 9, stride=4, padding=4), act,
            nn.Conv1d(2 * width, 4 * width, 9, stride=4, padding=4), act,
        )
        with torch.no_grad():
            size = self.net(torch.zeros(1, n_channels, n_samples)).numel()
        self.head = nn.Linear(size + n_channels, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_rms = 0.5 * x.pow(2).mean(-1).clamp_min(1e-12).log()
        h = torch.cat([self.net(x).flatten(1), log_rms], dim=1)
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)


class _Decoder(nn.Module):
    def __init__(self, n_channels: int, n_samples: int, width: int, latent_dim: int,
                 n_up: int) -> None:
        super().__init__()
        if n_samples % (2 ** n_up):
            raise ValueError(f"n_samples {n_samples} must be divisible by 2**n_up = {2 ** n_up}")
        self.start = n_samples // 2 ** n_up
        self.width = width
        self.fc = nn.Linear(latent_dim, width * self.start)
        self.up = ConvUpsampler(width, width, n_channels, n_up)
        self.gain = nn.Linear(latent_dim, 1)
        # Start as the coloured-Gaussian background (no structure, unit gain): training
        # then only adds what the data has beyond it.
        last = self.up.net[-1]
        for param in (last.weight, last.bias, self.gain.weight, self.gain.bias):
            nn.init.zeros_(param)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(z).reshape(z.shape[0], self.width, self.start)
        return self.up(h), self.gain(z).squeeze(-1)


@register_model("vae")
class VAEModel(NoiseModel):
    """Convolutional VAE with a coloured-Gaussian likelihood (see the module docstring)."""

    Config = VAEConfig
    training_only = ("encoder",)
    learned = True

    def __init__(self, config: VAEConfig, layout: TraceLayout) -> None:
        super().__init__(config, layout)
        c, t = layout.n_channels, layout.n_samples
        self.encoder = _Encoder(c, t, config.width, config.latent_dim)
        self.decoder = _Decoder(c, t, config.width, config.latent_dim, config.n_up)
        self.noise = SpectralSampler(c, t)

    def initialize(self, data: torch.Tensor) -> None:
        est = CrossSpectrum(data.shape[1], data.shape[2])
        for lo in range(0, data.shape[0], 512):
            est.update(data[lo:lo + 512])
        self.noise.set_spectrum(est.robust())

    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        dev = self.norm_scale.device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=dev)
        structured, log_gain = self.decoder(z)
        return structured + log_gain.exp()[:, None, None] * self.noise(n, generator)

    def negative_elbo(self, x: torch.Tensor, generator: torch.Generator,
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-element negative ELBO, its reconstruction and KL parts, for a batch."""
        mu, logvar = self.encoder(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + eps * (0.5 * logvar).exp()
        structured, log_gain = self.decoder(z)
        power = self.noise.power().clamp_min(0)                        # (C, F)
        active = power > power.amax(-1, keepdim=True) * 1e-6
        active[:, 0] = False
        resid = torch.fft.rfft(x - structured, dim=-1)                 # (n, C, F)
        g2 = (2 * log_gain).exp()[:, None, None]
        ratio = resid.abs().pow(2) / (power.clamp_min(1e-20) * g2)
        nll = (ratio + 2 * log_gain[:, None, None]) * active
        n_terms = active.sum()
        recon = nll.sum((1, 2)).mean() / n_terms
        kl = gaussian_kl(mu, logvar) / n_terms
        return recon + self.config.beta * kl, recon, kl

    def training_plan(self, *, lr: float | None = None, batch_size: int = 64) -> TrainingPlan:
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        opt = torch.optim.Adam(params, lr=lr or self.config.lr)
        gen = torch.Generator(device=self.norm_scale.device)

        def step(index: int, batch_fn: Callable[[int, int], torch.Tensor]) -> dict[str, float]:
            gen.manual_seed(7919 * index + 3)
            loss, recon, kl = self.negative_elbo(batch_fn(index, 0), gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": loss.item(), "reconstruction": recon.item(), "kl": kl.item()}

        return TrainingPlan(modules={"encoder": self.encoder, "decoder": self.decoder},
                            optimizers={"vae": opt}, step_fn=step)
