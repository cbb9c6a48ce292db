"""``compare_by_condition``: :func:`compare` run separately per station, LST bin, ...

Noise depends on where and when it was recorded (:mod:`rnognoise.conditions`). A model
that matches the real noise on average can still be wrong for one station or one range
of local sidereal time. :func:`compare_by_condition` splits both sets into groups of
condition values and runs the full :func:`~rnognoise.metrics.compare` on every group, so
that each group is judged against its own real-vs-real reference. Beside the verdicts it
tabulates the mean band power of every group, real and generated, so that "power versus
LST" or "power versus station" can be plotted and its ratio read in dB.

Grouping
--------
categorical (integer, boolean, string columns such as ``station``)
    One group per value.
``lst`` (cyclic, hours)
    ``lst_bins`` equal bins of ``24 / lst_bins`` hours, ``[0, 24/lst_bins)``, ...
other float columns
    ``bins`` quantile bins of the *real* values; the same edges are applied to the
    generated values (values beyond the real range fall into the outer bins).
``channel_group``
    The channels are split into the RNO-G channel groups present in the data; each
    event group is compared once per channel group.

Several conditions combine: one group per combination that occurs in either set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..conditions import parse_condition_names, resolve_specs
from ..errors import ConfigError
from ..io import TraceSet
from ._common import SmallSampleWarning
from ._format import fixed_width, jsonable, num, pm
from .compare import check_compatible, compare
from .condition_groups import (
    axis_for,
    band_power,
    band_power_summary,
    describe,
    group_keys,
    real_passband,
    with_columns,
)
from .fidelity import FidelityReport
from .thresholds import VERDICT_ORDER, worst

__all__ = ["HEADLINE_METRICS", "ConditionGroup", "ConditionalReport", "compare_by_condition"]

#: Metrics of :func:`compare` summarised per group (worst row of each).
HEADLINE_METRICS: tuple[str, ...] = ("psd_median_abs_db", "rms_rel_diff", "amplitude_w1",
                                     "line_occupancy_lnratio")

@dataclass
class ConditionGroup:
    """One combination of condition values and how the generated noise fares in it.

    Attributes
    ----------
    label : str
        ``"station=11, lst=0-6 h"``.
    values : dict
        Condition name -> value: the category, ``[low, high]`` of a binned condition
        (hours for ``lst``), or the channel-group name.
    channels : list of int
        Channel ids compared in this group (all, unless grouped by ``channel_group``).
    n_real, n_generated : int
        Events of each set in the group.
    verdict : str
        Worst verdict of the group's :class:`FidelityReport` (``"n/a"`` when skipped).
    score : float
        :meth:`FidelityReport.score` of the group (NaN when skipped).
    headline : dict
        For each of :data:`HEADLINE_METRICS`: ``value``, ``reference`` (real vs real),
        ``where``, ``verdict`` and ``unit`` of its worst row, and ``by_channel``
        (channel id -> largest value); None when the metric has no row (e.g. no line).
    band_power : dict
        Mean band power per channel (in the order of ``channels``), V^2: ``real``,
        ``real_err``, ``generated``, ``generated_err`` (standard errors of the means over
        events), and ``ratio_db``, ``ratio_db_err``: ``10 log10(generated / real)``.
    band_power_mean : dict
        The same keys for the power averaged over the group's channels.
    issues : list of str
        ``"metric verdict: where, where"`` for every metric with warn/fail rows, fails
        first (``"rms_rel_diff fail: ch 0, ch 3"``).
    warnings : list of str
        Small-sample warnings raised while comparing the group.
    skipped : str or None
        Why the group was not compared (too few events), else None.
    report : FidelityReport or None
        The group's full report (not serialised).
    """

    label: str
    values: dict[str, Any]
    channels: list[int]
    n_real: int
    n_generated: int
    verdict: str = "n/a"
    score: float = float("nan")
    headline: dict[str, Any] = field(default_factory=dict)
    band_power: dict[str, list[float]] = field(default_factory=dict)
    band_power_mean: dict[str, float] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None
    report: FidelityReport | None = field(default=None, repr=False, compare=False)

    @property
    def evaluated(self) -> bool:
        """True when the group was compared (not skipped)."""
        return self.skipped is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None; the full report left out)."""
        out = asdict(self)
        out.pop("report")
        out["result"] = out.pop("verdict")  # a group result; the report has one verdict
        out["evaluated"] = self.evaluated
        return jsonable(out)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ConditionGroup:
        """Rebuild from :meth:`to_dict` output (None read back as NaN)."""
        return cls(
            label=str(values["label"]), values=dict(values["values"]),
            channels=[int(c) for c in values["channels"]], n_real=int(values["n_real"]),
            n_generated=int(values["n_generated"]), verdict=str(values.get("result", values.get("verdict"))),
            score=_float(values["score"]), headline=dict(values.get("headline") or {}),
            band_power={k: [_float(x) for x in v]
                        for k, v in (values.get("band_power") or {}).items()},
            band_power_mean={k: _float(v)
                             for k, v in (values.get("band_power_mean") or {}).items()},
            issues=list(values.get("issues") or []), warnings=list(values.get("warnings") or []),
            skipped=values.get("skipped"))


