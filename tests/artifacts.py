"""Small real ONNX artifacts shared by the serving, Triton and runtime tests (their conftests import
the fixtures): a log-mel front-end, an (untrained) KapreConvNet classifier, and the two prepended
into one pipeline, all at 16 kHz with 1 s windows; and a pipeline whose graph pads or trims its
frames to a fixed count itself, as a reference preset's does (``fixed_length_parts``)."""

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


# The fixed-length pipeline: frames zero-padded or cut to FIXED_FRAMES inside the graph (as the AST
# preset pads fbank frames); FIXED_CLIP samples give exactly that many frames, FIXED_MIN one frame.
FIXED_FRAMES = 24
FIXED_MIN = 256
FIXED_CLIP = FIXED_MIN + (FIXED_FRAMES - 1) * 128
FIXED_LABELS = ["a", "b", "c", "d"]


@pytest.fixture(scope="session")
def fixed_length_parts(tmp_path_factory):
    """``(path, module)``: a pipeline ONNX (time axis dynamic, metadata ``fixed_frames``) and the
    torch module it was exported from, ``(batch, time) -> (batch, 4)`` logits, the reference."""
    from audiofront.export.classifier import FrontEndClassifier
    from audiofront.frontend import AmplitudeToDB, MelScale, Spectrogram
    from audiofront.frontend.presets import FrontEnd
    from audiofront.frontend.utterance import PadTrim

    torch.manual_seed(0)
    frontend = FrontEnd(Spectrogram(n_fft=FIXED_MIN, hop_length=128, center=False, power=2.0),
                        MelScale(n_mels=16, sample_rate=SAMPLE_RATE, n_stft=FIXED_MIN // 2 + 1),
                        AmplitudeToDB("power", top_db=None), PadTrim(FIXED_FRAMES), sample_rate=SAMPLE_RATE)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(FIXED_FRAMES * 16, len(FIXED_LABELS)))
    module = FrontEndClassifier(frontend, classifier, "batch,bins,frames").eval()
    path = tmp_path_factory.mktemp("onnx") / "fixed-length.onnx"
    _legacy_export(module, torch.randn(2, FIXED_CLIP) * 0.1, path, "audio", "logits",
                   {"audio": {0: "batch", 1: "time"}, "logits": {0: "batch"}})
    _with_metadata(path, {"kind": "pipeline", "sample_rate": SAMPLE_RATE, "clip_samples": FIXED_CLIP,
                          "labels": FIXED_LABELS, "output": "logits", "input_layout": "batch,time",
                          "frames": f"1 + (time - {FIXED_MIN}) // 128", "fixed_frames": FIXED_FRAMES})
    return path, module
