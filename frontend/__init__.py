"""Front-end modules: STFT as a convolution, filterbanks, dB, MFCC, deltas, normalisation, augmentation,
framing, mu-law; Kapre's API in :mod:`audiofront.frontend.kapre`.

Inputs are float tensors ``(..., time)``; outputs ``(..., freq, frames)``. Names and defaults
follow ``torchaudio.transforms``; numbers equal librosa's.
"""

try:
    import torch  # noqa: F401  (every module here is a torch nn.Module)
except ImportError:
    from audiofront.errors import MissingDependency

    raise MissingDependency(
        "torch is needed to build audio front-ends (audiofront.frontend), export and train; install it with "
        "pip install torch==2.13.0 (or the 'torch' extra). Exported pipelines run without it (audiofront.runtime)."
    ) from None

from audiofront.frontend import functional, kaldi_functional, utterance_functional
from audiofront.frontend.augment import AdditiveNoise, SpecAugment
from audiofront.frontend.cepstral import MFCC, ComputeDeltas, LogMelToMFCC
from audiofront.frontend.companding import MuLawDecoding, MuLawEncoding
from audiofront.frontend.dft import DFT_ALGORITHMS, DirectDFT, register_dft_algorithm
from audiofront.frontend.factored import AutoDFT, FactoredDFT
from audiofront.frontend.framing import Energy, Frame
from audiofront.frontend.filterbanks import Filterbank, MelScale, MelSpectrogram
from audiofront.frontend.framewise import FrameSpec
from audiofront.frontend.kaldi import (
    Dither,
    KaldiFbank,
    KaldiFraming,
    KaldiMelScale,
    KaldiSpectrogram,
    LogWithFloor,
    PreEmphasis,
    RemoveDCOffset,
)
from audiofront.frontend.presets import PRESETS, FrontEnd, bench_logmel, kapre_logmel, kapre_stft, preset
from audiofront.frontend.scaling import AmplitudeToDB, FrozenNormalize, Normalize
from audiofront.frontend.stft import InverseSpectrogram, Magnitude, Phase, Spectrogram
from audiofront.frontend.streaming import Streaming
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
    "functional",
    "kaldi_functional",
    "utterance_functional",
    "Spectrogram",
    "InverseSpectrogram",
    "Magnitude",
    "Phase",
    "Filterbank",
    "MelScale",
    "MelSpectrogram",
    "AmplitudeToDB",
    "Normalize",
    "FrozenNormalize",
    "MFCC",
    "ComputeDeltas",
    "LogMelToMFCC",
    "Frame",
    "Energy",
    "MuLawEncoding",
    "MuLawDecoding",
    "AdditiveNoise",
    "SpecAugment",
    "KaldiFraming",
    "RemoveDCOffset",
    "PreEmphasis",
    "Dither",
    "KaldiSpectrogram",
    "KaldiMelScale",
    "LogWithFloor",
    "KaldiFbank",
    "DynamicRangeClamp",
    "Affine",
    "UtteranceCMVN",
    "ZeroMeanUnitVariance",
    "StackFrames",
    "DropLastFrame",
    "PadTrim",
    "RepeatPad",
    "TimeFirst",
    "FrontEnd",
    "PRESETS",
    "preset",
    "kapre_stft",
    "kapre_logmel",
    "bench_logmel",
    "DirectDFT",
    "FactoredDFT",
    "AutoDFT",
    "DFT_ALGORITHMS",
    "register_dft_algorithm",
    "Streaming",
    "FrameSpec",
]
