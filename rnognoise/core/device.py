"""Where tensors live and in which precision: device choice, autocast, host transfers.

- :func:`resolve_device` — ``"auto"``/``"cpu"``/``"cuda[:k]"`` to a :class:`torch.device`.
- :func:`autocast` — a context for mixed precision (``"fp32"``, ``"bf16"``, ``"fp16"``)
  on the device's type; ``"fp32"`` is a no-op.
- :func:`to_host` — a device tensor to a CPU tensor, through pinned (page-locked) memory
  on CUDA so that the copy is a direct DMA transfer.

Spectral code (FFTs, complex products) stays in float32 inside an autocast region by
wrapping itself in :func:`full_precision`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..errors import ConfigError

__all__ = ["PRECISIONS", "autocast", "full_precision", "resolve_device", "to_host"]

#: Precision names and their torch dtypes.
PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16,
                                      "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; otherwise ``torch.device(device)``.

    Raises
    ------
    ConfigError
        An unknown device name, or ``cuda`` without a CUDA GPU.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r} (use auto, cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available")
    return dev


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a :class:`ConfigError`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (valid: {', '.join(PRECISIONS)})")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "fp32") -> Iterator[None]:
    """Mixed precision on ``device`` (``torch.autocast``); ``"fp32"`` changes nothing.

    Parameters
    ----------
    device : torch.device
        Its type selects the autocast backend (``cpu`` or ``cuda``).
    precision : {"fp32", "bf16", "fp16"}
        Dtype of the operations autocast lowers (convolutions, matrix products).
    """
    check_precision(precision)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=PRECISIONS[precision]):
        yield


def full_precision(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """A region where autocast is off (spectral code: FFTs, complex arithmetic)."""
    return torch.autocast(device_type=device.type, enabled=False)


def to_host(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as a float32 CPU tensor; from CUDA through a pinned buffer.

    The copy into page-locked memory is asynchronous on the current CUDA stream and is
    waited for before returning, so the result is safe to read.
    """
    tensor = tensor.to(torch.float32)
    if tensor.device.type != "cuda":
        return tensor
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    torch.cuda.current_stream(tensor.device).synchronize()
    return host
