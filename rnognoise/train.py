"""Fitting noise models to recorded traces: :func:`fit` (``rnognoise fit``).

The same path serves every model kind: read the trigger-selected events (or stream them,
:mod:`rnognoise.fitting.stream`), hold out a validation set, normalise per channel, build
the model (:func:`~rnognoise.models.build.build_model`), ask it for the parts it is
fitted in (:meth:`~rnognoise.models.NoiseModel.fit_parts`: the model itself, or one
sub-model per station and channel group) and fit each part alike
(:func:`~rnognoise.fitting.parts.fit_part`: analytic initialisation, held-out choice of
structured components, for learned kinds the shared
:class:`~rnognoise.core.TrainingLoop` with checkpoints beside the output
(``MODEL.ckpt/``), resume, a wall-clock budget, a JSONL loss log and keep-the-best, then a
held-out check against a baseline). The model file carries the provenance of the data,
the split and every part.

Several processes (``torchrun -m rnognoise fit ... --distributed`` or
``fit(..., distributed=True)`` inside a torchrun job) train one model together: every
rank reads the same events and takes the same split and normalisation; the global batch
of each step is drawn from ``(seed, step)`` and rank ``r`` trains on its ``r``-th slice;
gradients are averaged across ranks before every optimizer step (see
:class:`~rnognoise.core.loop.DistributedComm`); only rank 0 writes checkpoints, logs and
the model file. The model's own noise draws are seeded per rank.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .core.device import resolve_device
from .core.loop import DistributedComm, LoopResult
from .errors import ConfigError
from .fileutil import check_writable
from .fitting.data import (
    MIN_HELD_OUT,
    MIN_VALIDATION_EVENTS,
    FitData,
    load_fit_data,
    min_events,
    validation_count,
)
from .fitting.options import DEFAULT_MINUTES, FitOptions, make_options
from .fitting.parts import PartContext, fit_part
from .io import TraceSet
from .logs import get_logger, log_event
from .modelfile import save_model
from .models import NoiseModel, TraceLayout
from .models.build import build_model, check_kind

__all__ = ["DEFAULT_MINUTES", "MIN_HELD_OUT", "MIN_VALIDATION_EVENTS", "FitOptions",
           "FitResult", "fit", "min_events", "prepare_model", "validation_count"]

_log = get_logger("train")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : NoiseModel
        The fitted model (on the CPU, in eval mode).
    model_path : Path or None
        The model file written (None without ``out``, and on ranks other than 0).
    provenance : dict
        What the model file records about the fit.
    loop : LoopResult or None
        The training loop's result of a plain learned model.
    loops : list of LoopResult
        Every trained part's loop result, in the order of the parts.
    """

    model: NoiseModel
    model_path: Path | None
    provenance: dict[str, Any]
    loop: LoopResult | None = None
    loops: list[LoopResult] | None = None


def prepare_model(data: TraceSet | TraceLayout, kind: str,
                  options: dict[str, Any] | None = None) -> NoiseModel:
    """Build a plain model of ``kind`` for the layout of ``data`` (not yet fitted)."""
    return build_model(data, kind, options)


def _clear_stale_checkpoints(folder: Path, *, force: bool) -> None:
    """A fresh run must not resume from (or reset to) an earlier run's checkpoints."""
    if not folder.exists():
        return
    if not force:
        raise ConfigError(f"{folder}: checkpoints of an earlier run exist; pass resume=True "
                          "to continue that run or force=True to start over")
    shutil.rmtree(folder, ignore_errors=True)  # every rank of a torchrun job gets here


