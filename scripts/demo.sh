#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default dataset:
# simulate RNO-G-like noise, inspect it, fit the noise models, sample, validate and write a report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${1:-rnognoise-demo}
RN=.venv/bin/rnognoise
mkdir -p "$OUT"
$RN simulate "$OUT/traces.h5" --events 2000 --channels 4 --seed 1 --force
$RN inspect "$OUT/traces.h5"
