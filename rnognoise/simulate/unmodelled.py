"""Noise structures that no component of the learned models names: the test bench for
generality.

The structured generator (:mod:`rnognoise.models.structured`) has components for CW
lines, rare impulses, block offsets and gain; these features are *not* among them, so a
model can only reproduce them through its general learned part:

- **bursts** — wind-driven (triboelectric) or man-made broadband bursts: band-limited
  Gaussian noise in a random band, with a smooth time envelope tens to hundreds of ns
  long, independent in every channel (a diffuse source), in a fraction of the events;
- **chirps** — carriers whose frequency drifts within the trace (a linear chirp),
  phase-coherent across channels, in a fraction of the events;
- **pulse trains** — several pulses per event, each from its own direction (independent
  delays per channel);
- **breathing** — the spectrum changes shape from event to event (a random tilt in
  dB per octave common to all channels, as the temperature of the signal chain does).

Every function takes its random draws as arguments, like :mod:`rnognoise.simulate.features`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["add_bursts", "add_chirps", "add_pulse_trains", "apply_breathing"]


def apply_breathing(spectra: np.ndarray, frequencies: np.ndarray, tilt_db_per_octave: np.ndarray,
                    pivot_hz: float) -> None:
    """Tilt each event's spectra in place by ``tilt_db_per_octave`` ``(n,)`` around ``pivot_hz``.

    Parameters
    ----------
    spectra : numpy.ndarray
        ``(n, C, F)`` complex rfft spectra, modified in place.
    frequencies : numpy.ndarray, Hz
        rfft bin frequencies.
    tilt_db_per_octave : numpy.ndarray
        Per-event tilt (power, dB per octave).
    pivot_hz : float, Hz
        Frequency left unchanged.
    """
    octaves = np.log2(np.maximum(frequencies, 1.0) / pivot_hz)               # (F,)
    gain = 10.0 ** (tilt_db_per_octave[:, None] * octaves[None, :] / 20.0)  # amplitude
    spectra *= gain[:, None, :].astype(spectra.real.dtype)


def add_bursts(traces: np.ndarray, rows: np.ndarray, noise: np.ndarray, frequencies: np.ndarray,
               response: np.ndarray, centre_hz: np.ndarray, width_hz: np.ndarray,
               start_s: np.ndarray, duration_s: np.ndarray, rms: np.ndarray,
               sampling_rate: float) -> None:
    """Add band-limited noise bursts with a Gaussian time envelope, in place.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n, C, T)`` volts.
    rows : numpy.ndarray
        Events that carry a burst ``(m,)``.
    noise : numpy.ndarray
        ``(m, C, T)`` standard normal numbers.
    frequencies : numpy.ndarray, Hz
        rfft bin frequencies.
    response : numpy.ndarray
        ``(C, F)`` channel responses (the burst passes the signal chain).
    centre_hz, width_hz : numpy.ndarray, Hz
        ``(m,)`` band of each burst (Gaussian band shape of that full width at half power).
    start_s, duration_s : numpy.ndarray, s
        ``(m,)`` centre time and full width at half maximum of the envelope.
    rms : numpy.ndarray, V
        ``(m, C)`` RMS of the burst at the envelope's peak.
    sampling_rate : float, Hz
        Sampling rate.
    """
    if rows.size == 0:
        return
    n_samples = traces.shape[-1]
    sigma_f = width_hz / 2.355
    band = np.exp(-0.5 * ((frequencies[None, :] - centre_hz[:, None]) / sigma_f[:, None]) ** 2)
    spec = np.fft.rfft(noise, axis=-1) * band[:, None, :] * np.abs(response)[None]
    burst = np.fft.irfft(spec, n=n_samples, axis=-1)
    burst /= np.maximum(burst.std(axis=-1, keepdims=True), 1e-30)
    t = np.arange(n_samples) / sampling_rate
    env = np.exp(-0.5 * ((t[None, :] - start_s[:, None]) / (duration_s[:, None] / 2.355)) ** 2)
    traces[rows] += (burst * env[:, None, :] * rms[:, :, None]).astype(traces.dtype)


def add_chirps(traces: np.ndarray, rows: np.ndarray, start_hz: np.ndarray, drift_hz: np.ndarray,
               phase: np.ndarray, amplitude: np.ndarray, sampling_rate: float) -> None:
    """Add linear chirps ``a cos(2 pi (f0 t + drift t^2 / (2 T)) + phi)``, in place.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n, C, T)`` volts.
    rows : numpy.ndarray
        Events that carry a chirp ``(m,)``.
    start_hz, drift_hz : numpy.ndarray, Hz
        ``(m,)`` frequency at the start and its change over the trace.
    phase : numpy.ndarray, rad
        ``(m,)`` phase, shared by the channels.
    amplitude : numpy.ndarray, V
        ``(m, C)`` amplitude per channel.
    sampling_rate : float, Hz
        Sampling rate.
    """
    if rows.size == 0:
        return
    n_samples = traces.shape[-1]
    t = np.arange(n_samples) / sampling_rate
    duration = n_samples / sampling_rate
    arg = 2 * np.pi * (start_hz[:, None] * t + 0.5 * drift_hz[:, None] * t**2 / duration)
    wave = np.cos(arg + phase[:, None])                                      # (m, T)
    traces[rows] += (amplitude[:, :, None] * wave[:, None, :]).astype(traces.dtype)


def add_pulse_trains(spectra: np.ndarray, rows: np.ndarray, frequencies: np.ndarray,
                     response: np.ndarray, arrival_s: np.ndarray, amplitude: np.ndarray,
                     template_peak: np.ndarray) -> None:
    """Add several pulses per event, each with its own per-channel arrival times, in place.

    Parameters
    ----------
    spectra : numpy.ndarray
        ``(n, C, F)`` complex spectra.
    rows : numpy.ndarray
        Events with a pulse train ``(m,)``.
    frequencies : numpy.ndarray, Hz
        rfft bin frequencies.
    response : numpy.ndarray
        ``(C, F)`` channel responses (the pulse shape).
    arrival_s : numpy.ndarray, s
        ``(m, P, C)`` arrival time of pulse ``p`` in channel ``c`` (NaN: no such pulse).
    amplitude : numpy.ndarray, V
        ``(m, P, C)`` signed peak amplitude.
    template_peak : numpy.ndarray
        ``(C,)`` peak of the response's impulse response (normalises the pulse).
    """
    if rows.size == 0:
        return
    present = np.isfinite(arrival_s)
    times = np.where(present, arrival_s, 0.0)
    amps = np.where(present, amplitude, 0.0) / template_peak[None, None, :]
    shift = np.exp(-2j * np.pi * frequencies[None, None, None, :] * times[..., None])
    add = (amps[..., None] * shift).sum(axis=1) * response[None]           # (m, C, F)
    spectra[rows] += add.astype(spectra.dtype)
