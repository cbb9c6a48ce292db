"""Work on independent pieces in parallel threads, results in order.

Sampling generates events in independently seeded blocks (:mod:`rnognoise.generator`):
a block's noise depends on its seed alone, so blocks can be generated at once in
several threads (torch and scipy release the GIL in their kernels) without changing a
single number. This matters on the CPU because ``torch.randn``, about 40 % of the time
of sampling, runs on one thread whatever ``torch.get_num_threads()`` says.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

__all__ = ["available_cores", "default_workers", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(device: torch.device) -> int:
    """Threads for block-parallel work on ``device``: on the CPU, torch's intra-op thread
    count (``OMP_NUM_THREADS``, ``torch.set_num_threads``) bounded by the cores this
    process may use; one on an accelerator (its kernels are asynchronous already)."""
    if device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), available_cores()))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` computed by ``workers`` threads, yielded in the order of ``items``.

    At most ``workers`` results are computed ahead of the one being consumed, so memory
    stays bounded by ``workers + 1`` results. With ``workers <= 1`` it is plain ``map``
    in the calling thread. An exception in ``fn`` is raised when its result is reached;
    the work not yet started is cancelled.

    Each worker runs torch on one intra-op thread (``workers`` threads with several
    OpenMP threads each would oversubscribe the cores: 0.75x against 0.93x
    ``torch.randn`` per second when sampling on 2 cores); the calling thread keeps its
    own setting.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    caller_threads = torch.get_num_threads()
    source = iter(items)
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnognoise",
                            initializer=torch.set_num_threads, initargs=(1,)) as pool:
        try:
            for item in source:
                pending.append(pool.submit(fn, item))
                if len(pending) >= workers:
                    break
            while pending:
                result = pending.popleft().result()
                for item in source:
                    pending.append(pool.submit(fn, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()
            # torch.set_num_threads in a worker also sets the default of threads started
            # later; the caller's value is put back
            torch.set_num_threads(caller_threads)
