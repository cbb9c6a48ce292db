"""``rnognoise fit TRACES``: fit a noise model and write a model file."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..io.rate import parse_sampling_rate
from ..logs import get_logger, log_event

__all__ = ["FIT_KINDS", "add_parser", "run"]

#: Kinds ``--model`` accepts (conditional models: a kind plus ``--condition``).
FIT_KINDS = ["baseline", "vae", "wgan-gp"]


def _parse_channels(text: str | None) -> list[int] | None:
    if not text:
        return None
    return [int(c) for c in text.split(",") if c.strip()]


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fit", parents=parents, help="fit a noise model to recorded traces",
                       description="Fit a noise model (baseline, wgan-gp or vae) to the "
                       "traces of an HDF5 or RNO-G ROOT file and write a model file "
                       "(safetensors). Checkpoints go to MODEL.ckpt/; the same command with "
                       "--resume continues an interrupted run. Under torchrun, --distributed "
                       "trains on every rank with averaged gradients (see docs/scaling.md).")
    p.add_argument("traces", help="HDF5 file, ROOT file or RNO-G run directory")
    p.add_argument("--model", default="wgan-gp", metavar="KIND",
                   help=f"model kind: {', '.join(FIT_KINDS)} (default: wgan-gp; with "
                   "--condition, the kind of each sub-model)")
    p.add_argument("--out", help="model file (default: TRACES stem + .MODEL.safetensors)")
    p.add_argument("--max-minutes", type=float, help="wall-clock training budget in minutes "
                   "(default 15 when no --steps/--epochs)")
    p.add_argument("--epochs", type=float, help="passes over the training events")
    p.add_argument("--steps", type=int, help="optimisation steps")
    p.add_argument("--batch-size", type=int, default=64,
                   help="events per training batch (default 64; the global batch under "
                   "--distributed)")
    p.add_argument("--lr", type=float, help="learning rate (model default)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the held-out split, the initialisation and the batches "
                   "(default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--channels", help="comma-separated channel ids (default: all)")
    p.add_argument("--trigger", default="forced", metavar="TYPE",
                   help="events to fit: forced (default; noise-only), all, rf, lt, radiant, "
                   "pps, ext or unknown (no trigger flag set)")
    p.add_argument("--sampling-rate", type=parse_sampling_rate, metavar="HZ",
                   help="sampling rate in Hz (e.g. 3.2e9) for files that carry none "
                   "(default: the run's aux/runinfo.txt, else 3.2 GHz with a warning)")
    p.add_argument("--max-events", type=int, default=20000,
                   help="events held in memory at most (default 20000); a file with more "
                   "is streamed in shuffled windows (see --no-stream)")
    p.add_argument("--no-stream", dest="stream", action="store_false", default=None,
                   help="read a random subset of --max-events events instead of streaming "
                   "a larger file")
    p.add_argument("--buffer-events", type=int, default=4096, metavar="N",
                   help="shuffle window of a streamed fit in events (default 4096)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="model hyper-parameter (JSON value), repeatable")
    p.add_argument("--condition", metavar="NAMES",
                   help="comma-separated conditions, e.g. station,channel_group,lst (any "
                   "per-event column; lst = local sidereal time from readout_time): one "
                   "sub-model per station/channel group, spectra modulated by lst "
                   "(docs/models.md, 'Conditional models')")
    p.add_argument("--longitude", type=float, metavar="DEG",
                   help="east longitude for the sidereal time (default: RNO-G, -38.46)")
    p.add_argument("--eval-every", type=int, default=200, metavar="STEPS",
                   help="steps between held-out validation scores that keep the best "
                   "weights (default 200; 0: at the start and the end only)")
    p.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS",
                   help="steps between checkpoints in OUT.ckpt/ (default 200; also every "
                   "few minutes)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt/")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing model file; keep a model that scores worse "
                   "than the baseline on held-out events")
    p.add_argument("--distributed", action="store_true",
                   help="one rank of a torchrun job (gloo on CPU, nccl on CUDA); "
                   "--batch-size is the global batch. On by itself when started by "
                   "torchrun (WORLD_SIZE set)")
    p.set_defaults(handler=run)


def _parse_options(items: list[str]) -> dict[str, object]:
    from ..errors import ConfigError

    options: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--option {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def run(args: argparse.Namespace) -> int:
    out = args.out or str(Path(args.traces).with_suffix("")) + f".{args.model}.safetensors"
    from ..conditions import parse_condition_names
    from ..train import fit  # torch is imported only when a command needs it

    extra = {} if args.longitude is None else {"longitude_deg": args.longitude}
    result = fit(
        args.traces, out, model=args.model, model_options=_parse_options(args.option),
        max_minutes=args.max_minutes, steps=args.steps, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
        channels=_parse_channels(args.channels), trigger=args.trigger,
        sampling_rate=args.sampling_rate, max_events=args.max_events, stream=args.stream,
        buffer_events=args.buffer_events, eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every, resume=args.resume, force=args.force,
        quiet=args.quiet, distributed=args.distributed or "WORLD_SIZE" in os.environ,
        conditions=parse_condition_names(args.condition) or None, **extra)
    log_event(get_logger("cli"), "done", model=str(result.model_path),
              fit_wall_s=result.provenance["fit_wall_s"])
    if result.model_path is not None:  # rank 0 only when distributed
        print(result.model_path)
    return 0
