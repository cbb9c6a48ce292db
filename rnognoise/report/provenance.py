"""Where the compared events came from: a short provenance block of the real events
(file, stations, runs, time span, trigger types, event counts) and of the model file
(training source and events, held-out check, kept components, physical envelope).

:func:`event_provenance` summarises a :class:`~rnognoise.io.TraceSet`'s per-event table;
:func:`model_provenance` picks what a physicist needs from a model file's metadata;
:func:`provenance_section` renders both as HTML.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from ..io import TraceSet

__all__ = ["event_provenance", "model_provenance", "provenance_section"]

#: Per-event columns the RNO-G readers fill (ROOT, npz, HDF5), in display order.
EVENT_COLUMNS = ("station", "run_number", "event_number", "readout_time", "trigger_type")


def _counts(values: pd.Series) -> dict[str, int]:
    counts = values.astype(str).value_counts(sort=False)
    keys = sorted(counts.index, key=lambda k: (not k.lstrip("-").isdigit(),
                                              int(k) if k.lstrip("-").isdigit() else 0, k))
    return {k: int(counts[k]) for k in keys}


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def event_provenance(ts: TraceSet) -> dict[str, Any]:
    """Summary of where the events of ``ts`` came from, JSON-ready.

    Parameters
    ----------
    ts : TraceSet
        Real events as a reader returned them (``events`` with ``station``,
        ``run_number``, ``event_number``, ``readout_time`` (unix s) and ``trigger_type``
        where the file has them).

    Returns
    -------
    dict
        ``file``, ``n_events``, ``stations`` / ``runs`` / ``trigger_types`` (events per
        value), ``event_numbers`` (first, last), ``time_span_utc`` (first, last readout
        time) with ``duration_s``, and ``missing``: the columns the file does not carry.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ev = pd.DataFrame({"station": [24, 24], "trigger_type": ["FORCE", "FORCE"]})
    >>> p = event_provenance(TraceSet(np.zeros((2, 1, 8), np.float32), 3.2e9, [12], ev))
    >>> p["stations"], p["trigger_types"], p["missing"]
    ({'24': 2}, {'FORCE': 2}, ['run_number', 'event_number', 'readout_time'])
    """
    ev = ts.events if ts.events is not None else pd.DataFrame()
    out: dict[str, Any] = {"file": ts.source, "n_events": int(ts.n_events)}
    if "station" in ev:
        out["stations"] = _counts(ev["station"])
    if "run_number" in ev:
        out["runs"] = _counts(ev["run_number"])
    if "trigger_type" in ev:
        out["trigger_types"] = _counts(ev["trigger_type"])
    if "event_number" in ev and len(ev):
        numbers = pd.to_numeric(ev["event_number"], errors="coerce").dropna()
        if len(numbers):
            out["event_numbers"] = [int(numbers.min()), int(numbers.max())]
    if "readout_time" in ev and len(ev):
        t = pd.to_numeric(ev["readout_time"], errors="coerce").to_numpy(float)
        t = t[np.isfinite(t)]
        if t.size:
            out["time_span_utc"] = [_utc(float(t.min())), _utc(float(t.max()))]
            out["duration_s"] = round(float(t.max() - t.min()), 3)
    out["missing"] = [c for c in EVENT_COLUMNS if c not in ev]
    trigger = ts.attrs.get("trigger") if isinstance(ts.attrs, dict) else None
    if trigger is not None:
        out["trigger_selection"] = str(trigger)
    return out


def model_provenance(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a physicist needs from a model file's metadata, or None without one.

    Returns
    -------
    dict or None
        ``kind``, ``source`` (training file), ``n_events`` / ``n_train_events`` /
        ``n_validation_events``, ``trigger``, ``seed``, ``created_utc``, ``fit_wall_s``,
        training steps, ``heldout_check`` (model vs baseline score on held-out events),
        ``components`` (kept / dropped structured components), ``envelope`` (per-channel
        RMS and peak of the training events, volts) and ``training_events`` (station, run,
        time span of the training events, when the file records them; else None).
    """
    if not metadata or "kind" not in metadata:
        return None
    prov = metadata.get("provenance") or {}
    out: dict[str, Any] = {"kind": metadata.get("kind")}
    for key in ("source", "n_events", "n_train_events", "n_validation_events", "trigger",
                "seed", "created_utc", "fit_wall_s", "train_steps", "stopped_by", "best_step",
                "best_validation_score", "rnognoise_version"):
        if key in prov:
            out[key] = prov[key]
    out["heldout_check"] = prov.get("heldout_check")
    comps = prov.get("components")
    out["components"] = ({"kept": list(comps.get("kept", [])),
                          "dropped": list(comps.get("dropped", []))}
                         if isinstance(comps, dict) else None)
    out["envelope"] = prov.get("envelope")
    out["training_events"] = prov.get("events")
    out["channels"] = (metadata.get("layout") or {}).get("channels")
    return out


def _training_text(check: dict[str, Any]) -> str:
    """The held-out check's scores on training events, where it has them."""
    if not check.get("n_train_events"):
        return ""
    return (f"; on {check['n_train_events']} training events score "
            f"{_num(check.get('train_model_score'))} vs "
            f"{_num(check.get('train_baseline_score'))}")


