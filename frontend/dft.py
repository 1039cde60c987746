"""How the framed DFT of the STFT is computed: one replaceable piece behind ``Spectrogram``.

An algorithm is an ``nn.Module`` built from ``(n_fft, hop_length, window)`` that maps padded
audio ``(N, 1, time)`` to ``(N, 2 * n_freq, frames)``: the real parts of bins ``0..n_freq-1``
then their imaginary parts. Built in: ``"direct"`` (one conv, the reference), ``"factored"``
(phases + combine, about 5x fewer multiply-adds, see :mod:`audiofront.frontend.factored`) and
``"auto"`` (``torch.stft`` in eager mode, ``"factored"`` when exported). New algorithms register with :func:`register_dft_algorithm` and
must give the same numbers as :class:`DirectDFT`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.functional import dft_kernels

__all__ = ["DirectDFT", "DFT_ALGORITHMS", "register_dft_algorithm", "make_dft"]


class DirectDFT(nn.Module):
    """The DFT as one strided ``conv1d`` whose kernels are windowed cosines and sines.

    ``frames x (2 * n_freq) x n_fft`` multiply-adds; the only algorithm whose kernels can be
    trained (``trainable=True`` makes them a Parameter, initialised to the exact DFT).
    Shapes: padded audio ``(N, 1, time) -> (N, 2 * n_freq, frames)``.

    Example::

        >>> from audiofront.frontend.functional import get_window
        >>> DirectDFT(64, 16, get_window("hann", 64))(torch.randn(2, 1, 1000)).shape
        torch.Size([2, 66, 59])
    """

    def __init__(self, n_fft: int, hop_length: int, window: np.ndarray, *, trainable: bool = False):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_freq = n_fft // 2 + 1
        real, imag = dft_kernels(n_fft, window)
        kernel = torch.from_numpy(np.concatenate([real, imag])[:, None, :]).float()
        if trainable:
            self.kernel = nn.Parameter(kernel)
        else:
            self.register_buffer("kernel", kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv1d(x, self.kernel, stride=self.hop_length)


DFT_ALGORITHMS: dict[str, Callable[..., nn.Module]] = {"direct": DirectDFT}


def register_dft_algorithm(name: str, factory: Callable[..., nn.Module]) -> None:
    """Make ``Spectrogram(algorithm=name)`` build ``factory(n_fft, hop_length, window)``."""
    DFT_ALGORITHMS[name] = factory


def _factored(n_fft: int, hop_length: int, window: np.ndarray) -> nn.Module:
    # Imported here: factored.py builds on DirectDFT, so it cannot be imported above.
    from audiofront.frontend.factored import make_factored_dft

    return make_factored_dft(n_fft, hop_length, window)


def _auto(n_fft: int, hop_length: int, window: np.ndarray) -> nn.Module:
    from audiofront.frontend.factored import AutoDFT

    return AutoDFT(n_fft, hop_length, window)


def _auto_direct(n_fft: int, hop_length: int, window: np.ndarray) -> nn.Module:
    from audiofront.frontend.factored import AutoDFT

    return AutoDFT(n_fft, hop_length, window, graph="direct")


register_dft_algorithm("factored", _factored)
register_dft_algorithm("auto", _auto)
register_dft_algorithm("auto-direct", _auto_direct)


def make_dft(algorithm: str, n_fft: int, hop_length: int, window: np.ndarray, *, trainable: bool) -> nn.Module:
    """Build the DFT module for ``algorithm``: ``"direct"``, ``"factored"``, ``"auto"`` or a registered name.

    ``"factored"`` (:class:`~audiofront.frontend.factored.FactoredDFT`) falls back to ``"direct"``
    where ``n_fft`` and ``hop_length`` do not split into 8 or 16 phases. ``"auto"``
    (:class:`~audiofront.frontend.factored.AutoDFT`) is ``torch.stft`` in eager mode and
    ``"factored"`` when exported; with ``trainable=True`` it is ``"direct"``. ``"auto-direct"``
    is ``torch.stft`` in eager mode and ``"direct"`` when exported: slower, and more precise far
    below a strong tone (the ``clap`` preset uses it).
    """
    if algorithm not in DFT_ALGORITHMS:
        raise ConfigError(f"algorithm must be one of {sorted(DFT_ALGORITHMS)}, got {algorithm!r}")
    if trainable and algorithm not in ("direct", "auto", "auto-direct"):
        raise ConfigError(f"trainable=True needs algorithm='direct', 'auto' or 'auto-direct' (only direct kernels are the raw DFT), "
                          f"got {algorithm!r}")
    if algorithm == "direct" or (trainable and algorithm in ("auto", "auto-direct")):
        return DirectDFT(n_fft, hop_length, window, trainable=trainable)
    return DFT_ALGORITHMS[algorithm](n_fft, hop_length, window)
