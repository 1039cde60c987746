"""export_classifier (kind=classifier, checked, atomic), its CLI, the Triton ensemble and prepend reading what
it writes, and FrontEndClassifier's layouts against numpy transposes."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from audiofront.errors import ConfigError, ExportError
from audiofront.export import export_classifier, prepend, read_metadata
from audiofront.export.classifier import FrontEndClassifier
from audiofront.export.metadata import FEATURE_LAYOUTS, check_metadata, eval_frames, layout_shape
from tests.artifacts import CLIP_SAMPLES, LABELS


def _frames(frontend_onnx):
    return eval_frames(read_metadata(frontend_onnx)["audiofront.frames"], CLIP_SAMPLES)


def test_a_torch_classifier_exports_and_feeds_the_triton_ensemble_and_prepend(onnx_parts, torch_parts, tmp_path):
    import onnxruntime as ort

    from audiofront.export.triton import write_model_repository
    from audiofront.runtime import Pipeline

    frontend, _ = torch_parts
    frames = _frames(onnx_parts["frontend"])
    torch.manual_seed(1)
    tiny = torch.nn.Sequential(torch.nn.AvgPool2d((16, 7)), torch.nn.Flatten(), torch.nn.LazyLinear(len(LABELS)))
    tiny(torch.zeros(1, 1, 128, frames))  # materialise the lazy layer
    out = export_classifier(tiny, tmp_path / "cls.onnx", frontend=onnx_parts["frontend"], labels=LABELS)
    meta = check_metadata(read_metadata(out), kind="classifier", source="cls.onnx")
    assert meta["feature_layout"] == "batch,1,bins,frames" and meta["labels"] == LABELS
    assert meta["clip_samples"] == CLIP_SAMPLES and meta["output"] == "logits" and meta["n_bins"] == 128

    features = np.random.default_rng(0).standard_normal((3, 1, 128, frames)).astype(np.float32)  # batch 3: not traced
    got = ort.InferenceSession(str(out)).run(None, {"features": features})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, tiny(torch.from_numpy(features)).numpy(), atol=1e-5)

    write_model_repository(out=tmp_path / "repo", name="tiny", ensemble=True, frontend=onnx_parts["frontend"],
                           classifier=out, kind="KIND_CPU")
    for part in ("tiny", "tiny_frontend", "tiny_classifier"):
        assert (tmp_path / "repo" / part / "config.pbtxt").is_file()

    pipeline = prepend(onnx_parts["frontend"], out, tmp_path / "pipeline.onnx")  # layout from its metadata
    assert read_metadata(pipeline)["audiofront.feature_layout"] == "batch,1,bins,frames"
    audio = (np.random.default_rng(1).standard_normal((2, CLIP_SAMPLES)) * 0.1).astype(np.float32)
    with torch.no_grad():
        logits = FrontEndClassifier(frontend, tiny)(torch.from_numpy(audio)).numpy().astype(np.float64)
    want = np.exp(logits - logits.max(-1, keepdims=True))
    with Pipeline.load(pipeline, backend="onnxruntime-cpu") as p:
        np.testing.assert_allclose(p.predict(audio), want / want.sum(-1, keepdims=True), atol=1e-4)


def test_an_onnx_classifier_is_stamped_and_misfits_are_refused(onnx_parts, tmp_path):
    out = export_classifier(onnx_parts["classifier"], tmp_path / "stamped.onnx", frontend=onnx_parts["frontend"],
                            labels=LABELS)
    assert read_metadata(out)["audiofront.output"] == "probabilities"  # its rows sum to one
    with pytest.raises(ExportError, match=r"gives shape \(2, 5\).*\(2, 3\)"):
        export_classifier(onnx_parts["classifier"], tmp_path / "x.onnx", frontend=onnx_parts["frontend"],
                          labels=["a", "b", "c"])
    with pytest.raises(ExportError, match="does not take features"):
        export_classifier(onnx_parts["classifier"], tmp_path / "x.onnx", frontend=onnx_parts["frontend"],
                          labels=LABELS, layout="batch,frames,bins")
    with pytest.raises(ExportError, match="does not take features"):
        export_classifier(onnx_parts["classifier"], tmp_path / "x.onnx", frontend=onnx_parts["frontend"],
                          labels=LABELS, clip_samples=CLIP_SAMPLES + 4096)
    for bad, match in (({"labels": []}, "labels"), ({"labels": ["a", "a", "b", "c", "d"]}, "distinct"),
                       ({"labels": LABELS, "output": "scores"}, "output"), ({"labels": LABELS, "clip_samples": 0},
                                                                            "clip_samples")):
        with pytest.raises(ConfigError, match=match):
            export_classifier(onnx_parts["classifier"], tmp_path / "x.onnx", frontend=onnx_parts["frontend"], **bad)
    assert not (tmp_path / "x.onnx").exists()


def test_export_classifier_command(onnx_parts, tmp_path, capsys):
    from audiofront.cli import main

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    out = tmp_path / "cls.onnx"
    assert main(["export-classifier", "--onnx", str(onnx_parts["classifier"]), "--frontend",
                 str(onnx_parts["frontend"]), "--labels", str(labels), "-o", str(out)]) == 0
    assert read_metadata(out)["audiofront.kind"] == "classifier"
    assert json.loads(read_metadata(out)["audiofront.labels"]) == LABELS
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("layout", FEATURE_LAYOUTS + ("NCHW", "(batch, time, n_mels)"))
def test_front_end_classifier_layouts_are_numpy_transposes(layout):
    features = torch.from_numpy(np.random.default_rng(2).standard_normal((2, 5, 7)).astype(np.float32))
    model = FrontEndClassifier(torch.nn.Identity(), torch.nn.Identity(), layout)
    got = model(features).numpy()
    canonical = model.layout.split(",")
    want = features.numpy()
    if canonical.index("frames") < canonical.index("bins"):
        want = want.transpose(0, 2, 1)
    want = want.reshape(layout_shape(["batch", "bins", "frames"], [2, 5, 7], model.layout))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_front_end_classifier_refuses_unknown_layouts():
    with pytest.raises(ConfigError, match="layout must be one of"):
        FrontEndClassifier(torch.nn.Identity(), torch.nn.Identity(), "batch,bins")


@pytest.mark.parametrize("seed", range(4))
def test_front_end_classifier_min_length_gives_the_classifier_its_fewest_frames(seed):
    """The spec export checks at: one sample fewer would give KapreConvNet too few frames (a seeded grid)."""
    from audiofront.export.classifier import FrontEndClassifier
    from audiofront.frontend import MelSpectrogram
    from audiofront.models import KapreConvNet

    rng = np.random.default_rng(seed)
    n_fft = int(rng.choice([256, 400, 512, 1024]))
    hop = int(rng.integers(16, n_fft // 2 + 1))
    center = bool(rng.integers(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fe = MelSpectrogram(16000, n_fft=n_fft, hop_length=hop, n_mels=96, center=center)
    model = FrontEndClassifier(fe, KapreConvNet(n_classes=3)).eval()
    length = model.input_spec().min_length
    assert fe.frames(length) >= KapreConvNet.MIN_FRAMES > fe.frames(length - 1)
    with torch.no_grad():
        assert model(torch.randn(1, length) * 0.1).shape == (1, 3)


@pytest.mark.parametrize("name", ["panns-cnn14", "clap"])
def test_prepend_onto_a_front_end_that_gives_a_size_one_axis(name, exported_preset, tmp_path):
    """PANNs and CLAP presets give (batch, 1, frames, bins), what their CNNs take: prepend squeezes and
    re-inserts the axis, and the pipeline equals the torch front-end + classifier."""
    from audiofront.runtime import Pipeline

    module, frontend_path = exported_preset(name)

    class Head(torch.nn.Module):  # a small CNN over (batch, 1, frames, 64)
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x / 50.0)).mean(dim=(2, 3)))

    torch.manual_seed(0)
    head = Head().eval()
    head_path = tmp_path / "head.onnx"
    torch.onnx.export(head, (torch.randn(1, 1, 101, 64),), str(head_path), dynamo=True, input_names=["features"],
                      output_names=["logits"], opset_version=18, verbose=False,
                      dynamic_shapes=({0: torch.export.Dim("batch"), 2: torch.export.Dim("frames", min=3)},))
    rate = module.sample_rate
    clip = 2 * rate
    out = prepend(frontend_path, head_path, tmp_path / "pipe.onnx", labels=["a", "b", "c"], clip_samples=clip)
    x = (np.random.default_rng(1).standard_normal((2, clip)) * 0.1).astype(np.float32)
    with torch.no_grad():
        want = torch.softmax(head(module(torch.from_numpy(x))), -1).numpy()
    with Pipeline.load(out, backend="onnxruntime-cpu") as pipe:
        got = np.stack([r.probabilities for r in pipe.classify(list(x))])
    assert np.abs(got - want).max() < 1e-5
