"""Model files: tensors in safetensors, configuration and provenance as JSON metadata.

A model file is one self-contained ``.safetensors`` file. Its header metadata holds,
under the key ``rnognoise_model``, a JSON document with the model kind, its
configuration, the trace layout (channels, samples, sampling rate in Hz), units,
normalisation, training provenance and fidelity figures. Loading never unpickles
anything: a file from a stranger can at worst fail to load, with a clear error.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import ModelFileError, RnognoiseError
from .fileutil import atomic_output
from .models import NoiseModel, TraceLayout, get_model_class

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "is_model_file", "load_model", "read_model_metadata",
           "save_model"]

FORMAT_NAME = "rnognoise-model"
FORMAT_VERSION = 1
_META_KEY = "rnognoise_model"
_MAX_HEADER = 100 * 1024 * 1024
#: Largest layout a model file may declare (a guard against absurd allocations).
MAX_CHANNELS = 4096
MAX_SAMPLES = 2**20
_SAFETENSORS_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
                       torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
                       torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
                       torch.bool: "BOOL"}


def _read_header(path: Path) -> dict[str, Any]:
    """Parse the safetensors JSON header without loading any tensor."""
    if not path.exists():
        raise ModelFileError(path, "no such file")
    if path.is_dir():
        raise ModelFileError(path, "is a directory, not a model file")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelFileError(path, f"too short to be a model file ({size} bytes)")
        (length,) = struct.unpack("<Q", head)
        if length > min(_MAX_HEADER, size - 8):
            raise ModelFileError(path, "not an rnognoise model file (no safetensors header: "
                                 "its length field is invalid)")
        raw = handle.read(length)
    if len(raw) < length:
        raise ModelFileError(path, "truncated model file (header cut short)")
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ModelFileError(path, "not an rnognoise model file (the safetensors header is "
                             "not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "not an rnognoise model file (the safetensors header is "
                             "not a JSON object)")
    return header


def _tensor_entries(path: Path, header: dict[str, Any]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (dtype, shape)}`` of the tensors the header declares, validated."""
    entries: dict[str, tuple[str, tuple[int, ...]]] = {}
    size = path.stat().st_size
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = entry["dtype"]
            shape = tuple(entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(path, f"damaged safetensors header (entry {name[:60]!r})"
                                 ) from None
        if not isinstance(dtype, str) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ModelFileError(path, f"damaged safetensors header (entry {name[:60]!r})")
        if not 0 <= begin <= end <= size:
            raise ModelFileError(path, f"tensor {name[:60]!r} lies beyond the end of the file "
                                 "(truncated model file)")
        entries[name] = (dtype, shape)
    return entries


def is_model_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a safetensors file carrying rnognoise model metadata."""
    try:
        header = _read_header(Path(path))
    except (RnognoiseError, OSError):
        return False
    meta = header.get("__metadata__") or {}
    return isinstance(meta, dict) and _META_KEY in meta


def read_model_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a model file, validated.

    Raises
    ------
    ModelFileError
        If the file is not an rnognoise model file or its metadata is incomplete.
    """
    path = Path(path)
    header = _read_header(path)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or _META_KEY not in meta:
        raise ModelFileError(path, "safetensors file without rnognoise model metadata "
                             "(not a model written by rnognoise)")
    if not isinstance(meta[_META_KEY], str):
        raise ModelFileError(path, "model metadata is not a JSON string")
    try:
        doc = json.loads(meta[_META_KEY])
    except (json.JSONDecodeError, RecursionError):
        raise ModelFileError(path, "model metadata is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ModelFileError(path, f"metadata does not declare format {FORMAT_NAME!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(path, f"model format version {doc.get('format_version')!r} is not "
                             f"supported (this rnognoise reads version {FORMAT_VERSION})")
    for key in ("kind", "config", "layout", "units"):
        if key not in doc:
            raise ModelFileError(path, f"model metadata lacks {key!r}")
    if not isinstance(doc["kind"], str):
        raise ModelFileError(path, f"model metadata 'kind' must be a string, got "
                             f"{type(doc['kind']).__name__}")
    if not isinstance(doc["config"], dict):
        raise ModelFileError(path, "model metadata 'config' must be a JSON object")
    _check_layout(path, doc["layout"])
    if doc["units"] != "V":
        raise ModelFileError(path, f"model units {doc['units']!r} are not 'V'")
    return doc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_layout(path: Path, layout: Any) -> None:
    """Channels (unique integer ids), samples and sampling rate (Hz) of the metadata."""
    bad = ("model metadata has an invalid 'layout' (channels: unique integer ids, at most "
           f"{MAX_CHANNELS}; n_samples: integer 2..{MAX_SAMPLES}; sampling_rate: positive "
           "finite Hz)")
    if not isinstance(layout, dict):
        raise ModelFileError(path, bad)
    channels = layout.get("channels")
    n_samples = layout.get("n_samples")
    rate = layout.get("sampling_rate")
    if (not isinstance(channels, list) or not channels or len(channels) > MAX_CHANNELS
            or not all(_is_int(c) for c in channels) or len(set(channels)) != len(channels)
            or not _is_int(n_samples) or not 2 <= n_samples <= MAX_SAMPLES
            or isinstance(rate, bool) or not isinstance(rate, (int, float))
            or not math.isfinite(rate) or rate <= 0):
        raise ModelFileError(path, bad)


def save_model(path: str | os.PathLike[str], model: NoiseModel, *,
               provenance: dict[str, Any] | None = None, force: bool = False) -> None:
    """Write ``model`` to one safetensors file (atomically; no overwrite without ``force``)."""
    layout = model.layout
    doc = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "config": model.config_dict(),
        "layout": {"channels": list(layout.channels), "n_samples": layout.n_samples,
                   "sampling_rate": layout.sampling_rate},
        "units": "V",
        "normalization": {"offset_volts": model.norm_offset.tolist(),
                          "scale_volts": model.norm_scale.tolist()},
        "provenance": provenance or {},
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.export_state().items()}
    with atomic_output(path, force=force) as tmp:
        save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(doc)})


