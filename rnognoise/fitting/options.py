"""The options of a fit (:class:`FitOptions`), given as a dataclass or as keywords."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..conditions import RNOG_SITE_LONGITUDE_DEG
from ..errors import ConfigError

__all__ = ["DEFAULT_MINUTES", "FitOptions", "make_options"]

#: Wall-clock training budget in minutes when neither ``max_minutes`` nor ``steps`` /
#: ``epochs`` is given.
DEFAULT_MINUTES = 15.0


@dataclass
class FitOptions:
    """Options of :func:`rnognoise.train.fit` (the ``rnognoise fit`` flags).

    Parameters
    ----------
    model : str
        Model kind (``baseline``, ``wgan-gp``, ``vae``).
    model_options : dict
        Hyper-parameters of the model's ``Config``.
    max_minutes : float, optional
        Wall-clock budget of a learned model's initialisation, component selection and
        training, minutes (at least a fifth is left for training; reading the data and the
        final held-out check come on top); default :data:`DEFAULT_MINUTES` (15) when
        neither this nor ``steps``/``epochs`` is given.
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
        Events held in memory at most: a file with more trigger-selected events is
        streamed (``stream``), or a random subset of this size is read.
    stream : bool, optional
        Train from the file in windows of ``buffer_events`` (bounded memory, every event
        used once per epoch) instead of reading it. Default (None): stream when the file
        holds more than ``max_events`` events. Plain models only: a conditional fit, and
        a fit on a TraceSet, hold their events in memory (a random subset of
        ``max_events`` of a larger file).
    buffer_events : int
        Events in the shuffle window of a streamed fit (also the size of the random
        subset the analytic initialisation sees).
    val_fraction : float
        Fraction of events held out for model selection.
    eval_every : int
        Steps between validation scores (0: only at start and end).
    checkpoint_every : int
        Steps between checkpoints.
    resume : bool
        Continue from ``OUT.ckpt/last.safetensors``.
    force : bool
        Overwrite an existing model file (and keep a model worse than the baseline).
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
    stream: bool | None = None
    buffer_events: int = 4096
    val_fraction: float = 0.1
    eval_every: int = 200
    checkpoint_every: int = 200
    resume: bool = False
    force: bool = False
    quiet: bool = False
    conditions: list[str] | None = None
    longitude_deg: float = RNOG_SITE_LONGITUDE_DEG
    distributed: bool = False

    def budget_minutes(self, share: float = 1.0) -> float | None:
        """The wall-clock budget, minutes, of a part with ``share`` of the training
        (None: bounded by ``steps`` / ``epochs`` only)."""
        minutes = self.max_minutes
        if minutes is None and self.steps is None and self.epochs is None:
            minutes = DEFAULT_MINUTES
        return None if minutes is None else minutes * share


def make_options(options: FitOptions | None = None, **overrides: Any) -> FitOptions:
    """``options`` (default :class:`FitOptions`) with keyword ``overrides`` applied (a copy).

    Raises
    ------
    ConfigError
        An unknown keyword (the message lists the valid ones), or ``options`` that is
        not a :class:`FitOptions`.
    """
    if options is not None and not isinstance(options, FitOptions):
        raise ConfigError(f"options must be a FitOptions, got {type(options).__name__}")
    names = [f.name for f in dataclasses.fields(FitOptions)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ConfigError(f"unknown fit option(s) {unknown} (valid: {', '.join(names)})")
    base = options if options is not None else FitOptions()
    return dataclasses.replace(base, **overrides) if overrides else base
