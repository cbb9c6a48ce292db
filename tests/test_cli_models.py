"""``rnognoise fit`` / ``rnognoise sample`` end to end, and their bad-input errors."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from rnognoise.cli import main
from rnognoise.io import TraceSet, read_traces, write_traces
from rnognoise.simulate import SimulationConfig, simulate_noise


@pytest.fixture(scope="module")
def traces_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "traces.h5"
    ts = simulate_noise(120, config=SimulationConfig(n_samples=256), seed=3)
    write_traces(path, ts)
    return path


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_fit_then_sample_writes_the_canonical_layout(traces_file, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(traces_file), "--model", "baseline", "--out", str(model),
                 "--quiet"]) == 0
    out = tmp_path / "s.h5"
    assert main(["sample", str(model), "-n", "50", "--seed", "4", "--out", str(out),
                 "--batch-size", "16", "--quiet"]) == 0
    samples = read_traces(out)
    real = read_traces(traces_file)
    assert samples.traces.shape == (50, real.n_channels, 256)
    assert samples.sampling_rate == real.sampling_rate
    assert samples.channels.tolist() == real.channels.tolist()
    rms_ratio = samples.traces.std(axis=(0, 2)) / real.traces.std(axis=(0, 2))
    np.testing.assert_allclose(rms_ratio, 1.0, atol=0.1)
    with h5py.File(out) as f:
        assert f.attrs["generated_by"] == "baseline"


def test_learned_model_fit_resumes_from_its_checkpoint(traces_file, tmp_path):
    model = tmp_path / "w.safetensors"
    args = ["fit", str(traces_file), "--model", "vae", "--out", str(model), "--steps", "6",
            "--batch-size", "8", "--checkpoint-every", "3", "--eval-every", "3", "--quiet"]
    assert main(args) == 0
    log = (tmp_path / "w.safetensors.ckpt" / "losses.jsonl").read_text().splitlines()
    first = [json.loads(line)["step"] for line in log]
    assert max(first) == 6
    # Asking for more steps with --resume continues from step 6, not from 0.
    args[args.index("6")] = "9"
    assert main([*args, "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "w.safetensors.ckpt" / "losses.jsonl").read_text().splitlines()]
    assert max(steps) == 9 and min(steps[len(first):]) > 6


@pytest.mark.parametrize("case", ["unknown_model", "too_few", "bad_channel", "nan", "exists"])
def test_fit_bad_input_is_one_line_exit_2(case, traces_file, tmp_path, capsys):
    path, extra = str(traces_file), []
    if case == "unknown_model":
        extra = ["--model", "gan9000"]
        expected = "unknown model kind 'gan9000'"
    elif case == "too_few":
        small = tmp_path / "small.h5"
        write_traces(small, read_traces(traces_file)[:10])
        path, extra, expected = str(small), ["--model", "vae"], "needs at least"
    elif case == "bad_channel":
        extra, expected = ["--channels", "0,99"], "channel(s) [99] not in the file"
    elif case == "nan":
        ts = read_traces(traces_file)
        bad = ts.traces.copy()
        bad[3, 1, 7] = np.nan
        path = str(tmp_path / "nan.h5")
        write_traces(path, TraceSet(bad, ts.sampling_rate, ts.channels))
        expected = "NaN/inf"
    else:
        (tmp_path / "m.safetensors").write_bytes(b"user data")
        expected = "already exists"
    out = tmp_path / "m.safetensors"
    code = main(["fit", path, "--model", "baseline", *extra, "--out", str(out), "--quiet"])
    assert code == 2
    line = _err(capsys)
    assert expected in line
    if case == "exists":
        assert out.read_bytes() == b"user data"
        assert "(pass --force to overwrite)" in line and "force=True" not in line
    else:
        assert not out.exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_sample_rejects_non_positive_counts(n, traces_file, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(traces_file), "--model", "baseline", "--out", str(model),
                 "-q"]) == 0
    assert main(["sample", str(model), "-n", n, "--out", str(tmp_path / "o.h5")]) == 2
    assert ">= 1" in _err(capsys)
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("content", [b"", b"not a model", b"\x80\x04\x95junk"])
def test_sample_from_corrupt_model_is_one_line_exit_2(content, tmp_path, capsys):
    model = tmp_path / "bad.safetensors"
    model.write_bytes(content)
    assert main(["sample", str(model), "-n", "3", "--out", str(tmp_path / "o.h5")]) == 2
    line = _err(capsys)
    assert str(model) in line
    assert not (tmp_path / "o.h5").exists()


def test_sample_from_a_traces_file_is_refused(traces_file, tmp_path, capsys):
    assert main(["sample", str(traces_file), "-n", "3", "--out", str(tmp_path / "o.h5")]) == 2
    assert "not an rnognoise model file" in _err(capsys)


def test_a_failed_validate_leaves_no_report_folder(traces_file, tmp_path, capsys):
    report = tmp_path / "new" / "report"
    code = main(["validate", str(traces_file), str(tmp_path / "missing.h5"), "--report",
                 str(report), "--quick", "-q"])
    assert code == 2 and "missing.h5" in _err(capsys)
    assert not (tmp_path / "new").exists()


def test_fit_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "baseline, vae, wgan-gp" in text and "default 15" in text
    for flag in ("--batch-size", "--seed", "--eval-every", "--checkpoint-every"):
        after = text.split(flag, 2)[-1][:120]
        assert "default" in after or "events" in after, flag
