"""``rnognoise simulate OUT``: write simulated RNO-G-like noise to a file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..simulate import SimulationConfig

__all__ = ["add_parser", "config_from_args", "run"]

_FORMATS = {"h5": "hdf5", "hdf5": "hdf5", "root": "root"}


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate", parents=parents, help="write simulated RNO-G-like noise",
        description="Simulate forced-trigger noise of RNO-G deep channels: thermal noise "
        "through the in-ice signal chain, gain drift, LAB4D block offsets, CW lines, "
        "impulsive bursts and ADC quantisation (optionally 64-sample glitches, several "
        "stations and galactic noise following local sidereal time). "
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
    p.add_argument("--bursts", action="store_true",
                   help="add band-limited noise bursts (wind-driven / man-made) to a few events")
    p.add_argument("--chirps", action="store_true",
                   help="add carriers whose frequency drifts within the trace to some events")
    p.add_argument("--pulse-trains", action="store_true",
                   help="add several pulses from different directions to a few events")
    p.add_argument("--breathing", type=float, default=None, metavar="DB",
                   help="per-event random spectral tilt, standard deviation in dB per octave")
    p.add_argument("--unmodelled", action="store_true",
                   help="all four structures above that no model component names "
                   "(bursts, chirps, pulse trains, breathing 0.5 dB/octave; docs/simulation.md)")
    p.add_argument("--no-gain-drift", dest="gain_drift", action="store_false",
                   help="no per-event gain drift")
    p.add_argument("--no-quantization", dest="quantization", action="store_false",
                   help="no rounding to ADC counts")
    p.add_argument("--trigger-interval", type=float, default=None,
                   help="seconds between forced triggers (default 10); events x interval "
                   "should span a day or more for sidereal coverage")
    p.add_argument("--start-time", type=float, default=None,
                   help="unix time (s) of the first trigger (default 1688169600, 2023-07-01)")
    p.add_argument("--stations", default=None,
                   help="comma-separated station ids, events dealt round robin "
                   "(e.g. 11,12,13; default: one station, 11)")
    p.add_argument("--station-gain", default=None,
                   help="comma-separated gain factor per station "
                   "(default: geometric 1.0 -> 1.25)")
    p.add_argument("--station-cw-scale", default=None,
                   help="comma-separated factor per station on the CW line fractions "
                   "(default: 1.0, 2.0, 0.5, 1.5, 0.75 cycled)")
    p.add_argument("--galactic", action="store_true",
                   help="add galactic noise whose power follows local sidereal time")
    p.add_argument("--galactic-power-fraction", type=float, default=None,
                   help="mean galactic power / thermal power in the galactic band (default 0.5)")
    p.add_argument("--galactic-modulation", type=float, default=None,
                   help="relative peak-to-mean sidereal modulation (default 0.6)")
    p.add_argument("--galactic-peak-lst", type=float, default=None,
                   help="local sidereal time of the galactic maximum, hours (default 17.8)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The :class:`SimulationConfig` the command-line options describe."""
    from ..simulate import SimulationConfig

    optional: dict[str, Any] = {}
    for field, flag, parse in (
            ("trigger_interval", "trigger_interval", float),
            ("start_time", "start_time", float),
            ("stations", "stations", _list_of(int, "--stations")),
            ("station_gain", "station_gain", _list_of(float, "--station-gain")),
            ("station_cw_scale", "station_cw_scale", _list_of(float, "--station-cw-scale")),
            ("galactic_power_fraction", "galactic_power_fraction", float),
            ("galactic_modulation", "galactic_modulation", float),
            ("galactic_peak_lst_hours", "galactic_peak_lst", float)):
        value = getattr(args, flag, None)
        if value is not None:
            optional[field] = parse(value)
    every = getattr(args, "unmodelled", False)
    breathing = getattr(args, "breathing", None)
    if breathing is None and every:
        breathing = 0.5
    if breathing is not None:
        optional["breathing_db_per_octave"] = float(breathing)
    return SimulationConfig(
        n_samples=args.samples,
        sampling_rate=args.sampling_rate,
        channels=tuple(range(args.channels)),
        cw=args.cw,
        impulses=args.impulses,
        block_offsets=args.block_offsets,
        glitches=args.glitches,
        bursts=every or getattr(args, "bursts", False),
        chirps=every or getattr(args, "chirps", False),
        pulse_trains=every or getattr(args, "pulse_trains", False),
        gain_drift=args.gain_drift,
        quantization=args.quantization,
        galactic=getattr(args, "galactic", False),
        **optional,
    )


def _list_of(kind: type, flag: str) -> Callable[[str], tuple[Any, ...]]:
    """Parser of a comma-separated list of ``kind`` for ``flag`` (ConfigError when bad)."""

    def parse(text: str) -> tuple[Any, ...]:
        items = [item.strip() for item in str(text).split(",") if item.strip()]
        try:
            values = tuple(kind(item) for item in items)
        except ValueError:
            raise ConfigError(f"{flag}: expected a comma-separated list of {kind.__name__} "
                              f"values, got {text!r}") from None
        if not values:
            raise ConfigError(f"{flag}: empty list")
        return values

    return parse


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
