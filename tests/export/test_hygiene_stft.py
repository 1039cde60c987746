"""Graph hygiene on the STFT-only module shapes (power, complex, phase, magnitude), and ORT = torch."""

from __future__ import annotations

import pytest

from audiofront.export import export_onnx
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
def test_exported_graph_is_clean_and_matches_torch(name, module, sample_rate, tmp_path, check_clean_and_parity):
    check_clean_and_parity(export_onnx(module, tmp_path / "m.onnx", sample_rate=sample_rate), module, name)
