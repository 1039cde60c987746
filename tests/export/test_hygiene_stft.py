"""Graph hygiene on the STFT-only module shapes (power, complex, phase, magnitude), and ORT = torch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from audiofront.export import assert_clean_graph, export_onnx
from audiofront.frontend import FrontEnd, Magnitude, Phase, Spectrogram


def _modules():
    """(id, module, sample_rate): the STFT-only shapes (presets: test_hygiene.py)."""
    sr = 8000
    yield "spectrogram-magnitude", Spectrogram(n_fft=256, hop_length=64, power=1.0, window="hamming"), sr
    yield "spectrogram-complex+phase", FrontEnd(Spectrogram(n_fft=256, power=None), Phase(), sample_rate=sr), None
    yield "spectrogram-complex+magnitude", FrontEnd(Spectrogram(n_fft=200, power=None, center=False), Magnitude(2.0),
                                                    sample_rate=sr), None


MODULES = list(_modules())


@pytest.mark.parametrize("name, module, sample_rate", MODULES, ids=[m[0] for m in MODULES])
def test_exported_graph_is_clean_and_matches_torch(name, module, sample_rate, tmp_path):
    path = export_onnx(module, tmp_path / "m.onnx", sample_rate=sample_rate)
    report = assert_clean_graph(path)
    assert report.inputs["audio"] == ["batch", "time"]
    assert "Conv" in report.op_counts
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
