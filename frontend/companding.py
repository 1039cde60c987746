"""Mu-law companding (ITU-T G.711's continuous form, as WaveNet quantises audio): ``MuLawEncoding``, ``MuLawDecoding``.

Numbers follow ``kapre.backend.mu_law_encoding / mu_law_decoding`` (and torchaudio's functions of
the same names): ``mu = quantization_channels - 1``; encoding maps ``[-1, 1]`` to integers
``0..mu`` by ``trunc((sign(x) log1p(mu |x|) / log1p(mu) + 1) / 2 * mu + 0.5)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.inputs import is_tracing

__all__ = ["mu_law_encoding", "mu_law_decoding", "MuLawEncoding", "MuLawDecoding"]


def _mu(quantization_channels) -> float:
    if isinstance(quantization_channels, bool) or not isinstance(quantization_channels, int) \
            or not 2 <= quantization_channels <= 65536:
        raise ConfigError(f"quantization_channels must be an integer in [2, 65536], got {quantization_channels!r}")
    return quantization_channels - 1.0


def mu_law_encoding(x: torch.Tensor, quantization_channels: int) -> torch.Tensor:
    """Float audio in ``[-1, 1]`` to int32 codes ``0..quantization_channels - 1``: same shape.

    The cast truncates toward zero, as TF's and ONNX's Cast do.

    Example::

        >>> mu_law_encoding(torch.tensor([-1.0, 0.0, 1.0]), 256).tolist()
        [0, 128, 255]
    """
    mu = _mu(quantization_channels)
    y = torch.sign(x) * torch.log1p(mu * torch.abs(x)) / math.log1p(mu)
    return ((y + 1.0) / 2.0 * mu + 0.5).to(torch.int32)


def mu_law_decoding(codes: torch.Tensor, quantization_channels: int) -> torch.Tensor:
    """Codes ``0..quantization_channels - 1`` (any dtype) to float32 audio in ``[-1, 1]``: same shape.

    Example::

        >>> mu_law_decoding(torch.tensor([0, 255]), 256).tolist()
        [-1.0, 1.0]
    """
    mu = _mu(quantization_channels)
    s = codes.to(torch.float32) / mu * 2.0 - 1.0
    return torch.sign(s) * (torch.exp(torch.abs(s) * math.log1p(mu)) - 1.0) / mu


class MuLawEncoding(nn.Module):
    """Mu-law encode: float ``(...)`` in ``[-1, 1]`` -> int32 ``(...)`` in ``0..quantization_channels - 1``.

    Example::

        >>> MuLawEncoding(256)(torch.zeros(2, 100)).unique().tolist()
        [128]
    """

    def __init__(self, quantization_channels: int = 256):
        super().__init__()
        _mu(quantization_channels)
        self.quantization_channels = quantization_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not is_tracing() and not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            raise InputError(f"x must be a float tensor of audio in [-1, 1], got {getattr(x, 'dtype', type(x).__name__)}")
        return mu_law_encoding(x, self.quantization_channels)


class MuLawDecoding(nn.Module):
    """Mu-law decode: codes ``(...)`` -> float32 ``(...)`` in ``[-1, 1]``.

    Example::

        >>> dec = MuLawDecoding(256)
        >>> bool((dec(MuLawEncoding(256)(torch.tensor([0.5]))) - 0.5).abs() < 0.02)
        True
    """

    def __init__(self, quantization_channels: int = 256):
        super().__init__()
        _mu(quantization_channels)
        self.quantization_channels = quantization_channels

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if not is_tracing() and not isinstance(codes, torch.Tensor):
            raise InputError(f"codes must be a tensor, got {type(codes).__name__}")
        return mu_law_decoding(codes, self.quantization_channels)
