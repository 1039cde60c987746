"""Kapre's public API as torch modules: a Kapre model's front-end ports line by line.

Kapre 0.4.1's layer names, argument names, defaults and data formats (``'default'`` is
``'channels_last'``: waveforms ``(batch, time, ch)``, spectrograms ``(batch, frames, freq, ch)``),
built on audiofront's own modules, so each exports to ONNX (the training-only augmentations
vanish in ``eval()``). Complex STFTs are ``[real, imag]`` pairs in a last dim of size 2.
Porting guide and measured differences: docs/kapre.md.

Example::

    >>> from audiofront.frontend import kapre
    >>> mel = kapre.get_melspectrogram_layer(n_fft=512, hop_length=256, sample_rate=16000, n_mels=64,
    ...                                      return_decibel=True)
    >>> mel(torch.randn(2, 16000, 1)).shape
    torch.Size([2, 61, 64, 1])
"""

from audiofront.frontend.kapre import backend, composed
from audiofront.frontend.kapre.augmentation import ChannelSwap, SpecAugment
from audiofront.frontend.kapre.composed import (
    get_frequency_aware_conv2d,
    get_log_frequency_spectrogram_layer,
    get_melspectrogram_layer,
    get_perfectly_reconstructing_stft_istft,
    get_stft_mag_phase,
    get_stft_magnitude_layer,
)
from audiofront.frontend.kapre.layers import (
    STFT,
    ApplyFilterbank,
    ConcatenateFrequencyMap,
    Delta,
    InverseSTFT,
    Magnitude,
    MagnitudeToDecibel,
    Phase,
)
from audiofront.frontend.kapre.signal import Energy, Frame, LogmelToMFCC, MuLawDecoding, MuLawEncoding
from audiofront.frontend.kapre.tflite import MagnitudeTflite, PhaseTflite, STFTTflite

KAPRE_VERSION = "0.4.1"  # the Kapre release these modules reproduce

__all__ = [
    "KAPRE_VERSION",
    "backend",
    "composed",
    "Frame",
    "Energy",
    "MuLawEncoding",
    "MuLawDecoding",
    "LogmelToMFCC",
    "STFT",
    "InverseSTFT",
    "Magnitude",
    "Phase",
    "MagnitudeToDecibel",
    "ApplyFilterbank",
    "Delta",
    "ConcatenateFrequencyMap",
    "STFTTflite",
    "MagnitudeTflite",
    "PhaseTflite",
    "SpecAugment",
    "ChannelSwap",
    "get_stft_magnitude_layer",
    "get_melspectrogram_layer",
    "get_log_frequency_spectrogram_layer",
    "get_perfectly_reconstructing_stft_istft",
    "get_stft_mag_phase",
    "get_frequency_aware_conv2d",
]
