"""Reading and writing detector traces.

- :class:`TraceSet` — traces in volts with sampling rate, channel ids and per-event metadata.
- :func:`read_traces` / :func:`iter_traces` — read a whole file, or stream it in batches.
- :func:`write_traces` — write the canonical HDF5 layout (or the RNO-G ROOT flat layout).
- :func:`open_traces` — the format-specific streaming source underneath.

Layouts are documented in ``data_specs/``.
"""

from __future__ import annotations

from .api import detect_format, iter_traces, open_traces, read_traces, write_traces
from .traceset import TraceSet

__all__ = ["TraceSet", "detect_format", "iter_traces", "open_traces", "read_traces",
           "write_traces"]
