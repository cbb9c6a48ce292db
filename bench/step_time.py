"""Seconds (wall and CPU) per wgan-gp generator step of the rnognoise found first on the path.

Run it from two source trees (``PYTHONPATH=TREE``) alternately to compare code versions in
one shell loop under the same machine load; the CPU time per step is the figure least
affected by other jobs. Prints one JSON line.

Usage::

    python bench/step_time.py THREADS [OPTIONS_JSON] [STEPS]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

import rnognoise
from rnognoise.simulate import simulate_noise
from rnognoise.train import prepare_model


def main(argv: list[str]) -> None:
    torch.set_num_threads(int(argv[0]))
    opts = json.loads(argv[1]) if len(argv) > 1 else {}
    n = int(argv[2]) if len(argv) > 2 else 5
    ts = simulate_noise(256, seed=0)
    raw = ts.traces
    norm = (raw - raw.mean(axis=(0, 2), keepdims=True)) / raw.std(axis=(0, 2), keepdims=True)
    data = torch.from_numpy(np.ascontiguousarray(norm, dtype=np.float32))

    def batch_fn(step: int, k: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(step * 131 + k)
        return data[torch.randint(0, data.shape[0], (64,), generator=gen)]

    torch.manual_seed(0)
    model = prepare_model(ts, "wgan-gp", opts)
    with torch.no_grad():
        model.initialize(data)
    plan = model.training_plan(batch_size=64)
    plan.step_fn(0, batch_fn)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        plan.step_fn(i, batch_fn)
    print(json.dumps({"tree": rnognoise.__file__.split("/rnognoise/")[0],
                      "threads": torch.get_num_threads(), "opts": opts,
                      "s_per_step": (time.perf_counter() - t0) / n,
                      "cpu_s_per_step": (time.process_time() - c0) / n,
                      "load": open("/proc/loadavg").read().split()[0]}))


if __name__ == "__main__":
    main(sys.argv[1:])
