"""NuRadioReco module adding learned RNO-G noise to the channels of a simulated station.

Needs NuRadioMC (``pip install 'rnognoise[nuradio]'``). Use it like NuRadioMC's own
``channelGenericNoiseAdder``::

    from rnognoise.nuradio import noiseAdder

    adder = noiseAdder()
    adder.begin("noise.safetensors", seed=1)
    for event in events:
        station = event.get_station()
        adder.run(event, station, det)
    adder.end()

Units are NuRadioReco's (``NuRadioReco.utilities.units``: volts = 1, ns = 1, GHz = 1):
traces are read and written in volts, sampling rates are read in GHz units and
converted to the hertz the model uses. Every event gets one joint draw of all its
channels (the model's cross-channel correlation is kept) from its own random stream;
no two events, and no two channels, share a draw. Trace lengths and sampling rates
other than the model's are handled by :meth:`rnognoise.generator.NoiseGenerator.sample`
(stitching of independent draws, band-limited resampling: :mod:`rnognoise.stitching`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

try:
    from NuRadioReco.modules.base.module import register_run
    from NuRadioReco.utilities import units
except ModuleNotFoundError as err:  # pragma: no cover - exercised without NuRadioMC
    raise ModuleNotFoundError(
        "rnognoise.nuradio needs NuRadioMC; install it with "
        "pip install 'rnognoise[nuradio]'") from err

from .errors import ConfigError
from .generator import NoiseGenerator
from .stitching import power_above

__all__ = ["noiseAdder"]

#: Fraction of the model's power above the target Nyquist frequency that triggers a warning.
LOST_POWER_WARNING = 0.01


class noiseAdder:  # lower-case first letter: NuRadioReco module naming
    """Add noise drawn from an rnognoise model to a station's channels.

    Examples
    --------
    >>> adder = noiseAdder()                                   # doctest: +SKIP
    >>> adder.begin("noise.safetensors", seed=1, channel_mapping={100: 0})
    >>> adder.run(event, event.get_station(), det)
    """

    def __init__(self) -> None:
        self.logger = logging.getLogger("NuRadioReco.rnognoise.noiseAdder")
        self._generator: NoiseGenerator | None = None
        self._seeds = np.random.SeedSequence()
        self._mapping: dict[int, int] = {}
        self._checked_rates: dict[float, float] = {}
        self._probe: np.ndarray | None = None
        self._buffer_size = 32
        self._buffer = np.empty((0, 0, 0), np.float32)
        self._buffer_key: tuple[int, float] | None = None
        self._buffer_pos = 0
        self.n_events = 0

    def begin(self, model_path: str | os.PathLike[str] | NoiseGenerator, seed: int | None = None,
              device: str = "cpu", channel_mapping: Mapping[int, int] | None = None,
              buffer_size: int = 32) -> None:
        """Load the model and set up the random stream.

        Parameters
        ----------
        model_path : str, os.PathLike or NoiseGenerator
            Model file (``rnognoise fit`` output), or an already loaded generator.
        seed : int, optional
            Seed of the whole run: the same seed and the same sequence of events (trace
            lengths, sampling rates) give the same noise. ``None``: fresh entropy.
        device : str
            ``"cpu"``, ``"cuda"`` or ``"auto"``.
        channel_mapping : dict of int to int, optional
            Station channel id -> model channel id, for channels whose ids differ from
            the model's. Channels not in the mapping use their own id.
        buffer_size : int
            Events drawn per call of the model (each an independent draw, handed out
            one per event; a change of trace length or sampling rate discards the rest).
            Drawing in batches amortises the per-call cost of the model.

        Raises
        ------
        ModelFileError
            Missing or damaged model file.
        ConfigError
            A mapping that is not int -> int or points two channels to one model channel.
        """
        if isinstance(model_path, NoiseGenerator):
            self._generator = model_path
        else:
            self._generator = NoiseGenerator.load(model_path, device=device)
        self._seeds = np.random.SeedSequence(seed)
        self._mapping = _check_mapping(channel_mapping)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ConfigError(f"buffer_size must be a positive integer, got {buffer_size!r}")
        self._buffer_size = buffer_size
        self._buffer_key = None
        self._buffer_pos = 0
        self._checked_rates = {}
        self._probe = None
        self.n_events = 0
        gen = self._generator
        self.logger.info("rnognoise model %s: channels %s, %d samples at %.4g GHz", gen.kind,
                         gen.channels.tolist(), gen.n_samples, gen.sampling_rate * units.Hz)

    @property
    def generator(self) -> NoiseGenerator:
        """The loaded :class:`~rnognoise.generator.NoiseGenerator`."""
        if self._generator is None:
            raise ConfigError("noiseAdder.begin(model_path) has not been called")
        return self._generator

    @register_run()
    def run(self, event: Any, station: Any, detector: Any,
            channel_ids: Iterable[int] | None = None) -> None:
        """Add one fresh joint noise draw to the channels of ``station``.

        Parameters
        ----------
        event : NuRadioReco.framework.event.Event
            The event (used for bookkeeping only).
        station : NuRadioReco.framework.station.Station
            Its channels' traces (volts) get the noise added in place.
        detector : NuRadioReco.detector
            Unused; part of the module interface.
        channel_ids : iterable of int, optional
            Station channels to add noise to (default: all of them).

        Raises
        ------
        ConfigError
            A channel that is neither in the model nor mapped to a model channel (the
            message names them), requested channels missing from the station, or
            channels with different sampling rates.
        """
        station_ids = [int(c) for c in station.get_channel_ids()]
        ids = station_ids if channel_ids is None else [int(c) for c in channel_ids]
        absent = [c for c in ids if c not in station_ids]
        if absent:
            raise ConfigError(f"channel(s) {absent} not in station {station.get_id()} "
                              f"(channels {sorted(station_ids)})")
        if not ids:
            return
        rows = self._model_rows(ids)
        channels = [station.get_channel(c) for c in ids]
        rates = {float(ch.get_sampling_rate()) for ch in channels}
        if len(rates) > 1:
            raise ConfigError(f"channels {ids} have different sampling rates "
                              f"{sorted(r / units.GHz for r in rates)} GHz; run the module once "
                              "per rate with channel_ids (the groups then get independent noise)")
        rate_hz = rates.pop() / units.Hz
        self._check_nyquist(rate_hz, rows)
        n_max = max(ch.get_number_of_samples() for ch in channels)
        noise = self._next_draw(n_max, rate_hz)
        for ch, row in zip(channels, rows, strict=True):
            n = ch.get_number_of_samples()
            ch.set_trace(ch.get_trace() + noise[row, :n].astype(np.float64) * units.V,
                         ch.get_sampling_rate())
        self.n_events += 1

    def end(self) -> None:
        """Log how many events got noise."""
        self.logger.info("added rnognoise noise to %d events", self.n_events)

    # -- helpers ----------------------------------------------------------------------
    def _next_draw(self, n_samples: int, rate_hz: float) -> np.ndarray:
        """The next unused joint draw ``(n_model_channels, n_samples)`` at ``rate_hz``."""
        key = (n_samples, rate_hz)
        if key != self._buffer_key or self._buffer_pos >= len(self._buffer):
            child = self._seeds.spawn(1)[0]
            seed = int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
            self._buffer = self.generator.sample(self._buffer_size, seed=seed,
                                                 n_samples=n_samples, sampling_rate=rate_hz,
                                                 batch_size=self._buffer_size)
            self._buffer_key, self._buffer_pos = key, 0
        self._buffer_pos += 1
        return self._buffer[self._buffer_pos - 1]

    def _model_rows(self, ids: list[int]) -> list[int]:
        gen = self.generator
        lookup = {int(c): i for i, c in enumerate(gen.channels)}
        model_ids = [self._mapping.get(c, c) for c in ids]
        missing = [(c, m) for c, m in zip(ids, model_ids, strict=True) if m not in lookup]
        if missing:
            named = ", ".join(str(c) if c == m else f"{c} (mapped to {m})" for c, m in missing)
            raise ConfigError(f"station channel(s) {named} not in the noise model (model channels "
                              f"{gen.channels.tolist()}); pass channel_mapping={{station id: "
                              "model id}} to begin() or restrict channel_ids")
        repeated = sorted({m for m in model_ids if model_ids.count(m) > 1})
        if repeated:
            raise ConfigError(f"several station channels map to model channel(s) {repeated}; "
                              "they would get identical noise")
        return [lookup[m] for m in model_ids]

    def _check_nyquist(self, rate_hz: float, rows: list[int]) -> None:
        """Warn once per rate if the target Nyquist frequency cuts away model power."""
        gen = self.generator
        if rate_hz in self._checked_rates or rate_hz >= gen.sampling_rate:
            return
        if self._probe is None:
            self._probe = gen.sample(64, seed=20240601)
        lost = power_above(self._probe[:, rows], gen.sampling_rate, rate_hz / 2)
        self._checked_rates[rate_hz] = lost
        if lost > LOST_POWER_WARNING:
            self.logger.warning(
                "sampling rate %.4g GHz: %.1f%% of the model's noise power lies above the "
                "Nyquist frequency %.0f MHz and is removed by the resampling",
                rate_hz * units.Hz / units.GHz, 100 * lost, rate_hz / 2 * units.Hz / units.MHz)


def _check_mapping(mapping: Mapping[int, int] | None) -> dict[int, int]:
    if mapping is None:
        return {}
    try:
        out = {int(k): int(v) for k, v in dict(mapping).items()}
    except (TypeError, ValueError):
        raise ConfigError(f"channel_mapping must map station channel ids to model channel "
                          f"ids (int -> int), got {mapping!r}") from None
    values = list(out.values())
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"channel_mapping sends several station channels to model channel(s) "
                          f"{repeated}; they would get identical noise")
    return out
