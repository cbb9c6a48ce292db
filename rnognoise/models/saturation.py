"""The digitizer's saturation: the range a channel's recorded samples cannot leave.

A digitizer clips what exceeds its range: every sample beyond it is recorded at the range's
edge, so a saturated channel's largest (or smallest) value occurs many times, more often
than the values just inside it. Continuous noise has its largest value once, and the
values of a quantised Gaussian tail become rarer towards the edge. A generated trace must
not leave a range the recording could not leave (a model that learned a clipped channel's
shape without its edge drew samples at twice the recorded peak); the fitted models clamp
their output to the detected edges (:meth:`NoiseModel.to_volts
<rnognoise.models.base.NoiseModel.to_volts>`).

A channel's upper edge ``hi`` (its largest value) counts as a saturation level when

- at least :attr:`SaturationCounter.min_count` samples lie at it (within a tolerance of a
  tenth of the digitizer step, or 1e-6 of the RMS for continuous data), and
- they outnumber the samples just inside it (the next ``w`` below, ``w`` the digitizer
  step or 5 % of the RMS, whichever is larger) by :attr:`SaturationCounter.min_excess`;

the lower edge likewise. For Gaussian noise quantised at 4 steps per RMS, the top level of
10^7 samples holds about 4 of them, and fewer than the level below it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SaturationCounter"]


class SaturationCounter:
    """Keeps, chunk by chunk, each channel's largest and smallest samples, from which
    :meth:`levels` finds the saturation levels.

    Parameters
    ----------
    n_channels : int
        Channels of the traces.
    """

    #: Fewest samples at an edge for it to count as saturation.
    min_count: int = 10
    #: Factor by which the samples at an edge must outnumber those just inside it.
    min_excess: float = 3.0
    #: Extreme values kept per channel and side (a saturated edge holds at least
    #: :attr:`min_count` of them; when it holds more than this, all kept values are at it).
    kept: int = 4096

    def __init__(self, n_channels: int) -> None:
        # per side (0: upper, 1: lower, as the upper values of the negated traces)
        self.top: list[list[np.ndarray]] = [[np.empty(0)] * n_channels for _ in range(2)]

    def update(self, traces: np.ndarray) -> None:
        """Take in a chunk of traces ``(n, C, T)`` (volts)."""
        x = np.asarray(traces)
        if x.size == 0:
            return
        for side, values in enumerate((x, -x)):
            for c in range(x.shape[1]):
                v = np.concatenate([self.top[side][c],
                                    values[:, c].ravel().astype(np.float64)])
                if v.size > self.kept:
                    v = np.partition(v, v.size - self.kept)[-self.kept:]
                self.top[side][c] = v

    def levels(self, rms: np.ndarray, quantum: float) -> tuple[np.ndarray, np.ndarray]:
        """Per channel, the lower and upper saturation levels in volts (``-inf`` and
        ``+inf`` where the channel does not saturate).

        Parameters
        ----------
        rms : numpy.ndarray
            Per-channel RMS of the traces (volts), which sets the tolerances.
        quantum : float
            Digitizer step in volts (0: continuous data).
        """
        rms = np.asarray(rms, np.float64)
        n = len(self.top[0])
        out = np.full((2, n), np.inf)
        for side in range(2):
            for c in range(n):
                v = self.top[side][c]
                if v.size == 0:
                    continue
                tol = 0.1 * quantum if quantum > 0 else 1e-6 * rms[c]
                width = max(quantum, 0.05 * rms[c])
                edge = float(v.max())
                at_edge = int(np.count_nonzero(v >= edge - tol))
                inside = int(np.count_nonzero((v < edge - tol) & (v >= edge - tol - width)))
                if at_edge >= self.min_count and at_edge >= self.min_excess * inside:
                    out[side, c] = edge
        return -out[1], out[0]
