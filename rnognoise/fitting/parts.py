"""Fitting one part of a model (:class:`~rnognoise.models.base.FitPart`): the analytic
initialisation, the held-out choice of structured components, the training loop for
learned kinds (checkpoints, resume, budget, keep-the-best) and the final held-out check
against a baseline fitted on the same events.

Nothing here knows which model a part is: it uses the model contract
(:meth:`~rnognoise.models.NoiseModel.initialize`, ``components``,
``training_plan``, ``generate``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import LoopConfig, LoopResult, TrainingLoop
from ..core.loop import DistributedComm
from ..envelope_guard import Envelope, EnvelopeGuard, output_norms
from ..errors import PoorFitError
from ..logs import get_logger, log_event
from ..models import NoiseModel, get_model_class
from ..models.base import FitPart
from ..selection import (
    GENERATED_PER_REAL,
    MIN_CHECK_EVENTS,
    HeldOutCheck,
    heldout_check,
    select_components,
    validation_score,
)
from .data import MIN_VALIDATION_EVENTS
from .options import FitOptions
from .stream import WindowSource

__all__ = ["PartContext", "fit_part", "train_part"]

_log = get_logger("train")


@dataclass
class PartContext:
    """What every part of one fit shares."""

    opts: FitOptions
    sampling_rate: float
    device: torch.device
    source: str
    checkpoint_root: str | None = None
    comm: DistributedComm | None = None


def _safe_label(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "=-_." else "_" for ch in label)


def fit_part(part: FitPart, ctx: PartContext, *, windows: WindowSource | None = None,
             ) -> tuple[dict[str, Any], LoopResult | None]:
    """Initialise, select components, train and check one part.

    Parameters
    ----------
    part : FitPart
        The part; its ``train`` and ``val`` are normalised CPU or device tensors. Its
        model is on the CPU on return.
    ctx : PartContext
        Options, device (where the training steps run), checkpoint root, ranks.
    windows : WindowSource, optional
        The training batches of a streamed fit; default: drawn from ``part.train``.

    Returns
    -------
    record : dict
        The part's provenance: ``part.info``, ``components``, ``heldout_check`` and the
        training figures (``train_steps``, ``best_validation_score``, ...).
    loop : LoopResult or None
        The training loop's result (learned kinds).

    Raises
    ------
    PoorFitError
        The part scores worse than its baseline on enough held-out events (not with
        ``force``).
    """
    opts, model = ctx.opts, part.model
    started = time.monotonic()
    # Initialisation, component selection and the checks run on the CPU, where the
    # statistics they compute are tested; only the optimisation moves to ``ctx.device``.
    train, val = part.train.cpu(), part.val.cpu()
    model.cpu()
    record: dict[str, Any] = dict(part.info)
    with torch.no_grad():
        model.initialize(train)
    enough_val = val.shape[0] >= MIN_VALIDATION_EVENTS
    if (model.components() and getattr(model.config, "select_components", False)
            and enough_val and not opts.resume):
        with torch.no_grad():
            choice = select_components(model, train, val, ctx.sampling_rate, seed=opts.seed,
                                       log=lambda msg, **kw: log_event(_log, msg, **kw))
        log_event(_log, "components", part=part.label or None,
                  kept=",".join(choice.kept) or "none",
                  dropped=",".join(choice.dropped) or "none")
        record["components"] = {"kept": choice.kept, "dropped": choice.dropped,
                                "trials": choice.trials}
    details = model.component_details()
    if details:
        record.setdefault("components", {})["found"] = details
    loop = None
    if model.learned:
        ckpt = None
        if ctx.checkpoint_root is not None:
            ckpt = ctx.checkpoint_root + (f"/{_safe_label(part.label)}" if part.label else "")
        desc = f"fit {opts.model}" + (f" [{part.label}]" if part.label else "")
        # the budget covers the initialisation and the component selection too (at least
        # a fifth of it is left for training)
        budget = opts.budget_minutes(part.share)
        if budget is not None:
            spent = (time.monotonic() - started) / 60.0
            budget = max(0.2 * budget, budget - spent)
        model.to(ctx.device)
        try:
            loop = train_part(model, train.to(ctx.device), val, ctx, ckpt, windows=windows,
                              max_minutes=budget, desc=desc)
        finally:
            model.cpu()
        record.update(train_steps=loop.steps, train_time_s=round(loop.elapsed_s, 1),
                      stopped_by=loop.stopped_by, best_step=loop.best_step,
                      best_validation_score=loop.best_score)
        if not part.label:
            # (a conditional model's parts generate into the whole model's normalisation)
            scale = model.norm_scale.clone()
            factor = model.calibrate_power(train, seed=opts.seed)
            record["power_calibration"] = [round(float(f), 5) for f in factor]
            # a model without a spectral correction took the calibration on its
            # normalisation: the checks below see the events in the new one
            train, val = (_renormalised(x, scale, model.norm_scale) for x in (train, val))
    if enough_val:
        record["heldout_check"] = _heldout(part, train, val, ctx)
    if part.model.learned:
        record["envelope_check"] = _envelope_check(part, train, ctx)
    return record, loop


def _renormalised(x: torch.Tensor, old_scale: torch.Tensor, new_scale: torch.Tensor
                  ) -> torch.Tensor:
    """Traces ``x`` normalised with per-channel ``old_scale``, in the normalisation with
    ``new_scale`` and the same offsets (``x`` itself where the scales agree)."""
    ratio = (old_scale / new_scale).to(x.device, x.dtype)
    return x if bool((ratio == 1).all()) else x * ratio[:, None]


#: Events a fitted model draws for the physical-envelope check at the end of its fit
#: (rare explosions escape the held-out check's few hundred events).
ENVELOPE_CHECK_EVENTS: int = 4000


def _envelope_check(part: FitPart, train: torch.Tensor, ctx: PartContext) -> str | None:
    """Draw :data:`ENVELOPE_CHECK_EVENTS` events (at most 256 MiB) from the fitted model
    and check them as ``sample`` does (:class:`~rnognoise.envelope_guard.EnvelopeGuard`)
    against the training events' per-channel RMS and peak; warn, and return the first
    finding (None when the samples stay inside)."""
    model = part.model
    scale = model.norm_scale.to(train.device)
    volts = Envelope((train.square().mean(dim=(0, 2)).sqrt() * scale).cpu().numpy(),
                     (train.abs().amax(dim=(0, 2)) * scale).cpu().numpy(), None)
    guard = EnvelopeGuard(volts, np.asarray(model.layout.channels), train.device)
    per_event = 4 * train.shape[1] * train.shape[2]
    n = max(1, min(ENVELOPE_CHECK_EVENTS, (256 << 20) // per_event))
    gen = torch.Generator(device=train.device).manual_seed(ctx.opts.seed + 13)
    finding = None
    with torch.no_grad():
        for a in range(0, n, 500):
            drawn = model.saturate_(model.generate(min(500, n - a), gen).to(train.device))
            finding = guard.check(output_norms(drawn), scale)
            if finding:
                break
    if finding:
        what = ctx.opts.model + (f" [{part.label}]" if part.label else "")
        _log.warning(f"{ctx.source}: the fitted {what} model leaves the physical envelope "
                     f"of its training data in {n} drawn events: {finding}; `sample` will "
                     "warn about it")
    return finding


def _heldout(part: FitPart, train: torch.Tensor, val: torch.Tensor,
             ctx: PartContext) -> dict[str, Any]:
    """Score the part and a baseline fitted on the same events against the held-out
    events; refuse (without ``force``) a part that is the worse of the two."""
    model, opts = part.model, ctx.opts
    if model.kind == "baseline":
        baseline = model
    else:
        cls = get_model_class("baseline")
        baseline = cls(cls.make_config(None), model.layout).to(ctx.device)
        baseline.set_normalization(model.norm_offset.cpu().numpy(),
                                   model.norm_scale.cpu().numpy())
        with torch.no_grad():
            baseline.initialize(train)
    with torch.no_grad():
        check = heldout_check(model, baseline, val, ctx.sampling_rate, seed=opts.seed,
                              train=train)
    log_event(_log, "held-out check", part=part.label or None, events=check.n_events,
              score=round(check.model_score, 4), baseline_score=round(check.baseline_score, 4),
              auc=round(check.model_auc, 3), baseline_auc=round(check.baseline_auc, 3),
              training_events=check.n_train_events or None,
              training_score=round(check.train_model_score, 4) if check.n_train_events
              else None,
              training_baseline_score=round(check.train_baseline_score, 4)
              if check.n_train_events else None)
    if check.worse_than_baseline:
        what = opts.model + (f" [{part.label}]" if part.label else "")
        message = (f"{ctx.source}: the fitted {what} model is worse than the "
                   f"spectrum-matched baseline on {_check_text(check)} (lower is better)")
        if not check.conclusive:
            _log.warning(message + f"; with fewer than {MIN_CHECK_EVENTS} held-out events "
                         "the check is inconclusive, the model is saved")
        elif not opts.force:
            raise PoorFitError(message + "; not saved (fit model='baseline' instead, or pass "
                               "force=True to keep it)")
        else:
            _log.warning(message + "; saved because of force=True")
    return check.to_dict()


def _check_text(check: HeldOutCheck) -> str:
    """The held-out check's scores, as the warning names them."""
    text = (f"{check.n_events} held-out events (score {check.model_score:.3g} vs "
            f"{check.baseline_score:.3g})")
    if check.n_train_events:
        text += (f" and {check.n_train_events} training events (score "
                 f"{check.train_model_score:.3g} vs {check.train_baseline_score:.3g})")
    return text


