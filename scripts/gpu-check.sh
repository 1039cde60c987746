#!/usr/bin/env bash
# The GPU check in one command (issue 18): installs audiofront without dependencies when it is not
# importable (a GPU machine has torch but no package index), then runs `audiofront bench gpu`:
# GPU-marked tests, torch-CUDA parity, latency, the paper's training experiment, ORT-CUDA — about
# 8 minutes on an H100/H200. Without a CUDA device it says what it would run and exits 0.
#
#   scripts/gpu-check.sh [--install] [--out DIR] [--quick] [--sections a,b] [--budget-scale X] ...
#
# --install forces the editable install; other arguments go to `audiofront bench gpu` (see --help).
# PYTHON picks the interpreter (default python3). Output: DIR/gpu-check.json and DIR/gpu-check.md
# (default DIR: out/gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
install=0
if [[ ${1:-} == --install ]]; then install=1; shift; fi
if [[ $install == 1 ]] || ! "$py" -c 'import audiofront.bench.gpu' 2>/dev/null; then
  # No build isolation: setuptools>=64 (build-system.requires) comes from the machine, not an index.
  "$py" -m pip install -q --no-deps --no-build-isolation -e .
fi
exec "$py" -m audiofront.bench.gpu "$@"
