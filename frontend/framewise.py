"""The frame-wise protocol: how a module says which input steps each of its output frames reads.

A module can be streamed (see :mod:`audiofront.frontend.streaming`) when its output frame ``t``
depends only on a window of its input, the same rule for every frame. It says so with a method
``frame_specs() -> list[FrameSpec]``: one :class:`FrameSpec` per step, in order, whose
composition equals the module (``MelSpectrogram`` gives its STFT step then its filterbank step).
A module that cannot stream (it needs the whole utterance: per-utterance normalisation, ``top_db``
clipped below the item's peak) raises :class:`~audiofront.errors.ConfigError` from
``frame_specs`` saying why. A new module opts in by defining ``frame_specs``; nothing here lists
classes.

Offline, a step pads its input ``x`` (``E`` steps along ``time_axis``) with ``pad_left`` /
``pad_right`` steps (``left_mode`` / ``right_mode``: ``"constant"`` zeros, ``"reflect"`` without
repeating the edge, ``"replicate"`` the edge step), then output frame ``t`` is
``compute(padded[t * hop : t * hop + window])``: ``1 + (E + pad_left + pad_right - window) // hop``
frames (none when that is below 1).

Example::

    >>> from audiofront.frontend import MelSpectrogram
    >>> [(s.name, s.window, s.hop, s.pad_left) for s in frame_specs_of(MelSpectrogram(n_fft=400, hop_length=160))]
    [('stft', 400, 160, 200), ('filterbank', 1, 1, 0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from audiofront.errors import ConfigError

__all__ = ["FrameSpec", "PAD_MODES", "frame_specs_of", "pointwise", "identity"]

PAD_MODES = ("constant", "reflect", "replicate")


def identity(x: torch.Tensor) -> torch.Tensor:
    """The computation of a step that only pads (e.g. ``Spectrogram(pad=...)``'s zero padding)."""
    return x


@dataclass(frozen=True)
class FrameSpec:
    """One frame-wise step: ``window`` input steps per output frame, ``hop`` steps apart, edge padding.

    ``compute`` maps already-padded input ``(batch, ..., steps)`` (time at ``time_axis``) to
    ``(batch, ..., frames)`` (time at ``output_time_axis``) with no padding of its own: ``steps``
    is ``window + (frames - 1) * hop``. ``name`` appears in error messages and metadata.
    """

    compute: Callable[[torch.Tensor], torch.Tensor]
    window: int = 1
    hop: int = 1
    pad_left: int = 0
    pad_right: int = 0
    left_mode: str = "constant"
    right_mode: str = "constant"
    time_axis: int = -1
    output_time_axis: int = -1
    name: str = "step"

    def __post_init__(self):
        for field in ("window", "hop"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"FrameSpec {self.name!r}: {field} must be an integer >= 1, got {value!r}")
        for field in ("pad_left", "pad_right"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"FrameSpec {self.name!r}: {field} must be an integer >= 0, got {value!r}")
        for field in ("left_mode", "right_mode"):
            if getattr(self, field) not in PAD_MODES:
                raise ConfigError(f"FrameSpec {self.name!r}: {field} must be one of {PAD_MODES}, got {getattr(self, field)!r}")
        for field in ("time_axis", "output_time_axis"):
            if getattr(self, field) >= 0:
                raise ConfigError(f"FrameSpec {self.name!r}: {field} must count from the end (-1, -2...), got {getattr(self, field)}")

    @property
    def lookahead(self) -> int:
        """Input steps after a frame's first unpadded step that the frame reads: ``window - 1 - pad_left``."""
        return self.window - 1 - self.pad_left

    def frames(self, steps: int) -> int:
        """Output frames for ``steps`` input steps (offline, with the padding)."""
        return max(0, 1 + (steps + self.pad_left + self.pad_right - self.window) // self.hop)


def pointwise(compute: Callable[[torch.Tensor], torch.Tensor], name: str, *, time_axis: int = -1) -> FrameSpec:
    """A step that maps each frame on its own (filterbank, dB without ``top_db``, DCT...)."""
    return FrameSpec(compute=compute, name=name, time_axis=time_axis, output_time_axis=time_axis)


def frame_specs_of(module: nn.Module) -> list[FrameSpec]:
    """The steps of ``module``: its own ``frame_specs()``, the children of an ``nn.Sequential`` in
    order, nothing for ``nn.Identity``. Raises :class:`ConfigError` naming the module that cannot stream."""
    own = getattr(module, "frame_specs", None)
    if callable(own):
        specs = list(own())
    elif isinstance(module, nn.Sequential):
        specs = [spec for child in module for spec in frame_specs_of(child)]
    elif isinstance(module, nn.Identity):
        specs = []
    else:
        raise ConfigError(
            f"{type(module).__name__} does not declare frame-wise behaviour (no frame_specs() method), so it "
            "cannot be streamed; streamable modules say which input steps each output frame reads "
            "(see audiofront.frontend.framewise)"
        )
    for spec in specs:
        if not isinstance(spec, FrameSpec):
            raise ConfigError(f"{type(module).__name__}.frame_specs() must return FrameSpec objects, got {type(spec).__name__}")
    return specs
