"""Every registered DFT algorithm exports to a clean graph (no STFT/DFT op) with torch's numbers."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from audiofront.export import assert_clean_graph, check_tensorrt, export_onnx
from audiofront.frontend import DFT_ALGORITHMS, preset


@pytest.mark.parametrize("algorithm", sorted(DFT_ALGORITHMS))
def test_every_dft_algorithm_exports_clean(algorithm, tmp_path):
    fe = preset("bench-logmel", sample_rate=16000, n_mels=64, algorithm=algorithm).eval()
    path = export_onnx(fe, tmp_path / f"{algorithm}.onnx")
    report = assert_clean_graph(path)
    assert not {"STFT", "DFT"} & set(report.op_counts)
    assert check_tensorrt(path).ok
    x = torch.randn(3, 11111, generator=torch.Generator().manual_seed(7)) * 0.1
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"audio": x.numpy()})[0]
    with torch.no_grad():
        want = fe(x).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-2  # dB values; float32 DFTs computed differently
