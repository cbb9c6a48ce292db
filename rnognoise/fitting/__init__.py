"""The pieces of a fit, used by :func:`rnognoise.train.fit`.

- :mod:`~rnognoise.fitting.options` — :class:`~rnognoise.fitting.options.FitOptions`.
- :mod:`~rnognoise.fitting.data` — events read, split and normalised; the minimum-event
  and held-out rules; the data's provenance.
- :mod:`~rnognoise.fitting.stream` — a fit that streams a file larger than memory in
  shuffled windows.
- :mod:`~rnognoise.fitting.parts` — one part of a model: initialisation, component
  selection, training loop, held-out check.
"""

from __future__ import annotations

from .options import DEFAULT_MINUTES, FitOptions, make_options

__all__ = ["DEFAULT_MINUTES", "FitOptions", "make_options"]
