"""Data for the reference image pipelines: real loaders and embedded defaults.

Real data
    - :func:`read_idx` / :func:`write_idx` — the IDX format of MNIST and Fashion-MNIST
      (``train-images-idx3-ubyte``, optionally gzipped), parsed with numpy.
    - :func:`load_idx_dataset` — images and labels of an MNIST-layout folder.
    - :func:`load_image_folder` — a folder of PNG/JPG images as float arrays.
    - :func:`load_paired_folder` — pix2pix layout (``train/`` with A|B side by side).
    - :func:`load_unpaired_folders` — CycleGAN layout (``trainA/``, ``trainB/``).

Embedded defaults (no download; used when no ``--data-dir`` is given)
    - :func:`digits_28` — scikit-learn's bundled 8x8 handwritten digits (1797 images),
      upscaled to 20x20 and centred in 28x28 like MNIST. Real handwriting, but coarse.
    - :func:`garment_shapes` — *procedurally drawn* garment-like silhouettes in ten classes
      named like Fashion-MNIST's. This is not Fashion-MNIST: each class is a fixed polygon
      template with random scale, shift, rotation, brightness and shading.
    - :func:`random_shapes`, :func:`paired_shapes_edges`, :func:`unpaired_blobs_stripes`,
      :func:`downsample_average` — procedural data for the paired, unpaired and
      super-resolution pipelines.

Images are ``float32`` arrays of shape ``(N, C, H, W)`` with values in [0, 1].
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnognoise.errors import ConfigError, DataFileError
from rnognoise.fileutil import atomic_output

__all__ = [
    "FASHION_CLASSES",
    "IMAGE_SUFFIXES",
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
    "paired_shapes_edges",
    "random_shapes",
    "read_idx",
    "unpaired_blobs_stripes",
    "write_idx",
]

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


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


# -- IDX ---------------------------------------------------------------------------------
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


# -- embedded defaults -------------------------------------------------------------------
def _resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return out.numpy()


def digits_28() -> ImageDataset:
    """scikit-learn's 1797 bundled 8x8 digits as MNIST-like 28x28 images.

    Each 8x8 image (values 0-16) is upscaled bilinearly to 20x20 and centred in a 28x28
    frame with a 4-pixel border, the size of the digit box in MNIST; values in [0, 1].
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32)[:, None] / 16.0
    big = np.clip(_resize(small, (20, 20)), 0.0, 1.0)
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


# -- image folders -----------------------------------------------------------------------
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
            arr = np.clip(_resize(arr[None], target)[0], 0.0, 1.0)
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
            a, b = (np.clip(_resize(x[None], target)[0], 0.0, 1.0) for x in (a, b))
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


# -- procedural paired / unpaired / super-resolution data ---------------------------------
def _shape_masks(rng: np.random.Generator, size: int, n_shapes: int) -> np.ndarray:
    """Label map ``(size, size)``: 0 background, k for the k-th shape (later on top)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    labels = np.zeros((size, size), dtype=np.int64)
    for k in range(1, n_shapes + 1):
        cx, cy = rng.uniform(0.2, 0.8, size=2) * size
        r = rng.uniform(0.12, 0.28) * size
        kind = rng.integers(3)
        if kind == 0:  # disc
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2
        elif kind == 1:  # axis-aligned rectangle
            ry = r * rng.uniform(0.5, 1.0)
            mask = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= ry)
        else:  # upward triangle
            mask = (yy <= cy + r) & (yy >= cy - r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
        labels[mask] = k
    return labels


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
        labels = _shape_masks(rng, size, count)
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
    boundary = np.zeros(labels.shape, dtype=bool)
    boundary[:, 1:, :] |= labels[:, 1:, :] != labels[:, :-1, :]
    boundary[:, :, 1:] |= labels[:, :, 1:] != labels[:, :, :-1]
    edges = np.repeat((~boundary).astype(np.float32)[:, None], 3, axis=1)
    return edges, images


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
