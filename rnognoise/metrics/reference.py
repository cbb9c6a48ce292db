"""The noise simulations use today, as a reference column of a validation report.

NuRadioMC's ``channelGenericNoiseAdder.bandlimited_noise`` draws random-phase noise with
a flat band-limited spectrum and Rayleigh-distributed bin amplitudes. Fitted to the real
data's analysis band and per-channel RMS it is the analytic noise most simulations add;
comparing it with the real data in the same report shows how far a learned model is
ahead of it.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..io import TraceSet

__all__ = ["nuradio_available", "nuradio_reference"]


def nuradio_available() -> bool:
    """True when NuRadioReco (NuRadioMC) can be imported."""
    try:
        return importlib.util.find_spec("NuRadioReco") is not None
    except (ImportError, ValueError):
        return False


def nuradio_reference(real: TraceSet, n_events: int, band: tuple[float, float], *,
                      seed: int = 0) -> TraceSet:
    """NuRadioMC generic noise with the real band and per-channel RMS.

    Parameters
    ----------
    real : TraceSet
        Real traces, V (rate, channels, length and RMS are taken from them).
    n_events : int
        Events to draw.
    band : (float, float), Hz
        Pass band of the noise (the report's analysis band).
    seed : int
        Seed of NuRadioMC's generator.

    Returns
    -------
    TraceSet
        float32 volts; each channel scaled to the real channel's RMS.

    Raises
    ------
    ModuleNotFoundError
        NuRadioMC is not installed (``pip install NuRadioMC``).
    """
    if not nuradio_available():
        raise ModuleNotFoundError("NuRadioMC is not installed (pip install NuRadioMC)")
    from NuRadioReco.modules.channelGenericNoiseAdder import channelGenericNoiseAdder
    from NuRadioReco.utilities import units

    adder = channelGenericNoiseAdder()
    adder.begin(seed=seed)
    rms = np.sqrt(np.mean(np.square(real.traces, dtype=np.float64), axis=(0, 2)))
    out = np.empty((n_events, real.n_channels, real.n_samples), np.float32)
    fs = real.sampling_rate * units.Hz
    lo, hi = band[0] * units.Hz, band[1] * units.Hz
    for e in range(n_events):
        for c in range(real.n_channels):
            out[e, c] = adder.bandlimited_noise(lo, hi, real.n_samples, fs, 1.0,
                                                type="rayleigh")
    now = np.sqrt(np.mean(np.square(out, dtype=np.float64), axis=(0, 2)))
    out *= (rms / np.where(now > 0, now, 1.0)).astype(np.float32)[None, :, None]
    return TraceSet(out, real.sampling_rate, real.channels,
                    source="NuRadioMC channelGenericNoiseAdder.bandlimited_noise (rayleigh)",
                    attrs={"band_hz": list(band), "fitted_to": str(real.source)})
