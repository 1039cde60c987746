#!/usr/bin/env bash
# The README's test command (CI runs this same script): make .venv, install audiofront with the
# torch, cpu, test and serve extras, run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# torch is named exactly: a looser requirement resolves to a multi-GB CUDA build (ENVIRONMENT.md).
.venv/bin/python -m pip install -q torch==2.13.0 -e '.[torch,cpu,test,serve]'
exec .venv/bin/python -m pytest -q "$@"
