"""GPU figures in one JSON: sampling events/s per precision, bf16/fp16 vs fp32 accuracy, the
training and sampling benchmarks, and the GPU-marked tests. Run by ``bench/gpu.sh``.

On a CUDA machine it measures, for the default learned model (``wgan-gp``, moment
initialisation: sampling speed does not depend on training) and the ``baseline``, at
4 channels x 2048 samples:

- ``NoiseGenerator.sample`` events/s on the GPU in fp32, bf16 and fp16 autocast (spectral
  parts always float32), and on the CPU for the ratio;
- the same model's generation alone, on the device (blocks of the generator's size drawn,
  saturated and scaled to volts, no copy to the host), and the host-copy floor: the
  events/s at which the device's float32 output reaches pinned host memory, and the rate
  at which a fresh host array of the call's size is first written. ``sample`` returns a
  NumPy array, so its rate is bounded by both; ``iter_samples`` in batches of one block
  keeps no large array;
- the relative RMS difference of bf16/fp16 output from fp32 with the same seed, and the
  largest deviation of the mean power spectrum in dB over the bins above -40 dB of the
  peak (the evidence for choosing a precision);
- then the training benchmark on the CPU with 2 threads and on the GPU at batch 64 (the
  same-run ratio), the GPU alone at batch 8192 (throughput), ``bench/sample_speed.py
  --quick`` and ``pytest -m gpu``, whose results are stored in the same JSON.

The JSON is rewritten after each part, so a run stopped at a time limit keeps what it
measured.

``--dry-run`` does the same on the CPU with tiny sizes and lists the sub-benchmark
commands instead of running them (it is what the test suite runs).

Usage::

    python bench/gpu_bench.py --out gpu.json [--events 65536] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hostinfo import machine_info

from rnognoise.core.device import autocast
from rnognoise.generator import block_events

ROOT = Path(__file__).resolve().parent.parent
N_CH, N_SAMPLES, RATE = 4, 2048, 3.2e9


def generators(device: torch.device, n_train: int) -> dict[str, Any]:
    """Baseline and wgan-gp (moment initialisation) fitted to simulated events."""
    from rnognoise.generator import NoiseGenerator
    from rnognoise.models import TraceLayout, get_model_class
    from rnognoise.simulate import simulate_noise

    data = simulate_noise(n_train, seed=0)
    x = data.traces.astype(np.float64)
    offset, scale = x.mean(axis=(0, 2)), x.std(axis=(0, 2))
    normalized = torch.as_tensor((x - offset[:, None]) / scale[:, None], dtype=torch.float32)
    out = {}
    for kind in ("baseline", "wgan-gp"):
        cls = get_model_class(kind)
        torch.manual_seed(0)
        model = cls(cls.make_config(), TraceLayout(tuple(int(c) for c in data.channels),
                                                   data.n_samples, data.sampling_rate))
        model.set_normalization(offset, scale)
        with torch.no_grad():
            model.initialize(normalized)
        out[kind] = NoiseGenerator(model, {}, device)
    return out


def events_per_s(gen: Any, n: int, repeats: int) -> float:
    """Best of ``repeats`` timed ``sample(n)`` calls after a warm-up, events/s."""
    gen.sample(min(n, 4096), seed=1)
    best = float("inf")
    for r in range(repeats):
        sync(gen.device)
        t0 = time.perf_counter()
        gen.sample(n, seed=r)
        best = min(best, time.perf_counter() - t0)
    return n / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def on_device_events_per_s(gen: Any, n: int, repeats: int) -> float:
    """Events/s of the model's generation on its device, without the copy to the host."""
    model, block = gen.model, block_events(gen.device, N_CH, N_SAMPLES)
    rng = torch.Generator(device=gen.device).manual_seed(0)

    def draw() -> None:
        with torch.inference_mode(), autocast(gen.device, gen.precision):
            for _ in range(max(1, n // block)):
                model.to_volts_(model.saturate_(model.generate(block, rng).float()))

    draw()
    best = float("inf")
    for _ in range(repeats):
        sync(gen.device)
        t0 = time.perf_counter()
        draw()
        sync(gen.device)
        best = min(best, time.perf_counter() - t0)
    return max(1, n // block) * block / best


def iter_samples_events_per_s(gen: Any, n: int, repeats: int) -> float:
    """Events/s of ``iter_samples`` in batches of one block, none kept (no large output
    array to fill: the path of a simulation that takes its noise batch by batch)."""
    block = block_events(gen.device, N_CH, N_SAMPLES)
    best = float("inf")
    for r in range(repeats):
        sync(gen.device)
        t0 = time.perf_counter()
        for _ in gen.iter_samples(n, seed=r, batch_size=block):
            pass
        best = min(best, time.perf_counter() - t0)
    return n / best


def host_fill_events_per_s(n: int) -> float:
    """Events/s at which a fresh float32 host array of ``n`` events is first written (the
    bound of ``sample``, which returns one)."""
    t0 = time.perf_counter()
    np.empty((n, N_CH, N_SAMPLES), np.float32).fill(1.0)
    return n / (time.perf_counter() - t0)


def host_copy_events_per_s(device: torch.device, n: int) -> float | None:
    """Events/s at which float32 events reach pinned host memory (``None`` on the CPU)."""
    if device.type != "cuda":
        return None
    size = block_events(device, N_CH, N_SAMPLES)
    block = torch.randn(size, N_CH, N_SAMPLES, device=device)
    host = torch.empty(block.shape, pin_memory=True)
    host.copy_(block)
    rounds = max(1, n // size)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(rounds):
        host.copy_(block, non_blocking=True)
    sync(device)
    return rounds * size / (time.perf_counter() - t0)


def accuracy(ref: np.ndarray, low: np.ndarray) -> dict[str, float]:
    """Relative RMS difference and the largest mean-spectrum deviation (dB) of ``low``."""
    rel = float(np.sqrt(np.mean((low - ref) ** 2) / np.mean(ref ** 2)))
    p_ref = (np.abs(np.fft.rfft(ref, axis=-1)) ** 2).mean(axis=0)
    p_low = (np.abs(np.fft.rfft(low, axis=-1)) ** 2).mean(axis=0)
    strong = p_ref > p_ref.max() * 1e-4
    db = 10 * np.log10(p_low[strong] / p_ref[strong])
    return {"relative_rms_difference": rel, "max_spectrum_deviation_db": float(np.abs(db).max())}


def sampling(device: torch.device, n: int, repeats: int, n_train: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, gen in generators(device, n_train).items():
        row: dict[str, Any] = {}
        ref = gen.sample(256, seed=7)
        for precision in ("fp32", "bf16", "fp16"):
            gen.precision = precision
            row[f"events_per_s_{precision}"] = events_per_s(gen, n, repeats)
            row[f"on_device_events_per_s_{precision}"] = on_device_events_per_s(gen, n, repeats)
            if precision != "fp32":
                row[f"accuracy_{precision}"] = accuracy(ref, gen.sample(256, seed=7))
        gen.precision = "fp32"
        row["iter_samples_events_per_s_fp32"] = iter_samples_events_per_s(gen, n, repeats)
        out[kind] = row
    torch.randn(64, N_CH, N_SAMPLES, device=device)
    sync(device)
    t0 = time.perf_counter()
    torch.randn(n, N_CH, N_SAMPLES, device=device)
    sync(device)
    out["torch_randn_events_per_s"] = n / (time.perf_counter() - t0)
    out["host_copy_floor_events_per_s"] = host_copy_events_per_s(device, n)
    out["host_fill_events_per_s"] = host_fill_events_per_s(n)
    return out


def run(cmd: list[str], dry_run: bool, timeout: float) -> dict[str, Any]:
    """Run a sub-benchmark (or list it in a dry run); its JSON or its output's tail."""
    if dry_run:
        return {"command": " ".join(cmd), "skipped": "dry run"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd), "error": f"timed out after {timeout:.0f} s"}
    return {"command": " ".join(cmd), "returncode": proc.returncode,
            "seconds": round(time.perf_counter() - t0, 1),
            "tail": (proc.stdout + proc.stderr).strip().splitlines()[-15:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSON file of all figures")
    parser.add_argument("--events", type=int, default=65536, help="events per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, tiny sizes, sub-benchmarks listed but not run")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds allowed per sub-benchmark")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.dry_run
    n, repeats, n_train = (64, 1, 32) if args.dry_run else (args.events, args.repeats, 512)
    result: dict[str, Any] = {"machine": machine_info(), "torch": torch.__version__,
                              "cuda": torch.version.cuda, "dry_run": args.dry_run,
                              "gpu": torch.cuda.get_device_name(0) if cuda else None,
                              "events": n, "layout": [N_CH, N_SAMPLES, RATE]}
    out = Path(args.out)

    def save() -> None:
        out.write_text(json.dumps(result, indent=1, default=str))

    print(f"sampling on {'cuda' if cuda else 'cpu'}: {n} events per call", flush=True)
    result["sampling_gpu" if cuda else "sampling_cpu"] = sampling(
        torch.device("cuda" if cuda else "cpu"), n, repeats, n_train)
    print(json.dumps(result["sampling_gpu" if cuda else "sampling_cpu"]), flush=True)
    save()
    if cuda:  # the CPU at a size it finishes in reasonable time, for the ratio
        result["sampling_cpu"] = sampling(torch.device("cpu"), 4096, 1, n_train)
        save()
    py = sys.executable
    base = str(ROOT / "bench")
    out_dir = out.resolve().parent
    train = [py, f"{base}/train_speed.py", "--repeats", "2"]
    subs = {
        # CPU (2 threads, the CI machine's size) and GPU at batch 64: the same-run ratio
        "train_speed": train + ["--threads", "2", "--json", str(out_dir / "train.json")],
        # the GPU at a batch that fills it: throughput
        "train_speed_large_batch": train + ["--devices", "cuda", "--batch-size", "8192",
                                            "--json", str(out_dir / "train_large.json")],
        "sample_speed": [py, f"{base}/sample_speed.py", "--quick",
                         "--json", str(out_dir / "sample.json")],
        "gpu_tests": [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                      "tests/test_gpu.py"],
    }
    for name, cmd in subs.items():
        print(f"{name}: {' '.join(cmd)}", flush=True)
        result[name] = run(cmd, args.dry_run, args.timeout)
        print("\n".join(result[name].get("tail", [])), flush=True)
        figures = Path(cmd[-1])
        if not args.dry_run and figures.suffix == ".json" and figures.exists():
            result[name]["figures"] = json.loads(figures.read_text())
        save()
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
