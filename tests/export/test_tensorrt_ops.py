"""check_tensorrt: the support table as data, what it flags, and that our presets pass."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from audiofront.export import check_tensorrt, tensorrt_table
from audiofront.frontend import PRESETS


def model(nodes, inputs, outputs, initializers=(), opset=18, extra_opsets=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(graph, opset_imports=imports)


def vi(name, elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def test_table_is_data_with_source_and_version():
    table = tensorrt_table()
    assert "onnx/onnx-tensorrt" in table["source"] and "docs/operators.md" in table["source"]
    assert table["tensorrt_version"] == "10.15" and table["opset_min"] <= 18 <= table["opset_max"]
    for op, entry in table["operators"].items():
        assert isinstance(entry["supported"], bool), op
        assert entry["types"] or not entry["supported"], op
    assert table["operators"]["DFT"]["supported"] is False
    assert table["operators"]["MelWeightMatrix"]["supported"] is False


def test_flags_unsupported_spectral_ops():
    nodes = [helper.make_node("STFT", ["x", "step", "win"], ["s"]), helper.make_node("DFT", ["s"], ["y"]),
             helper.make_node("MelWeightMatrix", ["a", "b", "c", "d", "e"], ["m"])]
    inputs = [vi("x", shape=[1, "t", 1]), vi("step", TensorProto.INT64, []), vi("win", shape=[64])] + \
             [vi(n, TensorProto.INT64, []) for n in "abc"] + [vi(n, shape=[]) for n in "de"]
    report = check_tensorrt(model(nodes, inputs, [vi("y"), vi("m")]))
    assert not report.ok
    assert set(report.unsupported) == {"STFT", "DFT", "MelWeightMatrix"}
    assert "frame_step" in "; ".join(report.rows["STFT"].notes)
    text = str(report)
    assert "NOT supported" in text and "DFT" in text and "FAIL" in text


def test_stft_restrictions_hold_with_constant_step_and_window():
    step = numpy_helper.from_array(np.array(16, dtype=np.int64), "step")
    win = numpy_helper.from_array(np.hanning(64).astype(np.float32), "win")
    nodes = [helper.make_node("STFT", ["x", "step", "win"], ["y"])]
    report = check_tensorrt(model(nodes, [vi("x", shape=[1, "t", 1])], [vi("y")], [step, win]))
    assert report.ok, report


def test_modes_types_outputs_and_rank():
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    cubic = helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="cubic")
    linear = helper.make_node("Resize", ["x", "", "scales"], ["r2"], mode="linear")
    pool = helper.make_node("MaxPool", ["x"], ["p", "idx"], kernel_shape=[2, 2])
    pool1d = helper.make_node("MaxPool", ["z"], ["p1"], kernel_shape=[2])
    log_int = helper.make_node("Log", ["i"], ["l"])
    inputs = [vi("x", shape=["n", 1, 8, 8]), vi("z", shape=["n", 1, 8]), vi("i", TensorProto.INT64, ["n"])]
    outputs = [vi(n) for n in ("r", "r2", "p", "p1")] + [vi("idx", TensorProto.INT64), vi("l", TensorProto.INT64)]
    report = check_tensorrt(model([cubic, linear, pool, pool1d, log_int], inputs, outputs, [scales]))
    notes = {op: "; ".join(row.notes) for op, row in report.rows.items()}
    assert "mode='cubic'" in notes["Resize"]
    assert "Indices" in notes["MaxPool"] and "rank 3" in notes["MaxPool"]
    assert "type INT64" in notes["Log"]
    assert set(report.unsupported) == {"Resize", "MaxPool", "Log"}
    assert check_tensorrt(model([linear], inputs[:1], [vi("r2")], [scales])).ok


def test_runtime_axes_custom_domain_and_opset_range():
    shape_axes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ReduceMax", ["x", "s"], ["y"])]
    custom = helper.make_node("Frobnicate", ["x"], ["c"], domain="com.example")
    report = check_tensorrt(model(shape_axes + [custom], [vi("x", shape=["n", 4])], [vi("y"), vi("c")], opset=25,
                                  extra_opsets=[("com.example", 1)]))
    assert "axes" in "; ".join(report.rows["ReduceMax"].notes)
    assert "com.example::Frobnicate" in report.unsupported
    assert any("opset 25" in p for p in report.graph_problems)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_pass(name, exported_preset):
    _, path = exported_preset(name)
    report = check_tensorrt(path)
    assert report.ok, str(report)
    # Kapre's presets do not centre their frames (tf.signal.stft): no Pad in their graphs.
    assert {"Conv", "Log"} | (set() if name.startswith("kapre-") else {"Pad"}) <= set(report.rows)
