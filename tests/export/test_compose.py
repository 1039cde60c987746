"""prepend: a front-end ONNX joined to a classifier ONNX exported separately gives torch's logits."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from audiofront.errors import ExportError, ModelFileError
from audiofront.export import check_graph, eval_frames, export_onnx, prepend, read_metadata, write_metadata
from audiofront.frontend import preset
from audiofront.models import KapreConvNet

# The classifiers come from torch's legacy exporter on purpose (another producer, older opset).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def export_classifier(net: nn.Module, path, example: torch.Tensor, dynamic: dict | None, opset: int = 13):
    """Export with torch's legacy TorchScript exporter at an older opset: a graph audiofront did not make."""
    torch.onnx.export(net.eval(), (example,), str(path), dynamo=False, opset_version=opset, input_names=["spec"],
                      output_names=["scores"], dynamic_axes=dynamic)
    return path


class NHWCNet(nn.Module):
    """A Keras-style classifier: input (batch, bins, frames, 1), softmax output."""

    def __init__(self, bins: int, n_classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2)
        self.fc = nn.Linear(8, n_classes)

    def forward(self, x):
        h = torch.relu(self.conv(x.permute(0, 3, 1, 2)))
        return torch.softmax(self.fc(h.mean(dim=(-2, -1))), dim=-1)


def run(path, audio):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"audio": audio.numpy()})[0]


def test_prepend_nchw_classifier_gives_torch_logits(logmel, logmel_onnx, unseen_audio, tmp_path):
    torch.manual_seed(0)
    net = KapreConvNet(n_classes=10, width=16).eval()
    cls = export_classifier(net, tmp_path / "cnn.onnx", torch.randn(2, 1, 96, 70),
                            {"spec": {0: "n", 3: "t"}, "scores": {0: "n"}})
    labels = [f"class{i}" for i in range(10)]
    out = prepend(logmel_onnx, cls, tmp_path / "pipe.onnx", labels=labels)
    audio = torch.cat([unseen_audio, unseen_audio], dim=1)  # 3 x 24690 samples -> 97 frames
    got = run(out, audio)
    with torch.no_grad():
        want = net(logmel(audio).unsqueeze(1)).numpy()
    assert got.shape == want.shape == (3, 10)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

    meta = read_metadata(out)
    assert meta["audiofront.kind"] == "pipeline"
    assert meta["audiofront.feature_layout"] == "batch,1,bins,frames"
    assert json.loads(meta["audiofront.labels"]) == labels
    assert meta["audiofront.clip_samples"] == "16000"  # any length: one second by default
    assert meta["audiofront.output"] == "logits" and meta["audiofront.output_layout"] == "batch,classes"
    assert meta["audiofront.sample_rate"] == "16000" and meta["audiofront.n_mels"] == "96"
    report = check_graph(out)
    assert report.ok, report
    assert [o.version for o in onnx.load(str(out)).opset_import if o.domain == ""] == [18]


def test_prepend_nhwc_fixed_frames_classifier(logmel, logmel_onnx, tmp_path):
    torch.manual_seed(1)
    net = NHWCNet(96).eval()
    cls = export_classifier(net, tmp_path / "nhwc.onnx", torch.randn(1, 96, 63, 1), {"spec": {0: "n"}}, opset=17)
    out = prepend(logmel_onnx, cls, tmp_path / "pipe.onnx", labels=["a", "b", "c", "d"])
    meta = read_metadata(out)
    assert meta["audiofront.feature_layout"] == "batch,bins,frames,1"
    assert meta["audiofront.output"] == "probabilities"  # the classifier ends in Softmax
    clip = int(meta["audiofront.clip_samples"])
    assert eval_frames(meta["audiofront.frames"], clip) == 63 and eval_frames(meta["audiofront.frames"], clip - 1) == 62
    audio = torch.randn(2, clip) * 0.1
    with torch.no_grad():
        want = net(logmel(audio).unsqueeze(-1)).numpy()
    np.testing.assert_allclose(run(out, audio), want, rtol=1e-4, atol=1e-5)


def test_classifier_that_cannot_take_the_features(logmel_onnx, tmp_path):
    net = KapreConvNet(n_classes=3, width=8)
    cls = export_classifier(net, tmp_path / "cnn80.onnx", torch.randn(1, 1, 80, 70), {"spec": {0: "n", 3: "t"}})
    target = tmp_path / "pipe.onnx"
    with pytest.raises(ExportError, match=r"cnn80\.onnx.*\(n, 1, 80, t\).*logmel\.onnx.*\(batch, 96, frames\)"):
        prepend(logmel_onnx, cls, target)
    with pytest.raises(ExportError, match=r"\(n, 1, 80, t\).*\(batch, 1, 96, frames\).*axis 2: 80 != 96"):
        prepend(logmel_onnx, cls, target, layout="batch,1,bins,frames")
    assert not target.exists()


