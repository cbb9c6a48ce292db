"""What machine a benchmark ran on: CPU model, cores, memory, load, library versions.

Every script in ``bench/`` prints :func:`machine_line` first (``sample_speed.py`` also
stores :func:`machine_info` in its JSON), so figures always travel with their machine.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "machine_info", "machine_line"]


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory (GiB), 1-minute load, Python and the numeric libraries' versions."""
    import numpy as np

    info: dict[str, Any] = {"cpu": cpu_model(), "cores": os.cpu_count()}
    try:
        info["memory_gib"] = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                                   / 2**30, 1)
        info["load_1min"] = round(os.getloadavg()[0], 2)
    except (OSError, ValueError, AttributeError):
        pass
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


def machine_line() -> str:
    """:func:`machine_info` as one printable line."""
    return "machine: " + ", ".join(f"{k}={v}" for k, v in machine_info().items())
