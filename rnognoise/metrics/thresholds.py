"""Verdict thresholds of every metric (documented in docs/validation.md).

Every row is judged against a *centre* (what the number would be if the generated noise
were another sample of the real noise) and a *spread* (the standard deviation of the
number around that centre from sample size alone):

``difference`` rows (a signed difference generated - real, or a log rate ratio, of all
real events against all generated events)
    centre 0, spread the standard error of the difference (both sample sizes).
``distance`` rows (a distance that is positive even between two samples of one
distribution)
    centre the real-vs-real distance ``d(A, B)`` of the two real halves, rescaled to the
    sizes of the comparison (``d ~ sqrt(1/n + 1/m)``); spread the two standard errors
    added in quadrature.
``permutation`` rows (a distance whose null distribution is known better than one
real-vs-real split can tell, e.g. for a few dozen impulsive events)
    centre and spread the mean and standard deviation of the same distance between the
    real and generated events pooled and split at random (a permutation test); the
    real-vs-real value is shown beside it.

A row passes when ``value <= centre + max(k_pass * spread, floor_pass)``, warns when
``value <= centre + max(k_warn * spread, floor_warn)``, and fails otherwise. ``k_pass`` is
set so that about a hundred rows of a real-vs-real comparison rarely leave "pass"
(calibrated in bench/calibration.py); the floors are differences too small to matter for
RNO-G noise studies. A row whose statistical limit ``k_pass * spread`` is above its warn
floor is *sample-size limited*: a difference that matters could pass unseen, and the row
says so. The classifier test has absolute thresholds on the ROC AUC instead.

A row that pools what many rows see into one test (the event-level impulse rate) has a
lower ``k_pass``: it is one test instead of a dozen, so it can spend more of the
false-alarm budget (docs/validation.md, calibration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["C2ST_PASS", "C2ST_WARN", "K_PASS", "K_WARN", "THRESHOLDS", "VERDICT_ORDER",
           "Judgement", "Threshold", "assess", "judge", "pass_tolerance", "worst"]

#: ROC AUC of the classifier test up to which a set passes / warns.
C2ST_PASS: float = 0.55
C2ST_WARN: float = 0.65

#: Multiples of the spread for pass and warn (see the module docstring).
K_PASS: float = 3.5
K_WARN: float = 5.0

#: Verdicts from best to worst ("n/a" ranks below "pass" only for display).
VERDICT_ORDER: tuple[str, ...] = ("n/a", "pass", "warn", "fail")

_LN125 = math.log(1.25)
_LN15 = math.log(1.5)


@dataclass(frozen=True)
class Threshold:
    """Multiples of the spread, floors (metric units) and kind of one metric."""

    k_pass: float = K_PASS
    k_warn: float = K_WARN
    floor_pass: float = 0.0
    floor_warn: float = 0.0
    kind: str = "distance"


def _ratio(k_pass: float = K_PASS, k_warn: float = K_WARN) -> Threshold:
    return Threshold(k_pass, k_warn, floor_pass=_LN125, floor_warn=_LN15, kind="difference")


THRESHOLDS: dict[str, Threshold] = {
    "psd_median_abs_db": Threshold(floor_pass=0.25, floor_warn=1.0),
    "psd_max_abs_db": Threshold(floor_pass=1.0, floor_warn=3.0),
    "psd_geodesic": Threshold(floor_pass=0.05, floor_warn=0.15),
    "psd_tilt_db": Threshold(floor_pass=0.4, floor_warn=0.8, kind="difference"),
    "amplitude_w1": Threshold(floor_pass=0.02, floor_warn=0.05),
    "rms_rel_diff": Threshold(floor_pass=0.03, floor_warn=0.1),
    "skewness_diff": Threshold(floor_pass=0.02, floor_warn=0.1),
    "kurtosis_diff": Threshold(floor_pass=0.05, floor_warn=0.2),
    "event_gain_spread_diff": Threshold(floor_pass=0.004, floor_warn=0.01, kind="difference"),
    "peak_to_rms_w1": Threshold(floor_pass=0.05, floor_warn=0.2),
    "rate_above_4sigma_lnratio": _ratio(),
    "rate_above_5sigma_lnratio": _ratio(),
    "rate_above_6sigma_lnratio": _ratio(),
    # one pooled test (about 1 % false alarms at 2.5 standard errors, two-sided)
    "impulse_rate_lnratio": _ratio(k_pass=2.5, k_warn=3.5),
    "line_occupancy_lnratio": _ratio(),
    "line_power_db": Threshold(floor_pass=0.5, floor_warn=1.0, kind="difference"),
    "extra_lines": Threshold(k_pass=0.0, k_warn=0.0, floor_pass=0.5, floor_warn=1.5,
                             kind="difference"),
    "block_spread_w1": Threshold(floor_pass=0.01, floor_warn=0.03),
    # a fixed pattern of RMS 1 % (pass) and 3 % (warn) of the channel's noise
    "mean_trace_ms_diff": Threshold(floor_pass=1e-4, floor_warn=9e-4, kind="difference"),
    "xcorr_max_w1": Threshold(floor_pass=0.01, floor_warn=0.03),
    "impulse_lag_w1": Threshold(floor_pass=0.5e-9, floor_warn=1.5e-9, kind="permutation"),
    "zero_lag_corr_maxdiff": Threshold(floor_pass=0.02, floor_warn=0.05),
    "highlow_score_w1": Threshold(floor_pass=0.05, floor_warn=0.2),
    "power_score_w1": Threshold(floor_pass=0.1, floor_warn=0.4),
    "highlow_rate_lnratio": _ratio(),
    "power_rate_lnratio": _ratio(),
    "fpd": Threshold(floor_pass=0.05, floor_warn=0.2),
    "memorisation_closer_fraction": Threshold(floor_pass=0.05, floor_warn=0.15),
}


@dataclass(frozen=True)
class Judgement:
    """Verdict of one row and why.

    Attributes
    ----------
    verdict : str
        ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"``.
    centre, spread : float
        Expected value without a difference, and its spread from sample size.
    limit_pass, limit_warn : float
        Largest value that passes / warns.
    limited : bool
        The statistical limit ``k_pass * spread`` exceeds the warn floor: the sample is
        too small to resolve every difference that matters.
    reason : str
        One line: the value against the limit it crossed or kept.
    """

    verdict: str
    centre: float
    spread: float
    limit_pass: float
    limit_warn: float
    limited: bool
    reason: str


def threshold(name: str) -> Threshold:
    """The :class:`Threshold` of a metric (family names such as ``highlow_rate_lnratio``
    cover their rows ``highlow_rate_lnratio_at_1pct``)."""
    if name in THRESHOLDS:
        return THRESHOLDS[name]
    for key, value in THRESHOLDS.items():
        if name.startswith(key + "_"):
            return value
    return Threshold()


def assess(name: str, value: float, uncertainty: float, reference: float,
           reference_uncertainty: float, *, scale: float = 1.0,
           null: tuple[float, float] | None = None) -> Judgement:
    """Judge one row (see the module docstring).

    Parameters
    ----------
    name : str
        Metric name.
    value, uncertainty : float
        The number and its standard error.
    reference, reference_uncertainty : float
        Real-vs-real number and its standard error (the centre of a distance row).
    scale : float
        Factor taking the reference of a distance row to the sample sizes of ``value``.
    null : (float, float), optional
        Mean and standard deviation of the value under no difference (permutation rows);
        without it a permutation row is judged as a distance row.
    """
    nan = float("nan")
    if value is None or not math.isfinite(value):
        return Judgement("n/a", nan, nan, nan, nan, False, "could not be computed")
    if name == "c2st_auc":
        verdict = ("pass" if value <= C2ST_PASS else "warn" if value <= C2ST_WARN
                   else "fail")
        return Judgement(verdict, 0.5, _finite(uncertainty), C2ST_PASS, C2ST_WARN, False,
                         _reason(verdict, value, C2ST_PASS, C2ST_WARN, "absolute AUC limits"))
    t = threshold(name)
    if t.kind == "difference":
        centre, spread = 0.0, _finite(uncertainty)
        how = "centre"
    elif null is not None and math.isfinite(null[0]):
        centre, spread = float(null[0]), _finite(null[1])
        how = "permutation centre"
    else:
        centre = scale * _finite(reference)
        spread = math.hypot(_finite(uncertainty), scale * _finite(reference_uncertainty))
        how = "real-vs-real centre"
    limit_pass = centre + max(t.k_pass * spread, t.floor_pass)
    limit_warn = centre + max(t.k_warn * spread, t.floor_warn, t.floor_pass)
    verdict = "pass" if value <= limit_pass else "warn" if value <= limit_warn else "fail"
    limited = t.floor_warn > 0 and t.k_pass * spread > t.floor_warn
    how = (f"{how} {centre:.3g} + max({t.k_pass:g} x spread {spread:.2g}, "
           f"floor {t.floor_pass:.3g})")
    reason = _reason(verdict, value, limit_pass, limit_warn, how)
    if limited:
        reason += (f"; sample-size limited: resolves only differences above "
                   f"{t.k_pass * spread:.3g} (matters from {t.floor_warn:.3g})")
    return Judgement(verdict, centre, spread, limit_pass, limit_warn, limited, reason)


def _reason(verdict: str, value: float, limit_pass: float, limit_warn: float,
            how: str) -> str:
    if verdict == "pass":
        return f"{value:.3g} <= pass limit {limit_pass:.3g} ({how})"
    if verdict == "warn":
        return f"{value:.3g} > pass limit {limit_pass:.3g} ({how}), <= warn limit {limit_warn:.3g}"
    return f"{value:.3g} > warn limit {limit_warn:.3g} (pass limit {limit_pass:.3g}: {how})"


def judge(name: str, value: float, uncertainty: float, reference: float,
          reference_uncertainty: float, *, scale: float = 1.0) -> str:
    """Verdict ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"`` of one metric row."""
    return assess(name, value, uncertainty, reference, reference_uncertainty,
                  scale=scale).verdict


def pass_tolerance(name: str, uncertainty: float, reference_uncertainty: float,
                   *, scale: float = 1.0) -> float:
    """The allowed excess over the centre for a pass: ``max(k_pass * spread, floor_pass)``."""
    t = threshold(name)
    if t.kind == "difference":
        spread = _finite(uncertainty)
    else:
        spread = math.hypot(_finite(uncertainty), scale * _finite(reference_uncertainty))
    return max(t.k_pass * spread, t.floor_pass, 1e-12)


def worst(verdicts: list[str]) -> str:
    """The worst verdict of a list (``"n/a"`` when empty or all n/a)."""
    return max(verdicts, key=VERDICT_ORDER.index, default="n/a")


def _finite(x: float | None) -> float:
    return float(x) if x is not None and math.isfinite(x) else 0.0
