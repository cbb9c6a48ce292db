"""The one verdict of a validation report, and the rule that combines its parts.

A report can hold the overall comparison, a per-condition comparison and a memorisation
check. Their results combine by one stated rule, :data:`RULE`: the verdict is the worst
of the overall result and the worst per-condition group result. Memorisation rows are
rows of the overall comparison, so a copying model fails the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .conditional import ConditionalReport
from .fidelity import FidelityReport
from .thresholds import worst

__all__ = ["RULE", "Verdict", "final_verdict"]

#: The rule, as stated in every report.
RULE = ("The verdict is the worst of: every row of the overall comparison (all real events "
        "against all generated events, memorisation check included) and, with --by, every "
        "row of every compared condition group. A row passes when its value is within "
        "centre + max(k x spread, floor) (see each row's limit and reason); sample-size "
        "limited rows pass but are listed, because a difference that matters could hide in "
        "them; groups skipped for too few events do not count.")


@dataclass
class Verdict:
    """The verdict of a report and what made it.

    Attributes
    ----------
    verdict : str
        ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"``.
    rule : str
        :data:`RULE`.
    parts : dict
        ``{"overall": ..., "per_condition": ...}``: the result of each part (the
        per-condition one only when compared).
    reasons : list of str
        One line per failing or warning row, fails first (groups prefixed by their label).
    limited : list of str
        One line per passing but sample-size limited row of the overall comparison.
    """

    verdict: str
    rule: str
    parts: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    limited: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"verdict": self.verdict, "rule": self.rule, "parts": self.parts,
                "reasons": self.reasons, "limited": self.limited}


def final_verdict(report: FidelityReport,
                  by_condition: ConditionalReport | None = None) -> Verdict:
    """Combine the overall comparison and the per-condition groups by :data:`RULE`."""
    parts = {"overall": report.verdict}
    reasons = [f"{r.verdict} {r.name} {r.where}: {r.reason}" for r in report.flagged()]
    if by_condition is not None and by_condition.evaluated:
        parts["per_condition"] = by_condition.verdict
        for g in by_condition.evaluated:
            if g.report is not None:
                reasons += [f"{r.verdict} [{g.label}] {r.name} {r.where}: {r.reason}"
                            for r in g.report.flagged()]
            else:
                reasons += [f"[{g.label}] {issue}" for issue in g.issues]
    reasons.sort(key=lambda t: 0 if t.startswith("fail") else 1)
    limited = [f"{r.name} {r.where}: {r.reason}" for r in report.limited()]
    return Verdict(worst(list(parts.values())), RULE, parts, reasons, limited)
