"""Simulated RNO-G-like noise: the embedded default dataset of rnognoise.

Thermal noise shaped by the in-ice signal chain, per-event gain drift, LAB4D block
offsets and 64-sample glitches, continuous-wave lines, impulsive plane-wave bursts and
ADC quantisation, each switchable in :class:`SimulationConfig` and each documented with
its sources in ``docs/simulation.md``. Optionally the events are spread over several
stations (per-station gain and CW occupancy) and carry galactic noise whose power
follows local sidereal time, for models conditioned on ``station`` and ``lst``.

Modules
-------
config
    :class:`SimulationConfig` and :class:`CWLine`: every parameter, with defaults.
response
    The signal-chain response (analog Butterworth band-pass with per-channel tilt).
features
    Each feature as a pure array function.
generator
    :func:`simulate_noise`: seeded, per-event random streams, metadata and truth.
writer
    :func:`simulate_to_file`: batched generation into HDF5 or ROOT files.

Examples
--------
>>> from rnognoise.simulate import SimulationConfig, simulate_noise
>>> ts = simulate_noise(16, config=SimulationConfig(glitches=True), seed=3)
>>> ts.traces.shape
(16, 4, 2048)
"""

from __future__ import annotations

from .config import DEFAULT_CW_LINES, DEFAULT_STATION_CW_SCALES, CWLine, SimulationConfig
from .generator import simulate_noise
from .response import signal_chain_response
from .writer import simulate_to_file

__all__ = [
    "DEFAULT_CW_LINES",
    "DEFAULT_STATION_CW_SCALES",
    "CWLine",
    "SimulationConfig",
    "signal_chain_response",
    "simulate_noise",
    "simulate_to_file",
]