def fit(data: str | os.PathLike[str] | TraceSet, out: str | os.PathLike[str] | None = None,
        options: FitOptions | None = None, **kwargs: Any) -> FitResult:
    """Fit a noise model to traces and (optionally) write the model file.

    Parameters
    ----------
    data : path or TraceSet
        Training traces (any file :func:`rnognoise.io.read_traces` accepts).
    out : path, optional
        Model file to write (safetensors); checkpoints go to ``OUT.ckpt/``.
    options : FitOptions, optional
        All options at once (the keywords below override its fields).
    **kwargs
        Any :class:`~rnognoise.fitting.options.FitOptions` field as a keyword:
        ``model="wgan-gp"``, ``max_minutes=15``, ``steps``, ``epochs``, ``batch_size=64``,
        ``seed=0``, ``device="auto"``, ``channels``, ``trigger="forced"``,
        ``conditions``, ``max_events``, ``stream``, ``resume``, ``force``, ``quiet``,
        ``distributed``, ...

    Returns
    -------
    FitResult

    Raises
    ------
    RnognoiseError
        Bad data, too few events, an unknown option, an existing output without
        ``force``, divergence, a model worse than the baseline without ``force``.

    Examples
    --------
    >>> result = fit("forced.h5", "noise.safetensors", model="wgan-gp",
    ...              max_minutes=15, seed=1)                        # doctest: +SKIP
    >>> result.provenance["heldout_check"]["model_score"]          # doctest: +SKIP
    """
    opts = make_options(options, **kwargs)
    check_kind(opts.model)  # unknown kinds fail before any work
    if out is not None and not opts.resume:
        check_writable(out, force=opts.force)
        _clear_stale_checkpoints(Path(f"{out}.ckpt"), force=opts.force)
    with contextlib.ExitStack() as stack:
        comm: DistributedComm | None = None
        if opts.distributed:
            from .core.distributed import joined

            device, comm = stack.enter_context(joined(opts.device, batch_size=opts.batch_size))
        else:
            device = resolve_device(opts.device)
        return _fit(data, out, opts, device, comm)


def _load(data: str | os.PathLike[str] | TraceSet, opts: FitOptions) -> FitData:
    """In memory, or streamed for large files (:mod:`rnognoise.fitting.stream`)."""
    if not isinstance(data, TraceSet) and opts.stream is not False and not opts.conditions:
        from .fitting.stream import load_streamed, should_stream

        if should_stream(data, opts):
            return load_streamed(data, opts)
    return load_fit_data(data, opts)


def _fit(data: str | os.PathLike[str] | TraceSet, out: str | os.PathLike[str] | None,
         opts: FitOptions, device: torch.device, comm: DistributedComm | None) -> FitResult:
    started = time.time()
    fd = _load(data, opts)
    source = fd.source or "<traces>"
    torch.manual_seed(opts.seed)
    model = build_model(fd.traceset if fd.traceset is not None else fd.layout, opts.model,
                        opts.model_options, conditions=opts.conditions,
                        train_rows=fd.train_rows, longitude_deg=opts.longitude_deg)
    model.set_normalization(fd.offset, fd.scale)
    model.set_quantum(fd.quantum)
    if fd.saturation is not None:
        model.set_saturation(*fd.saturation)
    parts = model.fit_parts(torch.from_numpy(fd.train), torch.from_numpy(fd.val),
                            fd.train_events, fd.val_events)
    fd.train = fd.val = np.empty(0, np.float32)  # the parts hold what is needed
    log_event(_log, "fitting", model=opts.model, parts=len(parts), events=fd.n_train,
              validation=fd.provenance["n_validation_events"], channels=fd.layout.n_channels,
              samples=fd.layout.n_samples, device=str(device),
              streamed=fd.windows is not None or None)
    ctx = PartContext(opts, fd.layout.sampling_rate, device, source,
                      f"{out}.ckpt" if out is not None else None, comm)
    records, loops = [], []
    for part in parts:
        record, loop = fit_part(part, ctx, windows=fd.windows if len(parts) == 1 else None)
        records.append(record)
        if loop is not None:
            loops.append(loop)
        part.train = part.val = torch.empty(0)
    provenance = {
        "source": fd.source, **fd.provenance, "trigger": opts.trigger, "seed": opts.seed,
        "rnognoise_version": __version__, "torch_version": torch.__version__,
        "python": platform.python_version(), "device": str(device),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fit_wall_s": round(time.time() - started, 2),
        "world_size": comm.world_size if comm is not None else 1,
        "quantum_volts": float(model.quantum), **model.fit_summary(records),
    }
    model = model.cpu().eval()
    is_main = comm is None or comm.is_main
    if out is not None and is_main:
        save_model(out, model, provenance=provenance, force=opts.force or opts.resume)
        log_event(_log, "model written", path=str(out))
    if comm is not None:
        comm.barrier()  # the model file exists on every rank's return
    return FitResult(model, Path(out) if out is not None and is_main else None, provenance,
                     loops[0] if len(parts) == 1 and loops else None, loops)

