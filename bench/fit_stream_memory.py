"""Peak resident memory of a fit, streamed and read whole (one subprocess per figure).

    OMP_NUM_THREADS=1 python bench/fit_stream_memory.py FOLDER

writes 4-channel white-noise files of 2000, 6000 and 12000 events x 2048 samples into
FOLDER and prints one JSON line per fit (docs/benchmarks.md, "Memory").
"""
import json
import subprocess
import sys

import numpy as np

from rnognoise.io import TraceSet, write_traces

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
for n in (2000, 6000, 12000):
    path = f"{sys.argv[1]}/f{n}.h5"
    rng = np.random.default_rng(2)
    x = (0.01 * rng.standard_normal((n, 4, 2048))).astype(np.float32)
    write_traces(path, TraceSet(x, 3.2e9, np.arange(4)), force=True)
    del x
    for max_events in (1000, 100_000):
        out = subprocess.run([sys.executable, "-c", PEAK, path, str(max_events)],
                             capture_output=True, text=True, check=True)
        print(json.dumps({"events": n, "file_mib": round(n * 4 * 2048 * 4 / 2**20),
                          "max_events": max_events,
                          **json.loads(out.stdout.strip().splitlines()[-1])}), flush=True)
