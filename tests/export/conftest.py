"""Shared exports for the export tests (each is exported once per session: export takes ~1-3 s)."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from audiofront.export import assert_clean_graph, export_onnx
from audiofront.frontend import preset
from tests.artifacts import onnx_parts, pipeline_onnx, torch_parts  # noqa: F401  (fixtures for test_triton)


@pytest.fixture(scope="session")
def logmel():
    """A log-mel front-end (16 kHz, 96 HTK mels, top_db 80) in eval mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty mel filters at this geometry are expected
        return preset("bench-logmel", sample_rate=16000, n_mels=96, top_db=80.0).eval()


@pytest.fixture(scope="session")
def logmel_onnx(logmel, tmp_path_factory):
    """``logmel`` exported with default settings (traced on batch 2 x 16000 samples)."""
    return export_onnx(logmel, tmp_path_factory.mktemp("fe") / "logmel.onnx")


@pytest.fixture()
def unseen_audio():
    """A batch size and length the export never saw: 3 x 12345 samples."""
    gen = torch.Generator().manual_seed(1234)
    return torch.randn(3, 12345, generator=gen) * 0.1


def _check_clean_and_parity(path, module, name):
    """The graph is clean, and ORT gives torch's numbers at batch sizes and lengths export never saw."""
    report = assert_clean_graph(path)
    assert report.inputs["audio"] == ["batch", "time"]
    if any(type(m).__name__ in ("Spectrogram", "KaldiSpectrogram") for m in module.modules()):
        assert "Conv" in report.op_counts  # the STFT as a convolution (wav2vec2's normalisation has none)
    module.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, length in ((1, 4321), (5, 2 * 8000 + 77)):
        x = torch.randn(batch, length, generator=torch.Generator().manual_seed(length)) * 0.1
        got = session.run(None, {"audio": x.numpy()})[0]
        with torch.no_grad():
            want = module(x).numpy()
        assert got.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        # Phase is atan2: near-zero bins can flip by 2*pi; compare on the unit circle instead.
        if "phase" in name:
            got, want, scale = np.exp(1j * got), np.exp(1j * want), 1.0
        assert np.abs(got - want).max() / scale < 1e-3, name


@pytest.fixture()
def check_clean_and_parity():
    """``check(path, module, name)``: the graph is clean and ORT matches torch on unseen shapes."""
    return _check_clean_and_parity
