"""The in-ice signal chain (IGLU + DRAB) as an analog Butterworth band-pass.

A high-pass of order 3 at 118 MHz times a low-pass of order 8 at 610 MHz reproduces
the published in-ice chain band edges: -3 dB at 118.0 and 609.9 MHz (published 118 and
609 MHz) and -10 dB at 81.8 and 699.9 MHz (published 82 and 705 MHz). The response is complex: the Butterworth phase makes
impulses ring and disperse like a real amplifier chain. Each channel adds a mild
spectral tilt (dB per octave about a pivot frequency) so that channels differ.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .config import SimulationConfig

__all__ = ["band_edges", "nominal_response", "signal_chain_response"]


def nominal_response(frequencies: np.ndarray, *, highpass_hz: float = 118e6,
                     highpass_order: int = 3, lowpass_hz: float = 610e6,
                     lowpass_order: int = 8) -> np.ndarray:
    """Complex response of the Butterworth band-pass, normalised to peak magnitude 1.

    Parameters
    ----------
    frequencies : numpy.ndarray, Hz
        Frequencies at which to evaluate the response.
    highpass_hz, lowpass_hz : float, Hz
        -3 dB corner of each stage alone.
    highpass_order, lowpass_order : int
        Butterworth orders.

    Returns
    -------
    numpy.ndarray
        Complex gain, same shape as ``frequencies``; ``abs`` peaks at 1.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    response = _butterworth(frequencies, highpass_hz, highpass_order, lowpass_hz, lowpass_order)
    grid = np.geomspace(highpass_hz / 4, lowpass_hz * 2, 4001)
    peak = np.abs(_butterworth(grid, highpass_hz, highpass_order, lowpass_hz,
                               lowpass_order)).max()
    return response / peak


def _butterworth(frequencies: np.ndarray, highpass_hz: float, highpass_order: int,
                 lowpass_hz: float, lowpass_order: int) -> np.ndarray:
    omega = 2 * np.pi * frequencies
    z, p, k = signal.butter(highpass_order, 2 * np.pi * highpass_hz, "highpass", analog=True,
                            output="zpk")
    _, high = signal.freqs_zpk(z, p, k, worN=omega.reshape(-1))
    z, p, k = signal.butter(lowpass_order, 2 * np.pi * lowpass_hz, "lowpass", analog=True,
                            output="zpk")
    _, low = signal.freqs_zpk(z, p, k, worN=omega.reshape(-1))
    return (high * low).reshape(frequencies.shape)


def signal_chain_response(frequencies: np.ndarray, config: SimulationConfig | None = None,
                          *, tilt: bool = True) -> np.ndarray:
    """Complex response of every simulated channel.

    Parameters
    ----------
    frequencies : numpy.ndarray, Hz
        1-D frequencies.
    config : SimulationConfig, optional
        Filter and tilt parameters (default configuration when omitted).
    tilt : bool
        Apply the per-channel tilt (``False`` gives the common nominal shape).

    Returns
    -------
    numpy.ndarray
        ``(n_channels, n_frequencies)`` complex gains; the untilted magnitude peaks at 1.

    Examples
    --------
    >>> import numpy as np
    >>> h = signal_chain_response(np.array([118e6, 609e6]), tilt=False)
    >>> np.round(20 * np.log10(np.abs(h[0])), 1)
    array([-3. , -2.9])
    """
    config = config or SimulationConfig()
    frequencies = np.asarray(frequencies, dtype=np.float64).reshape(-1)
    base = nominal_response(frequencies, highpass_hz=config.highpass_hz,
                            highpass_order=config.highpass_order, lowpass_hz=config.lowpass_hz,
                            lowpass_order=config.lowpass_order)
    out = np.repeat(base[None, :], config.n_channels, axis=0)
    if tilt:
        octaves = np.log2(np.maximum(frequencies, 1e6) / config.tilt_pivot_hz)
        out = out * 10.0 ** (np.outer(config.channel_tilts(), octaves) / 20.0)
    return out


def band_edges(frequencies: np.ndarray, magnitude: np.ndarray, level_db: float,
               ) -> tuple[float, float]:
    """Lowest and highest frequency, Hz, where ``magnitude`` crosses ``level_db`` below its peak.

    Linear interpolation in dB between grid points; used to check the -3/-10 dB points.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    db = 20 * np.log10(np.maximum(np.asarray(magnitude, dtype=np.float64), 1e-300))
    db = db - db.max()
    above = np.flatnonzero(db >= level_db)
    lo, hi = above[0], above[-1]
    f_lo = np.interp(level_db, [db[lo - 1], db[lo]], frequencies[lo - 1:lo + 1]) if lo else \
        frequencies[0]
    f_hi = np.interp(level_db, [db[hi + 1], db[hi]], [frequencies[hi + 1], frequencies[hi]]) \
        if hi + 1 < db.size else frequencies[-1]
    return float(f_lo), float(f_hi)