@dataclass
class ConditionalReport:
    """Result of :func:`compare_by_condition`: one :class:`ConditionGroup` per combination.

    ``verdict`` is the worst verdict of the compared groups; ``score()`` the largest
    group score (the worst group, consistent with the verdict; ``mean_score()`` gives the
    mean). Skipped groups count in neither.
    """

    by: list[str]
    kinds: dict[str, str]
    groups: list[ConditionGroup]
    band: tuple[float, float]
    channels: list[int]
    sampling_rate: float
    lst_bins: int
    bins: int
    min_events: int
    seed: int = 0
    quick: bool = True
    sources: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluated(self) -> list[ConditionGroup]:
        """The groups that were compared."""
        return [g for g in self.groups if g.evaluated]

    @property
    def skipped(self) -> list[ConditionGroup]:
        """The groups left out for too few events."""
        return [g for g in self.groups if not g.evaluated]

    @property
    def verdict(self) -> str:
        """Worst verdict of the compared groups (``"n/a"`` when none was compared)."""
        return worst([g.verdict for g in self.evaluated])

    def score(self) -> float:
        """Largest :meth:`FidelityReport.score` of the compared groups (NaN if none)."""
        scores = [g.score for g in self.evaluated if math.isfinite(g.score)]
        return float(max(scores)) if scores else float("nan")

    def mean_score(self) -> float:
        """Mean :meth:`FidelityReport.score` of the compared groups (NaN if none)."""
        scores = [g.score for g in self.evaluated if math.isfinite(g.score)]
        return float(np.mean(scores)) if scores else float("nan")

    def group(self, label: str) -> ConditionGroup:
        """The group with this label.

        Raises
        ------
        KeyError
            No such group.
        """
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(f"no group {label!r}; groups: {[g.label for g in self.groups]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None)."""
        return jsonable({
            "by": self.by, "kinds": self.kinds, "worst_group_result": self.verdict,
            "score": self.score(), "mean_score": self.mean_score(),
            "score_rule": "largest group score (worst group)",
            "band_hz": list(self.band), "channels": self.channels,
            "sampling_rate_hz": self.sampling_rate, "lst_bins": self.lst_bins,
            "bins": self.bins, "min_events": self.min_events, "seed": self.seed,
            "quick": self.quick, "sources": self.sources,
            "groups": [g.to_dict() for g in self.groups],
        })

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ConditionalReport:
        """Rebuild from :meth:`to_dict` output (e.g. the ``by_condition`` key of metrics.json)."""
        try:
            return cls(
                by=[str(b) for b in values["by"]], kinds=dict(values["kinds"]),
                groups=[ConditionGroup.from_dict(g) for g in values["groups"]],
                band=(float(values["band_hz"][0]), float(values["band_hz"][1])),
                channels=[int(c) for c in values["channels"]],
                sampling_rate=float(values["sampling_rate_hz"]),
                lst_bins=int(values["lst_bins"]), bins=int(values["bins"]),
                min_events=int(values["min_events"]), seed=int(values["seed"]),
                quick=bool(values["quick"]), sources=dict(values.get("sources") or {}))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"invalid per-condition report ({exc!r})") from None

    def table(self) -> str:
        """Fixed-width text: one row per group, then the band-power ratio per channel."""
        lo, hi = self.band[0] / 1e6, self.band[1] / 1e6
        head = ("group", "real", "gen", "result", "score", "psd |dB|", "rms diff", "amp W1",
                "line occ", "P real (mV²)", "P gen/real (dB)")
        rows = [head]
        for g in self.groups:
            if not g.evaluated:
                rows.append((g.label, str(g.n_real), str(g.n_generated), "skipped",
                             *([""] * (len(head) - 4))))
                continue
            bp = g.band_power_mean
            rows.append((g.label, str(g.n_real), str(g.n_generated), g.verdict,
                         num(g.score), *(_headline_text(g.headline.get(m))
                                          for m in HEADLINE_METRICS),
                         num(_scale(bp.get("real"), 1e6)),
                         pm(bp.get("ratio_db"), bp.get("ratio_db_err"), "+.2f")))
        text = [f"Per condition ({', '.join(self.by)}): worst group result "
                f"{self.verdict.upper()}, "
                f"score {num(self.score())} (worst group); band {lo:.0f}-{hi:.0f} MHz; "
                f"headline numbers: worst row (real-vs-real in brackets)", ""]
        text += fixed_width(rows)
        for g in self.skipped:
            text.append(f"skipped {g.label}: {g.skipped}")
        evaluated = self.evaluated
        if evaluated:
            text += ["", "Band power gen/real (dB) per channel"]
            chans = self.channels
            rows = [("group", *(f"ch {c}" for c in chans))]
            for g in evaluated:
                by_ch = dict(zip(g.channels, g.band_power.get("ratio_db", []), strict=False))
                rows.append((g.label, *(pm(by_ch[c], None, "+.2f") if c in by_ch else "-"
                                        for c in chans)))
            text += fixed_width(rows)
        return "\n".join(text)

    def __str__(self) -> str:
        return self.table()


