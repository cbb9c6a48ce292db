"""``rnognoise sample MODEL -n N --out OUT.h5``: draw noise from a model file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=run)


def write_samples(generator: NoiseGenerator, n: int, out: str, *, seed: int = 0,
                  batch_size: int = 1024, force: bool = False, quiet: bool = False) -> None:
    """Stream ``n`` generated events into ``out`` (canonical HDF5 layout), atomically."""
    if n < 1:
        raise ConfigError(f"number of events must be >= 1, got {n}")
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
        for batch in generator.iter_samples(n, seed=seed, batch_size=batch_size):
            dset[lo:lo + len(batch)] = batch
            lo += len(batch)
            bar.update(len(batch))
        bar.close()
        f.create_group("events").create_dataset("event_number", data=np.arange(n))


def run(args: argparse.Namespace) -> int:
    if args.events < 1:
        raise ConfigError(f"-n must be >= 1, got {args.events}")
    from ..generator import NoiseGenerator  # torch is imported only when needed

    generator = NoiseGenerator.load(args.model, device=args.device)
    write_samples(generator, args.events, args.out, seed=args.seed, batch_size=args.batch_size,
                  force=args.force, quiet=args.quiet)
    print(args.out)
    return 0
