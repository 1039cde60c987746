"""A backend is one file: a toy backend registered from this test file is picked by Pipeline (auto and by
name), listed by ``audiofront doctor`` and refused for artifacts it does not run, with no package file
changed. The toy runs the ONNX with numpy through ONNX Runtime's reference evaluator (onnx.reference),
so its outputs are checked against the onnxruntime-cpu backend, an independent implementation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiofront.errors import BackendUnavailable, ConfigError
from audiofront.runtime import Pipeline, Runner, TensorSpec
from audiofront.runtime import backends
from audiofront.runtime.backends import Backend, choose_backend, register_backend, unregister_backend


class ReferenceRunner(Runner):
    """Runs an ONNX file with onnx's reference evaluator (pure numpy, slow, exact)."""

    backend = "toy-reference"

    def __init__(self, path):
        super().__init__()
        self.path = path

    def _activate(self):
        import onnx
        from onnx.reference import ReferenceEvaluator

        model = onnx.load(str(self.path))
        self.session = ReferenceEvaluator(model)
        from audiofront.export.hygiene import graph_inputs, value_dims

        ins = [TensorSpec(i.name, tuple(value_dims(i)), np.float32) for i in graph_inputs(model)]
        outs = [TensorSpec(o.name, tuple(value_dims(o)), np.float32) for o in model.graph.output]
        return ins, outs

    def _infer(self, feeds):
        names = [s.name for s in self._output_specs]
        return dict(zip(names, self.session.run(names, feeds)))

    def _deactivate(self):
        self.session = None


@pytest.fixture
def toy():
    made = []

    def make_runner(artifact, *, kind, threads=None, **_):
        made.append((str(artifact), kind))
        return ReferenceRunner(artifact)

    backend = register_backend(Backend("toy-reference", lambda: (True, "numpy reference evaluator"), make_runner,
                                       ("onnx",), rank=1, device="cpu"))
    yield backend, made
    unregister_backend("toy-reference")


def test_a_toy_backend_is_picked_by_pipeline_and_listed_by_doctor(toy, artifacts, capsys):
    from audiofront.cli import main

    backend, made = toy
    assert backends.AUTO_ORDER[0] == "toy-reference" and "toy-reference" in backends.BACKENDS
    rng = np.random.default_rng(3)
    with Pipeline.load(artifacts["pipeline"]) as p, \
            Pipeline.load(artifacts["pipeline"], backend="onnxruntime-cpu") as ref:
        windows = (rng.standard_normal((2, p.clip_samples)) * 0.1).astype(np.float32)
        assert p.backend == "toy-reference" and "numpy reference evaluator" in p.backend_reason
        assert made == [(str(artifacts["pipeline"]), "onnx")]
        np.testing.assert_allclose(p.predict(windows), ref.predict(windows), atol=1e-4)
    with Pipeline.load(artifacts["pipeline"], backend="toy-reference") as p:
        assert p.backend == "toy-reference"

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"name": "toy-reference", "usable": True, "reason": "numpy reference evaluator"} in report["backends"]
    assert report["auto"]["onnx"] == "toy-reference"
    assert report["auto"]["torch"] != "toy-reference"  # it does not run torch modules


def test_a_toy_backend_is_refused_for_kinds_it_does_not_run(toy):
    with pytest.raises(BackendUnavailable, match="toy-reference.*runs .onnx pipelines only"):
        choose_backend("toy-reference", kind="engine")
    assert choose_backend("auto", kind="torch").name.startswith("torch-")


def test_unusable_toy_is_skipped_with_its_reason(artifacts):
    register_backend(Backend("toy-broken", lambda: (False, "simulated: no toy device"), lambda *a, **k: None,
                             ("onnx",), rank=0))
    try:
        with Pipeline.load(artifacts["pipeline"]) as p:
            assert p.backend == "onnxruntime-cpu" and "toy-broken: simulated: no toy device" in p.backend_reason
    finally:
        unregister_backend("toy-broken")
    assert "toy-broken" not in backends.BACKENDS


def test_registry_refuses_bad_entries():
    with pytest.raises(ConfigError, match="already registered"):
        register_backend(backends.get_backend("onnxruntime-cpu"))
    with pytest.raises(ConfigError, match="kinds must be"):
        Backend("x", lambda: (True, ""), lambda *a: None, ("wav",))
    with pytest.raises(ConfigError, match="other than 'auto'"):
        Backend("auto", lambda: (True, ""), lambda *a: None, ("onnx",))
    with pytest.raises(ConfigError, match="backend must be 'auto' or one of"):
        backends.get_backend("nope")
