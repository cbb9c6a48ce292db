"""Long-run memory stability: streaming generation and streaming reads stay flat in RSS.

Usage::

    python bench/memory.py [--events 10000000] [--channels 4] [--samples 256]
                           [--batch-size 4096] [--read-gb 2] [--skip-sampling] [--skip-read]

1. **Sampling**: fit the baseline model on simulated noise, then draw ``--events`` events
   with ``NoiseGenerator.iter_samples``, discarding each batch (10 million events of
   4 x 2048 float32 samples would be 330 GB of output, so the output is not kept; the
   trace length is ``--samples``). Resident memory is printed at 10 % intervals.
2. **Reading**: write an HDF5 file of ``--read-gb`` GB (float32 volts, 4 x 2048 per event)
   chunk by chunk, then stream it with ``iter_traces`` (batches of 256 events) and report
   the largest resident memory seen against the file size.

Resident memory (RSS) is read from ``/proc/self/status`` after every batch; "peak" is the
largest value seen during a phase. Prints the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from hostinfo import machine_line

__all__ = ["main"]


def rss_mib() -> float:
    """Current resident set size in MiB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def bench_sampling(n_events: int, n_channels: int, n_samples: int, batch_size: int) -> None:
    """Stream ``n_events`` from a baseline model; print RSS at 10 % intervals."""
    import torch

    from rnognoise.generator import NoiseGenerator
    from rnognoise.simulate import SimulationConfig, simulate_noise
    from rnognoise.train import FitOptions, fit

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    config = SimulationConfig(n_samples=n_samples, channels=tuple(range(n_channels)))
    data = simulate_noise(256, config=config, seed=0)
    with tempfile.TemporaryDirectory(prefix="rnognoise-mem-") as tmp:
        path = Path(tmp) / "baseline.safetensors"
        fit(data, path, FitOptions(model="baseline", quiet=True, device="cpu"))
        gen = NoiseGenerator.load(path, device="cpu")
    print(f"\n## Sampling: {n_events:,} events x {n_channels} channels x {n_samples} samples, "
          f"batch {batch_size} (baseline model, CPU, batches discarded)")
    print("| events done | RSS (MiB) | events/s |")
    print("|---:|---:|---:|")
    start_rss = rss_mib()
    print(f"| 0 | {start_rss:.0f} | - |")
    done, next_report, peak = 0, n_events // 10, start_rss
    t0 = time.perf_counter()
    checksum = 0.0
    for batch in gen.iter_samples(n_events, seed=0, batch_size=batch_size):
        done += len(batch)
        checksum += float(batch[0, 0, 0])
        peak = max(peak, rss_mib())
        if done >= next_report or done == n_events:
            rate = done / (time.perf_counter() - t0)
            print(f"| {done:,} | {rss_mib():.0f} | {rate:,.0f} |")
            next_report += max(1, n_events // 10)
    elapsed = time.perf_counter() - t0
    print(f"\nsampling: {elapsed:.1f} s, {n_events / elapsed:,.0f} events/s, "
          f"{n_events * n_channels * n_samples * 4 / elapsed / 1e9:.2f} GB/s generated; "
          f"RSS start {start_rss:.0f} MiB, peak {peak:.0f} MiB (growth {peak - start_rss:.0f} MiB)")


def bench_reading(gigabytes: float, folder: str | None) -> None:
    """Write a ``gigabytes`` GB HDF5 file, stream it with ``iter_traces``; print peak RSS."""
    from rnognoise.io import iter_traces

    n_channels, n_samples, chunk = 4, 2048, 64
    per_event = n_channels * n_samples * 4
    n_events = int(gigabytes * 1e9 // per_event // chunk * chunk)
    with tempfile.TemporaryDirectory(prefix="rnognoise-mem-", dir=folder) as tmp:
        path = Path(tmp) / "big.h5"
        rng = np.random.default_rng(0)
        block = (0.01 * rng.standard_normal((chunk, n_channels, n_samples))).astype(np.float32)
        t0 = time.perf_counter()
        with h5py.File(path, "w") as f:
            f.attrs["sampling_rate"] = 3.2e9
            f.attrs["units"] = "V"
            dset = f.create_dataset("traces", shape=(n_events, n_channels, n_samples),
                                    dtype=np.float32, chunks=(16, n_channels, n_samples))
            for lo in range(0, n_events, chunk):
                dset[lo:lo + chunk] = block
        size = path.stat().st_size
        print(f"\n## Reading: {size / 1e9:.2f} GB HDF5 ({n_events:,} events x {n_channels} x "
              f"{n_samples}, float32), written in {time.perf_counter() - t0:.1f} s; "
              "iter_traces, batch 256")
        start_rss = peak = rss_mib()
        t0 = time.perf_counter()
        seen = 0
        for batch in iter_traces(path, batch_size=256, trigger="all"):
            seen += batch.n_events
            peak = max(peak, rss_mib())
        elapsed = time.perf_counter() - t0
        assert seen == n_events
        batch_mib = 256 * per_event / 2**20
        print(f"reading: {seen:,} events in {elapsed:.1f} s ({size / elapsed / 1e6:,.0f} MB/s); "
              f"RSS start {start_rss:.0f} MiB, peak {peak:.0f} MiB (growth "
              f"{peak - start_rss:.0f} MiB for a {size / 2**20:,.0f} MiB file; one batch is "
              f"{batch_mib:.0f} MiB)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--read-gb", type=float, default=2.0)
    parser.add_argument("--tmpdir", help="folder for the big HDF5 file (default: system temp)")
    parser.add_argument("--skip-sampling", action="store_true")
    parser.add_argument("--skip-read", action="store_true")
    args = parser.parse_args(argv)
    print(machine_line())
    if not args.skip_read:
        bench_reading(args.read_gb, args.tmpdir)
    if not args.skip_sampling:
        bench_sampling(args.events, args.channels, args.samples, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
