"""Small real ONNX artifacts shared by the serving and Triton tests (their conftests import the
fixtures): a log-mel front-end, an (untrained) KapreConvNet classifier, and the two prepended into
one pipeline, all at 16 kHz with 1 s windows."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from audiofront.export import write_metadata
from audiofront.export.onnx_export import frontend_metadata
from audiofront.frontend import preset
from audiofront.models import KapreConvNet

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000
LABELS = ["do", "re", "mi", "fa", "sol"]
_HEAD = {"labels": LABELS, "clip_samples": CLIP_SAMPLES, "output": "probabilities", "sample_rate": SAMPLE_RATE}


class _Prepended(nn.Module):
    def __init__(self, frontend, classifier):
        super().__init__()
        self.frontend, self.classifier = frontend, classifier

    def forward(self, audio):
        return self.classifier(self.frontend(audio).unsqueeze(1))


def _legacy_export(module, example, path, input_name, output_name, dynamic_axes=None):
    # The TorchScript exporter: a fraction of a second for these small graphs (export_onnx's
    # dynamo export takes ~10 s here); the tests need the signature and metadata, not the exporter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=[input_name],
                          output_names=[output_name], opset_version=18,
                          dynamic_axes=dynamic_axes or {input_name: {0: "batch"}, output_name: {0: "batch"}})


def _frontend_meta(frontend):
    with torch.no_grad():
        shape = tuple(frontend(torch.zeros(1, CLIP_SAMPLES)).shape)
    return frontend_metadata(frontend, sample_rate=SAMPLE_RATE, input_rank=2, output_shape=shape)


@pytest.fixture(scope="session")
def torch_parts():
    torch.manual_seed(0)
    frontend = preset("bench-logmel", sample_rate=SAMPLE_RATE).eval()
    classifier = KapreConvNet(n_classes=len(LABELS), softmax=True).eval()
    return frontend, classifier


def _with_metadata(path, values):
    model = onnx.load(str(path))
    write_metadata(model, values)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def pipeline_onnx(tmp_path_factory, torch_parts):
    """The front-end and classifier prepended into one ONNX with ``kind=pipeline`` metadata."""
    frontend, classifier = torch_parts
    path = tmp_path_factory.mktemp("onnx") / "pipeline.onnx"
    _legacy_export(_Prepended(frontend, classifier), torch.zeros(2, CLIP_SAMPLES), path, "audio", "probabilities")
    return _with_metadata(path, {**_frontend_meta(frontend), **_HEAD, "kind": "pipeline", "output_layout": "batch,classes"})


@pytest.fixture(scope="session")
def onnx_parts(tmp_path_factory, torch_parts, pipeline_onnx):
    """``{"frontend", "classifier", "pipeline"}`` -> ONNX paths with audiofront metadata, with
    export_onnx's signature: audio (batch, time) -> features (batch, bins, frames)."""
    frontend, classifier = torch_parts
    folder = tmp_path_factory.mktemp("onnx")
    paths = {"frontend": folder / "frontend.onnx", "pipeline": pipeline_onnx}
    _legacy_export(frontend, torch.zeros(2, CLIP_SAMPLES), paths["frontend"], "audio", "features",
                   {"audio": {0: "batch", 1: "time"}, "features": {0: "batch", 2: "frames"}})
    _with_metadata(paths["frontend"], _frontend_meta(frontend))
    paths["classifier"] = folder / "classifier.onnx"
    _legacy_export(classifier, torch.zeros(2, 1, 128, frontend.frames(CLIP_SAMPLES)), paths["classifier"],
                   "features", "probabilities")
    _with_metadata(paths["classifier"], {"version": "test", "kind": "classifier", **_HEAD})
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
