"""One training loop for every model: budget, progress, logs, checkpoints, resume.

The model supplies a ``step_fn(step) -> dict[str, float]`` that performs one
optimisation step (for a GAN: the critic steps and the generator step) and returns
its losses, and optionally an ``eval_fn(step) -> float`` whose value (lower is
better) selects the best weights. The loop does the rest, the same way for the noise
models and for the reference image pipelines.

Batches should be derived from ``(seed, step)`` inside ``step_fn`` so that a resumed
run sees the same data as an uninterrupted one.

On several processes (``torchrun``, :class:`DistributedComm`), every rank runs the same
loop on its part of each batch; the gradients are averaged across ranks before every
optimizer step, losses are averaged before they are logged or checked, stop decisions
are taken by rank 0, and only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..errors import TrainingDivergedError
from ..logs import get_logger, log_event, progress
from .checkpoint import load_state, read_metadata, save_state

__all__ = ["DistributedComm", "LoopConfig", "LoopResult", "TrainingLoop"]

_log = get_logger("train")

#: ``max_steps`` at or above this means "no step limit" (a time budget ends training).
_UNBOUNDED_STEPS = 10**8


@dataclass
class LoopConfig:
    """Settings of :class:`TrainingLoop`.

    Parameters
    ----------
    max_steps : int
        Optimisation steps in total (across resumes).
    max_minutes : float, optional
        Wall-clock budget in minutes (across resumes); training stops when it is spent.
    checkpoint_dir : str, optional
        Folder for ``last.safetensors`` / ``best.safetensors``; no checkpoints when None.
    checkpoint_every : int
        Steps between checkpoints.
    checkpoint_minutes : float
        Also checkpoint when this much wall time has passed since the last one.
    eval_every : int
        Steps between calls of ``eval_fn`` (0: never; also evaluated at the end).
    log_path : str, optional
        JSON-lines file receiving the losses (appended to on resume).
    log_every : int
        Steps between log lines.
    resume : bool
        Continue from ``checkpoint_dir/last.safetensors`` when it exists.
    quiet : bool
        No progress bar.
    desc : str
        Label of the progress bar.
    max_abs_loss : float
        A loss above this magnitude counts as divergence, like NaN/inf.
    """

    max_steps: int
    max_minutes: float | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500
    checkpoint_minutes: float = 2.0
    eval_every: int = 0
    log_path: str | None = None
    log_every: int = 10
    resume: bool = False
    quiet: bool = False
    desc: str = "train"
    max_abs_loss: float = 1e8


@dataclass
class LoopResult:
    """What a finished :meth:`TrainingLoop.run` reports."""

    steps: int
    elapsed_s: float
    stopped_by: str
    last_losses: dict[str, float] = field(default_factory=dict)
    best_score: float | None = None
    best_step: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)


class DistributedComm:
    """The collectives :class:`TrainingLoop` needs on several ranks (``torch.distributed``).

    Gradients are averaged by an optimizer *step pre-hook* (one flattened all-reduce per
    optimizer step) rather than by wrapping modules in ``DistributedDataParallel``:
    the models call their sub-modules directly, take several optimizer steps per
    loop step (WGAN critic steps) and differentiate twice for the gradient penalty,
    all of which DDP's backward hooks do not follow. The maths is the same as DDP's:
    with equal per-rank batches the averaged gradient is the gradient of the
    global-batch mean loss.

    Parameters
    ----------
    device : torch.device
        Device of the tensors exchanged (a CUDA device for the ``nccl`` backend).
    group : optional
        Process group (default: the world).
    """

    def __init__(self, device: torch.device, group: Any = None) -> None:
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised")
        self.device = device
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that writes files)."""
        return self.rank == 0

    def average_gradients(self, params: list[torch.Tensor]) -> None:
        """Replace every ``.grad`` by its mean over ranks (one all-reduce)."""
        if self.world_size == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads]).to(self.device)
        dist.all_reduce(flat, group=self.group)
        flat /= self.world_size
        offset = 0
        for p, g in zip(params, grads, strict=True):
            k = g.numel()
            if p.grad is not None:
                p.grad.copy_(flat[offset:offset + k].view_as(g))
            offset += k

    def attach(self, optimizer: torch.optim.Optimizer) -> Any:
        """Average gradients across ranks before each ``optimizer.step()``."""
        params = [p for group in optimizer.param_groups for p in group["params"]]

        def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.average_gradients(params)

        return optimizer.register_step_pre_hook(hook)

    def broadcast_modules(self, modules: dict[str, torch.nn.Module]) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        for module in modules.values():
            for tensor in list(module.parameters()) + list(module.buffers()):
                buf = tensor.data.to(self.device)
                dist.broadcast(buf, 0, group=self.group)
                tensor.data.copy_(buf)

    def mean_losses(self, losses: dict[str, float]) -> dict[str, float]:
        """Losses averaged over ranks (keys in the same order on every rank)."""
        if self.world_size == 1 or not losses:
            return losses
        keys = sorted(losses)
        values = torch.tensor([losses[k] for k in keys], dtype=torch.float64,
                              device=self.device)
        dist.all_reduce(values, group=self.group)
        values /= self.world_size
        return dict(zip(keys, values.tolist(), strict=True))

    def decide(self, flag: bool) -> bool:
        """Rank 0's value of ``flag`` on every rank."""
        if self.world_size == 1:
            return flag
        value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self.device)
        dist.broadcast(value, 0, group=self.group)
        return bool(value.item())

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.world_size > 1:
            dist.barrier(group=self.group)


