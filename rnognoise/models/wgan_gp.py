"""``wgan-gp``: a Wasserstein GAN with gradient penalty for multi-channel noise.

One sample is a whole event (all channels), so cross-channel structure can be learned.
Two generators are available (``generator`` option):

- ``"physics"`` (default): the physics-structured generator of
  :mod:`~rnognoise.models.physics` (spectrally shaped Gaussian background with per-event
  gain, digitizer block offsets, intermittent phase-coherent CW lines, rare impulses),
  initialised from the data by moments, plus a 1D-convolutional residual generator
  whose output scale starts at zero. The adversarial game then refines what the
  moments got wrong and learns what the components cannot express. Sampling costs a few
  FFTs and small convolutions per event.
- ``"conv"``: a plain 1D-convolutional generator from a latent sequence (the textbook
  design; learns a 2048-sample spectrum slowly on a CPU, kept for comparison).

The critic (:class:`~rnognoise.models.nets.SpectralCritic`) sees traces, log spectra and
per-event statistics. Training follows Gulrajani et al. (2017): ``n_critic`` critic steps
per generator step, penalty weight 10, Adam with beta1 = 0, beta2 = 0.9.

References
----------
I. Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv:1704.00028.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..core.losses import gradient_penalty, wasserstein_critic_loss, wasserstein_generator_loss
from .base import NoiseModel, TraceLayout, TrainingPlan, register_model
from .nets import ConvUpsampler, SpectralCritic
from .structured import PhysicsGenerator

__all__ = ["PhysicsGenerator", "WGANGPConfig", "WGANGPModel"]


@dataclass
class WGANGPConfig:
    """Hyper-parameters of ``wgan-gp``.

    Parameters
    ----------
    generator : {"physics", "conv"}
        Generator design (see the module docstring).
    max_lines : int
        CW line slots of the physics generator.
    impulses : bool
        Include the impulse component.
    block : int
        Digitizer block length in samples (0: no block offsets).
    envelope : bool
        Include the learned per-event envelope (:mod:`~rnognoise.models.envelope`): random
        spectral gains over ``envelope_bands`` bands and a time envelope over
        ``envelope_windows`` windows, drawn from a distribution fitted to the data. It
        switches itself off where the data show no such variation.
    envelope_bands, envelope_windows : int
        Resolution of the envelope in frequency and time.
    envelope_adapt : bool
        Move the envelope's band edges where parts of a band vary unlike each other from
        event to event (:func:`~rnognoise.models.envelope.adapt_band_edges`; off by
        default: on held-out sets it helped on some and cost on others,
        docs/benchmarks.md).
    modes, transients, marginals, transfer : bool
        Include the general parts of the physics generator
        (:mod:`~rnognoise.models.structured`): structure locked to sample positions,
        time-localised excess power, per-bin amplitude distributions, the shape of each
        trace's amplitude distribution, each fitted to what
        the data show and the rest of the model lacks, inert where the data hold none.
    fixed_pattern : bool
        Add the data's mean trace where a test finds one (what every event holds at the
        same sample positions: an interleaved digitizer's offsets, pedestal residuals;
        :mod:`~rnognoise.models.fixed_pattern`; files written before this option:
        without).
    select_components : bool
        Keep each component (lines, impulses, blocks, envelope, profile and the general
        parts) only if it improves the held-out validation score
        (:func:`rnognoise.selection.select_components`).
    residual_width : int
        Width of the convolutional residual of the physics generator (0, the default: no
        residual; on two CPU cores it made sampling about 5x slower and did not learn
        within a 15-minute budget) and of the conv generator (at least 32).
    latent_channels : int
        Channels of the latent sequence of the convolutional part.
    critic_width : int
        Base width of the critic.
    n_critic : int
        Critic steps per generator step (2; Gulrajani et al. used 5). With ``gp_every``
        2 and ``gp_batch`` 32 a step costs about a quarter of the CPU time of the
        textbook schedule (5 critic steps, penalty on each on the whole batch) at the
        same held-out fidelity after 1 and 5 CPU-minutes (docs/benchmarks.md, "Training
        speed").
    gp_weight : float
        Gradient-penalty weight lambda.
    lr : float
        Adam learning rate of critic and networks.
    lr_physics : float
        Adam learning rate of the physical parameters. Adam moves each of the ~4000
        per-bin spectral corrections by about this much per step whatever the size of its
        noisy gradient. In 5 minutes on 2 CPU cores (docs/benchmarks.md) 1e-3 took the
        held-out C2ST AUC from the initialisation's ~0.56 to 0.65, 1e-4 gave 0.565 and
        3e-5 gave 0.550 (real vs real: 0.545), improving steadily to the last step.
    betas : tuple of float
        Adam betas.
    gp_every : int
        Lazy regularisation: the gradient penalty is evaluated on every ``gp_every``-th
        critic step (counted over the whole run) with its weight multiplied by
        ``gp_every``, so that its average pull is unchanged (as StyleGAN2 does for R1).
    gp_batch : int
        Interpolates per penalty evaluation (the first ``gp_batch`` real/fake pairs of the
        batch; 0: the whole batch). The penalty is an expectation over interpolates, so a
        smaller sample only makes its estimate noisier.
    """

    generator: str = "physics"
    max_lines: int = 8
    impulses: bool = True
    block: int = 128
    envelope: bool = True
    envelope_bands: int = 16
    envelope_windows: int = 16
    envelope_adapt: bool = False
    modes: bool = True
    transients: bool = True
    marginals: bool = True
    transfer: bool = True
    fixed_pattern: bool = True
    select_components: bool = True
    residual_width: int = 0
    latent_channels: int = 8
    critic_width: int = 16
    n_critic: int = 2
    gp_weight: float = 10.0
    lr: float = 1e-4
    lr_physics: float = 3e-5
    betas: tuple[float, float] = (0.0, 0.9)
    gp_every: int = 2
    gp_batch: int = 32


class ConvGenerator(nn.Module):
    """Plain 1D-convolutional generator: latent sequence -> traces."""

    def __init__(self, config: WGANGPConfig, layout: TraceLayout) -> None:
        super().__init__()
        self.n_up = 5
        self.n_samples = layout.n_samples
        if layout.n_samples % (2 ** self.n_up):
            raise ValueError(f"the conv generator needs n_samples divisible by "
                             f"{2 ** self.n_up}, got {layout.n_samples}")
        self.latent_channels = config.latent_channels
        width = max(config.residual_width, 32)
        self.net = ConvUpsampler(config.latent_channels, width, layout.n_channels, self.n_up)

    def physical_parameters(self) -> list[nn.Parameter]:
        return []

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def initialize(self, data: torch.Tensor) -> None:
        return None

    def forward(self, n: int, generator: torch.Generator) -> torch.Tensor:
        dev = next(self.parameters()).device
        z = torch.randn(n, self.latent_channels, self.n_samples // 2 ** self.n_up,
                        generator=generator, device=dev)
        return self.net(z)


@register_model("wgan-gp")
class WGANGPModel(NoiseModel):
    """Wasserstein GAN with gradient penalty (see the module docstring)."""

    Config = WGANGPConfig
    training_only = ("critic",)
    #: Files written before ``fixed_pattern`` existed have none.
    older_file_options: ClassVar[dict[str, Any]] = {"fixed_pattern": False}
    learned = True

    def __init__(self, config: WGANGPConfig, layout: TraceLayout) -> None:
        super().__init__(config, layout)
        if config.generator == "physics":
            self.generator = PhysicsGenerator(config, layout)
        elif config.generator == "conv":
            self.generator = ConvGenerator(config, layout)
        else:
            raise ValueError(f"generator must be 'physics' or 'conv', got {config.generator!r}")
        self.critic = SpectralCritic(layout.n_channels, layout.n_samples, config.critic_width)

    def initialize(self, data: torch.Tensor) -> None:
        self.generator.initialize(data)

    def components(self) -> list[str]:
        return list(self.generator.components) if self.config.generator == "physics" else []

    def set_components(self, enabled: list[str], data: torch.Tensor) -> None:
        if self.config.generator != "physics":
            super().set_components(enabled, data)
            return
        self.generator.set_components(enabled, data)

    def inert_components(self) -> list[str]:
        if self.config.generator != "physics":
            return []
        return self.generator.inert_components

    def component_details(self) -> dict[str, Any]:
        if self.config.generator != "physics":
            return {}
        return self.generator.general_info

    def spectral_correction(self) -> torch.Tensor | None:
        if self.config.generator != "physics":
            return None
        return self.generator.background.log_gain_correction

    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.generator(n, generator)

    def training_plan(self, *, lr: float | None = None, batch_size: int = 64) -> TrainingPlan:
        cfg = self.config
        if cfg.gp_every < 1 or cfg.gp_batch < 0:
            from ..errors import ConfigError
            raise ConfigError(f"gp_every must be >= 1 and gp_batch >= 0, got {cfg.gp_every} "
                             f"and {cfg.gp_batch}")
        lr = lr or cfg.lr
        betas = tuple(cfg.betas)
        groups = [{"params": self.generator.network_parameters(), "lr": lr},
                  {"params": self.generator.physical_parameters(), "lr": cfg.lr_physics}]
        opt_g = torch.optim.Adam([g for g in groups if g["params"]], betas=betas)
        opt_c = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=betas)
        device = self.norm_scale.device
        noise = torch.Generator(device=device)

        def step(index: int, batch_fn: Callable[[int, int], torch.Tensor]) -> dict[str, float]:
            noise.manual_seed(10_007 * index + 1)
            gp_value = 0.0  # reported: the step's last penalty (0 when none was evaluated)
            for k in range(cfg.n_critic):
                real = batch_fn(index, k)
                n = real.shape[0]
                with torch.no_grad():
                    fake = self.generator(n, noise)
                # one critic call on real and fake together (the critic has no batch
                # statistics, so each score depends on its own event only)
                scores = self.critic(torch.cat([real, fake]))
                w_loss = wasserstein_critic_loss(scores[:n], scores[n:])
                loss = w_loss
                if (index * cfg.n_critic + k) % cfg.gp_every == 0:
                    m = min(n, cfg.gp_batch) if cfg.gp_batch else n
                    gp = gradient_penalty(self.critic, real[:m], fake[:m],
                                          weight=cfg.gp_weight * cfg.gp_every)
                    loss = loss + gp
                    gp_value = gp.item() / cfg.gp_every
                opt_c.zero_grad(set_to_none=True)
                loss.backward()
                opt_c.step()
            fake = self.generator(batch_size, noise)
            g_loss = wasserstein_generator_loss(self.critic(fake))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            return {"critic": w_loss.item(), "gp": gp_value, "generator": g_loss.item(),
                    "wasserstein": -w_loss.item()}

        return TrainingPlan(modules={"generator": self.generator, "critic": self.critic},
                            optimizers={"generator": opt_g, "critic": opt_c}, step_fn=step,
                            batches_per_step=cfg.n_critic)
