"""Peak resident memory of a fit, streamed and read whole (one subprocess per figure).

    OMP_NUM_THREADS=1 python bench/fit_stream_memory.py FOLDER [--sizes 2000x4,6000x4,12000x4]
        [--streamed-only]

writes white-noise files of EVENTSxCHANNELS x 2048 samples into FOLDER (batch by batch,
so that writing needs no more memory than a batch) and prints the machine and one JSON
line per fit (docs/benchmarks.md, "Memory"). ``--sizes 40000x4,6700x24`` gives the
1.3 GB files of 4 and 24 channels; ``--streamed-only`` skips the whole-file fits.
"""
import argparse
import json
import subprocess
import sys

import numpy as np
from hostinfo import machine_line

from rnognoise.io.hdf5_writer import HDF5Writer

PEAK = """
import json, resource, sys, time
from rnognoise.train import fit
t = time.time()
r = fit(sys.argv[1], None, model="wgan-gp", model_options={"critic_width": 4, "n_critic": 1,
    "impulses": False, "select_components": False}, steps=20, batch_size=32,
    eval_every=0, quiet=True, device="cpu", max_events=int(sys.argv[2]),
    buffer_events=512, val_fraction=0.02, force=True)
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "wall_s": round(time.time() - t, 1), "streamed": "streamed" in r.provenance}))
"""

def write_white_noise(path: str, n: int, channels: int, batch: int = 500) -> None:
    """A file of ``n`` events of white noise (10 mV), written batch by batch."""
    rng = np.random.default_rng(2)
    with HDF5Writer(path, n_events=n, channels=np.arange(channels), n_samples=2048,
                    sampling_rate=3.2e9, force=True) as writer:
        for a in range(0, n, batch):
            m = min(batch, n - a)
            writer.append((0.01 * rng.standard_normal((m, channels, 2048))).astype(np.float32))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--sizes", default="2000x4,6000x4,12000x4",
                   help="comma-separated EVENTSxCHANNELS")
    p.add_argument("--streamed-only", action="store_true")
    args = p.parse_args()
    print(machine_line(), flush=True)
    for size in args.sizes.split(","):
        n, channels = (int(v) for v in size.lower().split("x"))
        path = f"{args.folder}/f{n}x{channels}.h5"
        write_white_noise(path, n, channels)
        for max_events in (1000,) if args.streamed_only else (1000, 100_000):
            out = subprocess.run([sys.executable, "-c", PEAK, path, str(max_events)],
                                 capture_output=True, text=True, check=True)
            print(json.dumps({"events": n, "channels": channels,
                              "file_mib": round(n * channels * 2048 * 4 / 2**20),
                              "max_events": max_events,
                              **json.loads(out.stdout.strip().splitlines()[-1])}), flush=True)


if __name__ == "__main__":
    main()