class TrainingLoop:
    """Run ``step_fn`` until the step or time budget is spent, with checkpoints.

    Parameters
    ----------
    config : LoopConfig
        Budget, checkpointing and logging.
    modules : dict of str to torch.nn.Module
        Everything whose weights are checkpointed.
    optimizers : dict of str to torch.optim.Optimizer
        Optimizers checkpointed with them.
    step_fn : callable
        ``step_fn(step) -> dict[str, float]``: one optimisation step, returning losses.
    eval_fn : callable, optional
        ``eval_fn(step) -> float``: validation score, lower is better; the best weights
        are kept in ``best.safetensors`` and restored at the end when ``restore_best``.
    run_info : dict, optional
        JSON-able description of the run (its options), stored in every checkpoint.
    restore_best : bool
        Load the best weights into ``modules`` when training ends.
    comm : DistributedComm, optional
        Run as one rank of several: rank 0's weights are broadcast at the start,
        gradients are averaged before every optimizer step, losses are averaged, and
        only rank 0 writes checkpoints, logs and the progress bar. Every rank must be
        able to read the checkpoint folder to resume.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> def step(i):
    ...     loss = (net(torch.ones(4, 2)) - 1).pow(2).mean()
    ...     opt.zero_grad(); loss.backward(); opt.step()
    ...     return {"loss": loss.item()}
    >>> TrainingLoop(LoopConfig(max_steps=50, quiet=True), modules={"net": net},
    ...              optimizers={"opt": opt}, step_fn=step).run().steps
    50
    """

    def __init__(self, config: LoopConfig, *, modules: dict[str, torch.nn.Module],
                 optimizers: dict[str, torch.optim.Optimizer],
                 step_fn: Callable[[int], dict[str, float]],
                 eval_fn: Callable[[int], float] | None = None,
                 run_info: dict[str, Any] | None = None, restore_best: bool = True,
                 comm: DistributedComm | None = None) -> None:
        self.config = config
        self.comm = comm
        self.is_main = comm is None or comm.is_main
        self.modules = modules
        self.optimizers = optimizers
        self.step_fn = step_fn
        self.eval_fn = eval_fn
        self.run_info = run_info or {}
        self.restore_best = restore_best
        self.step = 0
        self.elapsed_before = 0.0
        self.best_score: float | None = None
        self.best_step: int | None = None
        self._best_weights: dict[str, dict[str, torch.Tensor]] | None = None
        self.history: list[dict[str, float]] = []

    # -- checkpoints -------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir/last.safetensors`` or None."""
        d = self.config.checkpoint_dir
        return Path(d) / "last.safetensors" if d else None

    @property
    def best_path(self) -> Path | None:
        """``checkpoint_dir/best.safetensors`` or None."""
        d = self.config.checkpoint_dir
        return Path(d) / "best.safetensors" if d else None

    def _extra(self, elapsed: float) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed_s": elapsed,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "torch_rng": torch.get_rng_state().tolist(),
            "run_info": self.run_info,
            "loop_config": asdict(self.config),
        }

    def save_checkpoint(self, elapsed: float) -> None:
        """Write ``last.safetensors`` (atomically) if checkpointing is on."""
        path = self.checkpoint_path
        if path is None or not self.is_main:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        save_state(path, modules=self.modules, optimizers=self.optimizers,
                   extra=self._extra(elapsed))

    def _try_resume(self) -> None:
        path = self.checkpoint_path
        if not (self.config.resume and path is not None and path.exists()):
            return
        stored = read_metadata(path)["extra"].get("run_info", {})
        if stored and self.run_info and stored != self.run_info:
            changed = sorted(k for k in set(stored) | set(self.run_info)
                             if stored.get(k) != self.run_info.get(k))
            log_event(_log, "resuming with changed options", 30, changed=",".join(changed))
        extra = load_state(path, modules=self.modules, optimizers=self.optimizers)
        self.step = int(extra["step"])
        self.elapsed_before = float(extra["elapsed_s"])
        self.best_score = extra.get("best_score")
        self.best_step = extra.get("best_step")
        torch.set_rng_state(torch.tensor(extra["torch_rng"], dtype=torch.uint8))
        if self.best_path is not None and self.best_path.exists():
            holders = {k: copy.deepcopy(m) for k, m in self.modules.items()}
            load_state(self.best_path, modules=holders)
            self._best_weights = {k: m.state_dict() for k, m in holders.items()}
        log_event(_log, "resumed", step=self.step, elapsed_s=round(self.elapsed_before, 1),
                  checkpoint=str(path))

    def record_score(self, score: float) -> None:
        """Offer a validation score (lower is better) for the current weights."""
        if not math.isfinite(score):
            return
        if self.best_score is None or score < self.best_score:
            self.best_score = float(score)
            self.best_step = self.step
            self._best_weights = {k: copy.deepcopy(m.state_dict())
                                  for k, m in self.modules.items()}
            if self.best_path is not None and self.is_main:
                self.best_path.parent.mkdir(parents=True, exist_ok=True)
                save_state(self.best_path, modules=self.modules,
                           extra={"step": self.step, "score": self.best_score})

    # -- the loop ------------------------------------------------------------------------
    def _diverged(self, losses: dict[str, float]) -> str | None:
        for name, value in losses.items():
            if not math.isfinite(value) or abs(value) > self.config.max_abs_loss:
                return f"{name}={value}"
        return None

    def run(self) -> LoopResult:
        """Train until ``max_steps`` or ``max_minutes``; return a :class:`LoopResult`.

        Raises
        ------
        TrainingDivergedError
            On a non-finite or exploding loss; the last checkpoint on disk is kept and the
            modules are reset to the last good weights.
        """
        cfg = self.config
        self._try_resume()
        if self.comm is not None:
            self.comm.broadcast_modules(self.modules)
            hooks = [self.comm.attach(opt) for opt in self.optimizers.values()]
        else:
            hooks = []
        log_file = open(cfg.log_path, "a") if cfg.log_path and self.is_main else None
        start = time.monotonic()
        last_ckpt_time = start
        last_ckpt_step = self.step
        budget_s = cfg.max_minutes * 60.0 if cfg.max_minutes is not None else math.inf
        losses: dict[str, float] = {}
        stopped_by = "steps"
        # With a time budget and no real step limit, the bar counts steps with their rate
        # and shows the budget left instead of a meaningless step ETA.
        unbounded = budget_s < math.inf and cfg.max_steps >= _UNBOUNDED_STEPS
        bar = progress(None if unbounded else cfg.max_steps, desc=cfg.desc, unit="step",
                       quiet=cfg.quiet or not self.is_main)
        bar.update(self.step)
        try:
            while self.step < cfg.max_steps:
                elapsed = self.elapsed_before + time.monotonic() - start
                out_of_time = elapsed >= budget_s
                if self.comm is not None and budget_s < math.inf:
                    out_of_time = self.comm.decide(out_of_time)
                if out_of_time:
                    stopped_by = "time"
                    break
                losses = {k: float(v) for k, v in self.step_fn(self.step).items()}
                if self.comm is not None:
                    losses = self.comm.mean_losses(losses)
                problem = self._diverged(losses)
                if problem is not None:
                    self._handle_divergence(problem)
                self.step += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    record = {"step": self.step, "time_s": round(elapsed, 3), **losses}
                    self.history.append(record)
                    postfix = {k: f"{v:.3g}" for k, v in losses.items()}
                    if budget_s < math.inf:
                        left = max(0.0, budget_s - elapsed)
                        postfix["left"] = f"{int(left // 60)}:{int(left % 60):02d}"
                    bar.set_postfix(postfix, refresh=False)
                    if log_file is not None:
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                if self.eval_fn is not None and cfg.eval_every and \
                        self.step % cfg.eval_every == 0:
                    self._evaluate(log_file, elapsed)
                now = time.monotonic()
                if (self.step - last_ckpt_step >= cfg.checkpoint_every
                        or now - last_ckpt_time >= cfg.checkpoint_minutes * 60.0):
                    # Only rank 0 writes; the others just keep their counters in step.
                    self.save_checkpoint(self.elapsed_before + now - start)
                    last_ckpt_time, last_ckpt_step = now, self.step
            elapsed = self.elapsed_before + time.monotonic() - start
            if self.eval_fn is not None:
                self._evaluate(log_file, elapsed)
            self.save_checkpoint(elapsed)
        except KeyboardInterrupt:
            self.save_checkpoint(self.elapsed_before + time.monotonic() - start)
            raise
        finally:
            for handle in hooks:
                handle.remove()
            bar.close()
            if log_file is not None:
                log_file.close()
        if self.restore_best and self._best_weights is not None:
            for name, module in self.modules.items():
                module.load_state_dict(self._best_weights[name])
        log_event(_log, "training finished", steps=self.step, elapsed_s=round(elapsed, 1),
                  stopped_by=stopped_by, best_step=self.best_step, best_score=self.best_score)
        return LoopResult(self.step, elapsed, stopped_by, losses, self.best_score,
                          self.best_step, self.history)

    def _evaluate(self, log_file: Any, elapsed: float) -> None:
        assert self.eval_fn is not None
        for module in self.modules.values():
            module.eval()
        try:
            score = float(self.eval_fn(self.step))
        finally:
            for module in self.modules.values():
                module.train()
        self.record_score(score)
        record = {"step": self.step, "time_s": round(elapsed, 3), "val_score": score}
        self.history.append(record)
        if log_file is not None:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

    def _handle_divergence(self, problem: str) -> None:
        where = ""
        path = self.checkpoint_path
        if path is not None and path.exists():
            extra = load_state(path, modules=self.modules, optimizers=self.optimizers)
            where = f"; weights reset to the last good checkpoint {path} (step {extra['step']})"
        log_event(_log, "training diverged", 10, step=self.step, loss=problem)
        raise TrainingDivergedError(
            f"training diverged at step {self.step} ({problem}){where}; try a lower "
            "learning rate")
