"""Per-condition fidelity: conditional against unconditional models, per station and LST bin.

Simulates three stations (different gains and CW occupancy) with galactic noise that
follows local sidereal time, spread over two days of forced triggers; splits the events
at random into a training and a held-out part; fits each model on the training part;
samples as many events as the held-out part holds *with the held-out events' conditions*
(an unconditional model gets the same condition labels, i.e. it is judged as if it were
used for that station and sidereal time); and compares per station and per LST bin
(:func:`rnognoise.metrics.compare_by_condition`), beside the real-vs-real reference of
every group.

Usage::

    python bench/conditional.py [--events 4500] [--minutes 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from hostinfo import machine_line

from rnognoise.conditions import add_derived_columns
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.metrics import compare_by_condition
from rnognoise.simulate import SimulationConfig, simulate_noise
from rnognoise.train import FitOptions, fit

STATIONS = (11, 12, 13)
#: Per station: the passband found from the data; per LST bin: the galactic band, where
#: the sidereal modulation is (over the whole passband it is diluted several times).
BAND_OF: dict[str, dict[str, tuple[float, float]]] = {"station": {}, "lst": {"band": (80e6, 200e6)}}


def generated_like(path: str, heldout: TraceSet, seed: int) -> TraceSet:
    """Sample one event per held-out event, with its conditions where the model takes them."""
    gen = NoiseGenerator.load(path)
    if gen.condition_names:
        ts = gen.sample_traceset(heldout.n_events, seed=seed, condition=heldout.events)
    else:
        ts = gen.sample_traceset(heldout.n_events, seed=seed)
    events = add_derived_columns(heldout.events, ["lst"])[["station", "lst"]]
    return TraceSet(ts.traces, ts.sampling_rate, ts.channels, events.reset_index(drop=True))


def summary(report) -> dict[str, float]:
    """Worst group score, worst |band-power ratio| in dB, and verdict counts."""
    groups = report.evaluated
    worst_db = max(abs(x) for g in groups for x in g.band_power["ratio_db"])
    fails = sum(g.verdict == "fail" for g in groups)
    return {"worst_score": max(g.score for g in groups),
            "mean_score": float(np.mean([g.score for g in groups])),
            "worst_band_db": worst_db, "failed_groups": fails, "groups": len(groups)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4500)
    ap.add_argument("--minutes", type=float, default=2.0,
                    help="training budget of each learned model (shared by its cells)")
    ap.add_argument("--quick", action="store_true",
                    help="1500 events of 512 samples, baseline models only")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    n_events = 1500 if args.quick else args.events
    n_samples = 512 if args.quick else 2048
    print(machine_line())
    config = SimulationConfig(n_samples=n_samples, stations=STATIONS, galactic=True,
                              trigger_interval=120.0)
    t0 = time.time()
    data = simulate_noise(n_events, config=config, seed=1)
    span_h = (data.events["readout_time"].max() - data.events["readout_time"].min()) / 3600
    print(f"simulated {n_events} events x {data.n_channels} ch x {n_samples} samples over "
          f"{span_h:.0f} h, stations {STATIONS}, galactic noise on ({time.time() - t0:.1f} s)")
    train, heldout = data.split(2 / 3, seed=0)
    half_a, half_b = heldout.split(0.5, seed=1)

    runs: list[tuple[str, str, list[str] | None]] = [
        ("baseline", "baseline", None), ("baseline | station,lst", "baseline",
                                         ["station", "lst"])]
    if not args.quick:
        runs += [("wgan-gp", "wgan-gp", None),
                 ("wgan-gp | station,lst", "wgan-gp", ["station", "lst"])]
    results: dict[str, dict[str, dict[str, float]]] = {}
    folder = f"/tmp/rnognoise-bench-conditional-{os.getpid()}"
    os.makedirs(folder, exist_ok=True)
    for name, kind, cond in runs:
        path = f"{folder}/{name.replace(' ', '').replace('|', '_')}.safetensors"
        t0 = time.time()
        fit(train, path, FitOptions(model=kind, conditions=cond, max_minutes=args.minutes,
                                    quiet=True, force=True))
        fit_s = time.time() - t0
        generated = generated_like(path, heldout, seed=5)
        results[name] = {"fit_s": {"fit_s": fit_s}}
        for by in ("station", "lst"):
            results[name][by] = summary(compare_by_condition(heldout, generated, [by],
                                                             **BAND_OF[by]))
        print(f"  {name}: fitted in {fit_s:.0f} s")
    ref = {}
    for by in ("station", "lst"):
        ref[by] = summary(compare_by_condition(half_a, half_b, [by], min_events=30,
                                               **BAND_OF[by]))
    print()
    header = (f"{'model':26s} {'fit s':>6s} | {'per station: worst score':>24s} "
              f"{'worst |dB|':>10s} {'fail':>5s} | {'per LST bin: worst score':>24s} "
              f"{'worst |dB|':>10s} {'fail':>5s}")
    print(header)
    print("-" * len(header))
    rows = [("real vs real (halves)", {"fit_s": {"fit_s": float("nan")}, **ref})]
    rows += list(results.items())
    for name, res in rows:
        st, ls = res["station"], res["lst"]
        print(f"{name:26s} {res['fit_s']['fit_s']:6.0f} | {st['worst_score']:24.2f} "
              f"{st['worst_band_db']:10.2f} {st['failed_groups']:>3d}/{st['groups']} | "
              f"{ls['worst_score']:24.2f} {ls['worst_band_db']:10.2f} "
              f"{ls['failed_groups']:>3d}/{ls['groups']}")
    print("\nworst |dB|: largest |10 log10(P_gen / P_real)| of the mean band power over "
          "channels and groups (per station: the passband found from the real data; per "
          "LST bin: 80-200 MHz, the galactic band); score: FidelityReport.score of "
          "the group (lower is better); real vs real compares two halves of the held-out "
          "events, so its groups are half as large.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
