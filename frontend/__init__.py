"""Front-end modules: STFT as a convolution, filterbanks, dB, MFCC, deltas, normalisation, augmentation,
framing, mu-law; Kapre's API in :mod:`audiofront.frontend.kapre`.

Inputs are float tensors ``(..., time)``; outputs ``(..., freq, frames)``. Names and defaults
follow ``torchaudio.transforms``; numbers equal librosa's.
"""

from audiofront.frontend import functional
from audiofront.frontend.augment import AdditiveNoise, SpecAugment
from audiofront.frontend.cepstral import MFCC, ComputeDeltas, LogMelToMFCC
from audiofront.frontend.companding import MuLawDecoding, MuLawEncoding
from audiofront.frontend.dft import DFT_ALGORITHMS, DirectDFT, register_dft_algorithm
from audiofront.frontend.factored import AutoDFT, FactoredDFT
from audiofront.frontend.framing import Energy, Frame
from audiofront.frontend.filterbanks import Filterbank, MelScale, MelSpectrogram
from audiofront.frontend.presets import PRESETS, FrontEnd, bench_logmel, kapre_logmel, kapre_stft, preset
from audiofront.frontend.scaling import AmplitudeToDB, FrozenNormalize, Normalize
from audiofront.frontend.stft import InverseSpectrogram, Magnitude, Phase, Spectrogram

__all__ = [
    "functional",
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
]
