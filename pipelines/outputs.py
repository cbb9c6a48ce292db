"""Output writers of the reference pipelines: PNG image grids, loss curves, ``metrics.json``.

All files go through :func:`rnognoise.fileutil.atomic_output`: nothing is overwritten
without ``force``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnognoise.core import LoopResult
from rnognoise.errors import ConfigError
from rnognoise.fileutil import atomic_output
from rnognoise.logs import get_logger, log_event
from rnognoise.metrics._format import jsonable

__all__ = ["comparison_rows", "image_grid", "save_image_grid", "save_loss_curves",
           "write_metrics"]

_log = get_logger("pipelines")


def _to_numpy_images(images: Any) -> np.ndarray:
    arr = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ConfigError(f"images must have shape (N, C, H, W) or (N, H, W), got {arr.shape}")
    if arr.shape[1] not in (1, 3) and arr.shape[-1] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.size and arr.min() < -1e-6:
        arr = (arr + 1.0) / 2.0
    return np.clip(arr, 0.0, 1.0)


def image_grid(images: Any, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile images into one ``(H, W)`` or ``(H, W, 3)`` array in [0, 1].

    Images in [-1, 1] (any negative value) are mapped to [0, 1]; others are clipped.
    """
    arr = _to_numpy_images(images)
    n, c, h, w = arr.shape
    ncol = max(1, min(nrow, n))
    nrows = max(1, math.ceil(n / ncol))
    grid = np.ones((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding),
                   dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, y:y + h, x:x + w] = arr[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def comparison_rows(columns: Sequence[Any], k: int) -> np.ndarray:
    """Interleave the first ``k`` images of several sets for a side-by-side grid.

    Parameters
    ----------
    columns : sequence of arrays
        Image sets of the same image shape, e.g. input, output, target.
    k : int
        Images taken from each set.

    Returns
    -------
    numpy.ndarray
        ``(len(columns) * k, ...)``: image 0 of every set, then image 1 of every set, ...;
        with ``nrow`` a multiple of ``len(columns)`` each grid row shows whole comparisons.

    Examples
    --------
    >>> comparison_rows([np.zeros((5, 1, 2, 2)), np.ones((5, 1, 2, 2))], 2)[:, 0, 0, 0]
    array([0., 1., 0., 1.])
    """
    return np.stack([c[:k] for c in columns], axis=1).reshape(
        len(columns) * k, *np.shape(columns[0])[1:])


def save_image_grid(images: Any, path: str | Path, nrow: int = 8, *, force: bool = False,
                    scale: int = 2) -> Path:
    """Write images as one PNG grid.

    Parameters
    ----------
    images : array or torch.Tensor
        ``(N, C, H, W)``, ``(N, H, W)`` or ``(N, H, W, C)`` with C = 1 or 3, values in
        [0, 1] or [-1, 1].
    path : str or Path
        PNG file.
    nrow : int
        Images per row.
    force : bool
        Overwrite an existing file.
    scale : int
        Integer pixel magnification (nearest neighbour) so small images stay visible.

    Returns
    -------
    Path
        The file written.
    """
    import matplotlib.image as mpimg

    grid = image_grid(images, nrow)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    with atomic_output(path, force=force) as tmp:
        if grid.ndim == 2:
            mpimg.imsave(tmp, grid, cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            mpimg.imsave(tmp, grid, format="png")
    return Path(path)


def save_loss_curves(history: list[dict[str, float]] | LoopResult, path: str | Path, *,
                     title: str = "", force: bool = False) -> Path:
    """Plot every loss in a loop history against the step; validation score on its own axis.

    Parameters
    ----------
    history : list of dict or LoopResult
        :attr:`LoopResult.history` (records with ``step``, ``time_s`` and losses).
    path : str or Path
        PNG file.
    title : str
        Figure title.
    force : bool
        Overwrite an existing file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = history.history if isinstance(history, LoopResult) else history
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        for key, value in record.items():
            if key in ("step", "time_s"):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(record["step"])
            ys.append(value)
    has_val = "val_score" in series
    fig, axes = plt.subplots(1, 2 if has_val else 1, figsize=(9 if has_val else 6, 3.5),
                             squeeze=False)
    ax = axes[0, 0]
    for key, (xs, ys) in series.items():
        if key != "val_score":
            ax.plot(xs, ys, label=key, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if len(series) - has_val:
        ax.legend(fontsize=8)
    if has_val:
        xs, ys = series["val_score"]
        axes[0, 1].plot(xs, ys, "o-", color="k", ms=3)
        axes[0, 1].set_xlabel("step")
        axes[0, 1].set_ylabel("validation score (lower is better)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(path, force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return Path(path)


def write_metrics(metrics: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write ``metrics`` as indented JSON (numpy values converted, NaN/inf as null)."""
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(json.dumps(jsonable(metrics), indent=2, sort_keys=True) + "\n")
    log_event(_log, "metrics written", path=str(path))
    return Path(path)
