#!/usr/bin/env bash
# The GPU check in one command (issue 18): installs audiofront without dependencies when it is not
# importable (a GPU machine has torch but no package index), then runs `audiofront bench gpu`:
# GPU-marked tests, torch-CUDA parity, latency, the paper's training experiment, ORT-CUDA — about
# 8 minutes on an H100/H200. Without a CUDA device it says what it would run and exits 0.
#
#   scripts/gpu-check.sh [--install] [--wheels DIR] [--out DIR] [--quick] [--sections a,b] ...
#   scripts/gpu-check.sh --stage-wheels DIR      # here, with an index: fetch the helpers' wheels
#
# --install forces the editable install. --wheels DIR installs, from DIR and without an index,
# whichever of pytest, tqdm, onnx, onnxscript (and their dependencies) the machine lacks: the
# tests section needs pytest, the ONNX Runtime section needs onnx + onnxscript to export.
# --stage-wheels DIR downloads those wheels for Python 3.12 / manylinux x86_64 (about 12 MB; numpy, sympy and mpmath, which torch
# machines have, are left out) to carry.
# Other arguments go to `audiofront bench gpu` (see --help). PYTHON picks the interpreter
# (default python3). Output: DIR/gpu-check.json and DIR/gpu-check.md (default out/gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
helpers=(pytest tqdm onnx onnxscript)
if [[ ${1:-} == --stage-wheels ]]; then
  "$py" -m pip download -q --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "${2:?--stage-wheels needs a folder}" \
    "${helpers[@]}"
  # torch brings these on every torch machine (and onnxruntime brings numpy): keep the carry small.
  rm -f "$2"/numpy-*.whl "$2"/sympy-*.whl "$2"/mpmath-*.whl
  du -sh "$2"
  exit 0
fi
install=0
wheels=
while [[ $# -gt 0 ]]; do
  case $1 in
    --install) install=1; shift ;;
    --wheels) wheels=${2:?--wheels needs a folder}; shift 2 ;;
    *) break ;;
  esac
done
if [[ -n $wheels ]]; then
  for m in "${helpers[@]}"; do
    # Already-installed dependencies (numpy, protobuf...) are kept; only what is missing comes from DIR.
    "$py" -c "import $m" 2>/dev/null || "$py" -m pip install -q --no-index --find-links "$wheels" "$m" \
      || echo "gpu-check: could not install $m from $wheels; the sections that need it will say so" >&2
  done
fi
if [[ $install == 1 ]] || ! "$py" -c 'import audiofront.bench.gpu' 2>/dev/null; then
  # No build isolation: setuptools>=64 (build-system.requires) comes from the machine, not an index.
  "$py" -m pip install -q --no-deps --no-build-isolation -e .
fi
exec "$py" -m audiofront.bench.gpu "$@"
