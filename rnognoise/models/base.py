"""The contract every noise model fulfils, and the registry of model kinds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .power_match import match_power_spectrum

__all__ = ["FitPart", "NoiseModel", "TraceLayout", "TrainingPlan", "detect_quantum",
           "get_model_class", "min_fit_events", "model_kinds", "register_model"]

_REGISTRY: dict[str, type[NoiseModel]] = {}

#: Saturation level that stands for "none" (the largest float32).
NO_SATURATION: float = float(np.finfo(np.float32).max)


def register_model(kind: str) -> Callable[[type[NoiseModel]], type[NoiseModel]]:
    """Class decorator adding a :class:`NoiseModel` subclass to the registry under ``kind``."""

    def decorate(cls: type[NoiseModel]) -> type[NoiseModel]:
        if kind in _REGISTRY:
            raise ValueError(f"model kind {kind!r} registered twice")
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return decorate


def model_kinds(*, include_wrappers: bool = False) -> list[str]:
    """Names of the registered model kinds a user can fit with ``--model``.

    Wrapper kinds (``conditional``, built from a base kind by ``--condition``) are listed
    only with ``include_wrappers=True``.
    """
    return sorted(k for k, cls in _REGISTRY.items() if include_wrappers or not cls.wrapper)


def get_model_class(kind: str) -> type[NoiseModel]:
    """The model class registered as ``kind``.

    Raises
    ------
    ConfigError
        Unknown kind; the message lists the valid names.
    """
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ConfigError(f"unknown model kind {kind!r} (valid: {', '.join(model_kinds())})"
                          ) from None


#: Fewest events a model is fitted from: the baseline needs a few events per
#: cross-spectral estimate; learned models enough to hold some out and to estimate the
#: per-event variation. A conditional model needs as many in each of its cells.
MIN_FIT_EVENTS = {"analytic": 8, "learned": 50}


def min_fit_events(kind: str) -> int:
    """The fewest (training) events a model of ``kind`` is fitted from."""
    return MIN_FIT_EVENTS["learned" if get_model_class(kind).learned else "analytic"]


def detect_quantum(traces: np.ndarray, *, max_values: int = 200_000) -> float:
    """The digitizer step of quantised traces in volts, or 0 for continuous data.

    Data are quantised when (nearly) every value is an integer multiple of the smallest
    positive difference between distinct values and that step is small against the RMS
    (at least 4 levels per RMS). Recorded ADC counts converted to volts, and the
    simulator's quantised output, are; generated float noise is not.

    Parameters
    ----------
    traces : numpy.ndarray
        Any array of samples (volts).
    max_values : int
        Values looked at (a strided subset of a larger array).
    """
    flat = np.asarray(traces, np.float64).reshape(-1)
    if flat.size == 0:
        return 0.0
    flat = flat[:: max(1, flat.size // max_values)]
    levels = np.unique(flat)
    if levels.size < 8:
        return 0.0
    steps = np.diff(levels)
    step = float(np.min(steps[steps > 0]))
    rms = float(np.std(flat))
    if not step > 0 or step > rms / 4:
        return 0.0
    units = flat / step
    if np.mean(np.abs(units - np.round(units)) < 1e-3) < 0.999:
        return 0.0
    return step


@dataclass(frozen=True)
class TraceLayout:
    """What a model produces: channels, samples per trace and the sampling rate.

    Parameters
    ----------
    channels : tuple of int
        Channel ids, in output order.
    n_samples : int
        Samples per trace.
    sampling_rate : float
        Hz.
    """

    channels: tuple[int, ...]
    n_samples: int
    sampling_rate: float

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channels)

    @property
    def n_frequencies(self) -> int:
        """Number of rfft bins."""
        return self.n_samples // 2 + 1

    @classmethod
    def of(cls, data: Any) -> TraceLayout:
        """The layout of a :class:`~rnognoise.io.TraceSet` (channels, length, rate)."""
        return cls(tuple(int(c) for c in data.channels), int(data.n_samples),
                   float(data.sampling_rate))


@dataclass
class TrainingPlan:
    """What the generic training loop needs from a learned model.

    ``step_fn(step, batch_fn)`` performs one optimisation step; ``batch_fn(step, k)``
    returns the k-th data batch of that step (a tensor on the model's device): rows of
    :meth:`prepare` of the normalised events. ``before_eval()``, if given, runs before
    each held-out evaluation (what it fits is in the candidate that keep-the-best may
    keep).

    ``event_rows``, if given, is what the step trains on instead of the events: a map of
    normalised events ``(n, C, T)`` to one row each ``(n, ...)``, event by event, fixed
    during the training (it depends on nothing the step changes; e.g. the VAE's
    per-event state, measured by the analytic parts). :meth:`prepare` applies it once to
    the training events held in memory, and to each batch of events read in a streamed
    fit; both give a step the same rows.
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    step_fn: Callable[[int, Callable[[int, int], torch.Tensor]], dict[str, float]]
    batches_per_step: int = 1
    before_eval: Callable[[], None] | None = None
    event_rows: Callable[[torch.Tensor], torch.Tensor] | None = None

    def prepare(self, events: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        """The rows the step trains on for normalised ``events`` ``(n, C, T)``
        (``events`` itself without :attr:`event_rows`), computed ``chunk`` events at a
        time."""
        if self.event_rows is None:
            return events
        with torch.no_grad():
            return torch.cat([self.event_rows(events[i:i + chunk])
                              for i in range(0, max(1, events.shape[0]), chunk)])


@dataclass
class FitPart:
    """One independently fitted part of a model, with its own training and held-out events.

    A plain model is one part (itself, ``label ""``); a model made of sub-models (e.g. one
    per station) has one part per sub-model. Fitting initialises each part's ``model``
    on ``train``, selects its components and trains it (learned kinds) without knowing
    what the part is.

    Attributes
    ----------
    label : str
        ``""`` for the whole model, else e.g. ``"station=11"`` (log lines, checkpoint
        sub-folder).
    model : NoiseModel
        What is initialised and trained.
    train, val : torch.Tensor
        Normalised training and held-out traces ``(n, C_part, T)`` of this part.
    share : float
        Fraction of a wall-clock training budget this part gets.
    info : dict
        Bookkeeping for the provenance (e.g. the cell and channel group).
    """

    label: str
    model: NoiseModel
    train: torch.Tensor
    val: torch.Tensor
    share: float = 1.0
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


class NoiseModel(nn.Module):
    """Base class: a generator of normalised noise plus the normalisation to volts.

    Subclasses set ``Config`` (a dataclass of hyper-parameters), implement
    :meth:`initialize` (analytic/moment fit on normalised training data) and
    :meth:`generate`; learned models also implement :meth:`training_plan`.
    Sub-modules named in ``training_only`` (e.g. a critic) are not stored in model files.

    Parameters
    ----------
    config : dataclass instance
        Hyper-parameters (``Config``).
    layout : TraceLayout
        Channels, trace length and sampling rate.
    """

    kind: ClassVar[str] = ""
    Config: ClassVar[type] = dict
    training_only: ClassVar[tuple[str, ...]] = ()
    #: Options that files written before an option existed had in effect (their
    #: configuration lacks it; the current default may differ).
    older_file_options: ClassVar[dict[str, Any]] = {}
    learned: ClassVar[bool] = False
    wrapper: ClassVar[bool] = False

    def __init__(self, config: Any, layout: TraceLayout) -> None:
        super().__init__()
        self.config = config
        self.layout = layout
        self.register_buffer("norm_offset", torch.zeros(layout.n_channels))
        self.register_buffer("norm_scale", torch.ones(layout.n_channels))
        self.register_buffer("quantum", torch.zeros(()))
        # no saturation: the largest float32 (model files hold finite numbers only)
        self.register_buffer("saturation_low", torch.full((layout.n_channels,), -NO_SATURATION))
        self.register_buffer("saturation_high", torch.full((layout.n_channels,), NO_SATURATION))

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def make_config(cls, options: dict[str, Any] | None = None) -> Any:
        """Build ``Config`` from a dict, rejecting unknown keys with a clear error."""
        options = dict(options or {})
        names = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ConfigError(f"unknown option(s) {unknown} for model {cls.kind!r} "
                              f"(valid: {sorted(names)})")
        return cls.Config(**options)

    def config_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-able dict."""
        return dataclasses.asdict(self.config)

    # -- normalisation -------------------------------------------------------------------
    def set_normalization(self, offset: np.ndarray, scale: np.ndarray) -> None:
        """Per-channel offset (V) and scale (V) so that ``(x - offset) / scale`` is normalised."""
        self.norm_offset.copy_(torch.as_tensor(offset, dtype=torch.float32))
        self.norm_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    #: Width, in frequency bins, of the bands in which :meth:`calibrate_power` matches
    #: the power spectrum (16 bins = 25 MHz for 2048 samples at 3.2 GHz).
    calibration_band_bins: int = 16
    #: Rounds of :meth:`calibrate_power`'s band-by-band match (each draws ``n_events``).
    calibration_rounds: int = 3
    #: Level of a band in :meth:`calibrate_power` (:func:`~rnognoise.models.power_match.
    #: match_power_spectrum`): the median over events of each event's band power.
    calibration_statistic: str = "band_median"

    def spectral_correction(self) -> torch.Tensor | None:
        """The per-channel, per-bin log-amplitude correction ``(C, F)`` of the model's
        Gaussian background, which :meth:`calibrate_power` adjusts; None for a model
        without one (it gets one factor per channel)."""
        return None

    def calibrate_power(self, data: torch.Tensor, n_events: int = 2000, *, seed: int = 0,
                        batch: int = 256) -> np.ndarray:
        """Put each channel's power spectrum and total power where the data have them.

        The last step of a learned fit: adversarial steps, the general parts' maps and
        the held-out choice of weights each move the power a little, in total and in
        shape. Through the :meth:`spectral_correction` of its background, the model's
        typical power (the median over events of each event's power in bands of
        :attr:`calibration_band_bins` bins, :attr:`calibration_statistic`), as its samples hold it
        (through the digitizer's rounding, which adds white noise of its own), is
        matched to the data's in :attr:`calibration_rounds` rounds, then each
        channel's mean power without DC in a last round
        (:func:`~rnognoise.models.power_match.match_power_spectrum`; at most a factor 2
        in amplitude per round). The DC bin (trace offsets, modelled on
        their own) is left as it is: a model that lacks the block offsets does not get
        their power as noise. A model without a spectral correction gets one factor per
        channel on :attr:`norm_scale` instead, matching the mean square.

        Parameters
        ----------
        data : torch.Tensor
            Normalised training traces ``(n, C, T)``.
        n_events : int
            Generated events the model's power is measured on (each round).
        seed : int
            Seed of those events.
        batch : int
            Events generated at a time.

        Returns
        -------
        numpy.ndarray
            Per channel, the ratio of the data's RMS to the model's (both without DC)
            before the calibration.
        """
        correction = self.spectral_correction()
        if correction is None:
            return self._calibrate_mean_square(data, n_events, seed=seed, batch=batch)
        first = match_power_spectrum(correction.data, data, self.generate, n_events=n_events,
                                     recorded=self._as_recorded if self.records_differently
                                     else None,
                                     rounds=self.calibration_rounds,
                                     statistic=self.calibration_statistic,
                                     band_bins=self.calibration_band_bins, total=True,
                                     max_step=math.log(2.0), seed=seed, batch=batch)
        return first.cpu().numpy()

    def _calibrate_mean_square(self, data: torch.Tensor, n_events: int, *, seed: int,
                               batch: int) -> np.ndarray:
        """One factor per channel on :attr:`norm_scale` so that the mean square of the
        model's output equals the data's (:meth:`calibrate_power` without a spectral
        correction); returns the factors."""
        gen = torch.Generator(device=self.norm_scale.device).manual_seed(seed)
        total = torch.zeros(data.shape[1], dtype=torch.float64, device=self.norm_scale.device)
        with torch.no_grad():
            for a in range(0, n_events, batch):
                x = self._as_recorded(self.generate(min(batch, n_events - a), gen))
                total += x.double().pow(2).sum((0, 2))
        model = total / (n_events * data.shape[2])
        target = data.double().pow(2).mean((0, 2)).to(model.device)
        factor = torch.sqrt(target / model.clamp_min(1e-30)).clamp(0.5, 2.0).float()
        self.norm_scale.mul_(factor)
        return factor.cpu().numpy()

    @property
    def records_differently(self) -> bool:
        """Whether :meth:`to_volts` does more than undo the normalisation (rounding to the
        digitizer's step, saturation)."""
        return float(self.quantum) > 0 or self.saturates

    def _as_recorded(self, normalized: torch.Tensor) -> torch.Tensor:
        """``normalized`` output as the model's samples hold it (:meth:`to_volts`), back
        in normalised units."""
        volts = self.to_volts(normalized)
        return (volts - self.norm_offset[:, None]) / self.norm_scale[:, None]

    def set_quantum(self, quantum: float) -> None:
        """Digitizer step in volts (0: continuous output); see :func:`detect_quantum`."""
        self.quantum.fill_(float(quantum))

    def set_saturation(self, low: np.ndarray, high: np.ndarray) -> None:
        """Per-channel saturation levels of the digitizer in volts (``-inf`` / ``+inf``:
        none); see :class:`~rnognoise.models.saturation.SaturationCounter`."""
        for buf, levels in ((self.saturation_low, low), (self.saturation_high, high)):
            levels = np.clip(np.asarray(levels, np.float64), -NO_SATURATION, NO_SATURATION)
            buf.copy_(torch.as_tensor(levels, dtype=torch.float32))

    @property
    def saturates(self) -> bool:
        """Whether any channel has a saturation level."""
        return bool((self.saturation_low > -NO_SATURATION).any()
                    or (self.saturation_high < NO_SATURATION).any())

    def saturate_(self, normalized: torch.Tensor) -> torch.Tensor:
        """Clamp normalised output in place to the saturation levels (what the digitizer
        could record); unchanged when no channel saturates."""
        if not self.saturates:
            return normalized
        low = (self.saturation_low - self.norm_offset) / self.norm_scale
        high = (self.saturation_high - self.norm_offset) / self.norm_scale
        return normalized.clamp_(low[:, None], high[:, None])

    def to_volts(self, normalized: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation: ``x * scale + offset`` per channel, then round to the
        digitizer step when the training data were quantised, and clamp to the
        digitizer's saturation levels where the training data reached them."""
        volts = normalized * self.norm_scale[:, None] + self.norm_offset[:, None]
        q = float(self.quantum)
        volts = torch.round(volts / q) * q if q > 0 else volts
        if self.saturates:
            volts = torch.clamp(volts, self.saturation_low[:, None], self.saturation_high[:, None])
        return volts

    def to_volts_(self, normalized: torch.Tensor) -> torch.Tensor:
        """:meth:`to_volts` in place (for freshly generated tensors, without autograd)."""
        volts = normalized.mul_(self.norm_scale[:, None]).add_(self.norm_offset[:, None])
        q = float(self.quantum)
        if q > 0:
            volts.div_(q).round_().mul_(q)
        if self.saturates:
            volts.clamp_(self.saturation_low[:, None], self.saturation_high[:, None])
        return volts

    # -- structured components (models without any keep the defaults) ----------------
    def components(self) -> list[str]:
        """Names of the enabled switchable components (empty: nothing to select)."""
        return []

    def set_components(self, enabled: list[str], data: torch.Tensor) -> None:
        """Enable exactly ``enabled`` and refit what depends on them from normalised
        training ``data``."""
        if enabled:
            raise ValueError(f"model {self.kind!r} has no switchable components")

    def inert_components(self) -> list[str]:
        """Enabled components whose fit found nothing to model (they change no event)."""
        return []

    def component_details(self) -> dict[str, Any]:
        """What the fit of each data-driven component found (for the provenance)."""
        return {}

    # -- conditions and parts (plain models keep the defaults) --------------------------
    @property
    def condition_names(self) -> list[str]:
        """Names of the event conditions the model takes (empty: unconditional)."""
        return []

    def encode_conditions(self, condition: Any, n: int, rng: np.random.Generator, *,
                          source: str = "condition") -> Any:
        """Conditions of ``n`` events in the form :meth:`generate` takes (conditional
        models only; see :attr:`condition_names`)."""
        raise ConfigError(f"{source}: model {self.kind!r} is not conditional; it takes no "
                          "conditions")

    def fit_parts(self, train: torch.Tensor, val: torch.Tensor,
                  train_events: Any = None, val_events: Any = None) -> list[FitPart]:
        """The parts fitting initialises and trains, with their events.

        Parameters
        ----------
        train, val : torch.Tensor
            Normalised training and held-out traces ``(n, C, T)``; a model made of parts
            may modify them in place.
        train_events, val_events : pandas.DataFrame, optional
            Per-event columns of the same events (conditional models need them).

        Returns
        -------
        list of FitPart
            Plain models: one part, the model itself with ``train`` and ``val``.
        """
        return [FitPart("", self, train, val)]

    def fit_summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Provenance entries from the per-part fit records (one per :meth:`fit_parts`
        entry, in order); a plain model's single record is stored as it is."""
        return dict(records[0]) if len(records) == 1 else {"parts": records}

    # -- what subclasses implement -----------------------------------------------------
    def initialize(self, data: torch.Tensor) -> None:
        """Fit what can be fitted analytically, from normalised data ``(n, C, T)``."""
        raise NotImplementedError

    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` events of normalised noise ``(n, C, T)`` with the given RNG."""
        raise NotImplementedError

    def training_plan(self, *, lr: float | None = None, batch_size: int = 64) -> TrainingPlan:
        """Modules, optimizers and the step function for learned models."""
        raise NotImplementedError(f"model {self.kind!r} is fitted analytically")

    # -- model files --------------------------------------------------------------------
    def export_state(self) -> dict[str, torch.Tensor]:
        """The tensors a model file stores (``training_only`` sub-modules excluded)."""
        skip = tuple(f"{name}." for name in self.training_only)
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip)}

