"""The GPU check (`audiofront bench gpu`, scripts/gpu-check.sh) on the CPU: the skip path as CI sees it,
the sections' code with the device forced to the CPU, the ORT provider check failing where CUDA
did not run, and the pytest section's counting. Speed is not asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from audiofront.bench.gpu import SECTIONS
from audiofront.bench.gpu_context import CheckContext, SectionFailed
from audiofront.bench.gpu_ort import judge_placement, nodes_by_provider, onnxruntime_section, provider_check
from audiofront.bench import gpu_sections
from audiofront.bench.gpu_sections import _algorithms, _compare
from audiofront.cli import main
from audiofront.frontend import PRESETS

ROOT = Path(__file__).resolve().parents[2]


def _check_shape(result: dict, markdown: str) -> None:
    assert result["schema"] == "audiofront-gpu-check/1"
    assert list(result["sections"]) == list(SECTIONS)
    env = result["environment"]
    assert {"date", "python", "versions", "nvidia_smi", "gpu", "torch_cuda", "tf32"} <= set(env)
    assert env["versions"]["torch"] == torch.__version__
    assert {"torchaudio", "onnxruntime", "audiofront"} <= set(env["versions"])
    for i, (name, entry) in enumerate(result["sections"].items(), 1):
        assert entry["status"] in ("ok", "skipped", "failed") and entry["title"]
        assert f"### {i}. {entry['title']}" in markdown
        if entry["status"] != "ok":
            assert entry["reason"]
        if entry["status"] == "skipped":
            assert entry["would_run"] and f"Skipped: {entry['reason']}" in markdown


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would run the real check")
def test_script_without_cuda_skips_every_section_with_the_reason_and_exits_0(tmp_path):
    out = tmp_path / "gpu"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--out", str(out)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHON=sys.executable), timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "gpu-check.json").read_text())
    markdown = (out / "gpu-check.md").read_text()
    _check_shape(result, markdown)
    assert result["environment"]["gpu"] is None and result["device"] == "cuda"
    for entry in result["sections"].values():
        assert entry["status"] == "skipped" and entry["reason"].startswith("no CUDA device:")
    assert markdown.startswith("## GPU check: no CUDA device (")
    assert "tests: skipped (no CUDA device" in done.stdout


def test_cpu_device_runs_parity_latency_and_training_code(tmp_path):
    out = tmp_path / "gpu"
    rc = main(["bench", "gpu", "--device", "cpu", "--no-compile", "--sections", "parity,latency,training",
               "--threads", "2", "--out", str(out)])
    assert rc == 0
    result = json.loads((out / "gpu-check.json").read_text())
    markdown = (out / "gpu-check.md").read_text()
    _check_shape(result, markdown)
    sections = result["sections"]
    assert [sections[s]["status"] for s in SECTIONS] == ["skipped", "ok", "ok", "ok", "skipped"]
    assert sections["tests"]["reason"] == "not selected (--sections)"
    assert result["command"] == ("audiofront bench gpu --device cpu --sections parity,latency,training --threads 2 "
                                 f"--no-compile --out {out}")

    parity = sections["parity"]["result"]
    done = {(r["preset"], r["algorithm"]) for r in parity["rows"]} | {(r["preset"], r["algorithm"])
                                                                       for r in parity["not_run"]}
    expected = {(name, a or "(default)") for name, f in PRESETS.items() for a in _algorithms(f)}
    assert expected <= done  # every registered preset, each algorithm, ran or says why not
    for row in parity["rows"]:  # the same module on the same device: bit-equal, finite
        assert row["max_abs_diff"] == 0.0 and row["finite"] and row["output_min"] <= row["output_max"]

    latency = sections["latency"]["result"]
    assert latency["timer"] == "perf_counter" and latency["workload_shape"] == {"batch": 2, "clip_s": 1.0}
    assert {(r["batch"], r["clip_s"]) for r in latency["rows"]} == {(2, 1.0), (1, 1.0)}
    for row in latency["rows"]:
        assert 0 < row["median_ms"] <= row["p90_ms"] and row["runs"] >= 3
    w = {r["name"]: r for r in latency["workload"]}
    # torch.stft + mel written independently of the module: agrees in dB (complex stft alone is not compared)
    assert w["torch.stft + re*re+im*im + mel"]["max_db_diff"] < 1e-2
    assert w["audiofront log-mel (factored DFT)"]["max_db_diff"] < 1e-2
    assert "max_db_diff" not in w["torch.stft alone (complex out)"]
    assert any("CUDA graphs: need a CUDA device" in n for n in latency["notes"])

    training = sections["training"]["result"]["runs"]["auto"]
    assert set(training["runs"]) == {"audio in", "spectrograms in"} and training["device"] == "cpu"
    assert math.isfinite(training["overhead"]) and training["batch"] == 2
    assert "Front-end's share of training time" in markdown and "| torch.stft + re*re+im*im + mel |" in markdown


class _Drifting(torch.nn.Module):
    """Returns its input on the first call, input + 0.5 after: a copy that disagrees with the original."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x if self.calls == 1 else x + 0.5


