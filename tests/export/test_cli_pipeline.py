"""``audiofront export --classifier``: pipelines end to end through audiofront.cli.main."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import pytest
from onnx import TensorProto, helper

from audiofront.cli import main
from audiofront.export import read_metadata
from audiofront.export.config import frontend_from_config
from audiofront.models import KapreConvNet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIG = {"type": "MelSpectrogram",
          "args": {"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "n_mels": 80, "algorithm": "direct"},
          "db": {"top_db": 80}}


@pytest.fixture()
def config_file(tmp_path):
    path = tmp_path / "fe.json"
    path.write_text(json.dumps(CONFIG))
    return path


def test_config_plus_classifier_gives_a_pipeline(config_file, tmp_path, capsys):
    torch.manual_seed(0)
    net = KapreConvNet(n_classes=3, width=8).eval()
    cls = tmp_path / "cnn.onnx"
    torch.onnx.export(net, (torch.randn(1, 1, 80, 70),), str(cls), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "n", 3: "t"}})
    labels = tmp_path / "labels.txt"
    labels.write_text("dog\ncat\nbird\n")
    out = tmp_path / "pipe.onnx"
    assert main(["export", "--config", str(config_file), "--classifier", str(cls), "--labels", str(labels),
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pipe.frontend.onnx" in text and f"wrote {out}" in text
    meta = read_metadata(out)
    assert meta["audiofront.kind"] == "pipeline" and json.loads(meta["audiofront.labels"]) == ["dog", "cat", "bird"]
    audio = torch.randn(2, 9000) * 0.1
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"audio": audio.numpy()})[0]
    fe = frontend_from_config(CONFIG).eval()
    with torch.no_grad():
        want = net(fe(audio).unsqueeze(1)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_bad_classifier_fails_cleanly(config_file, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    out = tmp_path / "pipe.onnx"
    assert main(["export", "--config", str(config_file), "--classifier", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad.onnx" in err and "not an ONNX model" in err
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx", "fe.json"]


def test_unsupported_op_fails_unless_allowed(config_file, tmp_path, capsys):
    # A classifier ending in Bernoulli, which TensorRT's ONNX parser does not take.
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["feats", "axes"], ["pooled"], keepdims=0),
         helper.make_node("Sigmoid", ["pooled"], ["p"]), helper.make_node("Bernoulli", ["p"], ["scores"])],
        "odd", [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["n", 80, "t"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 80])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [2])])
    cls = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(cls))
    out = tmp_path / "pipe.onnx"
    argv = ["export", "--config", str(config_file), "--classifier", str(cls), "-o", str(out)]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "Bernoulli" in text and "FAIL" in text and "removed the outputs" in text
    assert sorted(os.listdir(tmp_path)) == ["fe.json", "odd.onnx"]
    assert main(argv + ["--allow-unsupported"]) == 0
    assert out.exists() and read_metadata(out)["audiofront.kind"] == "pipeline"
