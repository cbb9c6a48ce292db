"""One training loop for every model: budget, progress, logs, checkpoints, resume.

The model supplies a ``step_fn(step) -> dict[str, float]`` that performs one
optimisation step (for a GAN: the critic steps and the generator step) and returns
its losses, and optionally an ``eval_fn(step) -> float`` whose value (lower is
better) selects the best weights. The loop does the rest, the same way for the noise
models and for the reference image pipelines.

Batches should be derived from ``(seed, step)`` inside ``step_fn`` so that a resumed
run sees the same data as an uninterrupted one.
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

from ..errors import TrainingDivergedError
from ..logs import get_logger, log_event, progress
from .checkpoint import load_state, read_metadata, save_state

__all__ = ["LoopConfig", "LoopResult", "TrainingLoop"]

_log = get_logger("train")


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
                 run_info: dict[str, Any] | None = None, restore_best: bool = True) -> None:
        self.config = config
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
        if path is None:
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
            if self.best_path is not None:
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
        log_file = open(cfg.log_path, "a") if cfg.log_path else None
        start = time.monotonic()
        last_ckpt_time = start
        last_ckpt_step = self.step
        budget_s = cfg.max_minutes * 60.0 if cfg.max_minutes is not None else math.inf
        losses: dict[str, float] = {}
        stopped_by = "steps"
        bar = progress(cfg.max_steps, desc=cfg.desc, unit="step", quiet=cfg.quiet)
        bar.update(self.step)
        try:
            while self.step < cfg.max_steps:
                elapsed = self.elapsed_before + time.monotonic() - start
                if elapsed >= budget_s:
                    stopped_by = "time"
                    break
                losses = {k: float(v) for k, v in self.step_fn(self.step).items()}
                problem = self._diverged(losses)
                if problem is not None:
                    self._handle_divergence(problem)
                self.step += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    record = {"step": self.step, "time_s": round(elapsed, 3), **losses}
                    self.history.append(record)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                    if log_file is not None:
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                if self.eval_fn is not None and cfg.eval_every and \
                        self.step % cfg.eval_every == 0:
                    self._evaluate(log_file, elapsed)
                now = time.monotonic()
                if (self.step - last_ckpt_step >= cfg.checkpoint_every
                        or now - last_ckpt_time >= cfg.checkpoint_minutes * 60.0):
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
        log_event(_log, "training diverged", 40, step=self.step, loss=problem)
        raise TrainingDivergedError(
            f"training diverged at step {self.step} ({problem}){where}; try a lower "
            "learning rate")
