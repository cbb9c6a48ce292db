"""Structured logging and progress bars.

Log records carry their data as ``extra={"fields": {...}}``; the formatter renders
them as ``key=value`` pairs for people or as one JSON object per line for machines.
Progress bars (tqdm) show rate and ETA on stderr and vanish with ``quiet=True``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from tqdm.auto import tqdm

__all__ = ["configure_logging", "get_logger", "log_event", "progress"]

_LOGGER_NAME = "rnognoise"
#: Progress bars are off while logs go out as JSON lines (machine readers).
_BARS = {"on": True}


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {}) or {}
        tail = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.levelname.lower():7s} {record.getMessage()}" + (
            f" {tail}" if tail else "")


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}) or {})
        return json.dumps(payload, default=str)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def configure_logging(*, quiet: bool = False, json_format: bool = False,
                      verbose: bool = False) -> None:
    """Send rnognoise logs to stderr: INFO by default, WARNING when quiet, DEBUG when verbose."""
    logger = logging.getLogger(_LOGGER_NAME)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JSONFormatter() if json_format else _KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    _BARS["on"] = not json_format


def get_logger(name: str | None = None) -> logging.Logger:
    """Logger ``rnognoise`` or a child of it."""
    return logging.getLogger(_LOGGER_NAME if not name else f"{_LOGGER_NAME}.{name}")


def log_event(logger: logging.Logger, message: str, level: int = logging.INFO,
              **fields: Any) -> None:
    """Log ``message`` with structured ``fields``."""
    logger.log(level, message, extra={"fields": fields})


def progress(total: int | None = None, *, desc: str = "", unit: str = "it",
             quiet: bool = False) -> tqdm:
    """A progress bar on stderr with rate and ETA; silent when ``quiet`` or when logs are
    JSON lines (``configure_logging(json_format=True)``, ``--log-json``)."""
    return tqdm(total=total, desc=desc, unit=unit, disable=quiet or not _BARS["on"],
                file=sys.stderr,
                dynamic_ncols=True, leave=False, mininterval=0.5)
