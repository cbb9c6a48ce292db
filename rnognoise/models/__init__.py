"""Noise models, one module each, registered by name.

- ``baseline`` (:mod:`~rnognoise.models.baseline`) — random-phase Gaussian noise with the
  measured cross-spectra; the reference every learned model must beat.
- ``wgan-gp`` (:mod:`~rnognoise.models.wgan_gp`) — Wasserstein GAN with gradient penalty.
- ``vae`` (:mod:`~rnognoise.models.vae`) — 1D-convolutional variational autoencoder.
- ``conditional`` (:mod:`~rnognoise.models.conditional`) — sub-models of one of the above
  per station / channel group, spectrally modulated by sidereal time or other continuous
  event quantities (built by ``rnognoise fit --condition``).

:func:`get_model_class` looks a kind up; :func:`model_kinds` lists them.
"""

from __future__ import annotations

from . import baseline, conditional, vae, wgan_gp
from .base import NoiseModel, TraceLayout, TrainingPlan, get_model_class, model_kinds

__all__ = ["NoiseModel", "TraceLayout", "TrainingPlan", "baseline", "conditional", "get_model_class",
           "model_kinds", "vae", "wgan_gp"]
