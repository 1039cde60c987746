"""Small real ONNX artifacts for the serving tests: a log-mel front-end, an (untrained) KapreConvNet
classifier, and the two prepended into one pipeline, all at 16 kHz with 1 s windows."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from audiofront.export import export_onnx, read_metadata, write_metadata
from audiofront.frontend import preset
from audiofront.models import KapreConvNet

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000
LABELS = ["do", "re", "mi", "fa", "sol"]


class _Prepended(nn.Module):
    def __init__(self, frontend, classifier):
        super().__init__()
        self.frontend, self.classifier = frontend, classifier

    def forward(self, audio):
        return self.classifier(self.frontend(audio).unsqueeze(1))


def _legacy_export(module, example, path, input_name, output_name):
    # The TorchScript exporter: a fraction of a second for these small fixed-size graphs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=[input_name],
                          output_names=[output_name], opset_version=18,
                          dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})


@pytest.fixture(scope="session")
def torch_parts():
    torch.manual_seed(0)
    frontend = preset("kapre-logmel", sample_rate=SAMPLE_RATE).eval()
    classifier = KapreConvNet(n_classes=len(LABELS), softmax=True).eval()
    return frontend, classifier


@pytest.fixture(scope="session")
def onnx_parts(tmp_path_factory, torch_parts):
    """``{"frontend", "classifier", "pipeline"}`` -> ONNX paths with audiofront metadata."""
    frontend, classifier = torch_parts
    folder = tmp_path_factory.mktemp("onnx")
    paths = {"frontend": export_onnx(frontend, folder / "frontend.onnx")}
    front_meta = read_metadata(paths["frontend"])
    frames = frontend.frames(CLIP_SAMPLES)
    head = {"labels": LABELS, "clip_samples": CLIP_SAMPLES, "output": "probabilities", "sample_rate": SAMPLE_RATE}

    paths["classifier"] = folder / "classifier.onnx"
    _legacy_export(classifier, torch.zeros(2, 1, 128, frames), paths["classifier"], "features", "probabilities")
    model = onnx.load(str(paths["classifier"]))
    write_metadata(model, {"version": "test", "kind": "classifier", **head})
    onnx.save(model, str(paths["classifier"]))

    paths["pipeline"] = folder / "pipeline.onnx"
    _legacy_export(_Prepended(frontend, classifier), torch.zeros(2, CLIP_SAMPLES), paths["pipeline"], "audio",
                   "probabilities")
    model = onnx.load(str(paths["pipeline"]))
    write_metadata(model, {**front_meta, "kind": "pipeline", "output_layout": "batch,classes", **head})
    onnx.save(model, str(paths["pipeline"]))
    return paths


def distinct_signals(n: int, seconds: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """``n`` different mono float32 signals (a tone at its own pitch plus noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out = []
    for i in range(n):
        f0 = 110.0 * 2 ** (i / 24)
        out.append((0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32))
    return out
