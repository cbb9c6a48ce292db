"""Conditions of the noise: station, channel group, local sidereal time, any event column.

Noise changes with where and when it was recorded. A *condition* is a per-event
quantity the noise depends on; this module names them, derives the ones that are not
stored directly (local sidereal time from ``readout_time``, the channel group from the
channel id), decides how each is encoded, and checks requested values against what a
model was trained on.

Kinds of condition
------------------
``categorical``
    Integer, boolean or string event columns (``station``, ``run_number``, ...): one
    sub-model per value; a value not seen in training is an error.
``cyclic``
    ``lst``, local sidereal time in hours (period 24 h): encoded by its first harmonics
    ``cos(2 pi k lst / 24)``, ``sin(...)``; galactic noise follows it smoothly.
``linear``
    Other float event columns (a temperature, a wind speed): encoded linearly,
    interpolated inside the training range, never extrapolated.
``channel_group``
    Not an event column: the channels are partitioned into groups
    (:data:`RNOG_CHANNEL_GROUPS`) that get separate models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["CHANNEL_GROUP", "LST", "RNOG_CHANNEL_GROUPS", "RNOG_SITE_LATITUDE_DEG",
           "RNOG_SITE_LONGITUDE_DEG", "ConditionSpec", "EncodedConditions",
           "add_derived_columns", "cell_key", "channel_group_of", "cyclic_features",
           "group_channels", "local_sidereal_time", "parse_condition_names", "resolve_specs"]

#: Summit Station, Greenland: the RNO-G site (rnog-facts.md; stations lie within ~0.1 deg,
#: i.e. within ~0.4 minutes of local sidereal time of each other).
RNOG_SITE_LATITUDE_DEG = 72.60
RNOG_SITE_LONGITUDE_DEG = -38.46

#: Name of the derived local-sidereal-time column (hours, 0 <= lst < 24).
LST = "lst"
#: Name of the channel-group condition.
CHANNEL_GROUP = "channel_group"

#: RNO-G channel groups (rnog-facts.md, "Hardware"): phased array (deep VPol 0-3), the other
#: deep VPols, the deep HPols and the surface LPDAs. Channel ids outside 0-23 form ``other``.
RNOG_CHANNEL_GROUPS: dict[str, tuple[int, ...]] = {
    "phased_array": (0, 1, 2, 3),
    "deep_vpol": (5, 6, 7, 9, 10, 22, 23),
    "deep_hpol": (4, 8, 11, 21),
    "surface": (12, 13, 14, 15, 16, 17, 18, 19, 20),
}

_UNIX_EPOCH_JD = 2440587.5
_J2000_JD = 2451545.0
_SIDEREAL_HOURS_PER_DAY = 24.06570982441908


def local_sidereal_time(unix_seconds: Any, longitude_deg: float = RNOG_SITE_LONGITUDE_DEG,
                        ) -> np.ndarray:
    """Local mean sidereal time in hours, ``0 <= lst < 24``.

    Greenwich mean sidereal time from the linear expression in days since J2000.0
    (USNO; accurate to about 0.1 s per century, far below the minutes over which
    galactic noise changes), shifted by the east longitude.

    Parameters
    ----------
    unix_seconds : array_like
        UTC seconds since 1970-01-01 (the ``readout_time`` column).
    longitude_deg : float
        East longitude in degrees (RNO-G: -38.46).

    Returns
    -------
    numpy.ndarray
        Hours, float64, same shape as ``unix_seconds``.

    Examples
    --------
    >>> float(local_sidereal_time(946728000.0, 0.0))  # J2000.0: GMST 18.697 h
    18.697374558
    """
    t = np.asarray(unix_seconds, dtype=np.float64)
    days = t / 86400.0 + (_UNIX_EPOCH_JD - _J2000_JD)
    gmst = 18.697374558 + _SIDEREAL_HOURS_PER_DAY * days
    return np.mod(gmst + longitude_deg / 15.0, 24.0)


def channel_group_of(channel: int) -> str:
    """The RNO-G group of a channel id (``"other"`` outside 0-23)."""
    for name, ids in RNOG_CHANNEL_GROUPS.items():
        if int(channel) in ids:
            return name
    return "other"


def group_channels(channels: Iterable[int]) -> dict[str, list[int]]:
    """Channel ids partitioned into their RNO-G groups, in the order of
    :data:`RNOG_CHANNEL_GROUPS` (then ``other``); empty groups are left out.

    Examples
    --------
    >>> group_channels([0, 4, 12, 13])
    {'phased_array': [0], 'deep_hpol': [4], 'surface': [12, 13]}
    """
    present: dict[str, list[int]] = {}
    for c in channels:
        present.setdefault(channel_group_of(int(c)), []).append(int(c))
    return {g: present[g] for g in [*RNOG_CHANNEL_GROUPS, "other"] if g in present}


def cyclic_features(values: Any, period: float, harmonics: int) -> np.ndarray:
    """``[cos(2 pi k v / P), sin(2 pi k v / P)]`` for ``k = 1..harmonics``; shape ``(n, 2H)``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    k = np.arange(1, harmonics + 1, dtype=np.float64)[None, :]
    phase = 2.0 * math.pi * k * v / period
    return np.concatenate([np.cos(phase), np.sin(phase)], axis=1)


