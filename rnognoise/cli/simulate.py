"""``rnognoise simulate OUT``: write simulated RNO-G-like noise to a file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..simulate import SimulationConfig

__all__ = ["add_parser", "config_from_args", "run"]

_FORMATS = {"h5": "hdf5", "hdf5": "hdf5", "root": "root"}


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate", parents=parents, help="write simulated RNO-G-like noise",
        description="Simulate forced-trigger noise of RNO-G deep channels: thermal noise "
        "through the in-ice signal chain, gain drift, LAB4D block offsets, CW lines, "
        "impulsive bursts and ADC quantisation (optionally 64-sample glitches). "
        "See docs/simulation.md.")
    p.add_argument("out", help="output file (.h5 or .root)")
    p.add_argument("--events", type=int, default=2000, help="number of events (default 2000)")
    p.add_argument("--channels", type=int, default=4,
                   help="number of channels, ids 0..N-1 (default 4, the phased array)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--format", choices=sorted(_FORMATS), default=None,
                   help="output format (default: from the suffix, .root -> root, else h5)")
    p.add_argument("--sampling-rate", type=float, default=3.2e9,
                   help="sampling rate in Hz (default 3.2e9; 2.4e9 from 2024)")
    p.add_argument("--samples", type=int, default=2048,
                   help="samples per trace (default 2048)")
    p.add_argument("--batch-size", type=int, default=1000,
                   help="events generated at once (bounds memory; default 1000)")
    p.add_argument("--no-cw", dest="cw", action="store_false", help="no CW lines")
    p.add_argument("--no-impulses", dest="impulses", action="store_false",
                   help="no impulsive bursts")
    p.add_argument("--no-block-offsets", dest="block_offsets", action="store_false",
                   help="no LAB4D 128-sample block offsets")
    p.add_argument("--glitches", action="store_true",
                   help="add 64-sample glitches (swapped half-blocks) to a few events")
    p.add_argument("--no-gain-drift", dest="gain_drift", action="store_false",
                   help="no per-event gain drift")
    p.add_argument("--no-quantization", dest="quantization", action="store_false",
                   help="no rounding to ADC counts")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The :class:`SimulationConfig` the command-line options describe."""
    from ..simulate import SimulationConfig

    return SimulationConfig(
        n_samples=args.samples,
        sampling_rate=args.sampling_rate,
        channels=tuple(range(args.channels)),
        cw=args.cw,
        impulses=args.impulses,
        block_offsets=args.block_offsets,
        glitches=args.glitches,
        gain_drift=args.gain_drift,
        quantization=args.quantization,
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    fmt = _FORMATS[args.format] if args.format else None
    from ..simulate import simulate_to_file

    path = simulate_to_file(args.out, args.events, config=config, seed=args.seed, format=fmt,
                            force=args.force, batch_size=args.batch_size,
                            show_progress=not getattr(args, "quiet", False))
    print(f"{path}: {args.events} events x {config.n_channels} channels x "
          f"{config.n_samples} samples at {config.sampling_rate / 1e9:g} GHz")
    return 0
