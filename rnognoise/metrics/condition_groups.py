"""Grouping of events by condition values, and per-event band power, for
:func:`~rnognoise.metrics.compare_by_condition`."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..conditions import CHANNEL_GROUP, LST, ConditionSpec, add_derived_columns, group_channels
from ..errors import ConfigError
from ..io import TraceSet
from .spectra import event_psd, find_passband

__all__ = ["Axis", "axis_for", "band_power", "band_power_summary", "describe", "group_keys",
           "real_passband", "with_columns"]

_CHUNK = 2000


# ------------------------------------------------------------------ grouping
@dataclass
class Axis:
    """How one condition splits the events (or, for ``channel_group``, the channels)."""

    name: str
    labels: list[str]
    values: list[Any]
    real_codes: np.ndarray | None = None
    gen_codes: np.ndarray | None = None
    channel_sets: list[list[int]] | None = None


def describe(ts: TraceSet, which: str) -> str:
    return f"{which} set {ts.source}" if ts.source else f"{which} set"


def with_columns(ts: TraceSet, names: list[str], which: str) -> pd.DataFrame:
    return add_derived_columns(ts.events, names, source=describe(ts, which))


def axis_for(spec: ConditionSpec, real_events: pd.DataFrame, gen_events: pd.DataFrame,
          real: TraceSet, generated: TraceSet, lst_bins: int, bins: int) -> Axis:
    name, kind = spec.name, spec.kind
    if kind == CHANNEL_GROUP:
        present = group_channels(real.channels)
        names = list(present)
        return Axis(name, [f"{name}={g}" for g in names], names,
                     channel_sets=[present[g] for g in names])
    if kind == "categorical":
        r = _categorical(real_events[name], describe(real, "real"), name)
        g = _categorical(gen_events[name], describe(generated, "generated"), name)
        levels = _sorted_levels(set(r) | set(g))
        lookup = {v: i for i, v in enumerate(levels)}
        return Axis(name, [f"{name}={v}" for v in levels], levels,
                     np.array([lookup[v] for v in r], np.int64),
                     np.array([lookup[v] for v in g], np.int64))
    r = _numeric(real_events[name], describe(real, "real"), name)
    g = _numeric(gen_events[name], describe(generated, "generated"), name)
    if kind == "cyclic":
        width = spec.period / lst_bins
        edges = np.arange(lst_bins + 1) * width
        sep, unit = "-", " h" if name == LST else ""

        def code(v: np.ndarray) -> np.ndarray:
            return np.clip(np.floor(np.mod(v, spec.period) / width), 0,
                           lst_bins - 1).astype(np.int64)
    else:
        edges = np.unique(np.quantile(r, np.linspace(0.0, 1.0, bins + 1)))
        if edges.size == 1:
            edges = np.repeat(edges, 2)
        sep, unit = "..", ""

        def code(v: np.ndarray) -> np.ndarray:
            return np.searchsorted(edges[1:-1], v, side="right").astype(np.int64)
    values = [[float(lo), float(hi)] for lo, hi in itertools.pairwise(edges)]
    labels = [f"{name}={lo:.4g}{sep}{hi:.4g}{unit}" for lo, hi in values]
    return Axis(name, labels, values, code(r), code(g))


def _categorical(column: pd.Series, source: str, name: str) -> list[Any]:
    if column.isna().any():
        raise ConfigError(f"{source}: condition column {name!r} holds missing values")
    return [v.item() if isinstance(v, np.generic) else v for v in column.tolist()]


def _numeric(column: pd.Series, source: str, name: str) -> np.ndarray:
    try:
        values = column.to_numpy(np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: condition column {name!r} is not numeric "
                          f"(dtype {column.dtype})") from None
    if not np.isfinite(values).all():
        raise ConfigError(f"{source}: condition column {name!r} holds NaN/inf")
    return values


def _sorted_levels(levels: set[Any]) -> list[Any]:
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def group_keys(axes: list[Axis]) -> list[tuple[int, ...]]:
    """Code tuples (one code per axis) of every combination present in either set."""
    event_axes = [i for i, a in enumerate(axes) if a.channel_sets is None]
    found: set[tuple[int, ...]] = {()}
    if event_axes:
        found = set()
        for attr in ("real_codes", "gen_codes"):
            stack = np.stack([getattr(axes[i], attr) for i in event_axes], axis=1)
            found |= {tuple(int(x) for x in row) for row in np.unique(stack, axis=0)}
    keys = []
    for event_key in found:
        partial: list[tuple[int, ...]] = [()]
        it = iter(event_key)
        for axis in axes:
            if axis.channel_sets is None:
                code = next(it)
                partial = [p + (code,) for p in partial]
            else:
                partial = [p + (k,) for p in partial for k in range(len(axis.channel_sets))]
        keys += partial
    return sorted(keys)


# ------------------------------------------------------------------ band power
def real_passband(real: TraceSet, nperseg: int) -> tuple[float, float]:
    total = None
    freqs = None
    for lo in range(0, real.n_events, _CHUNK):
        freqs, psd = event_psd(real.traces[lo:lo + _CHUNK], real.sampling_rate,
                               nperseg=nperseg)
        part = psd.sum(0, dtype=np.float64)
        total = part if total is None else total + part
    assert total is not None and freqs is not None
    return find_passband(freqs, total / real.n_events)


def band_power(ts: TraceSet, band: tuple[float, float], nperseg: int) -> np.ndarray:
    """Per-event, per-channel power in ``band`` (V^2): the Welch PSD summed over the band."""
    out = np.empty((ts.n_events, ts.n_channels), np.float64)
    for lo in range(0, ts.n_events, _CHUNK):
        freqs, psd = event_psd(ts.traces[lo:lo + _CHUNK], ts.sampling_rate, nperseg=nperseg)
        mask = (freqs >= band[0]) & (freqs <= band[1])
        df = float(freqs[1] - freqs[0])
        out[lo:lo + _CHUNK] = psd[..., mask].sum(-1, dtype=np.float64) * df
    return out


def _mean_err(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    if n == 0:
        nan = np.full(x.shape[1:], np.nan)
        return nan, nan
    mean = x.mean(0)
    err = x.std(0, ddof=1) / math.sqrt(n) if n > 1 else np.full(x.shape[1:], np.nan)
    return mean, err


def _ratio_db(real: np.ndarray, real_err: np.ndarray, gen: np.ndarray,
              gen_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 10.0 * np.log10(gen / real)
        err = 10.0 / math.log(10.0) * np.hypot(real_err / real, gen_err / gen)
    return ratio, err


def band_power_summary(real: np.ndarray, gen: np.ndarray,
                        ) -> tuple[dict[str, list[float]], dict[str, float]]:
    per_channel = {}
    mean_of = {}
    for label, (r, g) in (("channel", (real, gen)),
                          ("mean", (real.mean(1, keepdims=True), gen.mean(1, keepdims=True)))):
        rm, re = _mean_err(r)
        gm, ge = _mean_err(g)
        ratio, ratio_err = _ratio_db(rm, re, gm, ge)
        out = {"real": rm, "real_err": re, "generated": gm, "generated_err": ge,
               "ratio_db": ratio, "ratio_db_err": ratio_err}
        if label == "channel":
            per_channel = {k: [float(x) for x in v] for k, v in out.items()}
        else:
            mean_of = {k: float(v[0]) for k, v in out.items()}
    return per_channel, mean_of


