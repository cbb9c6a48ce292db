#!/usr/bin/env bash
# Set up (if needed) and run the lint and the test suite (slow tests excluded; add `-m slow` for those).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check rnognoise pipelines tests bench
.venv/bin/python -m pytest -q "$@"
