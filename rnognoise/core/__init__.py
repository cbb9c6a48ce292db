"""The shared adversarial/variational training core.

Used by the noise models (``rnognoise.models``) and by the reference image pipelines
(``pipelines/``), so that each idea exists once:

- :mod:`~rnognoise.core.losses` — adversarial losses, the WGAN gradient penalty, the VAE KL term.
- :mod:`~rnognoise.core.checkpoint` — module/optimizer state in safetensors + JSON, atomically.
- :mod:`~rnognoise.core.loop` — one training loop: steps, wall-clock budget, progress bar,
  JSONL loss log, periodic checkpoints, resume, divergence detection, keep-the-best.
"""

from __future__ import annotations

from .checkpoint import load_state, save_state
from .loop import DistributedComm, LoopConfig, LoopResult, TrainingLoop
from .losses import (
    bce_discriminator_loss,
    gaussian_kl,
    gradient_penalty,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    nonsaturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

__all__ = [
    "DistributedComm",
    "LoopConfig",
    "LoopResult",
    "TrainingLoop",
    "bce_discriminator_loss",
    "gaussian_kl",
    "gradient_penalty",
    "load_state",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "nonsaturating_generator_loss",
    "save_state",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
]
