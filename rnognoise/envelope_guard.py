"""The physical envelope of a model's training data, and a cheap check of sampled noise.

``rnognoise fit`` records in a model file's provenance what its training events looked
like, per channel, in volts::

    "envelope": {"rms_volts": [...], "peak_volts": [...], "adc_range_volts": 1.25 or null}

(``peak_volts``: the largest ``|sample - mean|`` over the training events). Sampled
noise is
*unphysical* when, per channel,

- its RMS over at least :data:`MIN_EVENTS_FOR_RMS` events is more than
  :data:`RMS_FACTOR` times, or less than ``1 / RMS_FACTOR`` of, the training RMS, or
- any sample reaches beyond ``max(2 x peak_volts, adc_range_volts)``,

RMS and peaks taken about the channel's offset (the model's normalisation offset, the
training mean), as ``rnognoise fit`` records them.

A model whose physical parameters ran away in training (e.g. a log-normal amplitude with
a spread of several e-folds) is caught by the first batch that shows it. Model files
without an envelope are not checked.

The check costs two reductions per batch (``torch.linalg.vector_norm`` with orders 2 and
infinity per channel), which also tell whether the batch holds NaN/inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import ModelFileError, NonFiniteOutputError, UnphysicalOutputError

__all__ = ["MIN_EVENTS_FOR_RMS", "PEAK_FACTOR", "RMS_FACTOR", "Envelope", "EnvelopeGuard",
           "OutputNorms", "check_output", "output_norms"]

#: Largest allowed ratio (either way) of sampled to training RMS per channel.
RMS_FACTOR = 1.5
#: Samples may reach this multiple of the largest training ``|sample|`` (or the ADC range).
PEAK_FACTOR = 2.0
#: Events pooled before the RMS is compared (one event alone may be legitimately loud).
MIN_EVENTS_FOR_RMS = 32


@dataclass(frozen=True)
class Envelope:
    """Per-channel RMS and peak of the training events, and the digitizer range.

    Attributes
    ----------
    rms_volts, peak_volts : numpy.ndarray
        ``(n_channels,)``, volts.
    adc_range_volts : float or None
        Largest ``|sample|`` the digitizer can record, volts (None: unknown).
    """

    rms_volts: np.ndarray
    peak_volts: np.ndarray
    adc_range_volts: float | None

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], n_channels: int, source: str,
                      ) -> Envelope | None:
        """The envelope recorded in a model file's metadata; None for older files.

        Raises
        ------
        ModelFileError
            An envelope with the wrong number of channels or non-positive values.
        """
        doc = (metadata.get("provenance") or {}).get("envelope")
        if doc is None:
            return None
        bad = (f"invalid 'envelope' in the model metadata (rms_volts and peak_volts: "
               f"{n_channels} positive numbers; adc_range_volts: a positive number or null)")
        try:
            rms = np.asarray(doc["rms_volts"], dtype=np.float64).reshape(-1)
            peak = np.asarray(doc["peak_volts"], dtype=np.float64).reshape(-1)
            adc = doc.get("adc_range_volts")
            adc = None if adc is None else float(adc)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ModelFileError(source, bad) from None
        if (rms.size != n_channels or peak.size != n_channels
                or not (np.isfinite(rms).all() and np.isfinite(peak).all())
                or (rms <= 0).any() or (peak <= 0).any()
                or (adc is not None and not (math.isfinite(adc) and adc > 0))):
            raise ModelFileError(source, bad)
        return cls(rms, peak, adc)

    @property
    def limit_volts(self) -> np.ndarray:
        """Per-channel largest allowed ``|sample|``: ``max(2 x peak, ADC range)``."""
        return np.maximum(PEAK_FACTOR * self.peak_volts, self.adc_range_volts or 0.0)


@dataclass(frozen=True)
class OutputNorms:
    """What the checks need of a batch of model output ``(n, C, T)``.

    Attributes
    ----------
    l2 : torch.Tensor
        ``(C,)`` per-channel 2-norm over the batch (NaN/inf when any sample is).
    peak : torch.Tensor or None
        ``(C,)`` per-channel largest ``|value|`` (None: not computed).
    n_events, n_samples : int
        Batch size and trace length.
    """

    l2: torch.Tensor
    peak: torch.Tensor | None
    n_events: int
    n_samples: int


def output_norms(normalized: torch.Tensor, peak: bool = True) -> OutputNorms:
    """:class:`OutputNorms` of ``normalized`` ``(n, C, T)``: two reductions (one without
    ``peak``). Pure, so it can run where the batch was made (a worker thread)."""
    # per trace along the contiguous last axis, then over events: several times faster
    # than one reduction over the axes (0, 2)
    l2 = torch.linalg.vector_norm(torch.linalg.vector_norm(normalized, 2, dim=-1), 2, dim=0)
    peaks = torch.linalg.vector_norm(normalized, math.inf, dim=(0, 2)) if peak else None
    return OutputNorms(l2, peaks, int(normalized.shape[0]), int(normalized.shape[2]))


class EnvelopeGuard:
    """Compares batches of sampled volts with an :class:`Envelope` (one per sampling call).

    Parameters
    ----------
    envelope : Envelope
        From the model file.
    channels : array of int
        Channel ids, for the messages.
    device : torch.device
        Where the batches live.
    """

    def __init__(self, envelope: Envelope, channels: np.ndarray, device: torch.device) -> None:
        self.envelope = envelope
        self.channels = np.asarray(channels)
        self._limit = torch.as_tensor(envelope.limit_volts, dtype=torch.float32, device=device)
        self._sumsq = np.zeros(len(self.channels))
        self._count = 0
        self._events = 0

    def check(self, norms: OutputNorms, scale: torch.Tensor) -> str | None:
        """Describe the first way a batch leaves the envelope, or None.

        Parameters
        ----------
        norms : OutputNorms
            :func:`output_norms` of the batch ``(n, C, T)`` of model output before the
            conversion to volts, i.e. ``(volts - offset) / scale``: RMS and peak are
            taken about the channel's offset, as in the training envelope.
        scale : torch.Tensor
            ``(C,)`` volts per normalised unit.
        """
        if norms.peak is None:
            raise ValueError("the envelope check needs the batch's peaks")
        l2 = norms.l2 * scale
        peaks = norms.peak * scale
        over = peaks > self._limit
        if bool(over.any()):
            k = int(torch.argmax((peaks / self._limit) * over))
            adc = self.envelope.adc_range_volts
            return (f"channel {self.channels[k]} has a sample {float(peaks[k]):.3g} V from its mean, "
                    f"beyond {PEAK_FACTOR:g} x the training peak "
                    f"({self.envelope.peak_volts[k]:.3g} V)"
                    + (f" and the ADC range ({adc:.3g} V)" if adc else ""))
        self._sumsq += l2.double().square().cpu().numpy()
        self._count += norms.n_events * norms.n_samples
        self._events += norms.n_events
        if self._events < MIN_EVENTS_FOR_RMS:
            return None
        rms = np.sqrt(self._sumsq / self._count)
        self._sumsq[:] = 0.0
        self._count = self._events = 0
        ratio = rms / self.envelope.rms_volts
        worst = int(np.argmax(np.maximum(ratio, 1.0 / ratio)))
        r = float(ratio[worst])
        if r > RMS_FACTOR or r < 1.0 / RMS_FACTOR:
            return (f"channel {self.channels[worst]} has an RMS of {rms[worst]:.3g} V, "
                    f"{r:.3g} x the training RMS ({self.envelope.rms_volts[worst]:.3g} V; "
                    f"allowed {1 / RMS_FACTOR:.2g}-{RMS_FACTOR:g} x)")
        return None


def check_output(norms: OutputNorms, scale: torch.Tensor, guard: EnvelopeGuard | None,
                 action: str, source: str) -> str | None:
    """Check a batch of model output for NaN/inf and, with a guard, the envelope.

    Parameters
    ----------
    norms : OutputNorms
        :func:`output_norms` of the batch ``(n, C, T)`` of model output before the
        conversion to volts (peaks needed with a guard).
    scale : torch.Tensor
        ``(C,)`` volts per normalised unit.
    guard : EnvelopeGuard or None
        None: only NaN/inf are checked.
    action : {"warn", "raise", "ignore"}
        What a batch outside the envelope leads to.
    source : str
        The model file, named in the messages.

    Returns
    -------
    str or None
        The one-line warning for ``action="warn"``; None when the batch is fine.

    Raises
    ------
    NonFiniteOutputError
        NaN/inf samples.
    UnphysicalOutputError
        With ``action="raise"``, a batch outside the envelope.
    """
    if not bool(torch.isfinite(norms.l2).all()):
        raise NonFiniteOutputError(source, "the model produced NaN/inf samples; the model "
                                   "file is unusable")
    problem = None if guard is None or action == "ignore" else guard.check(norms, scale)
    if problem is None:
        return None
    what = f"sampled noise leaves the physical envelope of the training data: {problem}"
    if action == "raise":
        raise UnphysicalOutputError(source, what)
    return f"{source}: {what}"
