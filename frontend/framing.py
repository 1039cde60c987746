"""Framing of waveforms: ``Frame`` (overlapping frames) and ``Energy`` (energy per frame).

The ``tf.signal.frame`` contract (Kapre's ``Frame`` and ``Energy``): frames of ``frame_length``
samples every ``hop_length`` samples, no centring; ``pad_end=True`` pads the end with
``pad_value`` so that every sample starts within a frame (``ceil(time / hop_length)`` frames).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.inputs import check_waveform

__all__ = ["frame", "frame_energy", "Frame", "Energy"]


def _check(frame_length, hop_length) -> tuple[int, int]:
    for name, value in (("frame_length", frame_length), ("hop_length", hop_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return frame_length, hop_length


def _pad(x: torch.Tensor, frame_length: int, pad_end: bool, pad_value: float) -> torch.Tensor:
    # frame_length - 1 extra samples give exactly ceil(time / hop) whole frames (tf.signal.frame).
    return torch.nn.functional.pad(x, (0, frame_length - 1), value=float(pad_value)) if pad_end else x


def frame(x: torch.Tensor, *, frame_length: int, hop_length: int, pad_end: bool = False,
          pad_value: float = 0.0) -> torch.Tensor:
    """Overlapping frames: ``(..., time) -> (..., frames, frame_length)``, ``frames = 1 + (time - frame_length) // hop``.

    Equal to ``tf.signal.frame(x, frame_length, hop_length, pad_end, pad_value)``. Exports as a
    Gather over computed indices (no loop).

    Example::

        >>> frame(torch.arange(10.0), frame_length=4, hop_length=3).tolist()
        [[0.0, 1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0], [6.0, 7.0, 8.0, 9.0]]
    """
    frame_length, hop_length = _check(frame_length, hop_length)
    x = _pad(x, frame_length, pad_end, pad_value)
    n_frames = (x.shape[-1] - frame_length) // hop_length + 1
    starts = torch.arange(n_frames, device=x.device) * hop_length
    index = starts[:, None] + torch.arange(frame_length, device=x.device)[None, :]
    return x[..., index]


def frame_energy(x: torch.Tensor, *, frame_length: int, hop_length: int, pad_end: bool = False,
                 pad_value: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """``scale * sum(frame ** 2)`` per frame: ``(..., time) -> (..., frames)``.

    A strided convolution of ``x ** 2`` with ones, so nothing of size ``frames x frame_length``
    is built (and the graph is Pow/Conv/Mul).

    Example::

        >>> frame_energy(torch.ones(10), frame_length=4, hop_length=3).tolist()
        [4.0, 4.0, 4.0]
    """
    frame_length, hop_length = _check(frame_length, hop_length)
    x = _pad(x, frame_length, pad_end, pad_value)
    shape = x.shape
    flat = (x * x).reshape(-1, 1, shape[-1])
    ones = torch.ones(1, 1, frame_length, dtype=x.dtype, device=x.device)
    out = torch.nn.functional.conv1d(flat, ones, stride=hop_length) * scale
    return out.reshape(shape[:-1] + (out.shape[-1],))


class Frame(nn.Module):
    """Overlapping frames of a waveform: ``(..., time) -> (..., frames, frame_length)``.

    See :func:`frame` (``tf.signal.frame``'s numbers).

    Example::

        >>> Frame(frame_length=400, hop_length=160)(torch.randn(2, 16000)).shape
        torch.Size([2, 98, 400])
    """

    def __init__(self, frame_length: int, hop_length: int, pad_end: bool = False, pad_value: float = 0.0):
        super().__init__()
        self.frame_length, self.hop_length = _check(frame_length, hop_length)
        if not (isinstance(pad_value, (int, float)) and not isinstance(pad_value, bool) and math.isfinite(pad_value)):
            raise ConfigError(f"pad_value must be a finite number, got {pad_value!r}")
        self.pad_end, self.pad_value = bool(pad_end), float(pad_value)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, 1 if self.pad_end else self.frame_length)
        return frame(waveform, frame_length=self.frame_length, hop_length=self.hop_length, pad_end=self.pad_end,
                     pad_value=self.pad_value)


class Energy(nn.Module):
    """Energy per frame, scaled to a reference duration: ``(..., time) -> (..., frames)``.

    ``sum(frame ** 2) * ref_duration / (frame_length / sample_rate)``: the energy of a frame as if
    it lasted ``ref_duration`` seconds (Kapre's ``Energy``; its defaults: 22.05 kHz, 0.1 s,
    frames of 2205 samples every 1102).

    Example::

        >>> Energy()(torch.randn(2, 22050)).shape
        torch.Size([2, 19])
    """

    def __init__(self, sample_rate: float = 22050, ref_duration: float = 0.1, frame_length: int = 2205,
                 hop_length: int = 1102, pad_end: bool = False, pad_value: float = 0.0):
        super().__init__()
        self.frame_length, self.hop_length = _check(frame_length, hop_length)
        for name, value in (("sample_rate", sample_rate), ("ref_duration", ref_duration)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        self.sample_rate, self.ref_duration = float(sample_rate), float(ref_duration)
        self.pad_end, self.pad_value = bool(pad_end), float(pad_value)
        self.scale = self.ref_duration / (self.frame_length / self.sample_rate)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, 1 if self.pad_end else self.frame_length)
        return frame_energy(waveform, frame_length=self.frame_length, hop_length=self.hop_length,
                            pad_end=self.pad_end, pad_value=self.pad_value, scale=self.scale)
