"""Verdict thresholds of every metric (documented in docs/validation.md).

Most metrics are distances ``d(A, X)`` between the real half A and a set X; the
reference is ``d(A, B)`` with B the other real half. With ``tol`` the two
uncertainties added in quadrature, a row passes when::

    value <= reference + max(k_pass * tol, floor_pass)

warns when ``value <= reference + max(k_warn * tol, floor_warn)`` and fails otherwise.
The floors are the differences too small to matter for RNO-G noise studies, so huge
samples do not fail a model for a difference nobody could see in an analysis. The
classifier test has absolute thresholds on the ROC AUC instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["C2ST_PASS", "C2ST_WARN", "THRESHOLDS", "VERDICT_ORDER", "Threshold", "judge",
           "pass_tolerance", "worst"]

#: ROC AUC of the classifier test up to which a set passes / warns.
C2ST_PASS: float = 0.55
C2ST_WARN: float = 0.65

#: Verdicts from best to worst ("n/a" ranks below "pass" only for display).
VERDICT_ORDER: tuple[str, ...] = ("n/a", "pass", "warn", "fail")


@dataclass(frozen=True)
class Threshold:
    """Multiples of the combined uncertainty and floors (metric units) of one metric."""

    k_pass: float = 2.5
    k_warn: float = 4.0
    floor_pass: float = 0.0
    floor_warn: float = 0.0


THRESHOLDS: dict[str, Threshold] = {
    "psd_median_abs_db": Threshold(floor_pass=0.25, floor_warn=1.0),
    "psd_max_abs_db": Threshold(floor_pass=1.0, floor_warn=3.0),
    "psd_geodesic": Threshold(floor_pass=0.05, floor_warn=0.15),
    "amplitude_w1": Threshold(floor_pass=0.02, floor_warn=0.05),
    "rms_rel_diff": Threshold(floor_pass=0.03, floor_warn=0.1),
    "skewness_diff": Threshold(floor_pass=0.02, floor_warn=0.1),
    "kurtosis_diff": Threshold(floor_pass=0.05, floor_warn=0.2),
    "peak_to_rms_w1": Threshold(floor_pass=0.05, floor_warn=0.2),
    "rate_above_4sigma_diff": Threshold(floor_pass=0.005, floor_warn=0.02),
    "rate_above_5sigma_diff": Threshold(floor_pass=0.002, floor_warn=0.01),
    "rate_above_6sigma_diff": Threshold(floor_pass=0.002, floor_warn=0.01),
    "line_occupancy_diff": Threshold(floor_pass=0.03, floor_warn=0.1),
    "extra_lines": Threshold(floor_pass=0.5, floor_warn=1.5),
    "block_spread_w1": Threshold(floor_pass=0.01, floor_warn=0.03),
    "xcorr_max_w1": Threshold(floor_pass=0.01, floor_warn=0.03),
    "zero_lag_corr_maxdiff": Threshold(floor_pass=0.02, floor_warn=0.05),
    "highlow_score_w1": Threshold(floor_pass=0.05, floor_warn=0.2),
    "power_score_w1": Threshold(floor_pass=0.1, floor_warn=0.4),
    "highlow_rate_diff_at_1pct": Threshold(floor_pass=0.003, floor_warn=0.01),
    "power_rate_diff_at_1pct": Threshold(floor_pass=0.003, floor_warn=0.01),
    "fpd": Threshold(floor_pass=0.05, floor_warn=0.2),
}


def _threshold(name: str) -> Threshold:
    return THRESHOLDS.get(name, Threshold())


def pass_tolerance(name: str, uncertainty: float, reference_uncertainty: float) -> float:
    """The allowed excess over the reference for a pass: ``max(k_pass * tol, floor_pass)``."""
    t = _threshold(name)
    tol = math.hypot(_finite(uncertainty), _finite(reference_uncertainty))
    return max(t.k_pass * tol, t.floor_pass, 1e-12)


def judge(name: str, value: float, uncertainty: float, reference: float,
          reference_uncertainty: float) -> str:
    """Verdict ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"`` of one metric row."""
    if not math.isfinite(value):
        return "n/a"
    if name == "c2st_auc":
        return "pass" if value <= C2ST_PASS else "warn" if value <= C2ST_WARN else "fail"
    t = _threshold(name)
    ref = _finite(reference)
    tol = math.hypot(_finite(uncertainty), _finite(reference_uncertainty))
    if value <= ref + max(t.k_pass * tol, t.floor_pass):
        return "pass"
    if value <= ref + max(t.k_warn * tol, t.floor_warn):
        return "warn"
    return "fail"


def worst(verdicts: list[str]) -> str:
    """The worst verdict of a list (``"n/a"`` when empty or all n/a)."""
    return max(verdicts, key=VERDICT_ORDER.index, default="n/a")


def _finite(x: float) -> float:
    return float(x) if x is not None and math.isfinite(x) else 0.0
