"""Graph hygiene on every other exportable module chain, and ORT = torch on unseen shapes."""

from __future__ import annotations

import warnings

import pytest
import torch

from audiofront.export import export_onnx
from audiofront.frontend import (
    MFCC, AdditiveNoise, AmplitudeToDB, ComputeDeltas, Filterbank, FrontEnd, FrozenNormalize, MelSpectrogram, Normalize,
    SpecAugment, Spectrogram,
)


def _modules():
    """(id, module, sample_rate): filterbank, cepstral, scaling, normalisation and augmentation chains."""
    sr = 8000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty filters at small n_fft are expected here
        yield "mel-trainable-constant-pad", MelSpectrogram(sample_rate=sr, n_fft=256, n_mels=40, pad_mode="constant",
                                                           trainable_stft=True, trainable_mel=True), None
        yield "mfcc", MFCC(sample_rate=sr, n_mfcc=13, melkwargs={"n_fft": 256, "n_mels": 40, "algorithm": "direct"}), None
        yield "logfb+db+normalize+deltas", FrontEnd(
            Spectrogram(n_fft=512, hop_length=128, algorithm="direct"),
            Filterbank.log(sample_rate=sr, n_fft=512, n_bins=48, f_min=60.0),
            AmplitudeToDB(top_db=80.0), Normalize("frequency"), ComputeDeltas(), sample_rate=sr), None
        yield "mel+frozen-normalize+augment", FrontEnd(
            AdditiveNoise(), MelSpectrogram(sample_rate=sr, n_fft=256, n_mels=32), AmplitudeToDB(),
            FrozenNormalize(mean=torch.zeros(32), std=torch.ones(32) * 10), SpecAugment(8, 8), sample_rate=sr), None


MODULES = list(_modules())


@pytest.mark.parametrize("name, module, sample_rate", MODULES, ids=[m[0] for m in MODULES])
def test_exported_graph_is_clean_and_matches_torch(name, module, sample_rate, tmp_path, check_clean_and_parity):
    check_clean_and_parity(export_onnx(module, tmp_path / "m.onnx", sample_rate=sample_rate), module, name)
