#!/usr/bin/env bash
# The README's test command (CI runs this same script): make .venv, install audiofront with the
# torch, cpu, test and serve extras, run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# torch is named exactly: a looser requirement resolves to a multi-GB CUDA build (ENVIRONMENT.md).
.venv/bin/python -m pip install -q torch==2.13.0 -e '.[torch,cpu,test,serve]'
# A real Triton Inference Server (tritonserver 2.51, CPU) for tests/serve/test_triton_server.py;
# --no-deps: its metadata pins numpy < 2. Those tests skip with the reason where it cannot install.
.venv/bin/python -m pip install -q --no-deps nvidia-pytriton==0.7.0 \
    || echo "nvidia-pytriton did not install: the Triton server tests will skip" >&2
# openai-whisper's filters and formula are a test reference; its requirements (numba, tiktoken) are not needed.
.venv/bin/python -m pip install -q --no-deps openai-whisper
# Two workers, a test file each at a time (module fixtures stay in one process): the suite is
# mostly single-threaded export and tracing, so this halves its time on two cores (585 s -> 321 s
# measured 2026-12-02). PYTEST_WORKERS=0 runs it in one process; "-n 0" after it does too.
exec .venv/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
