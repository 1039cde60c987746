"""Backend probing and the auto order. Simulated machines check the ORDER logic only; nothing here
pretends that a missing backend ran."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from audiofront.errors import BackendUnavailable, ConfigError
from audiofront.runtime import backends
from .conftest import simulate_probe
from audiofront.runtime.backends import (
    AUTO_ORDER,
    BACKENDS,
    UNSUPPORTED,
    BackendStatus,
    available_backends,
    backend_status,
    choose_backend,
)


def machine(*usable: str) -> list[BackendStatus]:
    return [BackendStatus(n, n in usable, "simulated: here" if n in usable else f"simulated: no {n}") for n in BACKENDS]


def test_every_backend_is_reported_with_a_reason():
    statuses = available_backends(refresh=True)
    assert [s.name for s in statuses] == list(BACKENDS)
    for s in statuses:
        assert isinstance(s.usable, bool) and s.reason.strip()


def test_cpu_backends_are_usable_here():
    assert backend_status("torch-cpu").usable
    assert backend_status("onnxruntime-cpu").usable


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed on this machine")
def test_tensorrt_missing_is_explained():
    st = backend_status("tensorrt")
    assert not st.usable and "not installed" in st.reason


def test_onnxruntime_cuda_reason_names_the_cause():
    import onnxruntime as ort

    st = backend_status("onnxruntime-cuda")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert not st.usable and "onnxruntime-gpu is not installed" in st.reason
    elif not st.usable:  # the GPU build is installed but the provider did not start
        assert "did not start" in st.reason or "failed to start" in st.reason


def test_torch_cuda_reason():
    import torch

    st = backend_status("torch-cuda")
    assert st.usable == torch.cuda.is_available()
    if not st.usable:
        assert "CPU-only build" in st.reason or "sees no CUDA device" in st.reason


@pytest.mark.parametrize(
    "usable, expected",
    [
        (BACKENDS, "tensorrt"),
        (("onnxruntime-cuda", "torch-cuda", "onnxruntime-cpu", "torch-cpu"), "onnxruntime-cuda"),
        (("torch-cuda", "onnxruntime-cpu", "torch-cpu"), "torch-cuda"),
        (("onnxruntime-cpu", "torch-cpu"), "onnxruntime-cpu"),
        (("torch-cpu",), "torch-cpu"),
        (("tensorrt", "torch-cpu"), "tensorrt"),
        (("onnxruntime-tensorrt", "torch-cpu"), "torch-cpu"),  # ORT's TensorRT provider: by name only
    ],
)
def test_auto_takes_the_first_usable_in_order(usable, expected):
    choice = choose_backend("auto", statuses=machine(*usable))
    assert choice.name == expected
    # the reason names the pick and every better backend it skipped, with that backend's reason
    assert choice.reason.startswith(expected)
    for better in AUTO_ORDER[: AUTO_ORDER.index(expected)]:
        assert f"{better}: simulated: no {better}" in choice.reason


def test_auto_skips_backends_that_cannot_run_the_artifact():
    everything = machine(*BACKENDS)
    assert choose_backend("auto", unsupported=UNSUPPORTED["onnx"], statuses=everything).name == "onnxruntime-cuda"
    assert choose_backend("auto", unsupported=UNSUPPORTED["torch"], statuses=everything).name == "torch-cuda"
    assert choose_backend("auto", unsupported=UNSUPPORTED["engine"], statuses=everything).name == "tensorrt"
    cpu_only = machine("onnxruntime-cpu", "torch-cpu")
    choice = choose_backend("auto", unsupported=UNSUPPORTED["onnx"], statuses=cpu_only)
    assert choice.name == "onnxruntime-cpu" and "tensorrt: runs .engine files" in choice.reason
    with pytest.raises(BackendUnavailable, match="tensorrt: simulated: no tensorrt"):
        choose_backend("auto", unsupported=UNSUPPORTED["engine"], statuses=cpu_only)


def test_explicit_backends():
    cpu_only = machine("onnxruntime-cpu", "torch-cpu")
    assert choose_backend("torch-cpu", statuses=cpu_only).name == "torch-cpu"
    with pytest.raises(BackendUnavailable, match="'onnxruntime-cuda' is not usable here: simulated: no onnxruntime-cuda"):
        choose_backend("onnxruntime-cuda", statuses=cpu_only)
    with pytest.raises(BackendUnavailable, match="cannot run this model: a TensorRT engine"):
        choose_backend("onnxruntime-cpu", unsupported=UNSUPPORTED["engine"], statuses=cpu_only)
    for bad in ("cuda", "ORT", None, 3):
        with pytest.raises(ConfigError, match="backend must be"):
            choose_backend(bad, statuses=cpu_only)


def test_probes_are_used_and_a_crashing_probe_is_reported(monkeypatch):
    def boom():
        raise OSError("libcuda.so: cannot open shared object file")

    simulate_probe(monkeypatch, "torch-cuda", boom)
    simulate_probe(monkeypatch, "tensorrt", lambda: (True, "simulated TensorRT 10.9"))
    statuses = {s.name: s for s in available_backends(refresh=True)}
    try:
        assert not statuses["torch-cuda"].usable and "libcuda.so" in statuses["torch-cuda"].reason
        assert choose_backend("auto").name == "tensorrt"
        assert choose_backend("auto", unsupported=UNSUPPORTED["onnx"]).name == "onnxruntime-cpu"
    finally:
        monkeypatch.undo()
        available_backends(refresh=True)


def test_doctor_prints_every_backend_and_exits_0():
    out = subprocess.run([sys.executable, "-m", "audiofront.cli", "doctor"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for status in available_backends():
        line = next(line for line in out.stdout.splitlines() if line.startswith(status.name + " "))
        assert ("yes" if status.usable else "no") in line.split() and status.reason in line
    assert "auto picks:" in out.stdout


def test_doctor_json(capsys):
    import json

    from audiofront.cli import main

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in report["backends"]] == list(BACKENDS)
    assert report["auto"]["torch"] in ("torch-cpu", "torch-cuda")
    assert report["auto"]["onnx"] == choose_backend("auto", unsupported=UNSUPPORTED["onnx"]).name


def test_importing_the_runtime_imports_no_backend():
    code = (
        "import sys, audiofront.runtime as rt; rt.Pipeline; rt.available_backends; "
        "assert not any(m.split('.')[0] in ('onnxruntime', 'tensorrt') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('onnxruntime', 'tensorrt')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
