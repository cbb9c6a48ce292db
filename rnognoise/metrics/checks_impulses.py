"""Row builders of the impulsive events: their rate, and their inter-channel delays.

Impulsive events are those with coincident peaks beyond 5 real RMS in at least two
channels (:mod:`.impulses`). Their rate is one event-level test, generated / real with
binomial errors, instead of one row per channel and threshold that all count the same
few dozen events; their delays are compared pair by pair by a distance judged against a
permutation null. As elsewhere ``sr`` summarises all real events, ``sa``/``sb`` the real
halves and ``sg`` the generated events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks_rates import ratio_row
from .impulses import (
    IMPULSE_MIN_CHANNELS,
    IMPULSE_SIGMA,
    MIN_IMPULSIVE_EVENTS,
    lag_distance,
    permutation_null,
)
from .rows import RowBuilder
from .summary import SetSummary

__all__ = ["impulse_rows"]

#: Random splits of the pooled impulsive events for the delay test's null distribution.
N_PERMUTATIONS = 200


def _lags(s: SetSummary) -> np.ndarray:
    assert s.lag is not None and s.impulsive is not None
    return s.lag[s.impulsive]


def impulse_rows(rows: RowBuilder, details: dict[str, Any], sr: SetSummary, sa: SetSummary,
                 sb: SetSummary, sg: SetSummary, pairs: list[tuple[int, int]],
                 channels: np.ndarray, seed: int) -> None:
    """The event-level impulse rate and the delays of impulsive events between channels."""
    if any(s.impulsive is None for s in (sr, sa, sb, sg)):
        return
    k = {key: int(np.sum(s.impulsive)) for key, s in
         (("r", sr), ("a", sa), ("b", sb), ("g", sg))}
    need = min(IMPULSE_MIN_CHANNELS, len(channels))
    what = (f"of impulsive events ({need} or more channels peaking beyond "
            f"{IMPULSE_SIGMA:g} x real RMS in coincidence)")
    ratio_row(rows, "impulse_rate_lnratio", "tails", None,
              (k["r"], sr.n_events, k["g"], sg.n_events),
              (k["a"], sa.n_events, k["b"], sb.n_events), what)
    details["impulses"] = {"real": k["r"], "generated": k["g"], "n_real": sr.n_events,
                           "n_generated": sg.n_events}
    if not pairs or sr.lag is None:
        return
    rng = np.random.default_rng(seed + 70)
    lr, lg, la, lb = (_lags(s) for s in (sr, sg, sa, sb))
    value, ref = lag_distance(lr, lg), lag_distance(la, lb)
    null = permutation_null(lr, lg, n_perm=N_PERMUTATIONS, rng=rng)
    ref_null = permutation_null(la, lb, n_perm=N_PERMUTATIONS, rng=rng)
    text = (f"1-Wasserstein distance of the inter-channel delays of impulsive events, "
            f"averaged over {len(pairs)} channel pairs (lag of the largest cross-correlation "
            f"around the pulse; real {k['r']}, generated {k['g']} impulsive events); judged "
            f"against random splits of both sets' impulsive events pooled")
    if not np.isfinite(value):
        text += (f"; n/a: fewer than {MIN_IMPULSIVE_EVENTS} impulsive events with a delay "
                 "in a set")
    rows.add("impulse_lag_w1", "crosschannel", None, (value, null[1]), (ref, ref_null[1]),
             "s", text, null=null)

    def mean_lags(x: np.ndarray) -> list[float | None]:
        finite = np.isfinite(x)
        return [float(x[finite[:, p], p].mean()) if finite[:, p].any() else None
                for p in range(x.shape[1])]

    details["impulses"].update({
        "pairs": [(int(channels[i]), int(channels[j])) for i, j in pairs],
        "mean_lag_real_s": mean_lags(lr), "mean_lag_generated_s": mean_lags(lg)})
