"""Kapre's time-frequency layers as torch modules: ``STFT``, ``InverseSTFT``, ``Magnitude``, ``Phase``,
``MagnitudeToDecibel``, ``ApplyFilterbank``, ``Delta``, ``ConcatenateFrequencyMap``.

Argument names, defaults and data formats are Kapre 0.4.1's (``kapre/time_frequency.py``):
``'default'`` means ``'channels_last'``. Waveforms are ``(batch, time, ch)`` (channels_last) or
``(batch, ch, time)``; spectrograms ``(batch, frames, freq, ch)`` or ``(batch, ch, frames, freq)``.
Complex STFTs are ``[real, imag]`` pairs in a last dim of size 2 (exportable to ONNX), or torch
complex tensors with ``return_complex=True``. Each module is a thin layout adapter around an
audiofront module, which does the math.
"""

from __future__ import annotations

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.cepstral import ComputeDeltas
from audiofront.frontend.filterbanks import Filterbank
from audiofront.frontend.inputs import is_tracing
from audiofront.frontend.kapre import backend
from audiofront.frontend.kapre.backend import CH_LAST, resolve_data_format
from audiofront.frontend.stft import InverseSpectrogram
from audiofront.frontend.approx import atan2_continued_fraction
from audiofront.frontend.stft import Spectrogram

__all__ = ["STFT", "InverseSTFT", "Magnitude", "Phase", "MagnitudeToDecibel", "ApplyFilterbank", "Delta",
           "ConcatenateFrequencyMap"]


def _check_rank(x, ndim: int, what: str) -> None:
    if not is_tracing() and (not isinstance(x, torch.Tensor) or x.ndim != ndim):
        raise InputError(f"input must be a {ndim}-D tensor {what}, got {getattr(x, 'shape', type(x).__name__)}")


