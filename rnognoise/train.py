"""Fitting noise models to recorded traces: ``rnognoise.train.fit`` and ``rnognoise fit``.

The same path serves every model kind: read (a random subset of) the trigger-selected
events, normalise per channel, hold out a validation set, let the model fit what it
can analytically (:meth:`~rnognoise.models.NoiseModel.initialize`), then, for learned
models, run the shared :class:`~rnognoise.core.TrainingLoop` with checkpoints beside
the output (``MODEL.ckpt/``), resume, a wall-clock budget, a JSONL loss log and
keep-the-best by a validation score on the held-out traces.

Several processes (``torchrun``; ``FitOptions(distributed=True)``, ``rnognoise fit
--distributed`` or ``torchrun -m rnognoise.train``) train one model together: every rank
reads the same events and takes the same split and normalisation; the global batch of
each step is drawn from ``(seed, step)`` and rank ``r`` trains on its ``r``-th slice;
gradients are averaged across ranks before every optimizer step (see
:class:`~rnognoise.core.loop.DistributedComm`); only rank 0 writes checkpoints, logs and
the model file. The model's own noise draws are seeded per rank.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from . import __version__
from .conditions import (
    CHANNEL_GROUP,
    RNOG_SITE_LONGITUDE_DEG,
    add_derived_columns,
    group_channels,
    parse_condition_names,
    resolve_specs,
)
from .core import LoopConfig, LoopResult, TrainingLoop
from .core.loop import DistributedComm
from .errors import ConfigError, DataFileError, PoorFitError
from .fileutil import check_writable
from .generator import resolve_device
from .io import TraceSet, open_traces, read_traces
from .logs import get_logger, log_event
from .modelfile import save_model
from .models import NoiseModel, TraceLayout, get_model_class
from .models.base import detect_quantum
from .models.conditional import ConditionalConfig, ConditionalModel, cell_key
from .selection import (
    GENERATED_PER_REAL,
    MIN_CHECK_EVENTS,
    heldout_check,
    select_components,
    validation_score,
)

__all__ = ["FitOptions", "FitResult", "fit", "main", "prepare_model"]

_log = get_logger("train")

#: Fewest events (after the trigger selection) each kind fits from: the baseline needs a
#: few events per cross-spectral estimate; the learned models need enough events to
#: hold some out (see ``validation_count``) and to estimate the per-event variation.
MIN_EVENTS = {"baseline": 8}
MIN_EVENTS_LEARNED = 50
#: Fewer held-out events than this: no validation score (the last weights are kept) and
#: no component selection.
MIN_VALIDATION_EVENTS = 4
#: Held-out events at least (as far as a fifth of the events allows), whatever
#: ``val_fraction`` says: a selection on a handful of events is noise.
MIN_HELD_OUT = 100


def min_events(kind: str) -> int:
    """The fewest events a model of ``kind`` is fitted from."""
    from .models import get_model_class

    return MIN_EVENTS_LEARNED if get_model_class(kind).learned else MIN_EVENTS.get(kind, 8)


def validation_count(n_events: int, val_fraction: float) -> int:
    """Events held out of ``n_events``: ``val_fraction`` of them, at least
    :data:`MIN_HELD_OUT` as far as a fifth of the events allows (none for 0)."""
    if val_fraction <= 0:
        return 0
    return int(max(round(val_fraction * n_events), min(MIN_HELD_OUT, n_events // 5)))


@dataclass
class FitOptions:
    """Options of :func:`fit` (the ``rnognoise fit`` flags).

    Parameters
    ----------
    model : str
        Model kind (``baseline``, ``wgan-gp``, ``vae``).
    model_options : dict
        Hyper-parameters of the model's ``Config``.
    max_minutes : float, optional
        Wall-clock budget for training (learned models); default 10 minutes when neither
        this nor ``steps``/``epochs`` is given.
    steps : int, optional
        Optimisation steps.
    epochs : float, optional
        Passes over the training events (converted to steps).
    batch_size : int
        Events per batch.
    lr : float, optional
        Learning rate (model default when None).
    seed : int
        Seed of the data split, initialisation and batches.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    channels : list of int, optional
        Channel ids to model (default: all in the file).
    trigger : str
        Event selection (``forced``, ``all``, or a trigger type).
    sampling_rate : float, optional
        Rate in Hz for trace files that carry none (``rnognoise.io.read_traces``).
    max_events : int
        Events read from the file at most (a random subset beyond that).
    val_fraction : float
        Fraction of events held out for model selection.
    eval_every : int
        Steps between validation scores (0: only at start and end).
    checkpoint_every : int
        Steps between checkpoints.
    resume : bool
        Continue from ``OUT.ckpt/last.safetensors``.
    force : bool
        Overwrite an existing model file.
    quiet : bool
        No progress bar.
    conditions : list of str, optional
        Condition names (``station``, ``channel_group``, ``lst`` or any per-event column):
        a conditional model with sub-models of kind ``model`` per categorical cell and
        channel group, modulated by continuous conditions
        (:mod:`rnognoise.models.conditional`). Budgets: ``max_minutes`` is shared among
        the sub-models in proportion to their training events, ``steps`` / ``epochs``
        apply to each.
    longitude_deg : float
        East longitude used for the local sidereal time (default: the RNO-G site).
    distributed : bool
        Train as one rank of a ``torchrun`` job (reads ``RANK``, ``WORLD_SIZE``,
        ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` from the environment; backend
        ``nccl`` on CUDA, ``gloo`` on the CPU). ``batch_size`` is the global batch and
        must be divisible by the number of ranks.
    """

    model: str = "wgan-gp"
    model_options: dict[str, Any] = field(default_factory=dict)
    max_minutes: float | None = None
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 64
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    channels: list[int] | None = None
    trigger: str = "forced"
    sampling_rate: float | None = None
    max_events: int = 20000
    val_fraction: float = 0.1
    eval_every: int = 200
    checkpoint_every: int = 200
    resume: bool = False
    force: bool = False
    quiet: bool = False
    conditions: list[str] | None = None
    longitude_deg: float = RNOG_SITE_LONGITUDE_DEG
    distributed: bool = False


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    model: NoiseModel
    model_path: Path | None
    provenance: dict[str, Any]
    loop: LoopResult | None = None


def _load_training_data(path: str | os.PathLike[str] | TraceSet, opts: FitOptions,
                        ) -> TraceSet:
    if isinstance(path, TraceSet):
        data = path if opts.channels is None else path.select_channels(opts.channels)
    else:
        with open_traces(path, trigger=opts.trigger, sampling_rate=opts.sampling_rate) as source:
            n_avail = source.n_events
        events = None
        if n_avail > opts.max_events:
            rng = np.random.default_rng(opts.seed)
            events = np.sort(rng.choice(n_avail, opts.max_events, replace=False))
            log_event(_log, "using a random subset", events=opts.max_events, of=n_avail)
        data = read_traces(path, channels=opts.channels, events=events, trigger=opts.trigger,
                           sampling_rate=opts.sampling_rate)
        if events is not None:
            data.attrs["read_indices"] = events.tolist()
    if not np.isfinite(data.traces).all():
        raise DataFileError(data.source or "<traces>", "contains NaN/inf samples")
    return data


def prepare_model(data: TraceSet, kind: str, options: dict[str, Any] | None = None,
                  ) -> NoiseModel:
    """Build a model of ``kind`` for the layout of ``data`` (not yet fitted)."""
    cls = get_model_class(kind)
    config = cls.make_config(options)
    layout = TraceLayout(tuple(int(c) for c in data.channels), data.n_samples,
                         data.sampling_rate)
    return cls(config, layout)


def _clear_stale_checkpoints(folder: Path, *, force: bool) -> None:
    """A fresh run must not resume from (or reset to) an earlier run's checkpoints."""
    if not folder.exists():
        return
    if not force:
        raise ConfigError(f"{folder}: checkpoints of an earlier run exist; pass --resume to "
                          "continue that run or --force to start over")
    shutil.rmtree(folder, ignore_errors=True)  # every rank of a torchrun job gets here


def _init_distributed(opts: FitOptions) -> tuple[torch.device, DistributedComm, bool]:
    """Join the ``torchrun`` process group; return the rank's device, comm, and whether
    the group was created here (and must be destroyed at the end)."""
    if "WORLD_SIZE" not in os.environ and not dist.is_initialized():
        raise ConfigError("--distributed needs the torchrun environment (RANK, WORLD_SIZE, "
                          "MASTER_ADDR, MASTER_PORT); start with torchrun")
    device = resolve_device(opts.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        created = True
    comm = DistributedComm(device)
    if not comm.is_main:
        get_logger().setLevel(logging.WARNING)  # one rank reports
    if opts.batch_size % comm.world_size:
        raise ConfigError(f"batch size {opts.batch_size} is not divisible by the "
                          f"{comm.world_size} ranks")
    return device, comm, created


def _data_hash(traces: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(traces).view(np.uint8)).hexdigest()


def fit(data: str | os.PathLike[str] | TraceSet, out: str | os.PathLike[str] | None = None,
        options: FitOptions | None = None) -> FitResult:
    """Fit a noise model to traces and (optionally) write the model file.

    Parameters
    ----------
    data : path or TraceSet
        Training traces (any file :func:`rnognoise.io.read_traces` accepts).
    out : path, optional
        Model file to write (safetensors); checkpoints go to ``OUT.ckpt/``.
    options : FitOptions, optional
        Model kind, budget, seed, device, ...

    Returns
    -------
    FitResult

    Raises
    ------
    RnognoiseError
        Bad data, too few events, an existing output without ``force``, divergence.
    """
    opts = options or FitOptions()
    get_model_class(opts.model)  # unknown kinds fail before any work
    if opts.model == "conditional":
        raise ConfigError("conditional models are made with --condition NAMES and a base "
                          "--model (baseline, wgan-gp or vae)")
    if out is not None and not opts.resume:
        check_writable(out, force=opts.force)
        _clear_stale_checkpoints(Path(f"{out}.ckpt"), force=opts.force)
    comm: DistributedComm | None = None
    created = False
    if opts.distributed:
        device, comm, created = _init_distributed(opts)
    else:
        device = resolve_device(opts.device)
    try:
        return _fit(data, out, opts, device, comm)
    finally:
        if created:
            dist.destroy_process_group()


def _fit(data: str | os.PathLike[str] | TraceSet, out: str | os.PathLike[str] | None,
         opts: FitOptions, device: torch.device, comm: DistributedComm | None) -> FitResult:
    started = time.time()
    traceset = _load_training_data(data, opts)
    source_name = traceset.source or (str(data) if not isinstance(data, TraceSet) else None)
    cls = get_model_class(opts.model)
    needed = min_events(opts.model)
    if traceset.n_events < needed:
        raise DataFileError(source_name or "<traces>", f"only {traceset.n_events} events; "
                            f"model {opts.model!r} needs at least {needed}")
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    order = rng.permutation(traceset.n_events)
    n_val = validation_count(traceset.n_events, opts.val_fraction)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    raw = traceset.traces
    offset = raw[train_idx].mean(axis=(0, 2), dtype=np.float64)
    scale = raw[train_idx].std(axis=(0, 2), dtype=np.float64)
    if np.any(scale <= 0):
        dead = traceset.channels[scale <= 0].tolist()
        raise DataFileError(source_name or "<traces>", f"channel(s) {dead} are constant "
                            "(zero RMS); exclude them with --channels")
    norm = (raw - offset[None, :, None].astype(np.float32)) / scale[None, :, None].astype(
        np.float32)
    if opts.conditions:
        model, extra = _fit_conditional(traceset, norm, offset, scale, train_idx, val_idx,
                                         out, opts, device, source_name or "<traces>", comm)
        return _finish(model, traceset, raw, train_idx, n_val, source_name, opts, device,
                       comm, started, out, None, extra)
    train = torch.from_numpy(np.ascontiguousarray(norm[train_idx])).to(device)
    val = torch.from_numpy(np.ascontiguousarray(norm[val_idx])).to(device)
    model = prepare_model(traceset, opts.model, opts.model_options).to(device)
    model.set_normalization(offset, scale)
    model.set_quantum(detect_quantum(raw[train_idx]))
    log_event(_log, "fitting", model=opts.model, events=len(train_idx), validation=n_val,
              channels=traceset.n_channels, samples=traceset.n_samples, device=str(device))
    with torch.no_grad():
        model.initialize(train)
    extra: dict[str, Any] = {}
    if (model.components() and getattr(model.config, "select_components", False)
            and n_val >= MIN_VALIDATION_EVENTS and not opts.resume):
        with torch.no_grad():
            choice = select_components(model, train, val, traceset.sampling_rate,
                                       seed=opts.seed,
                                       log=lambda msg, **kw: log_event(_log, msg, **kw))
        log_event(_log, "components", kept=",".join(choice.kept) or "none",
                  dropped=",".join(choice.dropped) or "none")
        extra["components"] = {"kept": choice.kept, "dropped": choice.dropped,
                               "trials": choice.trials}
    loop_result = None
    if cls.learned:
        loop_result = _train(model, train, val, traceset.sampling_rate,
                             f"{out}.ckpt" if out is not None else None, opts, comm)
    if n_val >= MIN_VALIDATION_EVENTS:
        extra["heldout_check"] = _heldout_check(model, traceset, train, val, opts, device,
                                                source_name)
    return _finish(model, traceset, raw, train_idx, n_val, source_name, opts, device, comm,
                   started, out, loop_result, extra, val_idx)


def _heldout_check(model: NoiseModel, traceset: TraceSet, train: torch.Tensor,
                   val: torch.Tensor, opts: FitOptions, device: torch.device,
                   source: str | None) -> dict[str, Any]:
    """Score the fitted model and a baseline fitted on the same events against the
    held-out events; say plainly when the model is the worse of the two."""
    if opts.model == "baseline":
        baseline = model
    else:
        baseline = prepare_model(traceset, "baseline").to(device)
        baseline.set_normalization(model.norm_offset.cpu().numpy(),
                                   model.norm_scale.cpu().numpy())
        with torch.no_grad():
            baseline.initialize(train)
    with torch.no_grad():
        check = heldout_check(model, baseline, val, traceset.sampling_rate, seed=opts.seed)
    result = check.to_dict()
    log_event(_log, "held-out check", events=check.n_events,
              score=round(check.model_score, 4), baseline_score=round(check.baseline_score, 4),
              auc=round(check.model_auc, 3), baseline_auc=round(check.baseline_auc, 3))
    if check.worse_than_baseline:
        message = (f"{source or '<traces>'}: the fitted {opts.model} model is worse than the "
                   f"spectrum-matched baseline on {check.n_events} held-out events (score "
                   f"{check.model_score:.3g} vs {check.baseline_score:.3g}, lower is better)")
        if not check.conclusive:
            _log.warning(message + f"; with fewer than {MIN_CHECK_EVENTS} held-out events "
                         "the check is inconclusive, the model is saved")
        elif not opts.force:
            raise PoorFitError(message + "; not saved (use --model baseline, or --force to "
                               "keep it)")
        _log.warning(message + "; saved because of --force")
    return result


def _envelope(raw: np.ndarray, offset: np.ndarray) -> dict[str, Any]:
    """The physical envelope of the training events: per-channel RMS and peak, volts."""
    dev = raw - offset[None, :, None].astype(raw.dtype)
    return {"rms_volts": np.sqrt(np.mean(np.square(dev, dtype=np.float64),
                                         axis=(0, 2))).tolist(),
            "peak_volts": np.abs(dev).max(axis=(0, 2)).astype(np.float64).tolist(),
            "adc_range_volts": None}


def _finish(model: NoiseModel, traceset: TraceSet, raw: np.ndarray, train_idx: np.ndarray,
            n_val: int, source_name: str | None, opts: FitOptions, device: torch.device,
            comm: DistributedComm | None, started: float, out: str | os.PathLike[str] | None,
            loop_result: LoopResult | None, extra: dict[str, Any],
            val_idx: np.ndarray | None = None) -> FitResult:
    """Provenance, model file, result."""
    provenance = {
        "source": source_name,
        "n_events": int(traceset.n_events),
        "n_train_events": len(train_idx),
        "n_validation_events": n_val,
        "data_sha256": _data_hash(raw),
        "trigger": opts.trigger,
        "seed": opts.seed,
        "rnognoise_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fit_wall_s": round(time.time() - started, 2),
        "world_size": comm.world_size if comm is not None else 1,
        "envelope": _envelope(raw[train_idx], model.norm_offset.cpu().numpy()),
        "quantum_volts": float(model.quantum),
    }
    if val_idx is not None:
        # positions among the file's trigger-selected events (through the random subset
        # read when the file held more than max_events)
        read = traceset.attrs.get("read_indices")
        positions = np.asarray(read)[val_idx] if read is not None else val_idx
        provenance["split"] = {"seed": opts.seed, "n_events": int(traceset.n_events),
                               "validation_indices": [int(i) for i in positions]}
    if loop_result is not None:
        provenance.update(train_steps=loop_result.steps,
                          train_time_s=round(loop_result.elapsed_s, 1),
                          stopped_by=loop_result.stopped_by, best_step=loop_result.best_step,
                          best_validation_score=loop_result.best_score)
    provenance.update(extra)
    model = model.cpu().eval()
    is_main = comm is None or comm.is_main
    if out is not None and is_main:
        save_model(out, model, provenance=provenance, force=opts.force or opts.resume)
        log_event(_log, "model written", path=str(out))
    if comm is not None:
        comm.barrier()  # the model file exists on every rank's return
    return FitResult(model, Path(out) if out is not None and is_main else None, provenance,
                     loop_result)


def _cell_order(key: tuple[Any, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((type(v).__name__, v) for v in key)


def _fit_conditional(traceset: TraceSet, norm: np.ndarray, offset: np.ndarray,
                     scale: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                     out: str | os.PathLike[str] | None, opts: FitOptions,
                     device: torch.device, source: str, comm: DistributedComm | None = None,
                     ) -> tuple[ConditionalModel, dict[str, Any]]:
    """Fit a :class:`~rnognoise.models.conditional.ConditionalModel`: cells, modulation,
    demodulated training data, one sub-model per cell and channel group."""
    names = parse_condition_names(opts.conditions)
    if not names:
        raise ConfigError("--condition needs at least one name")
    events = add_derived_columns(traceset.events, names, longitude_deg=opts.longitude_deg,
                                 source=source)
    specs = resolve_specs(names, events, source=source)
    categorical = [s for s in specs if s.kind == "categorical"]
    continuous = [s for s in specs if s.continuous]
    n_events = traceset.n_events
    if categorical:
        frame = events[[s.name for s in categorical]]
        keys = [tuple(cell_key(v) for v in row) for row in frame.itertuples(index=False)]
    else:
        keys = [()] * n_events
    cells = sorted(set(keys), key=_cell_order)
    index = {k: i for i, k in enumerate(cells)}
    cell_of = np.fromiter((index[k] for k in keys), np.int64, n_events)
    base_cls = get_model_class(opts.model)
    needed = min_events(opts.model)
    train_counts = np.bincount(cell_of[train_idx], minlength=len(cells))
    groups = group_channels(traceset.channels) if any(
        s.kind == CHANNEL_GROUP for s in specs) else {}
    config = ConditionalConfig(base=opts.model, base_config=dict(opts.model_options),
                               conditions=[s.to_dict() for s in specs],
                               cells=[list(c) for c in cells], groups=groups,
                               table_rows=int(min(4096, len(train_idx))),
                               longitude_deg=float(opts.longitude_deg))
    layout = TraceLayout(tuple(int(c) for c in traceset.channels), traceset.n_samples,
                         traceset.sampling_rate)
    model = ConditionalModel(config, layout)
    for c, count in enumerate(train_counts):
        if count < needed:
            raise DataFileError(source, f"condition cell {model.cell_label(c)} has only "
                                f"{count} training events; model {opts.model!r} needs at "
                                f"least {needed} per cell (drop the condition or add data)")
    model.set_normalization(offset, scale)
    values = (events[[s.name for s in continuous]].to_numpy(np.float64) if continuous
              else np.zeros((n_events, 0)))
    model.set_linear_scaling(values[train_idx])
    model.set_condition_table(cell_of[train_idx], values[train_idx])
    features = torch.from_numpy(model.features_of(values)).float()
    cell_t = torch.from_numpy(cell_of)
    data = torch.from_numpy(norm)
    for c in range(len(cells)):
        rows = train_idx[cell_of[train_idx] == c]
        model.modulation.fit_cell(c, data[rows], features[rows])
    demod = data  # demodulated in place (``norm`` is not needed afterwards), in blocks
    for lo in range(0, n_events, 1024):
        hi = min(n_events, lo + 1024)
        demod[lo:hi] = model.modulation.apply(data[lo:hi], cell_t[lo:hi], features[lo:hi], -1.0)
    model.to(device)
    log_event(_log, "fitting conditional model", base=opts.model,
              conditions=",".join(names), cells=len(cells), groups=len(model.group_rows),
              events=len(train_idx))
    total_train = max(1, len(train_idx))
    n_groups = len(model.group_rows)
    cell_info: list[dict[str, Any]] = []
    for c in range(len(cells)):
        tr = train_idx[cell_of[train_idx] == c]
        va = val_idx[cell_of[val_idx] == c]
        info: dict[str, Any] = {"cell": model.cell_label(c), "n_train_events": len(tr),
                                "n_validation_events": len(va)}
        for g, rows in enumerate(model.group_rows):
            sub = model.submodel(c, g)
            sub_train = demod[tr][:, rows].contiguous().to(device)
            with torch.no_grad():
                sub.initialize(sub_train)
            if not base_cls.learned:
                continue
            label = model.cell_label(c) + ("" if n_groups == 1 else
                                           f",group={model.group_names[g]}")
            minutes = (opts.max_minutes * len(tr) / total_train / n_groups
                       if opts.max_minutes is not None else None)
            if minutes is None and opts.steps is None and opts.epochs is None:
                minutes = 10.0 * len(tr) / total_train / n_groups
            sub_val = demod[va][:, rows].contiguous().to(device)
            ckpt = (f"{out}.ckpt/{_safe_label(label)}" if out is not None else None)
            loop = _train(sub, sub_train, sub_val, traceset.sampling_rate, ckpt, opts, comm,
                          max_minutes=minutes, desc=f"fit {opts.model} [{label}]")
            info.setdefault("training", []).append(
                {"group": model.group_names[g], "steps": loop.steps,
                 "train_time_s": round(loop.elapsed_s, 1), "best_step": loop.best_step,
                 "best_validation_score": loop.best_score})
        cell_info.append(info)
    extra = {"conditions": [s.to_dict() for s in specs], "cells": cell_info,
             "longitude_deg": opts.longitude_deg}
    return model, extra


def _safe_label(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "=-_." else "_" for ch in label)


def _train(model: NoiseModel, train: torch.Tensor, val: torch.Tensor, sampling_rate: float,
           ckpt_dir: str | None, opts: FitOptions, comm: DistributedComm | None = None, *,
           max_minutes: float | None = None, desc: str | None = None) -> LoopResult:
    world = comm.world_size if comm is not None else 1
    rank = comm.rank if comm is not None else 0
    plan = model.training_plan(lr=opts.lr, batch_size=opts.batch_size // world)
    n_train = train.shape[0]
    steps = opts.steps
    if steps is None and opts.epochs is not None:
        per_step = opts.batch_size * plan.batches_per_step
        steps = max(1, int(np.ceil(opts.epochs * n_train / per_step)))
    if max_minutes is None:
        max_minutes = opts.max_minutes
    if steps is None and max_minutes is None:
        max_minutes = 10.0
    if steps is None:
        steps = 10**9
    batch = min(opts.batch_size, n_train)
    local = batch // world

    def batch_fn(index: int, k: int) -> torch.Tensor:
        # The model sees index = step * world + rank (its noise differs between ranks);
        # the global batch depends on the step only, and this rank takes its slice.
        step = index // world
        gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + step * 131 + k)
        idx = torch.randint(0, n_train, (batch,), generator=gen)[rank * local:(rank + 1) * local]
        return train[idx.to(train.device)]

    eval_gen = torch.Generator(device=val.device)

    def eval_fn(step: int) -> float:
        eval_gen.manual_seed(opts.seed + 17)
        with torch.no_grad():
            fake = model.generate(GENERATED_PER_REAL * val.shape[0], eval_gen)
        return validation_score(val.cpu().numpy(), fake.cpu().numpy(), sampling_rate,
                                seed=opts.seed)

    has_val = val.shape[0] >= MIN_VALIDATION_EVENTS
    config = LoopConfig(max_steps=steps, max_minutes=max_minutes, checkpoint_dir=ckpt_dir,
                        checkpoint_every=opts.checkpoint_every,
                        eval_every=opts.eval_every if has_val else 0,
                        log_path=f"{ckpt_dir}/losses.jsonl" if ckpt_dir else None,
                        resume=opts.resume, quiet=opts.quiet, desc=desc or f"fit {model.kind}")
    if ckpt_dir and (comm is None or comm.is_main):
        Path(ckpt_dir).mkdir(parents=True, exist_ok=True)
    run_info = {"model": opts.model, "model_options": opts.model_options,
                "batch_size": opts.batch_size, "lr": opts.lr, "seed": opts.seed}
    loop = TrainingLoop(config, modules=plan.modules, optimizers=plan.optimizers,
                        step_fn=lambda step: plan.step_fn(step * world + rank, batch_fn),
                        eval_fn=eval_fn if has_val else None, run_info=run_info, comm=comm)
    if has_val and not (opts.resume and loop.checkpoint_path is not None and loop.checkpoint_path.exists()):
        loop.record_score(eval_fn(0))  # the analytic initialisation is a candidate too
    return loop.run()




def main(argv: list[str] | None = None) -> int:
    """``python -m rnognoise.train TRACES [fit options]``: ``rnognoise fit`` as a module,
    distributed automatically when started by ``torchrun`` (``WORLD_SIZE`` is set)."""
    from .cli import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if "WORLD_SIZE" in os.environ and "--distributed" not in args:
        args.append("--distributed")
    return cli_main(["fit", *args])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
