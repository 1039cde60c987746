"""Streaming equals offline: everything pushed and flushed, concatenated, is ``frontend(whole_audio)``.

Chunk sizes are drawn from seeded generators (1 sample, shorter than a hop, longer than a
window); the references are the offline modules (themselves checked against librosa) and
kaldi-native-fbank's OnlineFbank.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend import (
    MFCC,
    AmplitudeToDB,
    ComputeDeltas,
    FrozenNormalize,
    InverseSpectrogram,
    Magnitude,
    MelScale,
    MelSpectrogram,
    Normalize,
    Phase,
    SpecAugment,
    Spectrogram,
    kapre_logmel,
    kapre_stft,
)
from audiofront.frontend.framewise import FrameSpec, frame_specs_of
from audiofront.frontend.streaming import Streaming

N_FFT, HOP = 64, 16


def _mel(**kw):
    return MelSpectrogram(sample_rate=8000, n_fft=N_FFT, hop_length=HOP, n_mels=12, **kw)


# (name, builder): every streamable module and preset, in small test settings.
STREAMABLE = [
    ("stft-nocenter", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, center=False)),
    ("stft-reflect", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP)),
    ("stft-constant-pad", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, pad_mode="constant", pad=7)),
    ("stft-replicate-power1", lambda: Spectrogram(n_fft=N_FFT, hop_length=24, pad_mode="replicate", power=1.0)),
    ("stft-odd-hop-not-dividing", lambda: Spectrogram(n_fft=63, win_length=50, hop_length=20, window="hamming")),
    ("stft-hop-over-window", lambda: Spectrogram(n_fft=32, hop_length=40, center=False)),
    ("stft-reflect-after-pad", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, pad=40)),
    ("complex-magnitude", lambda: nn.Sequential(Spectrogram(n_fft=N_FFT, hop_length=HOP, power=None), Magnitude(2.0))),
    ("complex-phase", lambda: nn.Sequential(Spectrogram(n_fft=N_FFT, hop_length=HOP, power=None), Phase())),
    ("complex-raw", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, power=None)),
    ("mel", lambda: _mel()),
    ("mel-nocenter-db", lambda: nn.Sequential(_mel(center=False), AmplitudeToDB())),
    ("stft-melscale-db", lambda: nn.Sequential(Spectrogram(n_fft=N_FFT, hop_length=HOP),
                                                MelScale(n_mels=10, sample_rate=8000, n_stft=N_FFT // 2 + 1),
                                                AmplitudeToDB("power"))),
    ("frozen-normalize", lambda: nn.Sequential(_mel(), AmplitudeToDB(),
                                                FrozenNormalize(torch.linspace(-50, -10, 12), torch.linspace(1, 5, 12)))),
    ("normalize-time", lambda: nn.Sequential(_mel(), AmplitudeToDB(), Normalize("time"))),
    ("mfcc-log", lambda: MFCC(sample_rate=8000, n_mfcc=8, log_mels=True,
                              melkwargs={"n_fft": N_FFT, "hop_length": HOP, "n_mels": 12})),
    ("deltas", lambda: nn.Sequential(_mel(), AmplitudeToDB(), ComputeDeltas())),
    ("deltas-of-deltas-win7", lambda: nn.Sequential(_mel(center=False), AmplitudeToDB(), ComputeDeltas(7), ComputeDeltas(3))),
    ("kapre-stft", lambda: kapre_stft(8000, top_db=None)),
    ("kapre-logmel", lambda: kapre_logmel(8000, n_mels=16, top_db=None)),
    ("augment-eval", lambda: nn.Sequential(_mel(), SpecAugment()).eval()),
]


def _chunks(rng: np.random.Generator, total: int, style: str) -> list[int]:
    sizes, done = [], 0
    while done < total:
        if style == "ones":
            size = 1
        elif style == "short":
            size = int(rng.integers(1, HOP))
        else:
            size = int(rng.choice([0, 1, int(rng.integers(1, HOP)), int(rng.integers(HOP, 4 * N_FFT))]))
        size = min(size, total - done)
        sizes.append(size)
        done += size
    return sizes


def _stream(stream: Streaming, audio: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    parts, start = [], 0
    for size in sizes:
        parts.append(stream.push(audio[..., start:start + size]))
        start += size
    parts.append(stream.flush())
    return torch.cat(parts, dim=stream.plan.output_time_axis)


def _close(actual, expected):
    assert actual.shape == expected.shape
    scale = float(expected.abs().max()) or 1.0
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name,build", STREAMABLE, ids=[n for n, _ in STREAMABLE])
def test_streaming_equals_offline(name, build):
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # hash(str) changes with every process
    module = build()
    stream = Streaming(module)
    spec0 = frame_specs_of(module)[0]
    shortest = 1
    while True:  # the fewest samples the offline module takes
        try:
            module(torch.zeros(shortest))
            break
        except (InputError, RuntimeError):
            shortest += 1
    for batch, length, style, scale in [
        ((), shortest, "mixed", 1.0),
        ((1,), shortest + 1, "ones", 0.5),
        ((3,), 517, "mixed", 1.0),
        ((2,), max(300, shortest), "short", 1e4),
        ((2, 2), max(401, shortest + 2), "mixed", 1.0),
    ]:
        audio = torch.from_numpy(rng.standard_normal(batch + (length,)).astype(np.float32)) * scale
        if batch == (3,):
            audio[1] = 0.0  # silence in one row
        expected = module(audio)
        stream.reset()
        got = _stream(stream, audio, _chunks(rng, length, style))
        if name == "complex-phase":
            # Compare the angles as points on a circle of the bin's magnitude: angles near +-pi flip
            # with the last bit of a zero imaginary part, and a faint bin's angle is as uncertain as
            # float32 rounding relative to its magnitude.
            pairs = module[0](audio)
            magnitude = torch.sqrt(pairs[..., 0] ** 2 + pairs[..., 1] ** 2)
            got = magnitude * torch.stack([got.cos(), got.sin()])
            expected = magnitude * torch.stack([expected.cos(), expected.sin()])
        _close(got, expected)
    assert spec0.window >= 1


def test_center_zeros_start_differs_only_in_the_first_frames():
    spec = Spectrogram(n_fft=N_FFT, hop_length=HOP)
    audio = torch.randn(2, 500)
    got = _stream(Streaming(spec, center_start="zeros"), audio, [37] * 14)
    half = N_FFT // 2
    # Independent reference: zeros on the left, the offline mirror on the right, no centring.
    right = torch.flip(audio[:, -half - 1:-1], dims=[-1])
    padded = torch.cat([torch.zeros(2, half), audio, right], dim=-1)
    _close(got, Spectrogram(n_fft=N_FFT, hop_length=HOP, center=False)(padded))
    differ = math.ceil(half / HOP)
    offline = spec(audio)
    _close(got[..., differ:], offline[..., differ:])
    assert not torch.allclose(got[..., :differ], offline[..., :differ])
    assert Streaming(spec, center_start="zeros").latency_samples < Streaming(spec).latency_samples


def test_latency_samples_is_when_frames_come_out():
    for module in (Spectrogram(n_fft=N_FFT, hop_length=HOP, center=False), _mel(),
                   nn.Sequential(_mel(), AmplitudeToDB(), ComputeDeltas(5))):
        stream = Streaming(module)
        audio = torch.randn(400)
        counts = [0]
        for i in range(400):
            counts.append(counts[-1] + stream.push(audio[i:i + 1]).shape[-1])
        # Frame t is out once t * hop + latency_samples samples have arrived, not earlier.
        for t in range(counts[-1]):
            arrived = next(n for n, c in enumerate(counts) if c > t)
            assert arrived == t * stream.hop_length + stream.latency_samples


@pytest.mark.parametrize("module,reason", [
    (AmplitudeToDB(top_db=80.0), "peak of the whole"),
    (Normalize("frequency"), "over all frames"),
    (MFCC(sample_rate=8000, n_mfcc=8, melkwargs={"n_fft": N_FFT, "n_mels": 12}), "log_mels=True"),
    (kapre_logmel(8000, top_db=80.0), "top_db"),
    (SpecAugment(), ".eval()"),
    (InverseSpectrogram(n_fft=N_FFT), "frame_specs"),
    (nn.Linear(3, 3), "does not declare"),
], ids=["top_db", "normalize", "mfcc-top_db", "preset-top_db", "augment-training", "istft", "foreign"])
def test_modules_that_need_the_whole_item_are_refused(module, reason):
    with pytest.raises(ConfigError, match="cannot be streamed|training|does not declare") as info:
        Streaming(module)
    assert reason in str(info.value)
    with pytest.raises(ConfigError, match="center_start"):
        Streaming(_mel(), center_start="mirror")


def test_reset_gives_a_clean_state():
    module = nn.Sequential(_mel(), AmplitudeToDB(), ComputeDeltas())
    stream = Streaming(module)
    first = torch.randn(2, 333) * 100
    stream.push(first)
    stream.reset()
    assert stream._state is None
    other = torch.randn(3, 250)  # another batch size after reset
    _close(_stream(stream, other, [17] * 15), module(other))
    # A flushed stream refuses more audio until reset.
    with pytest.raises(InputError, match="reset"):
        stream.push(other)
    stream.reset()
    fresh = Streaming(module)
    _close(_stream(stream, first, [100, 233]), _stream(fresh, first, [100, 233]))


def test_streams_in_a_batch_do_not_influence_each_other():
    module = nn.Sequential(_mel(), AmplitudeToDB(), ComputeDeltas())
    audio = torch.randn(3, 400)
    together = _stream(Streaming(module), audio, [50] * 8)
    loud = audio.clone()
    loud[1] = loud[1] * 1e5
    changed = _stream(Streaming(module), loud, [50] * 8)
    for i in (0, 2):
        _close(changed[i], together[i])
        _close(together[i], _stream(Streaming(module), audio[i], [50] * 8))


def test_bad_input_is_refused():
    stream = Streaming(_mel())
    with pytest.raises(InputError, match="before any push"):
        stream.flush()
    with pytest.raises(InputError, match="float tensor"):
        stream.push(torch.zeros(10, dtype=torch.int16))
    stream.push(torch.zeros(2, 10))
    with pytest.raises(InputError, match="leading shape"):
        stream.push(torch.zeros(3, 10))
    with pytest.raises(InputError, match="NaN"):
        stream.push(torch.full((2, 4), float("nan")))
    with pytest.raises(InputError, match="mirrors 32"):
        stream.flush()  # 10 samples: the centre reflection needs more than n_fft // 2
    with pytest.raises(ConfigError, match="window must be"):
        FrameSpec(compute=lambda x: x, window=0)


def _stream_with_online_fbank(online, stream: Streaming, audio: np.ndarray, rng: np.random.Generator):
    """Push ``audio`` in the same random chunks into kaldi-native-fbank's ``online`` and our ``stream``;
    returns our pushed (and flushed) outputs and their frames ``(frames, bins)``."""
    mine, start = [], 0
    for size in _chunks(rng, audio.shape[0], "mixed") + [0]:
        piece = audio[start:start + size]
        start += size
        online.accept_waveform(16000, piece.tolist())
        mine.append(stream.push(torch.from_numpy(piece)))
    online.input_finished()
    mine.append(stream.flush())
    return mine, np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])


def test_kaldi_fbank_streamed_equals_kaldi_native_fbank_online():
    knf = pytest.importorskip("kaldi_native_fbank", reason="kaldi-native-fbank is in the test extra")
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.preemph_coeff = 0.0
    opts.frame_opts.remove_dc_offset = False
    opts.frame_opts.window_type = "hanning"  # symmetric Hann over the 25 ms frame
    opts.frame_opts.round_to_power_of_two = False
    opts.frame_opts.snip_edges = True  # frames inside the audio: center=False
    opts.mel_opts.num_bins = 40
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 7600.0
    opts.mel_opts.is_librosa = True  # librosa's Slaney filters (norm and scale), which MelScale computes
    # The same features from our modules: log(max(mel, eps)) is dB * ln(10) / 10 with amin = eps.
    ours = nn.Sequential(
        Spectrogram(n_fft=400, hop_length=160, window=torch.hann_window(400, periodic=False), center=False),
        MelScale(n_mels=40, sample_rate=16000, f_min=20.0, f_max=7600.0, n_stft=201, norm="slaney", mel_scale="slaney"),
        AmplitudeToDB(amin=opts.eps),
    )
    rng = np.random.default_rng(13)
    audio = (rng.standard_normal(16000 + 37) * 0.3).astype(np.float32)
    mine, theirs = _stream_with_online_fbank(knf.OnlineFbank(opts), Streaming(ours), audio, rng)
    got = torch.cat(mine, dim=-1).numpy().T * (math.log(10.0) / 10.0)
    assert got.shape == theirs.shape == (1 + (audio.shape[0] - 400) // 160, 40)
    np.testing.assert_allclose(got, theirs, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("num_mel_bins", [23, 80])
def test_kaldi_fbank_preset_streamed_equals_kaldi_native_fbank_online(num_mel_bins):
    """The kaldi-fbank preset itself (povey, DC removal, pre-emphasis, Kaldi mels), pushed in random
    chunks, equals OnlineFbank fed the same chunks, and its own offline output, frame for frame."""
    knf = pytest.importorskip("kaldi_native_fbank", reason="kaldi-native-fbank is in the test extra")
    from audiofront.frontend import preset

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = num_mel_bins
    module = preset("kaldi-fbank", num_mel_bins=num_mel_bins).eval()
    rng = np.random.default_rng(num_mel_bins)
    audio = (rng.standard_normal(8000 + 123) * 0.3).astype(np.float32)
    mine, theirs = _stream_with_online_fbank(knf.OnlineFbank(opts), Streaming(module), audio, rng)
    got = torch.cat(mine, dim=-2).numpy()  # (frames, bins): the preset's layout
    assert got.shape == theirs.shape == (1 + (audio.shape[0] - 400) // 160, num_mel_bins)
    np.testing.assert_allclose(got, theirs, atol=1e-3, rtol=1e-4)
    with torch.no_grad():
        # Offline too: the same frames up to float32 rounding (the convolution blocks differently by length).
        np.testing.assert_allclose(got, module(torch.from_numpy(audio)).numpy(), atol=1e-5, rtol=1e-5)
