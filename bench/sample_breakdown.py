"""Where the sampling time of the structured generator goes: CPU time per component.

Wraps the methods that :meth:`PhysicsGenerator.sample
<rnognoise.models.structured.PhysicsGenerator.sample>` and ``NoiseGenerator.sample`` call
with a CPU-time counter, samples ``--events`` events ``--repeats`` times (model of
``bench/sample_speed.py``: simulated data, moment initialisation) and prints, per call of
``sample``, the least CPU time of each part next to that of ``torch.randn`` of the same
size. Run it with one thread (``OMP_NUM_THREADS=1``): the parts are timed in the calling
thread.

Usage::

    OMP_NUM_THREADS=1 python bench/sample_breakdown.py [--kind wgan-gp] [--events 1024]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import time
from typing import Any

import numpy as np
import torch
from hostinfo import machine_line
from sample_speed import N_CH, N_SAMPLES, fitted_generators

#: (object path from the NoiseGenerator, method, label), in the order they run.
PARTS = [
    ("model.generator.background", "normals", "normal numbers (torch.randn)"),
    ("model.generator.background", "gains", "event gains"),
    ("model.generator.envelope", "draw", "envelope draw"),
    ("model.generator.envelope", "window_amplitudes", "envelope window amplitudes"),
    ("model.generator.background", "mix", "mixing + envelope spectral gain"),
    ("model.generator.impulses", "draw_traces", "impulses"),
    ("module:rnognoise.models.structured", "irfft", "inverse FFT"),
    ("model.generator.lines", "draw_traces", "lines"),
    ("model.generator.blocks", "draw", "block offsets (draw)"),
    ("model.generator", "_scale_and_offset", "time envelope x trace + offsets"),
    ("model.generator", "sample", "model total"),
    ("module:rnognoise.generator", "check_output", "NaN / envelope check"),
    ("model", "to_volts_", "to volts"),
    ("", "sample", "NoiseGenerator.sample total"),
]


def _wrap(owner: Any, name: str, label: str, acc: dict[str, float]) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        c0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] = acc.get(label, 0.0) + time.process_time() - c0

    setattr(owner, name, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", default="wgan-gp")
    parser.add_argument("--events", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    print(machine_line())
    gen = fitted_generators(True, [args.kind])[args.kind]
    acc: dict[str, float] = {}
    for path, name, label in PARTS:
        if path.startswith("module:"):
            owner: Any = importlib.import_module(path.removeprefix("module:"))
        else:
            owner = gen
            for attr in filter(None, path.split(".")):
                owner = getattr(owner, attr)
        _wrap(owner, name, label, acc)
    best: dict[str, float] = {}
    randn = np.inf
    gen.sample(args.events, seed=0)
    for _ in range(args.repeats):
        acc.clear()
        gen.sample(args.events, seed=0)
        for k, v in acc.items():
            best[k] = min(best.get(k, np.inf), v)
        c0 = time.process_time()
        torch.randn(args.events, N_CH, N_SAMPLES)
        randn = min(randn, time.process_time() - c0)
    print(f"{args.kind}, {args.events} events x {N_CH} x {N_SAMPLES}, least CPU time of "
          f"{args.repeats} calls, torch threads {torch.get_num_threads()}")
    print(f"{'torch.randn of the same size':36s} {randn * 1e3:8.1f} ms")
    for _, _, label in PARTS:
        if label in best:
            print(f"{label:36s} {best[label] * 1e3:8.1f} ms  {best[label] / randn:5.2f} x randn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
