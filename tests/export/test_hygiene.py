"""Graph hygiene on every preset, ORT = torch on unseen shapes; what hygiene flags."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from audiofront.export import assert_clean_graph, check_graph
from audiofront.errors import ExportError
from audiofront.frontend import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_export_clean_and_match_torch(name, exported_preset, check_clean_and_parity):
    module, path = exported_preset(name)
    check_clean_and_parity(path, module, name)


def _model(nodes, inputs, outputs, opsets=(("", 18),), functions=()):
    graph = helper.make_graph(nodes, "dirty", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], functions=list(functions))


def test_hygiene_flags_every_forbidden_kind():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None])
    nodes = [
        helper.make_node("STFT", ["x", "step"], ["s"]),
        helper.make_node("HannWindow", ["n"], ["w"]),
        helper.make_node("RandomNormalLike", ["x"], ["r"]),
        helper.make_node("SequenceEmpty", [], ["seq"]),
        helper.make_node("Loop", ["m", "c"], ["l"], body=helper.make_graph([], "b", [], [])),
        helper.make_node("Custom", ["x"], ["y"], domain="com.example"),
    ]
    report = check_graph(_model(nodes, [x], [y], opsets=(("", 18), ("com.example", 1))))
    text = "\n".join(report.problems)
    for word in ("STFT", "HannWindow", "RandomNormalLike", "SequenceEmpty", "Loop", "com.example"):
        assert word in text
    assert not report.ok
    with pytest.raises(ExportError, match="not clean"):
        assert_clean_graph(_model(nodes, [x], [y]))


def test_hygiene_flags_fixed_axes():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16000])
    report = check_graph(_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]))
    assert any("fixed batch" in p for p in report.problems)
    assert any("fixed time" in p for p in report.problems)
    assert check_graph(_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]),
                       dynamic_batch=False, dynamic_time=False).ok
