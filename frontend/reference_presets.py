"""Presets equal to the front-ends of models people ship: Whisper, AST, Kaldi fbank, SeamlessM4T,
Speech2Text, Wav2Vec2, PANNs Cnn14, CLAP.

Each preset's output is the tensor the reference extractor hands its model: the same layout and
the same pad/trim to the model's fixed length where the extractor does it. Input is float audio
in [-1, 1] at the preset's sample rate; where the reference works on int16 values the scaling
is folded in (``input_scale``). The reference and the version the parity tests ran against are
in each preset's ``info`` (and so in the exported metadata) and in docs/presets.md.

Example::

    >>> from audiofront.frontend import preset
    >>> preset("ast")(torch.randn(2, 16000) * 0.1).shape
    torch.Size([2, 1024, 128])
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch  # noqa: F401  (the doctest above uses it)

from audiofront.frontend.filterbanks import MelScale
from audiofront.frontend.kaldi import KaldiFbank, LogWithFloor
from audiofront.frontend.presets import FrontEnd
from audiofront.frontend.scaling import AmplitudeToDB
from audiofront.frontend.stft import Spectrogram
from audiofront.frontend.utterance import (
    Affine,
    DropLastFrame,
    DynamicRangeClamp,
    PadTrim,
    RepeatPad,
    StackFrames,
    TimeFirst,
    UtteranceCMVN,
    ZeroMeanUnitVariance,
)

__all__ = [
    "whisper",
    "kaldi_fbank",
    "ast",
    "seamless_m4t",
    "speech2text",
    "wav2vec2",
    "panns_cnn14",
    "clap",
    "REFERENCE_PRESETS",
    "REFERENCE_VERSIONS",
]

#: The reference packages the parity tests (tests/frontend/test_reference_presets.py) ran against.
REFERENCE_VERSIONS = {
    "openai-whisper": "20250625",
    "transformers": "5.24.0",
    "kaldi-native-fbank": "1.23.0",
    "torchlibrosa": "0.1.0",
}

# Kaldi frames of 25 ms every 10 ms at 16 kHz: 400 samples every 160.
_KALDI_FRAMES_16K = "1 + (time - 400) // 160"


def whisper(n_mels: int = 80, *, algorithm: str = "auto") -> FrontEnd:
    """Whisper's log-mel: ``(batch, time) -> (batch, n_mels, 3000)`` (n_mels 80 or 128).

    openai-whisper's ``log_mel_spectrogram(pad_or_trim(audio), n_mels)`` and transformers'
    ``WhisperFeatureExtractor``: audio zero-padded or cut to 30 s (480000 samples at 16 kHz),
    Hann STFT 400/160 centred (reflect), last frame dropped, Slaney mel filters, ``log10(max(.,
    1e-10))``, clamped to 8 below the item's peak, ``(x + 4) / 4``.
    """
    with warnings.catch_warnings():
        # At 128 mels some of the 201 bins' filters are empty: Whisper's own filters are too.
        warnings.simplefilter("ignore", UserWarning)
        mel = MelScale(n_mels=n_mels, sample_rate=16000, n_stft=201, norm="slaney", mel_scale="slaney")
    return FrontEnd(
        PadTrim(480000),
        Spectrogram(n_fft=400, hop_length=160, window="hann", power=2.0, algorithm=algorithm),
        DropLastFrame(),
        mel,
        LogWithFloor(1e-10, base="10"),
        DynamicRangeClamp(8.0),
        Affine(scale=0.25, bias=1.0),
        sample_rate=16000, name=f"whisper-{n_mels}",
        info={"layout": "bins,frames", "frames": "time // 160", "fixed_samples": 480000, "drop_last_frame": True,
              "reference": "openai-whisper log_mel_spectrogram(pad_or_trim(audio)); transformers WhisperFeatureExtractor",
              "reference_version": f"openai-whisper {REFERENCE_VERSIONS['openai-whisper']}, "
                                   f"transformers {REFERENCE_VERSIONS['transformers']}"},
    )


def kaldi_fbank(num_mel_bins: int = 23, *, input_scale: float = 1.0) -> FrontEnd:
    """kaldi-native-fbank's ``FbankOptions()`` with dither off: ``(batch, time) -> (batch, frames, num_mel_bins)``.

    16 kHz, 25/10 ms povey frames (snip edges), DC removal, pre-emphasis 0.97, 512-point FFT,
    power, Kaldi mel banks 20 Hz .. Nyquist, ``log(max(., FLT_EPSILON))``. kaldi-native-fbank takes
    samples as given: ``input_scale=32768`` gives what Kaldi computes on int16 values.
    """
    return FrontEnd(
        KaldiFbank(16000.0, num_mel_bins, input_scale=input_scale),
        TimeFirst(),
        sample_rate=16000, name="kaldi-fbank",
        info={"layout": "frames,bins", "frames": _KALDI_FRAMES_16K, "input_scale": input_scale,
              "reference": "kaldi_native_fbank.OnlineFbank(FbankOptions(), frame_opts.dither=0)",
              "reference_version": f"kaldi-native-fbank {REFERENCE_VERSIONS['kaldi-native-fbank']}"},
    )


def ast(max_length: int = 1024, *, mean: float = -4.2677393, std: float = 4.5689974) -> FrontEnd:
    """transformers' ``ASTFeatureExtractor``: ``(batch, time) -> (batch, max_length, 128)``.

    Kaldi fbank with 128 mels and a symmetric Hann window (``window_type="hanning"``), frames
    zero-padded or cut to ``max_length`` (1024), then ``(x - mean) / (2 std)`` (AudioSet's).
    """
    return FrontEnd(
        KaldiFbank(16000.0, 128, window_type="hanning"),
        PadTrim(max_length),
        Affine(scale=1.0 / (2.0 * std), bias=-mean / (2.0 * std)),
        TimeFirst(),
        sample_rate=16000, name="ast",
        info={"layout": "frames,bins", "frames": _KALDI_FRAMES_16K, "fixed_frames": max_length,
              "reference": "transformers ASTFeatureExtractor",
              "reference_version": f"transformers {REFERENCE_VERSIONS['transformers']}"},
    )


def seamless_m4t(stride: int = 2) -> FrontEnd:
    """transformers' ``SeamlessM4TFeatureExtractor`` (w2v-BERT 2.0): ``(batch, time) -> (batch, ceil(frames / 2), 160)``.

    Kaldi fbank, 80 mels, on int16-scaled audio; each mel bin normalised over the utterance
    (``ddof=1``, ``var + 1e-7``); frames zero-padded to a multiple of ``stride`` and stacked.
    """
    frames = f"({stride - 1} + {_KALDI_FRAMES_16K}) // {stride}"
    return FrontEnd(
        KaldiFbank(16000.0, 80, input_scale=32768.0),
        UtteranceCMVN(ddof=1, eps=1e-7, eps_mode="add"),
        StackFrames(stride),
        TimeFirst(),
        sample_rate=16000, name="seamless-m4t",
        info={"layout": "frames,bins", "frames": frames, "frame_stride": stride, "input_scale": 32768.0,
              "reference": "transformers SeamlessM4TFeatureExtractor",
              "reference_version": f"transformers {REFERENCE_VERSIONS['transformers']}"},
    )


def speech2text() -> FrontEnd:
    """transformers' ``Speech2TextFeatureExtractor``: ``(batch, time) -> (batch, frames, 80)``.

    Kaldi fbank, 80 mels, on int16-scaled audio, then utterance CMVN (``ddof=0``; variance floored at 1e-20 where the reference gives NaN).
    """
    return FrontEnd(
        KaldiFbank(16000.0, 80, input_scale=32768.0),
        # The reference divides by std with no floor (a constant bin gives NaN there); a floor far
        # below any real variance keeps silence finite and changes nothing else.
        UtteranceCMVN(ddof=0, eps=1e-20, eps_mode="floor"),
        TimeFirst(),
        sample_rate=16000, name="speech2text",
        info={"layout": "frames,bins", "frames": _KALDI_FRAMES_16K, "input_scale": 32768.0,
              "reference": "transformers Speech2TextFeatureExtractor",
              "reference_version": f"transformers {REFERENCE_VERSIONS['transformers']}"},
    )


def wav2vec2() -> FrontEnd:
    """transformers' ``Wav2Vec2FeatureExtractor(do_normalize=True)``: ``(batch, time) -> (batch, time)``.

    Each item's waveform to zero mean and unit variance, ``(x - mean) / sqrt(var + 1e-7)``.
    """
    return FrontEnd(
        ZeroMeanUnitVariance(1e-7),
        sample_rate=16000, name="wav2vec2",
        info={"layout": "time", "reference": "transformers Wav2Vec2FeatureExtractor(do_normalize=True)",
              "reference_version": f"transformers {REFERENCE_VERSIONS['transformers']}"},
    )


def panns_cnn14(*, algorithm: str = "auto") -> FrontEnd:
    """PANNs Cnn14's front-end (torchlibrosa ``Spectrogram`` + ``LogmelFilterBank``): ``(batch, time) -> (batch, 1, frames, 64)``.

    32 kHz, Hann STFT 1024/320 centred (reflect), 64 Slaney mels 50..14000 Hz, ``10 log10(max(., 1e-10))``.
    """
    return FrontEnd(
        Spectrogram(n_fft=1024, hop_length=320, window="hann", power=2.0, algorithm=algorithm),
        MelScale(n_mels=64, sample_rate=32000, f_min=50.0, f_max=14000.0, n_stft=513, norm="slaney",
                 mel_scale="slaney"),
        AmplitudeToDB("power", top_db=None, amin=1e-10, ref_value=1.0),
        TimeFirst(channel=True),
        sample_rate=32000, name="panns-cnn14",
        info={"layout": "1,frames,bins", "frames": "1 + time // 320",
              "reference": "torchlibrosa Spectrogram + LogmelFilterBank as in PANNs Cnn14",
              "reference_version": f"torchlibrosa {REFERENCE_VERSIONS['torchlibrosa']}"},
    )


def clap(max_length_s: int = 10, *, algorithm: str = "auto-direct") -> FrontEnd:
    """transformers' ``ClapFeatureExtractor`` without fusion: ``(batch, time) -> (batch, 1, 1001, 64)``.

    48 kHz audio repeated to fill ``max_length_s`` seconds then zero-padded (``repeatpad``),
    Hann STFT 1024/480 centred, 64 Slaney mels 0..14000 Hz, ``10 log10(max(., 1e-10))``. Clips
    longer than the maximum are cut at their start (the reference, ``rand_trunc``, cuts at a
    random offset). Exported with the direct DFT (``algorithm="auto-direct"``): the factored one
    put tonal clips' log-mel 70-80 dB below the peak 1.2e-3 natural-log units off, over the 1e-3
    bar; the direct one 6e-4 (docs/presets.md).
    """
    samples = 48000 * max_length_s
    return FrontEnd(
        RepeatPad(samples),
        Spectrogram(n_fft=1024, hop_length=480, window="hann", power=2.0, algorithm=algorithm),
        MelScale(n_mels=64, sample_rate=48000, f_min=0.0, f_max=14000.0, n_stft=513, norm="slaney",
                 mel_scale="slaney"),
        AmplitudeToDB("power", top_db=None, amin=1e-10, ref_value=1.0),
        TimeFirst(channel=True),
        sample_rate=48000, name="clap",
        info={"layout": "1,frames,bins", "frames": "1 + time // 480", "fixed_samples": samples,
              "reference": "transformers ClapFeatureExtractor(truncation='rand_trunc', padding='repeatpad')",
              "reference_version": f"transformers {REFERENCE_VERSIONS['transformers']}"},
    )


REFERENCE_PRESETS: dict[str, Callable[..., FrontEnd]] = {
    "whisper-80": lambda **kw: whisper(80, **kw),
    "whisper-128": lambda **kw: whisper(128, **kw),
    "kaldi-fbank": kaldi_fbank,
    "ast": ast,
    "seamless-m4t": seamless_m4t,
    "speech2text": speech2text,
    "wav2vec2": wav2vec2,
    "panns-cnn14": panns_cnn14,
    "clap": clap,
}
