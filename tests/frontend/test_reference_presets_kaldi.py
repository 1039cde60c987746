"""Kaldi building blocks and the kaldi-fbank preset against kaldi-native-fbank (Kaldi's C++ in a wheel).

A seeded grid over Kaldi's options (windows, snip_edges both ways, pre-emphasis, DC removal,
power-of-two rounding, mel bins, low/high frequency incl. high_freq <= 0) compares
``KaldiFbank`` with ``kaldi_native_fbank.OnlineFbank``; the step-by-step modules (framing, DC
removal, pre-emphasis, window) give the fused module's numbers; dither acts in training only.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.signal
import torch

from audiofront.errors import ConfigError, InputError
from audiofront.export import check_tensorrt, export_onnx
from audiofront.frontend import (
    Dither,
    KaldiFbank,
    KaldiFraming,
    KaldiSpectrogram,
    PreEmphasis,
    RemoveDCOffset,
    kaldi_functional as KF,
    preset,
)
from tests.frontend.reference_signals import DB_PER_NEPER, KINDS, assert_log_close, batch, signal

knf = pytest.importorskip("kaldi_native_fbank", reason="kaldi-native-fbank (test extra) is the Kaldi reference")
ort = pytest.importorskip("onnxruntime")


def knf_fbank(x: np.ndarray, sample_rate: float = 16000.0, **options) -> np.ndarray:
    """kaldi-native-fbank's features ``(frames, bins)``; ``mel_*`` options go to mel_opts, the rest to frame_opts."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = sample_rate
    for key, value in options.items():
        target, name = (opts.mel_opts, key[4:]) if key.startswith("mel_") else (opts.frame_opts, key)
        assert hasattr(target, name), key
        setattr(target, name, value)
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sample_rate, x.astype(np.float32).tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


