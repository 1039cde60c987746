"""The framed DFT factored decimation-in-time: a grouped ``Conv`` then one constant ``MatMul``.

With ``n = R * m + r`` (``R`` phases of ``M = n_fft / R`` samples) and bin ``k = j + M * q``::

    X[k] = sum_r exp(-2i pi q r / R) * Z_r[j],   Z_r[j] = sum_m w[n] x[n] exp(-2i pi j n / n_fft)

``Z_r`` is an ``M``-point DFT of phase ``r`` with the window and the twiddle ``exp(-2i pi j r /
n_fft)`` folded into its kernel: all ``R`` of them run as one grouped ``Conv`` over the
polyphase audio. Real input halves that stage: ``Z_r[M - j] = exp(-2i pi r / R) * conj(Z_r[j])``,
so only ``j <= M / 2`` is computed, and the bins ``M * q - j`` come from the same ``Z_r[j]``
through ``X[M * q - j] = sum_r exp(-2i pi q r / R) * conj(Z_r[j])``. Both combines (``q <= R / 2``
for ``j + M * q``, ``1 <= q <= R / 2`` for ``M * q - j``) are the same for every ``j``: one
constant ``MatMul`` that needs no transpose, then one ``Gather`` puts the bins in order. Per frame
this costs ``(M + 2) * n_fft + 4 * R * (R + 1) * (M // 2 + 1)`` multiply-adds instead of
``(n_fft + 2) * n_fft``: about 7x fewer at ``n_fft = 512`` (36 k instead of 263 k).

Graph ops: Slice, Reshape, Transpose, Conv, MatMul, Gather (plus Shape arithmetic for the
dynamic length): TensorRT takes them all, batch and length stay dynamic.
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
    """``(radix * (M + 2), 1, M)`` float64: for phase ``r``, rows ``[Re Z_r[0..M/2], Im Z_r[0..M/2]]``."""
    taps = n_fft // radix
    j = np.arange(taps // 2 + 1)[:, None]
    n = np.arange(taps)[None, :] * radix  # sample index of tap m in phase 0
    kernels = []
    for r in range(radix):
        angle = 2.0 * np.pi * ((j * (n + r)) % n_fft) / n_fft
        w = window[n[0] + r][None, :]
        kernels.append(np.concatenate([np.cos(angle) * w, -np.sin(angle) * w]))
    return np.concatenate(kernels)[:, None, :]


def _combine_matrix(radix: int) -> np.ndarray:
    """``(2 * (R + 1), 2 * R)`` float64: the R-point DFTs over phases, real form.

    Columns follow the conv's channels ``(r, [re, im])``. Rows are ``([re, im], f)``: for
    ``f <= R / 2`` bin ``j + M * f`` from ``Z_r[j]``; for ``f = R / 2 + q`` (``q >= 1``) bin
    ``M * q - j`` from ``conj(Z_r[j])``.
    """
    half = radix // 2
    r = np.arange(radix)
    out = np.zeros((2, radix + 1, radix, 2))
    for f in range(radix + 1):
        q, sign = (f, 1.0) if f <= half else (f - half, -1.0)
        angle = 2.0 * np.pi * ((q * r) % radix) / radix
        c, s = np.cos(angle), np.sin(angle)
        # (c - is) * (a + i sign b) = (ca + sign sb) + i(sign cb - sa)
        out[0, f, :, 0], out[0, f, :, 1] = c, sign * s
        out[1, f, :, 0], out[1, f, :, 1] = -s, sign * c
    return out.reshape(2 * (radix + 1), 2 * radix)


def _bin_order(n_fft: int, radix: int) -> np.ndarray:
    """``(n_fft // 2 + 1,)`` int64: where bin ``k`` sits among the combine's ``(f, j)`` outputs."""
    taps = n_fft // radix
    half_taps, half = taps // 2, radix // 2
    k = np.arange(n_fft // 2 + 1)
    j, q = k % taps, k // taps
    low = j <= half_taps
    f = np.where(low, q, half + q + 1)
    return f * (half_taps + 1) + np.where(low, j, taps - j)


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
        # Inputs whose length is a multiple of this skip the trim (see ``aligned``).
        self.input_multiple = radix
        self.register_buffer("phase_kernel", torch.from_numpy(_phase_kernels(n_fft, radix, window)).float())
        self.register_buffer("combine", torch.from_numpy(_combine_matrix(radix)).float())
        self.register_buffer("bin_order", torch.from_numpy(_bin_order(n_fft, radix)), persistent=False)
        self.register_buffer("pair_sum", torch.ones(1, 2), persistent=False)

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop_length={self.hop_length}, radix={self.radix}"

    def _combined(self, x: torch.Tensor, aligned: bool = False) -> torch.Tensor:
        """``(N, 1, time) -> (N, 2, (R + 1) * (M // 2 + 1), frames)``: re then im of the ``(f, j)`` outputs.

        :attr:`bin_order` says where each bin ``0..n_fft // 2`` is; the other rows are bins past
        Nyquist and repeats. ``aligned=True`` promises ``time % R == 0`` (the caller padded to it).
        """
        radix, half_taps = self.radix, self.taps // 2 + 1
        batch, length = x.shape[0], x.shape[-1]
        # reshape, not x[:, 0]: selecting the channel would copy the audio in onnxruntime (Gather).
        x = x.reshape(batch, length)
        if aligned:
            if not isinstance(length, torch.Tensor):  # torch.jit.trace gives sizes as tensors
                # Lets torch.export reshape a symbolic length into phases without the trim below.
                torch._check(length % radix == 0)
        else:
            # Frames end on a multiple of R, so dropping the last time % R samples loses none. The
            # trim copies the whole input in onnxruntime: Spectrogram pads to a multiple instead.
            length = (length // radix) * radix
            x = x[:, :length]
        # Sizes spelled out (no -1): a reshape cannot infer a dim when the batch is empty.
        phases = x.reshape(batch, length // radix, radix).transpose(1, 2)
        z = torch.nn.functional.conv1d(phases, self.phase_kernel, stride=self.hop_length // radix, groups=radix)
        frames = z.shape[-1]
        # (N, R * 2 * (M/2 + 1), F) -> (N, 2R, (M/2 + 1) * F): the combine's columns run over
        # (r, [re, im]) for every (j, frame).
        y = torch.matmul(self.combine, z.reshape(batch, 2 * radix, half_taps * frames))
        return y.reshape(batch, 2, (radix + 1) * half_taps, frames)

    def forward(self, x: torch.Tensor, *, aligned: bool = False) -> torch.Tensor:
        y = torch.index_select(self._combined(x, aligned), 2, self.bin_order)
        return y.reshape(y.shape[0], 2 * self.n_freq, y.shape[-1])

    def energy(self, x: torch.Tensor, *, aligned: bool = False) -> torch.Tensor:
        """``re^2 + im^2`` of the bins, ``(N, 1, time) -> (N, n_freq, frames)``, traceable.

        Squares the combined outputs, sums ``[re, im]`` with a ``[1, 1]`` MatMul and only then
        gathers the ``n_freq`` bins in order: the gather moves half the data it would before
        squaring, and in onnxruntime the MatMul beats ReduceSum over a size-2 axis, most at
        batch 1 (measured: docs/benchmarks.md). Same numbers as ``forward``, squared.
        """
        y = self._combined(x, aligned)
        batch, rows, frames = y.shape[0], y.shape[2], y.shape[3]
        y = y.reshape(batch, 2, rows * frames)
        e = torch.matmul(self.pair_sum, y * y).reshape(batch, rows, frames)
        return torch.index_select(e, 1, self.bin_order)


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

    ``graph="direct"`` exports :class:`DirectDFT` instead (algorithm ``"auto-direct"``): 5 to 10
    times the multiply-adds, and float32 rounding spread evenly instead of concentrated. A
    factored DFT rounds each phase's partial sums, and for a strong tone that error lands on the
    bins ``n_fft / R`` apart from it, about ``sqrt(n_fft / R)`` times higher than a direct
    DFT's: seen in log-mel values 70-80 dB below a tone's peak (docs/presets.md).

    Example::

        >>> from audiofront.frontend.functional import get_window
        >>> AutoDFT(400, 160, get_window("hann", 400))(torch.randn(1, 1, 16000)).shape
        torch.Size([1, 402, 98])
    """

    def __init__(self, n_fft: int, hop_length: int, window: np.ndarray, *, graph: str = "factored"):
        super().__init__()
        if graph not in ("factored", "direct"):
            raise ConfigError(f"graph must be 'factored' or 'direct', got {graph!r}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_freq = n_fft // 2 + 1
        self.graph = make_factored_dft(n_fft, hop_length, window) if graph == "factored" else DirectDFT(
            n_fft, hop_length, window)
        self.register_buffer("window", torch.from_numpy(np.asarray(window, dtype=np.float64)).float())

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:
            # MKL's FFT refuses an empty batch: transform one silent item and keep none of it.
            return self._stft(x.new_zeros((1,) + tuple(x.shape[1:])))[:0]
        return torch.stft(x.reshape(x.shape[0], x.shape[-1]), self.n_fft, self.hop_length,
                          window=self.window.to(x.dtype), center=False, return_complex=True)

    @property
    def input_multiple(self) -> int:
        """Input lengths that are a multiple of this save the graph a copy (``aligned=True``)."""
        return getattr(self.graph, "input_multiple", 1)

    def _graph_options(self, aligned: bool) -> dict:
        return {"aligned": True} if aligned and self.input_multiple > 1 else {}

    def forward(self, x: torch.Tensor, *, aligned: bool = False) -> torch.Tensor:
        if is_tracing():
            return self.graph(x, **self._graph_options(aligned))
        z = self._stft(x)
        return torch.cat([z.real, z.imag], dim=1)

    def energy(self, x: torch.Tensor, *, aligned: bool = False) -> torch.Tensor:
        """``re^2 + im^2`` of the bins, ``(N, 1, time) -> (N, n_freq, frames)``: from ``torch.stft`` in eager
        mode, from the graph module's own ``energy`` (or its output) while tracing."""
        if is_tracing():
            if hasattr(self.graph, "energy"):
                return self.graph.energy(x, **self._graph_options(aligned))
            y = self.graph(x)
            y = y.reshape(y.shape[0], 2, self.n_freq, y.shape[-1])
            return (y * y).sum(dim=1)
        z = self._stft(x)
        return z.real * z.real + z.imag * z.imag
