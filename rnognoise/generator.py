"""``NoiseGenerator``: fresh, seeded noise in volts from a model file, for simulation code.

Random streams
    Event ``i`` of stream ``k`` of seed ``s`` is a function of ``(s, k, i)`` alone (and of
    the model, the device, the trace length and rate): not of how many events are drawn
    at once, of ``batch_size`` or of where a chunk starts. Events are generated in blocks
    of :data:`BLOCK_EVENTS`; block ``b`` draws from its own torch generator seeded by
    ``numpy.random.SeedSequence(s, spawn_key=(k, b))``. Streams are spawned seed
    sequences (``SeedSequence(s).spawn(...)[k]`` is stream ``k``), not ``s + k``: the
    streams of a simulation campaign (one per cluster job) are statistically independent.

Any trace length and sampling rate: see :mod:`rnognoise.stitching` for the methods.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import sample_args as args
from .core.device import autocast, check_precision, resolve_device, to_host
from .envelope_guard import Envelope, EnvelopeGuard, OutputNorms, check_output, output_norms
from .errors import (
    ConfigError,
    PhysicalEnvelopeWarning,
)
from .io import TraceSet
from .modelfile import load_model
from .stitching import StitchPlan, check_band, plan_resample, plan_stitch, random_crop
from .stitching import resample as resample_traces
from .stitching import stitch as stitch_draws
from .threads import default_workers, ordered_map

if TYPE_CHECKING:
    from .conditions import EncodedConditions
    from .stitching import ResamplePlan

__all__ = ["BLOCK_EVENTS", "CUDA_BLOCK_VALUES", "NoiseGenerator", "block_events",
           "resolve_device"]

#: Events per independently seeded block on the CPU (the unit of reproducibility).
BLOCK_EVENTS = 256
#: Values (events x channels x samples) per block on CUDA: 16 384 events of 4 x 2048, a
#: 512 MiB float32 block. A GPU's generation of a block is bound by the host's kernel
#: launches and synchronisations up to about this size (one H200, the default wgan-gp:
#: 0.54 M events/s in blocks of 4096, 1.28 M in blocks of 16 384). CUDA streams differ
#: from CPU ones anyway.
CUDA_BLOCK_VALUES = 2**27
#: spawn_key entry, after the stream, of the conditions drawn for a whole call.
_CONDITIONS_KEY = 2**32
#: What to do when sampled noise leaves the training envelope.
_ON_UNPHYSICAL = ("warn", "raise", "ignore")


def block_events(device: torch.device, n_channels: int, n_samples: int) -> int:
    """Events per independently seeded block of a generator on ``device``.

    Parameters
    ----------
    device : torch.device
        The generator's device.
    n_channels, n_samples : int
        The model's event shape.

    Returns
    -------
    int
        :data:`BLOCK_EVENTS` on the CPU; on CUDA, :data:`CUDA_BLOCK_VALUES` values' worth
        of events (at least one), rounded down to a multiple of :data:`BLOCK_EVENTS`
        when there are more.
    """
    if device.type != "cuda":
        return BLOCK_EVENTS
    events = max(1, CUDA_BLOCK_VALUES // max(1, int(n_channels) * int(n_samples)))
    return events - events % BLOCK_EVENTS if events >= BLOCK_EVENTS else events


def _torch_seed(entropy: Any, key: tuple[int, ...]) -> int:
    state = np.random.SeedSequence(entropy, spawn_key=key).generate_state(1, dtype=np.uint64)
    return int(state[0] & np.uint64(0x7FFF_FFFF_FFFF_FFFF))


class NoiseGenerator:
    """Draw detector noise from a trained model.

    Parameters
    ----------
    model : rnognoise.models.NoiseModel
        A fitted model.
    metadata : dict
        The model file's metadata (its ``provenance.envelope``, when present, turns on
        the physical-envelope check, :mod:`rnognoise.envelope_guard`).
    device : torch.device
        Where sampling runs.
    precision : {"fp32", "bf16", "fp16"}
        Autocast dtype for the model's networks while sampling; spectral parts (FFTs,
        the random-phase sampler) stay float32. Default float32 throughout.
    workers : int, optional
        Threads that draw blocks of events at once (:mod:`rnognoise.threads`); the
        noise does not depend on it. Default: on the CPU torch's thread count
        (``OMP_NUM_THREADS``, ``torch.set_num_threads``) bounded by the cores the
        process may use, i.e. 1 in a one-core cluster job; 1 on an accelerator.

    Attributes
    ----------
    sampling_rate : float
        Hz.
    channels : numpy.ndarray
        Channel ids, in output order.
    n_samples : int
        Samples per trace.
    units : str
        ``"V"``.

    Examples
    --------
    >>> gen = NoiseGenerator.load("noise.safetensors")          # doctest: +SKIP
    >>> noise = gen.sample(1000, seed=42)  # (1000, n_channels, n_samples) volts
    >>> job = gen.sample(1000, seed=42, stream=17)  # cluster job 17's own stream
    >>> sim = gen.sample(10, n_samples=4096, sampling_rate=2.4e9, seed=1)  # doctest: +SKIP
    """

    def __init__(self, model: Any, metadata: dict[str, Any], device: torch.device,
                 precision: str = "fp32", workers: int | None = None) -> None:
        self.model = model.to(device).eval()
        self.metadata = metadata
        self.path: str | None = None
        self.device = device
        self.precision = check_precision(precision)
        self.sampling_rate = float(model.layout.sampling_rate)
        self.channels = np.asarray(model.layout.channels, dtype=np.int64)
        self.n_samples = int(model.layout.n_samples)
        self.units = "V"
        self.kind = model.kind
        self.conditional = bool(getattr(model, "condition_names", None))
        self.envelope = Envelope.from_metadata(metadata, self.n_channels, "<model>")
        self.workers = default_workers(device) if workers is None else int(workers)
        self._warned = False
        self._band: dict[float, None] = {}

    def __repr__(self) -> str:
        where = f", path={self.path!r}" if self.path else ""
        return (f"NoiseGenerator(kind={self.kind!r}, channels={self.channels.tolist()}, "
                f"n_samples={self.n_samples}, sampling_rate={self.sampling_rate / 1e9:g} GHz, "
                f"conditions={self.condition_names}, device={str(self.device)!r}{where})")

    @property
    def condition_names(self) -> list[str]:
        """Conditions the model takes (``station``, ``lst``, ...); empty if unconditional."""
        return list(self.model.condition_names) if self.conditional else []

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.channels.size)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto",
             precision: str = "fp32", workers: int | None = None) -> NoiseGenerator:
        """Load a model file (safetensors + JSON metadata; nothing is unpickled).

        ``device``, ``precision`` and ``workers`` as in the constructor.

        Raises
        ------
        ModelFileError
            Missing, damaged or foreign file.
        """
        dev = resolve_device(device)
        model, metadata = load_model(path, device=dev)
        Envelope.from_metadata(metadata, len(model.layout.channels), os.fspath(path))
        generator = cls(model, metadata, dev, precision, workers)
        generator.path = os.fspath(path)
        return generator

    # -- conditions --------------------------------------------------------------------
    def encode_conditions(self, condition: Any, n: int, *, seed: int | None = None,
                          stream: int = 0) -> EncodedConditions | None:
        """Check and encode conditions for ``n`` events (see :meth:`sample`).

        Returns None for an unconditional model given no conditions.

        Raises
        ------
        ConfigError
            Conditions given to an unconditional model, unknown names, values not seen
            in training.
        """
        if args.is_encoded(condition):
            if len(condition.cell) != n:
                raise ConfigError(f"{len(condition.cell)} encoded conditions for {n} events")
            return condition
        if not self.conditional:
            if condition is not None:
                raise ConfigError(f"{self.path or 'model'}: the model is not conditional; "
                                  "it takes no conditions")
            return None
        rng = np.random.default_rng(_torch_seed(seed, (stream, _CONDITIONS_KEY)))
        return self.model.encode_conditions(condition, n, rng, source=self.path or "condition")

    def event_conditions(self, n: int, *, seed: int | None = None, stream: int = 0,
                         start: int = 0, condition: Any = None,
                         block_events: int | None = None) -> Any:
        """The conditions (a DataFrame, one row per event) that :meth:`sample` with the
        same arguments uses; None for an unconditional model."""
        if not self.conditional:
            self.encode_conditions(condition, n)
            return None
        parts = [enc for _, _, _, enc in self._blocks(
            n, seed, stream, start, None, condition, generate=False,
            block_events=block_events)]
        return args.concat(parts).frame

    # -- sampling ----------------------------------------------------------------------
    def iter_samples(self, n: int, *, seed: int | None = None, stream: int = 0,
                     start: int = 0, batch_size: int = 1024, n_samples: int | None = None,
                     sampling_rate: float | None = None, condition: Any = None,
                     on_unphysical: str = "warn", block_events: int | None = None,
                     ) -> Iterator[np.ndarray]:
        """Yield events ``start .. start + n - 1`` of a stream in batches of ``batch_size``
        (bounded memory), float32 volts.

        Drawing 1000 events as ten calls with ``start=0, 100, ...`` gives the same events
        as one call. Arguments as in :meth:`sample`.
        """
        n, batch_size = args.check_count(n), args.check_batch(batch_size)
        n_out = self.n_samples if n_samples is None else args.check_length(n_samples)
        resampling = self._resample_plan(n_out, sampling_rate)
        out, pos, filled, size = None, 0, 0, 0
        for _, _, part, _ in self._blocks(n, seed, stream, start, (n_out, resampling),
                                          condition, on_unphysical=on_unphysical,
                                          block_events=block_events):
            while len(part):
                if out is None:
                    size = min(batch_size, n - filled)
                    if len(part) >= size:  # a view of the block will do
                        filled += size
                        yield part[:size]
                        part = part[size:]
                        continue
                    out, pos = np.empty((size, self.n_channels, n_out), np.float32), 0
                take = min(len(part), size - pos)
                out[pos:pos + take] = part[:take]
                part, pos = part[take:], pos + take
                if pos == size:
                    filled += size
                    yield out
                    out = None

    def sample(self, n: int, *, seed: int | None = None, stream: int = 0, start: int = 0,
               batch_size: int = 1024, n_samples: int | None = None,
               sampling_rate: float | None = None, condition: Any = None,
               on_unphysical: str = "warn", block_events: int | None = None) -> np.ndarray:
        """Draw ``n`` events of noise.

        Parameters
        ----------
        n : int
            Number of events (>= 1).
        seed : int, optional
            Seed; ``None`` draws fresh entropy.
        stream : int
            Independent random stream of the seed (>= 0), e.g. the job number of a
            simulation campaign: ``(seed, stream)`` pairs never share events.
        start : int
            Index of the first event in the stream: ``sample(100, seed=s, start=900)`` are
            events 900-999 of ``sample(1000, seed=s)``.
        batch_size : int
            Events per batch of :meth:`iter_samples` (memory bound); the output does not
            depend on it.
        n_samples : int, optional
            Samples per trace (default: the model's :attr:`n_samples`). Longer traces
            are stitched from independent draws with power-complementary cross-fades,
            shorter ones are random windows of one draw
            (:mod:`rnognoise.stitching`).
        sampling_rate : float, Hz, optional
            Output sampling rate (default: the model's :attr:`sampling_rate`). Other
            rates are reached by band-limited resampling of noise generated at the
            model's rate; power above the lower Nyquist frequency is removed. A Nyquist
            frequency below the model's band is refused, one inside it warns
            (:class:`~rnognoise.errors.PhysicalEnvelopeWarning`).
        condition : dict or pandas.DataFrame, optional
            Conditional models only (:attr:`condition_names`): a dict of one value or
            ``n`` values per condition (``{"station": 12, "lst": 6.5}``; ``lst`` in
            hours, or ``readout_time`` in unix s from which it is computed), or a
            DataFrame with ``n`` rows (e.g. a TraceSet's ``events``). Conditions left
            out are drawn from the training events with the given values; ``None``
            draws all, reproducing the training mixture. Values not seen in training
            raise :class:`~rnognoise.errors.ConfigError`. With ``None`` or one value per
            condition, the events do not depend on ``n`` or ``start``; with values per
            event, they are a function of the whole call.
        on_unphysical : {"warn", "raise", "ignore"}
            When the noise leaves the physical envelope of the training data
            (:mod:`rnognoise.envelope_guard`): warn once per generator
            (:class:`~rnognoise.errors.PhysicalEnvelopeWarning`), raise
            :class:`~rnognoise.errors.UnphysicalOutputError`, or say nothing.
        block_events : int, optional
            Events per independently seeded block (default :data:`BLOCK_EVENTS` on the
            CPU, :func:`block_events` on CUDA). The noise depends on it; a caller
            drawing a few events at a time from fresh seeds (e.g.
            :mod:`rnognoise.nuradio`) sets it to what it draws, to generate no more.

        Returns
        -------
        numpy.ndarray
            float32 ``(n, n_channels, n_samples)`` in volts.

        Examples
        --------
        >>> gen.sample(10, n_samples=5000, sampling_rate=2.4e9, seed=1)  # doctest: +SKIP
        """
        n = args.check_count(n)
        args.check_batch(batch_size)
        n_out = self.n_samples if n_samples is None else args.check_length(n_samples)
        resampling = self._resample_plan(n_out, sampling_rate)
        out = np.empty((n, self.n_channels, n_out), dtype=np.float32)
        for lo, hi, part, _ in self._blocks(n, seed, stream, start, (n_out, resampling),
                                            condition, on_unphysical=on_unphysical,
                                            block_events=block_events):
            out[lo:hi] = part
        return out

    def sample_traceset(self, n: int, *, seed: int | None = None, stream: int = 0,
                        start: int = 0, batch_size: int = 1024, n_samples: int | None = None,
                        sampling_rate: float | None = None, condition: Any = None,
                        on_unphysical: str = "warn") -> TraceSet:
        """Like :meth:`sample`, wrapped in a :class:`~rnognoise.io.TraceSet` with provenance;
        for a conditional model its ``events`` hold the conditions of every event."""
        traces = self.sample(n, seed=seed, stream=stream, start=start, batch_size=batch_size,
                             n_samples=n_samples, sampling_rate=sampling_rate,
                             condition=condition, on_unphysical=on_unphysical)
        attrs = {"generated_by": self.kind, "seed": -1 if seed is None else int(seed),
                 "stream": int(stream), "start": int(start),
                 "model_provenance": self.metadata.get("provenance", {})}
        if traces.shape[-1] != self.n_samples:
            attrs["model_n_samples"] = self.n_samples
        rate = self.sampling_rate if sampling_rate is None else float(sampling_rate)
        if rate != self.sampling_rate:
            attrs["model_sampling_rate_hz"] = self.sampling_rate
        events = (self.event_conditions(n, seed=seed, stream=stream, start=start,
                                        condition=condition) if self.conditional else None)
        return TraceSet(traces, rate, self.channels, events, source=None, attrs=attrs)

    def add_noise(self, traces: np.ndarray | TraceSet, *, seed: int | None = None,
                  stream: int = 0, condition: Any = None) -> np.ndarray | TraceSet:
        """Return ``traces + noise`` for an array ``(..., n_channels, n_samples)`` or a TraceSet.

        A conditional model takes ``condition`` as in :meth:`sample` (one entry per
        event); for a TraceSet its ``events`` columns are used by default.

        Raises
        ------
        ConfigError
            If the channel count, trace length or (for a TraceSet) sampling rate or
            channel ids differ from the model's.
        """
        if isinstance(traces, TraceSet):
            if not np.isclose(traces.sampling_rate, self.sampling_rate, rtol=1e-9):
                raise ConfigError(f"sampling rate {traces.sampling_rate:g} Hz differs from the "
                                  f"model's {self.sampling_rate:g} Hz")
            if not np.array_equal(traces.channels, self.channels):
                raise ConfigError(f"channels {traces.channels.tolist()} differ from the model's "
                                  f"{self.channels.tolist()}")
            if condition is None and self.conditional:
                condition = traces.events
            noisy = self.add_noise(traces.traces, seed=seed, stream=stream, condition=condition)
            return TraceSet(noisy, traces.sampling_rate, traces.channels, traces.events,
                            traces.units, traces.source, dict(traces.attrs))
        arr = np.asarray(traces)
        if arr.ndim < 2 or arr.shape[-2:] != (self.n_channels, self.n_samples):
            raise ConfigError(f"traces of shape {arr.shape} do not end in (n_channels, "
                              f"n_samples) = ({self.n_channels}, {self.n_samples})")
        lead = arr.shape[:-2]
        n = int(np.prod(lead)) if lead else 1
        noise = self.sample(n, seed=seed, stream=stream, condition=condition).reshape(arr.shape)
        return (arr + noise).astype(np.result_type(arr.dtype, np.float32), copy=False)

    # -- internals ---------------------------------------------------------------------
    def _block_events(self) -> int:
        return block_events(self.device, self.n_channels, self.n_samples)

    def _blocks(self, n: int, seed: int | None, stream: int, start: int,
                shape: tuple[int, ResamplePlan | None] | None, condition: Any, *,
                generate: bool = True, on_unphysical: str = "warn",
                block_events: int | None = None) -> Iterator[tuple[int, int, Any, Any]]:
        """``(lo, hi, volts, conditions)`` for output events ``lo:hi`` (block by block)."""
        n, stream, start = args.check_count(n), args.check_index(stream, "stream"), \
            args.check_index(start, "start")
        if on_unphysical not in _ON_UNPHYSICAL:
            raise ConfigError(f"on_unphysical must be one of {_ON_UNPHYSICAL}, "
                              f"got {on_unphysical!r}")
        entropy = np.random.SeedSequence(args.check_seed(seed)).entropy  # once per call
        per_event = self.conditional and not args.broadcast(condition)
        encoded = (self.encode_conditions(condition, n, seed=entropy, stream=stream)
                   if per_event else None)
        if not self.conditional:
            self.encode_conditions(condition, n)  # refuses conditions for this model
        size = self._block_events() if block_events is None else args.check_count(block_events)
        plan = None if shape is None else plan_stitch(
            shape[0] if shape[1] is None else shape[1].n_in, self.n_samples)
        guard = (EnvelopeGuard(self.envelope, self.channels, self.device)
                 if self.envelope is not None and on_unphysical != "ignore" else None)

        def jobs() -> Iterator[tuple[int, int, int, int, Any]]:
            for block in range(start // size, (start + n - 1) // size + 1):
                first = block * size
                a, b = max(start, first) - first, min(start + n, first + size) - first
                if per_event:
                    rows = np.clip(np.arange(first, first + size) - start, 0, n - 1)
                    cond = args.take(encoded, rows)
                elif self.conditional:
                    rng = np.random.default_rng(_torch_seed(entropy, (stream, block, 1)))
                    cond = self.model.encode_conditions(condition, size, rng,
                                                        source=self.path or "condition")
                else:
                    cond = None
                yield block, first + a - start, a, b, cond

        if not generate:
            for _, lo, a, b, cond in jobs():
                yield lo, lo + b - a, None, cond and args.take(cond, np.arange(a, b))
            return

        def draw(job: tuple[int, int, int, int, Any]) -> tuple[Any, OutputNorms, np.ndarray]:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(_torch_seed(entropy, (stream, job[0])))
            with torch.inference_mode():
                normalized = self.model.saturate_(self._generate(size, gen, plan, job[4]).float())
                norms = output_norms(normalized, peak=guard is not None)
                part = to_host(self.model.to_volts_(normalized)[job[2]:job[3]]).numpy()
            if shape is not None and shape[1] is not None:
                part = resample_traces(part, shape[1])
            return job, norms, part

        # blocks are drawn ahead in worker threads (:attr:`workers`) and checked in order
        # here: the envelope check accumulates over blocks
        n_blocks = (start + n - 1) // size - start // size + 1
        for (_, lo, a, b, _), norms, part in ordered_map(draw, jobs(),
                                                         min(self.workers, n_blocks)):
            message = check_output(norms, self.model.norm_scale, guard, on_unphysical,
                                   self.path or "<model>")
            if message is not None and not self._warned:
                self._warned = True
                warnings.warn(message, PhysicalEnvelopeWarning, stacklevel=3)
            yield lo, lo + b - a, part, None

    def _resample_plan(self, n_out: int, sampling_rate: float | None) -> ResamplePlan | None:
        if sampling_rate is None:
            return None
        rate = float(sampling_rate)
        if not (np.isfinite(rate) and rate > 0):
            raise ConfigError(f"sampling rate must be positive and finite, got {sampling_rate}")
        if np.isclose(rate, self.sampling_rate, rtol=1e-12, atol=0.0):
            return None
        if rate < self.sampling_rate and rate not in self._band:
            warning = check_band(self._probe(), self.sampling_rate, rate,
                                 source=self.path or "model")
            if warning:
                warnings.warn(warning, PhysicalEnvelopeWarning, stacklevel=4)
            self._band[rate] = None
        return plan_resample(n_out, self.sampling_rate, rate)

    def _probe(self) -> np.ndarray:
        """64 events at the model's rate and length (for the band of the model)."""
        gen = torch.Generator(device=self.device).manual_seed(20240601)
        cond = self.encode_conditions(None, 64, seed=0) if self.conditional else None
        with torch.inference_mode():
            plan = plan_stitch(self.n_samples, self.n_samples)
            return to_host(self.model.to_volts_(self._generate(64, gen, plan, cond).float())
                           ).numpy()

    def _generate(self, size: int, gen: torch.Generator, plan: StitchPlan,
                  condition: EncodedConditions | None = None) -> torch.Tensor:
        """Normalised noise ``(size, C, plan.n_samples)``: one draw, a crop, or a stitch
        (every segment of a stitched trace has the event's conditions)."""
        def draw() -> torch.Tensor:
            with autocast(self.device, self.precision):
                if condition is None:
                    return self.model.generate(size, gen)
                return self.model.generate(size, gen, condition)

        if plan.n_samples == self.n_samples:
            return draw()
        if plan.n_samples < self.n_samples:
            return random_crop(draw(), plan.n_samples, gen)
        return stitch_draws((draw().float() for _ in range(plan.n_segments)), plan)
