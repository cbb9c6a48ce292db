"""``rnognoise validate REAL GENERATED``: is the generated noise like the real noise?"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..conditions import parse_condition_names
from ..errors import ConfigError
from ..io import TraceSet, read_traces
from ..io.rate import parse_sampling_rate
from ..logs import get_logger, log_event

__all__ = ["add_parser", "load_generated", "run"]

_log = get_logger("validate")


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate", parents=parents, help="compare generated noise with real noise",
        description="Compare GENERATED noise (a traces file, or a model file from which as "
        "many events as REAL holds are sampled) with REAL noise: spectra, amplitudes, tails, "
        "lines, digitizer blocks, cross-channel correlation, trigger rates and two-sample "
        "tests, each beside its real-vs-real reference, with a pass/warn/fail verdict.")
    p.add_argument("real", help="real noise: HDF5 file, ROOT file or RNO-G run directory")
    p.add_argument("generated", help="generated noise: a traces file or a model file")
    p.add_argument("--trigger", default="forced", metavar="TYPE",
                   help="events of REAL to compare: forced (default; noise-only), all, rf, lt, "
                   "radiant, pps, ext or unknown (no trigger flag set)")
    p.add_argument("--sampling-rate", type=parse_sampling_rate, metavar="HZ",
                   help="sampling rate of REAL in Hz (e.g. 3.2e9) when the file carries none "
                   "(default: the run's aux/runinfo.txt, else 3.2 GHz with a warning)")
    p.add_argument("--report", metavar="DIR",
                   help="write DIR/metrics.json and DIR/report.html (created if missing)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--pdf", action="store_true", help="also write DIR/report.pdf")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the subsets and the model sampling (default 0)")
    p.add_argument("--force", action="store_true", help="overwrite existing report files")
    p.add_argument("--quick", action="store_true",
                   help="skip the classifier test, Frechet distance and trigger curves")
    p.add_argument("--no-c2st", action="store_true", help="skip the classifier test")
    p.add_argument("--band", nargs=2, type=float, metavar=("FMIN_MHZ", "FMAX_MHZ"),
                   help="band of the spectral summaries in MHz (default: from the real data)")
    p.add_argument("--by", metavar="NAMES",
                   help="also compare per condition, e.g. station,lst: one quick comparison "
                   "per station / LST bin / quantile bin of a float column, each against "
                   "its own real-vs-real reference, plus the band power of every group")
    p.add_argument("--lst-bins", type=int, metavar="N",
                   help="with --by ...lst: number of equal LST bins (default 4, i.e. 6 h)")
    p.add_argument("--min-events", type=int, metavar="N",
                   help="with --by: skip groups with fewer events in either set (default 50)")
    p.set_defaults(handler=run)


def load_generated(path: str | os.PathLike[str], n_events: int, *, seed: int = 0,
                   real: TraceSet | None = None) -> TraceSet:
    """Read a generated traces file, or sample ``n_events`` from a model file (seeded).

    A conditional model (one with ``condition_names``) is sampled with the conditions
    of the events of ``real`` (one generated event per real event), so that both sets
    cover the same stations, times, ...; its events then carry the condition columns.
    An unconditional model's events are labelled with ``real``'s event columns, so that
    ``--by`` shows how it fares for each condition it was not told about.

    Raises
    ------
    ConfigError
        A conditional model without ``real``.
    """
    try:
        from ..modelfile import is_model_file
    except ImportError:  # pragma: no cover - model files not supported in this build
        is_model_file = None
    if is_model_file is not None and Path(path).is_file() and is_model_file(path):
        import numpy as np

        from ..generator import NoiseGenerator

        gen = NoiseGenerator.load(path)
        attrs = {"model_metadata": dict(getattr(gen, "metadata", {}) or {}),
                 "sample_seed": seed}
        conditions = list(getattr(gen, "condition_names", []) or [])
        if conditions:
            if real is None:
                raise ConfigError(f"{path}: the model is conditional on "
                                  f"{', '.join(conditions)}; sampling needs the real events")
            ts = gen.sample_traceset(real.n_events, seed=seed, condition=real.events)
            return TraceSet(ts.traces, ts.sampling_rate, ts.channels, ts.events, ts.units,
                            os.fspath(path), {**ts.attrs, **attrs,
                                              "conditions_from": str(real.source)})
        traces = gen.sample(n_events, seed=seed)
        events = None
        if real is not None and n_events == real.n_events:
            # an unconditional model's events are labelled with the real events' conditions:
            # per-condition validation then judges it as if it were used for each of them
            events = real.events.reset_index(drop=True)
            attrs["conditions_from"] = str(real.source)
        return TraceSet(np.asarray(traces, np.float32), gen.sampling_rate, gen.channels,
                        events, source=os.fspath(path), attrs=attrs)
    return read_traces(path)


def run(args: argparse.Namespace) -> int:
    from ..metrics import compare

    if args.pdf and not args.report:
        raise ConfigError("--pdf needs --report DIR")
    by = parse_condition_names(args.by)
    if args.by is not None and not by:
        raise ConfigError("--by: give condition names, e.g. --by station,lst")
    for flag, value in (("--lst-bins", args.lst_bins), ("--min-events", args.min_events)):
        if value is not None and not by:
            raise ConfigError(f"{flag} needs --by")
    if args.report:
        from ..report import check_report_dir

        check_report_dir(args.report, force=args.force, pdf=args.pdf)
    band = None
    if args.band:
        band = (args.band[0] * 1e6, args.band[1] * 1e6)
        if not 0 <= band[0] < band[1]:
            raise ConfigError(f"--band: need 0 <= FMIN < FMAX, got {args.band[0]} "
                              f"{args.band[1]} MHz")
    real = read_traces(args.real, trigger=args.trigger, sampling_rate=args.sampling_rate)
    generated = load_generated(args.generated, real.n_events, seed=args.seed, real=real)
    by_condition = None
    if by:
        from ..metrics import compare_by_condition

        log_event(_log, "comparing per condition", by=",".join(by))
        by_condition = compare_by_condition(
            real, generated, by, lst_bins=4 if args.lst_bins is None else args.lst_bins,
            min_events=50 if args.min_events is None else args.min_events, seed=args.seed,
            band=band)
    log_event(_log, "comparing", real=real.n_events, generated=generated.n_events)
    report = compare(real, generated, seed=args.seed, band=band, c2st=not args.no_c2st,
                     quick=args.quick)
    if args.report:
        from ..report import write_report

        paths = write_report(report, args.report, force=args.force, pdf=args.pdf,
                             by_condition=by_condition)
        log_event(_log, "report written", **{k: str(v) for k, v in paths.items()})
    if args.json:
        data = report.to_dict()
        if by_condition is not None:
            data["by_condition"] = by_condition.to_dict()
        print(json.dumps(data, indent=1))
    else:
        print(report)
        if by_condition is not None:
            print("\n" + by_condition.table())
    return 0
