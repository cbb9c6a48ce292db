"""Every parameter of the simulated RNO-G-like noise, in one frozen dataclass.

Per-channel parameters left as ``None`` are derived from the number of channels
(see :meth:`SimulationConfig.channel_rms_volts` and friends); :meth:`SimulationConfig.to_dict`
writes the resolved values, so a stored dict rebuilds the same configuration with
:meth:`SimulationConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..units import ADC_TO_VOLTS_RNOG

#: (low, high) fields of the unmodelled structures.
UNMODELLED_RANGES = ("burst_rms", "burst_duration_s", "burst_centre_hz", "burst_width_hz",
                     "chirp_amplitude", "chirp_start_hz", "chirp_drift_hz", "pulse_train_peak")

__all__ = ["DEFAULT_CW_LINES", "DEFAULT_STATION_CW_SCALES", "CWLine", "SimulationConfig"]

#: Version of the parameter set written by :meth:`SimulationConfig.to_dict`.
CONFIG_VERSION = 1

#: Speed of light in vacuum, m/s.
SPEED_OF_LIGHT = 299_792_458.0


@dataclass(frozen=True)
class CWLine:
    """A continuous-wave (narrowband) emitter present in a fraction of the events.

    Parameters
    ----------
    f_min, f_max : float, Hz
        Carrier frequency range; each event carrying the line draws its frequency
        uniformly in ``[f_min, f_max]`` (equal values give a fixed line).
    fraction : float
        Fraction of events in which the emitter is on.
    amplitude : float
        Sine amplitude in units of the channel's thermal RMS, at the peak of the
        channel response (the channel response at the carrier scales it further).
    amplitude_spread : float
        Each event scales the amplitude by a factor uniform in ``1 +- amplitude_spread``.
    name : str, optional
        Label used for the truth column ``truth_cw_<name>``; default from the frequencies
        in MHz (``"403"`` or ``"240_272"``).
    """

    f_min: float
    f_max: float
    fraction: float
    amplitude: float = 1.0
    amplitude_spread: float = 0.5
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            lo, hi = round(self.f_min / 1e6), round(self.f_max / 1e6)
            object.__setattr__(self, "name", f"{lo}" if lo == hi else f"{lo}_{hi}")

    @property
    def truth_column(self) -> str:
        """Name of the per-event boolean column flagging this line."""
        return f"truth_cw_{self.name}"


#: CW lines seen or monitored in RNO-G data (rnog-facts.md, "Noise"): the 403 MHz
#: radiosondes carried by weather balloons launched at Summit Station, 120 MHz, and carriers
#: inside the monitored bands 240-272, 360-380 and 482-485 MHz.
DEFAULT_CW_LINES: tuple[CWLine, ...] = (
    CWLine(403e6, 403e6, 0.15, amplitude=1.0),
    CWLine(120e6, 120e6, 0.08, amplitude=1.0),
    CWLine(240e6, 272e6, 0.04, amplitude=0.7),
    CWLine(360e6, 380e6, 0.04, amplitude=0.7),
    CWLine(482e6, 485e6, 0.03, amplitude=0.7),
)


#: Default per-station CW occupancy factors, cycled over the stations (station ``j`` gets
#: entry ``j % 5``): stations differ in how often each line is present.
DEFAULT_STATION_CW_SCALES: tuple[float, ...] = (1.0, 2.0, 0.5, 1.5, 0.75)

#: Default per-station gains run geometrically from 1 to this factor over the stations.
DEFAULT_STATION_GAIN_MAX = 1.25


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of :func:`rnognoise.simulate.simulate_noise` (see docs/simulation.md).

    Layout and bookkeeping
        ``n_samples`` (2048), ``sampling_rate`` (Hz, 3.2e9; RNO-G uses 2.4e9 from 2024),
        ``channels`` (ids 0-3, the phased array), ``station`` (11), ``run_number`` (1000),
        ``first_event_number`` (0), ``start_time`` (unix s of the first forced trigger),
        ``trigger_interval`` (s between forced triggers).
    Several stations
        ``stations`` (ids; event ``i`` belongs to ``stations[i % len(stations)]``; ``None``:
        every event is ``station``), ``station_gain`` (factor per station multiplying the
        whole trace before quantisation; default geometric 1.0 -> 1.25) and
        ``station_cw_scale`` (factor per station on every CW line's ``fraction``, clipped
        to 1; default cycles through 1.0, 2.0, 0.5, 1.5, 0.75).
    Geometry
        ``channel_depths`` (m below the surface; default 94, 95, ... m, 1 m apart),
        ``ice_index`` (refractive index at the antennas, for plane-wave delays).
    Thermal noise through the signal chain
        ``channel_rms`` (V per channel; default geometric steps 10 -> 20 mV),
        ``highpass_hz``/``highpass_order`` and ``lowpass_hz``/``lowpass_order`` (analog
        Butterworth stages), ``channel_tilt_db_per_octave`` (per-channel spectral tilt
        about ``tilt_pivot_hz``), ``common_noise_fraction`` (power fraction shared by all
        channels; 0 = independent channels).
    Galactic noise following local sidereal time (``galactic``, off by default)
        ``galactic_band_hz`` (band of the component, Hz), ``galactic_spectral_index``
        (power spectral density ~ f^index), ``galactic_power_fraction`` (mean galactic
        power / thermal power inside the band, after the signal chain),
        ``galactic_modulation`` (relative peak-to-mean modulation),
        ``galactic_peak_lst_hours`` (local sidereal time of the maximum, h) and
        ``galactic_coherence`` (fraction of the galactic power common to all channels).
    Features, each with its switch
        ``gain_drift`` (slow sinusoidal gain drift + per-event jitter),
        ``block_offsets`` (LAB4D 128-sample block pedestals), ``glitches`` (64-sample
        halves swapped; off by default), ``cw`` (the lines in ``cw_lines``),
        ``impulses`` (band-limited plane-wave bursts), ``quantization`` (ADC rounding).
    """

    # layout and bookkeeping
    n_samples: int = 2048
    sampling_rate: float = 3.2e9
    channels: tuple[int, ...] = (0, 1, 2, 3)
    station: int = 11
    run_number: int = 1000
    first_event_number: int = 0
    start_time: float = 1688169600.0  # 2023-07-01 00:00:00 UTC
    trigger_interval: float = 10.0
    # several stations in one file
    stations: tuple[int, ...] | None = None
    station_gain: tuple[float, ...] | None = None
    station_cw_scale: tuple[float, ...] | None = None
    # geometry
    channel_depths: tuple[float, ...] | None = None
    ice_index: float = 1.78
    # thermal noise and signal chain
    channel_rms: tuple[float, ...] | None = None
    highpass_hz: float = 118e6
    highpass_order: int = 3
    lowpass_hz: float = 610e6
    lowpass_order: int = 8
    channel_tilt_db_per_octave: tuple[float, ...] | None = None
    tilt_pivot_hz: float = 268e6
    common_noise_fraction: float = 0.0
    # galactic noise following local sidereal time
    galactic: bool = False
    galactic_band_hz: tuple[float, float] = (80e6, 200e6)
    galactic_spectral_index: float = -2.5
    galactic_power_fraction: float = 0.5
    galactic_modulation: float = 0.6
    galactic_peak_lst_hours: float = 17.8
    galactic_coherence: float = 0.5
    # gain drift
    gain_drift: bool = True
    gain_drift_amplitude: float = 0.03
    gain_drift_period: float = 86400.0
    gain_jitter: float = 0.02
    # LAB4D block offsets
    block_offsets: bool = True
    block_size: int = 128
    block_offset_sigma: float = 0.15
    # 64-sample glitches
    glitches: bool = False
    glitch_fraction: float = 0.02
    glitch_size: int = 64
    # continuous-wave lines
    cw: bool = True
    cw_lines: tuple[CWLine, ...] = DEFAULT_CW_LINES
    cw_cos_zenith: float = 0.5
    # impulsive bursts
    impulses: bool = True
    impulse_fraction: float = 0.03
    impulse_peak_min: float = 5.0
    impulse_peak_max: float = 15.0
    impulse_channel_spread: float = 0.2
    impulse_cos_zenith_min: float = 0.3
    impulse_cos_zenith_max: float = 0.95
    # structures no model component names (rnognoise.simulate.unmodelled); ranges are
    # (low, high) of a uniform draw per event
    bursts: bool = False
    burst_fraction: float = 0.05
    burst_rms: tuple[float, float] = (1.0, 4.0)              # x channel RMS at the peak
    burst_duration_s: tuple[float, float] = (20e-9, 150e-9)
    burst_centre_hz: tuple[float, float] = (150e6, 450e6)
    burst_width_hz: tuple[float, float] = (50e6, 200e6)
    chirps: bool = False
    chirp_fraction: float = 0.1
    chirp_amplitude: tuple[float, float] = (0.3, 1.5)       # x channel RMS
    chirp_start_hz: tuple[float, float] = (180e6, 480e6)
    chirp_drift_hz: tuple[float, float] = (-40e6, 40e6)
    pulse_trains: bool = False
    pulse_train_fraction: float = 0.04
    pulse_train_max: int = 4
    pulse_train_peak: tuple[float, float] = (3.0, 10.0)      # x channel RMS
    breathing_db_per_octave: float = 0.0                     # std of a per-event tilt
    # digitisation
    quantization: bool = True
    adc_to_volts: float = ADC_TO_VOLTS_RNOG
    adc_clip: bool = True
    adc_bits: int = 12

    def __post_init__(self) -> None:
        for name in ("channels", "channel_depths", "channel_rms", "channel_tilt_db_per_octave",
                     "stations", "station_gain", "station_cw_scale", "galactic_band_hz",
                     *UNMODELLED_RANGES):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(np.asarray(value).reshape(-1).tolist()))
        for name, label in (("channels", "channel"), ("stations", "station")):
            ids = getattr(self, name)
            if ids is None:
                continue
            if not all(float(c).is_integer() and c >= 0 for c in ids):
                raise ConfigError(f"{label} ids must be non-negative integers: {list(ids)}")
            object.__setattr__(self, name, tuple(int(c) for c in ids))
        lines = tuple(line if isinstance(line, CWLine) else CWLine(**line)
                      for line in self.cw_lines)
        object.__setattr__(self, "cw_lines", lines)
        self.validate()

    # ------------------------------------------------------------------ derived values
    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channels)

    @property
    def n_blocks(self) -> int:
        """Number of (possibly partial) digitizer blocks per trace."""
        return math.ceil(self.n_samples / self.block_size)

    def channel_rms_volts(self) -> np.ndarray:
        """Thermal RMS per channel, V (default: geometric steps from 10 to 20 mV)."""
        if self.channel_rms is not None:
            return np.asarray(self.channel_rms, dtype=np.float64)
        return np.geomspace(0.010, 0.020, self.n_channels)

    def channel_tilts(self) -> np.ndarray:
        """Spectral tilt per channel, dB per octave (default: -0.5 ... +0.5)."""
        if self.channel_tilt_db_per_octave is not None:
            return np.asarray(self.channel_tilt_db_per_octave, dtype=np.float64)
        if self.n_channels == 1:
            return np.zeros(1)
        return np.linspace(-0.5, 0.5, self.n_channels)

    @property
    def n_stations(self) -> int:
        """Number of stations the events are spread over (1 when ``stations`` is None)."""
        return 1 if self.stations is None else len(self.stations)

    def station_ids(self) -> np.ndarray:
        """Station id per station slot: ``stations``, or ``(station,)`` when that is None."""
        ids = (self.station,) if self.stations is None else self.stations
        return np.asarray(ids, dtype=np.int64)

    def station_gains(self) -> np.ndarray:
        """Gain factor per station (default: geometric steps from 1.0 to 1.25)."""
        if self.station_gain is not None:
            return np.asarray(self.station_gain, dtype=np.float64)
        return np.geomspace(1.0, DEFAULT_STATION_GAIN_MAX, self.n_stations)

    def station_cw_scales(self) -> np.ndarray:
        """CW occupancy factor per station (default: :data:`DEFAULT_STATION_CW_SCALES` cycled)."""
        if self.station_cw_scale is not None:
            return np.asarray(self.station_cw_scale, dtype=np.float64)
        cycle = DEFAULT_STATION_CW_SCALES
        return np.array([cycle[j % len(cycle)] for j in range(self.n_stations)])

    def depths(self) -> np.ndarray:
        """Antenna depth per channel, m below the surface (default 94 m + 1 m steps)."""
        if self.channel_depths is not None:
            return np.asarray(self.channel_depths, dtype=np.float64)
        return 94.0 + np.arange(self.n_channels, dtype=np.float64)

    def plane_wave_delays(self, cos_zenith: float | np.ndarray) -> np.ndarray:
        """Arrival delays, s, of a down-going plane wave relative to the shallowest antenna.

        Parameters
        ----------
        cos_zenith : float or numpy.ndarray
            Cosine of the zenith angle of the arrival direction (1 = straight down).

        Returns
        -------
        numpy.ndarray
            ``(..., n_channels)`` delays in seconds.
        """
        depth = self.depths()
        path = depth - depth.min()
        return np.multiply.outer(np.asarray(cos_zenith, dtype=np.float64),
                                 path * self.ice_index / SPEED_OF_LIGHT)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`~rnognoise.errors.ConfigError` on an inconsistent setting."""
        n = self.n_channels
        if n < 1:
            raise ConfigError("simulation needs at least one channel")
        if len(set(self.channels)) != n:
            raise ConfigError(f"channel ids repeat: {list(self.channels)}")
        if self.n_samples < 16:
            raise ConfigError(f"n_samples must be >= 16, got {self.n_samples}")
        if not (np.isfinite(self.sampling_rate) and self.sampling_rate > 0):
            raise ConfigError(f"sampling_rate must be positive (Hz), got {self.sampling_rate}")
        for name in ("channel_depths", "channel_rms", "channel_tilt_db_per_octave"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ConfigError(f"{name} has {len(value)} entries for {n} channels")
        if np.any(self.channel_rms_volts() <= 0):
            raise ConfigError("channel_rms must be positive (V)")
        for name in UNMODELLED_RANGES:
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not lo_hi[0] <= lo_hi[1]:
                raise ConfigError(f"{name} must be (low, high) with low <= high, got {lo_hi}")
        for name in ("burst_fraction", "chirp_fraction", "pulse_train_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.pulse_train_max < 2:
            raise ConfigError(f"pulse_train_max must be >= 2, got {self.pulse_train_max}")
        nyquist = self.sampling_rate / 2
        if not 0 < self.highpass_hz < self.lowpass_hz:
            raise ConfigError(f"need 0 < highpass_hz < lowpass_hz, got {self.highpass_hz}, "
                              f"{self.lowpass_hz}")
        if self.highpass_order < 1 or self.lowpass_order < 1:
            raise ConfigError("filter orders must be >= 1")
        if not 0 <= self.common_noise_fraction <= 1:
            raise ConfigError(f"common_noise_fraction must be in [0, 1], got "
                              f"{self.common_noise_fraction}")
        self._validate_stations()
        self._validate_galactic()
        if self.trigger_interval <= 0:
            raise ConfigError(f"trigger_interval must be positive (s), got "
                              f"{self.trigger_interval}")
        if self.gain_drift_period <= 0 or self.gain_jitter < 0 or self.gain_drift_amplitude < 0:
            raise ConfigError("gain drift needs a positive period and non-negative amplitudes")
        if self.block_size < 1 or self.block_offset_sigma < 0:
            raise ConfigError("block_size must be >= 1 and block_offset_sigma >= 0")
        if self.glitches and 2 * self.glitch_size > self.n_samples:
            raise ConfigError(f"glitches swap two {self.glitch_size}-sample segments; traces of "
                              f"{self.n_samples} samples are too short")
        if self.glitch_size < 1:
            raise ConfigError("glitch_size must be >= 1")
        for frac_name in ("glitch_fraction", "impulse_fraction"):
            if not 0 <= getattr(self, frac_name) <= 1:
                raise ConfigError(f"{frac_name} must be in [0, 1]")
        for line in self.cw_lines:
            if not 0 <= line.fraction <= 1:
                raise ConfigError(f"CW line {line.name}: fraction must be in [0, 1]")
            if not 0 < line.f_min <= line.f_max:
                raise ConfigError(f"CW line {line.name}: need 0 < f_min <= f_max (Hz)")
            if self.cw and line.f_max >= nyquist:
                raise ConfigError(f"CW line {line.name} at {line.f_max / 1e6:g} MHz is above "
                                  f"the Nyquist frequency {nyquist / 1e6:g} MHz")
            if line.amplitude < 0 or not 0 <= line.amplitude_spread < 1:
                raise ConfigError(f"CW line {line.name}: amplitude >= 0 and "
                                  "0 <= amplitude_spread < 1 required")
        if len({line.name for line in self.cw_lines}) != len(self.cw_lines):
            raise ConfigError("CW line names repeat; give each line a distinct name")
        if not 0 < self.impulse_peak_min <= self.impulse_peak_max:
            raise ConfigError("need 0 < impulse_peak_min <= impulse_peak_max")
        if not -1 <= self.impulse_cos_zenith_min <= self.impulse_cos_zenith_max <= 1:
            raise ConfigError("need -1 <= impulse_cos_zenith_min <= impulse_cos_zenith_max <= 1")
        if not -1 <= self.cw_cos_zenith <= 1:
            raise ConfigError("cw_cos_zenith must be in [-1, 1]")
        if self.adc_to_volts <= 0 or self.adc_bits < 2:
            raise ConfigError("adc_to_volts must be positive and adc_bits >= 2")

    def _validate_stations(self) -> None:
        if self.stations is not None:
            if not self.stations:
                raise ConfigError("stations is empty; give at least one station id or None")
            if len(set(self.stations)) != len(self.stations):
                raise ConfigError(f"station ids repeat: {list(self.stations)}")
        k = self.n_stations
        for name in ("station_gain", "station_cw_scale"):
            value = getattr(self, name)
            if value is not None and len(value) != k:
                raise ConfigError(f"{name} has {len(value)} entries for {k} station(s)")
        gains = self.station_gains()
        if not (np.all(np.isfinite(gains)) and np.all(gains > 0)):
            raise ConfigError(f"station_gain must be positive, got {gains.tolist()}")
        scales = self.station_cw_scales()
        if not (np.all(np.isfinite(scales)) and np.all(scales >= 0)):
            raise ConfigError(f"station_cw_scale must be non-negative, got {scales.tolist()}")

    def _validate_galactic(self) -> None:
        if len(self.galactic_band_hz) != 2:
            raise ConfigError(f"galactic_band_hz needs two frequencies (Hz), got "
                              f"{list(self.galactic_band_hz)}")
        f_lo, f_hi = self.galactic_band_hz
        if not 0 < f_lo < f_hi:
            raise ConfigError(f"galactic_band_hz: need 0 < low < high (Hz), got {f_lo}, {f_hi}")
        if not np.isfinite(self.galactic_spectral_index):
            raise ConfigError("galactic_spectral_index must be finite")
        if not (np.isfinite(self.galactic_power_fraction) and self.galactic_power_fraction >= 0):
            raise ConfigError(f"galactic_power_fraction must be >= 0, got "
                              f"{self.galactic_power_fraction}")
        for name in ("galactic_modulation", "galactic_coherence"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.galactic_peak_lst_hours < 24:
            raise ConfigError(f"galactic_peak_lst_hours must be in [0, 24) h, got "
                              f"{self.galactic_peak_lst_hours}")
        if not self.galactic:
            return
        if f_hi >= self.sampling_rate / 2:
            raise ConfigError(f"galactic band up to {f_hi / 1e6:g} MHz reaches the Nyquist "
                              f"frequency {self.sampling_rate / 2e6:g} MHz")
        frequencies = np.fft.rfftfreq(self.n_samples, d=1.0 / self.sampling_rate)
        if np.count_nonzero((frequencies > f_lo) & (frequencies < f_hi)) < 3:
            raise ConfigError(f"galactic band {f_lo / 1e6:g}-{f_hi / 1e6:g} MHz holds fewer "
                              f"than 3 frequency bins of {self.n_samples}-sample traces")

    # ------------------------------------------------------------------ provenance
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every parameter, per-channel values resolved."""
        out = dataclasses.asdict(self)
        out["config_version"] = CONFIG_VERSION
        out["channels"] = list(self.channels)
        out["channel_rms"] = self.channel_rms_volts().tolist()
        out["channel_tilt_db_per_octave"] = self.channel_tilts().tolist()
        out["channel_depths"] = self.depths().tolist()
        out["stations"] = None if self.stations is None else list(self.stations)
        out["station_gain"] = self.station_gains().tolist()
        out["station_cw_scale"] = self.station_cw_scales().tolist()
        out["galactic_band_hz"] = list(self.galactic_band_hz)
        for name in UNMODELLED_RANGES:
            out[name] = list(getattr(self, name))
        out["cw_lines"] = [dataclasses.asdict(line) for line in self.cw_lines]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimulationConfig:
        """Rebuild a configuration from :meth:`to_dict` output (unknown keys are refused)."""
        values = dict(values)
        values.pop("config_version", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown simulation parameter(s): {unknown}")
        values["cw_lines"] = tuple(CWLine(**line) if isinstance(line, dict) else line
                                   for line in values.get("cw_lines", DEFAULT_CW_LINES))
        return cls(**values)
