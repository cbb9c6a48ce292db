"""Read throughput of rnognoise against bare h5py and bare uproot on the same data.

Usage::

    python bench/read_speed.py [--events 2000] [--channels 4] [--samples 2048] [--repeats 5]

Writes the same noise (int16 ADC counts, converted to volts) once as canonical HDF5 and once
as a flat RNO-G ROOT file in a temporary folder, then times, interleaved and repeated:

- ``h5py``: ``f["traces"][:]`` (float32 volts as stored);
- ``read_traces`` and ``iter_traces`` on the HDF5 file;
- ``uproot``: ``tree.arrays(["radiant_data"], library="np")`` (int16 ADC counts, no volts);
- ``read_traces`` and ``iter_traces`` on the ROOT file (float32 volts).

Reported per case: the median time, events/s and MB/s, where MB counts the delivered
samples as float32 (4 bytes each) so that every row uses the same yardstick, and the ratio
of the bare library's time to rnognoise's (>= 0.8 is the goal). Files sit in the page cache,
so this measures decoding and conversion, not the disk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import uproot
from hostinfo import machine_line

from rnognoise.io import TraceSet, iter_traces, read_traces, write_traces
from rnognoise.units import ADC_TO_VOLTS_RNOG

__all__ = ["main"]


def _make_files(folder: Path, n_events: int, n_channels: int, n_samples: int,
                ) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    counts = np.rint(20.0 * rng.standard_normal((n_events, n_channels, n_samples)))
    traces = (counts.astype(np.int16) * np.float32(ADC_TO_VOLTS_RNOG)).astype(np.float32)
    events = pd.DataFrame({"event_number": np.arange(n_events),
                           "trigger_type": np.full(n_events, "FORCE", dtype=object)})
    ts = TraceSet(traces, 3.2e9, np.arange(n_channels), events)
    h5, rt = folder / "bench.h5", folder / "bench.root"
    write_traces(h5, ts)
    write_traces(rt, ts)
    return h5, rt


def _cases(h5: Path, rt: Path, batch: int) -> dict[str, Callable[[], int]]:
    def bare_h5py() -> int:
        with h5py.File(h5, "r") as f:
            return int(f["traces"][:].shape[0])

    def bare_uproot() -> int:
        with uproot.open(rt, array_cache=None) as f:
            return int(f["combined"].arrays(["radiant_data"], library="np")["radiant_data"]
                       .shape[0])

    def reader(path: Path) -> Callable[[], int]:
        return lambda: read_traces(path, trigger="all").n_events

    def streamer(path: Path) -> Callable[[], int]:
        return lambda: sum(b.n_events for b in iter_traces(path, batch, trigger="all"))

    return {
        "h5py f['traces'][:]": bare_h5py,
        "read_traces (HDF5)": reader(h5),
        f"iter_traces (HDF5, batch {batch})": streamer(h5),
        "uproot tree.arrays": bare_uproot,
        "read_traces (ROOT)": reader(rt),
        f"iter_traces (ROOT, batch {batch})": streamer(rt),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    print(machine_line(), f"h5py={h5py.__version__} (HDF5 {h5py.version.hdf5_version}), "
          f"uproot={uproot.__version__}")
    with tempfile.TemporaryDirectory(prefix="rnognoise-bench-") as tmp:
        h5, rt = _make_files(Path(tmp), args.events, args.channels, args.samples)
        print(f"data: {args.events} events x {args.channels} channels x {args.samples} samples; "
              f"HDF5 {h5.stat().st_size / 1e6:.1f} MB (float32, uncompressed), "
              f"ROOT {rt.stat().st_size / 1e6:.1f} MB (int16, zlib level 1); "
              f"median of {args.repeats} interleaved repeats")
        cases = _cases(h5, rt, args.batch_size)
        for fn in cases.values():  # warm up: page cache, imports
            fn()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, fn in cases.items():
                start = time.perf_counter()
                n = fn()
                times[name].append(time.perf_counter() - start)
                if n != args.events:
                    raise RuntimeError(f"{name} read {n} events, expected {args.events}")
    megabytes = args.events * args.channels * args.samples * 4 / 1e6
    medians = {name: statistics.median(t) for name, t in times.items()}
    raw = {"HDF5": medians["h5py f['traces'][:]"], "ROOT": medians["uproot tree.arrays"]}
    print()
    print("| case | median time (s) | events/s | MB/s (float32) | bare / rnognoise |")
    print("|---|---:|---:|---:|---:|")
    for name, t in medians.items():
        fmt = "ROOT" if "ROOT" in name or "uproot" in name else "HDF5"
        bare = name.startswith(("h5py", "uproot"))
        ratio = "-" if bare else f"{raw[fmt] / t:.2f}"
        print(f"| {name} | {t:.4f} | {args.events / t:,.0f} | {megabytes / t:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
