"""Time ``rnognoise.metrics.compare`` (and the HTML report) on 10,000 events of 4 x 2048 samples.

Run: ``python bench/validate_speed.py [--events 10000] [--samples 2048] [--report DIR]``.
Real and generated sets are both simulated (``rnognoise.simulate``), so the timing
covers every metric including the classifier test, the Frechet distance and triggers.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from hostinfo import machine_line

from rnognoise.metrics import compare
from rnognoise.simulate import SimulationConfig, simulate_noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--report", help="also time writing the HTML report into DIR")
    args = parser.parse_args()
    cfg = SimulationConfig(n_samples=args.samples, common_noise_fraction=0.3)
    t0 = time.perf_counter()
    real = simulate_noise(args.events, config=cfg, seed=1)
    generated = simulate_noise(args.events, config=cfg, seed=2)
    t_sim = time.perf_counter() - t0
    print(machine_line())
    print(f"data: {args.events} events x {real.n_channels} channels x {args.samples} samples "
          f"per set (simulated in {t_sim:.1f} s)")
    for quick in (True, False):
        t0, c0 = time.perf_counter(), time.process_time()
        report = compare(real, generated, seed=0, quick=quick)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"compare(quick={quick}): {wall:.1f} s wall, {cpu:.1f} s CPU, "
              f"{len(report.rows)} rows, verdict {report.verdict}")
    if args.report is not None:
        from rnognoise.report import write_report

        directory = args.report or tempfile.mkdtemp()
        t0 = time.perf_counter()
        write_report(report, directory, force=True)
        print(f"write_report: {time.perf_counter() - t0:.1f} s wall ({directory})")


if __name__ == "__main__":
    main()
