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
  i.e. the time-equivalent of drawing the same number of standard normals; both run on
  one thread whatever the thread count).

With more than one torch thread, ``NoiseGenerator`` draws its blocks of events in that
many worker threads (its ``workers``, :mod:`rnognoise.threads`); each kind is then also
timed with one worker (``, 1 worker``: the blocks one after the other, each with the
intra-op threads), for the ratio in the same run.

The floors and the generators are timed in ``--repeats`` interleaved rounds (best of
each), so that a change of the machine's load hits them alike; "cpu x randn" is the
same ratio in CPU time of the process (all threads), which a loaded machine disturbs
less than wall time. ``--before DIR`` also times the generators of another source tree
(a checkout of an older version: ``DIR/rnognoise``) in a subprocess after each round of
this one, for before/after ratios taken in the same run.

Usage::

    python bench/sample_speed.py [--events 8192] [--repeats 3] [--quick] [--threads N]
                                 [--kinds baseline,wgan-gp] [--before /tmp/old-checkout]
                                 [--nuradio-python /tmp/nrvenv/bin/python] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

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


def interleaved(fns: dict[str, Callable[[], object]], repeats: int
                ) -> dict[str, tuple[float, float]]:
    """Best wall and best CPU seconds of each function over ``repeats`` interleaved rounds
    (after one warm-up call each)."""
    for fn in fns.values():
        fn()
    best = {k: (math.inf, math.inf) for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[k] = (min(best[k][0], wall), min(best[k][1], cpu))
    return best


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


def fitted_generators(quick: bool, kinds: list[str] | None = None) -> dict[str, object]:
    """A ``NoiseGenerator`` per model kind (all, or ``kinds``), initialised on simulated data.

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
    for kind in kinds or model_kinds():
        cls = get_model_class(kind)
        torch.manual_seed(0)
        model = cls(cls.make_config(), layout)
        model.set_normalization(offset, scale)
        with torch.no_grad():
            model.initialize(normalized)
        gens[kind] = NoiseGenerator(model, {}, torch.device("cpu"))
    return gens


def time_generators(n: int, repeats: int, quick: bool, kinds: list[str] | None
                    ) -> dict[str, tuple[float, float]]:
    """Best wall and CPU seconds of the floors (numpy and ``torch.randn`` of ``(n, 4,
    2048)`` standard normals) and of ``sample(n)`` for each kind, interleaved."""
    fns: dict[str, Callable[[], object]] = {
        "rng floor (numpy float32)": lambda: np.random.default_rng(0).standard_normal(
            (n, N_CH, N_SAMPLES), dtype=np.float32),
        "torch.randn float32": lambda: torch.randn(n, N_CH, N_SAMPLES)}
    from rnognoise.generator import NoiseGenerator

    for kind, gen in fitted_generators(quick, kinds).items():
        fns[f"rnognoise {kind}"] = lambda g=gen: g.sample(n, seed=0)
        if getattr(gen, "workers", 1) > 1:  # the same model, its blocks drawn one by one
            serial = NoiseGenerator(gen.model, {}, torch.device("cpu"), workers=1)
            fns[f"rnognoise {kind}, 1 worker"] = lambda g=serial: g.sample(n, seed=0)
    return interleaved(fns, repeats)


def time_other_tree(tree: str, n: int, repeats: int, quick: bool, kinds: list[str] | None,
                    threads: int) -> dict[str, tuple[float, float]]:
    """:func:`time_generators` of the ``rnognoise`` in ``tree`` (a subprocess)."""
    args = [sys.executable, __file__, "--generators-only", "--events", str(n), "--repeats",
            str(repeats), "--threads", str(threads)]
    if quick:
        args.append("--quick-models")
    if kinds:
        args += ["--kinds", ",".join(kinds)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.abspath(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = subprocess.run(args, capture_output=True, text=True, check=True, env=env,
                          cwd=tempfile.gettempdir())
    return {k: tuple(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (best of)")
    parser.add_argument("--quick", action="store_true", help="1024 events, 1 repeat")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--kinds", help="comma-separated model kinds (default: all)")
    parser.add_argument("--before", metavar="DIR",
                        help="also time the generators of the source tree DIR (DIR/rnognoise)")
    parser.add_argument("--nuradio-python", help="interpreter with NuRadioMC installed")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--generators-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick-models", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kinds = args.kinds.split(",") if args.kinds else None
    quick_models = args.quick or args.quick_models
    n, repeats = (1024, 1) if args.quick else (args.events, args.repeats)
    if args.generators_only:  # a round for --before, in the other tree's interpreter path
        print(json.dumps(time_generators(n, repeats, quick_models, kinds)))
        return 0
    info = machine_info()
    print(machine_line())
    print(f"events: {n} x {N_CH} channels x {N_SAMPLES} samples, {repeats} interleaved "
          f"rounds (best), torch threads {torch.get_num_threads()}")
    nr, nr_note = nuradio_rate(min(n * N_CH, 8192), repeats, args.nuradio_python)
    times = time_generators(n, repeats, quick_models, kinds)
    before = (time_other_tree(args.before, n, repeats, quick_models, kinds,
                              torch.get_num_threads()) if args.before else {})
    rows = [(k, n / w, n / c) for k, (w, c) in times.items()]
    randn_wall, randn_cpu = times["torch.randn float32"]
    if before:
        b_wall, b_cpu = before.pop("torch.randn float32")
        before.pop("rng floor (numpy float32)")
        rows += [(f"before: {k}", n / w * b_wall / randn_wall, n / c * b_cpu / randn_cpu)
                 for k, (w, c) in before.items()]
    if nr is not None:
        rows.insert(1, ("NuRadioMC bandlimited_noise", nr / N_CH, math.nan))
    floor = n / times["rng floor (numpy float32)"][0]
    rates = {name: rate for name, rate, _ in rows}
    print(f"NuRadioMC: {nr_note}")
    if before:
        print(f"before: {args.before} (its own run of the same rounds, scaled by the ratio "
              "of the torch.randn times of the two runs)")
    print(f"{'generator':42s} {'events/s':>10s} {'x NuRadioMC':>12s} {'floor/x':>8s} "
          f"{'x randn':>8s} {'cpu x randn':>12s}")
    for name, rate, cpu_rate in rows:
        vs_nr = f"{rate / (nr / N_CH):12.2f}" if nr else f"{'n/a':>12s}"
        cpu = (f"{cpu_rate * randn_cpu / n:12.2f}" if not math.isnan(cpu_rate)
               else f"{'':>12s}")
        print(f"{name:42s} {rate:10.0f} {vs_nr} {floor / rate:8.2f} "
              f"{rate * randn_wall / n:8.2f} {cpu}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "events": n, "rates": rates, "nuradio": nr_note,
                       "seconds": {k: {"wall": w, "cpu": c} for k, (w, c) in times.items()},
                       "before": {k: {"wall": w, "cpu": c} for k, (w, c) in before.items()}},
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
