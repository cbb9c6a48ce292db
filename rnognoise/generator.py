"""``NoiseGenerator``: fresh, seeded noise in volts from a model file, for simulation code.

Any trace length and sampling rate: see :mod:`rnognoise.stitching` for the methods.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, NonFiniteOutputError
from .io import TraceSet
from .modelfile import load_model
from .models.conditional import ConditionalModel, EncodedConditions
from .stitching import ResamplePlan, StitchPlan, plan_resample, plan_stitch, random_crop
from .stitching import resample as resample_traces
from .stitching import stitch as stitch_draws

__all__ = ["NoiseGenerator", "resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r} (use auto, cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available")
    return dev


def _batch_seed(seed_sequence: np.random.SeedSequence, index: int) -> int:
    child = np.random.SeedSequence(entropy=seed_sequence.entropy,
                                   spawn_key=(*seed_sequence.spawn_key, index))
    return int(child.generate_state(1, dtype=np.uint64)[0] & 0x7FFF_FFFF_FFFF_FFFF)


class NoiseGenerator:
    """Draw detector noise from a trained model.

    Parameters
    ----------
    model : rnognoise.models.NoiseModel
        A fitted model.
    metadata : dict
        The model file's metadata.
    device : torch.device
        Where sampling runs.

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
    >>> sim = gen.sample(10, n_samples=4096, sampling_rate=2.4e9, seed=1)  # doctest: +SKIP
    """

    def __init__(self, model: Any, metadata: dict[str, Any], device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.metadata = metadata
        self.path: str | None = None
        self.device = device
        self.sampling_rate = float(model.layout.sampling_rate)
        self.channels = np.asarray(model.layout.channels, dtype=np.int64)
        self.n_samples = int(model.layout.n_samples)
        self.units = "V"
        self.kind = model.kind
        self.conditional = isinstance(model, ConditionalModel)

    @property
    def condition_names(self) -> list[str]:
        """Conditions the model takes (``station``, ``lst``, ...); empty if unconditional."""
        return self.model.condition_names if self.conditional else []

    def encode_conditions(self, condition: Any, n: int, *, seed: int | None = None,
                          ) -> EncodedConditions | None:
        """Check and encode conditions for ``n`` events (see :meth:`sample`).

        Returns None for an unconditional model given no conditions.

        Raises
        ------
        ConfigError
            Conditions given to an unconditional model, unknown names, values not seen
            in training.
        """
        if isinstance(condition, EncodedConditions):
            if len(condition.cell) != n:
                raise ConfigError(f"{len(condition.cell)} encoded conditions for {n} events")
            return condition
        if not self.conditional:
            if condition is not None:
                raise ConfigError(f"{self.path or 'model'}: the model is not conditional; "
                                  "it takes no conditions")
            return None
        rng = np.random.default_rng(_batch_seed(np.random.SeedSequence(seed), 2**32))
        return self.model.encode(condition, n, rng, source=self.path or "condition")

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto") -> NoiseGenerator:
        """Load a model file (safetensors + JSON metadata; nothing is unpickled).

        Raises
        ------
        ModelFileError
            Missing, damaged or foreign file.
        """
        dev = resolve_device(device)
        model, metadata = load_model(path, device=dev)
        generator = cls(model, metadata, dev)
        generator.path = os.fspath(path)
        return generator

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.channels.size)

    def iter_samples(self, n: int, *, seed: int | None = None, batch_size: int = 1024,
                     n_samples: int | None = None, sampling_rate: float | None = None,
                     condition: Any = None) -> Iterator[np.ndarray]:
        """Yield ``n`` events in batches of ``batch_size`` (bounded memory), float32 volts.

        The output is a function of ``(seed, batch_size, device, n_samples,
        sampling_rate)``: the same arguments give the same noise. Arguments as in
        :meth:`sample`.
        """
        n = _check_count(n)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        n_out = self.n_samples if n_samples is None else _check_length(n_samples)
        resampling = self._resample_plan(n_out, sampling_rate)
        n_model = n_out if resampling is None else resampling.n_in
        stitching = plan_stitch(n_model, self.n_samples)
        seeds = np.random.SeedSequence(seed)
        encoded = self.encode_conditions(condition, n, seed=seed)
        gen = torch.Generator(device=self.device)
        with torch.inference_mode():
            for index, lo in enumerate(range(0, n, batch_size)):
                size = min(batch_size, n - lo)
                gen.manual_seed(_batch_seed(seeds, index))
                part = None if encoded is None else encoded.slice(lo, lo + size)
                volts = self.model.to_volts_(self._generate(size, gen, stitching, part))
                out = volts.to(torch.float32).cpu().numpy()
                if not np.isfinite(out).all():
                    raise NonFiniteOutputError(self.path or "<model>",
                                               "the model produced NaN/inf samples; "
                                               "the model file is unusable")
                yield out if resampling is None else resample_traces(out, resampling)

    def _resample_plan(self, n_out: int, sampling_rate: float | None) -> ResamplePlan | None:
        if sampling_rate is None:
            return None
        rate = float(sampling_rate)
        if not (np.isfinite(rate) and rate > 0):
            raise ConfigError(f"sampling rate must be positive and finite, got {sampling_rate}")
        if np.isclose(rate, self.sampling_rate, rtol=1e-12, atol=0.0):
            return None
        return plan_resample(n_out, self.sampling_rate, rate)

    def _generate(self, size: int, gen: torch.Generator, plan: StitchPlan,
                  condition: EncodedConditions | None = None) -> torch.Tensor:
        """Normalised noise ``(size, C, plan.n_samples)``: one draw, a crop, or a stitch
        (every segment of a stitched trace has the event's conditions)."""
        def draw() -> torch.Tensor:
            if condition is None:
                return self.model.generate(size, gen)
            return self.model.generate(size, gen, condition)

        if plan.n_samples == self.n_samples:
            return draw()
        if plan.n_samples < self.n_samples:
            return random_crop(draw(), plan.n_samples, gen)
        return stitch_draws((draw() for _ in range(plan.n_segments)), plan)

    def sample(self, n: int, *, seed: int | None = None, batch_size: int = 1024,
               n_samples: int | None = None, sampling_rate: float | None = None,
               condition: Any = None) -> np.ndarray:
        """Draw ``n`` events of noise.

        Parameters
        ----------
        n : int
            Number of events (>= 1).
        seed : int, optional
            Seed; ``None`` draws fresh entropy.
        batch_size : int
            Events generated at once.
        n_samples : int, optional
            Samples per trace (default: the model's :attr:`n_samples`). Longer traces
            are stitched from independent draws with power-complementary cross-fades,
            shorter ones are random windows of one draw
            (:mod:`rnognoise.stitching`).
        sampling_rate : float, Hz, optional
            Output sampling rate (default: the model's :attr:`sampling_rate`). Other
            rates are reached by band-limited resampling of noise generated at the
            model's rate; power above the lower Nyquist frequency is removed.
        condition : dict or pandas.DataFrame, optional
            Conditional models only (:attr:`condition_names`): a dict of one value or
            ``n`` values per condition (``{"station": 12, "lst": 6.5}``; ``lst`` in
            hours, or ``readout_time`` in unix s from which it is computed), or a
            DataFrame with ``n`` rows (e.g. a TraceSet's ``events``). Conditions left
            out are drawn from the training events with the given values; ``None``
            draws all, reproducing the training mixture. Values not seen in training
            raise :class:`~rnognoise.errors.ConfigError`.

        Returns
        -------
        numpy.ndarray
            float32 ``(n, n_channels, n_samples)`` in volts.

        Examples
        --------
        >>> gen.sample(10, n_samples=5000, sampling_rate=2.4e9, seed=1)  # doctest: +SKIP
        """
        n = _check_count(n)
        n_out = self.n_samples if n_samples is None else _check_length(n_samples)
        out = np.empty((n, self.n_channels, n_out), dtype=np.float32)
        lo = 0
        for batch in self.iter_samples(n, seed=seed, batch_size=batch_size, n_samples=n_out,
                                       sampling_rate=sampling_rate, condition=condition):
            out[lo:lo + len(batch)] = batch
            lo += len(batch)
        return out

    def sample_traceset(self, n: int, *, seed: int | None = None, batch_size: int = 1024,
                        n_samples: int | None = None, sampling_rate: float | None = None,
                        condition: Any = None) -> TraceSet:
        """Like :meth:`sample`, wrapped in a :class:`~rnognoise.io.TraceSet` with provenance;
        for a conditional model its ``events`` hold the conditions of every event."""
        n = _check_count(n)
        encoded = self.encode_conditions(condition, n, seed=seed)
        traces = self.sample(n, seed=seed, batch_size=batch_size, n_samples=n_samples,
                             sampling_rate=sampling_rate, condition=encoded)
        attrs = {"generated_by": self.kind, "seed": -1 if seed is None else int(seed),
                 "model_provenance": self.metadata.get("provenance", {})}
        if traces.shape[-1] != self.n_samples:
            attrs["model_n_samples"] = self.n_samples
        rate = self.sampling_rate if sampling_rate is None else float(sampling_rate)
        if rate != self.sampling_rate:
            attrs["model_sampling_rate_hz"] = self.sampling_rate
        events = encoded.frame if encoded is not None else None
        return TraceSet(traces, rate, self.channels, events, source=None, attrs=attrs)

    def add_noise(self, traces: np.ndarray | TraceSet, *, seed: int | None = None,
                  condition: Any = None) -> np.ndarray | TraceSet:
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
            noisy = self.add_noise(traces.traces, seed=seed, condition=condition)
            return TraceSet(noisy, traces.sampling_rate, traces.channels, traces.events,
                            traces.units, traces.source, dict(traces.attrs))
        arr = np.asarray(traces)
        if arr.ndim < 2 or arr.shape[-2:] != (self.n_channels, self.n_samples):
            raise ConfigError(f"traces of shape {arr.shape} do not end in (n_channels, "
                              f"n_samples) = ({self.n_channels}, {self.n_samples})")
        lead = arr.shape[:-2]
        n = int(np.prod(lead)) if lead else 1
        noise = self.sample(n, seed=seed, condition=condition).reshape(arr.shape)
        return (arr + noise).astype(np.result_type(arr.dtype, np.float32), copy=False)


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"number of events must be an integer, got {n!r}")
    if n < 1:
        raise ConfigError(f"number of events must be >= 1, got {n}")
    return int(n)


def _check_length(n_samples: int) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ConfigError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 1:
        raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
    return int(n_samples)
