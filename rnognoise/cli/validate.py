"""``rnognoise validate REAL GENERATED``: is the generated noise like the real noise?"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

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
    p.add_argument("--summary", action="store_true",
                   help="print the verdict and the rows that fail or warn, not the full "
                   "table (the report holds it)")
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
    p.add_argument("--generated-factor", type=float, default=10.0, metavar="K",
                   help="from a model, draw K times as many events as REAL holds (default 10), "
                   "within --time-budget: generated noise is cheap, and its own sampling "
                   "noise should not hide a difference")
    p.add_argument("--time-budget", type=float, default=120.0, metavar="S",
                   help="seconds allowed for drawing from a model (default 120; at least as "
                   "many events as REAL holds are always drawn)")
    p.add_argument("--nuradio-reference", action="store_true",
                   help="also compare NuRadioMC's generic band-limited noise (fitted to the "
                   "real band and RMS) with REAL and show it as a reference column "
                   "(skipped with a warning when NuRadioMC is not installed)")
    p.add_argument("--no-memorisation", action="store_true",
                   help="skip the memorisation check (nearest training event distances)")
    p.set_defaults(handler=run)


def load_generated(path: str | os.PathLike[str], n_events: int, *, seed: int = 0,
                   real: TraceSet | None = None, factor: float = 1.0,
                   time_budget: float | None = None) -> TraceSet:
    """Read a generated traces file, or sample from a model file (seeded).

    From a model, ``round(factor * n_events)`` events are drawn in chunks until that many
    are drawn or ``time_budget`` seconds have passed (at least ``n_events`` are always
    drawn), and at most 2 GiB of traces.

    A conditional model (one with ``condition_names``) is sampled with the conditions
    of the events of ``real`` (each real event's conditions used in turn), so that both
    sets cover the same stations, times, ...; its events then carry the condition columns.
    An unconditional model's events are labelled with ``real``'s event columns (repeated),
    so that ``--by`` shows how it fares for each condition it was not told about.

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
        if conditions and real is None:
            raise ConfigError(f"{path}: the model is conditional on "
                              f"{', '.join(conditions)}; sampling needs the real events")
        ts = _draw(gen, n_events, max(1.0, factor), time_budget, seed,
                   real if conditions else None)
        traces, events = ts.traces, ts.events if conditions else None
        attrs.update(ts.attrs)
        attrs["requested_events"] = int(round(max(1.0, factor) * n_events))
        if real is not None and (conditions or traces.shape[0] % real.n_events == 0):
            # an unconditional model's events are labelled with the real events' conditions:
            # per-condition validation then judges it as if it were used for each of them
            if not conditions:
                events = _tile_events(real, traces.shape[0])
            attrs["conditions_from"] = str(real.source)
        return TraceSet(np.asarray(traces, np.float32), gen.sampling_rate, gen.channels,
                        events, source=os.fspath(path), attrs=attrs)
    return read_traces(path)


def _tile_events(real: TraceSet, n: int) -> pd.DataFrame:
    reps = -(-n // real.n_events)
    return pd.concat([real.events] * reps, ignore_index=True).iloc[:n].reset_index(drop=True)


def _draw(gen: object, n_events: int, factor: float, time_budget: float | None, seed: int,
          real: TraceSet | None) -> TraceSet:
    """Draw ``n_events`` events, then more in chunks up to ``factor`` x within the budget.

    Chunk ``k`` is drawn with seed ``seed + k``.
    """
    import numpy as np

    target = int(round(factor * n_events))
    started = time.perf_counter()
    chunks, events, attrs, done, k = [], [], {}, 0, 0
    while done < target:
        n = n_events if k == 0 else min(n_events, target - done)
        if real is not None:
            cond = _tile_events(real, done + n).iloc[done:].reset_index(drop=True)
            ts = gen.sample_traceset(n, seed=seed + k, condition=cond)
            chunks.append(ts.traces)
            events.append(ts.events)
            attrs = {**dict(ts.attrs), **attrs}
        else:
            chunks.append(np.asarray(gen.sample(n, seed=seed + k), np.float32))
        if k == 0:  # at most 2 GiB of traces
            per_event = max(chunks[0][0].nbytes, 1)
            target = max(n_events, min(target, (2 << 30) // per_event))
        done += n
        k += 1
        elapsed = time.perf_counter() - started
        if time_budget is not None and done < target and elapsed * (done + n) / done > time_budget:
            break
    traces = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    ev = pd.concat(events, ignore_index=True) if events else None
    return TraceSet(traces, gen.sampling_rate, gen.channels, ev,
                    attrs={**attrs, "sample_seconds": round(time.perf_counter() - started, 2),
                           "sample_chunks": k})


def _missing_folders(directory: str) -> list[Path]:
    """``directory`` and its parents that do not exist yet, deepest first."""
    missing, d = [], Path(directory).absolute()
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    return missing


def run(args: argparse.Namespace) -> int:
    created = _missing_folders(args.report) if args.report else []
    try:
        return _run(args)
    except BaseException:
        for folder in created:  # a failed run leaves no empty report folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _run(args: argparse.Namespace) -> int:
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
    if args.generated_factor < 1 or args.time_budget <= 0:
        raise ConfigError("--generated-factor must be >= 1 and --time-budget > 0")
    generated = load_generated(args.generated, real.n_events, seed=args.seed, real=real,
                               factor=args.generated_factor, time_budget=args.time_budget)
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
    from ..report import event_provenance

    report.provenance_real["events"] = event_provenance(real)
    if not args.no_memorisation:
        _add_memorisation(report, real, generated, args.seed)
    if (generated.attrs.get("model_metadata") or {}).get("kind") == "vae":
        _add_latent(report, args.generated, real, args.seed)
    reference = _nuradio_reference(real, report, args) if args.nuradio_reference else None
    _output(args, report, by_condition, reference)
    return 0


def _add_memorisation(report: Any, real: TraceSet, generated: TraceSet, seed: int) -> None:
    """Run the memorisation check and add its row and details to ``report``."""
    from ..metrics.memorisation import memorisation_check, memorisation_row, split_from_provenance
    from ..metrics.rows import RowBuilder

    metadata = generated.attrs.get("model_metadata") or {}
    split = split_from_provenance(metadata.get("provenance"), real.n_events)
    if isinstance(split, str):
        note = f"training split unknown ({split}): leave-one-out within the real events"
        split = None
    else:
        note = (f"training events from the model's recorded split: {split[0].size} training, "
                f"{split[1].size} held-out")
    log_event(_log, "memorisation check", mode="split" if split else "leave-one-out")
    result = memorisation_check(real.traces, generated.traces, real.sampling_rate, report.band,
                                split=split, note=note, seed=seed)
    rows = RowBuilder(real.channels)
    memorisation_row(rows, result)
    report.rows += rows.rows
    report.details["memorisation"] = result.to_dict()
    import numpy as np

    report.details["memorisation_distances"] = {
        "generated": result.generated_distances, "heldout": result.heldout_distances,
        "cut": float(np.quantile(result.heldout_distances, result.expected)),
        "heldout_label": "held-out real" if result.mode == "split" else "real (leave-one-out)"}


def _add_latent(report: Any, path: str, real: TraceSet, seed: int) -> None:
    """The VAE's latent map of the real events (``report.details["latent"]``)."""
    from ..modelfile import load_model
    from ..report import latent_map

    model, _ = load_model(path)
    if not bool(model.vae.encoder_fitted > 0):
        log_event(_log, "no VAE latent map: the model file has no fitted encoder (an older "
                  "design; refit it)", level=logging.WARNING)
        return
    log_event(_log, "VAE latent map", events=real.n_events)
    ordered = real.select_channels(list(model.layout.channels))
    report.details["latent"] = latent_map(model, ordered, report.band, seed=seed)


def _nuradio_reference(real: TraceSet, report: Any, args: argparse.Namespace) -> Any:
    """NuRadioMC generic noise compared with ``real`` as ``report`` was, or None if absent."""
    from ..metrics import compare
    from ..metrics.reference import nuradio_available, nuradio_reference

    if not nuradio_available():
        _log.warning("--nuradio-reference: NuRadioMC is not installed; reference column "
                     "skipped (pip install NuRadioMC)")
        return None
    n = min(report.sizes["generated_used"], max(real.n_events, 2000))
    log_event(_log, "NuRadioMC reference", events=n)
    ref_set = nuradio_reference(real, n, report.band, seed=args.seed)
    return compare(real, ref_set, seed=args.seed, band=report.band, c2st=not args.no_c2st,
                   quick=args.quick)


def _output(args: argparse.Namespace, report: Any, by_condition: Any, reference: Any) -> None:
    from ..metrics import final_verdict
    from ..report import report_dict

    if args.report:
        from ..report import write_report

        paths = write_report(report, args.report, force=args.force, pdf=args.pdf,
                             by_condition=by_condition, reference=reference)
        log_event(_log, "report written", **{k: str(v) for k, v in paths.items()})
    if args.json:
        print(json.dumps(report_dict(report, by_condition=by_condition, reference=reference),
                         indent=1))
        return
    verdict = final_verdict(report, by_condition)
    s = report.sizes
    print(f"VERDICT {verdict.verdict.upper()}  (score {report.score():.3g}; 0 = like real "
          f"data; {s['real']} real vs {s['generated_used']} generated events)")
    print(f"rule: {verdict.rule}")
    print(f"band {report.band[0] / 1e6:.0f}-{report.band[1] / 1e6:.0f} MHz: "
          f"{report.band_reason}")
    if verdict.reasons:
        print(f"{len(verdict.reasons)} rows fail or warn:")
        for line in verdict.reasons:
            print(f"  {line}")
    if verdict.limited:
        print(f"{len(verdict.limited)} passing rows are sample-size limited (marked "
              "'limited' below)")
    if reference is not None:
        print(f"reference (NuRadioMC generic noise): result {reference.verdict.upper()}, "
              f"score {reference.score():.3g}")
    if args.summary:
        return
    print("\n" + report.table())
    if by_condition is not None:
        print("\n" + by_condition.table())
