"""Generation of simulated events: random streams, feature assembly, metadata.

Random numbers come from one stream per event and feature,
``SeedSequence(seed, spawn_key=(event, feature))``, so event ``i`` is the same whatever
batch it is generated in, and switching one feature on or off (or changing its
fraction) leaves every other feature's draws untouched. Events are dealt to the
configured stations round robin (event ``i`` to station slot ``i % n_stations``), so the
station of an event does not depend on the batch either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.fft

from .. import __version__
from ..conditions import RNOG_SITE_LONGITUDE_DEG, local_sidereal_time
from ..errors import ConfigError
from ..io.traceset import TraceSet
from .config import SimulationConfig
from .features import (
    add_block_offsets,
    add_cw_lines,
    add_impulse_spectra,
    apply_glitches,
    gain_factors,
    galactic_power_factor,
    galactic_scale,
    galactic_shape,
    quantize,
    thermal_scale,
    thermal_spectra,
)
from .response import signal_chain_response
from .unmodelled import add_bursts, add_chirps, add_pulse_trains, apply_breathing

__all__ = ["generate_events", "resolve_seed", "simulate_noise"]

# Random stream per feature (second entry of the spawn key); append new streams only.
_THERMAL, _TIMING, _CW, _IMPULSE, _BLOCKS, _GLITCH, _GALACTIC = range(7)
_BREATHING, _BURST, _CHIRP, _TRAIN = range(7, 11)


def resolve_seed(seed: int | None) -> int:
    """The integer entropy used for ``seed`` (fresh OS entropy when ``None``).

    Raises
    ------
    ConfigError
        For a negative or non-integer seed.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    if seed < 0:
        raise ConfigError(f"seed must be non-negative, got {seed}")
    return int(seed)


def _rng(entropy: int, event: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(event, stream)))


@dataclass
class _Plan:
    """Everything that depends on the configuration and seed only, not on the events."""

    frequencies: np.ndarray
    response: np.ndarray
    thermal_scale: np.ndarray
    impulse_template_peak: np.ndarray
    sample_times: np.ndarray
    rms: np.ndarray
    cw_delays: np.ndarray
    gain_phase: float
    galactic_response: np.ndarray | None
    galactic_scale: np.ndarray | None


def _make_plan(config: SimulationConfig, entropy: int) -> _Plan:
    n = config.n_samples
    frequencies = np.fft.rfftfreq(n, d=1.0 / config.sampling_rate)
    response = signal_chain_response(frequencies, config)
    rms = config.channel_rms_volts()
    template = np.fft.irfft(response, n=n, axis=-1)
    global_rng = np.random.default_rng(np.random.SeedSequence(entropy))
    scale = thermal_scale(response, n, rms)
    galactic_response = galactic_factor = None
    if config.galactic:
        shape = galactic_shape(frequencies, config.galactic_band_hz,
                               config.galactic_spectral_index)
        f_lo, f_hi = config.galactic_band_hz
        galactic_response = response * shape[None, :]
        galactic_factor = galactic_scale(response, shape, scale,
                                         (frequencies >= f_lo) & (frequencies <= f_hi),
                                         config.galactic_power_fraction)
    return _Plan(
        frequencies=frequencies,
        response=response,
        thermal_scale=scale,
        impulse_template_peak=np.abs(template).max(axis=-1),
        sample_times=np.arange(n) / config.sampling_rate,
        rms=rms,
        cw_delays=config.plane_wave_delays(config.cw_cos_zenith),
        gain_phase=float(2 * np.pi * global_rng.random()),
        galactic_response=galactic_response,
        galactic_scale=galactic_factor,
    )


