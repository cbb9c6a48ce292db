"""The result type of :func:`~rnognoise.metrics.compare`: rows, plot data, sizes, provenance."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..fileutil import atomic_output
from ._format import fixed_width, jsonable, pm
from .rows import MetricRow
from .thresholds import VERDICT_ORDER, worst

__all__ = ["FidelityReport"]

_EXCLUDED_FROM_JSON = ("examples",)


@dataclass
class FidelityReport:
    """Result of :func:`~rnognoise.metrics.compare`: metric rows, plot data, sizes, provenance.

    ``band_reason`` says how the analysis band was chosen.
    """

    rows: list[MetricRow]
    details: dict[str, Any]
    sizes: dict[str, int]
    sampling_rate: float
    channels: list[int]
    band: tuple[float, float]
    provenance_real: dict[str, Any]
    provenance_generated: dict[str, Any]
    seed: int = 0
    quick: bool = False
    warnings: list[str] = field(default_factory=list)
    band_reason: str = ""

    @property
    def verdict(self) -> str:
        """Worst verdict of all rows."""
        return worst([r.verdict for r in self.rows])

    def score(self) -> float:
        """One scalar, lower is better (0: as close as real data to itself).

        For each judged row its excess over the centre in units of its pass tolerance,
        ``max(0, value - centre) / (limit_pass - centre)`` (:attr:`MetricRow.excess`);
        averaged within each metric group, then over groups, so that a group with many
        rows (channels, pairs, lines) weighs as much as one with a single row. A value of
        1 means "at the edge of pass" on average.
        """
        per_group: dict[str, list[float]] = {}
        for r in self.rows:
            z = r.excess
            if math.isfinite(z):
                per_group.setdefault(r.group, []).append(z)
        if not per_group:
            return float("nan")
        return float(np.mean([np.mean(v) for v in per_group.values()]))

    def rows_named(self, name: str) -> list[MetricRow]:
        """All rows of one metric (``name`` or its family, e.g. ``power_rate_lnratio``)."""
        return [r for r in self.rows if r.name == name or r.name.startswith(name + "_at_")]

    def flagged(self) -> list[MetricRow]:
        """Failing rows, then warning rows (largest excess first)."""
        bad = [r for r in self.rows if r.verdict in ("warn", "fail")]
        return sorted(bad, key=lambda r: (-VERDICT_ORDER.index(r.verdict), -r.excess))

    def limited(self) -> list[MetricRow]:
        """Passing rows whose sample cannot resolve every difference that matters."""
        return [r for r in self.rows if r.limited and r.verdict == "pass"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None; example traces left out)."""
        out = {
            "verdict": self.verdict,
            "score": self.score(),
            "sizes": self.sizes,
            "sampling_rate_hz": self.sampling_rate,
            "channels": self.channels,
            "band_hz": list(self.band),
            "band_reason": self.band_reason,
            "seed": self.seed,
            "quick": self.quick,
            "flagged": [f"{r.verdict} {r.name} {r.where}: {r.reason}" for r in self.flagged()],
            "rows": [{**asdict(r), "where": r.where} for r in self.rows],
            "details": {k: v for k, v in self.details.items() if k not in _EXCLUDED_FROM_JSON},
            "provenance_real": self.provenance_real,
            "provenance_generated": self.provenance_generated,
            "warnings": self.warnings,
        }
        return jsonable(out)

    def to_json(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write :meth:`to_dict` as JSON (never overwrites unless ``force``)."""
        with atomic_output(path, force=force) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    def table(self) -> str:
        """The rows as a fixed-width text table, with the limits they were judged by."""
        head = ("group", "metric", "where", "value", "real-vs-real", "pass <=", "unit",
                "verdict")
        lines = [head]
        for r in self.rows:
            verdict = r.verdict + (" (limited)" if r.limited and r.verdict == "pass" else "")
            lines.append((r.group, r.name, r.where, pm(r.value, r.uncertainty),
                          pm(r.reference, r.reference_uncertainty),
                          pm(r.limit_pass, None, ".3g"), r.unit, verdict))
        return "\n".join(fixed_width(lines))

    def headline(self) -> str:
        """Verdict line, sizes, band and the failing / warning rows with their reasons."""
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        text = [f"Noise fidelity: verdict {self.verdict.upper()}, score {self.score():.3g} "
                f"(0 = like real data)",
                f"sizes: {sizes}; sampling rate {self.sampling_rate / 1e9:.4g} GHz",
                f"band {self.band[0] / 1e6:.0f}-{self.band[1] / 1e6:.0f} MHz: "
                f"{self.band_reason}"]
        flagged = self.flagged()
        if flagged:
            text.append(f"{len(flagged)} rows fail or warn:")
            text += [f"  {r.verdict.upper()} {r.name} {r.where}: {r.reason}" for r in flagged]
        n_lim = len(self.limited())
        if n_lim:
            text.append(f"{n_lim} passing rows are sample-size limited (marked 'limited')")
        return "\n".join(text)

    def __str__(self) -> str:
        return self.headline() + "\n\n" + self.table()
