"""One row of a fidelity report and the builder that judges rows as they are added."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .thresholds import assess

__all__ = ["MetricRow", "RowBuilder", "distance_scale"]


@dataclass
class MetricRow:
    """One number of a :class:`~rnognoise.metrics.FidelityReport`.

    Attributes
    ----------
    name : str
        Metric name (key of :data:`rnognoise.metrics.thresholds.THRESHOLDS`).
    group : str
        Family: spectrum, amplitude, tails, lines, blocks, crosschannel, trigger,
        twosample, memorisation.
    channel : int or None
        Channel id, or None for a metric of a pair or of the whole event.
    value, uncertainty : float
        The number (all real events against the generated events) and its standard error.
    reference, reference_uncertainty : float
        The same number for real half A against real half B, and its standard error.
    unit : str
        Unit of value and reference.
    verdict : str
        ``"pass"``, ``"warn"``, ``"fail"`` or ``"n/a"``.
    description : str
        What the number is (and why it is n/a, if so).
    pair : tuple of int, optional
        Channel ids of a channel-pair metric.
    centre : float
        What the value would be without a difference (see
        :mod:`rnognoise.metrics.thresholds`).
    limit_pass, limit_warn : float
        Largest value that passes / warns.
    limited : bool
        Sample-size limited: the sample cannot resolve every difference that matters.
    reason : str
        Why the row got its verdict.
    """

    name: str
    group: str
    channel: int | None
    value: float
    uncertainty: float
    reference: float
    reference_uncertainty: float
    unit: str
    verdict: str
    description: str
    pair: tuple[int, int] | None = None
    centre: float = float("nan")
    limit_pass: float = float("nan")
    limit_warn: float = float("nan")
    limited: bool = False
    reason: str = ""

    @property
    def where(self) -> str:
        """``"ch 3"``, ``"ch 3-5"`` or ``"all"``."""
        if self.pair is not None:
            return f"ch {self.pair[0]}-{self.pair[1]}"
        return "all" if self.channel is None else f"ch {self.channel}"

    @property
    def excess(self) -> float:
        """``max(0, value - centre) / (limit_pass - centre)``: 1 at the pass edge."""
        if self.verdict == "n/a" or not math.isfinite(self.value):
            return float("nan")
        width = self.limit_pass - self.centre
        return max(0.0, self.value - self.centre) / max(width, 1e-12)


def distance_scale(n_real: int, n_generated: int, n_half_a: int, n_half_b: int) -> float:
    """Factor taking a real-vs-real distance of the halves to the sizes of real vs generated.

    Sampling noise of a distance between two samples of sizes ``n`` and ``m`` goes as
    ``sqrt(1/n + 1/m)``; the reference is measured at the sizes of the halves.
    """
    return math.sqrt((1.0 / n_real + 1.0 / n_generated) / (1.0 / n_half_a + 1.0 / n_half_b))


class RowBuilder:
    """Collects rows and judges each one as it is added."""

    def __init__(self, channels: np.ndarray, scale: float = 1.0) -> None:
        self.channels = channels
        self.scale = scale
        self.rows: list[MetricRow] = []

    def add(self, name: str, group: str, ch: int | None, val: tuple[float, float],
            ref: tuple[float, float], unit: str, description: str,
            pair: tuple[int, int] | None = None, *, scale: float | None = None,
            null: tuple[float, float] | None = None) -> MetricRow:
        """Judge and append one row (``ch`` is a channel row index, not an id).

        ``null`` is the mean and spread of the value under no difference, for rows judged
        by a permutation test (see :func:`~rnognoise.metrics.thresholds.assess`).
        """
        v, u = (float(val[0]), float(val[1]))
        r, ru = (float(ref[0]), float(ref[1]))
        channel = None if ch is None else int(self.channels[ch])
        j = assess(name, v, u, r, ru, scale=self.scale if scale is None else scale, null=null)
        row = MetricRow(name, group, channel, v, u, r, ru, unit, j.verdict, description, pair,
                        j.centre, j.limit_pass, j.limit_warn, j.limited, j.reason)
        self.rows.append(row)
        return row

    def per_channel(self, name: str, group: str, val: tuple[np.ndarray, np.ndarray],
                    ref: tuple[np.ndarray, np.ndarray], unit: str, description: str) -> None:
        """One row per channel."""
        for c in range(len(self.channels)):
            self.add(name, group, c, (val[0][c], val[1][c]), (ref[0][c], ref[1][c]), unit,
                     description)
