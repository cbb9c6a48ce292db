"""Procedural data of the paired, unpaired and super-resolution pipelines.

- :func:`random_shapes` — coloured discs, rectangles and triangles (super-resolution).
- :func:`paired_edges_filled` — outlines -> shapes filled by kind (pix2pix default).
- :func:`paired_shapes_edges` — coloured shapes and their edge maps.
- :func:`unpaired_blobs_stripes` — smooth brown blobs and striped blobs (CycleGAN default).
- :func:`downsample_average` — block-average downsampling.

Images are ``float32`` arrays of shape ``(N, C, H, W)`` with values in [0, 1].
"""

from __future__ import annotations

import numpy as np

from rnognoise.errors import ConfigError

__all__ = ["KIND_COLOURS", "downsample_average", "paired_edges_filled", "paired_shapes_edges",
           "random_shapes", "unpaired_blobs_stripes"]


def _shape_masks(rng: np.random.Generator, size: int,
                 n_shapes: int) -> tuple[np.ndarray, np.ndarray]:
    """Label map ``(size, size)`` (0 background, k for the k-th shape, later on top) and the
    kind of each shape (``kinds[k - 1]``: 0 disc, 1 rectangle, 2 triangle)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    labels = np.zeros((size, size), dtype=np.int64)
    kinds = np.empty(n_shapes, dtype=np.int64)
    for k in range(1, n_shapes + 1):
        cx, cy = rng.uniform(0.2, 0.8, size=2) * size
        r = rng.uniform(0.12, 0.28) * size
        kind = int(rng.integers(3))
        if kind == 0:  # disc
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
        elif kind == 1:  # axis-aligned rectangle
            ry = r * rng.uniform(0.5, 1.0)
            mask = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= ry)
        else:  # upward triangle
            mask = (yy <= cy + r) & (yy >= cy - r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
        labels[mask] = k
        kinds[k - 1] = kind
    return labels, kinds


def random_shapes(n: int, *, size: int = 32, seed: int = 0,
                  n_shapes: tuple[int, int] = (1, 3)) -> np.ndarray:
    """Coloured discs, rectangles and triangles on a plain coloured background.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Image side in pixels.
    seed : int
        Random seed.
    n_shapes : (int, int)
        Smallest and largest number of shapes per image.

    Returns
    -------
    numpy.ndarray
        ``(n, 3, size, size)`` float32 in [0, 1].
    """
    return _shapes_and_labels(n, size, seed, n_shapes)[0]


def _shapes_and_labels(n: int, size: int, seed: int,
                       n_shapes: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    label_maps = np.empty((n, size, size), dtype=np.int64)
    for i in range(n):
        count = int(rng.integers(n_shapes[0], n_shapes[1] + 1))
        labels, _ = _shape_masks(rng, size, count)
        colours = rng.uniform(0.0, 1.0, size=(count + 1, 3)).astype(np.float32)
        colours[0] = colours[0] * 0.4 + 0.5  # light background
        images[i] = colours[labels].transpose(2, 0, 1)
        label_maps[i] = labels
    return images, label_maps


def paired_shapes_edges(n: int, *, size: int = 32,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Paired data like edges2shoes: an edge map (A) and the coloured shapes it outlines (B).

    Returns
    -------
    edges, images : numpy.ndarray
        ``(n, 3, size, size)`` each in [0, 1]; ``edges`` is black (0) on the outlines of
        :func:`random_shapes`-style images and white (1) elsewhere, in all three channels.
    """
    images, labels = _shapes_and_labels(n, size, seed, (1, 3))
    edges = np.repeat((~_boundaries(labels)).astype(np.float32)[:, None], 3, axis=1)
    return edges, images


#: Fill colour (RGB in [0, 1]) of each shape kind in :func:`paired_edges_filled`:
#: disc, rectangle, triangle.
KIND_COLOURS = np.array([[0.85, 0.20, 0.15], [0.15, 0.35, 0.85], [0.95, 0.75, 0.10]],
                        dtype=np.float32)


def _boundaries(label_maps: np.ndarray) -> np.ndarray:
    """Pixels whose label differs from the one above or to the left, ``(n, H, W)`` bool."""
    boundary = np.zeros(label_maps.shape, dtype=bool)
    boundary[:, 1:, :] |= label_maps[:, 1:, :] != label_maps[:, :-1, :]
    boundary[:, :, 1:] |= label_maps[:, :, 1:] != label_maps[:, :, :-1]
    return boundary


