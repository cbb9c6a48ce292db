"""Noise made with plain numpy, by neither the embedded simulator nor NuRadioMC: one kind
of structure per set that no model component names and no other test set has.

Every set has the same base: 4 channels x 2048 samples at 3.2 GHz of Gaussian noise
through a 4th-order band-pass (120-650 MHz) with a sinusoidal ripple of +-30 % over
frequency (a signal chain no simulator here has), 10 mV RMS, rounded to 0.49 mV steps.
On top of it:

- ``am`` — an amplitude-modulated carrier at 403 MHz in every event: modulation depth
  30-100 % at 2-20 MHz (several cycles or less per trace), a log-normal amplitude
  (0.3 e-folds) from event to event, coherent across the channels at relative
  amplitudes 1, 0.7, 0.5, 0.3;
- ``ramp`` — the RMS changes linearly within the trace, by a factor 0.5-2 from start to
  end, in 30 % of the events (all channels);
- ``compress`` — a compressing amplifier: ``a tanh(g x / a)`` with ``a`` = 20 mV and a
  per-event gain ``g`` (log-normal, 0.25 e-folds), so that no sample exceeds 20 mV;
- ``common`` — common-mode pickup around 60 MHz (15 MHz wide), the same waveform in all
  channels, with a log-normal amplitude (0.5 e-folds) from event to event;
- ``impulsive`` — the same chain driven by impulsive noise instead of Gaussian noise:
  white Student-t innovations with 3 degrees of freedom (many small discharges and a few
  large ones), independent per channel;
- ``states`` — three noise states from event to event: 60 % quiet, 30 % with a broad
  rise of the spectrum around 300 MHz (+4 dB at its peak, 80 MHz wide, the same in all
  channels), 10 % louder at low frequencies and quieter at high ones (+3 dB below
  300 MHz, -5 dB at 600 MHz);
- ``hop`` — a narrow-band transmitter on one of three channels (151.2, 152.6 and
  155.0 MHz, chosen per event) in 40 % of the events, frequency-modulated (a 1 MHz
  deviation at 0.3-3 MHz), with a log-normal amplitude (0.4 e-folds) and a random
  amplitude and phase at each antenna;
- ``interleave`` — a digitizer of two interleaved converters: odd samples have a 6 %
  larger gain and a 0.4 mV offset (images of the spectrum mirrored about a quarter of
  the sampling rate, a line at half of it);
- ``spikes`` — bit errors of the digitizer: in 5 % of the events one to three single
  samples of one channel are off by +-128, 256 or 512 steps of its 0.49 mV (63-250 mV);
- ``pedestal`` — pedestal residuals of a block digitizer: each of the 128 positions of a
  block has its own fixed offset per channel (normal, spread 0.3 mV), the same in every
  block of every event (a fixed pattern with the 25 MHz block period and its harmonics);
- ``storm`` — wind-driven noise: in 8 % of the events a second, red noise (its power
  falling as ``f^-2`` above 120 MHz, independent per channel) at 1.5-3 times the
  chain's RMS is added, while a steady 403 MHz carrier (4 mV, the same in every event,
  random phase) is not louder in those events;
- ``gainstates`` — a signal chain with two gain states: in 10 % of the events everything
  the chain carries, noise and a 403 MHz carrier of log-normal amplitude (5 mV, 0.3
  e-folds) alike, is 2.5 times larger (an amplifier that switches, a temperature step);
- ``weakcw`` — two weak carriers in every event, each at about the noise's level in its
  frequency bin (neither stands out of the noise in every event): 1.6 mV at 272.3 MHz,
  steady, and 0.7 mV at 488.7 MHz with a log-normal amplitude (0.2 e-folds), each with a
  random phase per event and fixed amplitudes and phases across the channels.
"""

from __future__ import annotations

import numpy as np

from rnognoise.io import TraceSet