@dataclass(frozen=True)
class ConditionSpec:
    """One condition of a model.

    Parameters
    ----------
    name : str
        Event column (or ``lst`` / ``channel_group``).
    kind : {"categorical", "cyclic", "linear", "channel_group"}
        How it is modelled (see the module docstring).
    period : float
        Period of a cyclic condition (24 h for ``lst``).
    """

    name: str
    kind: str
    period: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ConditionSpec:
        """Rebuild from :meth:`to_dict` output, validated."""
        try:
            spec = cls(str(values["name"]), str(values["kind"]), float(values.get("period", 0)))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"invalid condition description {values!r}") from None
        if spec.kind not in ("categorical", "cyclic", "linear", CHANNEL_GROUP):
            raise ConfigError(f"condition {spec.name!r}: unknown kind {spec.kind!r}")
        if spec.kind == "cyclic" and not spec.period > 0:
            raise ConfigError(f"cyclic condition {spec.name!r} needs a positive period")
        return spec

    @property
    def continuous(self) -> bool:
        """True for cyclic and linear conditions (encoded as features, not cells)."""
        return self.kind in ("cyclic", "linear")


class EncodedConditions(NamedTuple):
    """Conditions of ``n`` events in the form a conditional model consumes.

    ``cell``: long tensor ``(n,)``, index of the categorical cell; ``features``: float
    tensor ``(n, F)`` of continuous-condition features (``F`` may be 0); ``values``: the
    decoded value of every condition per event (name -> array of ``n``), for bookkeeping
    (:attr:`frame`).
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


def parse_condition_names(text: str | Sequence[str] | None) -> list[str]:
    """``"station,channel_group,lst"`` (or a list) -> unique, non-empty names in order."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in items:
        name = str(item).strip()
        if not name:
            continue
        if name in names:
            raise ConfigError(f"condition {name!r} given twice")
        names.append(name)
    return names


def add_derived_columns(events: pd.DataFrame, names: Iterable[str], *,
                        longitude_deg: float = RNOG_SITE_LONGITUDE_DEG,
                        source: str = "<traces>") -> pd.DataFrame:
    """Return ``events`` with the derived condition columns (``lst``) added where needed.

    Raises
    ------
    ConfigError
        A named column is neither stored nor derivable; the message names the file and
        the columns it has.
    """
    events = events.copy()
    for name in names:
        if name == CHANNEL_GROUP or name in events.columns:
            continue
        if name == LST:
            if "readout_time" not in events.columns:
                raise ConfigError(f"{source}: condition 'lst' needs the per-event column "
                                  f"'readout_time' (unix s); columns: {sorted(events.columns)}")
            times = events["readout_time"].to_numpy(np.float64)
            if not np.isfinite(times).all():
                raise ConfigError(f"{source}: 'readout_time' holds NaN/inf; cannot compute lst")
            events[LST] = local_sidereal_time(times, longitude_deg)
            continue
        raise ConfigError(f"{source}: no per-event column {name!r} for the condition "
                          f"(columns: {sorted(events.columns)}; derived: lst, channel_group)")
    return events


def resolve_specs(names: Sequence[str], events: pd.DataFrame, *, source: str = "<traces>",
                  ) -> list[ConditionSpec]:
    """Decide each condition's kind from its name and column dtype.

    ``lst`` is cyclic (24 h), ``channel_group`` partitions channels, integer / boolean /
    string columns are categorical and float columns linear.
    """
    specs: list[ConditionSpec] = []
    for name in names:
        if name == CHANNEL_GROUP:
            specs.append(ConditionSpec(name, CHANNEL_GROUP))
        elif name == LST:
            specs.append(ConditionSpec(name, "cyclic", 24.0))
        else:
            if name not in events.columns:
                raise ConfigError(f"{source}: no per-event column {name!r} for the condition "
                                  f"(columns: {sorted(events.columns)})")
            column = events[name]
            if pd.api.types.is_float_dtype(column.dtype):
                values = column.to_numpy(np.float64)
                if not np.isfinite(values).all():
                    raise ConfigError(f"{source}: condition column {name!r} holds NaN/inf")
                specs.append(ConditionSpec(name, "linear"))
            elif (pd.api.types.is_integer_dtype(column.dtype)
                  or pd.api.types.is_bool_dtype(column.dtype)
                  or pd.api.types.is_object_dtype(column.dtype)
                  or pd.api.types.is_string_dtype(column.dtype)):
                specs.append(ConditionSpec(name, "categorical"))
            else:
                raise ConfigError(f"{source}: condition column {name!r} has dtype "
                                  f"{column.dtype}, which is neither categorical nor numeric")
    if sum(s.kind == CHANNEL_GROUP for s in specs) > 1:
        raise ConfigError("channel_group given twice")
    return specs
