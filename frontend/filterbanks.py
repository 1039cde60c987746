"""Filterbanks over spectrogram bins: ``Filterbank`` (mel, log, linear, random; trainable or frozen),
``MelScale`` and ``MelSpectrogram``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend import functional as F
from audiofront.frontend.blocksparse import band_blocks, block_project
from audiofront.frontend.framewise import FrameSpec, pointwise
from audiofront.frontend.inputs import InputSpec, check_features, to_compute_dtype
from audiofront.frontend.stft import Spectrogram

__all__ = ["Filterbank", "MelScale", "MelSpectrogram"]


class Filterbank(nn.Module):
    """Weights ``(n_freq, n_bins)`` applied to every frame: ``(..., n_freq, frames) -> (..., n_bins, frames)``.

    Build one with :meth:`mel`, :meth:`log`, :meth:`linear` or :meth:`random`, or from any
    non-negative matrix. ``trainable=True`` makes the weights a Parameter (Kapre's trainable
    filterbank); otherwise they are a float32 buffer that exports as a constant.

    Example::

        >>> fb = Filterbank.log(sample_rate=22050, n_fft=2048, n_bins=84)
        >>> fb(torch.rand(3, 1025, 40)).shape
        torch.Size([3, 84, 40])
    """

    def __init__(self, weights, *, trainable: bool = False):
        super().__init__()
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64) if not isinstance(weights, torch.Tensor) else weights)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ConfigError(f"weights must be a 2-D matrix (n_freq, n_bins), got shape {tuple(w.shape)}")
        if not torch.isfinite(w).all():
            raise ConfigError("weights must be finite")
        w = w.detach().to(torch.float32).clone()
        self.n_freq, self.n_bins = int(w.shape[0]), int(w.shape[1])
        self.trainable = bool(trainable)
        if self.trainable:
            self.fb = nn.Parameter(w)
        else:
            self.register_buffer("fb", w)
        self._blocks = self._band_blocks()

    @classmethod
    def mel(cls, *, sample_rate: float, n_fft: int, n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
            norm: str | float | None = None, mel_scale: str = "htk", trainable: bool = False) -> "Filterbank":
        """Triangular mel filters, librosa's numbers (see :func:`functional.mel_filterbank`; ``norm`` may be a p-norm order)."""
        weights = F.mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, f_min=f_min, f_max=f_max,
                                   norm=norm, mel_scale=mel_scale)
        return cls(weights, trainable=trainable)

    @classmethod
    def log(cls, *, sample_rate: float, n_fft: int, n_bins: int = 84, bins_per_octave: int = 12,
            f_min: float = 32.70319566257483, trainable: bool = False, shape: str = "triangle",
            spread: float = 0.125) -> "Filterbank":
        """Filters on a log-frequency grid: triangles (``shape="triangle"``, :func:`functional.log_filterbank`)
        or Kapre's L1-normalised log-normal bumps of width ``spread`` (``"lognormal"``,
        :func:`functional.log_normal_filterbank`)."""
        if shape == "lognormal":
            weights = F.log_normal_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_bins=n_bins,
                                              bins_per_octave=bins_per_octave, f_min=f_min, spread=spread)
        elif shape == "triangle":
            weights = F.log_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_bins=n_bins,
                                       bins_per_octave=bins_per_octave, f_min=f_min)
        else:
            raise ConfigError(f"shape must be 'triangle' or 'lognormal', got {shape!r}")
        return cls(weights, trainable=trainable)

    @classmethod
    def linear(cls, *, sample_rate: float, n_fft: int, n_bins: int = 64, f_min: float = 0.0,
               f_max: float | None = None, trainable: bool = False) -> "Filterbank":
        """Triangles evenly spaced in Hz (see :func:`functional.linear_filterbank`)."""
        weights = F.linear_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_bins=n_bins, f_min=f_min, f_max=f_max)
        return cls(weights, trainable=trainable)

    @classmethod
    def random(cls, *, n_fft: int, n_bins: int, seed: int = 0, trainable: bool = True) -> "Filterbank":
        """Random non-negative filters, a start for learning (trainable by default)."""
        return cls(F.random_filterbank(n_freq=n_fft // 2 + 1, n_bins=n_bins, seed=seed), trainable=trainable)

    def extra_repr(self) -> str:
        return f"n_freq={self.n_freq}, n_bins={self.n_bins}, trainable={self.trainable}"

    def _band_blocks(self) -> list[tuple[int, int, int, int]]:
        # Frozen banded weights project block by block (see blocksparse); trained ones stay dense.
        if self.trainable:
            return [(0, self.n_bins, 0, self.n_freq)]
        return band_blocks(self.fb.detach().cpu().numpy())

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._blocks = self._band_blocks()

    def input_spec(self) -> InputSpec:
        """A power/magnitude spectrogram ``(batch, [channels,] n_freq, frames)``."""
        return InputSpec(("bins", "frames"), sizes={"bins": self.n_freq}, values="nonnegative")

    def forward(self, specgram: torch.Tensor) -> torch.Tensor:
        check_features(specgram, n_freq=self.n_freq)
        return block_project(self.fb, to_compute_dtype(specgram, self), self._blocks)

    def frame_specs(self) -> list[FrameSpec]:
        """One frame-wise step: each frame's bins are weighted on their own."""
        return [pointwise(self.forward, "filterbank")]


class MelScale(Filterbank):
    """Mel filterbank over a spectrogram: ``(..., n_stft, frames) -> (..., n_mels, frames)``.

    Arguments and defaults follow ``torchaudio.transforms.MelScale``; weights equal
    ``librosa.filters.mel(sr=sample_rate, n_fft=2 * (n_stft - 1), n_mels=n_mels, fmin=f_min,
    fmax=f_max, htk=mel_scale == "htk", norm=norm)`` (even ``n_fft``; pass ``n_fft`` for an odd
    one). Warns when a filter is empty.

    Example::

        >>> MelScale(n_mels=64, sample_rate=16000, n_stft=201)(torch.rand(2, 201, 50)).shape
        torch.Size([2, 64, 50])
    """

    def __init__(self, n_mels: int = 128, sample_rate: int = 16000, f_min: float = 0.0, f_max: float | None = None,
                 n_stft: int | None = None, norm: str | None = None, mel_scale: str = "htk", *,
                 n_fft: int | None = None, trainable: bool = False):
        # n_stft=None means "not given": torchaudio's 201 when n_fft is not given either, else n_fft // 2 + 1.
        if n_fft is None:
            n_stft = 201 if n_stft is None else n_stft
            if isinstance(n_stft, bool) or not isinstance(n_stft, int) or n_stft < 2:
                raise ConfigError(f"n_stft must be an integer >= 2, got {n_stft!r}")
            n_fft = 2 * (n_stft - 1)
        elif n_stft is not None and n_fft // 2 + 1 != n_stft:
            raise ConfigError(f"n_stft ({n_stft}) disagrees with n_fft ({n_fft}): n_stft must be n_fft // 2 + 1")
        weights = F.mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, f_min=f_min, f_max=f_max,
                                   norm=norm, mel_scale=mel_scale)
        super().__init__(weights, trainable=trainable)
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.f_min = float(f_min)
        self.f_max = float(f_max) if f_max is not None else sample_rate / 2.0
        self.norm = norm
        self.mel_scale = mel_scale


class MelSpectrogram(nn.Module):
    """Mel spectrogram: ``Spectrogram`` then ``MelScale``. ``(..., time) -> (..., n_mels, frames)``.

    Arguments and defaults follow ``torchaudio.transforms.MelSpectrogram`` (``window`` is a name
    or tensor instead of ``window_fn``); numbers equal ``librosa.feature.melspectrogram`` with the
    same settings (``htk=mel_scale == "htk"``). ``trainable_stft`` / ``trainable_mel`` make the DFT
    kernels / mel weights Parameters.

    Example::

        >>> mel = MelSpectrogram(sample_rate=32000, n_fft=512, hop_length=256, n_mels=128)
        >>> mel(torch.randn(4, 32000)).shape
        torch.Size([4, 128, 126])
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int | None = None, f_min: float = 0.0, f_max: float | None = None, pad: int = 0,
                 n_mels: int = 128, window="hann", power: float = 2.0, normalized: bool = False,
                 center: bool = True, pad_mode: str = "reflect", norm: str | None = None, mel_scale: str = "htk", *,
                 trainable_stft: bool = False, trainable_mel: bool = False, algorithm: str = "auto"):
        super().__init__()
        if power is None:
            raise ConfigError("power must be a positive number for MelSpectrogram (a mel of complex values is undefined), got None")
        self.spectrogram = Spectrogram(n_fft=n_fft, win_length=win_length, hop_length=hop_length, pad=pad,
                                       window=window, power=power, normalized=normalized, center=center,
                                       pad_mode=pad_mode, trainable=trainable_stft, algorithm=algorithm)
        self.mel_scale = MelScale(n_mels=n_mels, sample_rate=sample_rate, f_min=f_min, f_max=f_max,
                                  n_stft=n_fft // 2 + 1, norm=norm, mel_scale=mel_scale, n_fft=n_fft,
                                  trainable=trainable_mel)
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.n_mels = n_mels
        self.hop_length = self.spectrogram.hop_length
        self.win_length = self.spectrogram.win_length
        self.power = self.spectrogram.power

    def frames(self, length: int) -> int:
        """Frames this module gives for ``length`` input samples."""
        return self.spectrogram.frames(length)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.mel_scale(self.spectrogram(waveform))

    def frame_specs(self) -> list[FrameSpec]:
        """The STFT's steps, then the filterbank's."""
        return self.spectrogram.frame_specs() + self.mel_scale.frame_specs()
