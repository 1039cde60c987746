"""Utterance-level modules of shipped front-ends: clamps, affine scaling, normalisation, stacking, fixed lengths, layout.

Thin modules over :mod:`audiofront.frontend.utterance_functional`; each item is processed on its
own (no batch statistics) and every module exports to ONNX with a dynamic length.
"""

from __future__ import annotations

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend import utterance_functional as UF

__all__ = [
    "DynamicRangeClamp",
    "Affine",
    "UtteranceCMVN",
    "ZeroMeanUnitVariance",
    "StackFrames",
    "DropLastFrame",
    "PadTrim",
    "RepeatPad",
    "TimeFirst",
]


class DynamicRangeClamp(nn.Module):
    """``max(x, item peak - dynamic_range)``: ``(..., bins, frames)`` in and out (Whisper: 8.0 on log10 power).

    Example::

        >>> DynamicRangeClamp(8.0)(torch.tensor([[[0.0, -20.0]]])).tolist()
        [[[0.0, -8.0]]]
    """

    def __init__(self, dynamic_range: float = 8.0):
        super().__init__()
        UF.dynamic_range_clamp(torch.zeros(1, 1), dynamic_range)  # validates
        self.dynamic_range = float(dynamic_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return UF.dynamic_range_clamp(x, self.dynamic_range)


class Affine(nn.Module):
    """``x * scale + bias`` with constants: any shape (Whisper's ``(x + 4) / 4``, AST's ``(x - mean) / (2 std)``).

    Example::

        >>> Affine(scale=0.25, bias=1.0)(torch.tensor([-4.0, 0.0])).tolist()
        [0.0, 1.0]
    """

    def __init__(self, scale: float = 1.0, bias: float = 0.0):
        super().__init__()
        self.scale = UF._number("scale", scale)
        self.bias = UF._number("bias", bias)

    def extra_repr(self) -> str:
        return f"scale={self.scale!r}, bias={self.bias!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


class UtteranceCMVN(nn.Module):
    """Per-utterance mean/variance normalisation of each bin over its frames: ``(..., bins, frames)`` in and out.

    ``ddof`` 0 or 1; ``eps_mode="floor"`` (``max(var, eps)``, Speech2Text) or ``"add"``
    (``var + eps``, SeamlessM4T). See :func:`~audiofront.frontend.utterance_functional.utterance_cmvn`.

    Example::

        >>> y = UtteranceCMVN()(torch.randn(2, 80, 50) * 3 + 1)
        >>> bool(y.mean(-1).abs().max() < 1e-5), bool((y.std(-1, unbiased=False) - 1).abs().max() < 1e-4)
        (True, True)
    """

    def __init__(self, *, norm_means: bool = True, norm_vars: bool = True, ddof: int = 0, eps: float = 1e-10,
                 eps_mode: str = "floor"):
        super().__init__()
        UF.utterance_cmvn(torch.zeros(1, 2), ddof=ddof, eps=eps, eps_mode=eps_mode)  # validates
        self.norm_means, self.norm_vars = bool(norm_means), bool(norm_vars)
        self.ddof, self.eps, self.eps_mode = ddof, float(eps), eps_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return UF.utterance_cmvn(x, dim=-1, norm_means=self.norm_means, norm_vars=self.norm_vars, ddof=self.ddof,
                                 eps=self.eps, eps_mode=self.eps_mode)


class ZeroMeanUnitVariance(nn.Module):
    """Waveform normalisation ``(x - mean) / sqrt(var + eps)`` per item: ``(..., time)`` in and out (Wav2Vec2).

    Example::

        >>> y = ZeroMeanUnitVariance()(torch.randn(3, 16000) * 0.1 + 0.5)
        >>> bool(y.mean(-1).abs().max() < 1e-5)
        True
    """

    def __init__(self, eps: float = 1e-7):
        super().__init__()
        self.eps = UF._number("eps", eps)
        if self.eps < 0:
            raise ConfigError(f"eps must be >= 0, got {eps!r}")

    @property
    def min_length(self) -> int:
        return 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return UF.zero_mean_unit_var(waveform, self.eps)


class StackFrames(nn.Module):
    """Stack ``stride`` consecutive frames: ``(..., bins, frames) -> (..., bins * stride, ceil(frames / stride))`` (SeamlessM4T).

    Example::

        >>> StackFrames(2)(torch.randn(1, 80, 99)).shape
        torch.Size([1, 160, 50])
    """

    def __init__(self, stride: int = 2):
        super().__init__()
        self.stride = UF._count("stride", stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return UF.stack_frames(x, self.stride)


class DropLastFrame(nn.Module):
    """Drop the last frame: ``(..., bins, frames) -> (..., bins, frames - 1)`` (Whisper's ``stft[..., :-1]``).

    Example::

        >>> DropLastFrame()(torch.randn(2, 80, 101)).shape
        torch.Size([2, 80, 100])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1]


class PadTrim(nn.Module):
    """Pad with ``value`` at the end or cut to ``length`` along ``dim``: samples ``(..., time)`` or frames ``(..., bins, frames)``.

    Example::

        >>> PadTrim(480000)(torch.randn(2, 16000)).shape, PadTrim(3000)(torch.randn(2, 80, 4000)).shape
        (torch.Size([2, 480000]), torch.Size([2, 80, 3000]))
    """

    def __init__(self, length: int, *, dim: int = -1, value: float = 0.0):
        super().__init__()
        self.length = UF._count("length", length)
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ConfigError(f"dim must be an integer, got {dim!r}")
        self.dim = dim
        self.value = UF._number("value", value)

    @property
    def min_length(self) -> int:
        return 1

    def extra_repr(self) -> str:
        return f"length={self.length}, dim={self.dim}, value={self.value}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return UF.pad_or_trim(x, self.length, dim=self.dim, value=self.value)


class RepeatPad(nn.Module):
    """CLAP's ``repeatpad`` to ``length`` samples: ``(..., time) -> (..., length)``.

    Example::

        >>> RepeatPad(7)(torch.tensor([1.0, 2.0, 3.0])).tolist()
        [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 0.0]
    """

    def __init__(self, length: int):
        super().__init__()
        self.length = UF._count("length", length)

    @property
    def min_length(self) -> int:
        return 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return UF.repeat_pad(waveform, self.length)


class TimeFirst(nn.Module):
    """``(..., bins, frames) -> (..., frames, bins)``, with ``channel=True`` a channel axis: ``(batch, 1, frames, bins)``.

    The layout most reference extractors hand their models (Kaldi-style features are frames x bins).

    Example::

        >>> TimeFirst(channel=True)(torch.randn(2, 64, 101)).shape
        torch.Size([2, 1, 101, 64])
    """

    def __init__(self, *, channel: bool = False):
        super().__init__()
        self.channel = bool(channel)

    def frame_specs(self):
        """Streaming: each frame on its own; frames move from the last axis to the one before."""
        from audiofront.frontend.framewise import FrameSpec

        return [FrameSpec(compute=self.forward, time_axis=-1, output_time_axis=-2, name="time-first")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.transpose(-1, -2)
        return y.unsqueeze(-3) if self.channel else y
