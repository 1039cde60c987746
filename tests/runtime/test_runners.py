"""Runners: one interface, the same numbers on every backend available here, feeds checked against specs.

Tolerances: the prepended ONNX graph on ONNX Runtime CPU vs the same torch modules eagerly, logits
within rtol 1e-4 / atol 1e-4 (float32, different kernels and summation order).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from audiofront.errors import BackendUnavailable, ConfigError, InputError, ModelFileError
from audiofront.runtime import FrontEndClassifier, OnnxRuntimeRunner, RunnerError, TensorRTRunner, TensorSpec, TorchRunner
from audiofront.runtime.backends import backend_status

from .conftest import CLIP, LABELS

LOGIT_TOL = dict(rtol=1e-4, atol=1e-4)


def torch_runner(modules, device="cpu"):
    frontend, classifier = modules
    return TorchRunner(
        FrontEndClassifier(frontend, classifier), device=device,
        input_specs=[TensorSpec("audio", ("batch", "time"), np.float32)],
        output_specs=[TensorSpec("logits", ("batch", len(LABELS)), np.float32)],
    )


def test_onnxruntime_and_torch_runners_agree(artifacts, modules, noise):
    x = noise(3)
    with OnnxRuntimeRunner(artifacts["pipeline"]) as ort_runner, torch_runner(modules) as t_runner:
        assert ort_runner.backend == "onnxruntime-cpu" and t_runner.backend == "torch-cpu"
        (name,) = [s.name for s in ort_runner.output_specs]
        got = ort_runner.infer({"audio": x})[name]
        want = t_runner.infer({"audio": x})["logits"]
    assert got.shape == want.shape == (3, len(LABELS))
    np.testing.assert_allclose(got, want, **LOGIT_TOL)


def test_batch_invariance_in_each_runner(artifacts, modules, noise):
    x = noise(4, seed=7)
    with OnnxRuntimeRunner(artifacts["pipeline"]) as ort_runner, torch_runner(modules) as t_runner:
        name = ort_runner.output_specs[0].name
        for runner, out in ((ort_runner, name), (t_runner, "logits")):
            whole = runner.infer({"audio": x})[out]
            single = np.concatenate([runner.infer({"audio": x[i: i + 1]})[out] for i in range(4)])
            np.testing.assert_allclose(whole, single, rtol=1e-5, atol=1e-5)


def test_io_binding_path_gives_the_plain_run(artifacts, noise):
    x = noise(2)
    with OnnxRuntimeRunner(artifacts["pipeline"], io_binding=True) as bound, OnnxRuntimeRunner(artifacts["pipeline"]) as plain:
        name = plain.output_specs[0].name
        np.testing.assert_array_equal(bound.infer({"audio": x})[name], plain.infer({"audio": x})[name])


def test_specs_are_what_the_model_declares(artifacts):
    with OnnxRuntimeRunner(artifacts["pipeline"]) as runner:
        (audio,) = runner.input_specs
        (out,) = runner.output_specs
        assert audio.name == "audio" and audio.dtype == np.float32 and audio.rank == 2
        assert audio.static_dim(0) is None and audio.static_dim(1) is None  # dynamic batch and time
        assert out.shape[1] == len(LABELS) and out.static_dim(0) is None
        assert runner.metadata["audiofront.kind"] == "pipeline"


@pytest.mark.parametrize(
    "feed, message",
    [
        ({}, "missing \\['audio'\\]"),
        ({"audio": None, "extra": None}, "unexpected \\['extra'\\]"),
        ({"audio": np.zeros((1, CLIP), np.float64)}, "dtype float32, got float64"),
        ({"audio": np.zeros(CLIP, np.float32)}, "rank 2"),
        ({"audio": [[0.0] * 10]}, "numpy array"),
    ],
)
def test_bad_feeds_are_input_errors(artifacts, modules, feed, message):
    for runner in (OnnxRuntimeRunner(artifacts["pipeline"]), torch_runner(modules)):
        with runner:
            with pytest.raises(InputError, match=message):
                runner.infer(feed)


def test_static_dims_are_checked():
    runner = TorchRunner(torch.nn.Identity(), input_specs=[TensorSpec("x", ("batch", 4), np.float32)])
    with runner:
        assert runner.infer({"x": np.ones((2, 4), np.float32)})["output"].shape == (2, 4)
        with pytest.raises(InputError, match="dim 1 = 4"):
            runner.infer({"x": np.ones((2, 5), np.float32)})


def test_life_cycle():
    runner = TorchRunner(torch.nn.Identity(), ["x"])
    with pytest.raises(RunnerError, match="not active"):
        runner.infer({"x": np.zeros(1, np.float32)})
    with pytest.raises(RunnerError, match="not active"):
        runner.input_specs
    with runner as active:
        assert active is runner and runner.is_active
        runner.activate()  # idempotent
        assert runner.last_inference_time() is None
        runner.infer({"x": np.zeros(3, np.float32)})
        assert runner.last_inference_time() > 0
    assert not runner.is_active
    runner.deactivate()  # idempotent


def test_backend_failure_is_a_runner_error():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("CUDA out of memory (simulated)")

    with TorchRunner(Broken(), ["x"]) as runner:
        with pytest.raises(RunnerError, match="out of memory"):
            runner.infer({"x": np.zeros(1, np.float32)})


def test_torch_runner_leaves_the_callers_module_alone():
    module = torch.nn.Linear(2, 2).train()
    with TorchRunner(module, ["x"]):
        pass
    assert module.training


def test_torch_runner_bad_device():
    with pytest.raises(ConfigError, match="device"):
        TorchRunner(torch.nn.Identity(), ["x"], device="tpu")
    with pytest.raises(ConfigError, match="nn.Module"):
        TorchRunner(lambda x: x, ["x"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_torch_cuda_runner_refuses_without_cuda():
    with pytest.raises(BackendUnavailable, match="torch-cuda is not usable"):
        TorchRunner(torch.nn.Identity(), ["x"], device="cuda").activate()


def test_onnxruntime_runner_refuses_a_provider_it_cannot_run(artifacts):
    status = backend_status("onnxruntime-cuda")
    if status.usable:
        pytest.skip("the CUDA provider runs on this machine")
    with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
        OnnxRuntimeRunner(artifacts["pipeline"], ["cuda", "cpu"]).activate()


def test_onnxruntime_runner_bad_model_files(tmp_path, artifacts):
    with pytest.raises(ModelFileError, match="does not exist"):
        OnnxRuntimeRunner(tmp_path / "missing.onnx").activate()
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelFileError, match="onnxruntime cannot load"):
        OnnxRuntimeRunner(junk).activate()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(artifacts["pipeline"].read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="onnxruntime cannot load"):
        OnnxRuntimeRunner(truncated).activate()


def test_onnxruntime_runner_takes_bytes_and_aliases(artifacts, noise):
    x = noise(1)
    with OnnxRuntimeRunner(artifacts["pipeline"].read_bytes(), "cpu") as runner:
        assert runner.providers == ["CPUExecutionProvider"]
        assert runner.infer({"audio": x})[runner.output_specs[0].name].shape == (1, len(LABELS))


# ----- GPU and TensorRT: run where they exist -------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_torch_cuda_runner_matches_cpu(modules, noise):
    x = noise(4)
    with torch_runner(modules, "cuda") as gpu, torch_runner(modules) as cpu:
        np.testing.assert_allclose(gpu.infer({"audio": x})["logits"], cpu.infer({"audio": x})["logits"], rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not backend_status("onnxruntime-cuda").usable, reason=backend_status("onnxruntime-cuda").reason)
def test_onnxruntime_cuda_runner_matches_cpu(artifacts, noise):
    x = noise(4)
    with OnnxRuntimeRunner(artifacts["pipeline"], ["cuda", "cpu"]) as gpu, OnnxRuntimeRunner(artifacts["pipeline"]) as cpu:
        assert gpu.io_binding and gpu.session.get_providers()[0] == "CUDAExecutionProvider"
        name = cpu.output_specs[0].name
        np.testing.assert_allclose(gpu.infer({"audio": x})[name], cpu.infer({"audio": x})[name], rtol=1e-3, atol=1e-3)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed on this machine")
def test_tensorrt_runner_refuses_clearly_without_tensorrt(tmp_path):
    runner = TensorRTRunner(tmp_path / "model.engine")
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        runner.activate()
    assert not runner.is_active


@pytest.mark.tensorrt
@pytest.mark.skipif(not backend_status("tensorrt").usable, reason=backend_status("tensorrt").reason)
def test_tensorrt_runner_matches_onnxruntime(artifacts, noise, tmp_path):
    from audiofront.export.engine import build_engine

    engine = build_engine(artifacts["pipeline"], tmp_path / "pipeline.engine",
                          shapes={"batch": (1, 4, 8), "time": (CLIP, CLIP, CLIP)})
    x = noise(3)
    with TensorRTRunner(engine) as trt_runner, OnnxRuntimeRunner(artifacts["pipeline"]) as cpu:
        name = cpu.output_specs[0].name
        assert trt_runner.max_batch_size == 8
        np.testing.assert_allclose(trt_runner.infer({"audio": x})[name], cpu.infer({"audio": x})[name], rtol=1e-3, atol=1e-3)