def train_part(model: NoiseModel, train: torch.Tensor, val: torch.Tensor, ctx: PartContext,
               ckpt_dir: str | None, *, windows: WindowSource | None = None,
               max_minutes: float | None = None, desc: str | None = None) -> LoopResult:
    """Run the shared :class:`~rnognoise.core.TrainingLoop` on a learned model.

    The global batch of each step is a function of ``(seed, step)``: consecutive draws
    of epochs in which every training event comes once
    (:class:`~rnognoise.fitting.stream.WindowSource`; ``windows`` for a streamed fit,
    else over ``train`` in memory); rank ``r`` of a distributed fit trains on its
    ``r``-th slice.
    """
    opts, comm = ctx.opts, ctx.comm
    world = comm.world_size if comm is not None else 1
    rank = comm.rank if comm is not None else 0
    plan = model.training_plan(lr=opts.lr, batch_size=opts.batch_size // world)
    # the rows a step trains on: computed once for events in memory, per batch if streamed
    source = (windows if windows is not None else
              WindowSource.in_memory(plan.prepare(train), opts.seed))
    per_batch = plan.prepare if windows is not None else (lambda rows: rows)
    n_train = source.n_rows
    steps = opts.steps
    if steps is None and opts.epochs is not None:
        per_step = opts.batch_size * plan.batches_per_step
        steps = max(1, int(np.ceil(opts.epochs * n_train / per_step)))
    if steps is None:
        steps = 10**9
    batch = min(opts.batch_size, n_train)
    local = batch // world
    batch_fn = source.batches(batch, plan.batches_per_step)

    def draw(index: int, k: int) -> torch.Tensor:
        # The model sees index = step * world + rank (its noise differs between ranks);
        # the global batch depends on the step only, and this rank takes its slice.
        return per_batch(batch_fn(index // world, k)[rank * local:(rank + 1) * local]
                         .to(ctx.device))

    eval_gen = torch.Generator(device=ctx.device)

    def eval_fn(step: int) -> float:
        if plan.before_eval is not None and step > 0:
            plan.before_eval()
        eval_gen.manual_seed(opts.seed + 17)
        with torch.no_grad():
            fake = model.generate(GENERATED_PER_REAL * val.shape[0], eval_gen)
        return validation_score(val.cpu().numpy(), fake.cpu().numpy(), ctx.sampling_rate,
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
                        step_fn=lambda step: plan.step_fn(step * world + rank, draw),
                        eval_fn=eval_fn if has_val else None, run_info=run_info, comm=comm)
    resuming = opts.resume and loop.checkpoint_path is not None and loop.checkpoint_path.exists()
    if has_val and not resuming:
        loop.record_score(eval_fn(0))  # the analytic initialisation is a candidate too
    return loop.run()