def paired_edges_filled(n: int, *, size: int = 32, seed: int = 0,
                        n_shapes: tuple[int, int] = (1, 3)) -> tuple[np.ndarray, np.ndarray]:
    """Paired data with one right answer per input: outlines (A) -> filled shapes (B).

    A is the outline drawing of one to three overlapping discs, rectangles and triangles
    (black lines on white); B is the same drawing with every visible region filled with
    the colour of its shape's kind (:data:`KIND_COLOURS`) on white. The target is dense
    (the shapes cover a fifth of the pixels on average) and fully determined by the input:
    a translator has to fill closed outlines and tell the kinds apart by their outline.

    Returns
    -------
    edges, filled : numpy.ndarray
        ``(n, 3, size, size)`` float32 in [0, 1] each.
    """
    rng = np.random.default_rng(seed)
    label_maps = np.empty((n, size, size), dtype=np.int64)
    filled = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        count = int(rng.integers(n_shapes[0], n_shapes[1] + 1))
        labels, kinds = _shape_masks(rng, size, count)
        palette = np.concatenate([np.ones((1, 3), np.float32), KIND_COLOURS[kinds]])
        filled[i] = palette[labels].transpose(2, 0, 1)
        label_maps[i] = labels
    edges = np.repeat((~_boundaries(label_maps)).astype(np.float32)[:, None], 3, axis=1)
    return edges, filled


def _blob_masks(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    masks = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        field = np.zeros((size, size))
        cx, cy = rng.uniform(0.35, 0.65, size=2)
        for _ in range(int(rng.integers(2, 5))):
            bx, by = cx + rng.normal(0, 0.12), cy + rng.normal(0, 0.08)
            s = rng.uniform(0.08, 0.16)
            field += np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * s ** 2))
        masks[i] = np.clip((field - 0.5) * 8.0, 0.0, 1.0)  # soft edge
    return masks


def unpaired_blobs_stripes(n_a: int, n_b: int | None = None, *, size: int = 32,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unpaired "horse -> zebra"-like domains: smooth brown blobs (A), striped blobs (B).

    Both domains show soft-edged blobs on a grassy green background. In A a blob is a
    smooth brown with a brightness gradient; in B it carries black-and-white stripes of
    random orientation and period (3-6 pixels). The two domains are drawn independently,
    so there is no pairing to learn from.

    Returns
    -------
    a, b : numpy.ndarray
        ``(n_a, 3, size, size)`` and ``(n_b, 3, size, size)`` float32 in [0, 1].
    """
    n_b = n_a if n_b is None else n_b
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5

    def background(k: int) -> np.ndarray:
        green = np.array([0.25, 0.55, 0.2], dtype=np.float32)
        tint = rng.uniform(-0.08, 0.08, size=(k, 3, 1, 1)).astype(np.float32)
        grad = (yy / size)[None, None].astype(np.float32) * 0.15
        return np.clip(green[None, :, None, None] + tint + grad, 0.0, 1.0)

    masks_a = _blob_masks(rng, n_a, size)[:, None]
    brown = np.array([0.55, 0.35, 0.2], dtype=np.float32)[None, :, None, None]
    shade = (1.0 + 0.3 * (xx / size - 0.5))[None, None].astype(np.float32)
    body_a = np.clip(brown * shade + rng.uniform(-0.08, 0.08, (n_a, 1, 1, 1)), 0.0, 1.0)
    a = masks_a * body_a + (1.0 - masks_a) * background(n_a)

    masks_b = _blob_masks(rng, n_b, size)[:, None]
    theta = rng.uniform(0.0, np.pi, size=(n_b, 1, 1))
    period = rng.uniform(3.0, 6.0, size=(n_b, 1, 1))
    phase = (xx[None] * np.cos(theta) + yy[None] * np.sin(theta)) * 2 * np.pi / period
    stripes = (np.sin(phase) > 0).astype(np.float32)[:, None] * 0.9 + 0.05
    b = masks_b * np.repeat(stripes, 3, axis=1) + (1.0 - masks_b) * background(n_b)
    return a.astype(np.float32), b.astype(np.float32)


def downsample_average(images: np.ndarray, factor: int) -> np.ndarray:
    """Low-resolution images by averaging ``factor`` x ``factor`` pixel blocks.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` with H and W divisible by ``factor``.
    factor : int
        Downsampling factor (4 in SRGAN).

    Returns
    -------
    numpy.ndarray
        ``(N, C, H // factor, W // factor)``.
    """
    n, c, h, w = images.shape
    if factor < 1 or h % factor or w % factor:
        raise ConfigError(f"image size {h}x{w} is not divisible by factor {factor}")
    return images.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))
