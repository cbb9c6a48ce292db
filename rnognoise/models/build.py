"""Building a model (not yet fitted) for a set of traces: a plain model of a kind, or a
conditional one wrapping that kind when conditions are given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..conditions import RNOG_SITE_LONGITUDE_DEG
from ..errors import ConfigError
from .base import NoiseModel, TraceLayout, get_model_class
from .conditional import ConditionalModel

if TYPE_CHECKING:
    from ..io import TraceSet

__all__ = ["build_model", "check_kind"]


def check_kind(kind: str) -> type[NoiseModel]:
    """The class of a kind a user can fit directly.

    Raises
    ------
    ConfigError
        Unknown kind (the message lists the valid ones), or a wrapper kind
        (``conditional``), which is made from conditions and a base kind.
    """
    cls = get_model_class(kind)
    if cls.wrapper:
        raise ConfigError(f"{kind!r} models are made from conditions=[...] (--condition "
                          "NAMES) and a base model kind (baseline, wgan-gp or vae)")
    return cls


def build_model(data: TraceSet | TraceLayout, kind: str, options: dict[str, Any] | None = None,
                *, conditions: str | Sequence[str] | None = None,
                train_rows: np.ndarray | None = None,
                longitude_deg: float = RNOG_SITE_LONGITUDE_DEG) -> NoiseModel:
    """A model of ``kind`` for the layout of ``data`` (not yet fitted).

    Parameters
    ----------
    data : TraceSet or TraceLayout
        The traces (a conditional model also needs their per-event columns).
    kind : str
        Model kind (``baseline``, ``wgan-gp``, ``vae``).
    options : dict, optional
        Hyper-parameters of the kind's ``Config``.
    conditions : str or list of str, optional
        Condition names: a conditional model with sub-models of ``kind``
        (:meth:`~rnognoise.models.conditional.ConditionalModel.from_data`).
    train_rows : numpy.ndarray, optional
        Rows of ``data`` the model will be fitted on (conditional models check each
        cell's count).
    longitude_deg : float
        East longitude, degrees, of the local sidereal time.

    Raises
    ------
    ConfigError
        Unknown kind or options; a wrapper kind asked for directly.
    """
    cls = check_kind(kind)
    if conditions:
        if isinstance(data, TraceLayout):
            raise ConfigError("a conditional model is built from traces with their events")
        return ConditionalModel.from_data(data, kind, conditions, base_options=options,
                                          train_rows=train_rows, longitude_deg=longitude_deg)
    layout = data if isinstance(data, TraceLayout) else TraceLayout.of(data)
    return cls(cls.make_config(options), layout)
