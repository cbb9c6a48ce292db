"""``rnognoise sample MODEL -n N --out OUT.h5``: draw noise from a model file."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from ..errors import ConfigError
from ..fileutil import atomic_output
from ..io.hdf5 import layout_spec
from ..logs import progress

if TYPE_CHECKING:
    from ..generator import NoiseGenerator

__all__ = ["add_parser", "run", "write_samples"]


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sample", parents=parents, help="draw noise from a model file",
                       description="Draw N events of noise from a model file and write them "
                       "in the canonical HDF5 layout (volts), in bounded memory.")
    p.add_argument("model", help="model file (.safetensors) written by rnognoise fit")
    p.add_argument("-n", "--events", type=int, required=True, help="number of events")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--device", default="auto")
    p.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                   help="condition of a conditional model, e.g. station=12 or lst=6.5 "
                   "(hours); repeatable; conditions not given are drawn from the training "
                   "events with the given values")
    p.add_argument("--conditions-from", metavar="TRACES",
                   help="take each event's conditions from the first N events of this "
                   "traces file (its station, readout_time, ... columns)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=run)


def write_samples(generator: NoiseGenerator, n: int, out: str, *, seed: int = 0,
                  batch_size: int = 1024, force: bool = False, quiet: bool = False,
                  condition: Any = None) -> None:
    """Stream ``n`` generated events into ``out`` (canonical HDF5 layout), atomically.

    For a conditional model, the conditions of every event (``condition`` as in
    :meth:`~rnognoise.generator.NoiseGenerator.sample`) are written as ``/events`` columns.
    """
    if n < 1:
        raise ConfigError(f"number of events must be >= 1, got {n}")
    encoded = generator.encode_conditions(condition, n, seed=seed)
    spec = layout_spec()
    with atomic_output(out, force=force) as tmp, h5py.File(tmp, "w") as f:
        dset = f.create_dataset("traces", shape=(n, generator.n_channels, generator.n_samples),
                                dtype=np.float32,
                                chunks=(min(16, n), generator.n_channels, generator.n_samples))
        f.attrs["sampling_rate"] = generator.sampling_rate
        f.attrs["channels"] = generator.channels
        f.attrs["units"] = "V"
        f.attrs["layout"] = f"{spec['name']}/{spec['version']}"
        f.attrs["generated_by"] = generator.kind
        f.attrs["seed"] = seed
        bar = progress(n, desc="sample", unit="ev", quiet=quiet)
        lo = 0
        for batch in generator.iter_samples(n, seed=seed, batch_size=batch_size,
                                            condition=encoded):
            dset[lo:lo + len(batch)] = batch
            lo += len(batch)
            bar.update(len(batch))
        bar.close()
        events = f.create_group("events")
        events.create_dataset("event_number", data=np.arange(n))
        if encoded is not None:
            for name in encoded.frame.columns:
                events.create_dataset(name, data=_column(encoded.frame[name]))


def _column(values: Any) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.dtype == object or arr.dtype.kind in "US":
        return np.asarray([str(v) for v in arr], dtype=h5py.string_dtype())
    return arr


def parse_conditions(items: list[str]) -> dict[str, Any]:
    """``["station=12", "lst=6.5"]`` -> ``{"station": 12, "lst": 6.5}`` (JSON values,
    plain strings otherwise)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--condition {item!r} is not NAME=VALUE")
        key, value = (part.strip() for part in item.split("=", 1))
        if not key or key in out:
            raise ConfigError(f"--condition {item!r}: empty or repeated name")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    if args.events < 1:
        raise ConfigError(f"-n must be >= 1, got {args.events}")
    from ..generator import NoiseGenerator  # torch is imported only when needed

    generator = NoiseGenerator.load(args.model, device=args.device)
    condition: Any = parse_conditions(args.condition) or None
    if args.conditions_from:
        if condition is not None:
            raise ConfigError("give either --condition or --conditions-from, not both")
        from ..io import open_traces

        with open_traces(args.conditions_from) as source:  # metadata only, no traces read
            events = source.events.iloc[source.event_index]
        if len(events) < args.events:
            raise ConfigError(f"{args.conditions_from}: holds {len(events)} events, fewer than "
                              f"the {args.events} requested")
        condition = events.iloc[:args.events].reset_index(drop=True)
    write_samples(generator, args.events, args.out, seed=args.seed, batch_size=args.batch_size,
                  force=args.force, quiet=args.quiet, condition=condition)
    print(args.out)
    return 0
