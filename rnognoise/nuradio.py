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

Conditional models (:attr:`~rnognoise.generator.NoiseGenerator.condition_names`) get the
conditions of each station: ``station`` is the station id, and the station time goes to
the model as ``readout_time``, from which the model computes the local sidereal time; ``begin(condition=...)`` fixes values instead, and conditions that
nobody gives are drawn from the model's training events.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from NuRadioReco.modules.base.module import register_run
    from NuRadioReco.utilities import units
except ModuleNotFoundError as err:  # pragma: no cover - exercised without NuRadioMC
    raise ModuleNotFoundError(
        "rnognoise.nuradio needs NuRadioMC; install it with "
        "pip install 'rnognoise[nuradio]'") from err

from .errors import ConfigError, PhysicalEnvelopeWarning
from .generator import NoiseGenerator

__all__ = ["noiseAdder"]

#: Sets of condition values whose buffered draws are kept (least recently used dropped).
MAX_CONDITION_BUFFERS = 16
#: The ``station`` condition, filled in from ``station.get_id()``.
STATION = "station"
#: The sidereal-time condition (hours), computed by the model from ``readout_time``.
LST = "lst"
#: Event column from which ``lst`` can be given instead (unix s).
READOUT_TIME = "readout_time"

ConditionKey = tuple[tuple[str, Any], ...]


