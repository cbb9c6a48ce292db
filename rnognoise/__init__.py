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
models
    Noise models (``baseline``, ``wgan-gp``, ``vae``) and their registry.
train
    Fitting models to traces (``rnognoise fit``).
generator
    :class:`~rnognoise.generator.NoiseGenerator`: seeded noise in volts from a model file.
stitching
    Arbitrary trace lengths and sampling rates for generated noise.
metrics
    Fidelity metrics and :func:`~rnognoise.metrics.compare` (``rnognoise validate``).
report
    Plots and the HTML/PDF validation report.
core
    The shared GAN/VAE training core (losses, gradient penalty, loop, checkpoints).
nuradio
    A NuRadioReco module adding learned noise (extra ``rnognoise[nuradio]``).
cli
    The ``rnognoise`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
