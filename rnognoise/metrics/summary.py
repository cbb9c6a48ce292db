"""One pass over a set of traces that computes every per-event quantity the metrics need."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..subsample import evenly_spaced_indices
from ._common import as_traces
from .amplitude import HIST_EDGES_SIGMA, amplitude_histogram, moment_sums, moments_from_sums
from .blocks import block_mean_spread
from .crosschannel import max_normalised_xcorr, zero_lag_products
from .impulses import impulse_lags, impulsive_events
from .lines import LineScan, scan_lines
from .spectra import event_psd
from .tails import peak_to_rms
from .trigger import highlow_scores, power_scores

__all__ = ["SetSummary", "summarise"]


@dataclass
class SetSummary:
    """Per-event quantities of one set of traces (see :func:`summarise`).

    All ``(n_events, n_channels)`` arrays are per event and channel; ``sigma`` is the
    per-channel RMS (V) of the *real* set used for every normalisation. ``impulsive``
    flags the events with coincident peaks beyond 5 real RMS
    (:func:`~rnognoise.metrics.impulses.impulsive_events`); ``lag`` holds their
    inter-channel delays (s) per pair (:func:`~rnognoise.metrics.impulses.impulse_lags`),
    NaN for the other events; ``values`` and ``examples`` are not per event.
    """

    n_events: int
    n_samples: int
    frequencies: np.ndarray
    psd: np.ndarray
    sums: np.ndarray
    peak: np.ndarray
    ratio: np.ndarray
    skewness: np.ndarray
    kurtosis: np.ndarray
    spread: np.ndarray
    xcorr: np.ndarray
    products: np.ndarray
    histogram: np.ndarray
    lines: LineScan
    highlow: np.ndarray | None
    power: np.ndarray | None
    values: np.ndarray
    examples: np.ndarray
    lag: np.ndarray | None = None
    impulsive: np.ndarray | None = None
    value_events: np.ndarray | None = None

    def subset(self, index: np.ndarray) -> SetSummary:
        """The summary of the events ``index`` (values, histogram and examples kept whole)."""
        index = np.asarray(index)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        values, value_events = self.values, self.value_events
        if value_events is not None:
            keep = np.isin(value_events, index)
            position = np.full(self.n_events, -1)
            position[index] = np.arange(index.size)
            values, value_events = values[:, keep], position[value_events[keep]]
        return replace(
            self, n_events=int(index.size), values=values, value_events=value_events,
            psd=self.psd[index], sums=self.sums[index],
            peak=self.peak[index], ratio=self.ratio[index], skewness=self.skewness[index],
            kurtosis=self.kurtosis[index],
            spread=self.spread[index], xcorr=self.xcorr[index], products=self.products[index],
            lines=self.lines.subset(index), highlow=take(self.highlow), power=take(self.power),
            lag=take(self.lag), impulsive=take(self.impulsive))


def summarise(traces: np.ndarray, sampling_rate: float, sigma: np.ndarray, *,
              pairs: list[tuple[int, int]], max_lag: float = 20e-9, nperseg: int = 256,
              line_k: float = 20.0, triggers: bool = True, max_values: int = 200_000,
              n_examples: int = 2, chunk: int = 500, seed: int = 0) -> SetSummary:
    """Compute every per-event quantity of one set, in chunks of ``chunk`` events.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sampling_rate : float, Hz
        Sampling rate.
    sigma : numpy.ndarray, V
        Per-channel RMS of the real set.
    pairs : list of (int, int)
        Channel rows whose cross-correlation is measured.
    triggers : bool
        Compute the trigger scores (skipped in quick mode).
    max_values : int
        Sample values per channel kept (at random) for the amplitude Wasserstein distance.
    """
    x = as_traces(traces)
    n_ev, n_ch, n_s = x.shape
    sigma = np.asarray(sigma, np.float64)
    rng = np.random.default_rng(seed)
    smooth = scan_lines(x[evenly_spaced_indices(n_ev, 500)],
                        sampling_rate, k=line_k).smooth
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (
        "psd", "sums", "peak", "ratio", "spread", "xcorr", "lag", "impulsive", "products",
        "flags", "hl", "pw")}
    histogram = np.zeros((n_ch, len(HIST_EDGES_SIGMA) - 1), np.int64)
    flagged_power = np.zeros_like(smooth)
    flag_power: list[np.ndarray] = []
    frequencies = line_freqs = None
    for lo in range(0, n_ev, chunk):
        block = x[lo:lo + chunk]
        frequencies, psd = event_psd(block, sampling_rate, nperseg=nperseg)
        parts["psd"].append(psd)
        parts["sums"].append(moment_sums(block))
        peak, ratio = peak_to_rms(block)
        parts["peak"].append(peak)
        parts["ratio"].append(ratio)
        parts["spread"].append(block_mean_spread(block, sigma))
        parts["xcorr"].append(max_normalised_xcorr(block, sampling_rate, pairs,
                                                   max_lag=max_lag))
        impulsive = impulsive_events(block, sigma, sampling_rate)
        lag = np.full((len(block), len(pairs)), np.nan)
        lag[impulsive] = impulse_lags(block[impulsive], sigma, sampling_rate, pairs,
                                      max_lag=max_lag)
        parts["impulsive"].append(impulsive)
        parts["lag"].append(lag)
        parts["products"].append(zero_lag_products(block))
        histogram += amplitude_histogram(block, sigma)
        scan = scan_lines(block, sampling_rate, k=line_k, smooth=smooth)
        line_freqs = scan.frequencies
        parts["flags"].append(scan.flags)
        flagged_power += scan.flagged_power
        flag_power.append(scan.flag_power)
        if triggers:
            parts["hl"].append(highlow_scores(block, sigma, sampling_rate))
            parts["pw"].append(power_scores(block, sigma, sampling_rate))
    joined = {k: np.concatenate(v) if v else None for k, v in parts.items()}
    per_channel = max(1, max_values // n_ch)
    flat = x.reshape(n_ev, n_ch, n_s).transpose(1, 0, 2).reshape(n_ch, -1) \
        if n_ev * n_s <= per_channel else None
    if flat is None:
        ev = rng.integers(0, n_ev, per_channel)
        t = rng.integers(0, n_s, per_channel)
        values = x[ev[None, :], np.arange(n_ch)[:, None], t[None, :]]
    else:
        values = flat
        ev = np.repeat(np.arange(n_ev), n_s)
    pick = evenly_spaced_indices(n_ev, n_examples)
    shape = moments_from_sums(joined["sums"], n_s)
    return SetSummary(
        n_events=n_ev, n_samples=n_s, frequencies=frequencies, psd=joined["psd"],
        sums=joined["sums"], peak=joined["peak"], ratio=joined["ratio"],
        skewness=shape["skewness"], kurtosis=shape["kurtosis"], spread=joined["spread"],
        xcorr=joined["xcorr"], products=joined["products"], histogram=histogram,
        lines=LineScan(line_freqs, smooth, joined["flags"], flagged_power,
                       np.concatenate(flag_power)),
        highlow=joined["hl"], power=joined["pw"], values=np.asarray(values, np.float64),
        examples=np.array(x[pick], np.float32), lag=joined["lag"],
        impulsive=joined["impulsive"], value_events=ev)
