"""fp16 ONNX variant: the classifier runs fp16, the front-end stays fp32 and bit-identical."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, numpy_helper

from audiofront.errors import BackendUnavailable, ConfigError
from audiofront.export import prepend, read_metadata
from audiofront.models import KapreConvNet

pytest.importorskip("onnxconverter_common", reason="onnxconverter-common is not installed")
from audiofront.export.fp16 import compare_fp16, to_fp16  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def pipeline(logmel_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fp16")
    torch.manual_seed(0)
    net = KapreConvNet(n_classes=10, width=32).eval()
    cls = folder / "cnn.onnx"
    torch.onnx.export(net, (torch.randn(2, 1, 96, 70),), str(cls), dynamo=False, opset_version=17,
                      input_names=["spec"], output_names=["logits"], dynamic_axes={"spec": {0: "n", 3: "t"}})
    return prepend(logmel_onnx, cls, folder / "pipe.onnx")


def test_front_end_stays_fp32_and_classifier_goes_fp16(pipeline, logmel_onnx, tmp_path):
    out = to_fp16(pipeline, tmp_path / "pipe16.onnx")
    model = onnx.load(str(out))
    front = {i.name: i for i in onnx.load(str(logmel_onnx)).graph.initializer}
    inits = {i.name: i for i in model.graph.initializer}
    assert any(i.data_type == TensorProto.FLOAT and len(i.dims) > 1 for i in front.values())
    for name, tensor in front.items():  # every front-end constant unchanged: same type, same values
        assert inits[name].data_type == tensor.data_type, name
        np.testing.assert_array_equal(numpy_helper.to_array(inits[name]), numpy_helper.to_array(tensor))
    cls_weights = [i for n, i in inits.items() if "classifier/" in n and len(i.dims) > 1]
    assert cls_weights and all(i.data_type == TensorProto.FLOAT16 for i in cls_weights)
    io = [(v.name, v.type.tensor_type.elem_type) for v in list(model.graph.input) + list(model.graph.output)]
    assert io == [("audio", TensorProto.FLOAT), ("logits", TensorProto.FLOAT)]
    assert read_metadata(out)["audiofront.precision"] == "fp16-classifier"


def test_fp16_accuracy_on_cpu_ort_including_full_scale_audio(pipeline, tmp_path):
    out = to_fp16(pipeline, tmp_path / "pipe16.onnx")
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    # Full-scale sines: their power (~65,536 at n_fft 512) would overflow an fp16 front-end.
    sines = np.stack([np.sin(2 * np.pi * f * t) for f in (440.0, 1000.0, 3000.0, 6000.0)])
    audio = np.concatenate([rng.standard_normal((12, 16000)) * 0.1, sines]).astype(np.float32)
    stats = compare_fp16(pipeline, out, audio)
    assert np.isfinite(stats["max_abs_diff"])
    assert stats["max_rel_diff"] < 5e-3, stats
    assert stats["argmax_agreement"] >= 0.9, stats


def test_refusals(logmel_onnx, pipeline, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not a pipeline"):
        to_fp16(logmel_onnx, tmp_path / "x.onnx")
    monkeypatch.setitem(sys.modules, "onnxconverter_common", None)
    with pytest.raises(BackendUnavailable, match="onnxconverter-common is not installed"):
        to_fp16(pipeline, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
