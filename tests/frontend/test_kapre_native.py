"""The native options audiofront gained for Kapre, each against an independent reference
(numpy/scipy/librosa float64), on seeded grids with edge cases (one frame, minimum length and
minimum + 1, batch 1, odd sizes, silence, loud input), and their errors.
"""

from __future__ import annotations

import math
import warnings

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

from audiofront.errors import ConfigError, InputError
from audiofront.frontend import (
    AmplitudeToDB,
    ComputeDeltas,
    Energy,
    Filterbank,
    Frame,
    InverseSpectrogram,
    LogMelToMFCC,
    MuLawDecoding,
    MuLawEncoding,
    Phase,
    Spectrogram,
    functional as F,
    kapre_logmel,
    kapre_stft,
)
from audiofront.frontend.approx import atan2_continued_fraction
from audiofront.frontend.windows import kaiser_bessel_derived_window, kaiser_window, vorbis_window
from tests.frontend.kapre_refs import load, rel_l2

RNG = np.random.default_rng(1234)


def test_tf_windows_match_their_definitions():
    for n in (1, 2, 7, 64, 301):
        assert np.allclose(kaiser_window(n, 8.6), np.kaiser(n, 8.6), atol=1e-12)
        assert np.allclose(F.get_window(("kaiser", 8.6), n), np.kaiser(n, 8.6), atol=1e-12)
        v = vorbis_window(n)
        assert np.allclose(v, np.sin(np.pi / 2 * np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2))
    for n in (2, 16, 256):
        w = F.get_window("kaiser_bessel_derived", n)
        assert np.allclose(w, scipy.signal.windows.kaiser_bessel_derived(n, 12.0), atol=1e-10)
        assert np.allclose(w[: n // 2] ** 2 + w[n // 2 :] ** 2, 1.0)
        assert np.allclose(kaiser_bessel_derived_window(n, 4.0), scipy.signal.windows.kaiser_bessel_derived(n, 4.0))
    with pytest.raises(ConfigError, match="even"):
        kaiser_bessel_derived_window(15)
    with pytest.raises(ConfigError, match="beta"):
        F.get_window(("kaiser", -1.0), 16)
    with pytest.raises(ConfigError, match="takes no parameter"):
        F.get_window(("hann", 2.0), 16)


def _tf_stft(x: np.ndarray, n_fft, win_length, hop, window, pad_begin, pad_end) -> np.ndarray:
    """tf.signal.stft in numpy float64: frames of win_length, window, zero-padded at the end to n_fft."""
    x = np.pad(x, (pad_begin, 0))
    n_frames = -(-len(x) // hop) if pad_end else 1 + (len(x) - win_length) // hop
    x = np.pad(x, (0, max(0, (n_frames - 1) * hop + win_length - len(x))))
    frames = np.stack([x[i * hop : i * hop + win_length] * window for i in range(n_frames)])
    return np.fft.rfft(frames, n=n_fft).T  # (freq, frames)


@pytest.mark.parametrize("seed", range(6))
def test_one_sided_padding_and_start_aligned_window_are_tf_stft(seed):
    rng = np.random.default_rng(seed)
    n_fft = int(rng.choice([64, 100, 128, 257]))
    win = int(rng.integers(n_fft // 2, n_fft + 1))
    hop = int(rng.integers(1, win + 1))
    pad_begin = int(rng.choice([0, n_fft - hop, 5]))
    pad_end = bool(seed % 2)
    window = ("hann", "vorbis", "kaiser", "hamming", "blackman", "rectangular")[seed]
    spec = Spectrogram(n_fft=n_fft, win_length=win, hop_length=hop, window=window, power=None, center=False,
                       pad_begin=pad_begin, pad_end=pad_end, window_align="start")
    minimum = spec.min_length
    assert minimum == (1 if pad_end else max(1, win - pad_begin))
    for batch, length in (((1,), minimum), ((2,), minimum + 1), ((2, 3), 3 * n_fft + 7)):
        x = RNG.standard_normal(batch + (length,)) * (1e3 if seed == 5 else 1.0)
        out = spec(torch.from_numpy(x).float())
        assert out.shape[-2] == spec.frames(length)
        ref = np.stack([_tf_stft(row, n_fft, win, hop, F.get_window(window, win), pad_begin, pad_end)
                        for row in x.reshape(-1, length)])
        got = torch.view_as_complex(out.reshape(-1, *out.shape[-3:]).contiguous()).numpy()
        assert rel_l2(np.stack([got.real, got.imag]), np.stack([ref.real, ref.imag])) <= 1e-5
    if minimum > 1:
        with pytest.raises(InputError, match="at least"):
            spec(torch.zeros(1, minimum - 1))


def test_inverse_with_steady_state_normalisation_and_start_window():
    x = torch.randn(2, 3000)
    spec = Spectrogram(n_fft=512, win_length=400, hop_length=100, power=None, center=False, window_align="start")
    inv = InverseSpectrogram(n_fft=512, win_length=400, hop_length=100, center=False, window_align="start")
    steady = InverseSpectrogram(n_fft=512, win_length=400, hop_length=100, center=False, window_align="start",
                                window_norm="steady_state")
    s = spec(x)
    y, z = inv(s), steady(s)
    assert y.shape[-1] == z.shape[-1] == (s.shape[-2] - 1) * 100 + 400
    # The true envelope reconstructs up to the edges (where the Hann window itself vanishes).
    assert torch.allclose(y[:, 20:-20], x[:, 20 : y.shape[-1] - 20], atol=1e-3)
    assert torch.allclose(z[:, 300:-300], x[:, 300 : y.shape[-1] - 300], atol=1e-4)  # steady state: interior
    with pytest.raises(ConfigError, match="window_norm"):
        InverseSpectrogram(n_fft=64, window_norm="tf")
    with pytest.raises(ConfigError, match="window_align"):
        Spectrogram(n_fft=64, window_align="end")
    with pytest.raises(ConfigError, match="pad_begin"):
        Spectrogram(n_fft=64, pad_begin=-1)


def test_db_peak_jointly_over_channels():
    x = torch.rand(2, 3, 16, 9) * torch.tensor([1.0, 1e-6, 1e-3]).reshape(1, 3, 1, 1)
    out = AmplitudeToDB("power", top_db=40.0, top_db_scope="example")(x)
    db = 10 * np.log10(np.maximum(x.double().numpy(), 1e-10))
    ref = np.maximum(db, db.max(axis=(1, 2, 3), keepdims=True) - 40.0)
    assert rel_l2(out, ref) < 1e-6
    assert not torch.allclose(out, AmplitudeToDB("power", top_db=40.0)(x))
    with pytest.raises(ConfigError, match="top_db_scope"):
        AmplitudeToDB(top_db_scope="batch")


@pytest.mark.parametrize("norm", [1, 2, 3.5, np.inf])
def test_mel_p_norm_is_librosa(norm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = F.mel_filterbank(sample_rate=16000, n_fft=400, n_mels=40, norm=norm, mel_scale="slaney")
        ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40, norm=norm, htk=False, dtype=np.float64).T
    assert rel_l2(ours, ref) < 1e-10
    assert Filterbank.mel(sample_rate=16000, n_fft=400, n_mels=40, norm=norm).n_bins == 40
    with pytest.raises(ConfigError, match="p-norm"):
        F.mel_filterbank(sample_rate=16000, n_fft=400, norm=-1)


def test_log_normal_filterbank_shape_and_errors():
    w = F.log_normal_filterbank(sample_rate=22050, n_fft=2048, n_bins=84)
    assert w.shape == (1025, 84) and np.allclose(w.sum(0), 1.0) and np.all(w[0] == 0)
    peaks = np.fft.rfftfreq(2048, 1 / 22050)[w.argmax(0)]
    centres = 32.70319566 * 2 ** (np.arange(84) / 12)
    assert np.all(np.abs(np.log2(peaks[40:] / centres[40:])) < 1 / 12)  # peaks near their centres
    fb = Filterbank.log(sample_rate=22050, n_fft=2048, shape="lognormal", spread=0.25)
    assert fb.n_bins == 84
    with pytest.raises(ConfigError, match="sample_rate // 2"):
        F.log_normal_filterbank(sample_rate=8000, n_fft=512, n_bins=120)
    with pytest.raises(ConfigError, match="spread"):
        F.log_normal_filterbank(sample_rate=22050, n_fft=512, spread=0)
    with pytest.raises(ConfigError, match="shape"):
        Filterbank.log(sample_rate=22050, n_fft=512, shape="gauss")


def test_htk_dct_and_logmel_to_mfcc_are_scipy():
    for n_mels, n_mfcc in ((40, 13), (7, 7), (128, 20)):
        x = RNG.standard_normal((3, n_mels, 11))
        ref = scipy.fft.dct(x, type=2, axis=-2)[:, :n_mfcc] / math.sqrt(2 * n_mels)
        out = LogMelToMFCC(n_mfcc=n_mfcc, n_mels=n_mels)(torch.from_numpy(x).float())
        assert rel_l2(out, ref) < 1e-6
        ortho = LogMelToMFCC(n_mfcc=n_mfcc, n_mels=n_mels, norm="ortho")(torch.from_numpy(x).float())
        assert rel_l2(ortho, scipy.fft.dct(x, type=2, axis=-2, norm="ortho")[:, :n_mfcc]) < 1e-6


@pytest.mark.parametrize("mode", ["replicate", "symmetric", "reflect", "constant"])
def test_delta_modes_are_numpy_pad(mode):
    np_mode = {"replicate": "edge", "symmetric": "symmetric", "reflect": "reflect", "constant": "constant"}[mode]
    for win, frames in ((3, 2), (5, 3), (7, 4), (9, 30), (5, 1)):
        half = win // 2
        if (mode == "symmetric" and frames < half) or (mode == "reflect" and frames <= half):
            with pytest.raises(InputError, match="frames"):
                ComputeDeltas(win, mode=mode)(torch.zeros(2, frames))
            continue
        x = RNG.standard_normal((2, 3, frames))
        padded = np.pad(x, [(0, 0), (0, 0), (half, half)], mode=np_mode)
        n = np.arange(-half, half + 1)
        ref = np.stack([(padded[..., t : t + win] * n).sum(-1) for t in range(frames)], -1) / np.sum(n * n)
        out = ComputeDeltas(win, mode=mode)(torch.from_numpy(x).float()).double().numpy()
        assert np.allclose(out, ref, atol=1e-6) and (frames == 1 or rel_l2(out, ref) < 1e-6)
    with pytest.raises(ConfigError, match="mode"):
        ComputeDeltas(5, mode="wrap")


def test_frame_energy_and_mu_law_are_numpy():
    x = RNG.standard_normal((2, 3, 1001))
    for fl, hop, pad_end in ((400, 160, False), (256, 100, True), (7, 7, True), (1001, 5, False)):
        out = Frame(fl, hop, pad_end=pad_end, pad_value=0.25)(torch.from_numpy(x))
        n = -(-1001 // hop) if pad_end else 1 + (1001 - fl) // hop
        padded = np.pad(x, [(0, 0), (0, 0), (0, (n - 1) * hop + fl - 1001)], constant_values=0.25) if pad_end else x
        ref = np.stack([padded[..., i * hop : i * hop + fl] for i in range(n)], -2)
        assert np.array_equal(out.numpy(), ref)
        energy = Energy(16000, 0.05, fl, hop, pad_end=pad_end, pad_value=0.25)(torch.from_numpy(x))
        assert rel_l2(energy, (ref**2).sum(-1) * 0.05 / (fl / 16000)) < 1e-12
    with pytest.raises(InputError, match="at least 400"):
        Frame(400, 160)(torch.zeros(2, 399))
    with pytest.raises(ConfigError, match="frame_length"):
        Frame(0, 1)
    loud = torch.linspace(-1.5, 1.5, 2001)
    mu = 255.0
    codes = MuLawEncoding(256)(loud)
    y = np.sign(loud.numpy()) * np.log1p(mu * np.abs(loud.numpy())) / np.log1p(mu)
    assert np.array_equal(codes.numpy(), np.trunc((y + 1) / 2 * mu + 0.5).astype(np.int32))
    decoded = MuLawDecoding(256)(codes)
    inside = loud.abs() <= 1
    assert (decoded[inside] - loud[inside]).abs().max() < 0.025 and MuLawEncoding(256)(torch.zeros(3)).tolist() == [128] * 3
    with pytest.raises(ConfigError, match="quantization_channels"):
        MuLawEncoding(1)


def test_continued_fraction_atan2():
    y, x = torch.randn(2, 1000, dtype=torch.float64).unbind(0)
    exact = torch.atan2(y, x)
    approx = atan2_continued_fraction(y, x, 200)
    small = (y / x).abs() < 4
    assert torch.allclose(approx[small], exact[small], atol=1e-9)
    axis = atan2_continued_fraction(torch.tensor([1.0, -1.0, 0.0]), torch.tensor([0.0, 0.0, 0.0]), 5)
    assert axis.tolist() == pytest.approx([math.pi, -math.pi, 0.0])  # Kapre's values on the imaginary axis
    spec = torch.randn(3, 8, 2)
    assert torch.allclose(Phase(approx_atan_terms=400)(spec)[spec[..., 0].abs() > 0.3],
                          Phase()(spec)[spec[..., 0].abs() > 0.3], atol=1e-3)
    with pytest.raises(ConfigError, match="approx_atan_terms"):
        Phase(approx_atan_terms=0)


def test_kapre_presets_give_kapre_numbers():
    stft_a, _ = load("stft")
    spec_a, _ = load("spectrograms")
    x = torch.from_numpy(stft_a["paper/x"][..., 0])  # mono (batch, time) at 16 kHz, the paper's geometry
    out = kapre_stft(16000)(x)
    assert rel_l2(out, stft_a["paper/stft_db_mono"][..., 0].transpose(0, 2, 1)) <= 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mel = kapre_logmel(16000, n_mels=64)(x)
    assert rel_l2(mel, spec_a["mel_paper/db_mono"][..., 0].transpose(0, 2, 1)) <= 1e-5