def generate_events(start: int, stop: int, config: SimulationConfig, entropy: int,
                    ) -> TraceSet:
    """Events ``start`` to ``stop - 1`` of the simulation with the given seed entropy.

    Parameters
    ----------
    start, stop : int
        Event index range (event ``i`` does not depend on the range it is made in).
    config : SimulationConfig
        The parameters.
    entropy : int
        Seed from :func:`resolve_seed`.

    Returns
    -------
    TraceSet
        float32 volts, ``(stop - start, n_channels, n_samples)``, with metadata and truth.
    """
    plan = _make_plan(config, entropy)
    index = np.arange(start, stop, dtype=np.int64)
    n_events, n_ch, n_freq = index.size, config.n_channels, plan.frequencies.size

    thermal = np.empty((n_events, n_ch + 1, n_freq, 2), np.float32)
    timing = np.empty((n_events, 2))
    for j, event in enumerate(index):
        thermal[j] = _rng(entropy, event, _THERMAL).standard_normal((n_ch + 1, n_freq, 2),
                                                                     dtype=np.float32)
        rng = _rng(entropy, event, _TIMING)
        timing[j] = rng.random(), rng.standard_normal()

    times = config.start_time + (index + 0.5 * timing[:, 0]) * config.trigger_interval
    slot = index % config.n_stations
    columns: dict[str, np.ndarray] = {
        "event_number": config.first_event_number + index,
        "run_number": np.full(n_events, config.run_number, np.int64),
        "station": config.station_ids()[slot],
        "trigger_type": np.array(["FORCE"] * n_events, dtype=object),
        "readout_time": times,
    }

    spectra = thermal_spectra(thermal, plan.response, plan.thermal_scale, config.n_samples,
                              config.common_noise_fraction)
    del thermal
    columns["truth_galactic_power"] = _galactic(spectra, plan, config, entropy, index, times)
    columns["truth_impulse"] = _impulses(spectra, plan, config, entropy, index)
    columns.update(_unmodelled_spectra(spectra, plan, config, entropy, index))
    traces = scipy.fft.irfft(spectra, n=config.n_samples, axis=-1)
    del spectra
    columns.update(_cw(traces, plan, config, entropy, index,
                       config.station_cw_scales()[slot]))
    columns.update(_unmodelled_traces(traces, plan, config, entropy, index))

    gain = np.ones(n_events)
    if config.gain_drift:
        gain = gain_factors(times, config.start_time, config.gain_drift_amplitude,
                            config.gain_drift_period, plan.gain_phase, config.gain_jitter,
                            timing[:, 1])
        traces *= gain.astype(np.float32)[:, None, None]
    columns["truth_gain"] = gain

    if config.block_offsets:
        offsets = np.stack([_rng(entropy, event, _BLOCKS).standard_normal((n_ch, config.n_blocks))
                            for event in index]) if n_events else np.zeros((0, n_ch, 1))
        offsets *= config.block_offset_sigma * plan.rms[None, :, None]
        add_block_offsets(traces, offsets, config.block_size)

    columns.update(_glitches(traces, config, entropy, index))

    station_gain = config.station_gains()
    if np.any(station_gain != 1.0):
        traces *= station_gain.astype(np.float32)[slot][:, None, None]

    if config.quantization:
        traces = quantize(traces, config.adc_to_volts, config.adc_bits if config.adc_clip
                          else None)
    attrs = {
        "generator": "rnognoise.simulate",
        "rnognoise_version": __version__,
        "simulation": {**config.to_dict(), "seed": entropy},
    }
    return TraceSet(np.ascontiguousarray(traces, dtype=np.float32), config.sampling_rate,
                    np.asarray(config.channels), pd.DataFrame(columns), "V", None, attrs)


