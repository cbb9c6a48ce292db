"""Labelled image sets and the pixel helpers the loaders share.

Images are ``float32`` arrays of shape ``(N, C, H, W)`` with values in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FASHION_CLASSES", "MNIST_CLASSES", "ImageDataset", "resize_images"]

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


@dataclass
class ImageDataset:
    """Labelled images.

    Attributes
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` float32 in [0, 1].
    labels : numpy.ndarray
        ``(N,)`` int64 class indices.
    class_names : tuple of str
        Name of each class index.
    source : str
        Where the data came from (a folder, or a description of the embedded default).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def subset(self, index: np.ndarray | slice) -> ImageDataset:
        """The images and labels at ``index``."""
        return ImageDataset(self.images[index], self.labels[index], self.class_names,
                            self.source)


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(N, C, H, W)`` images to ``size`` = ``(height, width)`` pixels."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return out.numpy()