@dataclass
class _Buffer:
    """Unused joint draws of one set of condition values at one length and rate."""

    key: tuple[int, float]
    draws: np.ndarray
    pos: int = 0


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
        self._buffer_size = 32
        self._buffers: OrderedDict[ConditionKey | None, _Buffer] = OrderedDict()
        self._condition: dict[str, Any] = {}
        self.n_events = 0

    def begin(self, model_path: str | os.PathLike[str] | NoiseGenerator, seed: int | None = None,
              device: str = "cpu", channel_mapping: Mapping[int, int] | None = None,
              buffer_size: int = 32, condition: Mapping[str, Any] | None = None,
              stream: int = 0) -> None:
        """Load the model and set up the random stream.

        Parameters
        ----------
        model_path : str, os.PathLike or NoiseGenerator
            Model file (``rnognoise fit`` output), or an already loaded generator.
        seed : int, optional
            Seed of the whole run: the same seed and the same sequence of events (trace
            lengths, sampling rates) give the same noise. ``None``: fresh entropy.
        stream : int
            Independent random stream of the seed (>= 0): give every job of a simulation
            campaign the same seed and its own stream (e.g. the job number), and no two
            jobs share noise (spawned seed sequences, as in
            :meth:`~rnognoise.generator.NoiseGenerator.sample`).
        device : str
            ``"cpu"``, ``"cuda"`` or ``"auto"``.
        channel_mapping : dict of int to int, optional
            Station channel id -> model channel id, for channels whose ids differ from
            the model's. Channels not in the mapping use their own id.
        buffer_size : int
            Events drawn per call of the model (each an independent draw, handed out
            one per event; a change of trace length or sampling rate discards the rest).
            Drawing in batches amortises the per-call cost of the model. Conditional
            models keep one buffer per set of condition values; the first event with new
            values gets a draw of its own.
        condition : dict, optional
            Conditional models only: one value per condition for every event, overriding
            the defaults (``station``: the station id; ``lst``: the local sidereal time,
            hours, of the station time; ``readout_time``, unix s, may be given instead
            of ``lst``). Conditions of the model that are neither given nor defaulted
            are drawn, per event, from the model's training events.

        Raises
        ------
        ModelFileError
            Missing or damaged model file.
        ConfigError
            A mapping that is not int -> int or points two channels to one model channel;
            a condition for an unconditional model, an unknown condition name, a value
            that is not a scalar or was not seen in training.
        """
        if isinstance(model_path, NoiseGenerator):
            self._generator = model_path
        else:
            self._generator = NoiseGenerator.load(model_path, device=device)
        if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0:
            raise ConfigError(f"stream must be an integer >= 0, got {stream!r}")
        self._seeds = np.random.SeedSequence(seed, spawn_key=(int(stream),))
        self._mapping = _check_mapping(channel_mapping)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ConfigError(f"buffer_size must be a positive integer, got {buffer_size!r}")
        self._buffer_size = buffer_size
        self._buffers = OrderedDict()
        self.n_events = 0
        gen = self._generator
        self._condition = self._check_condition(condition)
        self.logger.info("rnognoise model %s: channels %s, %d samples at %.4g GHz", gen.kind,
                         gen.channels.tolist(), gen.n_samples, gen.sampling_rate * units.Hz)
        if gen.conditional:
            self.logger.info("conditions %s; fixed: %s", gen.condition_names,
                             self._condition or "none")

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
            channels with different sampling rates; for a conditional model, a station
            (or other condition value) the model was not trained on, or a model that
            needs ``lst`` for a station without station time.
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
        condition = self._station_condition(station)
        n_max = max(ch.get_number_of_samples() for ch in channels)
        noise = self._next_draw(n_max, rate_hz, condition, station.get_id())
        for ch, row in zip(channels, rows, strict=True):
            n = ch.get_number_of_samples()
            ch.set_trace(ch.get_trace() + noise[row, :n].astype(np.float64) * units.V,
                         ch.get_sampling_rate())
        self.n_events += 1

    def end(self) -> None:
        """Log how many events got noise."""
        self.logger.info("added rnognoise noise to %d events", self.n_events)

    # -- helpers ----------------------------------------------------------------------
    def _next_draw(self, n_samples: int, rate_hz: float, condition: dict[str, Any] | None,
                   station_id: int) -> np.ndarray:
        """The next unused joint draw ``(n_model_channels, n_samples)`` at ``rate_hz`` for
        ``condition`` (None: unconditional model)."""
        cond_key = None if condition is None else tuple(sorted(condition.items()))
        key = (n_samples, rate_hz)
        buffer = self._buffers.get(cond_key)
        if buffer is None or buffer.key != key or buffer.pos >= len(buffer.draws):
            # a new set of condition values may not recur (e.g. a new station time): one draw
            size = 1 if buffer is None and condition is not None else self._buffer_size
            child = self._seeds.spawn(1)[0]
            seed = int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", PhysicalEnvelopeWarning)
                    draws = self.generator.sample(size, seed=seed, n_samples=n_samples,
                                                  sampling_rate=rate_hz, batch_size=size,
                                                  block_events=size, condition=condition)
                for warning in caught:  # a band cut by the rate, noise off the envelope
                    self.logger.warning("%s", warning.message)
            except ConfigError as err:
                if condition is None:
                    raise
                raise ConfigError(f"{err} [station {station_id}, conditions {condition}; set "
                                  "them with noiseAdder.begin(condition={...})]") from None
            buffer = _Buffer(key, draws)
            self._buffers[cond_key] = buffer
        self._buffers.move_to_end(cond_key)
        while len(self._buffers) > MAX_CONDITION_BUFFERS:
            self._buffers.popitem(last=False)
        buffer.pos += 1
        return buffer.draws[buffer.pos - 1]

    def _check_condition(self, condition: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate ``begin(condition=...)``: names, scalars, values seen in training."""
        if not condition:
            return {}
        gen = self.generator
        source = gen.path or "model"
        if not isinstance(condition, Mapping):
            raise ConfigError(f"condition must be a dict of condition name -> value, got "
                              f"{condition!r}")
        if not gen.conditional:
            raise ConfigError(f"{source}: the model is not conditional; begin() takes no "
                              f"condition (got {dict(condition)})")
        names = gen.condition_names
        allowed = [*names, READOUT_TIME] if LST in names else names
        unknown = sorted(set(condition) - set(allowed))
        if unknown:
            raise ConfigError(f"{source}: unknown condition(s) {unknown}; the model takes "
                              f"{', '.join(allowed)}")
        if LST in condition and READOUT_TIME in condition:
            raise ConfigError("give 'lst' or 'readout_time' in condition, not both")
        out: dict[str, Any] = {}
        for name, value in condition.items():
            if np.ndim(value) != 0:
                raise ConfigError(f"condition {name!r} must be one value for all events, "
                                  f"got {value!r}")
            out[name] = value.item() if isinstance(value, np.generic) else value
        gen.encode_conditions(out, 1, seed=0)  # values not seen in training raise here
        return out

    def _station_condition(self, station: Any) -> dict[str, Any] | None:
        """Conditions of one station: the defaults, overridden by ``begin(condition=...)``.

        Returns None for an unconditional model.
        """
        gen = self.generator
        if not gen.conditional:
            return None
        names = gen.condition_names
        condition: dict[str, Any] = {}
        if STATION in names and STATION not in self._condition:
            condition[STATION] = int(station.get_id())
        if LST in names and LST not in self._condition and READOUT_TIME not in self._condition:
            time = station.get_station_time()
            if time is None:
                raise ConfigError(f"{gen.path or 'model'}: the model is conditioned on lst, "
                                  f"but station {station.get_id()} has no station time; set "
                                  "it (station.set_station_time) or pass condition={'lst': "
                                  "hours} to noiseAdder.begin()")
            condition[READOUT_TIME] = float(time.unix)  # the model computes lst
        condition.update(self._condition)
        return condition

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