def load_model(path: str | os.PathLike[str], *, device: str | torch.device = "cpu",
               ) -> tuple[NoiseModel, dict[str, Any]]:
    """Rebuild a model from its file alone; return ``(model, metadata)``.

    Raises
    ------
    ModelFileError
        Missing, truncated, foreign or inconsistent file (one line naming file and problem).
    """
    path = Path(path)
    doc = read_model_metadata(path)
    declared = _tensor_entries(path, _read_header(path))
    layout = TraceLayout(tuple(int(c) for c in doc["layout"]["channels"]),
                         int(doc["layout"]["n_samples"]), float(doc["layout"]["sampling_rate"]))
    try:
        cls = get_model_class(doc["kind"])
        config = cls.make_config({**cls.older_file_options, **doc["config"]})
        # Shapes first, on the meta device: a config asking for a huge network is refused
        # before any memory is allocated.
        with torch.device("meta"):
            skeleton = cls(config, layout)
    except (RnognoiseError, TypeError, ValueError, AttributeError, KeyError,
            NotImplementedError, RuntimeError) as exc:
        raise ModelFileError(path, f"cannot rebuild the model ({_first_line(exc)})") from None
    _match_declared(path, doc["kind"], declared, skeleton.export_state())
    del skeleton
    try:
        model = cls(config, layout)
    except (RnognoiseError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(path, f"cannot rebuild the model ({_first_line(exc)})") from None
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(path, f"damaged or truncated tensor data ({_first_line(exc)})"
                             ) from None
    expected = model.export_state()
    missing = _missing(expected, tensors)
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(path, f"tensors do not match a {doc['kind']!r} model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    tensors = {k: _grown(k, v, expected[k]) for k, v in tensors.items()}
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ModelFileError(path, f"tensor {key!r} has shape {tuple(value.shape)}, "
                                 f"expected {tuple(expected[key].shape)}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelFileError(path, f"tensor {key!r} holds NaN/inf")
    model.load_state_dict(tensors, strict=False)
    model.eval()
    _smoke_test(path, model)
    return model.to(device), doc


#: Tensors added to the models after files were first written, whose construction
#: defaults reproduce the earlier behaviour (no digitizer step or saturation, no trace
#: offsets, no envelope, components as configured): files without them still load.
ADDED_WITH_DEFAULTS = ("quantum", "saturation_*", "*.saturation_*", "*.component_on",
                       "*.blocks.log_sigma_event", "*.profile.*", "*.envelope.*",
                       "*.impulses.*", "*.general_on", "*.modes.*", "*.transients.*",
                       "*.pattern.*", "*.marginals.*", "*.transfer.*",
                       "*.lines.log_amp_quantiles", "*.lines.amp_table",
                       "*.lines.noise_power", "*.lines.envelope_*", "*.lines.level_*",
                       "*.sampler.encoder.*",
                       "*.sampler.encoder_fitted", "*.sampler.prior_*",
                       "*.sampler.scaled", "*.sampler.centre", "*.sampler.spread",
                       "*.sampler.low", "*.sampler.high", "*.sampler.posterior_*",
                       "*.sampler.extra_variance",
                       "line_offset",
                       "line_scale", "*sampler.innovation_spread",
                       "*sampler.innovation_tail")
#: Switch vectors that grew with the model: a file's shorter vector is padded with this
#: value (the general parts added later are inert until fitted, whatever their switch).
GROWN_WITH_DEFAULTS = {"*.general_on": 1.0}


def _grown_default(key: str) -> float | None:
    """The padding value of a switch vector that grew (:data:`GROWN_WITH_DEFAULTS`)."""
    return next((v for p, v in GROWN_WITH_DEFAULTS.items() if fnmatch.fnmatchcase(key, p)),
                None)


def _grown(key: str, value: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """``value`` padded to ``want``'s length when ``key`` is a grown switch vector and the
    file's is shorter; otherwise ``value`` unchanged."""
    pad = _grown_default(key)
    if pad is None or value.ndim != 1 or want.ndim != 1 or len(value) >= len(want):
        return value
    return torch.cat([value, torch.full((len(want) - len(value),), pad, dtype=value.dtype)])


def _missing(expected: Any, present: Any) -> list[str]:
    """Keys of ``expected`` absent from ``present`` that have no compatible default."""
    return sorted(k for k in set(expected) - set(present)
                  if not any(fnmatch.fnmatchcase(k, p) for p in ADDED_WITH_DEFAULTS))


def _match_declared(path: Path, kind: str, declared: dict[str, tuple[str, tuple[int, ...]]],
                    expected: dict[str, torch.Tensor]) -> None:
    """The header's tensors must be exactly the model's, with the same shapes and dtypes."""
    missing = _missing(expected, declared)
    unexpected = sorted(set(declared) - set(expected))
    if missing or unexpected:
        raise ModelFileError(path, f"tensors do not match a {kind!r} model "
                             f"(missing {missing[:3]}, unexpected {[u[:40] for u in unexpected[:3]]}"
                             "; a file of an older design of this kind must be refitted)")
    for key, (dtype, shape) in declared.items():
        want = expected[key]
        if _grown_default(key) is not None and len(shape) == want.ndim == 1 \
                and shape[0] < want.shape[0]:
            shape = tuple(want.shape)
        if shape != tuple(want.shape):
            raise ModelFileError(path, f"tensor {key!r} has shape {shape}, "
                                 f"expected {tuple(want.shape)}")
        want_dtype = _SAFETENSORS_DTYPES.get(want.dtype)
        if want_dtype is not None and dtype != want_dtype:
            raise ModelFileError(path, f"tensor {key!r} has dtype {dtype}, expected {want_dtype}")


def _smoke_test(path: Path, model: NoiseModel) -> None:
    """Draw one event: a model whose output is NaN/inf (or fails) is refused at load time."""
    try:
        with torch.inference_mode():
            out = model.to_volts(model.generate(1, torch.Generator().manual_seed(0)))
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ModelFileError(path, f"the model cannot generate noise ({_first_line(exc)})"
                             ) from None
    if not bool(torch.isfinite(out).all()):
        raise ModelFileError(path, "the model generates NaN/inf samples (unusable weights)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


