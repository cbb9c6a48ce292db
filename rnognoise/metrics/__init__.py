"""Noise-fidelity metrics: is generated noise like the real noise, and where not?

Plain functions on arrays (traces in volts, ``(n_events, n_channels, n_samples)``,
sampling rate in Hz) grouped by family, and :func:`compare`, which runs them all
beside their real-vs-real reference and returns a :class:`FidelityReport`.

Modules
-------
spectra
    Welch PSDs, passband, dB ratios, log-PSD geodesic distance, quantile bands.
amplitude
    Histograms, 1-Wasserstein distance of sample values, moments.
tails
    Peak-to-RMS and exceedance rates above n-sigma thresholds.
lines
    Narrow-band line detection, occupancy and power.
blocks
    Spread of the 128-sample digitizer block means.
crosschannel
    Maximum normalised cross-correlation per pair; zero-lag correlation matrix.
impulses
    Impulsive events (coincident peaks), their inter-channel delays, a permutation test.
trigger
    High/low N-of-M and power-integration trigger rates versus threshold.
features, twosample
    Per-event features; classifier two-sample test and Frechet distance.
summary
    One pass over a set computing every per-event quantity.
thresholds, rows
    Verdict rules; :class:`MetricRow` and the builder that judges rows.
checks_shape, checks_rates, checks_impulses
    The row builders (spectrum, amplitude, blocks, cross-channel; tails, lines, triggers;
    impulse rate and delays).
compare, fidelity
    :func:`compare` and its result :class:`FidelityReport`.
conditional, condition_groups
    :func:`compare_by_condition`: :func:`compare` per station, LST bin, ... and the band
    power of every group (:class:`ConditionalReport`).
verdict
    :func:`final_verdict`: the one verdict of a report and the rule that made it.
memorisation
    :func:`memorisation_check`: are generated events closer to the training events than
    new real events are?
reference
    :func:`nuradio_reference`: NuRadioMC's generic band-limited noise fitted to the real
    band and RMS, as a comparison column.
"""

from __future__ import annotations

from ._common import SmallSampleWarning
from .compare import check_compatible, compare
from .conditional import ConditionalReport, ConditionGroup, compare_by_condition
from .features import event_features
from .fidelity import FidelityReport
from .lines import Line, detect_lines, scan_lines
from .memorisation import MemorisationResult, memorisation_check
from .reference import nuradio_available, nuradio_reference
from .rows import MetricRow
from .spectra import event_psd, find_passband, log_psd_geodesic_distance, psd_ratio_db
from .thresholds import THRESHOLDS, judge
from .twosample import c2st, fpd, frechet_distance
from .verdict import Verdict, final_verdict

__all__ = [
    "THRESHOLDS",
    "ConditionGroup",
    "ConditionalReport",
    "FidelityReport",
    "Line",
    "MemorisationResult",
    "MetricRow",
    "SmallSampleWarning",
    "Verdict",
    "c2st",
    "check_compatible",
    "compare",
    "compare_by_condition",
    "detect_lines",
    "event_features",
    "event_psd",
    "final_verdict",
    "find_passband",
    "fpd",
    "frechet_distance",
    "judge",
    "log_psd_geodesic_distance",
    "memorisation_check",
    "nuradio_available",
    "nuradio_reference",
    "psd_ratio_db",
    "scan_lines",
]