def compare_by_condition(real: TraceSet, generated: TraceSet, by: Sequence[str] | str, *,
                         lst_bins: int = 4, bins: int = 4, seed: int = 0, quick: bool = True,
                         min_events: int = 50, **compare_kwargs: Any) -> ConditionalReport:
    """Compare generated with real noise separately for every group of condition values.

    Parameters
    ----------
    real, generated : TraceSet
        Traces in volts; their ``events`` carry the condition columns (``lst`` is
        derived from ``readout_time`` where absent).
    by : sequence of str or str
        Condition names (``["station", "lst"]`` or ``"station,lst"``).
    lst_bins : int
        Number of equal local-sidereal-time bins (each ``24 / lst_bins`` hours).
    bins : int
        Number of quantile bins (of the real values) for other float columns.
    seed : int
        Passed to every :func:`compare`.
    quick : bool
        Passed to every :func:`compare` (default True: no classifier test, Frechet
        distance or trigger curves per group).
    min_events : int
        Groups with fewer events than this in either set are listed as skipped.
    **compare_kwargs
        Further arguments of :func:`compare` (``band``, ``c2st``, ``n_boot``, ``nperseg``,
        ``max_lag``). Without ``band``, the band of the whole real set is used for every
        group, so that the groups' spectral numbers and band powers are comparable.

    Returns
    -------
    ConditionalReport

    Raises
    ------
    ConfigError
        A condition column is missing from either set (the message names the set, its
        source and its columns), holds missing values, or the sets cannot be compared.

    Notes
    -----
    Small-sample warnings of the groups are not re-emitted; they are kept in each
    group's ``warnings``.

    Examples
    --------
    >>> cond = compare_by_condition(real, generated, ["station", "lst"])  # doctest: +SKIP
    >>> print(cond.table())  # doctest: +SKIP
    """
    names = parse_condition_names(by)
    if not names:
        raise ConfigError("no condition to group by")
    for label, value, least in (("lst_bins", lst_bins, 1), ("bins", bins, 1),
                                ("min_events", min_events, 4)):
        if int(value) != value or value < least:
            raise ConfigError(f"{label} must be an integer >= {least}, got {value!r}")
    generated = check_compatible(real, generated)
    real_events = with_columns(real, names, "real")
    gen_events = with_columns(generated, names, "generated")
    specs = resolve_specs(names, real_events, source=describe(real, "real"))
    axes = [axis_for(s, real_events, gen_events, real, generated, lst_bins, bins) for s in specs]

    nperseg = int(compare_kwargs.get("nperseg", 256))
    band = compare_kwargs.pop("band", None)
    if band is None:
        band = real_passband(real, nperseg)
    band = (float(band[0]), float(band[1]))
    bp_real = band_power(real, band, nperseg)
    bp_gen = band_power(generated, band, nperseg)

    channel_index = {int(c): i for i, c in enumerate(real.channels)}
    groups = []
    for key in group_keys(axes):
        mask_r = np.ones(real.n_events, bool)
        mask_g = np.ones(generated.n_events, bool)
        channels = [int(c) for c in real.channels]
        labels, values = [], {}
        for axis, code in zip(axes, key, strict=True):
            labels.append(axis.labels[code])
            values[axis.name] = axis.values[code]
            if axis.channel_sets is not None:
                channels = axis.channel_sets[code]
            else:
                mask_r &= axis.real_codes == code
                mask_g &= axis.gen_codes == code
        cols = [channel_index[c] for c in channels]
        group = ConditionGroup(", ".join(labels), values, channels, int(mask_r.sum()),
                               int(mask_g.sum()))
        group.band_power, group.band_power_mean = band_power_summary(bp_real[mask_r][:, cols],
                                                                      bp_gen[mask_g][:, cols])
        if group.n_real < min_events or group.n_generated < min_events:
            group.skipped = (f"{group.n_real} real / {group.n_generated} generated events; "
                             f"need at least {min_events} in each (min_events)")
        else:
            _evaluate(group, real, generated, mask_r, mask_g, channels, seed=seed, quick=quick,
                      band=band, **compare_kwargs)
        groups.append(group)
    return ConditionalReport(
        by=names, kinds={s.name: s.kind for s in specs}, groups=groups, band=band,
        channels=[int(c) for c in real.channels], sampling_rate=real.sampling_rate,
        lst_bins=int(lst_bins), bins=int(bins), min_events=int(min_events), seed=seed,
        quick=quick, sources={"real": real.source, "generated": generated.source})


