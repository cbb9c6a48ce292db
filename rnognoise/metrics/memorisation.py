"""Memorisation check: are generated events closer to the training events than new real ones?

A model that reproduces (near-)copies of its training events can pass every distribution
check, since copies have exactly the real distribution. The check embeds every event
cheaply (:func:`embed`), finds for each generated event the distance to its nearest
training event, and compares these with the same distances of *held-out* real events to
the training events. A model that draws new events is about as far from the training set
as held-out data is (or further); a copying model is much closer.

The statistic is the fraction of generated events closer to the training set than the
5 % quantile of the held-out distances: about 0.05 for a model as new as real data, near 1
for a copier. Without a known split, each real event's nearest *other* real event plays
the held-out part (leave-one-out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dsp import periodogram
from .rows import RowBuilder

__all__ = ["QUANTILE", "MemorisationResult", "embed", "memorisation_check",
           "memorisation_row", "nearest_distances", "split_from_provenance"]

#: Quantile of the held-out distances below which generated events count as "too close".
QUANTILE = 0.05


@dataclass
class MemorisationResult:
    """Outcome of :func:`memorisation_check`.

    Attributes
    ----------
    closer_fraction, closer_fraction_err : float
        Fraction of generated events nearer to the training set than the
        :data:`QUANTILE` point of the held-out distances, and its binomial error (both
        sample sizes).
    expected : float
        :data:`QUANTILE`: the fraction for a model as new as held-out data.
    median_ratio : float
        Median generated distance / median held-out distance (about 1 or above: new
        events; far below 1: copies).
    mode : str
        ``"split"`` (training / held-out events from the model's provenance) or
        ``"leave-one-out"`` (split unknown).
    n_training, n_heldout, n_generated : int
        Events used.
    note : str
        How the training events were found.
    generated_distances, heldout_distances : numpy.ndarray
        The nearest-neighbour distances (embedding units), for plots.
    """

    closer_fraction: float
    closer_fraction_err: float
    expected: float
    median_ratio: float
    mode: str
    n_training: int
    n_heldout: int
    n_generated: int
    note: str
    generated_distances: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    heldout_distances: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict[str, Any]:
        """Numbers and distance quantiles (not the distances themselves)."""
        q = [0.01, 0.05, 0.25, 0.5]
        return {"closer_fraction": self.closer_fraction,
                "closer_fraction_err": self.closer_fraction_err, "expected": self.expected,
                "median_ratio": self.median_ratio, "mode": self.mode,
                "n_training": self.n_training, "n_heldout": self.n_heldout,
                "n_generated": self.n_generated, "note": self.note,
                "quantile_levels": q,
                "generated_quantiles": np.quantile(self.generated_distances, q).tolist(),
                "heldout_quantiles": np.quantile(self.heldout_distances, q).tolist()}


def embed(traces: np.ndarray, sampling_rate: float, band: tuple[float, float],
          stats: tuple[np.ndarray, np.ndarray] | None = None, *, n_dim: int = 256,
          seed: int = 0, chunk: int = 1000) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Cheap per-event embedding: whitened in-band log periodograms, randomly projected.

    Per event and channel the log periodogram inside ``band``; each feature is
    standardised with ``stats`` (mean, std; default from these traces, then returned)
    and the ``n_channels x n_bins`` features are projected to ``n_dim`` dimensions with a
    seeded Gaussian matrix, which keeps distances (Johnson-Lindenstrauss). Insensitive to
    time shifts and signs of a copied event; out-of-band bins, where a tiny added noise
    would dominate, are left out.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)``, V.
    sampling_rate : float, Hz
        Sampling rate.
    band : (float, float), Hz
        Analysis band.
    """
    parts = []
    for lo in range(0, len(traces), chunk):
        freqs, p = periodogram(np.asarray(traces[lo:lo + chunk], np.float64), sampling_rate)
        mask = (freqs >= band[0]) & (freqs <= band[1])
        parts.append(np.log(p[..., mask] + 1e-300).reshape(p.shape[0], -1))
    feats = np.concatenate(parts)
    if stats is None:
        std = feats.std(0)
        stats = (feats.mean(0), np.where(std > 0, std, 1.0))
    feats = (feats - stats[0]) / stats[1]
    proj = np.random.default_rng(seed).standard_normal((feats.shape[1], n_dim)) / math.sqrt(n_dim)
    return (feats @ proj).astype(np.float64), stats


def nearest_distances(query: np.ndarray, reference: np.ndarray, *,
                      exclude_self: bool = False, chunk: int = 2000) -> np.ndarray:
    """Euclidean distance of every query row to its nearest reference row.

    With ``exclude_self`` the query is the reference and each row's own distance (0) is
    skipped (leave-one-out).
    """
    ref_sq = np.sum(reference ** 2, axis=1)
    out = np.empty(len(query))
    for lo in range(0, len(query), chunk):
        q = query[lo:lo + chunk]
        d2 = np.sum(q ** 2, axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ reference.T
        if exclude_self:
            idx = np.arange(lo, lo + len(q))
            d2[np.arange(len(q)), idx] = np.inf
        out[lo:lo + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def split_from_provenance(provenance: dict[str, Any] | None, n_events: int,
                          ) -> tuple[np.ndarray, np.ndarray] | str:
    """Training and held-out event indices from a model's ``provenance["split"]``.

    Returns ``(training, heldout)``, or a sentence saying why the split cannot be used.
    """
    split = (provenance or {}).get("split")
    if not isinstance(split, dict) or "validation_indices" not in split:
        return "the model file records no training split"
    if int(split.get("n_events", -1)) != n_events:
        return (f"the model was trained on {split.get('n_events')} events, the real file "
                f"holds {n_events}: not the training file")
    held = np.unique(np.asarray(split["validation_indices"], np.int64))
    if held.size == 0 or held.min() < 0 or held.max() >= n_events:
        return "the recorded validation indices do not fit the real file"
    train = np.setdiff1d(np.arange(n_events), held)
    if train.size == 0:
        return "the recorded split leaves no training event"
    return train, held


def memorisation_check(real: np.ndarray, generated: np.ndarray, sampling_rate: float,
                       band: tuple[float, float], *,
                       split: tuple[np.ndarray, np.ndarray] | None = None,
                       note: str = "", max_events: int = 2000,
                       seed: int = 0) -> MemorisationResult:
    """Nearest-training-event distances of generated versus held-out real events.

    Parameters
    ----------
    real, generated : numpy.ndarray
        ``(n_events, n_channels, n_samples)``, V.
    sampling_rate : float, Hz
        Sampling rate.
    band : (float, float), Hz
        Analysis band of the embedding.
    split : (numpy.ndarray, numpy.ndarray), optional
        Training and held-out event indices of ``real``; without it each real event is
        compared with its nearest other real event (leave-one-out).
    note : str
        How the split was found (or why not), kept in the result.
    max_events : int
        At most this many events of each part are used (chosen at random).
    seed : int
        Seed of the subsets and the projection.
    """
    rng = np.random.default_rng(seed)

    def cap(idx: np.ndarray) -> np.ndarray:
        return np.sort(rng.choice(idx, max_events, replace=False)) if idx.size > max_events \
            else idx

    gen_idx = cap(np.arange(len(generated)))
    if split is not None:
        train_idx, held_idx = cap(np.asarray(split[0])), cap(np.asarray(split[1]))
        mode = "split"
    else:
        train_idx = held_idx = cap(np.arange(len(real)))
        mode = "leave-one-out"
    train, stats = embed(real[train_idx], sampling_rate, band, seed=seed)
    gen, _ = embed(generated[gen_idx], sampling_rate, band, stats, seed=seed)
    if mode == "split":
        held, _ = embed(real[held_idx], sampling_rate, band, stats, seed=seed)
        d_held = nearest_distances(held, train)
    else:
        d_held = nearest_distances(train, train, exclude_self=True)
    d_gen = nearest_distances(gen, train)
    cut = float(np.quantile(d_held, QUANTILE))
    frac = float(np.mean(d_gen < cut))
    err = math.sqrt(QUANTILE * (1 - QUANTILE) * (1.0 / d_gen.size + 1.0 / d_held.size) +
                    frac * (1 - frac) / d_gen.size)
    ratio = float(np.median(d_gen) / max(np.median(d_held), 1e-300))
    return MemorisationResult(frac, err, QUANTILE, ratio, mode, int(train_idx.size),
                              int(held_idx.size), int(gen_idx.size), note, d_gen, d_held)


def memorisation_row(rows: RowBuilder, result: MemorisationResult) -> None:
    """Add the judged ``memorisation_closer_fraction`` row."""
    part = ("held-out real events (the model's recorded split)" if result.mode == "split"
            else "real events to their nearest other real event (split unknown)")
    rows.add("memorisation_closer_fraction", "memorisation", None,
             (result.closer_fraction, result.closer_fraction_err), (result.expected, 0.0),
             "fraction",
             f"fraction of generated events nearer to a training event than the "
             f"{QUANTILE:.0%} point of the same distance for {part}; median distance "
             f"ratio generated/held-out {result.median_ratio:.3g}", scale=1.0)
