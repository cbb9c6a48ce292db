#!/usr/bin/env bash
# GPU figures in one JSON: sampling per precision, accuracy of bf16/fp16 against fp32, the
# training and sampling benchmarks and the GPU-marked tests (bench/gpu_bench.py).
#
# Usage:
#   bench/gpu.sh [--out gpu.json] [--venv /tmp/rnognoise-gpu] [--python PY] [--timeout S]
#                [--dry-run]
#
# On a machine with a CUDA GPU it makes a virtual environment (--venv) with a CUDA build of
# torch (TORCH_INDEX, default the cu124 wheels of download.pytorch.org) and this package,
# unless --python names an interpreter whose torch already sees a GPU (then nothing is
# installed; also used when the machine has no network). --timeout bounds each
# sub-benchmark (seconds, default 300). --dry-run installs nothing, runs
# on the CPU with tiny sizes and lists the sub-benchmarks instead of running them (the test
# suite runs it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="gpu.json"
venv="/tmp/rnognoise-gpu"
python=""
dry=""
timeout=300
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --venv) venv="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --dry-run) dry="--dry-run"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

sees_gpu() { "$1" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
               2>/dev/null; }

if [[ -n "$dry" ]]; then
  python="${python:-${PYTHON:-$root/.venv/bin/python}}"
  [[ -x "$python" ]] || python="$(command -v python3)"
elif [[ -z "$python" ]] || ! sees_gpu "$python"; then
  command -v nvidia-smi >/dev/null && nvidia-smi -L || true
  if [[ ! -x "$venv/bin/python" ]] || ! sees_gpu "$venv/bin/python"; then
    echo "gpu.sh: installing a CUDA torch and rnognoise into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q torch --index-url "${TORCH_INDEX:-https://download.pytorch.org/whl/cu124}"
    "$venv/bin/pip" install -q -e "$root[test]"
  fi
  python="$venv/bin/python"
  sees_gpu "$python" || { echo "gpu.sh: torch in $python sees no CUDA GPU" >&2; exit 1; }
fi

cd "$root"
echo "gpu.sh: $("$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')" >&2
OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}" "$python" bench/gpu_bench.py --out "$out" --timeout "$timeout" $dry