def test_parity_compare_reports_the_difference():
    row = _compare(_Drifting(), np.zeros((2, 100), np.float32), "cpu")
    assert row["max_abs_diff"] == pytest.approx(0.5) and row["output_shape"] == [2, 100]


def _legacy_export(module, path):
    # The TorchScript exporter: a fraction of a second (export_onnx's dynamo export is tested elsewhere).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 32000) * 0.1,), str(path), dynamo=False, input_names=["audio"],
                          output_names=["features"], dynamic_axes={"audio": {0: "b", 1: "t"}, "features": {0: "b", 2: "f"}},
                          opset_version=18)
    return path


def test_ort_section_on_the_cpu_provider_fails_the_cuda_check(tmp_path):
    ctx = CheckContext(device="cpu", quick=True, workdir=tmp_path, threads=2)
    ctx.start(60.0)
    with pytest.raises(SectionFailed, match="CUDAExecutionProvider did not really run") as failed:
        onnxruntime_section(ctx, exporter=_legacy_export)
    result = failed.value.result
    assert result["provider"] == "CPUExecutionProvider"
    check = result["provider_checks"]["kapre-logmel"]
    assert not check["ran"] and "no node ran on CUDAExecutionProvider" in check["reason"]
    assert check["nodes_by_provider"]["CPUExecutionProvider"] > 0 and "MatMul on CPUExecutionProvider" in \
        check["compute_elsewhere"].values()
    row = result["parity"][0]
    assert row["max_abs_diff_vs_ort_cpu"] == 0.0 and row["max_abs_diff_vs_torch_cpu"] < 1e-2 and not row["provider_ran"]
    labels = {r["name"].split(", ", 1)[1] for r in result["latency"] if (r["batch"], r["clip_s"]) == (2, 1.0)}
    assert labels == {"runner.infer (host in, host out)", "I/O binding, device-resident in and out"}
    # The same check passes when the provider it expects is the one that ran.
    model = tmp_path / "kapre-logmel.onnx"
    feeds = {"audio": np.zeros((1, 8000), np.float32)}
    assert provider_check(model, ["CPUExecutionProvider"], feeds, workdir=tmp_path, expected="CPUExecutionProvider")["ran"]


def test_placement_rule_allows_shape_ops_on_the_cpu_not_compute():
    profile = [{"cat": "Node", "name": "conv_kernel_time", "args": {"op_name": "Conv", "provider": "CUDAExecutionProvider"}},
               {"cat": "Node", "name": "shape_kernel_time", "args": {"op_name": "Shape", "provider": "CPUExecutionProvider"}},
               {"cat": "Session", "name": "model_run", "args": {}}]
    placed = nodes_by_provider(profile)
    assert placed == {"CUDAExecutionProvider": {"conv": "Conv"}, "CPUExecutionProvider": {"shape": "Shape"}}
    assert judge_placement(placed)["ran"]
    placed["CPUExecutionProvider"]["mel"] = "MatMul"
    verdict = judge_placement(placed)
    assert not verdict["ran"] and verdict["compute_elsewhere"] == {"mel": "MatMul on CPUExecutionProvider"}
    assert not judge_placement({})["ran"]


def test_tests_section_counts_passed_failed_skipped_and_reasons(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_fake.py").write_text(
        "import pytest\n"
        "@pytest.mark.gpu\ndef test_ok():\n    pass\n"
        "@pytest.mark.gpu\ndef test_bad():\n    assert False\n"
        "@pytest.mark.gpu\n@pytest.mark.skip(reason='no widget here')\ndef test_skipped():\n    pass\n"
        "def test_not_gpu():\n    pass\n")
    (suite / "test_needs_more.py").write_text("import a_test_dependency_not_installed_here\n")
    ctx = CheckContext(device="cpu", quick=True, workdir=tmp_path / "work")
    ctx.start(60.0)
    with pytest.raises(SectionFailed, match="1 of 3 gpu-marked tests failed: .*test_bad") as failed:
        gpu_sections.tests_section(ctx, tests_path=suite)
    result = failed.value.result
    assert (result["total"], result["passed"], result["failed"], result["skipped"]) == (3, 1, 1, 1)
    assert result["skip_reasons"] == {"no widget here": 1}
    assert [m.split(".")[-1] for m in result["uncollected"]] == ["test_needs_more"]
    assert "a_test_dependency_not_installed_here" in next(iter(result["uncollected"].values()))


def test_bad_arguments_name_the_option(capsys):
    assert main(["bench", "gpu", "--sections", "parity,warp"]) == 1
    assert "--sections must name some of tests, parity" in capsys.readouterr().err
    assert main(["bench", "gpu", "--budget-scale", "0"]) == 1
    assert "--budget-scale must be in [0.05, 10]" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_cuda_event_timer_sees_device_work():
    from audiofront.bench.timing import time_cuda_events

    times = time_cuda_events({"sleep": lambda: torch.cuda._sleep(2_000_000), "none": lambda: None}, repeats=5)
    assert min(times["sleep"]) > max(times["none"]) and len(times["sleep"]) == 5
