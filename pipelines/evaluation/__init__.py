"""Evaluation of the reference pipelines' outputs.

- :mod:`~pipelines.evaluation.generative` — generators of images from noise (and class
  labels): memorisation, diversity, classifier Fréchet distance, classifier score, class
  coverage, all with a small classifier trained on the data at hand.
- :mod:`~pipelines.evaluation.paired` — image-to-image tasks with a known target: L1,
  PSNR, SSIM.
"""

from __future__ import annotations

from . import generative, paired
from .generative import *  # noqa: F403  (re-exported: generative.__all__)
from .paired import *  # noqa: F403  (re-exported: paired.__all__)

__all__ = generative.__all__ + paired.__all__
