#!/usr/bin/env bash
# Create .venv (or reuse it) and install rnognoise with its test and NuRadioMC extras.
# torch is pinned to the CPU build (torch==2.13.0) so no multi-GB CUDA wheel is downloaded;
# the package itself accepts any torch>=2.1.
# The nuradio extra (NuRadioMC, for tests/test_nuradio.py) adds about 45 s and 0.5 GB; if it
# cannot be installed, the script warns and installs the test extra alone, and the NuRadioReco
# tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet "torch==2.13.0"
if ! .venv/bin/python -m pip install --quiet -e ".[test,nuradio]"; then
    echo "WARNING: installing the nuradio extra (NuRadioMC) failed; installing .[test] only," \
         "the NuRadioReco tests (tests/test_nuradio.py) will be skipped" >&2
    .venv/bin/python -m pip install --quiet -e ".[test]"
fi
