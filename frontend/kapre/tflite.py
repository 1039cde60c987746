"""Kapre's TFLite-style layers: ``STFTTflite``, ``MagnitudeTflite``, ``PhaseTflite``.

Kapre's versions compute the DFT as a matrix product and return ``[real, imag]`` in a last dim
of size 2, because TFLite has no complex type; audiofront's STFT already works that way, so these
are :class:`~audiofront.frontend.kapre.layers.STFT` and friends with Kapre's TFLite layouts. They
take any batch and length (Kapre's ``STFTTflite`` needs a fixed length and batch 1).
"""

from __future__ import annotations

import torch

from audiofront.errors import InputError
from audiofront.frontend.inputs import is_tracing
from audiofront.frontend.kapre.layers import STFT, Magnitude, Phase

__all__ = ["STFTTflite", "MagnitudeTflite", "PhaseTflite"]


class STFTTflite(STFT):
    """Kapre's ``STFTTflite``: like :class:`STFT` (same arguments), always ``[real, imag]`` pairs.

    Shapes: ``(batch, time, ch) -> (batch, frames, freq, ch, 2)`` (channels_last) or
    ``(batch, ch, frames, freq, 2)``.

    Example::

        >>> STFTTflite(n_fft=512, hop_length=256)(torch.randn(1, 4000, 1)).shape
        torch.Size([1, 14, 257, 1, 2])
    """

    def __init__(self, *args, **kwargs):
        kwargs.pop("return_complex", None)
        super().__init__(*args, **kwargs)


def _check_pairs(x) -> None:
    if not is_tracing() and (not isinstance(x, torch.Tensor) or x.is_complex() or x.shape[-1] != 2):
        raise InputError(f"input must be a real tensor (..., 2) of [real, imag], got {getattr(x, 'shape', type(x).__name__)}")


class MagnitudeTflite(Magnitude):
    """Kapre's ``MagnitudeTflite``: the Euclidean norm over the last dim, ``(..., 2) -> (...)``.

    Example::

        >>> MagnitudeTflite()(torch.tensor([[3.0, 4.0]])).tolist()
        [5.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_pairs(x)
        return super().forward(x)


class PhaseTflite(Phase):
    """Kapre's ``PhaseTflite``: ``atan2(imag, real)`` by the ``approx_atan_accuracy``-term continued fraction.

    ``(..., 2) -> (...)``. ``approx_atan_accuracy=None`` (Kapre 0.4.1 fails with it) gives the
    exact ``atan2`` here.

    Example::

        >>> PhaseTflite(approx_atan_accuracy=50)(torch.tensor([[0.0, 1.0]])).tolist()  # Kapre's pi at x == 0
        [3.1415927410125732]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_pairs(x)
        return super().forward(x)