def _galactic(spectra: np.ndarray, plan: _Plan, config: SimulationConfig, entropy: int,
              index: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Add the sidereally modulated galactic component; return its relative power per event.

    The per-event factor is ``1 + m cos(2 pi (lst - peak) / 24)`` (0 with the feature off).
    """
    if not config.galactic or index.size == 0:
        return np.zeros(index.size)
    assert plan.galactic_response is not None and plan.galactic_scale is not None
    lst = local_sidereal_time(times, RNOG_SITE_LONGITUDE_DEG)
    power = galactic_power_factor(lst, config.galactic_modulation,
                                  config.galactic_peak_lst_hours)
    shape = (index.size, config.n_channels + 1, plan.frequencies.size, 2)
    draws = np.empty(shape, np.float32)
    for j, event in enumerate(index):
        draws[j] = _rng(entropy, event, _GALACTIC).standard_normal(shape[1:], dtype=np.float32)
    galactic = thermal_spectra(draws, plan.galactic_response, plan.galactic_scale,
                               config.n_samples, config.galactic_coherence)
    del draws
    galactic *= np.sqrt(power).astype(np.float32)[:, None, None]
    spectra += galactic
    return power


def _impulses(spectra: np.ndarray, plan: _Plan, config: SimulationConfig, entropy: int,
              index: np.ndarray) -> np.ndarray:
    """Add impulses to the spectra where drawn; return the per-event flag."""
    n_ch = config.n_channels
    flags = np.zeros(index.size, dtype=bool)
    if not config.impulses or index.size == 0:
        return flags
    uniform = np.empty((index.size, 5))
    normal = np.empty((index.size, n_ch))
    for j, event in enumerate(index):
        rng = _rng(entropy, event, _IMPULSE)
        uniform[j] = rng.random(5)
        normal[j] = rng.standard_normal(n_ch)
    flags = uniform[:, 0] < config.impulse_fraction
    rows = np.flatnonzero(flags)
    u = uniform[rows]
    lo, hi = config.impulse_peak_min, config.impulse_peak_max
    peak = lo + u[:, 1] * (hi - lo)
    per_channel = np.clip(peak[:, None] * np.exp(config.impulse_channel_spread * normal[rows]),
                          lo, hi)
    sign = np.where(u[:, 2] < 0.5, -1.0, 1.0)
    amplitudes = sign[:, None] * per_channel * (plan.rms / plan.impulse_template_peak)[None]
    cos_zenith = config.impulse_cos_zenith_min + u[:, 3] * (
        config.impulse_cos_zenith_max - config.impulse_cos_zenith_min)
    duration = config.n_samples / config.sampling_rate
    arrival = (0.1 + 0.6 * u[:, 4]) * duration
    delays = config.plane_wave_delays(cos_zenith)
    add_impulse_spectra(spectra, plan.frequencies, plan.response, rows, amplitudes,
                        arrival[:, None] + delays)
    return flags


def _cw(traces: np.ndarray, plan: _Plan, config: SimulationConfig, entropy: int,
        index: np.ndarray, occupancy: np.ndarray) -> dict[str, np.ndarray]:
    """Add the CW lines where drawn; return one truth column per line.

    ``occupancy`` is the per-event factor on every line's fraction (the station's
    ``station_cw_scale``); the product is clipped to 1.
    """
    lines = config.cw_lines
    out = {line.truth_column: np.zeros(index.size, dtype=bool) for line in lines}
    if not config.cw or not lines or index.size == 0:
        return out
    draws = np.stack([_rng(entropy, event, _CW).random((len(lines), 4)) for event in index])
    fraction = np.array([line.fraction for line in lines])
    present = draws[..., 0] < np.minimum(fraction[None, :] * occupancy[:, None], 1.0)
    f_min = np.array([line.f_min for line in lines])
    f_max = np.array([line.f_max for line in lines])
    freqs = f_min + draws[..., 1] * (f_max - f_min)
    spread = np.array([line.amplitude_spread for line in lines])
    size = np.array([line.amplitude for line in lines]) * (1 + spread * (2 * draws[..., 2] - 1))
    size = np.where(present, size, 0.0)
    gain = signal_chain_response(freqs.reshape(-1), config).reshape(config.n_channels,
                                                                      *freqs.shape)
    gain = np.moveaxis(gain, 0, 1)  # (n_events, n_channels, n_lines)
    amplitudes = size[:, None, :] * plan.rms[None, :, None] * np.abs(gain)
    phases = (2 * np.pi * draws[:, None, :, 3] + np.angle(gain)
              - 2 * np.pi * freqs[:, None, :] * plan.cw_delays[None, :, None])
    add_cw_lines(traces, plan.sample_times, amplitudes, freqs, phases)
    for k, line in enumerate(lines):
        out[line.truth_column] = present[:, k]
    return out


def _glitches(traces: np.ndarray, config: SimulationConfig, entropy: int,
              index: np.ndarray) -> dict[str, np.ndarray]:
    """Swap two adjacent half-blocks of one channel where drawn; return truth columns."""
    flags = np.zeros(index.size, dtype=bool)
    channel = np.full(index.size, -1, dtype=np.int64)
    if config.glitches and index.size:
        draws = np.stack([_rng(entropy, event, _GLITCH).random(3) for event in index])
        flags = draws[:, 0] < config.glitch_fraction
        rows = np.minimum((draws[:, 1] * config.n_channels).astype(np.int64),
                          config.n_channels - 1)
        n_pairs = config.n_samples // (2 * config.glitch_size)
        starts = np.minimum((draws[:, 2] * n_pairs).astype(np.int64), n_pairs - 1)
        starts *= 2 * config.glitch_size
        hit = np.flatnonzero(flags)
        apply_glitches(traces, hit, rows[hit], starts[hit], config.glitch_size)
        channel[hit] = np.asarray(config.channels, np.int64)[rows[hit]]
    return {"truth_glitch": flags, "truth_glitch_channel": channel}


def simulate_noise(n_events: int, *, config: SimulationConfig | None = None,
                   seed: int | None = 0) -> TraceSet:
    """Simulate RNO-G-like forced-trigger noise in memory.

    Parameters
    ----------
    n_events : int
        Number of events.
    config : SimulationConfig, optional
        Parameters and feature switches (default: :class:`SimulationConfig()`).
    seed : int or None
        Seed; the same seed gives the same events. ``None`` draws fresh entropy, which
        is recorded in ``attrs["simulation"]["seed"]``.

    Returns
    -------
    TraceSet
        float32 volts of shape ``(n_events, n_channels, n_samples)``. ``events`` holds
        ``event_number``, ``run_number``, ``station`` (round robin over ``stations``
        when given), ``trigger_type`` ("FORCE"), ``readout_time`` (unix s) and the truth
        columns ``truth_cw_<line>``, ``truth_impulse``, ``truth_glitch``,
        ``truth_glitch_channel`` (-1: none), ``truth_gain`` (gain drift) and
        ``truth_galactic_power`` (galactic power over its mean; 0 with it off).
        ``attrs["simulation"]`` is the configuration dict plus the seed.

    Examples
    --------
    >>> ts = simulate_noise(8, seed=1)
    >>> ts.traces.shape, ts.traces.dtype.name, ts.sampling_rate
    ((8, 4, 2048), 'float32', 3200000000.0)
    """
    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) \
            or n_events < 1:
        raise ConfigError(f"n_events must be a positive integer, got {n_events!r}")
    config = config or SimulationConfig()
    return generate_events(0, int(n_events), config, resolve_seed(seed))


def _uniform(lo_hi: tuple[float, float], u: np.ndarray) -> np.ndarray:
    return lo_hi[0] + u * (lo_hi[1] - lo_hi[0])


def _unmodelled_spectra(spectra: np.ndarray, plan: _Plan, config: SimulationConfig,
                        entropy: int, index: np.ndarray) -> dict[str, np.ndarray]:
    """Spectral breathing and pulse trains (:mod:`rnognoise.simulate.unmodelled`)."""
    out: dict[str, np.ndarray] = {}
    n, n_ch = index.size, config.n_channels
    if config.breathing_db_per_octave > 0 and n:
        tilt = config.breathing_db_per_octave * np.array(
            [_rng(entropy, e, _BREATHING).standard_normal() for e in index])
        apply_breathing(spectra, plan.frequencies, tilt, config.tilt_pivot_hz)
        out["truth_breathing_db"] = tilt
    if config.pulse_trains and n:
        p_max = config.pulse_train_max
        draws = np.stack([_rng(entropy, e, _TRAIN).random(2 + 3 * p_max * n_ch) for e in index])
        flags = draws[:, 0] < config.pulse_train_fraction
        rows = np.flatnonzero(flags)
        count = 2 + np.minimum((draws[rows, 1] * (p_max - 1)).astype(int), p_max - 2)
        rest = draws[rows, 2:].reshape(rows.size, 3, p_max, n_ch)
        duration = config.n_samples / config.sampling_rate
        t0 = (0.05 + 0.8 * rest[:, 0, :, :1]) * duration                   # per pulse
        delay = (rest[:, 1] - 0.5) * 40e-9                                  # per channel
        arrival = t0 + delay
        arrival[np.arange(p_max)[None, :] >= count[:, None]] = np.nan
        sign = np.where(rest[:, 2, :, :1] < 0.5, -1.0, 1.0)
        peak = _uniform(config.pulse_train_peak, rest[:, 2, :, 1:2] if n_ch > 1 else
                        rest[:, 2, :, :1])
        amplitude = sign * peak * plan.rms[None, None, :]
        add_pulse_trains(spectra, rows, plan.frequencies, plan.response, arrival, amplitude,
                         plan.impulse_template_peak)
        out["truth_pulse_train"] = np.where(flags, 0, 0)
        out["truth_pulse_train"][rows] = count
    return out


def _unmodelled_traces(traces: np.ndarray, plan: _Plan, config: SimulationConfig,
                       entropy: int, index: np.ndarray) -> dict[str, np.ndarray]:
    """Bursts and chirps (:mod:`rnognoise.simulate.unmodelled`)."""
    out: dict[str, np.ndarray] = {}
    n, n_ch, n_t = index.size, config.n_channels, config.n_samples
    duration = n_t / config.sampling_rate
    if config.bursts and n:
        draws = np.stack([_rng(entropy, e, _BURST).random(6) for e in index])
        flags = draws[:, 0] < config.burst_fraction
        rows = np.flatnonzero(flags)
        d = draws[rows]
        noise = np.stack([_rng(entropy, e, _BURST + 100).standard_normal((n_ch, n_t))
                          for e in index[rows]]) if rows.size else np.zeros((0, n_ch, n_t))
        rms = _uniform(config.burst_rms, d[:, 1])[:, None] * plan.rms[None, :]
        add_bursts(traces, rows, noise, plan.frequencies, plan.response,
                   _uniform(config.burst_centre_hz, d[:, 2]),
                   _uniform(config.burst_width_hz, d[:, 3]), (0.1 + 0.8 * d[:, 4]) * duration,
                   _uniform(config.burst_duration_s, d[:, 5]), rms, config.sampling_rate)
        out["truth_burst"] = flags
    if config.chirps and n:
        draws = np.stack([_rng(entropy, e, _CHIRP).random(5) for e in index])
        flags = draws[:, 0] < config.chirp_fraction
        rows = np.flatnonzero(flags)
        d = draws[rows]
        amplitude = _uniform(config.chirp_amplitude, d[:, 1])[:, None] * plan.rms[None, :]
        add_chirps(traces, rows, _uniform(config.chirp_start_hz, d[:, 2]),
                   _uniform(config.chirp_drift_hz, d[:, 3]), 2 * np.pi * d[:, 4], amplitude,
                   config.sampling_rate)
        out["truth_chirp"] = flags
    return out
