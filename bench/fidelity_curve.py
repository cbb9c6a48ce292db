"""Fidelity against compute: held-out C2ST AUC and score after 1, 5, 15 (, 60) minutes.

For each learned model kind, fits on the training part of the embedded default dataset
with wall-clock budgets of 1, 5, 15, ... minutes (one independent fit per budget, as
``rnognoise fit --max-minutes N`` would make), samples as many events as were held out
and runs the full validation suite (:func:`rnognoise.metrics.compare`) against them.
A model whose figures stop improving after its initialisation is not using its training.
The threads torch uses are set by ``--threads`` and printed with the machine.

Usage::

    python bench/fidelity_curve.py [--points 1,5,15] [--events 1500] [--models wgan-gp,vae]
        [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from fidelity import summarise
from hostinfo import machine_line

from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.metrics import compare
from rnognoise.simulate import simulate_noise
from rnognoise.train import FitOptions, fit


def parse_models(text: str) -> list[tuple[str, str, dict]]:
    """``KIND[:KEY=VALUE...]`` entries (JSON values) -> (label, kind, options)."""
    out = []
    for entry in text.split(","):
        kind, *settings = entry.split(":")
        options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in settings)}
        out.append((entry, kind, options))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", default="1,5,15", help="budgets in minutes, comma-separated")
    p.add_argument("--events", type=int, default=1500, help="simulated events in total")
    p.add_argument("--test-fraction", type=float, default=1 / 3)
    p.add_argument("--models", default="wgan-gp,vae",
                   help="comma-separated KIND[:KEY=VALUE...] (as in bench/fidelity.py)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write all figures to this JSON file")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    print(f"torch threads {torch.get_num_threads()}")
    points = [float(v) for v in args.points.split(",")]
    data = simulate_noise(args.events, seed=args.seed)
    n_test = int(args.events * args.test_fraction)
    order = np.random.default_rng(args.seed).permutation(args.events)
    test, train = data[np.sort(order[:n_test])], data[np.sort(order[n_test:])]
    print(f"data: {train.n_events} training / {test.n_events} held-out events; budgets "
          f"{points} min", flush=True)
    half_a, half_b = test.split(0.5, seed=args.seed)
    ref = compare(half_a, half_b, seed=args.seed)
    ref_auc = summarise(ref)["C2ST ROC AUC"][0]
    print(f"real vs real (halves): C2ST AUC {ref_auc:.3f}, score {ref.score():.3f}",
          flush=True)
    rows: list[dict] = []
    for label, kind, options in parse_models(args.models):
        for minutes in points:
            started = time.time()
            result = fit(train, None, FitOptions(model=kind, model_options=options,
                                                 max_minutes=minutes, seed=args.seed,
                                                 quiet=True, force=True, device="cpu"))
            fit_s = time.time() - started
            gen = NoiseGenerator(result.model, {"provenance": result.provenance},
                                 torch.device("cpu"))
            fake = gen.sample(test.n_events, seed=args.seed + 100)
            report = compare(test, TraceSet(fake, test.sampling_rate, test.channels),
                             seed=args.seed)
            loop = result.loop
            row = {"model": label, "minutes": minutes, "fit_s": round(fit_s, 1),
                   "steps": loop.steps if loop else None,
                   "best_step": loop.best_step if loop else None,
                   "c2st_auc": summarise(report)["C2ST ROC AUC"][0],
                   "score": report.score(), "verdict": report.verdict}
            rows.append(row)
            print(f"{label} {minutes:g} min: steps {row['steps']}, best step "
                  f"{row['best_step']}, C2ST AUC {row['c2st_auc']:.3f}, score "
                  f"{row['score']:.3f} ({row['verdict']}), fit {fit_s:.0f} s", flush=True)
    print()
    print("| model | minutes | steps | best step | C2ST AUC | score |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| real vs real (halves) | | | | {ref_auc:.3f} | {ref.score():.3f} |")
    for r in rows:
        print(f"| {r['model']} | {r['minutes']:g} | {r['steps']} | {r['best_step']} | "
              f"{r['c2st_auc']:.3f} | {r['score']:.3f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine_line(), "threads": torch.get_num_threads(),
                       "reference": {"c2st_auc": ref_auc, "score": ref.score()},
                       "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
