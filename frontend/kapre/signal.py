"""Kapre's signal layers as torch modules: ``Frame``, ``Energy``, ``MuLawEncoding``, ``MuLawDecoding``, ``LogmelToMFCC``.

Kapre 0.4.1's names, defaults and data formats (``kapre/signal.py``); the math is audiofront's
(:mod:`~audiofront.frontend.framing`, :mod:`~audiofront.frontend.companding`,
:func:`~audiofront.frontend.functional.create_dct` with ``norm="htk"``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.companding import MuLawDecoding as _MuLawDecoding
from audiofront.frontend.companding import MuLawEncoding as _MuLawEncoding
from audiofront.frontend.framing import Energy as _Energy
from audiofront.frontend.framing import Frame as _Frame
from audiofront.frontend.kapre.backend import CH_LAST, resolve_data_format
from audiofront.frontend.kapre.layers import _check_rank

__all__ = ["Frame", "Energy", "MuLawEncoding", "MuLawDecoding", "LogmelToMFCC"]


class Frame(nn.Module):
    """Kapre's ``Frame`` (``tf.signal.frame`` over time): ``(batch, time, ch) -> (batch, frames, frame_length, ch)``.

    ``data_format='channels_first'``: ``(batch, ch, time) -> (batch, ch, frames, frame_length)``.
    ``frames = 1 + (time - frame_length) // hop_length``, or ``ceil(time / hop_length)`` with
    ``pad_end`` (padding with ``pad_value``).

    Example::

        >>> Frame(frame_length=400, hop_length=160)(torch.randn(2, 16000, 1)).shape
        torch.Size([2, 98, 400, 1])
    """

    def __init__(self, frame_length: int, hop_length: int, pad_end: bool = False, pad_value: float = 0,
                 data_format: str = "default"):
        super().__init__()
        if isinstance(frame_length, int) and isinstance(hop_length, int) and frame_length < hop_length:
            raise ConfigError(f"frame_length ({frame_length}) must be >= hop_length ({hop_length}), as in Kapre")
        self.framer = _Frame(frame_length, hop_length, pad_end, float(pad_value))
        self.frame_length, self.hop_length, self.pad_end, self.pad_value = frame_length, hop_length, pad_end, pad_value
        self.data_format = resolve_data_format(data_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x, 3, "(batch, time, ch) or (batch, ch, time)")
        if self.data_format == CH_LAST:
            return self.framer(x.transpose(1, 2)).permute(0, 2, 3, 1)
        return self.framer(x)


class Energy(nn.Module):
    """Kapre's ``Energy``: energy per frame scaled to ``ref_duration``: ``(batch, time, ch) -> (batch, frames, ch)``.

    ``data_format='channels_first'``: ``(batch, ch, time) -> (batch, ch, frames)``. See
    :class:`audiofront.frontend.framing.Energy`.

    Example::

        >>> Energy()(torch.randn(2, 22050, 1)).shape
        torch.Size([2, 19, 1])
    """

    def __init__(self, sample_rate: int = 22050, ref_duration: float = 0.1, frame_length: int = 2205,
                 hop_length: int = 1102, pad_end: bool = False, pad_value: float = 0, data_format: str = "default"):
        super().__init__()
        self.energy = _Energy(sample_rate, ref_duration, frame_length, hop_length, pad_end, float(pad_value))
        self.data_format = resolve_data_format(data_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x, 3, "(batch, time, ch) or (batch, ch, time)")
        if self.data_format == CH_LAST:
            return self.energy(x.transpose(1, 2)).transpose(1, 2)
        return self.energy(x)


class MuLawEncoding(_MuLawEncoding):
    """Kapre's ``MuLawEncoding``: float ``(...)`` in ``[-1, 1]`` -> int32 codes ``0..quantization_channels - 1``.

    Example::

        >>> MuLawEncoding(256)(torch.tensor([[[-1.0], [0.0], [1.0]]])).flatten().tolist()
        [0, 128, 255]
    """

    def __init__(self, quantization_channels: int):
        super().__init__(quantization_channels)


class MuLawDecoding(_MuLawDecoding):
    """Kapre's ``MuLawDecoding``: codes ``(...)`` -> float32 ``(...)`` in ``[-1, 1]``.

    Example::

        >>> MuLawDecoding(256)(torch.tensor([0, 255])).tolist()
        [-1.0, 1.0]
    """

    def __init__(self, quantization_channels: int):
        super().__init__(quantization_channels)


class LogmelToMFCC(nn.Module):
    """Kapre's ``LogmelToMFCC`` (``tf.signal.mfccs_from_log_mel_spectrograms``): ``(batch, frames, mels, ch) -> (batch, frames, n_mfccs, ch)``.

    A DCT-II over the mel axis scaled by ``sqrt(2 / n_mels)`` for every coefficient (HTK's and TF's
    scaling; librosa's orthonormal DCT has ``c0`` ``sqrt(2)`` smaller), the first ``n_mfccs`` kept.
    The DCT matrix is built in the graph from the input's mel count, with exact integer phases.
    ``data_format='channels_first'``: ``(batch, ch, frames, mels)``.

    Example::

        >>> LogmelToMFCC(n_mfccs=20)(torch.randn(2, 61, 64, 1)).shape
        torch.Size([2, 61, 20, 1])
    """

    def __init__(self, n_mfccs: int = 20, data_format: str = "default"):
        super().__init__()
        if isinstance(n_mfccs, bool) or not isinstance(n_mfccs, int) or n_mfccs < 1:
            raise ConfigError(f"n_mfccs must be a positive integer, got {n_mfccs!r}")
        self.n_mfccs = n_mfccs
        self.data_format = resolve_data_format(data_format)

    def _dct(self, n_mels: int, like: torch.Tensor) -> torch.Tensor:
        """``(n_mels, k)`` with ``k = min(n_mfccs, n_mels)`` as TF slices: ``2 cos(pi k (2n + 1) / 2N) / sqrt(2N)``."""
        n = torch.arange(n_mels, device=like.device)
        k = torch.arange(min(self.n_mfccs, n_mels), device=like.device)
        # The phase k (2n + 1) modulo 4N in integers: cos of a small exact angle stays exact in float32.
        phase = (k[None, :] * (2 * n[:, None] + 1)) % (4 * n_mels)
        angle = phase.to(like.dtype) * (math.pi / 2.0) / n_mels
        return torch.cos(angle) * (2.0 / torch.sqrt(torch.tensor(2.0 * n_mels, dtype=like.dtype, device=like.device)))

    def forward(self, log_melgrams: torch.Tensor) -> torch.Tensor:
        _check_rank(log_melgrams, 4, "(batch, frames, mels, ch) or (batch, ch, frames, mels)")
        if self.data_format == CH_LAST:
            x = log_melgrams.transpose(2, 3)  # (batch, frames, ch, mels)
            return torch.matmul(x, self._dct(x.shape[-1], x)).transpose(2, 3)
        return torch.matmul(log_melgrams, self._dct(log_melgrams.shape[-1], log_melgrams))