SAMPLING_RATE = 3.2e9
N_SAMPLES = 2048
N_CHANNELS = 4
KINDS = ("am", "ramp", "compress", "common", "impulsive", "states", "hop", "interleave",
         "spikes", "pedestal", "storm", "gainstates", "weakcw")


def _base_noise(rng: np.random.Generator, n: int, impulsive: bool = False) -> np.ndarray:
    f = np.fft.rfftfreq(N_SAMPLES, 1 / SAMPLING_RATE)
    response = (1 / np.sqrt(1 + (120e6 / np.maximum(f, 1.0)) ** 8)
                / np.sqrt(1 + (f / 650e6) ** 8) * (1 + 0.3 * np.sin(f / 90e6)))
    shape = (n, N_CHANNELS, N_SAMPLES)
    white = rng.standard_t(3, shape) if impulsive else rng.standard_normal(shape)
    spec = np.fft.rfft(white, axis=-1) * response
    x = np.fft.irfft(spec, n=N_SAMPLES, axis=-1)
    return x / x.std() * 0.01


def foreign_noise(kind: str, n_events: int, seed: int) -> TraceSet:
    """``n_events`` events of set ``kind`` (one of :data:`KINDS`), in volts."""
    if kind not in KINDS:
        raise ValueError(f"unknown foreign set {kind!r} (valid: {', '.join(KINDS)})")
    rng = np.random.default_rng(seed)
    n = n_events
    x = _base_noise(rng, n, impulsive=kind == "impulsive")
    t = np.arange(N_SAMPLES) / SAMPLING_RATE
    if kind == "am":
        rate = rng.uniform(2e6, 20e6, n)
        depth = rng.uniform(0.3, 1.0, n)
        phase = rng.uniform(0, 2 * np.pi, n)
        amplitude = 0.008 * rng.lognormal(0.0, 0.3, n)
        envelope = 1 + depth[:, None] * np.sin(2 * np.pi * rate[:, None] * t + phase[:, None])
        carrier = (amplitude[:, None] * envelope
                   * np.sin(2 * np.pi * 403e6 * t + rng.uniform(0, 2 * np.pi, n)[:, None]))
        x += carrier[:, None, :] * np.array([1.0, 0.7, 0.5, 0.3])[None, :, None]
    elif kind == "ramp":
        rows = rng.random(n) < 0.3
        factor = rng.uniform(0.5, 2.0, n)
        envelope = 1 + (factor[:, None] - 1) * (t / t[-1])[None, :]
        x[rows] *= envelope[rows][:, None, :]
    elif kind == "compress":
        level = 0.02
        x = level * np.tanh(x * rng.lognormal(0.0, 0.25, n)[:, None, None] / level)
    elif kind == "common":
        f = np.fft.rfftfreq(N_SAMPLES, 1 / SAMPLING_RATE)
        shape = np.exp(-0.5 * ((f - 60e6) / 15e6) ** 2)
        pickup = np.fft.irfft(np.fft.rfft(rng.standard_normal((n, N_SAMPLES)), axis=-1) * shape,
                              n=N_SAMPLES, axis=-1)
        pickup *= 0.006 / pickup.std() * rng.lognormal(0.0, 0.5, n)[:, None]
        x += pickup[:, None, :]
    elif kind == "states":
        f = np.fft.rfftfreq(N_SAMPLES, 1 / SAMPLING_RATE)
        state = rng.choice(3, n, p=[0.6, 0.3, 0.1])
        rise = 10 ** (0.4 * np.exp(-0.5 * ((f - 300e6) / 40e6) ** 2) / 2)
        loud = np.sqrt(2 / (1 + (f / 400e6) ** 4))
        gains = np.stack([np.ones_like(f), rise, loud])[state]          # (n, F)
        x = np.fft.irfft(np.fft.rfft(x, axis=-1) * gains[:, None, :], n=N_SAMPLES, axis=-1)
    elif kind == "hop":
        rows = np.flatnonzero(rng.random(n) < 0.4)
        m = rows.size
        carrier = rng.choice([151.2e6, 152.6e6, 155.0e6], m)
        rate = rng.uniform(0.3e6, 3e6, m)
        # phase of a carrier frequency-modulated by a sine of deviation 1 MHz
        phase = (2 * np.pi * carrier[:, None] * t
                 + 1e6 / rate[:, None] * np.sin(2 * np.pi * rate[:, None] * t
                                                 + rng.uniform(0, 2 * np.pi, m)[:, None]))
        amplitude = 0.006 * rng.lognormal(0.0, 0.4, m)
        per_antenna = rng.uniform(0.3, 1.0, (m, N_CHANNELS))
        signal = np.sin(phase[:, None, :] + rng.uniform(0, 2 * np.pi, (m, N_CHANNELS))[..., None])
        x[rows] += amplitude[:, None, None] * per_antenna[..., None] * signal
    elif kind == "interleave":
        x[..., 1::2] = 1.06 * x[..., 1::2] + 0.0004
    elif kind == "pedestal":
        residual = np.random.default_rng([seed, 128]).normal(0.0, 0.0003, (N_CHANNELS, 128))
        x += np.tile(residual, N_SAMPLES // 128)
    elif kind == "storm":
        f = np.fft.rfftfreq(N_SAMPLES, 1 / SAMPLING_RATE)
        red = np.where(f >= 120e6, 120e6 / np.maximum(f, 1.0), 0.0) / np.sqrt(1 + (f / 650e6) ** 8)
        rows = np.flatnonzero(rng.random(n) < 0.08)
        wind = np.fft.irfft(np.fft.rfft(rng.standard_normal((rows.size, N_CHANNELS, N_SAMPLES)),
                                        axis=-1) * red, n=N_SAMPLES, axis=-1)
        wind *= rng.uniform(0.015, 0.03, rows.size)[:, None, None] / wind.std()
        x[rows] += wind
        x += 0.004 * np.sin(2 * np.pi * 403e6 * t + rng.uniform(0, 2 * np.pi, n)[:, None])[:, None, :]
    elif kind == "gainstates":
        carrier = (0.005 * rng.lognormal(0.0, 0.3, n)[:, None]
                   * np.sin(2 * np.pi * 403e6 * t + rng.uniform(0, 2 * np.pi, n)[:, None]))
        x += carrier[:, None, :] * np.array([1.0, 0.8, 0.6, 0.4])[None, :, None]
        x[rng.random(n) < 0.1] *= 2.5
    elif kind == "weakcw":
        for freq, volts, spread, gains, offsets in (
                (272.3e6, 0.0016, 0.0, [1.0, 0.8, 0.6, 0.9], [0.0, 0.7, 1.9, 3.0]),
                (488.7e6, 0.0007, 0.2, [0.5, 1.0, 0.9, 0.7], [0.0, -1.2, 2.2, 0.4])):
            amplitude = volts * rng.lognormal(0.0, spread, n) if spread else np.full(n, volts)
            phase = rng.uniform(0, 2 * np.pi, n)[:, None, None] + np.array(offsets)[:, None]
            x += (amplitude[:, None, None] * np.array(gains)[:, None]
                  * np.sin(2 * np.pi * freq * t + phase))
    step = 1.0 / 2**11
    x = np.round(x / step) * step
    if kind == "spikes":
        for e in np.flatnonzero(rng.random(n) < 0.05):
            samples = rng.choice(N_SAMPLES, rng.integers(1, 4), replace=False)
            x[e, rng.integers(N_CHANNELS), samples] += (rng.choice([-1, 1], samples.size)
                                                       * rng.choice([128, 256, 512], samples.size)
                                                       * step)
    return TraceSet(x.astype(np.float32), SAMPLING_RATE, np.arange(N_CHANNELS),
                    source=f"foreign:{kind}", attrs={"foreign_set": kind, "seed": seed})
