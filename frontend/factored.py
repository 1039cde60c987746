"""The framed DFT factored decimation-in-time: a grouped ``Conv`` then one constant ``MatMul``.

With ``n = R * m + r`` (``R`` phases of ``M = n_fft / R`` samples) and bin ``k = j + M * q``::

    X[k] = sum_r exp(-2i pi q r / R) * Z_r[j],   Z_r[j] = sum_m w[n] x[n] exp(-2i pi j n / n_fft)

``Z_r`` is an ``M``-point DFT of phase ``r`` with the window and the twiddle ``exp(-2i pi j r /
n_fft)`` folded into its kernel: all ``R`` of them run as one grouped ``Conv`` over the
polyphase audio. The combine is an ``R``-point DFT across phases, the same for every ``j``, so
it is one constant ``MatMul`` that needs no transpose. Real input: only ``q <= R / 2`` is
computed (bins up to ``n_fft / 2``). Per frame this costs ``2 * n_fft * M + 2 * R * (R + 2) * M``
multiply-adds instead of ``(n_fft + 2) * n_fft``: about 5x fewer at ``n_fft = 512``.

Graph ops: Slice, Reshape, Transpose, Conv, MatMul (plus Shape arithmetic for the dynamic
length): TensorRT takes them all, batch and length stay dynamic.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.dft import DirectDFT
from audiofront.frontend.inputs import is_tracing

__all__ = ["FactoredDFT", "AutoDFT", "factored_radix", "make_factored_dft"]

# Phases tried, best first; each phase must keep at least _MIN_TAPS samples to pay off.
_RADICES = (16, 8)
_MIN_TAPS = 8


def factored_radix(n_fft: int, hop_length: int) -> int | None:
    """The number of phases ``R`` :class:`FactoredDFT` uses, or ``None`` where it does not apply.

    ``R`` must divide ``n_fft`` (phases of equal length) and ``hop_length`` (every frame starts
    on phase 0), and leave at least 8 samples per phase.
    """
    for radix in _RADICES:
        if n_fft % radix == 0 and hop_length % radix == 0 and n_fft // radix >= _MIN_TAPS:
            return radix
    return None


def _phase_kernels(n_fft: int, radix: int, window: np.ndarray) -> np.ndarray:
    """``(radix * 2 * M, 1, M)`` float64: for phase ``r``, rows ``[Re Z_r[0..M), Im Z_r[0..M)]``."""
    taps = n_fft // radix
    j = np.arange(taps)[:, None]
    n = np.arange(taps)[None, :] * radix  # sample index of tap m in phase 0
    kernels = []
    for r in range(radix):
        angle = 2.0 * np.pi * ((j * (n + r)) % n_fft) / n_fft
        w = window[n[0] + r][None, :]
        kernels.append(np.concatenate([np.cos(angle) * w, -np.sin(angle) * w]))
    return np.concatenate(kernels)[:, None, :]


def _combine_matrix(radix: int) -> np.ndarray:
    """``(2 * Q, 2 * R)`` float64, ``Q = R / 2 + 1``: the R-point DFT over phases, real form.

    Columns follow the conv's channels ``(r, [re, im])``; rows are ``([re, im], q)``.
    """
    q_count = radix // 2 + 1
    q = np.arange(q_count)[:, None]
    r = np.arange(radix)[None, :]
    angle = 2.0 * np.pi * ((q * r) % radix) / radix
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((2, q_count, radix, 2))
    # (a + ib) * (c - is) = (ca + sb) + i(cb - sa)
    out[0, :, :, 0], out[0, :, :, 1] = c, s
    out[1, :, :, 0], out[1, :, :, 1] = -s, c
    return out.reshape(2 * q_count, 2 * radix)


class FactoredDFT(nn.Module):
    """The framed one-sided DFT as ``R`` small phase DFTs and one combine: same contract as ``DirectDFT``.

    Shapes: padded audio ``(N, 1, time) -> (N, 2 * n_freq, frames)``, real parts of bins
    ``0..n_fft // 2`` then their imaginary parts, ``frames = 1 + (time - n_fft) // hop_length``.
    Needs :func:`factored_radix` to find a radix; :func:`make_factored_dft` falls back to
    :class:`DirectDFT` where it does not.

    Example::

        >>> from audiofront.frontend.functional import get_window
        >>> dft = FactoredDFT(512, 256, get_window("hann", 512))
        >>> dft(torch.randn(2, 1, 16384)).shape
        torch.Size([2, 514, 63])
    """

    def __init__(self, n_fft: int, hop_length: int, window: np.ndarray):
        super().__init__()
        radix = factored_radix(n_fft, hop_length)
        if radix is None:
            raise ConfigError(f"FactoredDFT needs n_fft ({n_fft}) and hop_length ({hop_length}) divisible by 8 "
                             f"with n_fft >= 64; use make_factored_dft to fall back to DirectDFT")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_freq = n_fft // 2 + 1
        self.radix = radix
        self.taps = n_fft // radix
        self.register_buffer("phase_kernel", torch.from_numpy(_phase_kernels(n_fft, radix, window)).float())
        self.register_buffer("combine", torch.from_numpy(_combine_matrix(radix)).float())
        self.register_buffer("pair_sum", torch.ones(1, 2), persistent=False)

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop_length={self.hop_length}, radix={self.radix}"

    def _combined(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, time) -> (N, 2, Q * M, frames)``: re then im of bins ``0..Q * M - 1`` (a few past Nyquist)."""
        radix, taps = self.radix, self.taps
        batch = x.shape[0]
        # Frames end on a multiple of R, so dropping the last time % R samples loses none.
        usable = (x.shape[-1] // radix) * radix
        # reshape, not x[:, 0]: selecting the channel would copy the audio in onnxruntime (Gather).
        # Sizes spelled out (no -1): a reshape cannot infer a dim when the batch is empty.
        phases = x.reshape(batch, x.shape[-1])[:, :usable].reshape(batch, usable // radix, radix).transpose(1, 2)
        z = torch.nn.functional.conv1d(phases, self.phase_kernel, stride=self.hop_length // radix, groups=radix)
        frames = z.shape[-1]
        # (N, R * 2 * M, F) -> (N, 2R, M * F): the combine's rows run over (r, [re, im]) for every (j, f).
        y = torch.matmul(self.combine, z.reshape(batch, 2 * radix, taps * frames))
        return y.reshape(batch, 2, self.combine.shape[0] * taps // 2, frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._combined(x)
        return y[:, :, : self.n_freq].reshape(y.shape[0], 2 * self.n_freq, y.shape[-1])

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``re^2 + im^2`` of the bins, ``(N, 1, time) -> (N, n_freq, frames)``, traceable.

        Squares all ``Q * M`` combined bins, sums ``[re, im]`` with a ``[1, 1]`` MatMul and only then
        keeps the ``n_freq`` wanted: the copy that drops the bins past Nyquist moves half the data
        it would before squaring, and in onnxruntime the MatMul beats ReduceSum over a size-2
        axis, most at batch 1 (measured: docs/benchmarks.md). Same numbers as ``forward``, squared.
        """
        y = self._combined(x)
        batch, rows, frames = y.shape[0], y.shape[2], y.shape[3]
        y = y.reshape(batch, 2, rows * frames)
        e = torch.matmul(self.pair_sum, y * y).reshape(batch, rows, frames)
        return e[:, : self.n_freq]


def make_factored_dft(n_fft: int, hop_length: int, window: np.ndarray) -> nn.Module:
    """:class:`FactoredDFT` where :func:`factored_radix` finds a radix, else :class:`DirectDFT`."""
    if factored_radix(n_fft, hop_length) is None:
        return DirectDFT(n_fft, hop_length, window)
    return FactoredDFT(n_fft, hop_length, window)


class AutoDFT(nn.Module):
    """The fastest route to the same numbers: ``torch.stft`` in eager mode, a plain graph when exported.

    While torch traces or exports (:func:`~audiofront.frontend.inputs.is_tracing`) it runs
    :class:`FactoredDFT` where that applies, else :class:`DirectDFT` (no STFT/DFT op reaches the
    graph); in eager mode it calls ``torch.stft`` (an FFT), which agrees with both to float32
    rounding. Shapes as ``DirectDFT``: ``(N, 1, time) -> (N, 2 * n_freq, frames)``.

    Example::

        >>> from audiofront.frontend.functional import get_window
        >>> AutoDFT(400, 160, get_window("hann", 400))(torch.randn(1, 1, 16000)).shape
        torch.Size([1, 402, 98])
    """

    def __init__(self, n_fft: int, hop_length: int, window: np.ndarray):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_freq = n_fft // 2 + 1
        self.graph = make_factored_dft(n_fft, hop_length, window)
        self.register_buffer("window", torch.from_numpy(np.asarray(window, dtype=np.float64)).float())

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:
            # MKL's FFT refuses an empty batch: transform one silent item and keep none of it.
            return self._stft(x.new_zeros((1,) + tuple(x.shape[1:])))[:0]
        return torch.stft(x.reshape(x.shape[0], x.shape[-1]), self.n_fft, self.hop_length,
                          window=self.window.to(x.dtype), center=False, return_complex=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_tracing():
            return self.graph(x)
        z = self._stft(x)
        return torch.cat([z.real, z.imag], dim=1)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``re^2 + im^2`` of the bins, ``(N, 1, time) -> (N, n_freq, frames)``: from ``torch.stft`` in eager
        mode, from the graph module's own ``energy`` (or its output) while tracing."""
        if is_tracing():
            if hasattr(self.graph, "energy"):
                return self.graph.energy(x)
            y = self.graph(x)
            y = y.reshape(y.shape[0], 2, self.n_freq, y.shape[-1])
            return (y * y).sum(dim=1)
        z = self._stft(x)
        return z.real * z.real + z.imag * z.imag
