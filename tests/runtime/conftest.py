"""Small artifacts for the runtime tests: an untrained KapreConvNet behind a log-mel preset (fixed seeds).

Geometry: 16 kHz, n_fft 512, hop 256, 80 mels, clips of 16384 samples (65 frames, just over the
convnet's minimum of 63), 5 classes, width 8 (a few thousand parameters: fast on 2 cores).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiofront.export import export_onnx, load_onnx, prepend
from audiofront.export.artifacts import save_onnx
from audiofront.frontend import bench_logmel
from audiofront.models import KapreConvNet
from tests.artifacts import fixed_length_parts  # noqa: F401  (fixture)

SAMPLE_RATE = 16000
CLIP = 16384
N_MELS = 80
LABELS = ["do", "re", "mi", "fa", "sol"]


def make_modules(seed: int = 0):
    torch.manual_seed(seed)
    frontend = bench_logmel(SAMPLE_RATE, n_mels=N_MELS)
    classifier = KapreConvNet(n_classes=len(LABELS), width=8).eval()
    return frontend, classifier


def export_classifier(classifier, path, *, frames: int = 65):
    """The classifier alone, exported by torch (dynamic batch), as a third party would."""
    x = torch.randn(2, 1, N_MELS, frames)
    program = torch.onnx.export(
        classifier, (x,), dynamo=True, input_names=["features"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), opset_version=18, verbose=False,
    )
    program.save(str(path))
    return path


def simulate_probe(monkeypatch, name: str, probe) -> None:
    """Replace backend ``name``'s probe in the registry for one test (the registry entry itself is restored)."""
    import dataclasses

    from audiofront.runtime import backends

    monkeypatch.setitem(backends._REGISTRY, name, dataclasses.replace(backends.get_backend(name), probe=probe))
    backends.available_backends(refresh=True)


def rewrite_metadata(src, dst, values: dict):
    """A forged copy: ``values`` (full keys, ``None`` removes) set raw, bypassing write_metadata's checks."""
    model = load_onnx(src)
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in values.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    save_onnx(model, dst)
    return dst


@pytest.fixture(scope="session")
def modules():
    return make_modules()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, modules):
    """``pipeline``: front-end ONNX prepended to a separately exported classifier (logits)."""
    folder = tmp_path_factory.mktemp("runtime_artifacts")
    frontend, classifier = modules
    fe_path = export_onnx(frontend, folder / "logmel.onnx")
    cls_path = export_classifier(classifier, folder / "classifier.onnx")
    pipe = prepend(fe_path, cls_path, folder / "pipeline.onnx", layout="batch,1,bins,frames", labels=LABELS,
                   clip_samples=CLIP, output="logits")
    return {"folder": folder, "frontend": fe_path, "classifier": cls_path, "pipeline": pipe}


@pytest.fixture
def noise():
    def make(batch: int, length: int = CLIP, seed: int = 1):
        return (np.random.default_rng(seed).standard_normal((batch, length)) * 0.1).astype(np.float32)

    return make


@pytest.fixture
def torch_pipeline(modules):
    from audiofront.runtime import Pipeline

    frontend, classifier = modules
    with Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, output="logits") as p:
        yield p


@pytest.fixture
def onnx_pipeline(artifacts):
    from audiofront.runtime import Pipeline

    with Pipeline.load(artifacts["pipeline"], backend="onnxruntime-cpu") as p:
        yield p

