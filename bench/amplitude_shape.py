"""The shape of real traces' amplitude distributions, and how well each model gives it.

Usage::

    OMP_NUM_THREADS=1 python bench/amplitude_shape.py [--models wgan-gp,vae]
        [--realdata ../shared/realdata] [--generated 400]

Reads the public station-24 forced triggers (and, for the data row only, the pulse-free
channels 4, 8, 11 and 12-20 of the station-21 pulser run), splits the 100 station-24
events as ``bench/generality.py`` does (60 training / 40 held-out, seed 0 permutation),
fits each model for 3 s (its moment initialisation and component selection; a few
training steps at most) with and without the
``transfer`` general part, draws ``--generated`` events, and prints per model the median
per-event skewness and excess kurtosis (each trace's mean removed) and the two-sample
Kolmogorov-Smirnov statistic (with its p-value) against the 40 held-out events, and the
skewness of the pooled sample values and of the trace means.
Prints the machine line first.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from hostinfo import machine_line
from scipy import stats

from rnognoise.generator import NoiseGenerator
from rnognoise.io import read_traces
from rnognoise.train import FitOptions, fit

PULSE_FREE_ST21 = [4, 8, 11, *range(12, 21)]


def shape_moments(traces: np.ndarray) -> dict[str, np.ndarray]:
    """Per-trace skewness and excess kurtosis, flattened over events and channels."""
    z = traces.astype(np.float64)
    z = z - z.mean(-1, keepdims=True)
    s = z.std(-1, keepdims=True)
    u = z / s
    return {"skewness": (u ** 3).mean(-1).ravel(), "kurtosis": ((u ** 4).mean(-1) - 3).ravel()}


def pooled_skewness(traces: np.ndarray) -> tuple[float, float]:
    """Skewness of all sample values pooled, and of the trace means."""
    values = traces.astype(np.float64).ravel()
    return float(stats.skew(values)), float(stats.skew(traces.mean(-1).ravel()))


def describe(label: str, moments: dict[str, np.ndarray],
             reference: dict[str, np.ndarray] | None = None) -> str:
    parts = []
    for key, values in moments.items():
        text = f"{key} median {np.median(values):+.3f}"
        if reference is None:
            text += f" (positive {np.mean(values > 0):.0%})" if key == "skewness" else ""
        else:
            ks = stats.ks_2samp(reference[key], values)
            text += f" KS {ks.statistic:.2f} (p {ks.pvalue:.1g})"
        parts.append(text)
    return f"{label:40s} " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="wgan-gp,vae")
    parser.add_argument("--realdata", default=str(Path(__file__).resolve().parents[2]
                                                  / "shared" / "realdata"))
    parser.add_argument("--generated", type=int, default=400)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(machine_line())
    folder = Path(args.realdata)
    st24 = read_traces(folder / "rnog_st24_forced_trigger_noise_100ev.npz")
    st21 = read_traces(folder / "pulser_data_21.root", trigger="all", sampling_rate=3.2e9)
    print(describe("station 21, pulse-free channels (60 traces)",
                   shape_moments(st21.traces[:, PULSE_FREE_ST21])))
    print(describe("station 24, all 100 events", shape_moments(st24.traces)))
    order = np.random.default_rng(0).permutation(len(st24.traces))
    train, test = st24[np.sort(order[40:])], st24[np.sort(order[:40])]
    reference = shape_moments(test.traces)
    print(describe("station 24, 40 held-out events", reference))
    print("{:40s} pooled values' skewness {:+.3f}, trace means' {:+.3f}".format(
        "station 24, 40 held-out events", *pooled_skewness(test.traces)))
    for kind in args.models.split(","):
        for transfer in (False, True):
            result = fit(train, None, FitOptions(model=kind, max_minutes=0.05, seed=0, quiet=True,
                                                 force=True,
                                                 model_options={"transfer": transfer}))
            fake = NoiseGenerator(result.model, {}, torch.device("cpu")).sample(
                args.generated, seed=1)
            label = f"{kind}{'' if transfer else ' without transfer'}"
            print(describe(label, shape_moments(fake), reference))
            print("{:40s} pooled values' skewness {:+.3f}, trace means' {:+.3f}".format(
                label, *pooled_skewness(fake)), flush=True)


if __name__ == "__main__":
    main()