def _real_imag(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of a complex tensor or of ``[real, imag]`` pairs in a last dim of size 2."""
    if isinstance(x, torch.Tensor) and x.is_complex():
        return x.real, x.imag
    if not is_tracing() and (not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 1
                             or x.shape[-1] != 2):
        raise InputError(f"input must be a complex tensor or a float tensor (..., 2) of [real, imag], got "
                         f"{getattr(x, 'shape', type(x).__name__)} {getattr(x, 'dtype', '')}")
    return x[..., 0], x[..., 1]


def _geometry(n_fft, win_length, hop_length) -> tuple[int, int, int]:
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 2:
        raise ConfigError(f"n_fft must be an integer >= 2, got {n_fft!r}")
    win_length = n_fft if win_length is None else win_length
    if isinstance(win_length, bool) or not isinstance(win_length, int) or not 1 <= win_length <= n_fft:
        raise ConfigError(f"win_length must be None or an integer in [1, n_fft = {n_fft}], got {win_length!r}")
    # Kapre's default hop is win_length // 4 (librosa's), not torchaudio's win_length // 2.
    hop_length = win_length // 4 if hop_length is None else hop_length
    if isinstance(hop_length, bool) or not isinstance(hop_length, int) or hop_length < 1:
        raise ConfigError(f"hop_length must be None or a positive integer (default win_length // 4), got {hop_length!r}")
    return n_fft, win_length, hop_length


class STFT(nn.Module):
    """Kapre's ``STFT`` (``tf.signal.stft``): waveforms -> complex STFT, no centring.

    Shapes: ``(batch, time, ch)`` (``input_data_format='channels_last'``) or ``(batch, ch, time)``
    -> ``(batch, frames, n_fft // 2 + 1, ch, 2)`` (``output_data_format='channels_last'``) or
    ``(batch, ch, frames, freq, 2)``; the last dim is ``[real, imag]`` (``return_complex=True``:
    a complex tensor without it). ``frames = 1 + (time' - win_length) // hop_length`` where
    ``time'`` includes ``pad_begin``'s ``n_fft - hop_length`` zeros (Kapre pads that, not the
    ``win_length - hop_length`` its docstring says); ``pad_end=True`` gives ``ceil(time' / hop)``.
    A ``win_length < n_fft`` window sits at the start of the FFT buffer, as in TF.

    Example::

        >>> STFT(n_fft=512, hop_length=256)(torch.randn(2, 16000, 1)).shape
        torch.Size([2, 61, 257, 1, 2])
    """

    def __init__(self, n_fft: int = 2048, win_length: int | None = None, hop_length: int | None = None,
                 window_name: str | None = None, pad_begin: bool = False, pad_end: bool = False,
                 input_data_format: str = "default", output_data_format: str = "default", *,
                 return_complex: bool = False, algorithm: str = "auto"):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = _geometry(n_fft, win_length, hop_length)
        self.window_name = window_name
        self.pad_begin, self.pad_end = bool(pad_begin), bool(pad_end)
        self.input_data_format = resolve_data_format(input_data_format, "input_data_format")
        self.output_data_format = resolve_data_format(output_data_format, "output_data_format")
        self.return_complex = bool(return_complex)
        self.spectrogram = Spectrogram(
            n_fft=self.n_fft, win_length=self.win_length, hop_length=self.hop_length,
            window=backend.window_name_to_audiofront(window_name), power=None, center=False,
            pad_begin=self.n_fft - self.hop_length if self.pad_begin else 0, pad_end=self.pad_end,
            window_align="start", algorithm=algorithm,
        )

    def frames(self, length: int) -> int:
        return self.spectrogram.frames(length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x, 3, "(batch, time, ch) or (batch, ch, time)")
        if self.input_data_format == CH_LAST:
            x = x.transpose(1, 2)
        spec = self.spectrogram(x)  # (batch, ch, freq, frames, 2)
        perm = (0, 3, 2, 1, 4) if self.output_data_format == CH_LAST else (0, 1, 3, 2, 4)
        spec = spec.permute(perm)
        return torch.view_as_complex(spec.contiguous()) if self.return_complex else spec


class InverseSTFT(nn.Module):
    """Kapre's ``InverseSTFT`` (``tf.signal.inverse_stft`` with ``inverse_stft_window_fn``): STFT -> waveforms.

    Shapes: ``(batch, frames, freq, ch, 2)`` (``[real, imag]``, or complex without the last dim;
    ``input_data_format='channels_last'``) or ``(batch, ch, frames, freq[, 2])`` -> ``(batch, time,
    ch)`` or ``(batch, ch, time)``, ``time = (frames - 1) * hop_length + win_length`` (untrimmed,
    as Kapre). TF's steady-state window normalisation by default (Kapre's numbers everywhere);
    ``window_norm="envelope"`` divides by the true overlap envelope, which is exact reconstruction
    also in the first and last ``win_length - hop_length`` samples.

    Example::

        >>> stft, istft = STFT(n_fft=512, hop_length=128), InverseSTFT(n_fft=512, hop_length=128)
        >>> istft(stft(torch.randn(2, 4000, 1))).shape
        torch.Size([2, 3968, 1])
    """

    def __init__(self, n_fft: int = 2048, win_length: int | None = None, hop_length: int | None = None,
                 forward_window_name: str | None = None, input_data_format: str = "default",
                 output_data_format: str = "default", *, window_norm: str = "steady_state"):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = _geometry(n_fft, win_length, hop_length)
        self.forward_window_name = forward_window_name
        self.input_data_format = resolve_data_format(input_data_format, "input_data_format")
        self.output_data_format = resolve_data_format(output_data_format, "output_data_format")
        self.inverse = InverseSpectrogram(
            n_fft=self.n_fft, win_length=self.win_length, hop_length=self.hop_length,
            window=backend.window_name_to_audiofront(forward_window_name), center=False,
            window_align="start", window_norm=window_norm,
        )

    def forward(self, stft: torch.Tensor) -> torch.Tensor:
        if isinstance(stft, torch.Tensor) and stft.is_complex():
            stft = torch.view_as_real(stft)
        _check_rank(stft, 5, "(batch, frames, freq, ch, 2) or (batch, ch, frames, freq, 2)")
        if self.input_data_format == CH_LAST:
            stft = stft.permute(0, 3, 2, 1, 4)  # (batch, ch, freq, frames, 2)
        else:
            stft = stft.transpose(2, 3)
        y = self.inverse(stft)  # (batch, ch, time)
        return y.transpose(1, 2) if self.output_data_format == CH_LAST else y


class Magnitude(nn.Module):
    """``|z|`` of a complex STFT: ``(..., 2)`` ``[real, imag]`` pairs (or a complex tensor) -> ``(...)``.

    Example::

        >>> Magnitude()(STFT(n_fft=256, hop_length=128)(torch.randn(1, 2048, 1))).shape
        torch.Size([1, 15, 129, 1])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        re, im = _real_imag(x)
        return torch.sqrt(re * re + im * im)


class Phase(nn.Module):
    """Phase in radians of a complex STFT: ``(..., 2)`` pairs (or complex) -> ``(...)``.

    ``approx_atan_accuracy=n`` uses Kapre's ``n``-term continued-fraction ``atan2`` (no Atan op;
    :func:`audiofront.frontend.approx.atan2_continued_fraction`), with its quirks.

    Example::

        >>> Phase()(STFT(n_fft=256, hop_length=128)(torch.randn(1, 2048, 1))).shape
        torch.Size([1, 15, 129, 1])
    """

    def __init__(self, approx_atan_accuracy: int | None = None):
        super().__init__()
        if approx_atan_accuracy is not None and (isinstance(approx_atan_accuracy, bool)
                                                 or not isinstance(approx_atan_accuracy, int) or approx_atan_accuracy < 0):
            raise ConfigError(f"approx_atan_accuracy must be None or a non-negative integer, got {approx_atan_accuracy!r}")
        self.approx_atan_accuracy = approx_atan_accuracy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        re, im = _real_imag(x)
        if self.approx_atan_accuracy:  # Kapre: a falsy accuracy (None or 0) means the exact angle
            return atan2_continued_fraction(im, re, self.approx_atan_accuracy)
        return torch.atan2(im, re)


class MagnitudeToDecibel(nn.Module):
    """Kapre's decibels (:func:`backend.magnitude_to_decibel`): ``(batch, ...)`` in and out.

    ``10 * log10`` of the input (magnitudes in Kapre's chains), floored ``dynamic_range`` dB below
    each item's peak over all its dims, channels included.

    Example::

        >>> MagnitudeToDecibel()(torch.rand(2, 61, 257, 1)).shape
        torch.Size([2, 61, 257, 1])
    """

    def __init__(self, ref_value: float = 1.0, amin: float = 1e-5, dynamic_range: float = 80.0):
        super().__init__()
        self.ref_value, self.amin, self.dynamic_range = backend.check_db_args(ref_value, amin, dynamic_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return backend.magnitude_to_decibel(x, self.ref_value, self.amin, self.dynamic_range)


class ApplyFilterbank(nn.Module):
    """A mel or log filterbank over the frequency axis: ``(batch, frames, freq, ch) -> (batch, frames, bins, ch)``.

    ``type`` is ``'mel'`` (:func:`backend.filterbank_mel`) or ``'log'`` (:func:`backend.filterbank_log`)
    built from ``filterbank_kwargs``, as in Kapre; ``data_format='channels_first'`` takes
    ``(batch, ch, frames, freq)``. The weights are an audiofront :class:`Filterbank`.

    Example::

        >>> fb = ApplyFilterbank("mel", {"sample_rate": 16000, "n_freq": 257, "n_mels": 64})
        >>> fb(torch.rand(2, 61, 257, 1)).shape
        torch.Size([2, 61, 64, 1])
    """

    def __init__(self, type: str, filterbank_kwargs: dict, data_format: str = "default"):  # noqa: A002 (Kapre's name)
        super().__init__()
        if type == "mel":
            weights = backend.filterbank_mel(**filterbank_kwargs)
        elif type == "log":
            weights = backend.filterbank_log(**filterbank_kwargs)
        else:
            raise ConfigError(f"type must be 'mel' or 'log', got {type!r}")
        self.type, self.filterbank_kwargs = type, dict(filterbank_kwargs)
        self.data_format = resolve_data_format(data_format)
        self.filterbank = Filterbank(weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x, 4, "(batch, frames, freq, ch) or (batch, ch, frames, freq)")
        if self.data_format == CH_LAST:
            return self.filterbank(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        return self.filterbank(x.transpose(2, 3)).transpose(2, 3)


class Delta(nn.Module):
    """Kapre's ``Delta``: the local slope along frames, ``(batch, frames, freq, ch)`` in and out.

    ``mode`` pads time as ``tf.pad`` does: ``'symmetric'`` (default), ``'reflect'`` or
    ``'constant'`` (case-insensitive); ``win_length`` odd, >= 3. Unlike Kapre 0.4.1 (whose 1-channel
    conv kernel fails on stereo), every channel works: each gets its own delta.

    Example::

        >>> Delta()(torch.rand(2, 61, 64, 2)).shape
        torch.Size([2, 61, 64, 2])
    """

    def __init__(self, win_length: int = 5, mode: str = "symmetric", data_format: str = "default"):
        super().__init__()
        if not isinstance(mode, str) or mode.lower() not in ("symmetric", "reflect", "constant"):
            raise ConfigError(f"mode must be 'symmetric', 'reflect' or 'constant' (any case), got {mode!r}")
        self.win_length, self.mode = win_length, mode
        self.data_format = resolve_data_format(data_format)
        self.deltas = ComputeDeltas(win_length=win_length, mode=mode.lower())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x, 4, "(batch, frames, freq, ch) or (batch, ch, frames, freq)")
        if self.data_format == CH_LAST:
            return self.deltas(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.deltas(x.transpose(2, 3)).transpose(2, 3)


class ConcatenateFrequencyMap(nn.Module):
    """Append a channel holding each bin's normalised frequency, ``linspace(0, 1, freq)`` (Koutini et al., 2019).

    ``(batch, frames, freq, ch) -> (batch, frames, freq, ch + 1)`` (channels_first:
    ``(batch, ch, frames, freq) -> (batch, ch + 1, frames, freq)``).

    Example::

        >>> ConcatenateFrequencyMap()(torch.rand(2, 61, 64, 1)).shape
        torch.Size([2, 61, 64, 2])
    """

    def __init__(self, data_format: str = "default"):
        super().__init__()
        self.data_format = resolve_data_format(data_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_rank(x, 4, "(batch, frames, freq, ch) or (batch, ch, frames, freq)")
        if self.data_format == CH_LAST:
            n_freq = x.shape[2]
            ramp = torch.linspace(0.0, 1.0, n_freq, dtype=x.dtype, device=x.device).reshape(1, 1, -1, 1)
            return torch.cat([x, ramp.expand(x.shape[0], x.shape[1], n_freq, 1)], dim=3)
        n_freq = x.shape[3]
        ramp = torch.linspace(0.0, 1.0, n_freq, dtype=x.dtype, device=x.device).reshape(1, 1, 1, -1)
        return torch.cat([x, ramp.expand(x.shape[0], 1, x.shape[2], n_freq)], dim=1)
