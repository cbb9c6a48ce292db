"""Conditional noise models: noise per station / channel group, and as a function of
local sidereal time or any other event quantity.

A :class:`ConditionalModel` wraps models of one base kind (``baseline``, ``wgan-gp``,
``vae``):

* **Categorical conditions** (``station``, any integer or string event column) split the
  events into *cells*; each cell has its own sub-model, trained on its events only. A
  value not seen in training is refused (no silent fallback).
* **Channel groups** (``channel_group``) partition the channels; each group has its own
  sub-model per cell (correlations between groups are not modelled).
* **Continuous conditions** (``lst`` cyclic over 24 h, float columns linear) modulate the
  power spectrum smoothly. Per cell, channel and frequency band the log band power of
  each training event is regressed on the condition features
  (``cos/sin(2 pi k lst / 24)``, ``k = 1..harmonics``, or the standardised value):
  ``log P(f, c) = a(f) + beta(f) . (phi(c) - mean phi)``. The training traces are
  *demodulated* to the cell's mean condition (each event filtered by
  ``exp(-beta . dphi / 2)`` per band) before the sub-model is fitted, and generated
  traces are filtered by ``exp(+beta . dphi / 2)`` for the requested condition. For
  Gaussian components this is exact (a power spectrum scaled per frequency); CW lines
  and impulses inside a modulated band are scaled with it. Values between the ones seen
  in training are interpolated by the smooth features; a cyclic value more than
  ``max_gap`` of a period from every training value, or a linear value outside the
  training range, is refused.

The model stores, besides the sub-models, a table of training conditions (at most
``table_rows`` rows): conditions not given at sampling time are drawn from it, so
``sample(n)`` reproduces the training mixture and ``sample(n, condition={"station": 12})``
the distribution of the other conditions at station 12.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..conditions import (
    CHANNEL_GROUP,
    LST,
    RNOG_SITE_LONGITUDE_DEG,
    ConditionSpec,
    cyclic_features,
    local_sidereal_time,
)
from ..errors import ConfigError
from .base import NoiseModel, TraceLayout, get_model_class, register_model
from .spectral import irfft

__all__ = ["ConditionalConfig", "ConditionalModel", "EncodedConditions", "SpectralModulation",
           "cell_key"]


class EncodedConditions(NamedTuple):
    """Conditions of ``n`` events in the form the model consumes.

    ``cell``: long ``(n,)`` index of the categorical cell; ``features``: float ``(n, F)``
    continuous-condition features (``F`` may be 0); ``values``: the decoded value of every
    condition per event (name -> array of ``n``), for bookkeeping (:attr:`frame`).
    """

    cell: torch.Tensor
    features: torch.Tensor
    values: dict[str, np.ndarray]

    @property
    def frame(self) -> pd.DataFrame:
        """The decoded values as a DataFrame (one column per condition)."""
        return pd.DataFrame(self.values, index=pd.RangeIndex(len(self.cell)))

    def slice(self, lo: int, hi: int) -> EncodedConditions:
        """Events ``lo:hi``."""
        return EncodedConditions(self.cell[lo:hi], self.features[lo:hi],
                                 {k: v[lo:hi] for k, v in self.values.items()})


def cell_key(value: Any) -> Any:
    """A categorical value as a JSON scalar (numpy ints -> int, integral floats -> int)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return str(value)


@dataclass
class ConditionalConfig:
    """What a conditional model is made of (filled in by ``rnognoise fit --condition``).

    Parameters
    ----------
    base : str
        Kind of the sub-models.
    base_config : dict
        Their hyper-parameters.
    conditions : list of dict
        :class:`~rnognoise.conditions.ConditionSpec` dicts, in the order given.
    cells : list of list
        The categorical values of each cell (one entry per categorical condition).
    groups : dict
        Channel group name -> channel ids (empty: one group with every channel).
    harmonics : int
        Harmonics of a cyclic condition's features.
    n_bands : int
        Frequency bands of the spectral modulation.
    table_rows : int
        Rows of the stored training-condition table.
    max_gap : float
        Largest distance, as a fraction of the period, between a requested cyclic value and
        the nearest training value.
    longitude_deg : float
        East longitude used for ``lst`` when it is computed from ``readout_time``.
    """

    base: str = "wgan-gp"
    base_config: dict[str, Any] = field(default_factory=dict)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    cells: list[list[Any]] = field(default_factory=lambda: [[]])
    groups: dict[str, list[int]] = field(default_factory=dict)
    harmonics: int = 2
    n_bands: int = 64
    table_rows: int = 1
    max_gap: float = 1.0 / 24.0
    longitude_deg: float = RNOG_SITE_LONGITUDE_DEG


