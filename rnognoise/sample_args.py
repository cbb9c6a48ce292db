"""Argument checks and condition bookkeeping of :class:`rnognoise.generator.NoiseGenerator`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .errors import ConfigError

if TYPE_CHECKING:
    from .conditions import EncodedConditions

__all__ = ["broadcast", "check_batch", "check_count", "check_index", "check_length",
           "check_seed", "concat", "is_encoded", "take"]


def is_encoded(condition: Any) -> bool:
    """An ``EncodedConditions`` (a named tuple with ``cell``), not user input."""
    return isinstance(condition, tuple) and hasattr(condition, "cell")


def broadcast(condition: Any) -> bool:
    """None, or one value per condition: conditions can be drawn block by block."""
    if condition is None:
        return True
    return isinstance(condition, Mapping) and all(np.ndim(v) == 0 for v in condition.values())


def take(encoded: EncodedConditions, rows: np.ndarray) -> EncodedConditions:
    index = torch.as_tensor(rows, dtype=torch.long)
    return type(encoded)(encoded.cell[index], encoded.features[index],
                         {k: np.asarray(v)[rows] for k, v in encoded.values.items()})


def concat(parts: list[EncodedConditions]) -> EncodedConditions:
    return type(parts[0])(torch.cat([p.cell for p in parts]),
                          torch.cat([p.features for p in parts]),
                          {k: np.concatenate([np.asarray(p.values[k]) for p in parts])
                           for k in parts[0].values})


def check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"number of events must be an integer, got {n!r}")
    if n < 1:
        raise ConfigError(f"number of events must be >= 1, got {n}")
    return int(n)


def check_batch(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)


def check_index(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_length(n_samples: int) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ConfigError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 1:
        raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
    return int(n_samples)


def check_seed(seed: int | None) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ConfigError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return None if seed is None else int(seed)
