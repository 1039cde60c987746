"""Filterbanks against librosa and against an independent float64 evaluation of their definitions."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import torch

from audiofront.frontend import Filterbank, MelScale, MelSpectrogram, functional
from tests.frontend.references import TOLERANCE, rel_l2, waveform


def _draw_mel_configs(count: int, seed: int) -> list[dict]:
    """mel_scale x norm cycle through all four pairs; rate, size, band and count are drawn."""
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        sr = int(rng.choice([8000, 16000, 22050, 32000, 44100]))
        nyquist = sr / 2
        f_min = float(rng.uniform(0, 0.2 * nyquist)) if i % 3 else 0.0
        f_max = float(rng.uniform(f_min + 0.3 * nyquist, nyquist)) if i % 5 < 3 else None
        configs.append({
            "sample_rate": sr,
            # Every fourth: many mels on few bins, so some filters are empty (and both warn).
            "n_fft": int(rng.integers(64, 700)) if i % 4 != 3 else int(rng.integers(64, 160)),
            "n_mels": int(rng.integers(4, 48)) if i % 4 != 3 else int(rng.integers(60, 128)),
            "f_min": f_min,
            "f_max": f_max,
            "mel_scale": ("htk", "slaney")[i % 2],
            "norm": (None, "slaney")[(i // 2) % 2],
        })
    return configs


MEL_CONFIGS = _draw_mel_configs(16, seed=7)


def _id(c: dict) -> str:
    return "-".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items())


def _librosa_mel(c: dict) -> np.ndarray:
    return librosa.filters.mel(sr=c["sample_rate"], n_fft=c["n_fft"], n_mels=c["n_mels"], fmin=c["f_min"],
                               fmax=c["f_max"], htk=c["mel_scale"] == "htk", norm=c["norm"], dtype=np.float64)


def _librosa_warns(c: dict) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _librosa_mel(c)
    return any("empty" in str(w.message).lower() for w in caught)


def test_mel_grid_covers_scales_norms_and_bands():
    assert 0 < sum(_librosa_warns(c) for c in MEL_CONFIGS) < len(MEL_CONFIGS)
    assert {(c["mel_scale"], c["norm"]) for c in MEL_CONFIGS} == {("htk", None), ("htk", "slaney"),
                                                                  ("slaney", None), ("slaney", "slaney")}
    assert any(c["f_min"] > 0 for c in MEL_CONFIGS) and any(c["f_max"] is not None for c in MEL_CONFIGS)
    assert {c["n_fft"] % 2 for c in MEL_CONFIGS} == {0, 1}


@pytest.mark.parametrize("c", MEL_CONFIGS, ids=_id)
def test_mel_filterbank_matches_librosa(c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = _librosa_mel(c)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        weights = functional.mel_filterbank(**c)
        scale = MelScale(n_mels=c["n_mels"], sample_rate=c["sample_rate"], f_min=c["f_min"], f_max=c["f_max"],
                         n_stft=c["n_fft"] // 2 + 1, norm=c["norm"], mel_scale=c["mel_scale"], n_fft=c["n_fft"])
    assert rel_l2(weights.T, ref) < 1e-12
    assert rel_l2(scale.fb.T, ref) < TOLERANCE
    # Warn exactly when librosa warns (empty filters).
    assert _librosa_warns(c) == any("empty" in str(w.message) for w in ours)


@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
def test_empty_mel_filters_warn_like_librosa(mel_scale):
    with pytest.warns(UserWarning, match="empty"):
        ref = librosa.filters.mel(sr=32000, n_fft=512, n_mels=128, htk=mel_scale == "htk", dtype=np.float64)
    n_empty = int((ref.max(axis=1) <= 0).sum())
    assert n_empty > 0
    with pytest.warns(UserWarning, match=rf"{n_empty} of 128 filters are empty"):
        MelScale(n_mels=128, sample_rate=32000, n_stft=257, mel_scale=mel_scale)
    with pytest.warns(UserWarning, match=rf"{n_empty} of 128 filters are empty"):
        MelSpectrogram(sample_rate=32000, n_fft=512, n_mels=128, mel_scale=mel_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MelScale(n_mels=64, sample_rate=32000, n_stft=257)


@pytest.mark.parametrize("c", MEL_CONFIGS[:10], ids=_id)
def test_mel_spectrogram_matches_librosa(c):
    rng = np.random.default_rng(c["n_fft"])
    hop = int(rng.integers(c["n_fft"] // 8 + 1, c["n_fft"] // 2 + 1))
    center = bool(rng.integers(0, 2))
    pad_mode = ("reflect", "constant")[int(rng.integers(0, 2))]
    power = (1.0, 2.0)[int(rng.integers(0, 2))]
    x = torch.from_numpy(waveform(3 * c["n_fft"] + 101, c["n_fft"])).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = librosa.feature.melspectrogram(
            y=x.double().numpy(), sr=c["sample_rate"], n_fft=c["n_fft"], hop_length=hop, center=center, pad_mode=pad_mode,
            power=power, n_mels=c["n_mels"], fmin=c["f_min"], fmax=c["f_max"], htk=c["mel_scale"] == "htk",
            norm=c["norm"], dtype=np.float64)
        mel = MelSpectrogram(sample_rate=c["sample_rate"], n_fft=c["n_fft"], hop_length=hop, f_min=c["f_min"],
                             f_max=c["f_max"], n_mels=c["n_mels"], power=power, center=center, pad_mode=pad_mode,
                             norm=c["norm"], mel_scale=c["mel_scale"])
    assert rel_l2(mel(x), ref) < TOLERANCE


def test_mel_spectrogram_passes_every_spectrogram_argument_through():
    x = torch.from_numpy(waveform(1500, 1)).float()
    window = torch.from_numpy(np.random.default_rng(0).uniform(0.2, 1.0, 100))
    kwargs = dict(n_fft=128, win_length=100, hop_length=30, pad=7, window=window, power=1.0, normalized=True,
                  center=False, pad_mode="constant")
    mel = MelSpectrogram(sample_rate=16000, n_mels=20, **kwargs)
    ref = librosa.feature.melspectrogram(
        y=np.pad(x.double().numpy(), 7), sr=16000, n_fft=128, win_length=100, hop_length=30, window=window.numpy(),
        center=False, power=1.0, n_mels=20, htk=True, norm=None, dtype=np.float64) / np.linalg.norm(window.numpy())
    assert rel_l2(mel(x), ref) < TOLERANCE
    assert mel.frames(1500) == ref.shape[-1]


# --- log, linear and random filterbanks: an independent evaluation of the docstrings' definitions --

def _triangle(freqs: np.ndarray, lo: float, centre: float, hi: float) -> np.ndarray:
    """1 at ``centre``, 0 at and beyond ``lo`` and ``hi``, linear in Hz in between."""
    rising = (freqs - lo) / (centre - lo)
    falling = (hi - freqs) / (hi - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def _bin_freqs(sample_rate: float, n_fft: int) -> np.ndarray:
    return np.arange(n_fft // 2 + 1) * sample_rate / n_fft


LOG_CONFIGS = [
    {"sample_rate": 22050, "n_fft": 2048, "n_bins": 84, "bins_per_octave": 12, "f_min": 32.70319566257483},
    {"sample_rate": 16000, "n_fft": 1024, "n_bins": 40, "bins_per_octave": 6, "f_min": 50.0},
    {"sample_rate": 44100, "n_fft": 4095, "n_bins": 25, "bins_per_octave": 3, "f_min": 40.0},
    {"sample_rate": 8000, "n_fft": 513, "n_bins": 5, "bins_per_octave": 1, "f_min": 200.0},
]


@pytest.mark.filterwarnings("ignore:log_filterbank.*empty:UserWarning")
@pytest.mark.parametrize("c", LOG_CONFIGS, ids=_id)
def test_log_filterbank_is_its_definition(c):
    fb = Filterbank.log(**c)
    f = _bin_freqs(c["sample_rate"], c["n_fft"])
    centres = c["f_min"] * 2.0 ** (np.arange(c["n_bins"]) / c["bins_per_octave"])
    ratio = 2.0 ** (1.0 / c["bins_per_octave"])
    ref = np.stack([_triangle(f, fc / ratio, fc, fc * ratio) for fc in centres], axis=1)
    assert fb.fb.shape == (c["n_fft"] // 2 + 1, c["n_bins"])
    assert rel_l2(fb.fb, ref) < TOLERANCE
    assert float(fb.fb.max()) <= 1.0 + 1e-6 and float(fb.fb.min()) >= 0.0


def test_log_filterbank_peaks_at_its_centres():
    # Octave spacing from a bin-aligned f_min puts every centre and corner on a bin: peak exactly 1,
    # and a triangle sampled on integer bins sums to half its base width (in bins).
    sr, n_fft, f_min = 16000, 512, 125.0  # bins every 31.25 Hz; centres 125, 250, ... 4000 Hz
    fb = Filterbank.log(sample_rate=sr, n_fft=n_fft, n_bins=6, bins_per_octave=1, f_min=f_min).fb.double().numpy()
    centre_bins = (f_min * 2.0 ** np.arange(6) / (sr / n_fft)).astype(int)
    np.testing.assert_allclose(fb[centre_bins, np.arange(6)], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fb.argmax(axis=0), centre_bins)
    np.testing.assert_allclose(fb.sum(axis=0), (centre_bins - centre_bins / 2 + 2 * centre_bins - centre_bins) / 2, rtol=1e-6)


LINEAR_CONFIGS = [
    {"sample_rate": 16000, "n_fft": 512, "n_bins": 15, "f_min": 0.0, "f_max": None},
    {"sample_rate": 22050, "n_fft": 1000, "n_bins": 64, "f_min": 100.0, "f_max": 9000.0},
    {"sample_rate": 8000, "n_fft": 255, "n_bins": 10, "f_min": 300.0, "f_max": 3400.0},
]


@pytest.mark.parametrize("c", LINEAR_CONFIGS, ids=_id)
def test_linear_filterbank_is_its_definition(c):
    fb = Filterbank.linear(**c)
    f = _bin_freqs(c["sample_rate"], c["n_fft"])
    f_max = c["sample_rate"] / 2 if c["f_max"] is None else c["f_max"]
    step = (f_max - c["f_min"]) / (c["n_bins"] + 1)
    centres = c["f_min"] + step * np.arange(1, c["n_bins"] + 1)
    ref = np.stack([_triangle(f, fc - step, fc, fc + step) for fc in centres], axis=1)
    assert rel_l2(fb.fb, ref) < TOLERANCE


def test_linear_filterbank_peaks_and_sums():
    # 15 filters over 0..8 kHz at n_fft 512: corners every 500 Hz = 16 bins.
    fb = Filterbank.linear(sample_rate=16000, n_fft=512, n_bins=15).fb.double().numpy()
    centre_bins = 16 * np.arange(1, 16)
    np.testing.assert_allclose(fb[centre_bins, np.arange(15)], 1.0, rtol=1e-6)
    np.testing.assert_allclose(fb.sum(axis=0), 16.0, rtol=1e-6)
    # Neighbouring triangles cross at half height: the interior bins' weights sum to 1.
    np.testing.assert_allclose(fb[16:241].sum(axis=1), 1.0, rtol=1e-6)


def test_random_filterbank_properties():
    fb = Filterbank.random(n_fft=256, n_bins=20, seed=3)
    w = fb.fb.detach().double().numpy()
    assert w.shape == (129, 20) and (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-6)
    assert isinstance(fb.fb, torch.nn.Parameter)
    torch.testing.assert_close(Filterbank.random(n_fft=256, n_bins=20, seed=3).fb, fb.fb)
    assert not torch.equal(Filterbank.random(n_fft=256, n_bins=20, seed=4).fb, fb.fb)


def test_filterbank_applies_its_matrix_to_every_frame():
    rng = np.random.default_rng(2)
    weights = rng.uniform(size=(33, 7))
    spec = rng.uniform(size=(2, 3, 33, 11))
    out = Filterbank(weights)(torch.from_numpy(spec).float())
    assert rel_l2(out, np.einsum("fb,...ft->...bt", weights, spec)) < TOLERANCE


@pytest.mark.parametrize("build", [
    lambda t: Filterbank.mel(sample_rate=16000, n_fft=256, n_mels=20, trainable=t),
    lambda t: Filterbank.log(sample_rate=16000, n_fft=256, n_bins=12, bins_per_octave=4, f_min=200.0, trainable=t),
    lambda t: Filterbank.linear(sample_rate=16000, n_fft=256, n_bins=12, trainable=t),
    lambda t: Filterbank.random(n_fft=256, n_bins=12, trainable=t),
    lambda t: MelScale(n_mels=20, sample_rate=16000, n_stft=129, trainable=t),
], ids=["mel", "log", "linear", "random", "melscale"])
def test_trainable_filterbanks_are_parameters_with_gradients(build):
    frozen, trainable = build(False), build(True)
    assert list(frozen.parameters()) == [] and "fb" in dict(frozen.named_buffers())
    torch.testing.assert_close(trainable.fb.detach(), frozen.fb)
    (param,) = trainable.parameters()
    trainable(torch.rand(2, 129, 10)).pow(2).sum().backward()
    assert param.grad is not None and param.grad.abs().sum() > 0


def test_mel_spectrogram_trainable_parts():
    mel = MelSpectrogram(sample_rate=16000, n_fft=128, n_mels=16, trainable_stft=True, trainable_mel=True)
    names = {name for name, _ in mel.named_parameters()}
    assert names == {"spectrogram.dft.kernel", "mel_scale.fb"}
    mel(torch.randn(2, 800)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mel.parameters())
