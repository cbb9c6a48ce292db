"""The noise features as pure array functions: random numbers in, traces out.

Each function takes the random draws it needs as arguments (the generator in
:mod:`rnognoise.simulate.generator` owns the random streams), so every feature can be
tested and switched on its own. Traces are ``(n_events, n_channels, n_samples)`` in
volts, spectra are ``numpy.fft.rfft`` spectra of such traces.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "add_block_offsets",
    "add_cw_lines",
    "add_impulse_spectra",
    "apply_glitches",
    "gain_factors",
    "galactic_power_factor",
    "galactic_scale",
    "galactic_shape",
    "quantize",
    "thermal_scale",
    "thermal_spectra",
]


def thermal_scale(response: np.ndarray, n_samples: int, rms: np.ndarray) -> np.ndarray:
    """Factor per channel that gives filtered unit complex Gaussian noise the wanted RMS.

    With rfft coefficients ``H_k (a_k + i b_k)``, ``a, b ~ N(0, 1)``, and the DC and
    Nyquist bins set to zero, the inverse FFT has variance ``4 / N^2 sum_k |H_k|^2``.

    Parameters
    ----------
    response : numpy.ndarray
        ``(n_channels, n_freq)`` complex response on the rfft grid.
    n_samples : int
        Trace length ``N``.
    rms : numpy.ndarray, V
        Wanted RMS per channel.
    """
    power = np.abs(response[:, _ac_bins(n_samples, response.shape[-1])]) ** 2
    return np.asarray(rms, np.float64) / np.sqrt(4.0 / n_samples**2 * power.sum(axis=-1))


def _ac_bins(n_samples: int, n_freq: int) -> slice:
    """rfft bins other than DC and (for even lengths) Nyquist."""
    return slice(1, n_freq - 1 if n_samples % 2 == 0 else n_freq)


def thermal_spectra(draws: np.ndarray, response: np.ndarray, scale: np.ndarray,
                    n_samples: int, common_fraction: float = 0.0) -> np.ndarray:
    """Spectra of Gaussian thermal noise shaped by each channel's response.

    Parameters
    ----------
    draws : numpy.ndarray
        ``(n_events, n_channels + 1, n_freq, 2)`` standard normal numbers; the last
        channel row is the common component, the last axis real and imaginary parts.
    response : numpy.ndarray
        ``(n_channels, n_freq)`` complex response.
    scale : numpy.ndarray
        Per-channel factor from :func:`thermal_scale`.
    n_samples : int
        Trace length the spectra belong to.
    common_fraction : float
        Fraction of the noise power shared by all channels (same draws, each channel's
        own response).

    Returns
    -------
    numpy.ndarray
        ``(n_events, n_channels, n_freq)`` complex64 spectra, DC and Nyquist zero.
    """
    n_channels, n_freq = response.shape
    white = np.ascontiguousarray(draws, dtype=np.float32).view(np.complex64)[..., 0]
    own = white[:, :n_channels]
    if common_fraction > 0:
        own = (np.float32(np.sqrt(1.0 - common_fraction)) * own
               + np.float32(np.sqrt(common_fraction)) * white[:, -1:])
    spectra = own * (response * scale[:, None]).astype(np.complex64)[None]
    keep = np.zeros(n_freq, dtype=bool)
    keep[_ac_bins(n_samples, n_freq)] = True
    spectra[..., ~keep] = 0
    return spectra


def galactic_shape(frequencies: np.ndarray, band_hz: tuple[float, float],
                   spectral_index: float, edge_fraction: float = 0.1) -> np.ndarray:
    """Amplitude spectrum (square root of the PSD shape) of the galactic component.

    The power spectral density falls like ``(f / f_lo) ** spectral_index`` inside the
    band ``[f_lo, f_hi]`` and is zero outside it; its edges rise and fall as ``sin²``
    over ``edge_fraction`` of the band width, so the band has no sharp steps.

    Parameters
    ----------
    frequencies : numpy.ndarray, Hz
        rfft frequencies.
    band_hz : tuple of float, Hz
        ``(f_lo, f_hi)``.
    spectral_index : float
        Power-law index of the PSD (about -2.5 for the galactic synchrotron background).
    edge_fraction : float
        Width of each soft edge as a fraction of ``f_hi - f_lo``.

    Returns
    -------
    numpy.ndarray
        Non-negative amplitude factor per frequency, same shape as ``frequencies``.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    f_lo, f_hi = float(band_hz[0]), float(band_hz[1])
    edge = edge_fraction * (f_hi - f_lo)
    rise = np.clip(np.minimum(f - f_lo, f_hi - f) / edge, 0.0, 1.0)
    window = np.sin(0.5 * np.pi * rise) ** 2
    psd = np.where(window > 0, (np.maximum(f, f_lo) / f_lo) ** spectral_index, 0.0) * window
    return np.sqrt(psd)


