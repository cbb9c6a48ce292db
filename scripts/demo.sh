#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default dataset:
# simulate RNO-G-like noise, inspect it, fit the analytic baseline and the WGAN-GP,
# sample from the WGAN-GP, and validate both models in HTML reports; then the same for
# noise that depends on the station and the sidereal time (three stations, galactic noise
# over six days): a conditional WGAN-GP validated per station and sidereal-time bin.
#
#   bash scripts/demo.sh [OUTDIR]        (default OUTDIR: rnognoise-demo)
#   MINUTES=15 bash scripts/demo.sh      (WGAN-GP training budget, default 5 minutes here,
#                                         15 for `rnognoise fit`; the conditional one gets
#                                         half of it)
#
# The fits run with --quiet (no progress lines; each prints its model file), and the full
# metric table is printed once, for the WGAN-GP; the other validations print their
# verdict and failing rows (--summary), their reports hold the tables.
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
$RN fit "$OUT/traces.h5" --model baseline --out "$OUT/baseline.safetensors" --force --quiet
$RN fit "$OUT/traces.h5" --model wgan-gp --out "$OUT/wgan-gp.safetensors" \
    --max-minutes "$MINUTES" --force --quiet
$RN sample "$OUT/wgan-gp.safetensors" -n 1000 --seed 2 --out "$OUT/wgan-gp-samples.h5" --force
$RN validate "$OUT/traces.h5" "$OUT/baseline.safetensors" --report "$OUT/report-baseline" \
    --force --summary
$RN validate "$OUT/traces.h5" "$OUT/wgan-gp.safetensors" --report "$OUT/report-wgan-gp" --force
$RN simulate "$OUT/stations.h5" --events 4500 --channels 4 --stations 11,12,13 --galactic \
    --trigger-interval 120 --seed 2 --force
$RN fit "$OUT/stations.h5" --model wgan-gp --condition station,lst \
    --out "$OUT/wgan-gp-conditional.safetensors" \
    --max-minutes "$(awk "BEGIN {print $MINUTES / 2}")" --force --quiet
$RN sample "$OUT/wgan-gp-conditional.safetensors" -n 100 --seed 3 --condition station=12 \
    --condition lst=17.5 --out "$OUT/station12-lst17.5.h5" --force
$RN validate "$OUT/stations.h5" "$OUT/wgan-gp-conditional.safetensors" --by station,lst \
    --report "$OUT/report-conditional" --force --summary
set +x
echo "Reports: $OUT/report-baseline/report.html, $OUT/report-wgan-gp/report.html and"
echo "         $OUT/report-conditional/report.html (per station and sidereal-time bin)"
