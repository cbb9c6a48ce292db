"""A class of loud events: a fraction of the embedded default set's events made louder.

A station's recordings hold rare events much louder than the rest (a storm, a nearby
machine, an amplifier in another state). Here a ``--fraction`` of the simulated events is
multiplied by ``--factor`` (every channel, noise, lines and pulses alike) in the analog
chain, before the digitizer: the set is simulated without the digitizer's block offsets
and quantisation, scaled, then given the LAB4D block offsets (the simulator's spread, in
units of each channel's typical RMS, the same in every event) and rounded to the ADC step
of 0.61 mV. Scaled after the rounding, the loud events would carry a 3 mV step that no
detector has; scaled with the block offsets (``--scale-offsets``, how this benchmark
worked before), the loud events carry five-fold digitizer offsets, which a classifier
sees in the block-mean spread. A model is
fitted (moment initialisation and ``--steps`` training steps) on two thirds of the events
and compared with the held-out third: the events' RMS quantiles relative to the data's
median, the fractions of events beyond 1.5, 2 and 5 times it, and the validation suite's
C2ST AUC, score and verdict.

Usage::

    python bench/loud_events.py --fraction 0.03 --factor 5 [--model wgan-gp] [--events 1500]
                                [--scale-offsets]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from hostinfo import machine_line

from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet
from rnognoise.metrics import compare
from rnognoise.simulate import SimulationConfig, simulate_noise
from rnognoise.simulate.features import add_block_offsets
from rnognoise.train import FitOptions, fit


def loud_class(n: int, fraction: float, factor: float, seed: int,
               scale_offsets: bool = False) -> TraceSet:
    """``n`` simulated events, a ``fraction`` of them ``factor`` times larger in the
    analog chain (with ``scale_offsets``, the digitizer's block offsets too)."""
    config = SimulationConfig(quantization=False, block_offsets=scale_offsets)
    data = simulate_noise(n, config=config, seed=seed)
    rng = np.random.default_rng(seed + 2)
    x = data.traces.astype(np.float64)
    typical = np.median(x.std(axis=-1), axis=0)                      # (C,) volts
    x[rng.random(n) < fraction] *= factor
    if not scale_offsets:
        offsets = (np.random.default_rng(seed + 3).standard_normal(
            (n, x.shape[1], config.n_blocks)) * config.block_offset_sigma * typical[:, None])
        add_block_offsets(x, offsets, config.block_size)
    x = np.round(x / config.adc_to_volts) * config.adc_to_volts
    return TraceSet(x.astype(np.float32), data.sampling_rate, data.channels)


def event_rms(traces: np.ndarray) -> np.ndarray:
    return np.sqrt((traces.astype(np.float64) ** 2).mean(axis=(1, 2)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fraction", type=float, default=0.03)
    p.add_argument("--factor", type=float, default=5.0)
    p.add_argument("--model", default="wgan-gp")
    p.add_argument("--events", type=int, default=1500)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--scale-offsets", action="store_true",
                   help="scale the digitizer's block offsets with the loud events too")
    args = p.parse_args(argv)
    print(machine_line())
    data = loud_class(args.events, args.fraction, args.factor, args.seed, args.scale_offsets)
    order = np.random.default_rng(args.seed + 2).permutation(args.events)
    n_test = args.events // 3
    test, train = data[np.sort(order[:n_test])], data[np.sort(order[n_test:])]
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(train, None, FitOptions(model=args.model, steps=args.steps, quiet=True,
                                             seed=0, force=True))
        fit_s = time.time() - t0
        gen = NoiseGenerator(result.model, {"kind": args.model}, torch.device("cpu"))
        fake = gen.sample_traceset(4 * test.n_events, seed=1)
        report = compare(test, fake, seed=1)
    kept = (result.provenance.get("components") or {}).get("kept")
    print(f"{args.fraction:g} of {args.events} events x {args.factor:g}, {args.model}: fit "
          f"{fit_s:.0f} s, components kept {kept}")
    real, drawn = event_rms(test.traces), event_rms(fake.traces)
    median = np.median(real)
    for q in (0.5, 0.9, 0.95, 0.99):
        print(f"  event RMS quantile {q}: data {np.quantile(real, q) / median:.2f} "
              f"model {np.quantile(drawn, q) / median:.2f}")
    for k in (1.5, 2, 5):
        print(f"  events with RMS > {k} x the data's median: data {np.mean(real > k * median):.4f}"
              f" model {np.mean(drawn > k * median):.4f}")
    row = next(r for r in report.rows if r.name == "c2st_auc")
    print(f"  C2ST AUC {row.value:.3f} (real vs real {row.reference:.3f}), score "
          f"{report.score():.3f}, {report.verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
