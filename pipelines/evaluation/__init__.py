"""Evaluation of the reference pipelines' outputs.

- :mod:`~pipelines.evaluation.generative` — generators of images from noise (and class
  labels): memorisation, diversity, classifier Fréchet distance, classifier score, class
  coverage, all with a small classifier trained on the data at hand.
- :mod:`~pipelines.evaluation.paired` — image-to-image tasks with a known target: L1,
  PSNR, SSIM.
"""

from __future__ import annotations

from .generative import (
    ClassifierResult,
    SmallCNN,
    class_coverage,
    classifier_features,
    classifier_frechet_distance,
    classifier_probabilities,
    classifier_score,
    diversity,
    evaluate_generator,
    evaluate_samples,
    frechet_distance,
    memorisation_check,
    nearest_neighbour_distances,
    train_classifier,
)
from .paired import PSNR_CAP_DB, l1_error, paired_metrics, psnr, ssim

__all__ = [
    "PSNR_CAP_DB",
    "ClassifierResult",
    "SmallCNN",
    "class_coverage",
    "classifier_features",
    "classifier_frechet_distance",
    "classifier_probabilities",
    "classifier_score",
    "diversity",
    "evaluate_generator",
    "evaluate_samples",
    "frechet_distance",
    "l1_error",
    "memorisation_check",
    "nearest_neighbour_distances",
    "paired_metrics",
    "psnr",
    "ssim",
    "train_classifier",
]
