"""The IDX format of MNIST and Fashion-MNIST, parsed with numpy, and MNIST-layout folders.

- :func:`read_idx` / :func:`write_idx` — one IDX file (``train-images-idx3-ubyte``,
  optionally gzipped; gzip is detected from the content).
- :func:`load_idx_dataset` — images and labels of an MNIST-layout folder.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from rnognoise.errors import ConfigError, DataFileError
from rnognoise.fileutil import atomic_output

from .images import MNIST_CLASSES, ImageDataset

__all__ = ["load_idx_dataset", "read_idx", "write_idx"]

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as handle:
        head = handle.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataFileError(path, f"cannot read ({exc})") from None


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    The header is two zero bytes, a type code (0x08 unsigned byte ... 0x0E double), the
    number of dimensions and one big-endian int32 per dimension; the data follow.

    Parameters
    ----------
    path : str or os.PathLike
        The file (``.gz`` is detected from its content, not its name).

    Returns
    -------
    numpy.ndarray
        The array in native byte order.

    Raises
    ------
    DataFileError
        On a wrong magic number, an unknown type code or a size that does not match.
    """
    path = Path(path)
    raw = _open_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(path, "not an IDX file (magic number must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataFileError(path, f"unknown IDX type code 0x{code:02X}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(path, "truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(path, f"IDX dimensions {dims} need {expected} data bytes, "
                            f"file has {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, force: bool = False) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when the name ends in ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    array : numpy.ndarray
        Array of dtype uint8, int8, int16, int32, float32 or float64.
    force : bool
        Overwrite an existing file.
    """
    array = np.asarray(array)
    matches = [(c, d) for c, d in _IDX_DTYPES.items()
               if array.dtype.kind == d.kind and array.dtype.itemsize == d.itemsize]
    if not matches:
        raise ConfigError(f"IDX cannot store dtype {array.dtype}")
    code, dtype = matches[0]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    path = Path(path)
    with atomic_output(path, force=force) as tmp:
        if path.suffix == ".gz":
            with gzip.open(tmp, "wb") as handle:
                handle.write(payload)
        else:
            tmp.write_bytes(payload)
    return path


def _find_idx(folder: Path, stem: str) -> Path | None:
    for sub in (folder, folder / "raw"):
        for name in (stem, stem + ".gz"):
            if (sub / name).is_file():
                return sub / name
    return None


def load_idx_dataset(data_dir: str | os.PathLike[str], *, split: str = "train",
                     class_names: tuple[str, ...] = MNIST_CLASSES) -> ImageDataset:
    """Images and labels of an MNIST or Fashion-MNIST folder.

    Looks for ``{prefix}-images-idx3-ubyte[.gz]`` and ``{prefix}-labels-idx1-ubyte[.gz]``
    with ``prefix`` ``train`` or ``t10k``, in ``data_dir`` or ``data_dir/raw`` (the
    torchvision layout).

    Parameters
    ----------
    data_dir : str or os.PathLike
        The folder.
    split : {"train", "test"}
        Training set (``train-*``) or test set (``t10k-*``).
    class_names : tuple of str
        Names of the label values.

    Raises
    ------
    DataFileError
        If a file is missing (the message lists the expected names) or malformed.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    folder = Path(data_dir)
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find_idx(folder, s) for s in stems]
    if not folder.is_dir() or None in found:
        raise DataFileError(folder, "expected files: " + ", ".join(f"{s}[.gz]" for s in stems))
    image_path, label_path = found
    assert image_path is not None and label_path is not None
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3:
        raise DataFileError(image_path, f"expected 3 dimensions (N, rows, cols), got {images.ndim}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataFileError(label_path, f"expected {len(images)} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DataFileError(label_path, f"labels outside 0..{len(class_names) - 1}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    x = (images.astype(np.float32) / scale)[:, None]
    return ImageDataset(np.clip(x, 0.0, 1.0), labels.astype(np.int64), class_names,
                        str(folder))
