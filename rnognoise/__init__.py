"""rnognoise: learned and analytic noise models for RNO-G.

Submodules
----------
io
    :class:`~rnognoise.io.TraceSet`, readers for HDF5 and RNO-G ROOT, writers.
simulate
    Physically motivated RNO-G-like noise: the embedded default dataset.
errors
    Exception types (all derive from :class:`~rnognoise.errors.RnognoiseError`).
units
    Unit conversions (ADC counts, mV -> V).
cli
    The ``rnognoise`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
