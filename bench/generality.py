"""Generality: every model on noise it was designed for, on structure no component names,
with each named component left out, and on real recordings; held-out events only.

Data sets (``--sets``):

- ``default`` — the embedded simulator's default noise (in vocabulary);
- ``unmodelled`` — the default plus bursts, chirps, pulse trains and spectral breathing
  (:mod:`rnognoise.simulate.unmodelled`), which no component names;
- ``glitches`` — the default plus 64-sample glitches (no component names them either);
- ``nuradio`` — noise built with NuRadioMC's tools (``bench/nuradio_set.py``): the same
  kinds of features as the embedded simulator (a signal chain, sky noise coherent across
  channels, a per-event gain, CW carriers of varying amplitude, rare impulses, ADC
  quantisation) made by other code with other details; needs NuRadioMC;
- ``am``, ``ramp``, ``compress``, ``common``, ``impulsive`` — noise made with plain numpy
  (``bench/foreign_sets.py``): an amplitude-modulated carrier, an RMS that changes within
  the trace, a compressing amplifier, common-mode pickup, each on a signal chain no
  simulator here has; ``impulsive`` — that chain driven by heavy-tailed (Student-t)
  innovations; and the other kinds there (``states``, ``hop``, ``interleave``,
  ``spikes``, ``pedestal``, ``storm``, ``gainstates``);
- ``loud`` — the embedded default with 3 % of the events five times louder in the analog
  chain (``bench/loud_events.py``: a storm, a nearby machine, an amplifier in another
  state);
- ``st24`` — the public real station-24 forced-trigger sample (100 events of one surface
  channel, ``../shared/realdata``): too small for the classifier test (n/a), scored by
  the other rows.

Leave-one-out (``--loo lines,impulses,blocks``) on the default set: ``wgan-gp`` with
one named component switched off while the data keep the feature, without and with the
general learned parts (the envelope, time-locked modes, transients, spectral marginals,
the transfer curve);
the fraction of the gap between "component off, nothing learned" and real-vs-real that
the learned parts recover, in classifier AUC and in score.

For each model: held-out classifier AUC (0.5: indistinguishable) beside the real-vs-real
reference, the validation score (0: like real data to itself), the verdict, and the
number of non-Gaussian properties (amplitude moments, tails, trigger rates, lines,
blocks) on which the model is farther from the data than the baseline (by more than 5 %,
and by more than two combined standard errors of the two rows).

Usage::

    python bench/generality.py [--minutes 3 | --steps 1] [--events 3000] [--sets default,unmodelled]
        [--models baseline,wgan-gp,vae] [--loo lines,impulses,blocks] [--json out.json]
        [--options '{"wgan-gp": {"envelope_bands": 32}}']
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from hostinfo import machine_line

from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet, read_traces
from rnognoise.metrics import compare
from rnognoise.simulate import SimulationConfig, simulate_noise
from rnognoise.train import FitOptions, fit

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
NON_GAUSSIAN = ("amplitude", "tails", "trigger", "lines", "blocks")
LOO_OPTIONS = {"lines": {"max_lines": 0}, "impulses": {"impulses": False},
               "blocks": {"block": 0}}
#: Model options that switch every general learned part off.
NOTHING_LEARNED = {"envelope": False, "modes": False, "transients": False, "marginals": False,
                   "transfer": False}


def load_set(name: str, n_events: int, seed: int) -> TraceSet:
    """The traces of data set ``name``."""
    if name == "default":
        return simulate_noise(n_events, seed=seed)
    if name == "unmodelled":
        cfg = SimulationConfig(bursts=True, chirps=True, pulse_trains=True,
                               breathing_db_per_octave=0.5)
        return simulate_noise(n_events, config=cfg, seed=seed)
    if name == "glitches":
        return simulate_noise(n_events, config=SimulationConfig(glitches=True), seed=seed)
    if name == "loud":
        from loud_events import loud_class

        return loud_class(n_events, 0.03, 5.0, seed)
    if name == "nuradio":
        from nuradio_set import nuradio_noise

        return nuradio_noise(n_events, seed=seed)
    from foreign_sets import KINDS, foreign_noise

    if name in KINDS:
        return foreign_noise(name, n_events, seed)
    if name == "st24":
        return read_traces(REALDATA / "rnog_st24_forced_trigger_noise_100ev.npz")
    raise SystemExit(f"unknown set {name!r}")


def worst(report, group: str, name: str) -> float:
    return worst_row(report, group, name)[0]


def worst_row(report, group: str, name: str) -> tuple[float, float]:
    """The largest ``|value|`` of the rows ``group/name`` (worst channel or pair) and its
    standard error."""
    rows = [(abs(r.value), r.uncertainty) for r in report.rows
            if r.group == group and r.name == name and np.isfinite(r.value)]
    return max(rows) if rows else (float("nan"), float("nan"))


def significantly_farther(report, base, group: str, name: str, n_sigma: float = 2.0) -> bool:
    """Whether the model's worst row is farther from the data than the baseline's by more
    than ``n_sigma`` combined standard errors (and more than 5 %)."""
    (m, mu), (b, bu) = worst_row(report, group, name), worst_row(base, group, name)
    err = float(np.hypot(np.nan_to_num(mu), np.nan_to_num(bu)))
    return bool(m > b * 1.05 + 1e-9 and m - b > n_sigma * err)


def auc(report) -> tuple[float, float]:
    rows = [r for r in report.rows if r.name == "c2st_auc"]
    return (rows[0].value, rows[0].reference) if rows else (float("nan"), float("nan"))


def evaluate(test: TraceSet, model, n_gen: int, seed: int):
    gen = NoiseGenerator(model, {"kind": model.kind}, torch.device("cpu"))
    fake = gen.sample_traceset(n_gen, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(test, fake, seed=seed)


def run_models(train: TraceSet, test: TraceSet, models: list[tuple[str, str, dict]],
               minutes: float, seed: int, gen_factor: int, steps: int | None = None,
               draws: int = 1) -> dict[str, dict]:
    out: dict[str, dict] = {}
    reports = {}
    for label, kind, options in models:
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit(train, None, FitOptions(model=kind, model_options=options,
                                                 max_minutes=minutes if kind != "baseline"
                                                 and steps is None else None,
                                                 steps=steps if kind != "baseline" else None,
                                                 seed=seed, quiet=True,
                                                 force=True))
        fit_s = time.time() - t0
        report = evaluate(test, result.model, gen_factor * test.n_events, seed + 1)
        reports[label] = report
        a, ref = auc(report)
        prov = result.provenance
        # further draws of generated events, each with its own comparison seed: one
        # figure scatters by a few hundredths between draws (docs/benchmarks.md)
        more = [evaluate(test, result.model, gen_factor * test.n_events, seed + 1 + 100 * j)
                for j in range(1, draws)]
        aucs = [a] + [auc(r)[0] for r in more]
        scores = [report.score()] + [r.score() for r in more]
        out[label] = {"auc": a, "auc_real_vs_real": ref, "score": report.score(),
                      "auc_draws": aucs, "score_draws": scores,
                      "verdict": report.verdict, "fit_s": round(fit_s, 1),
                      "steps": prov.get("train_steps"),
                      "components": (prov.get("components") or {}).get("kept"),
                      "heldout_check": prov.get("heldout_check"),
                      "flagged": [f"{r.verdict} {r.name} {r.where}: {r.reason}"
                                  for r in report.flagged()]}
        print(f"  {label:28s} AUC {a:.3f} (real-vs-real {ref:.3f})  score "
              f"{report.score():.3f}  {report.verdict:4s}  fit {fit_s:.0f} s", flush=True)
        if draws > 1:
            print(f"  {'':28s} {draws} draws: AUC {np.mean(aucs):.3f} +- "
                  f"{np.std(aucs, ddof=1) / np.sqrt(draws):.3f}, score {np.mean(scores):.3f}"
                  f" +- {np.std(scores, ddof=1) / np.sqrt(draws):.3f}", flush=True)
        for line in out[label]["flagged"]:
            print(f"  {'':28s} {line}", flush=True)
        kept = out[label]["components"]
        if kept is not None:
            print(f"  {'':28s} components kept: {', '.join(kept) or 'none'}", flush=True)
    if "baseline" in reports:
        base = reports["baseline"]
        names = sorted({(r.group, r.name) for r in base.rows if r.group in NON_GAUSSIAN})
        for label, report in reports.items():
            if label == "baseline":
                continue
            farther = [f"{g}/{n}" for g, n in names
                       if worst(report, g, n) > worst(base, g, n) * 1.05 + 1e-9]
            significant = [f"{g}/{n}" for g, n in names
                           if significantly_farther(report, base, g, n)]
            out[label]["farther_than_baseline"] = farther
            out[label]["significantly_farther"] = significant
            print(f"  {label:28s} farther than the baseline on {len(farther)} of {len(names)}"
                  f" non-Gaussian properties: {', '.join(farther) or '-'}; beyond two "
                  f"standard errors: {', '.join(significant) or '-'}", flush=True)
    return out


def split(data: TraceSet, test_fraction: float, seed: int) -> tuple[TraceSet, TraceSet]:
    order = np.random.default_rng(seed).permutation(data.n_events)
    n_test = int(round(test_fraction * data.n_events))
    return data[np.sort(order[n_test:])], data[np.sort(order[:n_test])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0, help="training budget per model")
    p.add_argument("--steps", type=int, default=None,
                   help="a fixed number of training steps instead of the time budget (1: "
                        "the moment fit and component selection alone)")
    p.add_argument("--events", type=int, default=3000, help="simulated events per set")
    p.add_argument("--test-fraction", type=float, default=1 / 3)
    p.add_argument("--sets", default="default,unmodelled,glitches,st24")
    p.add_argument("--models", default="baseline,wgan-gp,vae")
    p.add_argument("--options", default="{}",
                   help='model options per kind as JSON, e.g. \'{"wgan-gp": {"envelope_bands": '
                        '32}}\' (also for the leave-one-out fits)')
    p.add_argument("--loo", default="lines,impulses,blocks",
                   help="components to leave out in turn on the default set ('' for none)")
    p.add_argument("--gen-factor", type=int, default=4,
                   help="generated events per held-out real event")
    p.add_argument("--draws", type=int, default=1,
                   help="draws of generated events (each with its own comparison seed) per "
                        "fitted model; with more than one, their mean and standard error "
                        "(and the leave-one-out's recovered share is that of the means)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write all figures to this JSON file")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    print(machine_line())
    budget = (f"{args.steps} training steps" if args.steps is not None
              else f"budget {args.minutes} min")
    print(f"torch threads {torch.get_num_threads()}, {budget} per learned model, "
          f"{args.events} events per simulated set", flush=True)
    results: dict[str, dict] = {}
    kinds = [k for k in args.models.split(",") if k]
    options = json.loads(args.options)
    if options:
        print(f"model options {options}", flush=True)
    for name in [s for s in args.sets.split(",") if s]:
        data = load_set(name, args.events, args.seed)
        train, test = split(data, args.test_fraction if name != "st24" else 0.4, args.seed)
        print(f"{name}: {train.n_events} training / {test.n_events} held-out events, "
              f"{data.n_channels} channels", flush=True)
        results[name] = run_models(train, test, [(k, k, dict(options.get(k, {})))
                                                 for k in kinds], args.minutes,
                                   args.seed, args.gen_factor, args.steps, args.draws)
    loo = [c for c in args.loo.split(",") if c]
    if loo:
        data = load_set("default", args.events, args.seed)
        train, test = split(data, args.test_fraction, args.seed)
        print(f"leave-one-out on default: {train.n_events} / {test.n_events} events", flush=True)
        base = dict(options.get("wgan-gp", {}))
        models = [("wgan-gp (all)", "wgan-gp", base)]
        for comp in loo:
            opts = dict(base, **LOO_OPTIONS[comp], select_components=False)
            models += [(f"no {comp}, nothing learned", "wgan-gp", {**opts, **NOTHING_LEARNED}),
                       (f"no {comp}, learned parts", "wgan-gp", opts)]
        res = run_models(train, test, models, args.minutes, args.seed, args.gen_factor,
                         args.steps, args.draws)
        for comp in loo:
            off, learned = res[f"no {comp}, nothing learned"], res[f"no {comp}, learned parts"]
            for key, ref_key in (("auc", "auc_real_vs_real"), ("score", None)):
                # means over the draws: the gap of a component can be a few hundredths
                ref = off[ref_key] if ref_key else 0.0
                without, with_learned = (np.mean(r[f"{key}_draws"]) for r in (off, learned))
                gap = without - ref
                rec = (without - with_learned) / gap if gap > 0 else float("nan")
                res[f"recovered_{comp}_{key}"] = rec
                print(f"  leave out {comp}: {key} {without:.3f} -> {with_learned:.3f} "
                      f"(reference {ref:.3f}): {100 * rec:.0f} % of the gap recovered",
                      flush=True)
        results["leave_one_out"] = res
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
