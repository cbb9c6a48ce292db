"""Joining a ``torchrun`` job: the process group, the rank's device and its
:class:`~rnognoise.core.loop.DistributedComm`.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR`` /
``MASTER_PORT``; :func:`join` reads them, creates the process group (``nccl`` on CUDA,
``gloo`` on the CPU) unless one exists, and quiets the logs of every rank but 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist

from ..errors import ConfigError
from ..logs import get_logger
from .device import resolve_device
from .loop import DistributedComm

__all__ = ["DistributedComm", "in_torchrun", "join", "joined"]


def in_torchrun() -> bool:
    """True when the process was started by ``torchrun`` (``WORLD_SIZE`` is set)."""
    return "WORLD_SIZE" in os.environ


def join(device: str = "auto", *, batch_size: int | None = None,
         ) -> tuple[torch.device, DistributedComm, bool]:
    """Join the ``torchrun`` process group.

    Parameters
    ----------
    device : str
        ``auto``, ``cpu`` or ``cuda`` (a CUDA rank uses ``cuda:LOCAL_RANK``).
    batch_size : int, optional
        A global batch that must divide evenly among the ranks.

    Returns
    -------
    device : torch.device
        The rank's device.
    comm : DistributedComm
        The collectives of the training loop.
    created : bool
        Whether the group was created here (and is to be destroyed by the caller).

    Raises
    ------
    ConfigError
        Not started by torchrun, or a batch that does not divide among the ranks.
    """
    if not in_torchrun() and not dist.is_initialized():
        raise ConfigError("distributed training needs the torchrun environment (RANK, "
                          "WORLD_SIZE, MASTER_ADDR, MASTER_PORT); start with torchrun")
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        created = True
    comm = DistributedComm(dev)
    if not comm.is_main:
        get_logger().setLevel(logging.WARNING)  # one rank reports
    if batch_size is not None and batch_size % comm.world_size:
        if created:
            dist.destroy_process_group()
        raise ConfigError(f"batch size {batch_size} is not divisible by the "
                          f"{comm.world_size} ranks")
    return dev, comm, created


@contextlib.contextmanager
def joined(device: str = "auto", *, batch_size: int | None = None,
           ) -> Iterator[tuple[torch.device, DistributedComm]]:
    """:func:`join` as a context: the group created here is destroyed on exit."""
    dev, comm, created = join(device, batch_size=batch_size)
    try:
        yield dev, comm
    finally:
        if created:
            dist.destroy_process_group()
