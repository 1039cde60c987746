"""MFCC and ComputeDeltas against librosa (float64) and scipy."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import scipy.fft
import torch

from audiofront.frontend import MFCC, ComputeDeltas
from tests.frontend.references import TOLERANCE, rel_l2, waveform


def _draw_mfcc_configs(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        sr = int(rng.choice([8000, 16000, 22050]))
        n_fft = int(rng.integers(64, 600))
        n_mels = int(rng.integers(10, 40))
        configs.append({
            "sample_rate": sr,
            "n_mfcc": int(rng.integers(2, n_mels + 1)),
            "n_fft": n_fft,
            "hop_length": int(rng.integers(n_fft // 8 + 1, n_fft // 2 + 1)),
            "n_mels": n_mels,
            "f_min": float(rng.uniform(0, 200)),
            "center": i % 3 != 2,
            "pad_mode": ("reflect", "constant")[i % 2],
            "seed": int(rng.integers(0, 2**31)),
        })
    return configs


MFCC_CONFIGS = _draw_mfcc_configs(10, seed=3)


def _mfcc(c: dict, **kwargs) -> MFCC:
    melkwargs = {k: c[k] for k in ("n_fft", "hop_length", "n_mels", "f_min", "center", "pad_mode")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters on small n_fft: librosa warns too
        return MFCC(sample_rate=c["sample_rate"], n_mfcc=c["n_mfcc"], melkwargs=melkwargs, **kwargs)


def _librosa_mel(y: np.ndarray, c: dict) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return librosa.feature.melspectrogram(
            y=y, sr=c["sample_rate"], n_fft=c["n_fft"], hop_length=c["hop_length"], center=c["center"],
            pad_mode=c["pad_mode"], n_mels=c["n_mels"], fmin=c["f_min"], htk=True, norm=None, dtype=np.float64)


@pytest.mark.parametrize("c", MFCC_CONFIGS, ids=lambda c: f"sr={c['sample_rate']}-n_fft={c['n_fft']}-n_mfcc={c['n_mfcc']}")
def test_mfcc_matches_librosa(c):
    x = torch.from_numpy(waveform(4 * c["n_fft"] + 333, c["seed"], batch=(2,))).float()
    y = x.double().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = librosa.feature.mfcc(
            y=y, sr=c["sample_rate"], n_mfcc=c["n_mfcc"], n_fft=c["n_fft"], hop_length=c["hop_length"],
            center=c["center"], pad_mode=c["pad_mode"], n_mels=c["n_mels"], fmin=c["f_min"], htk=True,
            mel_norm=None, dtype=np.float64)
    # librosa clips top_db over the whole array it gets: compare item by item, as audiofront clips.
    per_item = np.stack([librosa.feature.mfcc(S=librosa.power_to_db(m, top_db=80.0), n_mfcc=c["n_mfcc"])
                         for m in _librosa_mel(y, c)])
    out = _mfcc(c)(x)
    assert rel_l2(out, per_item) < TOLERANCE
    for i in range(2):
        assert rel_l2(out[i], librosa.feature.mfcc(
            y=y[i], sr=c["sample_rate"], n_mfcc=c["n_mfcc"], n_fft=c["n_fft"], hop_length=c["hop_length"],
            center=c["center"], pad_mode=c["pad_mode"], n_mels=c["n_mels"], fmin=c["f_min"], htk=True,
            mel_norm=None, dtype=np.float64)) < TOLERANCE
    assert ref.shape == out.shape


@pytest.mark.parametrize("c", MFCC_CONFIGS[:4], ids=lambda c: f"sr={c['sample_rate']}-n_fft={c['n_fft']}")
def test_mfcc_log_mels(c):
    x = torch.from_numpy(waveform(4 * c["n_fft"] + 50, c["seed"])).float()
    mel = _librosa_mel(x.double().numpy(), c)
    ref = scipy.fft.dct(np.log(mel + 1e-6), type=2, norm="ortho", axis=-2)[: c["n_mfcc"]]
    assert rel_l2(_mfcc(c, log_mels=True)(x), ref) < TOLERANCE


def test_mfcc_without_dct_norm_is_scipy_dct():
    c = MFCC_CONFIGS[0]
    x = torch.from_numpy(waveform(2000, 1)).float()
    db = librosa.power_to_db(_librosa_mel(x.double().numpy(), c), top_db=80.0)
    ref = scipy.fft.dct(db, type=2, norm=None, axis=-2)[: c["n_mfcc"]]
    assert rel_l2(_mfcc(c, norm=None)(x), ref) < TOLERANCE


@pytest.mark.parametrize("win_length", [3, 5, 7, 9, 11])
@pytest.mark.parametrize("frames", [2, 4, 37])
def test_deltas_match_librosa_nearest(win_length, frames):
    rng = np.random.default_rng(win_length * 100 + frames)
    x = rng.standard_normal((2, 3, 13, frames)).astype(np.float32).astype(np.float64)
    ref = librosa.feature.delta(x, width=win_length, order=1, mode="nearest", axis=-1)
    out = ComputeDeltas(win_length=win_length)(torch.from_numpy(x).float())
    assert rel_l2(out, ref) < TOLERANCE


@pytest.mark.parametrize("win_length", [3, 9])
def test_deltas_of_a_constant_are_zero(win_length):
    # One frame repeated at both edges is a constant: its slope is 0 up to float32 rounding of the
    # input's scale (a relative error against an exact 0 means nothing).
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 13, 1)) * 50).float()
    ref = librosa.feature.delta(x.double().numpy(), width=win_length, mode="nearest", axis=-1)
    np.testing.assert_allclose(ref, 0.0, atol=1e-12)
    out = ComputeDeltas(win_length=win_length)(x)
    assert float(out.abs().max()) <= 1e-6 * float(x.abs().max())


def test_deltas_of_a_ramp_are_its_slope():
    ramp = torch.arange(50, dtype=torch.float32).reshape(1, 50) * 0.5
    out = ComputeDeltas(win_length=7)(ramp)
    torch.testing.assert_close(out[0, 3:-3], torch.full((44,), 0.5))
