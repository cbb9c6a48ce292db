"""Embedded stand-ins for MNIST and Fashion-MNIST (no download), and the data-set switch.

- :func:`digits_28` — scikit-learn's bundled 8x8 handwritten digits (1797 images),
  upscaled to 20x20 and centred in 28x28 like MNIST. Real handwriting, but coarse.
- :func:`garment_shapes` — *procedurally drawn* garment-like silhouettes in ten classes
  named like Fashion-MNIST's. This is not Fashion-MNIST: each class is a fixed polygon
  template with random scale, shift, rotation, brightness and shading.
- :func:`load_image_dataset` / :func:`load_train_and_test` — a real MNIST-layout folder
  when one is given, else the embedded default.
"""

from __future__ import annotations

import os

import numpy as np

from rnognoise.errors import ConfigError, DataFileError

from .idx import load_idx_dataset
from .images import FASHION_CLASSES, MNIST_CLASSES, ImageDataset, resize_images

__all__ = ["digits_28", "garment_shapes", "load_image_dataset", "load_train_and_test"]


def digits_28() -> ImageDataset:
    """scikit-learn's 1797 bundled 8x8 digits as MNIST-like 28x28 images.

    Each 8x8 image (values 0-16) is upscaled bilinearly to 20x20 and centred in a 28x28
    frame with a 4-pixel border, the size of the digit box in MNIST; values in [0, 1].
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32)[:, None] / 16.0
    big = np.clip(resize_images(small, (20, 20)), 0.0, 1.0)
    images = np.zeros((len(big), 1, 28, 28), dtype=np.float32)
    images[:, :, 4:24, 4:24] = big
    return ImageDataset(images, digits.target.astype(np.int64), MNIST_CLASSES,
                        "embedded: scikit-learn 8x8 digits upscaled to 28x28")


# Garment templates: polygons in unit coordinates (x right, y down); +1 adds, -1 cuts.
_Poly = list[tuple[float, float]]
_SLEEVES_LONG: list[tuple[int, _Poly]] = [
    (1, [(0.32, 0.15), (0.14, 0.28), (0.10, 0.86), (0.21, 0.86), (0.32, 0.42)]),
    (1, [(0.68, 0.15), (0.86, 0.28), (0.90, 0.86), (0.79, 0.86), (0.68, 0.42)]),
]
_GARMENTS: list[list[tuple[int, _Poly]]] = [
    # 0 T-shirt/top: torso, short sleeves, neck cut
    [(1, [(0.30, 0.18), (0.70, 0.18), (0.70, 0.90), (0.30, 0.90)]),
     (1, [(0.30, 0.18), (0.10, 0.34), (0.18, 0.46), (0.30, 0.38)]),
     (1, [(0.70, 0.18), (0.90, 0.34), (0.82, 0.46), (0.70, 0.38)]),
     (-1, [(0.42, 0.17), (0.58, 0.17), (0.50, 0.27)])],
    # 1 Trouser: waistband and two legs
    [(1, [(0.30, 0.08), (0.70, 0.08), (0.70, 0.30), (0.30, 0.30)]),
     (1, [(0.30, 0.08), (0.49, 0.08), (0.47, 0.94), (0.33, 0.94)]),
     (1, [(0.51, 0.08), (0.70, 0.08), (0.67, 0.94), (0.53, 0.94)])],
    # 2 Pullover: torso with long sleeves
    [(1, [(0.32, 0.15), (0.68, 0.15), (0.68, 0.88), (0.32, 0.88)]), *_SLEEVES_LONG,
     (-1, [(0.43, 0.14), (0.57, 0.14), (0.50, 0.21)])],
    # 3 Dress: narrow bodice, flared skirt
    [(1, [(0.41, 0.06), (0.59, 0.06), (0.61, 0.38), (0.80, 0.95), (0.20, 0.95),
          (0.39, 0.38)])],
    # 4 Coat: long torso, long sleeves, open front, V collar
    [(1, [(0.32, 0.12), (0.68, 0.12), (0.69, 0.95), (0.31, 0.95)]), *_SLEEVES_LONG,
     (-1, [(0.495, 0.30), (0.505, 0.30), (0.505, 0.95), (0.495, 0.95)]),
     (-1, [(0.42, 0.11), (0.58, 0.11), (0.50, 0.32)])],
    # 5 Sandal: thin sole and straps
    [(1, [(0.08, 0.74), (0.92, 0.70), (0.92, 0.80), (0.08, 0.82)]),
     (1, [(0.18, 0.75), (0.30, 0.48), (0.36, 0.48), (0.26, 0.75)]),
     (1, [(0.42, 0.73), (0.50, 0.44), (0.56, 0.44), (0.50, 0.73)]),
     (1, [(0.30, 0.50), (0.80, 0.56), (0.80, 0.61), (0.30, 0.55)])],
    # 6 Shirt: narrower torso, long sleeves, collar and button placket
    [(1, [(0.34, 0.14), (0.66, 0.14), (0.66, 0.90), (0.34, 0.90)]),
     (1, [(0.34, 0.14), (0.18, 0.26), (0.15, 0.80), (0.24, 0.80), (0.34, 0.40)]),
     (1, [(0.66, 0.14), (0.82, 0.26), (0.85, 0.80), (0.76, 0.80), (0.66, 0.40)]),
     (-1, [(0.44, 0.13), (0.56, 0.13), (0.50, 0.20)]),
     (-1, [(0.48, 0.24), (0.52, 0.24), (0.52, 0.90), (0.48, 0.90)])],
    # 7 Sneaker: low shoe profile
    [(1, [(0.06, 0.56), (0.42, 0.46), (0.58, 0.34), (0.74, 0.36), (0.94, 0.60),
          (0.94, 0.74), (0.06, 0.74)])],
    # 8 Bag: body and handle ring
    [(1, [(0.18, 0.40), (0.82, 0.40), (0.86, 0.90), (0.14, 0.90)]),
     (1, [(0.30, 0.41), (0.34, 0.16), (0.66, 0.16), (0.70, 0.41)]),
     (-1, [(0.38, 0.40), (0.41, 0.23), (0.59, 0.23), (0.62, 0.40)])],
    # 9 Ankle boot: shaft and foot
    [(1, [(0.34, 0.08), (0.64, 0.08), (0.64, 0.54), (0.92, 0.68), (0.92, 0.88),
          (0.14, 0.88), (0.20, 0.60), (0.34, 0.54)])],
]


def garment_shapes(n: int = 6000, *, seed: int = 0, size: int = 28) -> ImageDataset:
    """Procedurally drawn garment-like silhouettes in ten balanced classes.

    A stand-in for Fashion-MNIST that ships with the code: each class (named like
    Fashion-MNIST's, :data:`FASHION_CLASSES`) is a polygon template, drawn with random
    scale (0.8-1.05), shift (up to 2 pixels), rotation (up to 6 degrees), brightness
    (0.45-1.0), a vertical shading gradient and a little pixel noise, antialiased by 3x3
    supersampling. It is far simpler than Fashion-MNIST; it only makes the pipelines
    runnable without a download.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int
        Random seed; the same seed gives the same images.
    size : int
        Image side in pixels.
    """
    from matplotlib.path import Path as MplPath

    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % 10
    rng.shuffle(labels)
    sup = 3
    coords = (np.arange(size * sup) + 0.5) / (size * sup)
    gx, gy = np.meshgrid(coords, coords)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    images = np.zeros((n, 1, size, size), dtype=np.float32)
    for i, label in enumerate(labels):
        scale = rng.uniform(0.8, 1.05)
        angle = np.deg2rad(rng.uniform(-6.0, 6.0))
        shift = rng.uniform(-2.0, 2.0, size=2) / size
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        # map pixel positions back into template coordinates
        local = ((points - 0.5 - shift) @ rot) / scale + 0.5
        mask = np.zeros(len(points), dtype=bool)
        for sign, poly in _GARMENTS[label]:
            inside = MplPath(poly).contains_points(local)
            mask = mask | inside if sign > 0 else mask & ~inside
        mask_img = mask.reshape(size, sup, size, sup).mean(axis=(1, 3))
        shade = rng.uniform(0.45, 1.0) * (1.0 + rng.uniform(-0.2, 0.2) *
                                          (np.linspace(-1, 1, size)[:, None]))
        noise = rng.normal(0.0, 0.03, size=(size, size))
        images[i, 0] = np.clip(mask_img * (shade + noise), 0.0, 1.0)
    return ImageDataset(images, labels, FASHION_CLASSES,
                        f"embedded: procedural garment-like shapes (n={n}, seed={seed})")


def load_image_dataset(kind: str, data_dir: str | os.PathLike[str] | None = None, *,
                       split: str = "train", seed: int = 0,
                       n_embedded: int = 6000) -> ImageDataset:
    """MNIST (``kind="mnist"``) or Fashion-MNIST (``"fashion"``), or the embedded default.

    Parameters
    ----------
    kind : {"mnist", "fashion"}
        Which family; sets the class names and the embedded default.
    data_dir : str or os.PathLike, optional
        Folder with the IDX files (see :func:`load_idx_dataset`). Without it the embedded
        default is returned: :func:`digits_28` for MNIST, :func:`garment_shapes` for
        Fashion-MNIST (the same data for both splits except for the garment seed).
    split : {"train", "test"}
        Which split of a real data set.
    seed : int
        Seed of the procedural data (the test split uses ``seed + 1``).
    n_embedded : int
        Number of procedural garment images.
    """
    if kind not in ("mnist", "fashion"):
        raise ConfigError(f"unknown data set {kind!r}; valid: mnist, fashion")
    names = MNIST_CLASSES if kind == "mnist" else FASHION_CLASSES
    if data_dir is not None:
        return load_idx_dataset(data_dir, split=split, class_names=names)
    if kind == "mnist":
        return digits_28()
    return garment_shapes(n_embedded, seed=seed + (split == "test"))


def load_train_and_test(kind: str, data_dir: str | os.PathLike[str] | None = None, *,
                        seed: int = 0, n_embedded: int = 6000
                        ) -> tuple[ImageDataset, ImageDataset | None]:
    """Training split and, when there is one, the test split (``t10k-*``) of a data set.

    The test split is optional in a real folder (None when its files are missing). For the
    embedded garments it is a fresh draw of ``n_embedded // 5`` images (seed + 1); the
    embedded digits have no test split (None).
    """
    train = load_image_dataset(kind, data_dir, seed=seed, n_embedded=n_embedded)
    if data_dir is None:
        test = None if kind == "mnist" else garment_shapes(max(n_embedded // 5, 10),
                                                            seed=seed + 1)
        return train, test
    try:
        test = load_image_dataset(kind, data_dir, split="test")
    except DataFileError:
        test = None
    return train, test
