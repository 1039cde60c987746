"""Cepstral and temporal features: ``MFCC`` and ``ComputeDeltas``."""

from __future__ import annotations

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend import functional as F
from audiofront.frontend.filterbanks import MelSpectrogram
from audiofront.frontend.framewise import FrameSpec, pointwise
from audiofront.frontend.inputs import InputSpec, check_features, to_compute_dtype
from audiofront.frontend.scaling import AmplitudeToDB

__all__ = ["MFCC", "ComputeDeltas", "LogMelToMFCC"]


class MFCC(nn.Module):
    """Mel-frequency cepstral coefficients: ``(..., time) -> (..., n_mfcc, frames)``.

    A :class:`MelSpectrogram` (``melkwargs``), then dB (``top_db=80``, or ``log(mel + 1e-6)``
    with ``log_mels=True``), then an orthonormal DCT-II. Arguments and defaults follow
    ``torchaudio.transforms.MFCC``; numbers equal ``librosa.feature.mfcc(S=power_to_db(mel),
    n_mfcc=n_mfcc, dct_type=2, norm="ortho")``. Keyword-only ``top_db`` sets the dB floor below each
    item's peak (torchaudio fixes 80); ``norm="htk"`` is TF's / HTK's DCT scaling (see
    :func:`functional.create_dct`).

    Example::

        >>> mfcc = MFCC(sample_rate=16000, n_mfcc=13, melkwargs={"n_fft": 512, "n_mels": 40})
        >>> mfcc(torch.randn(2, 16000)).shape
        torch.Size([2, 13, 63])
    """

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 40, dct_type: int = 2, norm: str | None = "ortho",
                 log_mels: bool = False, melkwargs: dict | None = None, *, top_db: float | None = 80.0):
        super().__init__()
        if dct_type != 2:
            raise ConfigError(f"dct_type must be 2 (DCT-II), got {dct_type!r}")
        melkwargs = dict(melkwargs or {})
        if "sample_rate" in melkwargs:
            raise ConfigError("pass sample_rate to MFCC itself, not inside melkwargs")
        self.mel_spectrogram = MelSpectrogram(sample_rate=sample_rate, **melkwargs)
        n_mels = self.mel_spectrogram.n_mels
        self.n_mfcc = n_mfcc
        self.log_mels = bool(log_mels)
        self.amplitude_to_db = AmplitudeToDB("power", top_db=top_db)
        self.register_buffer("dct_mat", torch.from_numpy(F.create_dct(n_mfcc, n_mels, norm)).float())
        self.sample_rate = sample_rate

    def frames(self, length: int) -> int:
        return self.mel_spectrogram.frames(length)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self.mel_spectrogram(waveform)
        return self._cepstrum(torch.log(mel + 1e-6) if self.log_mels else self.amplitude_to_db(mel))

    def _cepstrum(self, logmel: torch.Tensor) -> torch.Tensor:
        return torch.matmul(logmel.transpose(-1, -2), self.dct_mat).transpose(-1, -2)

    def _log(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.log(mel + 1e-6)

    def frame_specs(self) -> list[FrameSpec]:
        """The mel spectrogram's steps, the log, the DCT. Only with ``log_mels=True``: the default dB step
        clips at ``top_db=80`` below the whole item's peak (torchaudio's MFCC), which a stream cannot know."""
        if not self.log_mels:
            raise ConfigError(
                "MFCC(log_mels=False) cannot be streamed: its dB step clips top_db=80 dB below the peak of the whole "
                "item (as torchaudio's MFCC does), unknown until the stream ends. Use MFCC(log_mels=True) "
                "(log(mel + 1e-6), frame by frame) for streaming"
            )
        return self.mel_spectrogram.frame_specs() + [pointwise(self._log, "log"), pointwise(self._cepstrum, "dct")]


class ComputeDeltas(nn.Module):
    """Local slope along frames over ``win_length`` frames: ``(..., freq, frames)`` in and out.

    Edges repeat the first/last frame; numbers equal ``librosa.feature.delta(x,
    width=win_length, order=1, mode="nearest")``. Default ``win_length=5`` as torchaudio.
    ``mode`` may also be ``"symmetric"`` (Kapre's ``Delta`` default), ``"reflect"`` or
    ``"constant"`` (zeros), as ``numpy.pad`` names them (see :func:`functional.compute_deltas`).

    Example::

        >>> ComputeDeltas()(torch.randn(2, 40, 100)).shape
        torch.Size([2, 40, 100])
    """

    def __init__(self, win_length: int = 5, mode: str = "replicate"):
        super().__init__()
        if mode not in F.DELTA_PAD_MODES:
            raise ConfigError(f"mode must be one of {F.DELTA_PAD_MODES}, got {mode!r}")
        self.win_length = win_length
        self.mode = mode
        self.register_buffer("kernel", torch.from_numpy(F.delta_kernel(win_length)).float())

    def input_spec(self) -> InputSpec:
        # numpy's symmetric/reflect padding needs half a window of frames (one more for reflect).
        least = self.win_length // 2 + (self.mode == "reflect") if self.mode in ("symmetric", "reflect") else 1
        return InputSpec(("bins", "frames"), min_length=max(1, least), values="real")

    def forward(self, specgram: torch.Tensor) -> torch.Tensor:
        check_features(specgram, min_ndim=1)
        half = self.win_length // 2
        if self.mode in ("symmetric", "reflect") and specgram.shape[-1] < half + (self.mode == "reflect"):
            raise InputError(
                f"specgram has {specgram.shape[-1]} frames; mode={self.mode!r} with win_length={self.win_length} "
                f"needs at least {half + (self.mode == 'reflect')}"
            )
        return F.compute_deltas(to_compute_dtype(specgram, self), self.kernel, self.mode)

    def frame_specs(self) -> list[FrameSpec]:
        """One step over ``win_length`` frames, edges repeated: a look-ahead of ``win_length // 2`` frames."""
        if self.mode not in ("replicate", "reflect", "constant"):
            raise ConfigError(f"ComputeDeltas(mode={self.mode!r}) does not stream: streaming pads edges as "
                              "'replicate', 'reflect' or 'constant'")
        half = self.win_length // 2
        return [FrameSpec(compute=self._valid, window=self.win_length, pad_left=half, pad_right=half,
                          left_mode=self.mode, right_mode=self.mode, name="deltas")]

    def _valid(self, specgram: torch.Tensor) -> torch.Tensor:
        """Deltas of input that already carries its edge frames: ``(..., frames + 2 * half) -> (..., frames)``."""
        x = to_compute_dtype(specgram, self)
        out = torch.nn.functional.conv1d(x.reshape(-1, 1, x.shape[-1]), self.kernel.reshape(1, 1, -1))
        return out.reshape(x.shape[:-1] + (out.shape[-1],))


class LogMelToMFCC(nn.Module):
    """MFCCs from a log-mel spectrogram: ``(..., n_mels, frames) -> (..., n_mfcc, frames)``.

    The first ``n_mfcc`` coefficients of a DCT-II over the mel axis. ``norm="htk"`` (default)
    scales every coefficient by ``sqrt(2 / n_mels)``, which is
    ``tf.signal.mfccs_from_log_mel_spectrograms`` (Kapre's ``LogmelToMFCC``); ``"ortho"`` is
    librosa's / torchaudio's. ``n_mels`` fixes the DCT matrix.

    Example::

        >>> LogMelToMFCC(n_mfcc=13, n_mels=40)(torch.randn(2, 40, 100)).shape
        torch.Size([2, 13, 100])
    """

    def __init__(self, n_mfcc: int = 20, n_mels: int = 128, norm: str | None = "htk"):
        super().__init__()
        self.n_mfcc, self.n_mels, self.norm = n_mfcc, n_mels, norm
        self.register_buffer("dct_mat", torch.from_numpy(F.create_dct(n_mfcc, n_mels, norm)).float())

    def input_spec(self) -> InputSpec:
        return InputSpec(("bins", "frames"), sizes={"bins": self.n_mels}, values="real")

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        check_features(log_mel, n_freq=self.n_mels)
        x = to_compute_dtype(log_mel, self)
        return torch.matmul(x.transpose(-1, -2), self.dct_mat).transpose(-1, -2)
