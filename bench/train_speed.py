"""Training speed: optimisation steps/s and events/s for wgan-gp and vae, and the data loader.

For each learned kind, on the CPU (and on CUDA when available, with and without AMP
autocast; AMP is CUDA only), the model's own step function is timed on simulated data
(4 channels x 2048 samples), with the package's batch function. Also timed: the batch
function alone (to show data loading is not the bottleneck), the training step with
oneDNN enabled (torch's default) vs disabled (``torch.backends.mkldnn.enabled = False``),
the wgan-gp step with the textbook schedule (``n_critic`` 5, gradient penalty on every
critic step on the whole batch) next to the default one, in the same run, and the peak
memory of one step per batch size (process peak RSS on the CPU; the CUDA peak allocator
statistic on a GPU). The VAE's steps train on each event's state coordinates, which a
fit measures once for the events in memory (``TrainingPlan.prepare``); that rate is
printed beside its steps. Variants are timed interleaved (``--repeats`` rounds, best round
reported) so that a change of machine load hits them alike.

Usage::

    python bench/train_speed.py [--steps 5] [--batch-size 64] [--quick] [--threads N]
                                [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import resource
import sys
import time

import numpy as np
import torch
from hostinfo import machine_line

from rnognoise.simulate import simulate_noise
from rnognoise.train import prepare_model

#: The wgan-gp schedule before the lazy, sub-batch gradient penalty (for comparison).
EAGER_WGAN = {"n_critic": 5, "gp_every": 1, "gp_batch": 0}

#: Events/s of the latest ``plan.prepare`` of the training events, by kind (the VAE's
#: state coordinates, measured once per fit; the events themselves for wgan-gp).
PREPARED_EVENTS_PER_S: dict[str, float] = {}

#: Initialised CPU models by (kind, options), copied for each timed variant.
_INITIALISED: dict[tuple[str, str], torch.nn.Module] = {}


def build(kind: str, data: torch.Tensor, traceset, device: torch.device, batch: int,
          options: dict | None = None):
    """A model initialised on ``data``, its plan and a batch function like ``fit``'s."""
    key = (kind, json.dumps(options, sort_keys=True))
    if key not in _INITIALISED:  # once per kind: the moment initialisation is not timed
        torch.manual_seed(0)
        model = prepare_model(traceset, kind, options)
        with torch.no_grad():  # on the CPU, then moved, as ``fit`` does
            model.initialize(data.cpu())
        _INITIALISED[key] = model
    model = copy.deepcopy(_INITIALISED[key]).to(device)
    plan = model.training_plan(batch_size=batch)
    t0 = time.perf_counter()
    rows = plan.prepare(data)  # once, as ``fit`` does for events in memory
    if device.type == "cuda":
        torch.cuda.synchronize()
    PREPARED_EVENTS_PER_S[kind] = data.shape[0] / (time.perf_counter() - t0)

    def batch_fn(step: int, k: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(step * 131 + k)
        idx = torch.randint(0, rows.shape[0], (batch,), generator=gen)
        return rows[idx.to(rows.device)]

    return model, plan, batch_fn


def time_steps(plan, batch_fn, steps: int, device: torch.device, amp: bool = False,
               onednn: bool | None = None) -> float:
    """Seconds per optimisation step (after one warm-up step)."""
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    before = torch.backends.mkldnn.enabled
    if onednn is not None:
        torch.backends.mkldnn.enabled = onednn
    try:
        with ctx:
            plan.step_fn(0, batch_fn)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(1, steps + 1):
                plan.step_fn(i, batch_fn)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return (time.perf_counter() - t0) / steps
    finally:
        torch.backends.mkldnn.enabled = before


def peak_memory(kind: str, data, traceset, device, batch: int) -> float:
    """Peak memory (MiB) of one training step at ``batch`` (model and optimizer included;
    on the CPU the process's peak RSS, data and libraries included)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        _, plan, batch_fn = build(kind, data, traceset, device, batch)
        plan.step_fn(0, batch_fn)
        return torch.cuda.max_memory_allocated() / 2**20
    # Process peak RSS (torch's allocations are invisible to tracemalloc); batches are
    # measured in ascending order, so each figure is the peak up to that batch size.
    _, plan, batch_fn = build(kind, data, traceset, device, batch)
    plan.step_fn(0, batch_fn)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--events", type=int, default=512)
    parser.add_argument("--quick", action="store_true", help="2 steps, 256 events")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--memory-only", action="store_true", help="only the memory figures")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--devices", default="cpu,cuda",
                        help="comma-separated devices to time (cuda only where available)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds of timing; the best round is reported")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, n_events = (2, 256) if args.quick else (args.steps, args.events)
    print(machine_line())
    traceset = simulate_noise(n_events, seed=0)
    raw = traceset.traces
    norm = (raw - raw.mean(axis=(0, 2), keepdims=True)) / raw.std(axis=(0, 2), keepdims=True)
    wanted = {d.strip() for d in args.devices.split(",")}
    devices = [torch.device(d) for d in ("cpu", "cuda") if d in wanted
               and (d == "cpu" or torch.cuda.is_available())]
    if not devices:
        parser.error(f"none of the devices {args.devices!r} is available")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, devices "
          f"{[str(d) for d in devices]}, batch {args.batch_size}, steps {steps}")
    results: dict[str, object] = {}
    for device in devices:
        data = torch.from_numpy(np.ascontiguousarray(norm, dtype=np.float32)).to(device)
        _, _, batch_fn = build("wgan-gp", data, traceset, device, args.batch_size)
        t0 = time.perf_counter()
        for i in range(50):
            batch_fn(i, 0)
        loader = 50 / (time.perf_counter() - t0)
        print(f"[{device}] batch_fn alone: {loader:.0f} batches/s "
              f"({loader * args.batch_size:.0f} events/s)")
        results[f"{device}/batch_fn_per_s"] = loader
        for kind in ("wgan-gp", "vae"):
            _model, plan, batch_fn = build(kind, data, traceset, device, args.batch_size)
            # (label, plan, timing options)
            variants = [] if args.memory_only else [("default", plan, {})]
            if not args.memory_only and kind == "wgan-gp":
                eager = build(kind, data, traceset, device, args.batch_size, EAGER_WGAN)[1]
                variants.append(("eager GP", eager, {}))
            if args.memory_only:
                pass
            elif device.type == "cpu":
                variants.append(("oneDNN off", plan, {"onednn": False}))
            else:
                variants.append(("AMP bf16", plan, {"amp": True}))
            best = {label: float("inf") for label, _, _ in variants}
            for _ in range(args.repeats):
                for label, p, kw in variants:
                    best[label] = min(best[label], time_steps(p, batch_fn, steps, device, **kw))
            for label, p, _kw in variants:
                sec, per_step = best[label], p.batches_per_step
                ev = args.batch_size * per_step / sec
                print(f"[{device}] {kind:8s} {label:10s}: {1 / sec:7.2f} steps/s, "
                      f"{ev:8.0f} real events/s ({per_step} batches per step)")
                results[f"{device}/{kind}/{label}/steps_per_s"] = 1 / sec
            if kind == "vae":  # its steps train on state coordinates measured once
                rate = PREPARED_EVENTS_PER_S[kind]
                print(f"[{device}] vae      state coordinates of the training events "
                      f"(once per fit): {rate:8.0f} events/s")
                results[f"{device}/vae/prepare_events_per_s"] = rate
            if "eager GP" in best:
                ratio = best["eager GP"] / best["default"]
                print(f"[{device}] wgan-gp   default / eager GP step rate: {ratio:.2f}x")
                results[f"{device}/wgan-gp/speedup_vs_eager"] = ratio
            for batch in (16, 64, 256):
                mib = peak_memory(kind, data, traceset, device, batch)
                print(f"[{device}] {kind:8s} peak memory up to one step at batch {batch}: "
                      f"{mib:.0f} MiB")
                results[f"{device}/{kind}/peak_mib/{batch}"] = mib
            n_params = sum(p.numel() for m in plan.modules.values() for p in m.parameters())
            print(f"[{device}] {kind:8s} trainable parameters {n_params}, DDP all-reduce "
                  f"volume per optimizer step ~ {n_params * 4 * 2 / 2**20:.2f} MiB")
            results[f"{kind}/parameters"] = n_params
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