def galactic_scale(response: np.ndarray, shape: np.ndarray, thermal: np.ndarray,
                   in_band: np.ndarray, power_fraction: float) -> np.ndarray:
    """Factor per channel giving the galactic component its mean power inside the band.

    Both components pass the same response ``H_c``; the thermal one has flat unit draws
    times ``thermal[c]``, the galactic one ``shape`` times the returned factor, so that
    ``sum_band |H_c shape g_c|^2 = power_fraction * sum_band |H_c thermal_c|^2``.

    Parameters
    ----------
    response : numpy.ndarray
        ``(n_channels, n_freq)`` complex response.
    shape : numpy.ndarray
        ``(n_freq,)`` amplitude shape from :func:`galactic_shape`.
    thermal : numpy.ndarray
        Per-channel thermal factor from :func:`thermal_scale`.
    in_band : numpy.ndarray
        ``(n_freq,)`` boolean mask of the band.
    power_fraction : float
        Mean galactic power over thermal power inside the band.
    """
    power = np.abs(response[:, in_band]) ** 2
    ratio = power.sum(-1) / (power * shape[in_band] ** 2).sum(-1)
    return np.asarray(thermal, np.float64) * np.sqrt(power_fraction * ratio)


def galactic_power_factor(lst_hours: np.ndarray, modulation: float,
                          peak_lst_hours: float) -> np.ndarray:
    """Galactic power relative to its mean: ``1 + m cos(2 pi (lst - peak) / 24 h)``.

    Parameters
    ----------
    lst_hours : numpy.ndarray, h
        Local sidereal time of each event.
    modulation : float
        Relative peak-to-mean modulation ``m`` (0 to 1).
    peak_lst_hours : float, h
        Local sidereal time of the maximum.
    """
    phase = 2 * np.pi * (np.asarray(lst_hours, np.float64) - peak_lst_hours) / 24.0
    return 1.0 + modulation * np.cos(phase)


def add_impulse_spectra(spectra: np.ndarray, frequencies: np.ndarray, response: np.ndarray,
                        events: np.ndarray, amplitudes: np.ndarray, times: np.ndarray) -> None:
    """Add band-limited impulses (a delta through each channel's response), in place.

    Parameters
    ----------
    spectra : numpy.ndarray
        ``(n_events, n_channels, n_freq)`` rfft spectra, modified in place.
    frequencies : numpy.ndarray, Hz
        rfft frequencies.
    response : numpy.ndarray
        ``(n_channels, n_freq)`` complex response.
    events : numpy.ndarray
        Indices of the events that carry an impulse.
    amplitudes : numpy.ndarray
        ``(len(events), n_channels)`` signed factors multiplying the channel's impulse
        response (its inverse FFT on the trace grid).
    times : numpy.ndarray, s
        ``(len(events), n_channels)`` arrival time of the delta at each channel.
    """
    if len(events) == 0:
        return
    phase = np.exp(-2j * np.pi * times[..., None] * frequencies)
    spectra[events] += (amplitudes[..., None] * response[None] * phase).astype(spectra.dtype)


