"""Crash safety and numerical safety.

- Existing outputs (traces, models, samples, reports) are never replaced without
  ``--force``; a failed write leaves nothing under the final name.
- A training run killed with SIGKILL leaves no model file and a loadable checkpoint;
  ``--resume`` continues from the checkpoint's step and writes a usable model.
- A diverging training run stops with the step; sampling never returns NaN/inf.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnognoise.cli import main
from rnognoise.cli.sample import write_samples
from rnognoise.core.checkpoint import read_metadata
from rnognoise.errors import OutputExistsError, RnognoiseError, TrainingDivergedError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import TraceSet, write_traces
from rnognoise.logs import configure_logging
from rnognoise.models.wgan_gp import WGANGPModel
from rnognoise.train import FitOptions, fit

REPO = Path(__file__).resolve().parents[1]
#: A small WGAN-GP (narrow critic, one critic step) so training tests stay quick on a CPU.
SMALL_WGAN = {"critic_width": 4, "n_critic": 1, "impulses": False}


def _noise(n: int = 96, c: int = 2, t: int = 128) -> TraceSet:
    rng = np.random.default_rng(5)
    return TraceSet((0.01 * rng.standard_normal((n, c, t))).astype(np.float32), 3.2e9,
                    np.arange(c))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("crash")
    traces = d / "traces.h5"
    write_traces(traces, _noise())
    model = d / "model.safetensors"
    fit(traces, model, FitOptions(model="baseline", quiet=True, device="cpu"))
    return {"traces": traces, "model": model}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# -- no overwrite without --force -------------------------------------------------------------

@pytest.mark.parametrize("what", ["traces", "model", "samples", "report"])
def test_existing_output_is_kept_without_force_and_replaced_with_it(files, tmp_path, capsys,
                                                                    what):
    target = tmp_path / {"traces": "sim.h5", "model": "m.safetensors", "samples": "s.h5",
                         "report": "report/metrics.json"}[what]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b"precious")
    argv = {
        "traces": ["simulate", str(target), "--events", "4", "--samples", "256", "-q"],
        "model": ["fit", str(files["traces"]), "--model", "baseline", "--out", str(target),
                  "-q"],
        "samples": ["sample", str(files["model"]), "-n", "3", "--out", str(target), "-q",
                    "--device", "cpu"],
        "report": ["validate", str(files["traces"]), str(files["traces"]), "--report",
                   str(target.parent), "--quick", "--no-c2st", "-q"],
    }[what]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{target}: already exists" in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == b"precious"
    assert _leftovers(target.parent) == []
    if what == "report":
        return  # a full validation run is the validate tests' business
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()
    assert target.read_bytes() != b"precious"
    assert _leftovers(target.parent) == []


# -- failed writes leave nothing --------------------------------------------------------------

def test_sampling_that_fails_midway_leaves_no_file(files, tmp_path, monkeypatch):
    gen = NoiseGenerator.load(files["model"], device="cpu")
    original = gen.iter_samples

    def failing(n, **kw):
        for i, batch in enumerate(original(n, **kw)):
            if i == 2:
                raise OSError("disk full")
            yield batch
    monkeypatch.setattr(gen, "iter_samples", failing)
    out = tmp_path / "s.h5"
    with pytest.raises(OSError, match="disk full"):
        write_samples(gen, 100, str(out), batch_size=10, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_trace_and_model_writes_that_fail_leave_no_file(files, tmp_path, monkeypatch):
    import h5py

    from rnognoise import modelfile

    def boom(*args, **kwargs):
        raise OSError("device lost")
    monkeypatch.setattr(h5py.Group, "create_group", boom)
    with pytest.raises(OSError, match="device lost"):
        write_traces(tmp_path / "t.h5", TraceSet(np.zeros((2, 1, 8), np.float32), 1e9, [0],
                                                 pd.DataFrame({"event_number": [0, 1]})))
    model, _ = modelfile.load_model(files["model"])
    monkeypatch.setattr(modelfile, "save_file", boom)
    with pytest.raises(OSError, match="device lost"):
        modelfile.save_model(tmp_path / "m.safetensors", model)
    assert list(tmp_path.iterdir()) == []


# -- SIGKILL during training, then --resume ---------------------------------------------------

def _log_steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()
            if "val_score" not in line]


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_from_its_checkpoint(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-m", "rnognoise"]
    traces, model = tmp_path / "traces.h5", tmp_path / "m.safetensors"
    subprocess.run([*run, "simulate", str(traces), "--events", "200", "--samples", "256",
                    "-q"], check=True, env=env, cwd=tmp_path, timeout=300, capture_output=True)
    fit_cmd = [*run, "fit", str(traces), "--model", "wgan-gp", "--out", str(model),
               "--checkpoint-every", "5", "--steps", "60", "--quiet", "--device", "cpu",
               "--batch-size", "16", *[f"--option={k}={json.dumps(v)}" for k, v in SMALL_WGAN.items()]]
    ckpt = tmp_path / "m.safetensors.ckpt"
    last = ckpt / "last.safetensors"
    proc = subprocess.Popen(fit_cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 400
    while not last.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)  # reaps the process and closes its pipes
    assert proc.returncode == -signal.SIGKILL
    assert not model.exists()
    killed_at = int(read_metadata(last)["extra"]["step"])  # complete, readable checkpoint
    assert 5 <= killed_at < 60 and killed_at % 5 == 0
    log = ckpt / "losses.jsonl"
    before = _log_steps(log) if log.exists() else []
    assert all(s <= killed_at + 5 for s in before), (killed_at, before)
    n_before = len(log.read_text().splitlines()) if log.exists() else 0

    t_resume = time.monotonic()
    done = subprocess.run([*fit_cmd, "--resume"], env=env, cwd=tmp_path, timeout=600,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    after = [json.loads(line) for line in log.read_text().splitlines()[n_before:]]
    steps = [r["step"] for r in after if "val_score" not in r]
    assert steps and min(steps) > killed_at and max(steps) == 60
    assert steps == sorted(steps)
    assert int(read_metadata(last)["extra"]["step"]) == 60
    print(f"killed at checkpoint step {killed_at}; resumed run took "
          f"{time.monotonic() - t_resume:.1f} s and logged steps {steps}")
    gen = NoiseGenerator.load(model, device="cpu")
    assert gen.metadata["provenance"]["train_steps"] == 60
    noise = gen.sample(3, seed=1)
    assert noise.shape == (3, 4, 256) and np.isfinite(noise).all()


# -- numerical safety -------------------------------------------------------------------------

def _nan_after(step_nan: int, monkeypatch: pytest.MonkeyPatch) -> None:
    original = WGANGPModel.training_plan

    def plan(self, **kw):
        p = original(self, **kw)
        step_fn = p.step_fn

        def poisoned(step, batch_fn):
            losses = step_fn(step, batch_fn)
            return {**losses, "g_loss": float("nan")} if step >= step_nan else losses
        p.step_fn = poisoned
        return p
    monkeypatch.setattr(WGANGPModel, "training_plan", plan)


def test_divergence_is_reported_with_its_step_and_writes_no_model(files, tmp_path,
                                                                  monkeypatch, capsys):
    configure_logging(quiet=True)  # earlier CLI calls bound the log handler to a closed stream
    _nan_after(2, monkeypatch)
    out = tmp_path / "m.safetensors"
    options = FitOptions(model="wgan-gp", model_options=dict(SMALL_WGAN), steps=10,
                         checkpoint_every=1, eval_every=0, batch_size=8, quiet=True,
                         device="cpu")
    with pytest.raises(TrainingDivergedError, match=r"diverged at step 2 \(g_loss=nan\)") as err:
        fit(files["traces"], out, options)
    assert "last good checkpoint" in str(err.value) and "(step 2)" in str(err.value)
    assert not out.exists()
    _nan_after(0, monkeypatch)
    out = tmp_path / "cli" / "m.safetensors"
    out.parent.mkdir()
    status = main(["fit", str(files["traces"]), "--model", "wgan-gp", "--out", str(out),
                   "--steps", "10", "--batch-size", "8", "-q", "--device", "cpu", "--force",
                   *[f"--option={k}={json.dumps(v)}" for k, v in SMALL_WGAN.items()]])
    err_text = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err_text
    # The loop also logs the divergence, so the error is the last line, not the only one.
    assert err_text.strip().splitlines()[-1].startswith(
        "rnognoise fit: error: training diverged at step 0 (g_loss=nan)")
    assert not out.exists()


def test_sampling_refuses_nan_output(files, monkeypatch):
    gen = NoiseGenerator.load(files["model"], device="cpu")
    monkeypatch.setattr(gen.model, "generate",
                        lambda n, g: torch.full((n, gen.n_channels, gen.n_samples), np.nan))
    with pytest.raises(FloatingPointError, match="NaN/inf"):
        gen.sample(4, seed=0)


def test_nan_output_is_a_rnognoise_error_and_a_clean_cli_exit(files, tmp_path, monkeypatch,
                                                               capsys):
    monkeypatch.setattr(NoiseGenerator, "load", classmethod(
        lambda cls, path, device="auto": _nan_generator(files["model"])))
    status = main(["sample", str(files["model"]), "-n", "3", "--out", str(tmp_path / "x.h5")])
    assert status == 2
    assert "NaN" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def _nan_generator(path: Path) -> NoiseGenerator:
    gen = NoiseGenerator.__new__(NoiseGenerator)
    real = NoiseGenerator(*_load(path), torch.device("cpu"))
    gen.__dict__.update(real.__dict__)
    gen.model.generate = lambda n, g: torch.full((n, gen.n_channels, gen.n_samples), np.nan)
    return gen


def _load(path: Path) -> tuple:
    from rnognoise.modelfile import load_model

    return load_model(path)


def test_rnognoise_error_hierarchy_covers_divergence():
    assert issubclass(TrainingDivergedError, RnognoiseError)
    assert issubclass(OutputExistsError, RnognoiseError)
