"""Sampling speed: ``NoiseGenerator.sample`` events/s per model kind vs NuRadioMC and the RNG floor.

One event is 4 channels x 2048 samples (the simulator's default layout, 3.2 GHz). Every
model kind is initialised on simulated data (its analytic / moment initialisation, no
training steps: sampling speed does not depend on training), then sampled on the CPU. In the same run:

- NuRadioMC's ``channelGenericNoiseAdder.bandlimited_noise`` (type ``rayleigh``,
  80-700 MHz), one call per trace, 4 traces per event; imported here when installed
  (``pip install rnognoise[nuradio]``) or run with another interpreter
  (``--nuradio-python /path/to/python``) through a small timing snippet;
- the floors: ``numpy.random.default_rng().standard_normal((n, 4, 2048), dtype=float32)``
  and ``torch.randn(n, 4, 2048)`` (the "x randn" column: events/s over torch.randn's,
  i.e. the time-equivalent of drawing the same number of standard normals).

Usage::

    python bench/sample_speed.py [--events 8192] [--repeats 3] [--quick]
                                 [--nuradio-python /tmp/nrvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from hostinfo import machine_info, machine_line

N_CH, N_SAMPLES, RATE = 4, 2048, 3.2e9

NURADIO_SNIPPET = r"""
import json, sys, time
from NuRadioReco.modules.channelGenericNoiseAdder import channelGenericNoiseAdder
from NuRadioReco.utilities import units
n_traces, repeats = int(sys.argv[1]), int(sys.argv[2])
adder = channelGenericNoiseAdder()
adder.begin(seed=1)
def run(n):
    for _ in range(n):
        adder.bandlimited_noise(80 * units.MHz, 700 * units.MHz, 2048, 3.2 * units.GHz,
                                10 * units.mV, type="rayleigh")
run(min(n_traces, 200))
best = min(_timed for _timed in (
    (lambda t0: (run(n_traces), time.perf_counter() - t0)[1])(time.perf_counter())
    for _ in range(repeats)))
import NuRadioReco
print(json.dumps({"traces_per_s": n_traces / best,
                  "version": getattr(NuRadioReco, "__version__", "?")}))
"""


def best_time(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def nuradio_rate(n_traces: int, repeats: int, python: str | None) -> tuple[float | None, str]:
    """NuRadioMC traces/s, in this interpreter or ``python``; (None, reason) if absent."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(NURADIO_SNIPPET)
        path = fh.name
    try:
        exe = python or sys.executable
        proc = subprocess.run([exe, path, str(n_traces), str(repeats)], capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            if "ModuleNotFoundError" in proc.stderr:
                return None, "not installed (pip install rnognoise[nuradio])"
            return None, "failed: " + proc.stderr.strip().splitlines()[-1]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return float(result["traces_per_s"]), f"NuRadioMC {result['version']} ({exe})"
    finally:
        os.unlink(path)


def fitted_generators(quick: bool) -> dict[str, object]:
    """A ``NoiseGenerator`` per model kind, initialised on simulated data.

    Every kind gets its analytic / moment initialisation (``model.initialize``) and no
    adversarial or variational steps: sampling speed does not depend on training.
    """
    from rnognoise.generator import NoiseGenerator
    from rnognoise.models import TraceLayout, get_model_class, model_kinds
    from rnognoise.simulate import simulate_noise

    data = simulate_noise(128 if quick else 512, seed=0)
    x = data.traces.astype(np.float64)
    offset, scale = x.mean(axis=(0, 2)), x.std(axis=(0, 2))
    normalized = torch.as_tensor((x - offset[:, None]) / scale[:, None], dtype=torch.float32)
    layout = TraceLayout(tuple(int(c) for c in data.channels), data.n_samples,
                         data.sampling_rate)
    gens = {}
    for kind in model_kinds():
        cls = get_model_class(kind)
        torch.manual_seed(0)
        model = cls(cls.make_config(), layout)
        model.set_normalization(offset, scale)
        with torch.no_grad():
            model.initialize(normalized)
        gens[kind] = NoiseGenerator(model, {}, torch.device("cpu"))
    return gens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1024 events, 1 repeat")
    parser.add_argument("--nuradio-python", help="interpreter with NuRadioMC installed")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    n, repeats = (1024, 1) if args.quick else (args.events, args.repeats)
    info = machine_info()
    print(machine_line())
    print(f"events: {n} x {N_CH} channels x {N_SAMPLES} samples, repeats {repeats} (best)")
    rates: dict[str, float] = {}
    floor_t = best_time(lambda: np.random.default_rng(0).standard_normal(
        (n, N_CH, N_SAMPLES), dtype=np.float32), repeats)
    rates["rng floor (numpy float32)"] = n / floor_t
    randn_t = best_time(lambda: torch.randn(n, N_CH, N_SAMPLES), repeats)
    rates["torch.randn float32"] = n / randn_t
    nr, nr_note = nuradio_rate(min(n * N_CH, 8192), repeats, args.nuradio_python)
    if nr is not None:
        rates["NuRadioMC bandlimited_noise"] = nr / N_CH
    for kind, gen in fitted_generators(args.quick).items():
        t = best_time(lambda g=gen: g.sample(n, seed=0), repeats)
        rates[f"rnognoise {kind}"] = n / t
    floor = rates["rng floor (numpy float32)"]
    randn = rates["torch.randn float32"]
    print(f"NuRadioMC: {nr_note}")
    print(f"{'generator':34s} {'events/s':>10s} {'x NuRadioMC':>12s} {'floor/x':>8s} "
          f"{'x randn':>8s}")
    for name, rate in rates.items():
        vs_nr = f"{rate / (nr / N_CH):12.2f}" if nr else f"{'n/a':>12s}"
        print(f"{name:34s} {rate:10.0f} {vs_nr} {floor / rate:8.2f} {rate / randn:8.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "events": n, "rates": rates, "nuradio": nr_note}, fh,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