# ------------------------------------------------------------------ per group
def _evaluate(group: ConditionGroup, real: TraceSet, generated: TraceSet, mask_r: np.ndarray,
              mask_g: np.ndarray, channels: list[int], **kwargs: Any) -> None:
    sub_r = real[np.flatnonzero(mask_r)]
    sub_g = generated[np.flatnonzero(mask_g)]
    if len(channels) != real.n_channels:
        sub_r, sub_g = sub_r.select_channels(channels), sub_g.select_channels(channels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # kept in report.warnings
        report = compare(sub_r, sub_g, **kwargs)
    group.report = report
    group.verdict = report.verdict
    group.score = report.score()
    group.headline = {m: _headline(report, m) for m in HEADLINE_METRICS}
    where: dict[tuple[str, str], list[str]] = {}
    for r in report.rows:
        if r.verdict in ("warn", "fail"):
            where.setdefault((r.verdict, r.name), []).append(r.where)
    order = sorted(where, key=lambda k: -VERDICT_ORDER.index(k[0]))
    group.issues = [f"{name} {verdict}: {', '.join(where[verdict, name])}"
                    for verdict, name in order]
    group.warnings = list(report.warnings)


def _headline(report: FidelityReport, name: str) -> dict[str, Any] | None:
    rows = [r for r in report.rows_named(name) if math.isfinite(r.value)]
    if not rows:
        return None
    top = max(rows, key=lambda r: (VERDICT_ORDER.index(r.verdict), r.value))
    by_channel: dict[str, float] = {}
    for r in rows:
        if r.channel is not None:
            key = str(r.channel)
            by_channel[key] = max(by_channel.get(key, -math.inf), r.value)
    return {"value": top.value, "reference": top.reference, "where": top.where,
            "result": top.verdict, "unit": top.unit, "by_channel": by_channel}


# ------------------------------------------------------------------ formatting
def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _scale(x: float | None, factor: float) -> float | None:
    return None if x is None else x * factor


def _headline_text(h: dict[str, Any] | None) -> str:
    if not h:
        return "-"
    return f"{num(h['value'])} ({num(h['reference'])})"
