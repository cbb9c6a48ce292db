"""A full RNO-G station: fit, sample and validate 24 channels on a small CPU budget.

Usage::

    OMP_NUM_THREADS=1 python bench/station24.py [--events 600] [--minutes 2]
        [--models baseline,wgan-gp] [--sample-events 2000] [--workdir DIR] [--json OUT]

Steps, each in its own process (so that its peak resident memory is its own: a small
wrapper prints ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that process):

1. ``rnognoise simulate DIR/station24.h5 --channels 24 --events N`` (embedded simulator,
   3.2 GHz, 2048 samples; channel ids 0-23, so the RNO-G channel groups apply);
2. ``rnognoise fit --model M --max-minutes T`` for each model (wall time, peak RSS);
3. sampling speed: ``NoiseGenerator.sample`` of ``--sample-events`` events after a warm-up
   draw, best of 2 (events/s, 24 x 2048 samples an event);
4. ``rnognoise validate DIR/station24.h5 MODEL --report DIR/report-M
   --generated-factor 2`` (wall time, peak RSS; the report with its channel-group figures).

Stages whose output already exists in ``--workdir`` (and whose figures are in its
``results.json``) are not run again. Prints the machine line (``bench/hostinfo.py``) and
one line per stage; ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hostinfo import machine_info, machine_line

__all__ = ["main", "run_stage"]

SAMPLE_SNIPPET = r"""
import json, sys, time
from rnognoise.generator import NoiseGenerator
gen = NoiseGenerator.load(sys.argv[1], device="cpu")
n = int(sys.argv[2])
gen.sample(min(n, 64), seed=1)
best = float("inf")
for k in range(2):
    t0 = time.perf_counter()
    x = gen.sample(n, seed=2 + k)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"events": n, "seconds": best, "events_per_s": n / best,
                  "shape": list(x.shape)}))
"""


def run_stage(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; return its wall time (s), peak RSS (MiB), exit status and stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    out, err = proc.communicate()
    # the child runs under WRAPPER, which prints its own getrusage peak on stderr
    wall = time.perf_counter() - started
    peak = float("nan")
    lines = err.splitlines()
    for line in lines:
        if line.startswith("STATION24_MAXRSS_KIB "):
            peak = int(line.split()[1]) / 1024
    tail = [x for x in lines if not x.startswith("STATION24_MAXRSS_KIB ")][-5:]
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak, 0),
            "returncode": proc.returncode, "stdout": out, "stderr_tail": tail}


WRAPPER = r"""
import resource, runpy, sys
code = 0
try:
    sys.argv = sys.argv[1:]
    if sys.argv[0] == "-c":
        src = sys.argv[1]
        sys.argv = ["-c", *sys.argv[2:]]
        exec(compile(src, "<snippet>", "exec"), {"__name__": "__main__"})
    else:
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
finally:
    print("STATION24_MAXRSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          file=sys.stderr)
sys.exit(code)
"""


def _wrapped(*args: str) -> list[str]:
    return [sys.executable, "-c", WRAPPER, *args]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=600)
    p.add_argument("--minutes", type=float, default=2.0, help="fit budget per learned model")
    p.add_argument("--models", default="baseline,wgan-gp")
    p.add_argument("--sample-events", type=int, default=2000)
    p.add_argument("--generated-factor", type=float, default=2.0)
    p.add_argument("--workdir", default="/tmp/station24")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-validate", action="store_true", help="stop after sampling")
    args = p.parse_args(argv)

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "results.json"
    results: dict[str, Any] = (json.loads(results_path.read_text())
                               if results_path.exists() else {})
    results["machine"] = machine_info()
    print(machine_line(), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=1) + "\n")

    def stage(key: str, output: Path, cmd: list[str]) -> dict[str, Any]:
        if output.exists() and key in results:
            print(f"{key}: kept from an earlier run: {results[key]}", flush=True)
            return results[key]
        r = run_stage(cmd, env)
        if r["returncode"] != 0:
            print(f"{key} FAILED (exit {r['returncode']}):\n  " + "\n  ".join(r["stderr_tail"]),
                  flush=True)
        rec = {k: v for k, v in r.items() if k not in ("stdout", "stderr_tail")}
        rec["command"] = " ".join(cmd[3:]) if cmd[:2] == [sys.executable, "-c"] else cmd
        results[key] = rec
        save()
        print(f"{key}: wall {r['wall_s']} s, peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
        return rec

    data = work / "station24.h5"
    stage("simulate", data, _wrapped("rnognoise", "simulate", str(data), "--channels", "24",
                                     "--events", str(args.events), "--seed", str(args.seed),
                                     "--force", "-q"))
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        path = work / f"station24.{model}.safetensors"
        fit = ["rnognoise", "fit", str(data), "--model", model, "--out", str(path),
               "--seed", str(args.seed), "--force", "-q"]
        if model != "baseline":
            fit += ["--max-minutes", str(args.minutes)]
        rec = stage(f"fit {model}", path, _wrapped(*fit))
        if path.exists():
            from rnognoise.modelfile import read_model_metadata

            prov = read_model_metadata(path).get("provenance", {})
            rec["provenance"] = {k: prov.get(k) for k in (
                "fit_wall_s", "train_steps", "train_time_s", "stopped_by", "best_step",
                "heldout_check", "components") if k in prov}
            if isinstance(rec["provenance"].get("components"), dict):
                rec["provenance"]["components"].pop("trials", None)
            save()
        if not path.exists():
            continue
        key = f"sample {model}"
        if key not in results:
            r = run_stage(_wrapped("-c", SAMPLE_SNIPPET, str(path), str(args.sample_events)), env)
            rec = {"peak_rss_mib": r["peak_rss_mib"], "returncode": r["returncode"]}
            if r["returncode"] == 0:
                rec.update(json.loads(r["stdout"].strip().splitlines()[-1]))
            else:
                print(f"{key} FAILED:\n  " + "\n  ".join(r["stderr_tail"]), flush=True)
            results[key] = rec
            save()
        print(f"{key}: {results[key]}", flush=True)
        if args.no_validate:
            continue
        report = work / f"report-{model}"
        val = stage(f"validate {model}", report / "report.html", _wrapped(
            "rnognoise", "validate", str(data), str(path), "--report", str(report), "--force",
            "--generated-factor", str(args.generated_factor), "--seed", str(args.seed), "-q"))
        metrics = report / "metrics.json"
        if metrics.exists():
            m = json.loads(metrics.read_text())
            val["verdict"] = m.get("verdict")
            val["score"] = m.get("score")
            val["generated_events"] = (m.get("sizes") or {}).get("generated_used")
            auc = [r for r in m.get("rows", []) if r.get("name") == "c2st_auc"]
            val["c2st_auc"] = auc[0]["value"] if auc else None
            val["report_html_mib"] = round((report / "report.html").stat().st_size / 2**20, 2)
            save()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
