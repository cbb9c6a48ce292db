#!/usr/bin/env bash
# Create .venv and install rnognoise with its test extras.
# torch is pinned to the CPU build (torch==2.13.0) so no multi-GB CUDA wheel is downloaded;
# the package itself accepts any torch>=2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
