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

Fitting (:meth:`ConditionalModel.from_data`, :meth:`~ConditionalModel.fit_parts`): the
cells and channel groups come from the data; the modulation and the condition table
are fitted on the training events, which are then demodulated and split into one
:class:`~rnognoise.models.base.FitPart` per cell and channel group, each initialised and
(for learned kinds) trained like a plain model of the base kind.

The model stores, besides the sub-models, a table of training conditions (at most
``table_rows`` rows): conditions not given at sampling time are drawn from it, so
``sample(n)`` reproduces the training mixture and ``sample(n, condition={"station": 12})``
the distribution of the other conditions at station 12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..conditions import (
    CHANNEL_GROUP,
    RNOG_SITE_LONGITUDE_DEG,
    ConditionSpec,
    EncodedConditions,
    add_derived_columns,
    cell_key,
    group_channels,
    parse_condition_names,
    resolve_specs,
)
from ..errors import ConfigError, DataFileError
from .base import FitPart, NoiseModel, TraceLayout, get_model_class, min_fit_events, register_model
from .conditional_encoding import ConditionEncoding
from .modulation import SpectralModulation

if TYPE_CHECKING:
    import pandas as pd

    from ..io import TraceSet

__all__ = ["ConditionalConfig", "ConditionalModel", "EncodedConditions", "SpectralModulation",
           "cell_key"]

#: Rows of the stored training-condition table at most.
MAX_TABLE_ROWS = 4096
#: Events demodulated at once.
_BLOCK = 1024


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