def test_sample_rate_and_mel_mismatch(logmel_onnx, tmp_path):
    net = KapreConvNet(n_classes=3, width=8)
    path = export_classifier(net, tmp_path / "c.onnx", torch.randn(1, 1, 96, 70), {"spec": {0: "n", 3: "t"}})
    model = onnx.load(str(path))
    write_metadata(model, {"kind": "classifier", "sample_rate": 22050})
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match=r"sample-rate mismatch.*16000.*c\.onnx.*22050"):
        prepend(logmel_onnx, path, tmp_path / "p.onnx")
    write_metadata(model, {"sample_rate": 16000, "n_mels": 128})
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match="n_mels mismatch.*96.*128"):
        prepend(logmel_onnx, path, tmp_path / "p.onnx")
    with pytest.raises(ExportError, match="sample-rate mismatch.*argument says 44100"):
        prepend(logmel_onnx, path, tmp_path / "p.onnx", sample_rate=44100)
    assert sorted(os.listdir(tmp_path)) == ["c.onnx"]


def test_unreadable_inputs_name_the_file(logmel_onnx, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf at all \xff\xfe")
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(logmel_onnx.read_bytes()[:4000])
    for bad in (junk, truncated, tmp_path / "missing.onnx"):
        with pytest.raises(ModelFileError, match=bad.name):
            prepend(logmel_onnx, bad, tmp_path / "p.onnx")
    # A classifier is no front-end: no audiofront metadata.
    with pytest.raises(ModelFileError, match="no audiofront front-end metadata"):
        prepend(export_classifier(KapreConvNet(3, width=8), tmp_path / "c.onnx", torch.randn(1, 1, 96, 70), None),
                tmp_path / "c.onnx", tmp_path / "p.onnx")
    assert not (tmp_path / "p.onnx").exists()


def test_dtype_mismatch_names_both(logmel_onnx, tmp_path):
    net = KapreConvNet(n_classes=3, width=8).half()
    path = tmp_path / "half.onnx"
    torch.onnx.export(net.eval(), (torch.randn(1, 1, 96, 70, dtype=torch.float16),), str(path), dynamo=False,
                      opset_version=13, input_names=["spec"])
    with pytest.raises(ExportError, match="FLOAT16.*FLOAT"):
        prepend(logmel_onnx, path, tmp_path / "p.onnx")


def test_multichannel_front_end_feeds_a_multichannel_classifier(tmp_path):
    fe = preset("bench-logmel", sample_rate=16000, n_mels=96, algorithm="direct").eval()
    fe_path = export_onnx(fe, tmp_path / "fe2.onnx", sample_input=torch.randn(2, 2, 16000))
    net = KapreConvNet(n_classes=5, in_channels=2, width=8).eval()
    cls = export_classifier(net, tmp_path / "cnn2.onnx", torch.randn(2, 2, 96, 70), {"spec": {0: "n", 3: "t"}})
    out = prepend(fe_path, cls, tmp_path / "pipe2.onnx")
    assert read_metadata(out)["audiofront.feature_layout"] == "batch,channels,bins,frames"
    audio = torch.randn(3, 2, 20000) * 0.1
    with torch.no_grad():
        want = net(fe(audio)).numpy()
    np.testing.assert_allclose(run(out, audio), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spelling", ["(batch, 1, n_mels, frames)", "NCHW", "batch, 1, freq, time", "batch,1,bins,frames"])
def test_layout_spellings_mean_the_same(spelling):
    from audiofront.export.compose import canonical_layout

    assert canonical_layout(spelling) == "batch,1,bins,frames"


def test_layout_spelling_is_used_by_prepend(logmel, logmel_onnx, tmp_path):
    torch.manual_seed(2)
    net = KapreConvNet(n_classes=3, width=8).eval()
    cls = export_classifier(net, tmp_path / "cnn96.onnx", torch.randn(1, 1, 96, 70), {"spec": {0: "n", 3: "t"}})
    out = prepend(logmel_onnx, cls, tmp_path / "pipe.onnx", layout="(batch, 1, n_mels, frames)")
    assert read_metadata(out)["audiofront.feature_layout"] == "batch,1,bins,frames"
    audio = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        want = net(logmel(audio).unsqueeze(1)).numpy()
    np.testing.assert_allclose(run(out, audio), want, rtol=1e-4, atol=1e-5)
