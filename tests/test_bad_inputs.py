"""Every case of the bad-input corpus, through the API and the command line.

Each damaged, foreign or inconsistent file must give a specific
:class:`~rnognoise.errors.RnognoiseError` (API) or exit status 2 with one line
``rnognoise CMD: error: FILE: problem`` (CLI): no traceback, no hang, and no output
file left behind. The corpus is written by ``tests/data/bad/make_corpus.py``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rnognoise.cli import main
from rnognoise.errors import DataFileError, ModelFileError, RnognoiseError
from rnognoise.generator import NoiseGenerator
from rnognoise.io import iter_traces, read_traces

sys.path.insert(0, str(Path(__file__).parent / "data" / "bad"))
from make_corpus import Case, build_corpus

REPO = Path(__file__).resolve().parents[1]
PER_TEST_SECONDS = 60

#: Cases ``rnognoise inspect`` summarises instead of refusing: it counts NaN/inf and
#: uses every trigger type by default.
INSPECT_SUCCEEDS = {"h5_nan", "h5_inf", "root_float_samples_nan", "h5_no_forced_events",
                    "root_no_forced_events"}


def _case_names() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="rnognoise-corpus-names-") as tmp:
        cases, _ = build_corpus(tmp)
        return [c.name for c in cases]


NAMES = _case_names()
DATA_NAMES = [n for n in NAMES if not n.startswith("model_")]
MODEL_NAMES = [n for n in NAMES if n.startswith("model_")]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    cases, _ = build_corpus(tmp_path_factory.mktemp("corpus"))
    return {c.name: c for c in cases}


@pytest.fixture(autouse=True)
def _no_hang():
    """Fail (instead of hanging) when one test runs longer than PER_TEST_SECONDS."""
    def alarm(signum, frame):
        raise TimeoutError(f"test ran longer than {PER_TEST_SECONDS} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(PER_TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _check_message(text: str, case: Case) -> None:
    assert "\n" not in text.strip(), text
    assert "Traceback" not in text
    assert os.fspath(case.path) in text or os.fspath(case.path.parent) in text, text
    assert re.search(case.expected, text), (case.expected, text)


def _check_cli_error(err: str, command: str, case: Case) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"rnognoise {command}: error: "), err
    _check_message(lines[0], case)


def test_corpus_is_large_and_covers_every_format():
    kinds = [n.split("_", 1)[0] for n in NAMES]
    assert len(NAMES) >= 40
    assert min(kinds.count(k) for k in ("h5", "root", "model")) >= 15
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", DATA_NAMES)
def test_readers_raise_a_one_line_data_file_error(corpus, name):
    case = corpus[name]
    with pytest.raises(DataFileError) as err:
        read_traces(case.path)
    _check_message(str(err.value), case)
    with pytest.raises(DataFileError) as err:
        for _ in iter_traces(case.path, batch_size=1):
            pass
    _check_message(str(err.value), case)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_loading_raises_a_one_line_model_file_error(corpus, name):
    case = corpus[name]
    with pytest.raises(ModelFileError) as err:
        NoiseGenerator.load(case.path, device="cpu")
    _check_message(str(err.value), case)
    if case.marker is not None:
        assert not case.marker.exists(), "loading a model file unpickled its content"


def _inspect_params() -> list:
    return list(DATA_NAMES)


@pytest.mark.parametrize("name", _inspect_params())
def test_cli_inspect(corpus, name, capsys):
    case = corpus[name]
    status = main(["inspect", str(case.path), "--json"])
    out, err = capsys.readouterr()
    if name in INSPECT_SUCCEEDS:
        assert status == 0, err
        summary = json.loads(out)
        if "nan" in name or "inf" in name:
            assert summary["n_nonfinite_samples"] > 0
        else:
            assert summary["trigger_mix"] == {"LT": summary["n_events"]}
        return
    assert status == 2
    assert out == ""
    _check_cli_error(err, "inspect", case)


@pytest.mark.parametrize("name", DATA_NAMES)
def test_cli_fit_fails_cleanly_and_writes_nothing(corpus, name, capsys, tmp_path):
    case = corpus[name]
    out_model = tmp_path / "out" / "m.safetensors"
    out_model.parent.mkdir()
    status = main(["fit", str(case.path), "--model", "baseline", "--out", str(out_model)])
    _, err = capsys.readouterr()
    assert status == 2
    _check_cli_error(err, "fit", case)
    assert list(out_model.parent.iterdir()) == []


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_cli_sample_fails_cleanly_and_writes_nothing(corpus, name, capsys, tmp_path):
    case = corpus[name]
    out = tmp_path / "out" / "x.h5"
    out.parent.mkdir()
    status = main(["sample", str(case.path), "-n", "3", "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    _check_cli_error(captured.err, "sample", case)
    assert list(out.parent.iterdir()) == []
    if case.marker is not None:
        assert not case.marker.exists()


SUBPROCESS_CASES = [
    ("h5_truncated_half", ["inspect"]),
    ("root_truncated_half", ["inspect"]),
    ("h5_huge_shape_tiny_data", ["fit", "--model", "baseline", "--out", "{out}"]),
    ("model_pickle", ["sample", "-n", "3", "--out", "{out}"]),
    ("model_torch_save", ["sample", "-n", "3", "--out", "{out}"]),
]


@pytest.mark.parametrize("cases", [
    pytest.param(SUBPROCESS_CASES[:1] + SUBPROCESS_CASES[3:4], id="two"),
    pytest.param(SUBPROCESS_CASES, id="all", marks=pytest.mark.slow),
])
def test_real_processes_print_one_line_and_no_traceback(corpus, tmp_path, cases):
    """``python -m rnognoise`` in real processes (run side by side to save start-up time)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    running = []
    for i, (name, args) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        out = folder / "out.file"
        argv = [args[0], str(corpus[name].path), *[a.format(out=out) for a in args[1:]]]
        proc = subprocess.Popen([sys.executable, "-m", "rnognoise", *argv], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((name, args[0], folder, proc))
    for name, command, folder, proc in running:
        try:
            stdout, stderr = proc.communicate(timeout=PER_TEST_SECONDS + 60)
        finally:
            proc.kill()
        case = corpus[name]
        assert proc.returncode == 2, (name, stderr)
        assert stdout == ""
        _check_cli_error(stderr, command, case)
        assert list(folder.iterdir()) == []
        if case.marker is not None:
            assert not case.marker.exists()


def test_errors_are_rnognoise_errors_with_the_path(corpus):
    """The exception objects carry the file (for programs that catch them)."""
    case = corpus["h5_channels_duplicated"]
    with pytest.raises(RnognoiseError) as err:
        read_traces(case.path)
    assert err.value.path == os.fspath(case.path)