def _cell_order(key: tuple[Any, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((type(v).__name__, v) for v in key)


@register_model("conditional")
class ConditionalModel(ConditionEncoding, NoiseModel):
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
    def submodel(self, cell: int, group: int) -> NoiseModel:
        """The sub-model of a cell and channel group."""
        return self.submodels[cell * len(self.group_rows) + group]

    def cell_label(self, cell: int) -> str:
        """``"station=11"`` style label of a cell (``"all"`` without categorical conditions)."""
        if not self.categorical:
            return "all"
        return ",".join(f"{s.name}={v}" for s, v in zip(self.categorical, self.cells[cell],
                                                         strict=True))

    # -- fitting ------------------------------------------------------------------------
    @classmethod
    def from_data(cls, data: TraceSet, base: str, conditions: str | Sequence[str], *,
                  base_options: dict[str, Any] | None = None,
                  train_rows: np.ndarray | None = None,
                  longitude_deg: float = RNOG_SITE_LONGITUDE_DEG) -> ConditionalModel:
        """A model (not yet fitted) with the cells and channel groups of ``data``.

        Parameters
        ----------
        data : TraceSet
            The traces with their per-event columns.
        base : str
            Kind of the sub-models.
        conditions : str or list of str
            Condition names (``station``, ``channel_group``, ``lst``, any event column).
        base_options : dict, optional
            Hyper-parameters of the sub-models.
        train_rows : numpy.ndarray, optional
            Rows of ``data`` the model is fitted on (default: all); each cell needs
            :func:`~rnognoise.models.base.min_fit_events` of them.
        longitude_deg : float
            East longitude, degrees, of the local sidereal time.

        Raises
        ------
        ConfigError
            No or unknown condition names, a base kind that is itself a wrapper.
        DataFileError
            A cell with too few training events.
        """
        source = data.source or "<traces>"
        names = parse_condition_names(conditions)
        if not names:
            raise ConfigError("a conditional model needs at least one condition name")
        if get_model_class(base).wrapper:
            raise ConfigError("conditional models are made from conditions and a base kind "
                              "(baseline, wgan-gp or vae)")
        events = add_derived_columns(data.events, names, longitude_deg=longitude_deg,
                                     source=source)
        specs = resolve_specs(names, events, source=source)
        categorical = [s.name for s in specs if s.kind == "categorical"]
        keys = ([tuple(cell_key(v) for v in row) for row in
                 events[categorical].itertuples(index=False)] if categorical
                else [()] * data.n_events)
        cells = sorted(set(keys), key=_cell_order)
        rows = np.arange(data.n_events) if train_rows is None else np.asarray(train_rows)
        groups = (group_channels(data.channels)
                  if any(s.kind == CHANNEL_GROUP for s in specs) else {})
        config = ConditionalConfig(base=base, base_config=dict(base_options or {}),
                                   conditions=[s.to_dict() for s in specs],
                                   cells=[list(c) for c in cells], groups=groups,
                                   table_rows=int(max(1, min(MAX_TABLE_ROWS, len(rows)))),
                                   longitude_deg=float(longitude_deg))
        model = cls(config, TraceLayout.of(data))
        index = {c: i for i, c in enumerate(cells)}
        counts = np.bincount([index[keys[r]] for r in rows], minlength=len(cells))
        needed = min_fit_events(base)
        for c, count in enumerate(counts):
            if count < needed:
                raise DataFileError(source, f"condition cell {model.cell_label(c)} has only "
                                    f"{count} training events; model {base!r} needs at least "
                                    f"{needed} per cell (drop the condition or add data)")
        return model

    def fit_parts(self, train: torch.Tensor, val: torch.Tensor,
                  train_events: pd.DataFrame | None = None,
                  val_events: pd.DataFrame | None = None) -> list[FitPart]:
        """Fit the condition table and the modulation on the training events, demodulate
        ``train`` and ``val`` in place, and return one part per cell and channel group.

        Each part's budget share is its cell's fraction of the training events divided
        among the channel groups.
        """
        if train_events is None or val_events is None:
            raise ConfigError("a conditional model is fitted with the events' condition "
                              "columns (a TraceSet's events)")
        tr_cell, tr_values = self.event_conditions(train_events)
        va_cell, va_values = self.event_conditions(val_events)
        self.set_linear_scaling(tr_values)
        self.set_condition_table(tr_cell, tr_values)
        tr_feat = torch.from_numpy(self.features_of(tr_values)).float()
        va_feat = torch.from_numpy(self.features_of(va_values)).float()
        for c in range(len(self.cells)):
            rows = torch.from_numpy(np.flatnonzero(tr_cell == c))
            self.modulation.fit_cell(c, train[rows], tr_feat[rows])
        self._demodulate(train, torch.from_numpy(tr_cell), tr_feat)
        self._demodulate(val, torch.from_numpy(va_cell), va_feat)
        total, n_groups = max(1, len(tr_cell)), len(self.group_rows)
        parts = []
        for c in range(len(self.cells)):
            tr = torch.from_numpy(np.flatnonzero(tr_cell == c))
            va = torch.from_numpy(np.flatnonzero(va_cell == c))
            for g, rows in enumerate(self.group_rows):
                label = self.cell_label(c) + ("" if n_groups == 1 else
                                              f",group={self.group_names[g]}")
                ch = torch.as_tensor(rows)
                parts.append(FitPart(
                    label, self.submodel(c, g), train[tr][:, ch].contiguous(),
                    val[va][:, ch].contiguous(), share=len(tr) / total / n_groups,
                    info={"cell": self.cell_label(c), "group": self.group_names[g],
                          "n_train_events": len(tr), "n_validation_events": len(va)}))
        return parts

    def _demodulate(self, data: torch.Tensor, cell: torch.Tensor,
                    features: torch.Tensor) -> None:
        for lo in range(0, data.shape[0], _BLOCK):
            hi = min(data.shape[0], lo + _BLOCK)
            data[lo:hi] = self.modulation.apply(data[lo:hi], cell[lo:hi], features[lo:hi],
                                                -1.0)

    def fit_summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The conditions, and per cell its event counts and the record of each channel
        group's sub-model (initialisation, components, training, held-out check)."""
        cells: dict[str, dict[str, Any]] = {}
        for record in records:
            rest = {k: v for k, v in record.items()
                    if k not in ("cell", "n_train_events", "n_validation_events")}
            entry = cells.setdefault(record["cell"], {
                "cell": record["cell"], "n_train_events": record["n_train_events"],
                "n_validation_events": record["n_validation_events"], "groups": []})
            entry["groups"].append(rest)
        return {"conditions": [s.to_dict() for s in self.specs], "cells": list(cells.values()),
                "longitude_deg": float(self.config.longitude_deg)}

    def initialize(self, data: torch.Tensor, events: pd.DataFrame | None = None) -> None:
        """Fit every part analytically from normalised ``data`` ``(n, C, T)`` and its
        ``events`` (no held-out events, no training of learned sub-models)."""
        if events is None:
            raise ConfigError("a conditional model is initialised with the events' "
                              "condition columns")
        for part in self.fit_parts(data.clone(), data[:0].clone(), events, events.iloc[:0]):
            part.model.initialize(part.train)

    # -- generation --------------------------------------------------------------------
    def generate(self, n: int, generator: torch.Generator,
                 condition: EncodedConditions | None = None) -> torch.Tensor:
        """Normalised noise ``(n, C, T)``; conditions drawn from the training table if None."""
        if condition is None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator,
                                     device=generator.device).item())
            condition = self.encode_conditions(None, n, np.random.default_rng(seed))
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
