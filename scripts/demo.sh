#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default dataset:
# simulate RNO-G-like noise, inspect it, fit the analytic baseline and the WGAN-GP,
# sample from the WGAN-GP, and validate both models in HTML reports.
#
#   bash scripts/demo.sh [OUTDIR]        (default OUTDIR: rnognoise-demo)
#   MINUTES=15 bash scripts/demo.sh      (WGAN-GP training budget, default 5 minutes)
#
# Everything is written inside OUTDIR, a folder this script owns: its files are
# replaced on a re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${1:-rnognoise-demo}
MINUTES=${MINUTES:-5}
RN=.venv/bin/rnognoise
mkdir -p "$OUT"
set -x
$RN simulate "$OUT/traces.h5" --events 2000 --channels 4 --seed 1 --force
$RN inspect "$OUT/traces.h5"
$RN fit "$OUT/traces.h5" --model baseline --out "$OUT/baseline.safetensors" --force
$RN fit "$OUT/traces.h5" --model wgan-gp --out "$OUT/wgan-gp.safetensors" \
    --max-minutes "$MINUTES" --force
$RN sample "$OUT/wgan-gp.safetensors" -n 1000 --seed 2 --out "$OUT/wgan-gp-samples.h5" --force
$RN validate "$OUT/traces.h5" "$OUT/baseline.safetensors" --report "$OUT/report-baseline" --force
$RN validate "$OUT/traces.h5" "$OUT/wgan-gp.safetensors" --report "$OUT/report-wgan-gp" --force
set +x
echo "Reports: $OUT/report-baseline/report.html and $OUT/report-wgan-gp/report.html"
