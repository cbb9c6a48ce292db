"""Data for the reference image pipelines: real loaders and embedded defaults.

- :mod:`~pipelines.data.images` — :class:`ImageDataset` (labelled images), class names.
- :mod:`~pipelines.data.idx` — the IDX format of MNIST / Fashion-MNIST
  (:func:`read_idx`, :func:`write_idx`, :func:`load_idx_dataset`).
- :mod:`~pipelines.data.embedded` — the embedded stand-ins used without ``--data-dir``
  (:func:`digits_28`, :func:`garment_shapes`) and :func:`load_train_and_test`.
- :mod:`~pipelines.data.folders` — image folders, the pix2pix and CycleGAN layouts.
- :mod:`~pipelines.data.procedural` — procedural paired, unpaired and super-resolution
  data (:func:`paired_edges_filled`, :func:`unpaired_blobs_stripes`, :func:`random_shapes`).

Images are ``float32`` arrays of shape ``(N, C, H, W)`` with values in [0, 1].
"""

from __future__ import annotations

from .embedded import digits_28, garment_shapes, load_image_dataset, load_train_and_test
from .folders import IMAGE_SUFFIXES, load_image_folder, load_paired_folder, load_unpaired_folders
from .idx import load_idx_dataset, read_idx, write_idx
from .images import FASHION_CLASSES, MNIST_CLASSES, ImageDataset, resize_images
from .procedural import (
    KIND_COLOURS,
    downsample_average,
    paired_edges_filled,
    paired_shapes_edges,
    random_shapes,
    unpaired_blobs_stripes,
)

__all__ = [
    "FASHION_CLASSES",
    "IMAGE_SUFFIXES",
    "KIND_COLOURS",
    "MNIST_CLASSES",
    "ImageDataset",
    "digits_28",
    "downsample_average",
    "garment_shapes",
    "load_idx_dataset",
    "load_image_dataset",
    "load_image_folder",
    "load_paired_folder",
    "load_train_and_test",
    "load_unpaired_folders",
    "paired_edges_filled",
    "paired_shapes_edges",
    "random_shapes",
    "read_idx",
    "resize_images",
    "unpaired_blobs_stripes",
    "write_idx",
]