def add_cw_lines(traces: np.ndarray, sample_times: np.ndarray, amplitudes: np.ndarray,
                 frequencies: np.ndarray, phases: np.ndarray) -> None:
    """Add sine waves ``A cos(2 pi f t + phi)`` to the traces, in place.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sample_times : numpy.ndarray, s
        ``(n_samples,)`` sample times.
    amplitudes : numpy.ndarray, V
        ``(n_events, n_channels, n_lines)``; zero where a line is absent.
    frequencies : numpy.ndarray, Hz
        ``(n_events, n_lines)`` carrier frequency per event and line.
    phases : numpy.ndarray, rad
        ``(n_events, n_channels, n_lines)`` phase per channel.
    """
    for event, line in zip(*np.nonzero(np.any(amplitudes != 0, axis=1)), strict=True):
        arg = 2 * np.pi * frequencies[event, line] * sample_times
        wave = amplitudes[event, :, line, None] * np.cos(arg[None] + phases[event, :, line, None])
        traces[event] += wave.astype(traces.dtype)


def gain_factors(times: np.ndarray, start_time: float, amplitude: float, period: float,
                 phase: float, jitter: float, normals: np.ndarray) -> np.ndarray:
    """Per-event gain ``1 + a sin(2 pi (t - t0) / P + phi) + jitter * n``.

    Parameters
    ----------
    times : numpy.ndarray, s
        Readout times.
    start_time : float, s
        Reference time ``t0``.
    amplitude : float
        Relative amplitude of the slow drift.
    period : float, s
        Drift period (a day: the diurnal temperature cycle).
    phase : float, rad
        Drift phase.
    jitter : float
        Relative event-to-event jitter.
    normals : numpy.ndarray
        One standard normal number per event.
    """
    drift = amplitude * np.sin(2 * np.pi * (np.asarray(times) - start_time) / period + phase)
    return 1.0 + drift + jitter * np.asarray(normals)


def add_block_offsets(traces: np.ndarray, offsets: np.ndarray, block_size: int) -> None:
    """Add a constant per digitizer block and channel, in place.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    offsets : numpy.ndarray, V
        ``(n_events, n_channels, n_blocks)``; the last block may be partial.
    block_size : int
        Samples per block (128 for the LAB4D).
    """
    offsets = np.asarray(offsets).astype(traces.dtype, copy=False)
    for block in range(offsets.shape[-1]):
        traces[..., block * block_size:(block + 1) * block_size] += offsets[..., block, None]


def apply_glitches(traces: np.ndarray, events: np.ndarray, channel_rows: np.ndarray,
                   starts: np.ndarray, size: int) -> None:
    """Swap two adjacent ``size``-sample segments of one channel, in place.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)``.
    events, channel_rows, starts : numpy.ndarray
        For each glitch: event index, channel row and first sample of the first segment.
    size : int
        Segment length (64 samples: half a LAB4D block).
    """
    for event, row, start in zip(events, channel_rows, starts, strict=True):
        first = traces[event, row, start:start + size].copy()
        traces[event, row, start:start + size] = traces[event, row, start + size:start + 2 * size]
        traces[event, row, start + size:start + 2 * size] = first


def quantize(traces: np.ndarray, step: float, bits: int | None = 12) -> np.ndarray:
    """Round to integer ADC counts of ``step`` volts; clip to the signed range of ``bits``.

    Parameters
    ----------
    traces : numpy.ndarray, V
        Any shape.
    step : float, V
        Volts per ADC count.
    bits : int or None
        ADC resolution; ``None`` disables clipping.

    Returns
    -------
    numpy.ndarray
        float32 volts, integer multiples of ``step``.
    """
    counts = np.rint(np.asarray(traces, np.float32) / np.float32(step))
    if bits is not None:
        np.clip(counts, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, out=counts)
    counts *= np.float32(step)
    return counts
