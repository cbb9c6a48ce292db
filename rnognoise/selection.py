"""Held-out model selection: the score that keeps the best weights, the choice of
structured components, and the final check against the baseline.

The score is the validation suite's own (:meth:`rnognoise.metrics.FidelityReport.score`
of the full :func:`rnognoise.metrics.compare`, classifier two-sample test and trigger
curves included) between held-out real traces and generated traces, so that training
selects by the same yardstick as ``rnognoise validate``: every metric's excess over its
real-vs-real reference, in units of its tolerance.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .io import TraceSet
from .subsample import evenly_spaced

__all__ = ["ComponentChoice", "HeldOutCheck", "heldout_check", "select_components",
           "validation_score"]

#: Generated events per held-out event in the scores (generation is cheap; the
#: generated side's scatter then adds little to the real side's).
GENERATED_PER_REAL = 2
#: A model counts as worse than the baseline when its score exceeds the baseline's by
#: more than this (score units: 1 is the edge of "pass" on average); smaller differences
#: are within the scatter of a few hundred held-out events.
SCORE_MARGIN = 0.1
#: A component is switched off only if the held-out score without it is lower by more
#: than this: differences of a few hundredths are the scatter of a few hundred held-out
#: events, and on them the selection dropped the envelope of data whose bursts and
#: spectral breathing only it describes (held-out C2ST AUC 0.79 on 1000 events against
#: 0.67 with it).
DROP_MARGIN = 0.05
#: Fewer held-out events than this and the check against the baseline is inconclusive.
MIN_CHECK_EVENTS = 50
#: Draws of generated events (each with its own comparison seed) of the component
#: selection: one screens the candidates, the others confirm a removal. One score on
#: 100 held-out events scatters by about 0.08 between draws (a simulated set with bursts
#: and drifting carriers, the model with all components), more than the difference a
#: component makes; on one draw the selection dropped the envelope there (held-out AUC
#: 0.80 without it against 0.60 with it, 1000 held-out events).
SELECTION_DRAWS = 3
#: Training events (evenly spaced) on which a removal that the held-out events favour is
#: checked: a held-out set of a few hundred events holds only a handful of a rare
#: structure's events, too few for the rows that see it, so the removal must not make the
#: model worse on these many more events either (they favour the fitted components, so
#: this check can only keep a component, never drop one). On 200 held-out events the
#: selection dropped the pulses of a simulated set with 2 % of events with a pulse
#: (held-out score 0.218 without against 0.275 with them); on 1000 test events the
#: model without them failed the pulses' lag row (AUC 0.613).
CHECK_TRAIN_EVENTS = 1000
#: Draws of generated events in the final check against the baseline (means over them):
#: on one draw of 2000 generated events against 1000 training events, a model that drew
#: single-sample spikes as ringing pulses in every channel scored 0.341 against the
#: baseline's 0.296, not worse by :data:`SCORE_MARGIN`; over four other draws 0.10-0.17
#: worse (800 test events: 0.25 worse).
CHECK_DRAWS = 3


def _report(real: np.ndarray, generated: np.ndarray, sampling_rate: float, seed: int) -> Any:
    from .metrics import compare

    channels = np.arange(real.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small held-out sets warn by design
        return compare(TraceSet(real, sampling_rate, channels),
                       TraceSet(generated, sampling_rate, channels), seed=seed)


def validation_score(real: np.ndarray, generated: np.ndarray, sampling_rate: float,
                     *, seed: int = 0) -> float:
    """Scalar distance between ``real`` and ``generated`` traces ``(n, C, T)``; lower is better.

    Parameters
    ----------
    real, generated : numpy.ndarray
        Traces (any consistent units) of the same layout.
    sampling_rate : float
        Hz.
    seed : int
        Seed of the real-data split and resampling inside the comparison.
    """
    score = float(_report(real, generated, sampling_rate, seed).score())
    return score if np.isfinite(score) else float("inf")


def _generate(model: Any, n: int, seed: int) -> np.ndarray:
    gen = torch.Generator(device=model.norm_scale.device).manual_seed(seed)
    with torch.no_grad():
        return model.generate(n, gen).cpu().numpy()


@dataclass
class ComponentChoice:
    """Outcome of :func:`select_components`: the kept components and every score tried."""

    kept: list[str]
    dropped: list[str]
    trials: list[dict[str, Any]] = field(default_factory=list)


def select_components(model: Any, train: torch.Tensor, val: torch.Tensor, sampling_rate: float,
                      *, seed: int = 0, log: Callable[..., None] | None = None
                      ) -> ComponentChoice:
    """Backward elimination of structured components on held-out events.

    Starting from all enabled components, each is switched off in turn (the rest refitted
    where they depend on it); the removal that gives the lowest held-out score is made if
    that score is lower than the current one by more than :data:`DROP_MARGIN`, and the
    search repeats. A component therefore stays unless the model without it scores
    clearly better on held-out events.
    One score scatters between draws of the generated events by more than a component's
    worth (:data:`SELECTION_DRAWS`), so a removal is screened on one draw and confirmed
    on fresh ones: every candidate is scored on draw 0, and the best one is dropped only
    if its mean over draws ``1 .. SELECTION_DRAWS - 1`` is also lower than the current
    model's on the same draws by more than :data:`DROP_MARGIN` (the screening's pick
    would otherwise carry the luck of its draw), and if the model without it does not
    score worse on :data:`CHECK_TRAIN_EVENTS` training events either (a rare structure
    that the few held-out events hardly hold shows there); otherwise the search stops.
    Draw ``k`` uses the same generator seed and comparison seed for every candidate
    (common random numbers). Components that the model reports as inert
    (``inert_components()``: fitted, found nothing) are not tried: switching them off
    changes no event.

    Parameters
    ----------
    model : NoiseModel
        An initialised model with ``components()`` and ``set_components(enabled, data)``.
    train, val : torch.Tensor
        Normalised training and held-out traces ``(n, C, T)``.
    sampling_rate : float
        Hz.
    seed : int
        Seed of the generated events and of the comparison.
    log : callable, optional
        ``log(message, **fields)`` for each trial.
    """
    current = list(model.components())
    real = val.cpu().numpy()
    n_gen = GENERATED_PER_REAL * real.shape[0]

    def score(enabled: list[str], draws: range) -> tuple[list[float], set[str]]:
        """Held-out scores with exactly ``enabled`` on ``draws``, and which are inert."""
        model.set_components(enabled, train)
        inert = set(model.inert_components()) if hasattr(model, "inert_components") else set()
        return [validation_score(real, _generate(model, n_gen, seed + 99 + k), sampling_rate,
                                 seed=seed + k) for k in draws], inert

    fresh = range(1, SELECTION_DRAWS)
    pick = evenly_spaced(train.shape[0], CHECK_TRAIN_EVENTS, train.device)

    def train_score(enabled: list[str]) -> float:
        """Score with exactly ``enabled`` on the training events ``pick``."""
        model.set_components(enabled, train)
        seen = train[pick].cpu().numpy()
        return validation_score(seen, _generate(model, GENERATED_PER_REAL * len(seen),
                                                seed + 77), sampling_rate, seed=seed)

    best, inert = score(current, range(SELECTION_DRAWS))
    trials = [{"components": list(current), "score": best[0]}]
    dropped: list[str] = []
    while current:
        # an inert component (one that found nothing to model) changes no event: no trial
        candidates = []
        for name in [c for c in current if c not in inert]:
            trial = [c for c in current if c != name]
            (s,), trial_inert = score(trial, range(1))
            trials.append({"components": trial, "score": s})
            if log is not None:
                log("component trial", without=name, score=round(s, 4),
                    current=round(best[0], 4))
            candidates.append((s, name, trial_inert))
        if not candidates:
            break
        s, name, trial_inert = min(candidates, key=lambda c: (c[0], c[1]))
        if s > best[0] - DROP_MARGIN:
            break
        trial = [c for c in current if c != name]
        if fresh:
            confirm, trial_inert = score(trial, fresh)
            trials.append({"components": trial, "score": float(np.mean(confirm)),
                           "draws": list(fresh), "against": float(np.mean(best[1:]))})
            if log is not None:
                log("component confirmation", without=name, score=round(np.mean(confirm), 4),
                    current=round(float(np.mean(best[1:])), 4))
            if float(np.mean(confirm)) > float(np.mean(best[1:])) - DROP_MARGIN:
                break
            on_train = train_score(trial), train_score(current)
            trials.append({"components": trial, "score": on_train[0],
                           "against": on_train[1], "on": "training events",
                           "n_events": len(pick)})
            if log is not None:
                log("component check on training events", without=name,
                    score=round(on_train[0], 4), current=round(on_train[1], 4))
            if on_train[0] > on_train[1]:
                break
            best = [s, *confirm]
        else:
            best = [s]
        inert = trial_inert
        current.remove(name)
        dropped.append(name)
    model.set_components(current, train)
    return ComponentChoice(current, dropped, trials)


@dataclass
class HeldOutCheck:
    """The final comparison of a fitted model with the baseline.

    Both are scored on the held-out events and on up to :data:`CHECK_TRAIN_EVENTS` training
    events. The held-out events judge overfitting; the training events, fitted by both,
    are many more, so that a structure of a few percent of the events shows in the rows
    that see it: a model that draws it wrongly scores worse than the baseline there even
    where the few hundred held-out events hold too few of its events to tell.

    Attributes
    ----------
    model_score, baseline_score : float
        Validation scores on the held-out events (lower is better; 0: like real data),
        means over :data:`CHECK_DRAWS` draws of generated events.
    model_auc, baseline_auc : float
        Classifier two-sample test AUC on the held-out events (NaN when too few), means
        over the draws.
    n_events : int
        Held-out events.
    worse_than_baseline : bool
        The model scores worse than the baseline by more than :data:`SCORE_MARGIN` on the
        held-out events or on the training events.
    conclusive : bool
        The set that decides has at least :data:`MIN_CHECK_EVENTS` events: where the
        model is worse, the set it is worse on (the training events are checked only
        when there are that many); where not, either set.
    train_model_score, train_baseline_score : float
        The scores on the training events, means over the draws (NaN when not checked).
    n_train_events : int
        Training events of that check (0: not checked).
    """

    model_score: float
    baseline_score: float
    model_auc: float
    baseline_auc: float
    n_events: int
    worse_than_baseline: bool
    conclusive: bool
    train_model_score: float = float("nan")
    train_baseline_score: float = float("nan")
    n_train_events: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not np.isfinite(v) else v
        return {k: clean(v) for k, v in self.__dict__.items()}


def _auc(report: Any) -> float:
    rows = [r for r in report.rows if r.name == "c2st_auc"]
    return float(rows[0].value) if rows else float("nan")


def _worse(model_score: float, baseline_score: float) -> bool:
    """Whether ``model_score`` exceeds ``baseline_score`` by more than :data:`SCORE_MARGIN`."""
    return bool(np.isfinite(baseline_score)
                and (not np.isfinite(model_score) or model_score > baseline_score + SCORE_MARGIN))


def _mean_scores(model: Any, baseline: Any, real: np.ndarray, sampling_rate: float,
                 seed: int, offset: int) -> tuple[float, float, float, float]:
    """Mean over :data:`CHECK_DRAWS` draws of the model's and the baseline's score against
    ``real`` and of their classifier AUCs; both draw with the same seeds in each draw."""
    n_gen = GENERATED_PER_REAL * real.shape[0]
    out = []
    for k in range(CHECK_DRAWS):
        reports = [_report(real, _generate(m, n_gen, seed + offset + 100 * k), sampling_rate,
                           seed + k) for m in (model, baseline)]
        out.append([float(r.score()) for r in reports] + [_auc(r) for r in reports])
    return tuple(float(v) for v in np.mean(out, axis=0))


def heldout_check(model: Any, baseline: Any, val: torch.Tensor, sampling_rate: float, *,
                  seed: int = 0, train: torch.Tensor | None = None) -> HeldOutCheck:
    """Compare ``model`` and ``baseline`` with the held-out traces ``val`` (normalised) and,
    where given, with up to :data:`CHECK_TRAIN_EVENTS` evenly spaced ``train`` events.

    Both generate :data:`GENERATED_PER_REAL` times as many events as each real set holds,
    with the same seeds, on :data:`CHECK_DRAWS` draws; both are scored by the full
    validation suite, and the scores and AUCs are the means over the draws.
    """
    real = val.cpu().numpy()
    sm, sb, am, ab = _mean_scores(model, baseline, real, sampling_rate, seed, 7)
    n = int(real.shape[0])
    tm = tb = float("nan")
    n_train = 0
    if train is not None and train.shape[0] >= MIN_CHECK_EVENTS:
        seen = train[evenly_spaced(train.shape[0], CHECK_TRAIN_EVENTS, train.device)]
        seen = seen.cpu().numpy()
        n_train = int(seen.shape[0])
        tm, tb, _, _ = _mean_scores(model, baseline, seen, sampling_rate, seed, 77)
    worse_on_train = n_train > 0 and _worse(tm, tb)
    worse = _worse(sm, sb) or worse_on_train
    # a finding is as conclusive as the set that makes it: worse on fewer than
    # MIN_CHECK_EVENTS held-out events (and not on the training events) is not
    conclusive = (worse_on_train or n >= MIN_CHECK_EVENTS if worse
                  else n >= MIN_CHECK_EVENTS or n_train > 0)
    return HeldOutCheck(sm, sb, am, ab, n, worse, conclusive, tm, tb, n_train)
