"""Encoding the conditions of a conditional noise model: user values to cells and
features, checked against what training covered; the stored training-condition table.

:class:`ConditionEncoding` is a mixin of
:class:`~rnognoise.models.conditional.ConditionalModel`; it uses the model's ``specs``,
``categorical``, ``continuous``, ``cells``, ``config`` and the buffers
``condition_table``, ``linear_center`` and ``linear_scale``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ..conditions import (
    LST,
    ConditionSpec,
    EncodedConditions,
    add_derived_columns,
    cell_key,
    cyclic_features,
    local_sidereal_time,
)
from ..errors import ConfigError

__all__ = ["ConditionEncoding"]


class ConditionEncoding:
    """Conditions -> :class:`~rnognoise.conditions.EncodedConditions` (see the module
    docstring)."""

    specs: list[ConditionSpec]
    categorical: list[ConditionSpec]
    continuous: list[ConditionSpec]
    cells: list[tuple[Any, ...]]
    config: Any
    condition_table: torch.Tensor
    linear_center: torch.Tensor
    linear_scale: torch.Tensor

    @property
    def condition_names(self) -> list[str]:
        """Names of the event conditions (``channel_group`` excluded)."""
        return [s.name for s in self.specs if s.kind != "channel_group"]

    def event_conditions(self, events: pd.DataFrame, *, source: str = "<traces>",
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Cell index ``(n,)`` and raw continuous values ``(n, n_continuous)`` of recorded
        events (``lst`` derived from ``readout_time`` with the model's longitude).

        Raises
        ------
        ConfigError
            A needed column is missing, or a categorical value is not one of the cells.
        """
        names = [s.name for s in self.categorical + self.continuous]
        events = add_derived_columns(events, names, longitude_deg=self.config.longitude_deg,
                                     source=source)
        index = {c: i for i, c in enumerate(self.cells)}
        n = len(events)
        if self.categorical:
            frame = events[[s.name for s in self.categorical]]
            keys = [tuple(cell_key(v) for v in row) for row in frame.itertuples(index=False)]
            unknown = [k for k in keys if k not in index]
            if unknown:
                raise ConfigError(f"{source}: cell {unknown[0]} is not one of the model's")
            cell = np.fromiter((index[k] for k in keys), np.int64, n)
        else:
            cell = np.zeros(n, np.int64)
        values = (events[[s.name for s in self.continuous]].to_numpy(np.float64)
                  if self.continuous else np.zeros((n, 0)))
        return cell, values

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

    def encode_conditions(self, condition: Any, n: int, rng: np.random.Generator, *,
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
