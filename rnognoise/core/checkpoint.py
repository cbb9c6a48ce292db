"""Training state in safetensors (tensors) + JSON (everything else); never pickle.

A checkpoint holds named modules' ``state_dict`` tensors, named optimizers' state
(tensors flattened into the safetensors table, hyper-parameters into JSON) and a JSON
``extra`` dict (step, RNG states, losses, configuration). Files are written atomically.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import DataFileError
from ..fileutil import atomic_output

__all__ = ["load_state", "read_metadata", "save_state"]

_META_KEY = "rnognoise"


def _flatten_optimizer(name: str, optimizer: torch.optim.Optimizer,
                       tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{name}.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return {"param_groups": state["param_groups"], "scalars": scalars}


def save_state(path: str | os.PathLike[str], *, modules: dict[str, torch.nn.Module],
               optimizers: dict[str, torch.optim.Optimizer] | None = None,
               extra: dict[str, Any] | None = None, force: bool = True) -> None:
    """Save modules, optimizers and a JSON-able ``extra`` dict to one safetensors file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (written to a temporary name, then renamed).
    modules : dict of str to torch.nn.Module
        Modules whose ``state_dict`` tensors are stored as ``"{name}.{key}"``.
    optimizers : dict of str to torch.optim.Optimizer, optional
        Optimizers whose state is stored (tensors + JSON hyper-parameters).
    extra : dict, optional
        JSON-serialisable metadata.
    force : bool
        Replace an existing file (checkpoints are replaced by design).
    """
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
    optim_meta = {name: _flatten_optimizer(name, opt, tensors)
                  for name, opt in (optimizers or {}).items()}
    meta = {"modules": sorted(modules), "optimizers": optim_meta, "extra": extra or {}}
    with atomic_output(path, force=force) as tmp:
        save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(meta)})


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a safetensors file written by :func:`save_state`.

    Raises
    ------
    DataFileError
        If the file is not a safetensors file or has no rnognoise metadata.
    """
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DataFileError(path, f"not a readable safetensors file ({_first_line(exc)})") from None
    if _META_KEY not in meta:
        raise DataFileError(path, "safetensors file without rnognoise metadata")
    try:
        return json.loads(meta[_META_KEY])
    except json.JSONDecodeError:
        raise DataFileError(path, "rnognoise metadata is not valid JSON") from None


def load_state(path: str | os.PathLike[str], *, modules: dict[str, torch.nn.Module],
               optimizers: dict[str, torch.optim.Optimizer] | None = None,
               map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load what :func:`save_state` wrote into existing modules/optimizers; return ``extra``.

    Raises
    ------
    DataFileError
        If the file is damaged or does not match the modules (missing/unexpected/misshapen).
    """
    meta = read_metadata(path)
    try:
        tensors = load_file(os.fspath(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DataFileError(path, f"cannot load tensors ({_first_line(exc)})") from None
    for name, module in modules.items():
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataFileError(path, f"weights do not fit module {name!r} "
                                f"({_first_line(exc)})") from None
    for name, optimizer in (optimizers or {}).items():
        if name not in meta["optimizers"]:
            raise DataFileError(path, f"no state for optimizer {name!r}")
        info = meta["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"optim.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix):].split(".", 1)
                state.setdefault(int(index), {})[field] = value
        for index, scalars in info["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    return meta["extra"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
