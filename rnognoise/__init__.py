"""rnognoise: learned and analytic noise models for RNO-G.

The front door (imported lazily: ``import rnognoise`` loads neither torch nor h5py)::

    from rnognoise import NoiseGenerator, TraceSet, read_traces, write_traces, fit, compare

    traces = read_traces("forced.h5")                     # TraceSet, volts
    fit(traces, "noise.safetensors")                      # train a model file
    gen = NoiseGenerator.load("noise.safetensors")
    noise = gen.sample(1000, seed=42, stream=3)           # (1000, C, T) volts
    report = compare(traces, noise)                       # fidelity metrics

Submodules
----------
io
    :class:`~rnognoise.io.TraceSet`, readers for HDF5 and RNO-G ROOT, writers
    (:class:`~rnognoise.io.hdf5_writer.HDF5Writer`: the one writer of the HDF5 layout).
simulate
    Physically motivated RNO-G-like noise: the embedded default dataset.
errors
    Exception and warning types (errors derive from
    :class:`~rnognoise.errors.RnognoiseError`).
units
    Unit conversions (ADC counts, mV -> V).
models
    Noise models (``baseline``, ``wgan-gp``, ``vae``) and their registry.
train
    Fitting models to traces (``rnognoise fit``; :func:`~rnognoise.train.fit`).
generator
    :class:`~rnognoise.generator.NoiseGenerator`: seeded noise in volts from a model
    file, in independent streams for simulation campaigns.
envelope_guard
    The physical envelope of a model's training data, checked while sampling.
stitching
    Arbitrary trace lengths and sampling rates for generated noise.
metrics
    Fidelity metrics and :func:`~rnognoise.metrics.compare` (``rnognoise validate``).
report
    Plots and the HTML/PDF validation report.
core
    The shared GAN/VAE training core (losses, gradient penalty, loop, checkpoints) and
    :mod:`~rnognoise.core.device` (device choice, mixed precision, host transfers).
nuradio
    A NuRadioReco module adding learned noise (extra ``rnognoise[nuradio]``).
cli
    The ``rnognoise`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import Any

#: Public names -> the submodule that defines them (imported on first use).
_LAZY = {
    "NoiseGenerator": "rnognoise.generator",
    "TraceSet": "rnognoise.io",
    "compare": "rnognoise.metrics",
    "fit": "rnognoise.train",
    "read_traces": "rnognoise.io",
    "write_traces": "rnognoise.io",
}

__all__ = ["NoiseGenerator", "TraceSet", "__version__", "compare", "fit", "read_traces",
           "write_traces"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rnognoise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
