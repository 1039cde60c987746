"""The metadata contract helpers and the atomic file helpers."""

from __future__ import annotations

import os

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from audiofront.errors import ModelFileError
from audiofront.export import atomic_write_bytes, decode_metadata, eval_frames, load_onnx, read_metadata, write_metadata
from audiofront.export.metadata import frames_formula
from audiofront.frontend import Spectrogram


def tiny_model():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "t",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_round_trip_through_a_file(tmp_path):
    model = tiny_model()
    model.metadata_props.add(key="other.tool", value="kept")
    write_metadata(model, {"kind": "classifier", "sample_rate": 22050, "center": False,
                           "labels": ["a", "b"], "audiofront.output": "logits"})
    onnx.save(model, str(tmp_path / "m.onnx"))
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta == {"audiofront.kind": "classifier", "audiofront.sample_rate": "22050", "audiofront.center": "false",
                    "audiofront.labels": '["a", "b"]', "audiofront.output": "logits"}
    assert decode_metadata(meta) == {"kind": "classifier", "sample_rate": 22050, "center": False,
                                     "labels": ["a", "b"], "output": "logits"}
    write_metadata(model, {"sample_rate": None})
    assert "audiofront.sample_rate" not in read_metadata(model)
    write_metadata(model, {"kind": "pipeline"}, replace=True)
    assert read_metadata(model) == {"audiofront.kind": "pipeline"}
    assert {p.key: p.value for p in model.metadata_props}["other.tool"] == "kept"


@pytest.mark.parametrize("meta", [{"audiofront.sample_rate": "fast"}, {"audiofront.center": "yes"},
                                  {"audiofront.labels": '{"a": 1}'}])
def test_decode_refuses_bad_values(meta):
    with pytest.raises(ModelFileError, match="does not parse"):
        decode_metadata(meta)


@pytest.mark.parametrize("n_fft, hop, center, pad", [(512, 256, True, 0), (400, 160, False, 0), (256, 100, True, 7),
                                                     (255, 64, True, 0)])
def test_frames_formula_matches_the_module(n_fft, hop, center, pad):
    spec = Spectrogram(n_fft=n_fft, hop_length=hop, center=center, pad=pad)
    formula = frames_formula(n_fft, hop, center, pad)
    for length in (spec.min_length, 1000, 4097, 16000):
        assert eval_frames(formula, length) == spec.frames(length) == spec(torch.zeros(1, length)).shape[-1]


@pytest.mark.parametrize("formula", ["__import__('os').getcwd()", "time.real", "1 + time / 2", "time ** 2", "x + 1", "1 +"])
def test_eval_frames_allows_only_integer_arithmetic_of_time(formula):
    with pytest.raises(ModelFileError):
        eval_frames(formula, 100)


def test_load_onnx_names_the_file_and_reason(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(tiny_model(), str(good))
    assert load_onnx(good).graph.node[0].op_type == "Relu"
    cases = {"empty.onnx": b"", "junk.onnx": b"\x08\x07garbage\xff\xff\xff", "cut.onnx": good.read_bytes()[:30]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match=name):
            load_onnx(tmp_path / name)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_onnx(tmp_path / "nope.onnx")


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old")

    def fail(src, dst):
        raise OSError("simulated")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    atomic_write_bytes(tmp_path / "sub" / "new.bin", b"x")
    assert (tmp_path / "sub" / "new.bin").read_bytes() == b"x"
