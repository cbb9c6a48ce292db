"""Fidelity per CPU-minute: every model kind against held-out simulated RNO-G-like noise.

Simulates the embedded default dataset, fits each model kind on the training part
within the same wall-clock budget, samples as many events as the held-out part holds,
and runs the full validation suite (:func:`rnognoise.metrics.compare`) on each, plus
the real-vs-real reference (two halves of the held-out data), side by side.

Usage::

    python bench/fidelity.py [--minutes 15] [--events 3000] [--models baseline,wgan-gp,vae]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np
import torch
from hostinfo import machine_line

from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.metrics import compare
from rnognoise.simulate import simulate_noise
from rnognoise.train import FitOptions, fit

SUMMARY = [
    ("spectrum", "psd_median_abs_db", "PSD median |dB| (worst ch)"),
    ("amplitude", "amplitude_w1", "amplitude W1 / RMS (worst ch)"),
    ("tails", "peak_to_rms_w1", "peak/RMS W1 (worst ch)"),
    ("tails", "rate_above_6sigma_diff", "|rate > 6 sigma diff| (worst ch)"),
    ("lines", "line_occupancy_diff", "|line occupancy diff| (worst line)"),
    ("blocks", "block_spread_w1", "block-mean spread W1 (worst ch)"),
    ("crosschannel", "xcorr_max_w1", "max xcorr W1 (worst pair)"),
    ("trigger", "highlow_rate_diff_at_1pct", "trigger rate diff @1 %"),
    ("twosample", "fpd", "Frechet distance (features)"),
    ("twosample", "c2st_auc", "C2ST ROC AUC"),
]


def summarise(report) -> dict[str, tuple[float, float]]:
    out = {}
    for group, name, label in SUMMARY:
        rows = [r for r in report.rows if r.group == group and r.name == name]
        if not rows:
            continue
        worst = max(rows, key=lambda r: -np.inf if not np.isfinite(r.value) else r.value)
        out[label] = (worst.value, worst.reference)
    out["score (0 = like real)"] = (report.score(), 0.0)
    out["verdict"] = (report.verdict, "")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="training budget per model")
    p.add_argument("--events", type=int, default=3000, help="simulated events in total")
    p.add_argument("--test-fraction", type=float, default=1 / 3)
    p.add_argument("--models", default="baseline,wgan-gp,vae",
                   help="comma-separated kinds, each optionally with model options as "
                   "KIND:KEY=VALUE[:KEY=VALUE] (JSON values), e.g. wgan-gp:lr_physics=1e-3")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write all figures to this JSON file")
    p.add_argument("--save-models", help="folder to keep the fitted model files in")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    print(machine_line())
    data = simulate_noise(args.events, seed=args.seed)
    n_test = int(args.events * args.test_fraction)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(args.events)
    test, train = data[np.sort(order[:n_test])], data[np.sort(order[n_test:])]
    print(f"data: {train.n_events} training / {test.n_events} held-out events, "
          f"{data.n_channels} ch x {data.n_samples} samples at {data.sampling_rate / 1e9} GHz; "
          f"budget {args.minutes} min per model")
    results: dict[str, dict] = {}
    half_a, half_b = test.split(0.5, seed=args.seed)
    ref = compare(half_a, half_b, seed=args.seed)
    results["real vs real (halves)"] = {"summary": summarise(ref), "fit_s": 0.0}
    for entry in args.models.split(","):
        kind, *settings = entry.split(":")
        options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in settings)}
        started = time.time()
        out = None
        if args.save_models:
            os.makedirs(args.save_models, exist_ok=True)
            out = os.path.join(args.save_models, f"{entry.replace(':', '_')}.safetensors")
        result = fit(train, out, FitOptions(model=kind, model_options=options,
                                            max_minutes=args.minutes, seed=args.seed,
                                            quiet=True, force=True, device="cpu"))
        fit_s = time.time() - started
        gen = NoiseGenerator(result.model, {"provenance": result.provenance},
                             torch.device("cpu"))
        t0 = time.time()
        fake = gen.sample(test.n_events, seed=args.seed + 100)
        rate = test.n_events / (time.time() - t0)
        report = compare(test, TraceSet(fake, test.sampling_rate, test.channels),
                         seed=args.seed)
        results[entry] = {"summary": summarise(report), "fit_s": fit_s,
                          "sample_events_per_s": rate, "provenance": result.provenance}
        print(f"{entry}: fit {fit_s:.0f} s, steps {result.provenance.get('train_steps')}, "
              f"best step {result.provenance.get('best_step')}, sampling {rate:.0f} ev/s, "
              f"score {report.score():.3f}, verdict {report.verdict}", flush=True)
    labels = list(next(iter(results.values()))["summary"])
    names = list(results)
    print()
    print("| metric | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label in labels:
        cells = []
        for name in names:
            value = results[name]["summary"].get(label, ("", ""))[0]
            cells.append(f"{value:.4g}" if isinstance(value, float) else str(value))
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("| fit wall time (s) | " + " | ".join(f"{results[n]['fit_s']:.0f}" for n in names)
          + " |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
