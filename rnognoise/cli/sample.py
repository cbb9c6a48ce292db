"""``rnognoise sample MODEL -n N --out OUT.h5``: draw noise from a model file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, PhysicalEnvelopeWarning, UnphysicalOutputError
from ..fileutil import check_writable
from ..io.hdf5_writer import HDF5Writer
from ..logs import get_logger, log_event, progress

if TYPE_CHECKING:
    from ..generator import NoiseGenerator

__all__ = ["add_parser", "check_size", "output_bytes", "run", "write_samples"]


_LOG = get_logger("sample")

#: Outputs above this size are announced before writing (bytes).
ANNOUNCE_BYTES = 1e9
#: Outputs above this size need --force-large (bytes).
LARGE_BYTES = 4e9


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sample", parents=parents, help="draw noise from a model file",
                       description="Draw N events of noise from a model file and write them "
                       "in the canonical HDF5 layout (volts), in bounded memory. Outputs "
                       "above 1 GB are announced; above 4 GB they need --force-large.")
    p.add_argument("model", help="model file (.safetensors) written by rnognoise fit")
    p.add_argument("-n", "--events", type=int, required=True, help="number of events")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random streams (default 0); the same seed, stream and "
                   "model give the same noise")
    p.add_argument("--stream", type=int, default=0,
                   help="independent random stream of the seed, e.g. the job number of a "
                   "simulation campaign (default 0)")
    p.add_argument("--start", type=int, default=0,
                   help="index of the first event in the stream (default 0): --start 1000 "
                   "-n 1000 continues a file of the first 1000 events")
    p.add_argument("--batch-size", type=int, default=1024,
                   help="events held in memory at once (default 1024); the noise does not "
                   "depend on it")
    p.add_argument("--device", default="auto",
                   help="auto (a CUDA GPU when there is one, else the CPU), cpu or cuda; "
                   "CPU and GPU draw different (equally valid) noise for the same seed")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads; blocks of events are drawn in this many at once "
                   "(default 0: torch's, i.e. OMP_NUM_THREADS or the cores). The noise "
                   "does not depend on it")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="autocast dtype of the model's networks (spectral parts stay "
                   "float32; default fp32)")
    p.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                   help="condition of a conditional model, e.g. station=12 or lst=6.5 "
                   "(hours); repeatable; conditions not given are drawn from the training "
                   "events with the given values")
    p.add_argument("--conditions-from", metavar="TRACES",
                   help="take each event's conditions from the first N events of this "
                   "traces file (its station, readout_time, ... columns)")
    p.add_argument("--allow-unphysical", action="store_true",
                   help="write the noise even when it leaves the training data's envelope "
                   "(per-channel RMS beyond 1.5x either way, samples beyond twice the "
                   "training peak and the ADC range); default: stop with an error")
    p.add_argument("--force-large", action="store_true",
                   help="allow an output above 4 GB")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=run)


def output_bytes(generator: NoiseGenerator, n: int) -> int:
    """Bytes of ``/traces`` for ``n`` events of ``generator`` (float32)."""
    return int(n) * generator.n_channels * generator.n_samples * 4


def check_size(generator: NoiseGenerator, n: int, out: str, *,
               force_large: bool = False) -> None:
    """Announce outputs above 1 GB in the log (stderr); refuse those above 4 GB without
    ``force_large`` and those larger than the free space of the output folder."""
    size = output_bytes(generator, n)
    if size <= ANNOUNCE_BYTES:
        return
    what = (f"{n} events x {generator.n_channels} channels x {generator.n_samples} samples "
            f"(float32) = {size / 1e9:.1f} GB")
    if size > LARGE_BYTES and not force_large:
        raise ConfigError(f"{out}: {what}; pass --force-large to write more than "
                          f"{LARGE_BYTES / 1e9:g} GB, or draw fewer events (-n) in several "
                          "files with --start")
    folder = os.path.dirname(os.path.abspath(out))
    free = shutil.disk_usage(folder).free if os.path.isdir(folder) else None
    if free is not None and size > free:
        raise ConfigError(f"{out}: {what}, but {folder} has {free / 1e9:.1f} GB free")
    log_event(_LOG, f"writing {what}", path=out, bytes=size)


def write_samples(generator: NoiseGenerator, n: int, out: str, *, seed: int = 0,
                  stream: int = 0, start: int = 0, batch_size: int = 1024,
                  force: bool = False, quiet: bool = False, condition: Any = None,
                  on_unphysical: str = "raise") -> None:
    """Stream ``n`` generated events into ``out`` (canonical HDF5 layout), atomically.

    Events ``start .. start + n - 1`` of stream ``stream`` of ``seed`` (see
    :meth:`~rnognoise.generator.NoiseGenerator.sample`). For a conditional model, the
    conditions of every event (``condition`` as in ``sample``) are written as
    ``/events`` columns. With ``on_unphysical="raise"`` (the default) noise that leaves
    the training data's envelope stops the writing and leaves no file.
    """
    if n < 1:
        raise ConfigError(f"number of events must be >= 1, got {n}")
    events = generator.event_conditions(n, seed=seed, stream=stream, start=start,
                                        condition=condition)
    attrs = {"generated_by": generator.kind, "seed": seed, "stream": stream, "start": start}
    bar = progress(n, desc="sample", unit="ev", quiet=quiet)
    with HDF5Writer(out, n_events=n, channels=generator.channels,
                    n_samples=generator.n_samples, sampling_rate=generator.sampling_rate,
                    force=force, attrs=attrs) as writer:
        for batch in generator.iter_samples(n, seed=seed, stream=stream, start=start,
                                            batch_size=batch_size, condition=condition,
                                            on_unphysical=on_unphysical):
            lo = writer.written
            columns = {"event_number": np.arange(start + lo, start + lo + len(batch))}
            if events is not None:
                columns.update({c: events[c].to_numpy()[lo:lo + len(batch)]
                                for c in events.columns})
            writer.append(batch, pd.DataFrame(columns))
            bar.update(len(batch))
    bar.close()


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
    for name in ("stream", "start"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0, got {args.threads}")
    check_writable(args.out, force=args.force)
    import torch

    from ..generator import NoiseGenerator  # torch is imported only when needed

    if args.threads:
        torch.set_num_threads(args.threads)
    generator = NoiseGenerator.load(args.model, device=args.device)
    generator.precision = args.precision  # one of the parser's choices
    check_size(generator, args.events, args.out, force_large=args.force_large)
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
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PhysicalEnvelopeWarning)
            write_samples(generator, args.events, args.out, seed=args.seed, stream=args.stream,
                          start=args.start, batch_size=args.batch_size, force=args.force,
                          quiet=args.quiet, condition=condition,
                          on_unphysical="warn" if args.allow_unphysical else "raise")
        for warning in caught:  # one line each
            log_event(_LOG, str(warning.message), logging.WARNING)
    except UnphysicalOutputError as err:
        raise UnphysicalOutputError(err.path, f"{err.problem}; nothing was written (pass "
                                    "--allow-unphysical to write it anyway)") from None
    print(args.out)
    return 0
