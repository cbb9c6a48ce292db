"""Model files: tensors in safetensors, configuration and provenance as JSON metadata.

A model file is one self-contained ``.safetensors`` file. Its header metadata holds,
under the key ``rnognoise_model``, a JSON document with the model kind, its
configuration, the trace layout (channels, samples, sampling rate in Hz), units,
normalisation, training provenance and fidelity figures. Loading never unpickles
anything: a file from a stranger can at worst fail to load, with a clear error.
"""

from __future__ import annotations

import json
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
            raise ModelFileError(path, "not a safetensors model file (bad header length)")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(path, "not a safetensors model file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "not a safetensors model file (header is not a JSON object)")
    return header


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
    if _META_KEY not in meta:
        raise ModelFileError(path, "safetensors file without rnognoise model metadata "
                             "(not a model written by rnognoise)")
    try:
        doc = json.loads(meta[_META_KEY])
    except json.JSONDecodeError:
        raise ModelFileError(path, "model metadata is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ModelFileError(path, f"metadata does not declare format {FORMAT_NAME!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(path, f"model format version {doc.get('format_version')!r} is not "
                             f"supported (this rnognoise reads version {FORMAT_VERSION})")
    for key in ("kind", "config", "layout", "units"):
        if key not in doc:
            raise ModelFileError(path, f"model metadata lacks {key!r}")
    layout = doc["layout"]
    try:
        channels = tuple(int(c) for c in layout["channels"])
        n_samples = int(layout["n_samples"])
        rate = float(layout["sampling_rate"])
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(path, "model metadata has an invalid 'layout' "
                             "(channels, n_samples, sampling_rate)") from None
    if not channels or n_samples < 2 or not rate > 0 or len(set(channels)) != len(channels):
        raise ModelFileError(path, "model metadata has an invalid 'layout' "
                             "(channels, n_samples, sampling_rate)")
    if doc["units"] != "V":
        raise ModelFileError(path, f"model units {doc['units']!r} are not 'V'")
    return doc


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
    try:
        cls = get_model_class(doc["kind"])
        config = cls.make_config(doc["config"])
        layout = TraceLayout(tuple(int(c) for c in doc["layout"]["channels"]),
                             int(doc["layout"]["n_samples"]),
                             float(doc["layout"]["sampling_rate"]))
        model = cls(config, layout)
    except (RnognoiseError, TypeError, ValueError) as exc:
        raise ModelFileError(path, f"cannot rebuild the model ({exc})") from None
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(path, f"damaged or truncated tensor data ({text})") from None
    expected = model.export_state()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(path, f"tensors do not match a {doc['kind']!r} model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ModelFileError(path, f"tensor {key!r} has shape {tuple(value.shape)}, "
                                 f"expected {tuple(expected[key].shape)}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelFileError(path, f"tensor {key!r} holds NaN/inf")
    model.load_state_dict(tensors, strict=False)
    model.eval()
    return model.to(device), doc


