"""The package's front door: the public names, imported lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rnognoise

SCRIPT = """
import sys
import rnognoise
heavy = sorted(m for m in ("torch", "h5py", "scipy", "pandas") if m in sys.modules)
assert not heavy, heavy
from rnognoise import NoiseGenerator, TraceSet, compare, fit, read_traces, write_traces
import rnognoise.generator, rnognoise.io, rnognoise.metrics, rnognoise.train
assert NoiseGenerator is rnognoise.generator.NoiseGenerator
assert fit is rnognoise.train.fit and compare is rnognoise.metrics.compare
assert (TraceSet, read_traces, write_traces) == (rnognoise.io.TraceSet,
        rnognoise.io.read_traces, rnognoise.io.write_traces)
print("ok")
"""


def test_import_is_light_and_the_public_names_resolve():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_all_lists_what_dir_shows_and_unknown_names_fail():
    assert {"NoiseGenerator", "TraceSet", "read_traces", "write_traces", "fit",
            "compare"} <= set(rnognoise.__all__) <= set(dir(rnognoise))
    with pytest.raises(AttributeError, match="no attribute 'sample'"):
        _ = rnognoise.sample
    assert "Submodules" in rnognoise.__doc__ and "generator" in rnognoise.__doc__
