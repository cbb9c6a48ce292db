"""Text and JSON helpers shared by the result types: one JSON converter, one table layout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["fixed_width", "jsonable", "num", "pm"]


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy types as Python ones and non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if obj is None or isinstance(obj, (int, str)):
        return obj
    return str(obj)


def pm(value: float | None, err: float | None = None, fmt: str = ".4g") -> str:
    """``"1.23 ± 0.04"``, ``"1.23"`` without a finite error, ``"n/a"`` without a value."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if err is None or not math.isfinite(err):
        return f"{value:{fmt}}"
    return f"{value:{fmt}} ± {err:.2g}"


def num(x: float | None) -> str:
    """Three significant digits, or ``"n/a"``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}"


def fixed_width(rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns with a dashed rule under the first (header) row."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    return text