def _grid(count: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    windows = itertools.cycle(KF.KALDI_WINDOWS[:5])  # kaldi-native-fbank has no "sine" window
    snips = itertools.cycle([True, False])
    for i in range(count):
        rate = [16000.0, 8000.0, 22050.0][i % 3]
        yield dict(
            sample_rate=rate, window_type=next(windows), snip_edges=next(snips),
            preemph_coeff=float(rng.choice([0.0, 0.97, 0.5])), remove_dc_offset=bool(i % 4 != 1),
            # kaldi-native-fbank takes only even FFT sizes: unrounded windows at 16 kHz (320/400/512).
            round_to_power_of_two=bool(i % 5 != 2 or rate != 16000.0),
            frame_length_ms=float(rng.choice([25.0, 20.0, 32.0])),
            frame_shift_ms=float(rng.choice([10.0, 12.5])),
            mel_num_bins=int(rng.choice([23, 40, 64] if rate > 8000 else [15, 23])),
            mel_low_freq=float(rng.choice([20.0, 0.0, 100.0])), mel_high_freq=float(rng.choice([0.0, -400.0, 3500.0])),
            length=int(rng.integers(int(0.04 * rate), int(0.6 * rate))), kind=KINDS[i % 3],
        )


GRID = list(_grid(12))


@pytest.mark.parametrize("case", GRID, ids=[f"{c['window_type']}-snip{int(c['snip_edges'])}-{i}" for i, c in enumerate(GRID)])
def test_kaldi_fbank_equals_kaldi_native_fbank(case):
    case = dict(case)
    rate, length, kind = case.pop("sample_rate"), case.pop("length"), case.pop("kind")
    x = signal(kind, length, int(rate)) * 32768.0  # Kaldi's int16 scale, where its floor sits
    ref = knf_fbank(x, rate, **case)
    module = KaldiFbank(rate, case["mel_num_bins"], case["frame_length_ms"], case["frame_shift_ms"],
                        case["window_type"], low_freq=case["mel_low_freq"], high_freq=case["mel_high_freq"],
                        round_to_power_of_two=case["round_to_power_of_two"], snip_edges=case["snip_edges"],
                        preemphasis_coefficient=case["preemph_coeff"], remove_dc_offset=case["remove_dc_offset"])
    out = module(torch.from_numpy(x.astype(np.float32)))
    assert out.shape == (case["mel_num_bins"], ref.shape[0])
    assert module.frames(length) == ref.shape[0]
    assert_log_close(out.T.double().numpy(), ref, DB_PER_NEPER * ref, f"{case}")


@pytest.mark.parametrize("length", [400, 401, 4807, 16123])
def test_kaldi_fbank_preset_equals_kaldi_native_fbank_defaults(length):
    x = batch(length, 16000)
    out = preset("kaldi-fbank")(torch.from_numpy(x)).double().numpy()
    for kind, item, raw in zip(KINDS, out, x):
        ref = knf_fbank(raw)
        assert_log_close(item, ref, DB_PER_NEPER * ref, f"kaldi-fbank {kind} {length}")


def test_kaldi_fbank_preset_exports_and_equals_kaldi_native_fbank_on_onnxruntime(tmp_path):
    fe = preset("kaldi-fbank", input_scale=32768.0).eval()
    path = export_onnx(fe, tmp_path / "kaldi.onnx")
    assert check_tensorrt(str(path)).ok
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for length in (400, 1601, 16123):
        x = batch(length, 16000, seed=3)
        out = session.run(None, {"audio": x})[0]
        for kind, item, raw in zip(KINDS, out, x):
            ref = knf_fbank(raw * 32768.0)
            assert_log_close(item, ref, DB_PER_NEPER * ref, f"kaldi-fbank ORT {kind} {length}")


def test_kaldi_windows_are_the_symmetric_windows():
    n = 400
    assert np.allclose(KF.kaldi_window("hanning", n), scipy.signal.get_window("hann", n, fftbins=False))
    assert np.allclose(KF.kaldi_window("hamming", n), scipy.signal.get_window("hamming", n, fftbins=False))
    assert np.allclose(KF.kaldi_window("blackman", n), scipy.signal.get_window("blackman", n, fftbins=False))
    assert np.allclose(KF.kaldi_window("povey", n), scipy.signal.get_window("hann", n, fftbins=False) ** 0.85)
    assert np.allclose(KF.kaldi_window("rectangular", n), 1.0)
    assert np.allclose(KF.kaldi_window("sine", n), np.sin(np.pi * np.arange(n) / (n - 1)))
    assert KF.kaldi_window("povey", 1).tolist() == [1.0]


@pytest.mark.parametrize("snip_edges", [True, False])
@pytest.mark.parametrize("length", [400, 401, 559, 3333])
def test_step_by_step_modules_give_the_fused_spectrum(snip_edges, length):
    x = torch.from_numpy(batch(length, 16000)).double()
    frames = KaldiFraming(400, 160, snip_edges)(x)
    frames = PreEmphasis(0.97)(RemoveDCOffset()(frames)) * torch.from_numpy(KF.kaldi_window("povey", 400))
    want = torch.fft.rfft(frames, n=512).abs() ** 2
    got = KaldiSpectrogram(snip_edges=snip_edges)(x.float()).double().transpose(-1, -2)
    assert got.shape == want.shape == (3, KF.kaldi_frame_count(length, 400, 160, snip_edges), 257)
    assert (got - want).norm() / want.norm() < 1e-5


def test_framing_mirrors_like_kaldi():
    x = torch.arange(10.0)
    assert KF.frame_signal(x, 4, 3).tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    # snip_edges=False: frames centred on 3 * (f + 1/2), start 1 - 2 = -1, mirrored with the edge repeated.
    assert KF.frame_signal(x, 4, 3, snip_edges=False).tolist() == [[0, 0, 1, 2], [2, 3, 4, 5], [5, 6, 7, 8]]
    assert KF.kaldi_frame_count(10, 4, 3, False) == 3 and KF.kaldi_frame_count(3, 4, 3) == 0


def test_preemphasis_forms():
    x = torch.tensor([[1.0, 2.0, 4.0]])
    assert torch.allclose(PreEmphasis(0.5)(x), torch.tensor([[0.5, 1.5, 3.0]]))
    assert torch.allclose(PreEmphasis(0.5, per_frame=False)(x), torch.tensor([[1.0, 1.5, 3.0]]))


def test_dither_only_in_training_and_never_in_the_graph(tmp_path):
    x = torch.from_numpy(batch(4000, 16000))
    fbank = KaldiSpectrogram(dither=1.0, input_scale=32768.0)
    fbank.train()
    noisy = fbank(x)
    fbank.eval()
    clean = fbank(x)
    assert not torch.equal(noisy, clean) and torch.equal(clean, fbank(x))
    # Silence in training: dither of 1 int16 unit gives energy of order sum(window^2) per bin.
    assert fbank.train()(torch.zeros(1, 4000)).mean() > 1.0
    d = Dither(0.5).train()
    assert (d(torch.zeros(1000)).std() - 0.5).abs() < 0.1 and torch.equal(d.eval()(x), x)


def test_kaldi_mel_banks_follow_kaldi():
    banks = KF.kaldi_mel_banks(num_bins=23, n_fft=512, sample_rate=16000)
    assert banks.shape == (257, 23) and banks[-1].max() == 0 and banks.max() <= 1.0
    mel = KF.kaldi_hz_to_mel(np.arange(256) * 16000 / 512)
    lo, hi = KF.kaldi_hz_to_mel(20.0), KF.kaldi_hz_to_mel(8000.0)
    centre = lo + (hi - lo) / 24 * 5  # bin 4's centre
    peak = int(np.argmax(banks[:, 4]))
    assert abs(mel[peak] - centre) <= (mel[peak + 1] - mel[peak - 1])
    shifted = KF.kaldi_mel_banks(num_bins=23, n_fft=512, sample_rate=16000, high_freq=-400.0)
    assert np.flatnonzero(shifted.any(1)).max() * 16000 / 512 < 7600.0


@pytest.mark.parametrize("kwargs, match", [
    ({"window_type": "kaiser"}, "window_type"),
    ({"frame_length": 0.01}, "less than one sample"),
    ({"frame_shift": -1.0}, "frame_shift"),
    ({"preemphasis_coefficient": 1.5}, "preemphasis_coefficient"),
    ({"dither": -1.0}, "non-negative"),
    ({"power": 3.0}, "power"),
    ({"input_scale": 0.0}, "input_scale"),
    ({"sample_frequency": 0}, "sample_frequency"),
])
def test_bad_kaldi_arguments_name_themselves(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        KaldiSpectrogram(**kwargs)


def test_bad_mel_band_and_short_input():
    with pytest.raises(ConfigError, match="low_freq"):
        KaldiFbank(low_freq=9000.0)
    with pytest.raises(ConfigError, match="high_freq"):
        KaldiFbank(high_freq=-9000.0)
    with pytest.raises(InputError, match="at least 400"):
        KaldiFbank()(torch.zeros(1, 399))
