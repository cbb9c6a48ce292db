"""bench/gpu.sh: its CPU dry run writes the JSON of figures with every section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_script_dry_run_writes_one_json_of_figures(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--dry-run", "--python",
                           sys.executable, "--out", str(out)], capture_output=True, text=True,
                          check=False, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["gpu"] is None
    for kind in ("baseline", "wgan-gp"):
        row = result["sampling_cpu"][kind]
        assert all(row[f"events_per_s_{p}"] > 0 for p in ("fp32", "bf16", "fp16"))
        # autocast leaves the spectral parts in float32: these models' output is unchanged
        assert row["accuracy_bf16"]["relative_rms_difference"] == 0.0
        assert row["on_device_events_per_s_fp32"] > 0
        assert row["iter_samples_events_per_s_fp32"] > 0
    assert result["sampling_cpu"]["host_fill_events_per_s"] > 0
    for name in ("train_speed", "train_speed_large_batch", "sample_speed", "gpu_tests"):
        assert result[name]["skipped"] == "dry run"
    assert "--threads 2" in result["train_speed"]["command"]
    assert "--devices cuda" in result["train_speed_large_batch"]["command"]
    assert "bench/train_speed.py" in result["train_speed"]["command"]
    assert "bench/sample_speed.py" in result["sample_speed"]["command"]
    assert "-m gpu" in result["gpu_tests"]["command"]


def test_gpu_script_refuses_unknown_arguments():
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--gpus", "8"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown argument --gpus" in proc.stderr
