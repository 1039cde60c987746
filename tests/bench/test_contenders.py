"""The latency benchmark's contender builders run what they claim. A TensorRT contender is built over a
fake runner (a real Runner subclass, so ``input_specs`` is the property it is everywhere): the builder once
called ``input_specs()`` and the failure was swallowed into a note. The ONNX Runtime contender runs a
one-node graph through the shared session maker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from audiofront.bench import latency
from audiofront.runtime import Runner, TensorSpec


class FakeTensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, engine_path, **_):
        super().__init__("fake TensorRT")
        self.engine_path = engine_path

    def _activate(self):
        return ([TensorSpec("waveform", ("batch", "time"), np.float32)],
                [TensorSpec("features", ("batch", "time"), np.float32)])

    def _infer(self, feeds):
        return {"features": feeds["waveform"] * 2.0}

    def _deactivate(self):
        pass


def test_tensorrt_contender_feeds_the_runner_by_its_input_name(tmp_path, monkeypatch):
    import audiofront.export
    import audiofront.runtime.tensorrt_runner

    built = []
    monkeypatch.setattr(audiofront.export, "build_engine", lambda onnx, engine, **_: built.append(engine) or engine,
                        raising=False)
    monkeypatch.setattr(audiofront.runtime.tensorrt_runner, "TensorRTRunner", FakeTensorRTRunner)
    contender = latency._tensorrt_contender(Path("logmel.onnx"), tmp_path, "frontend")
    assert contender.backend == "tensorrt" and contender.task == "frontend" and built == [tmp_path / "logmel.engine"]
    audio = np.random.default_rng(0).standard_normal((2, 300)).astype(np.float32)
    np.testing.assert_array_equal(contender.prepare(audio)()["features"], audio * 2.0)


def test_onnxruntime_contender_runs_the_graph(tmp_path):
    graph = helper.make_graph([helper.make_node("Neg", ["audio"], ["features"])], "neg",
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "time"])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "time"])])
    path = tmp_path / "neg.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString())
    contender = latency._ort_contender("neg", path, "CPUExecutionProvider", "onnxruntime-cpu", "frontend", 1)
    audio = np.random.default_rng(1).standard_normal((3, 50)).astype(np.float32)
    np.testing.assert_array_equal(contender.prepare(audio)()[0], -audio)
    np.testing.assert_array_equal(contender.output(audio), -audio)
