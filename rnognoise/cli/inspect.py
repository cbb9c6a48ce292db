"""``rnognoise inspect FILE``: what a trace file holds."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

from ..io import open_traces
from ..io.rate import parse_sampling_rate

__all__ = ["add_parser", "inspect_file", "inspect_model", "run"]


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inspect", parents=parents, help="summarise a trace or model file",
                       description="Events, channels, samples, sampling rate (and where it came "
                       "from), units, trigger mix, station/run, per-channel RMS and file size "
                       "of an HDF5, RNO-G ROOT or npz file; or, for a model file, its kind, "
                       "layout, conditions and training record (read from its JSON "
                       "metadata; no tensor is loaded).")
    p.add_argument("path", help="HDF5 file, ROOT file, RNO-G run directory, .npz file or "
                   "model file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--trigger", default="all", metavar="TYPE",
                   help="trigger selection for the statistics: all (default), forced, rf, lt, "
                   "radiant, pps, ext or unknown (no flag set)")
    p.add_argument("--sampling-rate", type=parse_sampling_rate, metavar="HZ",
                   help="sampling rate in Hz (e.g. 3.2e9) for files that carry none "
                   "(default: the run's aux/runinfo.txt, else 3.2 GHz with a warning)")
    p.add_argument("--max-events", type=int, default=2000,
                   help="events read for the RMS estimate (default 2000)")
    p.set_defaults(handler=run)


def inspect_file(path: str, *, trigger: str = "all", max_events: int = 2000,
                 sampling_rate: float | None = None) -> dict[str, Any]:
    """Summary of a trace file as a JSON-ready dict (NaN/inf are counted, not refused).

    ``sampling_rate`` (Hz) is used for files that carry none (see
    :func:`rnognoise.io.open_traces`).
    """
    with open_traces(path, trigger=trigger, sampling_rate=sampling_rate) as source:
        info = source.info()
        n = min(source.n_events, max_events)
        sample = source.read_events(source.event_index[:n])
    summary = sample.summary()
    summary["n_events"] = source.n_events
    summary["n_events_used_for_rms"] = n
    summary["rms_mV"] = [round(r * 1e3, 4) for r in summary.pop("rms_volts")]
    summary["sampling_rate_GHz"] = summary.pop("sampling_rate_hz") / 1e9
    summary["trace_length_ns"] = sample.n_samples / sample.sampling_rate * 1e9
    summary["path"] = os.fspath(path)
    summary["file_size_bytes"] = _size(path)
    summary.update(info)
    return summary


def inspect_model(path: str) -> dict[str, Any]:
    """Summary of a model file from its metadata alone (nothing is unpickled or sampled)."""
    from ..modelfile import read_model_metadata

    doc = read_model_metadata(path)
    layout, config = doc["layout"], doc["config"]
    prov = doc.get("provenance") or {}
    scale = (doc.get("normalization") or {}).get("scale_volts") or []
    summary: dict[str, Any] = {
        "path": os.fspath(path),
        "kind": doc["kind"] if doc["kind"] != "conditional" else
        f"conditional ({config.get('base')})",
        "channels": layout["channels"],
        "n_samples": layout["n_samples"],
        "sampling_rate_GHz": layout["sampling_rate"] / 1e9,
        "trace_length_ns": layout["n_samples"] / layout["sampling_rate"] * 1e9,
        "units": doc["units"],
        "rms_mV": [round(float(v) * 1e3, 4) for v in scale],
    }
    if doc["kind"] == "conditional":
        specs = config.get("conditions", [])
        summary["conditions"] = [f"{c['name']} ({c['kind']})" for c in specs]
        categorical = [c["name"] for c in specs if c["kind"] == "categorical"]
        summary["cells"] = [",".join(f"{n}={v}" for n, v in zip(categorical, cell,
                                                                 strict=True)) or "all"
                            for cell in config.get("cells", [])]
        if config.get("groups"):
            summary["channel_groups"] = config["groups"]
    for key in ("source", "n_events", "n_train_events", "n_validation_events", "trigger",
                "seed", "train_steps", "train_time_s", "stopped_by", "best_step",
                "best_validation_score", "fit_wall_s", "device", "created_utc",
                "rnognoise_version"):
        if key in prov:
            summary[key] = prov[key]
    summary.update(_fit_record(prov))
    summary["file_size_bytes"] = _size(path)
    return summary


def _fit_record(prov: dict[str, Any]) -> dict[str, Any]:
    """The held-out check, the kept components, the fixed pattern and the training
    envelope, one line each."""
    out: dict[str, Any] = {}
    check = prov.get("heldout_check")
    if isinstance(check, dict):
        worse = "worse than" if check.get("worse_than_baseline") else "not worse than"
        out["heldout_check"] = (
            f"{worse} the baseline: score {check.get('model_score', float('nan')):.3g} vs "
            f"{check.get('baseline_score', float('nan')):.3g}, AUC "
            f"{check.get('model_auc') or float('nan'):.3g} vs "
            f"{check.get('baseline_auc') or float('nan'):.3g} on {check.get('n_events')} "
            "held-out events"
            + (f"; score {check.get('train_model_score') or float('nan'):.3g} vs "
               f"{check.get('train_baseline_score') or float('nan'):.3g} on "
               f"{check['n_train_events']} training events" if check.get("n_train_events")
               else "")
            + ("" if check.get("conclusive", True) else " (inconclusive)"))
    comps = prov.get("components")
    if isinstance(comps, dict):
        out["components_kept"] = list(comps.get("kept", []))
        out["components_dropped"] = list(comps.get("dropped", []))
        pattern = (comps.get("found") or {}).get("pattern")
        if isinstance(pattern, dict) and pattern.get("channels"):
            # per channel the RMS of the fixed pattern drawn, in units of the channel's RMS
            out["fixed_pattern_rms"] = [round(float(c.get("rms", 0.0)), 4)
                                        if c.get("significant") else 0.0
                                        for c in pattern["channels"]]
    env = prov.get("envelope")
    if isinstance(env, dict) and env.get("rms_volts"):
        out["envelope_rms_mV"] = [round(float(v) * 1e3, 4) for v in env["rms_volts"]]
        out["envelope_peak_mV"] = [round(float(v) * 1e3, 3) for v in env.get("peak_volts") or []]
    sat = prov.get("saturation_volts")
    if isinstance(sat, dict):
        for side in ("low", "high"):
            out[f"saturation_{side}_mV"] = [None if v is None else round(float(v) * 1e3, 3)
                                            for v in sat.get(side) or []]
    return out


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def run(args: argparse.Namespace) -> int:
    from ..modelfile import is_model_file

    if os.path.isfile(args.path) and is_model_file(args.path):
        summary = inspect_model(args.path)
    else:
        summary = inspect_file(args.path, trigger=args.trigger, max_events=args.max_events,
                               sampling_rate=args.sampling_rate)
    if args.json:
        print(json.dumps(summary, indent=2, default=_json_default))
        return 0
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