class SpectralModulation(nn.Module):
    """Smooth per-band power modulation by continuous-condition features.

    Parameters
    ----------
    n_cells, n_channels, n_features, n_samples, n_bands : int
        Shapes: coefficients ``(n_cells, n_channels, n_features, n_bands)``.
    """

    def __init__(self, n_cells: int, n_channels: int, n_features: int, n_samples: int,
                 n_bands: int) -> None:
        super().__init__()
        n_freq = n_samples // 2 + 1
        self.n_samples = n_samples
        self.n_bands = max(1, min(n_bands, n_freq))
        self.register_buffer("coefficients",
                             torch.zeros(n_cells, n_channels, n_features, self.n_bands))
        self.register_buffer("feature_mean", torch.zeros(n_cells, n_features))
        # bins -> bands (averaging) and bands -> bins (linear interpolation between centres)
        edges = np.linspace(0, n_freq, self.n_bands + 1).round().astype(int)
        to_bands = np.zeros((n_freq, self.n_bands), np.float32)
        for b in range(self.n_bands):
            to_bands[edges[b]:edges[b + 1], b] = 1.0 / max(1, edges[b + 1] - edges[b])
        centres = 0.5 * (edges[:-1] + edges[1:] - 1)
        to_bins = np.zeros((self.n_bands, n_freq), np.float32)
        for k in range(n_freq):
            j = int(np.clip(np.searchsorted(centres, k) - 1, 0, max(0, self.n_bands - 2)))
            if self.n_bands == 1:
                to_bins[0, k] = 1.0
                continue
            w = float(np.clip((k - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0))
            to_bins[j, k] += 1.0 - w
            to_bins[j + 1, k] += w
        self.register_buffer("to_bands", torch.from_numpy(to_bands), persistent=False)
        self.register_buffer("to_bins", torch.from_numpy(to_bins), persistent=False)

    @property
    def n_features(self) -> int:
        """Number of condition features."""
        return int(self.coefficients.shape[2])

    def band_log_power(self, traces: torch.Tensor) -> torch.Tensor:
        """``log`` of the mean periodogram power per band, ``(n, C, n_bands)``."""
        power = torch.fft.rfft(traces.float(), dim=-1).abs().square()
        return torch.log(power @ self.to_bands + 1e-30)

    def fit_cell(self, cell: int, traces: torch.Tensor, features: torch.Tensor,
                 ridge: float = 1e-2) -> None:
        """Ridge least-squares fit of the log band power on the centred features, one cell.

        The ridge term (``ridge`` times the number of events; features are of order one)
        keeps the fit stable when the training events cover only part of a cycle, where
        the harmonics are nearly collinear; it shrinks a full-cycle fit by about
        ``ridge / var(feature)``, i.e. 2 %.
        """
        if self.n_features == 0:
            return
        feats = features.double()
        mean = feats.mean(dim=0)
        phi = feats - mean
        y = self.band_log_power(traces).double()  # (n, C, B)
        y = y - y.mean(dim=0, keepdim=True)
        gram = phi.T @ phi + ridge * phi.shape[0] * torch.eye(phi.shape[1], dtype=phi.dtype)
        rhs = torch.einsum("nf,ncb->fcb", phi, y)
        coef = torch.linalg.solve(gram, rhs.reshape(phi.shape[1], -1)).reshape(rhs.shape)
        self.coefficients[cell] = coef.permute(1, 0, 2).to(self.coefficients.dtype)
        self.feature_mean[cell] = mean.to(self.feature_mean.dtype)

    def log_gain(self, cell: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Log power ratio per bin, ``(n, C, n_freq)``, relative to the cell's mean condition."""
        # the band sums in float64 (coefficients of nearly collinear harmonics may cancel),
        # the interpolation to every bin in float32
        dphi = features.double() - self.feature_mean[cell].double()
        bands = torch.einsum("nf,ncfb->ncb", dphi, self.coefficients[cell].double())
        return bands.float() @ self.to_bins

    def apply(self, traces: torch.Tensor, cell: torch.Tensor, features: torch.Tensor,
              sign: float = 1.0) -> torch.Tensor:
        """Filter traces by ``exp(sign * log_gain / 2)`` (sign -1 demodulates)."""
        if self.n_features == 0 or traces.shape[0] == 0:
            return traces
        gain = torch.exp(0.5 * sign * self.log_gain(cell, features.to(traces.dtype)))
        spec = torch.fft.rfft(traces, dim=-1) * gain
        return irfft(spec, self.n_samples).to(traces.dtype)


@register_model("conditional")
class ConditionalModel(NoiseModel):
    """Sub-models per categorical cell and channel group, with a smooth spectral modulation
    by continuous conditions (see the module docstring).

    Parameters
    ----------
    config : ConditionalConfig
        Base kind, conditions, cells, groups.
    layout : TraceLayout
        The full layout (every channel).
    """

    Config = ConditionalConfig
    wrapper = True

    def __init__(self, config: ConditionalConfig, layout: TraceLayout) -> None:
        super().__init__(config, layout)
        if config.base == "conditional":
            raise ConfigError("a conditional model cannot wrap another conditional model")
        base_cls = get_model_class(config.base)
        self.specs = [ConditionSpec.from_dict(d) for d in config.conditions]
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"conditions repeat: {names}")
        self.categorical = [s for s in self.specs if s.kind == "categorical"]
        self.continuous = [s for s in self.specs if s.continuous]
        if not config.cells or any(len(c) != len(self.categorical) for c in config.cells):
            raise ConfigError("each cell needs one value per categorical condition")
        self.cells = [tuple(cell_key(v) for v in cell) for cell in config.cells]
        if len(set(self.cells)) != len(self.cells):
            raise ConfigError("cells repeat")
        rows = {c: i for i, c in enumerate(layout.channels)}
        if config.groups:
            self.group_names = list(config.groups)
            self.group_rows = []
            for name in self.group_names:
                ids = [int(c) for c in config.groups[name]]
                if not ids or any(c not in rows for c in ids):
                    raise ConfigError(f"channel group {name!r}: channels {ids} are not all in "
                                      f"the layout {list(layout.channels)}")
                self.group_rows.append([rows[c] for c in ids])
            covered = sorted(r for g in self.group_rows for r in g)
            if covered != list(range(layout.n_channels)):
                raise ConfigError("channel groups must partition the channels")
        else:
            self.group_names = ["all"]
            self.group_rows = [list(range(layout.n_channels))]
        self.n_features = sum(2 * config.harmonics if s.kind == "cyclic" else 1
                              for s in self.continuous)
        if config.harmonics < 1 or config.table_rows < 1 or not 0 < config.max_gap <= 1:
            raise ConfigError("harmonics and table_rows must be >= 1, 0 < max_gap <= 1")
        base_config = base_cls.make_config(config.base_config)
        subs = []
        for _ in self.cells:
            for rows_g in self.group_rows:
                sub_layout = TraceLayout(tuple(layout.channels[r] for r in rows_g),
                                         layout.n_samples, layout.sampling_rate)
                subs.append(base_cls(base_config, sub_layout))
        self.submodels = nn.ModuleList(subs)
        self.modulation = SpectralModulation(len(self.cells), layout.n_channels,
                                             self.n_features, layout.n_samples,
                                             config.n_bands)
        n_cont = len(self.continuous)
        # training conditions: column 0 the cell index, then the raw continuous values
        self.register_buffer("condition_table",
                             torch.zeros(config.table_rows, 1 + n_cont, dtype=torch.float64))
        # linear conditions: centre and scale of their standardisation
        self.register_buffer("linear_center", torch.zeros(max(1, n_cont), dtype=torch.float64))
        self.register_buffer("linear_scale", torch.ones(max(1, n_cont), dtype=torch.float64))

    # -- structure -------------------------------------------------------------------
    @property
    def condition_names(self) -> list[str]:
        """Names of the event conditions (``channel_group`` excluded)."""
        return [s.name for s in self.specs if s.kind != CHANNEL_GROUP]

    def submodel(self, cell: int, group: int) -> NoiseModel:
        """The sub-model of a cell and channel group."""
        return self.submodels[cell * len(self.group_rows) + group]

    def cell_label(self, cell: int) -> str:
        """``"station=11"`` style label of a cell (``"all"`` without categorical conditions)."""
        if not self.categorical:
            return "all"
        return ",".join(f"{s.name}={v}" for s, v in zip(self.categorical, self.cells[cell],
                                                         strict=True))

    # -- encoding ----------------------------------------------------------------------
    def features_of(self, values: np.ndarray) -> np.ndarray:
        """Features ``(n, F)`` of raw continuous values ``(n, n_continuous)``."""
        parts = []
        for j, spec in enumerate(self.continuous):
            column = values[:, j]
            if spec.kind == "cyclic":
                parts.append(cyclic_features(column, spec.period, self.config.harmonics))
            else:
                center = float(self.linear_center[j])
                scale = float(self.linear_scale[j])
                parts.append(((column - center) / scale)[:, None])
        if not parts:
            return np.zeros((values.shape[0], 0))
        return np.concatenate(parts, axis=1)

    def set_condition_table(self, cells: np.ndarray, values: np.ndarray) -> None:
        """Store the training conditions (a random subset when there are more rows)."""
        n_rows = self.config.table_rows
        take = np.linspace(0, len(cells) - 1, n_rows).round().astype(int) if len(cells) else []
        table = np.zeros((n_rows, 1 + len(self.continuous)))
        table[:, 0] = np.asarray(cells)[take]
        if self.continuous:
            table[:, 1:] = np.asarray(values)[take]
        self.condition_table.copy_(torch.from_numpy(table))

    def set_linear_scaling(self, values: np.ndarray) -> None:
        """Centre/scale of linear conditions from the training values ``(n, n_continuous)``."""
        for j, spec in enumerate(self.continuous):
            if spec.kind == "linear":
                std = float(np.std(values[:, j]))
                self.linear_center[j] = float(np.mean(values[:, j]))
                self.linear_scale[j] = std if std > 0 else 1.0

    def encode(self, condition: Any, n: int, rng: np.random.Generator, *,
               source: str = "condition") -> EncodedConditions:
        """Turn user conditions into :class:`EncodedConditions` for ``n`` events.

        Parameters
        ----------
        condition : None, dict or pandas.DataFrame
            ``None``: every condition drawn from the training table. A dict of scalars
            (one value for all events) or arrays of length ``n``, or a DataFrame with
            ``n`` rows (``lst`` is derived from ``readout_time`` when needed). Conditions
            left out are drawn from the training events that match the given
            categorical values.
        n : int
            Number of events.
        rng : numpy.random.Generator
            Draws the missing conditions.

        Raises
        ------
        ConfigError
            Unknown condition name, a categorical value not seen in training, a continuous
            value outside what training covered, or wrong lengths.
        """
        given = self._condition_columns(condition, n, source)
        table = self.condition_table.cpu().numpy()
        table_cells = table[:, 0].astype(np.int64)
        # categorical values -> per-event code of the given combination
        given_cat = [(j, s) for j, s in enumerate(self.categorical) if s.name in given]
        codes = np.zeros(n, np.int64)
        levels: list[list[Any]] = []
        for j, spec in given_cat:
            uniq, inverse = np.unique(np.asarray(given[spec.name], dtype=object).astype(str),
                                      return_inverse=True)
            raw = np.asarray(given[spec.name], dtype=object)
            first = [raw[np.flatnonzero(inverse == u)[0]] for u in range(len(uniq))]
            keys = [cell_key(v) for v in first]
            known = sorted({c[j] for c in self.cells}, key=str)
            bad = [k for k in keys if k not in known]
            if bad:
                raise ConfigError(f"{source}: {spec.name}={bad[0]} was not seen in training "
                                  f"(known: {', '.join(map(str, known))})")
            levels.append(keys)
            codes = codes * len(keys) + inverse.reshape(-1)
        cell = np.zeros(n, np.int64)
        values = np.zeros((n, len(self.continuous)))
        cont_given = [s.name in given for s in self.continuous]
        need_draw = len(given_cat) < len(self.categorical) or not all(cont_given)
        for code in np.unique(codes):
            idx = np.flatnonzero(codes == code)
            constraint, rest = {}, int(code)
            for (j, _), keys in zip(reversed(given_cat), reversed(levels), strict=True):
                rest, k = divmod(rest, len(keys))
                constraint[j] = keys[k]
            cells_ok = [i for i, c in enumerate(self.cells)
                        if all(c[j] == v for j, v in constraint.items())]
            if not cells_ok:
                shown = {self.categorical[j].name: v for j, v in constraint.items()}
                raise ConfigError(f"{source}: the combination {shown} was not seen in training")
            if need_draw:
                rows = np.flatnonzero(np.isin(table_cells, cells_ok))
                if rows.size == 0:
                    raise ConfigError(f"{source}: no training conditions stored for "
                                      f"{constraint}")
                drawn = table[rng.choice(rows, size=idx.size)]
                cell[idx] = drawn[:, 0].astype(np.int64)
                values[idx] = drawn[:, 1:]
            else:
                cell[idx] = cells_ok[0]
        for j, spec in enumerate(self.continuous):
            if cont_given[j]:
                column = np.asarray(given[spec.name], dtype=np.float64)
                values[:, j] = self._check_continuous(spec, j, column, table, source)
        decoded: dict[str, np.ndarray] = {}
        for j, spec in enumerate(self.categorical):
            per_cell = np.asarray([c[j] for c in self.cells], dtype=object)
            column = per_cell[cell]
            if all(isinstance(v, (int, bool)) for v in per_cell):
                column = column.astype(np.int64 if not all(isinstance(v, bool) for v in per_cell)
                                       else bool)
            decoded[spec.name] = column
        for j, spec in enumerate(self.continuous):
            decoded[spec.name] = values[:, j]
        feats = torch.from_numpy(self.features_of(values)).float()
        return EncodedConditions(torch.from_numpy(cell), feats, decoded)

    def _condition_columns(self, condition: Any, n: int, source: str,
                           ) -> dict[str, np.ndarray]:
        """The given conditions as ``name -> array of n`` (lst derived from readout_time)."""
        names = self.condition_names
        if condition is None:
            return {}
        if isinstance(condition, pd.DataFrame):
            if len(condition) != n:
                raise ConfigError(f"{source}: {len(condition)} condition rows for {n} events")
            items = {c: condition[c].to_numpy() for c in condition.columns
                     if c in names or c == "readout_time"}
        elif isinstance(condition, dict):
            unknown = sorted(set(condition) - set(names) - {"readout_time"})
            if unknown:
                raise ConfigError(f"{source}: unknown condition(s) {unknown} (this model is "
                                  f"conditioned on {', '.join(names)})")
            items = dict(condition)
        else:
            raise ConfigError(f"{source}: conditions must be a dict or a DataFrame, got "
                              f"{type(condition).__name__}")
        columns: dict[str, np.ndarray] = {}
        for key, value in items.items():
            arr = np.asarray(value)
            if arr.ndim == 0:
                arr = np.repeat(arr, n)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ConfigError(f"{source}: condition {key!r} needs a scalar or {n} values, "
                                  f"got shape {np.asarray(value).shape}")
            columns[key] = arr
        if LST in names and LST not in columns and "readout_time" in columns:
            times = columns["readout_time"].astype(np.float64)
            if not np.isfinite(times).all():
                raise ConfigError(f"{source}: 'readout_time' holds NaN/inf; cannot compute lst")
            columns[LST] = local_sidereal_time(times, self.config.longitude_deg)
        return {k: v for k, v in columns.items() if k in names}

    def _check_continuous(self, spec: ConditionSpec, j: int, column: np.ndarray,
                          table: np.ndarray, source: str) -> np.ndarray:
        if not np.isfinite(column).all():
            raise ConfigError(f"{source}: condition {spec.name!r} holds NaN/inf")
        seen = table[:, 1 + j]
        if spec.kind == "cyclic":
            column = np.mod(column, spec.period)
            diff = np.abs(column[:, None] - np.unique(seen)[None, :])
            gap = np.minimum(diff, spec.period - diff).min(axis=1)
            worst = int(np.argmax(gap))
            if gap[worst] > self.config.max_gap * spec.period:
                raise ConfigError(f"{source}: {spec.name}={column[worst]:.3g} is "
                                  f"{gap[worst]:.3g} from the nearest value seen in training "
                                  f"(at most {self.config.max_gap * spec.period:.3g} allowed; "
                                  "the model does not extrapolate)")
            return column
        lo, hi = float(seen.min()), float(seen.max())
        outside = (column < lo) | (column > hi)
        if outside.any():
            v = column[np.argmax(outside)]
            raise ConfigError(f"{source}: {spec.name}={v:.6g} is outside the training range "
                              f"[{lo:.6g}, {hi:.6g}] (the model does not extrapolate)")
        return column

    # -- generation --------------------------------------------------------------------
    def initialize(self, data: torch.Tensor) -> None:
        raise NotImplementedError("conditional models are fitted by rnognoise.train.fit "
                                  "with FitOptions(conditions=...)")

    def generate(self, n: int, generator: torch.Generator,
                 condition: EncodedConditions | None = None) -> torch.Tensor:
        """Normalised noise ``(n, C, T)``; conditions drawn from the training table if None."""
        if condition is None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator,
                                     device=generator.device).item())
            condition = self.encode(None, n, np.random.default_rng(seed))
        device = self.norm_scale.device
        cell = condition.cell.to(device)
        out = torch.empty(n, self.layout.n_channels, self.layout.n_samples, device=device)
        for c in torch.unique(cell).tolist():
            idx = torch.nonzero(cell == c).flatten()
            for g, rows in enumerate(self.group_rows):
                part = self.submodel(int(c), g).generate(int(idx.numel()), generator)
                out[idx[:, None], torch.as_tensor(rows, device=device)[None, :]] = \
                    part.to(out.dtype)
        return self.modulation.apply(out, cell, condition.features.to(device), +1.0)


