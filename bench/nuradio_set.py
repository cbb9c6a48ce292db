"""A noise data set built with NuRadioMC's tools, independent of ``rnognoise.simulate``.

The same kinds of features as the embedded simulator, made by other code with other
details, so that a model tuned, knowingly or not, to the embedded simulator shows it:

- thermal noise from NuRadioReco's ``channelGenericNoiseAdder.bandlimited_noise``
  (Rayleigh amplitudes, 10 MHz - 1.6 GHz) through a signal chain built from NuRadioReco's
  ``get_filter_response``: an 8th-order Butterworth 90-720 MHz times a 2nd-order one
  (a softer skirt), with a per-channel gain tilt of +-1.5 dB across the band;
- a sky component common to all channels (30 % of the power below 250 MHz), reaching
  each channel with its own cable delay (``delay_trace``): coherence at low frequencies;
- a per-event gain shared by all channels, 3 % spread (temperature drift);
- two CW carriers (151 and 403 MHz), in 25 % and 12 % of the events, with an amplitude
  that varies from event to event (Rayleigh distributed), a random phase per event and
  fixed per-channel phase offsets;
- in 2 % of the events a band-limited impulse (a delta through the signal chain) at a
  random time, reaching the channels with plane-wave delays;
- 12-bit ADC quantisation over +-1.25 V (0.61 mV steps; the noise RMS is 6 mV).

Needs NuRadioMC (``pip install rnognoise[nuradio]``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rnognoise.io import TraceSet

__all__ = ["nuradio_noise"]

N_CH, N_SAMPLES, RATE = 4, 2048, 3.2e9


def nuradio_noise(n_events: int, seed: int = 0) -> TraceSet:
    """``n_events`` events ``(n, 4, 2048)`` at 3.2 GHz, volts."""
    from NuRadioReco.modules.channelGenericNoiseAdder import channelGenericNoiseAdder
    from NuRadioReco.utilities import units
    from NuRadioReco.utilities.signal_processing import delay_trace, get_filter_response

    logging.getLogger("NuRadioReco").setLevel(logging.ERROR)  # circular delays are wanted
    rng = np.random.default_rng(seed)
    adder = channelGenericNoiseAdder()
    adder.begin(seed=int(rng.integers(2**31)))
    freqs = np.fft.rfftfreq(N_SAMPLES, 1 / RATE)
    f_nr = freqs * units.Hz
    chain = (get_filter_response(f_nr, [90 * units.MHz, 720 * units.MHz], "butter", 8)
             * get_filter_response(f_nr, [60 * units.MHz, 900 * units.MHz], "butter", 2))
    tilt_db = rng.uniform(-1.5, 1.5, N_CH)
    rel = (freqs - 400e6) / 300e6
    chains = chain[None] * 10 ** (tilt_db[:, None] * rel[None] / 20)      # (C, F)
    sky = np.where(freqs < 250e6, 1.0, np.exp(-(freqs - 250e6) / 60e6))     # sky shape
    cable_ns = rng.uniform(0, 8, N_CH)
    carriers = [(151e6, 0.25, 2.0), (403e6, 0.12, 1.5)]                    # Hz, rate, x RMS
    carrier_phase = rng.uniform(0, 2 * np.pi, (len(carriers), N_CH))
    impulse_delay = rng.uniform(-20, 20, N_CH)                              # samples
    t = np.arange(N_SAMPLES) / RATE

    def noise(amplitude: float) -> np.ndarray:
        return adder.bandlimited_noise(10 * units.MHz, 1600 * units.MHz, N_SAMPLES,
                                       RATE * units.Hz, amplitude, type="rayleigh")

    traces = np.empty((n_events, N_CH, N_SAMPLES))
    for i in range(n_events):
        common = np.fft.rfft(noise(1.0)) * sky
        for c in range(N_CH):
            shared = np.fft.irfft(common, n=N_SAMPLES)
            shared = delay_trace(shared, RATE * units.Hz, cable_ns[c] * units.ns,
                                 crop_trace=False)
            spec = np.fft.rfft(noise(1.0)) + np.sqrt(0.43) * np.fft.rfft(shared)
            traces[i, c] = np.fft.irfft(spec * chains[c], n=N_SAMPLES)
    traces *= 6e-3 / traces.std()
    traces *= (1.0 + 0.03 * rng.standard_normal(n_events))[:, None, None]
    for k, (freq, rate, scale) in enumerate(carriers):
        on = np.nonzero(rng.random(n_events) < rate)[0]
        amp = scale * 6e-3 * rng.rayleigh(1.0, on.size) / np.sqrt(np.pi / 2)
        phase = rng.uniform(0, 2 * np.pi, on.size)
        traces[on] += (amp[:, None, None] * np.sin(2 * np.pi * freq * t[None, None]
                       + phase[:, None, None] + carrier_phase[k][None, :, None]))
    spike = np.zeros(N_SAMPLES)
    spike[N_SAMPLES // 2] = 1.0
    pulse = np.fft.irfft(np.fft.rfft(spike) * chain, n=N_SAMPLES)
    pulse /= np.abs(pulse).max()
    for i in np.nonzero(rng.random(n_events) < 0.02)[0]:
        t0 = rng.uniform(200, N_SAMPLES - 200) - N_SAMPLES // 2
        amp = 6e-3 * rng.uniform(4, 15) * rng.choice([-1, 1])
        for c in range(N_CH):
            spec = np.fft.rfft(pulse) * np.exp(-2j * np.pi * freqs * (t0 + impulse_delay[c]) / RATE)
            traces[i, c] += amp * np.fft.irfft(spec, n=N_SAMPLES)
    lsb = 2.5 / 4096
    traces = np.clip(np.round(traces / lsb), -2048, 2047) * lsb
    events = pd.DataFrame({"event_number": np.arange(n_events)})
    return TraceSet(traces.astype(np.float32), RATE, np.arange(N_CH), events, "V",
                    None, {"generator": "bench/nuradio_set.py", "seed": seed})