# -- HTML ---------------------------------------------------------------------------------

def _num(x: Any, fmt: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, fmt) if isinstance(x, (int, float)) else str(x)


def _counts_text(counts: dict[str, int] | None, unit: str, limit: int = 8) -> str:
    if not counts:
        return "not recorded"
    items = list(counts.items())
    text = ", ".join(f"{k} ({v})" for k, v in items[:limit])
    if len(items) > limit:
        text += f", ... {len(items) - limit} more {unit}"
    return text


def _events_rows(p: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("file", str(p.get("file"))), ("events", str(p.get("n_events"))),
            ("stations (events)", _counts_text(p.get("stations"), "stations")),
            ("runs (events)", _counts_text(p.get("runs"), "runs")),
            ("trigger types (events)", _counts_text(p.get("trigger_types"), "types"))]
    if p.get("trigger_selection"):
        rows.append(("trigger selection", p["trigger_selection"]))
    if "event_numbers" in p:
        rows.append(("event numbers", f"{p['event_numbers'][0]} - {p['event_numbers'][1]}"))
    if "time_span_utc" in p:
        a, b = p["time_span_utc"]
        rows.append(("readout time", f"{a} - {b} ({_num(p.get('duration_s'), '.4g')} s)"))
    else:
        rows.append(("readout time", "not recorded"))
    if p.get("missing"):
        rows.append(("not in the file", ", ".join(p["missing"])))
    return rows


def _envelope_text(env: dict[str, Any] | None, channels: list[int] | None) -> str:
    if not env or not env.get("rms_volts"):
        return "not recorded (a model from an older rnognoise)"
    rms = np.asarray(env["rms_volts"], float) * 1e3
    peak = np.asarray(env.get("peak_volts") or [np.nan] * rms.size, float) * 1e3
    if rms.size <= 4:
        chans = channels or list(range(rms.size))
        return "; ".join(f"ch {c}: RMS {r:.3g} mV, peak {p:.3g} mV"
                         for c, r, p in zip(chans, rms, peak, strict=False))
    return (f"RMS {rms.min():.3g}-{rms.max():.3g} mV, peak {np.nanmin(peak):.3g}-"
            f"{np.nanmax(peak):.3g} mV over {rms.size} channels")


def _model_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("kind", str(m.get("kind"))), ("trained on", str(m.get("source"))),
            ("events", f"{_num(m.get('n_events'))} ({_num(m.get('n_train_events'))} training, "
                       f"{_num(m.get('n_validation_events'))} held out); trigger "
                       f"{m.get('trigger', 'n/a')}; seed {m.get('seed', 'n/a')}")]
    if "fit_wall_s" in m:
        steps = (f"; {m['train_steps']} steps, stopped by {m.get('stopped_by')}, best step "
                 f"{m.get('best_step')}" if "train_steps" in m else "")
        rows.append(("fit", f"{_num(m['fit_wall_s'], '.4g')} s wall{steps}; "
                            f"{m.get('created_utc', '')}"))
    check = m.get("heldout_check")
    if check:
        verdict = ("worse than the baseline" if check.get("worse_than_baseline")
                   else "not worse than the baseline")
        note = ("" if check.get("conclusive", True) else
                "; inconclusive: too few held-out events to decide")
        rows.append(("held-out check", f"{verdict}: score {_num(check.get('model_score'))} vs "
                     f"baseline {_num(check.get('baseline_score'))} (lower is better), C2ST "
                     f"AUC {_num(check.get('model_auc'))} vs {_num(check.get('baseline_auc'))}"
                     f", {check.get('n_events')} held-out events{_training_text(check)}"
                     f"{note}"))
    else:
        rows.append(("held-out check", "not recorded (too few held-out events, or an older "
                     "model file)"))
    comps = m.get("components")
    if comps is not None:
        rows.append(("components", f"kept: {', '.join(comps['kept']) or 'none'}; dropped: "
                     f"{', '.join(comps['dropped']) or 'none'}"))
    rows.append(("training envelope", _envelope_text(m.get("envelope"), m.get("channels"))))
    te = m.get("training_events")
    if isinstance(te, dict):
        span = te.get("time_span_utc")
        rows.append(("training events", f"stations {_counts_text(te.get('stations'), 'stations')}"
                     f"; runs {_counts_text(te.get('runs'), 'runs')}"
                     + (f"; {span[0]} - {span[1]}" if span else "")))
    else:
        rows.append(("training events", "station, run and time span not recorded in the "
                     "model file"))
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    e = html.escape
    return ("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
            + "</table>")


def provenance_section(events: dict[str, Any] | None,
                       model: dict[str, Any] | None) -> list[str]:
    """HTML of the provenance block: the real events and, from a model file, the model."""
    parts = ["<h2>Where the events came from</h2>"]
    if events:
        parts += ["<h3>Real events</h3>", _table(_events_rows(events))]
    else:
        parts.append("<p class='small'>Real events: no per-event record (station, run, time, "
                     "trigger) was passed to the report.</p>")
    if model:
        parts += ["<h3>Model</h3>", _table(_model_rows(model))]
    return parts
