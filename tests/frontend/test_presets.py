"""Presets: the Kapre paper's front-ends equal librosa's, and FrontEnd reports its geometry."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import torch

from audiofront.errors import ConfigError
from audiofront.frontend import (
    MFCC,
    PRESETS,
    AmplitudeToDB,
    ComputeDeltas,
    Filterbank,
    FrontEnd,
    Spectrogram,
    bench_logmel,
    kapre_logmel,
    kapre_stft,
    preset,
)
from tests.frontend.references import TOLERANCE, rel_l2, waveform

pytestmark = pytest.mark.filterwarnings("ignore:mel_filterbank.*empty:UserWarning")


@pytest.mark.parametrize("top_db", [None, 80.0])
def test_kapre_stft_is_kapres_magnitude_db(top_db):
    # Kapre's conventions in librosa's terms: no centring, |STFT|, 10 log10 with amin 1e-5, floor top_db.
    x = torch.from_numpy(waveform(8000, 1, batch=(2,))).float()
    fe = kapre_stft(16000, top_db=top_db)
    out = fe(x)
    for i, y in enumerate(x.double().numpy()):
        mag = np.abs(librosa.stft(y, n_fft=512, hop_length=256, center=False, dtype=np.complex128))
        assert rel_l2(out[i], librosa.power_to_db(mag, amin=1e-5, top_db=top_db)) < TOLERANCE
    assert (fe.n_fft, fe.hop_length, fe.n_mels, fe.n_bins, fe.sample_rate) == (512, 256, None, 257, 16000)
    assert fe.frames(8000) == out.shape[-1] == 1 + (8000 - 512) // 256


@pytest.mark.parametrize("sample_rate, n_mels", [(32000, 128), (16000, 64), (22050, 96)])
def test_kapre_logmel_is_kapres_slaney_magnitude_mel(sample_rate, n_mels):
    x = torch.from_numpy(waveform(sample_rate // 2, 2, batch=(2,))).float()
    fe = kapre_logmel(sample_rate, n_mels=n_mels)
    out = fe(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for i, y in enumerate(x.double().numpy()):
            mag = np.abs(librosa.stft(y, n_fft=512, hop_length=256, center=False, dtype=np.complex128))
            mel = librosa.filters.mel(sr=sample_rate, n_fft=512, n_mels=n_mels, htk=False, norm="slaney",
                                      dtype=np.float64) @ mag
            assert rel_l2(out[i], librosa.power_to_db(mel, amin=1e-5, top_db=80.0)) < TOLERANCE
    assert (fe.n_fft, fe.hop_length, fe.n_mels, fe.n_bins) == (512, 256, n_mels, n_mels)
    assert fe.frames(x.shape[-1]) == out.shape[-1]


@pytest.mark.parametrize("sample_rate, n_mels", [(32000, 128), (16000, 64)])
def test_bench_logmel_is_librosa_logmel(sample_rate, n_mels):
    # The benchmarks' workload W (what kapre_logmel was before it took Kapre's conventions).
    x = torch.from_numpy(waveform(sample_rate // 2, 2, batch=(2,))).float()
    fe = bench_logmel(sample_rate, n_mels=n_mels, top_db=80.0)
    out = fe(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for i, y in enumerate(x.double().numpy()):
            mel = librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=512, hop_length=256, pad_mode="reflect",
                                                 n_mels=n_mels, htk=True, norm=None, dtype=np.float64)
            assert rel_l2(out[i], librosa.power_to_db(mel, top_db=80.0)) < TOLERANCE
    assert fe.name == "bench-logmel" and fe.frames(x.shape[-1]) == out.shape[-1]


def test_preset_by_name():
    assert set(PRESETS) >= {"kapre-stft", "kapre-logmel", "bench-logmel"}
    fe = preset("kapre-logmel", sample_rate=16000, n_mels=40)
    assert isinstance(fe, FrontEnd) and fe.name == "kapre-logmel" and fe.n_mels == 40


def test_front_end_n_bins_is_the_output_bins():
    mfcc = FrontEnd(MFCC(sample_rate=16000, n_mfcc=13, melkwargs={"n_fft": 400, "n_mels": 40}), sample_rate=16000)
    assert mfcc.n_mels == 40 and mfcc.n_bins == 13
    log = FrontEnd(Spectrogram(n_fft=256), Filterbank.log(sample_rate=16000, n_fft=256, n_bins=10, bins_per_octave=3,
                                                          f_min=300.0), AmplitudeToDB(), ComputeDeltas(),
                   sample_rate=16000)
    assert log.n_mels is None and log.n_bins == 10 == log(torch.randn(1, 4000)).shape[-2]
    with pytest.raises(ConfigError, match="no Spectrogram"):
        FrontEnd(AmplitudeToDB(), sample_rate=16000).n_fft
