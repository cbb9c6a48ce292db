"""Full-reference image metrics for the paired and super-resolution pipelines: L1, PSNR, SSIM.

All functions take a batch of predictions and the matching targets, ``(N, C, H, W)`` or
``(N, H, W)`` (numpy arrays or torch tensors), and return one value per image, so that a
mean and its standard error can be reported (:func:`paired_metrics`).

SSIM is scikit-image's implementation (``skimage.metrics.structural_similarity``) with
the settings of Wang et al. (2004): an 11x11 Gaussian window of sigma 1.5, K1 = 0.01,
K2 = 0.03, population (not sample) covariances; for colour images the mean over channels.

References
----------
Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
visibility to structural similarity", IEEE Trans. Image Process. 13 (2004) 600.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnognoise.errors import ConfigError

__all__ = ["PSNR_CAP_DB", "l1_error", "paired_metrics", "psnr", "ssim"]

#: PSNR reported for identical images (the true value is infinite).
PSNR_CAP_DB = 100.0


def _as_batch(images: Any) -> np.ndarray:
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ConfigError(f"images must have shape (N, C, H, W) or (N, H, W), got {arr.shape}")
    return arr


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = _as_batch(pred), _as_batch(target)
    if p.shape != t.shape:
        raise ConfigError(f"predictions {p.shape} and targets {t.shape} differ in shape")
    if p.shape[0] == 0:
        raise ConfigError("no images to compare")
    return p, t


def l1_error(pred: Any, target: Any) -> np.ndarray:
    """Mean absolute difference of each image pair (in the images' own units).

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``.

    Examples
    --------
    >>> l1_error(np.zeros((2, 4, 4)), np.full((2, 4, 4), 0.5)).tolist()
    [0.5, 0.5]
    """
    p, t = _pair(pred, target)
    return np.abs(p - t).mean(axis=(1, 2, 3))


def psnr(pred: Any, target: Any, *, data_range: float = 1.0,
         max_db: float = PSNR_CAP_DB) -> np.ndarray:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` of each image pair, in dB.

    Parameters
    ----------
    pred, target : array_like
        ``(N, C, H, W)`` or ``(N, H, W)``.
    data_range : float
        Peak-to-peak range of the images (1 for [0, 1], 2 for [-1, 1], 255 for bytes).
    max_db : float
        Value for identical images (MSE 0) and upper cap.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``.

    Examples
    --------
    >>> round(float(psnr(np.zeros((1, 8, 8)), np.full((1, 8, 8), 0.1))[0]), 6)
    20.0
    """
    if data_range <= 0:
        raise ConfigError(f"data_range must be positive, got {data_range}")
    p, t = _pair(pred, target)
    mse = ((p - t) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        value = 10.0 * np.log10(data_range ** 2 / mse)
    return np.minimum(value, max_db)


def _skimage_ssim():
    try:
        from skimage.metrics import structural_similarity
    except ModuleNotFoundError:
        raise ModuleNotFoundError("SSIM needs scikit-image: pip install scikit-image") from None
    return structural_similarity


def ssim(pred: Any, target: Any, *, data_range: float = 1.0) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) of each image pair, mean over channels.

    Parameters
    ----------
    pred, target : array_like
        ``(N, C, H, W)`` or ``(N, H, W)``; images must be at least 11x11 pixels.
    data_range : float
        Peak-to-peak range of the images.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``, 1 for identical images.

    Examples
    --------
    >>> x = np.random.default_rng(0).uniform(size=(1, 16, 16))
    >>> float(ssim(x, x)[0])
    1.0
    """
    if data_range <= 0:
        raise ConfigError(f"data_range must be positive, got {data_range}")
    p, t = _pair(pred, target)
    if min(p.shape[2:]) < 11:
        raise ConfigError(f"SSIM needs images of at least 11x11 pixels, got {p.shape[2:]}")
    structural_similarity = _skimage_ssim()
    out = np.empty(p.shape[0])
    for i in range(p.shape[0]):
        out[i] = np.mean([structural_similarity(p[i, c], t[i, c], data_range=data_range,
                                                gaussian_weights=True, sigma=1.5,
                                                use_sample_covariance=False)
                          for c in range(p.shape[1])])
    return out


def paired_metrics(pred: Any, target: Any, *, data_range: float = 1.0,
                   with_ssim: bool = True) -> dict[str, float]:
    """L1, PSNR and SSIM means over a batch with their standard errors.

    Parameters
    ----------
    pred, target : array_like
        ``(N, C, H, W)`` or ``(N, H, W)``.
    data_range : float
        Peak-to-peak range of the images.
    with_ssim : bool
        Also compute SSIM (needs images of at least 11x11 pixels).

    Returns
    -------
    dict
        ``l1``, ``l1_err``, ``psnr_db``, ``psnr_db_err``, ``ssim``, ``ssim_err``, ``n``
        (``*_err``: standard error of the mean over images, 0 for one image).
    """
    values = {"l1": l1_error(pred, target),
              "psnr_db": psnr(pred, target, data_range=data_range)}
    if with_ssim:
        values["ssim"] = ssim(pred, target, data_range=data_range)
    out: dict[str, float] = {}
    for key, v in values.items():
        out[key] = float(v.mean())
        out[f"{key}_err"] = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
    out["n"] = int(next(iter(values.values())).size)
    return out
