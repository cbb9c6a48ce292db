"""Image-folder loaders: plain folders, the pix2pix layout and the CycleGAN layout.

- :func:`load_image_folder` — a folder of PNG/JPG images as float arrays.
- :func:`load_paired_folder` — pix2pix layout (``train/`` with A|B side by side).
- :func:`load_unpaired_folders` — CycleGAN layout (``trainA/``, ``trainB/``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rnognoise.errors import ConfigError, DataFileError

from .images import resize_images

__all__ = ["IMAGE_SUFFIXES", "load_image_folder", "load_paired_folder", "load_unpaired_folders"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _size_tuple(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataFileError(folder, "folder does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(folder, "no images (expected files ending in "
                            + ", ".join(IMAGE_SUFFIXES) + ")")
    return files


def _read_image(path: Path, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(path, f"cannot read image ({exc})") from None
    arr = arr / 255.0
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_image_folder(folder: str | os.PathLike[str], *,
                      size: int | tuple[int, int] | None = None, channels: int = 3,
                      max_images: int | None = None) -> np.ndarray:
    """All PNG/JPG/BMP images of a folder (sorted by name) as one array.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder (not searched recursively).
    size : int or (int, int), optional
        Resize every image to ``size`` (square) or ``(height, width)`` pixels (bilinear).
        Without it all images must have the same size.
    channels : {1, 3}
        Grey-scale or RGB.
    max_images : int, optional
        Read at most this many (the first by name).

    Returns
    -------
    numpy.ndarray
        ``(N, channels, H, W)`` float32 in [0, 1].

    Raises
    ------
    DataFileError
        If the folder is missing or empty, an image is unreadable, or sizes differ.
    """
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    files = _image_files(Path(folder))[:max_images]
    target = _size_tuple(size)
    out = []
    for path in files:
        arr = _read_image(path, channels)
        if target is not None and arr.shape[1:] != target:
            arr = np.clip(resize_images(arr[None], target)[0], 0.0, 1.0)
        if out and arr.shape != out[0].shape:
            raise DataFileError(path, f"image size {arr.shape[1:]} differs from "
                                f"{out[0].shape[1:]} of {files[0].name} (pass a size)")
        out.append(arr)
    return np.stack(out).astype(np.float32)


def load_paired_folder(root: str | os.PathLike[str], *, split: str = "train",
                       size: int | tuple[int, int] | None = 256, channels: int = 3,
                       max_images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paired images in the pix2pix layout: ``root/split/*.jpg`` with A|B side by side.

    Parameters
    ----------
    root : str or os.PathLike
        Data set folder (e.g. ``maps/``) holding ``train/``, ``val/``, ``test/``.
    split : str
        Sub-folder to read.
    size : int or (int, int), optional
        Size each half is resized to.
    channels : {1, 3}
        Grey-scale or RGB.
    max_images : int, optional
        Read at most this many pairs.

    Returns
    -------
    a, b : numpy.ndarray
        Left halves and right halves, each ``(N, channels, H, W)`` in [0, 1].
    """
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataFileError(root, f"expected a folder {split}/ of A|B side-by-side images")
    files = _image_files(folder)[:max_images]
    target = _size_tuple(size)
    a_list, b_list = [], []
    for path in files:
        arr = _read_image(path, channels)
        width = arr.shape[2]
        if width < 2:
            raise DataFileError(path, "image too narrow to hold two halves")
        half = width // 2
        a, b = arr[:, :, :half], arr[:, :, half:2 * half]
        if target is not None:
            a, b = (np.clip(resize_images(x[None], target)[0], 0.0, 1.0) for x in (a, b))
        if a_list and a.shape != a_list[0].shape:
            raise DataFileError(path, f"half-image size {a.shape[1:]} differs from "
                                f"{a_list[0].shape[1:]} (pass a size)")
        a_list.append(a)
        b_list.append(b)
    return np.stack(a_list).astype(np.float32), np.stack(b_list).astype(np.float32)


def load_unpaired_folders(root: str | os.PathLike[str], *, split: str = "train",
                          size: int | tuple[int, int] | None = 256, channels: int = 3,
                          max_images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unpaired images in the CycleGAN layout: ``root/{split}A/`` and ``root/{split}B/``.

    Returns
    -------
    a, b : numpy.ndarray
        The two domains, ``(N_A, channels, H, W)`` and ``(N_B, channels, H, W)`` in [0, 1].
    """
    root = Path(root)
    missing = [f"{split}{d}/" for d in "AB" if not (root / f"{split}{d}").is_dir()]
    if missing:
        raise DataFileError(root, "expected folders: " + ", ".join(missing))
    return tuple(load_image_folder(root / f"{split}{d}", size=size, channels=channels,
                                   max_images=max_images) for d in "AB")  # type: ignore[return-value]
