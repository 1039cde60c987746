"""Short-time Fourier transforms as convolutions: ``Spectrogram``, ``InverseSpectrogram``, ``Magnitude``, ``Phase``.

Complex spectra are real tensors with a last dim of size 2, ``[real, imag]``: that layout exports
to ONNX and TensorRT, where complex dtypes do not.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.approx import atan2_continued_fraction
from audiofront.frontend.dft import make_dft
from audiofront.frontend.framewise import FrameSpec, identity
from audiofront.frontend.functional import frame_count, get_window, idft_kernels, pad_window
from audiofront.frontend.inputs import InputSpec, check_waveform, is_tracing, to_compute_dtype

__all__ = ["Spectrogram", "InverseSpectrogram", "Magnitude", "Phase", "PAD_MODES", "steady_state_window"]

PAD_MODES = ("reflect", "constant", "replicate")


def _stft_geometry(n_fft, win_length, hop_length, pad, window, align: str = "center") -> tuple[int, int, int, int, np.ndarray]:
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 2:
        raise ConfigError(f"n_fft must be an integer >= 2, got {n_fft!r}")
    win_length = n_fft if win_length is None else win_length
    if isinstance(win_length, bool) or not isinstance(win_length, int) or not 1 <= win_length <= n_fft:
        raise ConfigError(f"win_length must be an integer in [1, n_fft = {n_fft}], got {win_length!r}")
    hop_length = max(win_length // 2, 1) if hop_length is None else hop_length
    if isinstance(hop_length, bool) or not isinstance(hop_length, int) or hop_length < 1:
        raise ConfigError(f"hop_length must be a positive integer, got {hop_length!r}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ConfigError(f"pad must be a non-negative integer, got {pad!r}")
    full_window = pad_window(get_window(window, win_length), n_fft, align)
    return n_fft, win_length, hop_length, pad, full_window


def steady_state_window(window: np.ndarray, hop_length: int) -> np.ndarray:
    """TF's synthesis window: ``window / sum_k window[n + k * hop] ** 2`` over the window's own periodic overlap.

    The denominator is the squared window overlap-added at ``hop_length`` in the steady state
    (as if frames went on forever), computed over the ``win_length`` samples only, as
    ``tf.signal.inverse_stft_window_fn`` does; the first and last ``win_length - hop`` output
    samples are therefore not fully normalised (TF's and Kapre's ``InverseSTFT``).
    """
    win_length = window.shape[0]
    overlaps = -(-win_length // hop_length)
    denom = np.pad(window * window, (0, overlaps * hop_length - win_length)).reshape(overlaps, hop_length).sum(0)
    denom = np.tile(denom, overlaps)[:win_length]
    return window / np.where(denom > 0, denom, 1.0)


def _normalization(normalized, window: np.ndarray, n_fft: int) -> float:
    """The factor ``normalized`` applies to the STFT, with torchaudio's meaning of the argument.

    ``True`` or ``"window"``: divide by the window's L2 norm (torchaudio's ``normalized=True``);
    ``"frame_length"``: divide by ``sqrt(n_fft)`` (``torch.stft(normalized=True)``); ``False``: 1.
    """
    if normalized is False:
        return 1.0
    if normalized is True or normalized == "window":
        return 1.0 / math.sqrt(float(np.sum(window * window)))
    if normalized == "frame_length":
        return 1.0 / math.sqrt(n_fft)
    raise ConfigError(f"normalized must be False, True, 'window' or 'frame_length', got {normalized!r}")


def _check_power(power):
    if power is None:
        return None
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0 or not math.isfinite(power):
        raise ConfigError(f"power must be None (complex output) or a positive number such as 1 or 2, got {power!r}")
    return float(power)


def _length_term(length: str) -> str:
    """``length`` as an operand of ``+``/``-``: a bare name stays, an expression gets parentheses."""
    return length if length.isidentifier() else f"({length})"


def stft_frames_formula(n_fft: int, hop_length: int, center: bool, pad: int, length: str = "time") -> str:
    """Frames of an STFT of ``length`` samples, as text: ``"1 + (time + 2*256 - 512) // 256"``."""
    total_pad = pad + (n_fft // 2 if center else 0)
    term = _length_term(length)
    padded = f"{term} + 2*{total_pad}" if total_pad else term
    return f"1 + ({padded} - {n_fft}) // {hop_length}"


def _complex_to_power(re: torch.Tensor, im: torch.Tensor, power: float) -> torch.Tensor:
    energy = re * re + im * im
    if power == 2.0:
        return energy
    if power == 1.0:
        return torch.sqrt(energy)
    return torch.pow(energy, power / 2.0)


class Spectrogram(nn.Module):
    """STFT as a strided convolution with windowed DFT kernels.

    Shapes: ``(..., time) -> (..., n_fft // 2 + 1, frames)``, or ``(..., n_freq, frames, 2)``
    (``[real, imag]``) with ``power=None``. ``frames = 1 + (time + 2 * pad [+ 2 * (n_fft // 2) if
    center] - n_fft) // hop_length``.

    Arguments and defaults follow ``torchaudio.transforms.Spectrogram``; the numbers equal
    ``librosa.stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
    center=center, pad_mode=pad_mode)`` (``|.|**power``). ``window`` is ``"hann"``,
    ``"hamming"``, ``"blackman"``, ``"rectangular"`` or a tensor of ``win_length`` samples
    (periodic windows, as librosa and torch use). ``normalized=True`` (or ``"window"``) divides
    by the window's L2 norm, as torchaudio does; ``"frame_length"`` divides by ``sqrt(n_fft)``, as
    ``torch.stft(normalized=True)`` does.

    One-sided padding and ``tf.signal.stft``'s framing (keyword-only, Kapre's ``STFT``):
    ``pad_begin`` zeros go before the signal (Kapre pads ``n_fft - hop_length``); ``pad_end=True``
    zero-pads the end so a partial last frame is kept (``ceil(time / hop_length)`` frames without
    centring); ``window_align="start"`` puts a ``win_length < n_fft`` window at the start of the
    ``n_fft`` buffer, as ``tf.signal.stft`` zero-pads each ``win_length`` frame at its end, and
    counts frames of ``win_length`` samples. ``trainable=True`` makes the DFT kernels a Parameter
    (Kapre's trainable STFT). ``algorithm`` chooses how the DFT is computed (see
    :mod:`audiofront.frontend.dft`): the default ``"auto"`` is ``torch.stft`` in eager mode and the
    factored convolution when exported.

    Example::

        >>> spec = Spectrogram(n_fft=512, hop_length=256)
        >>> spec(torch.randn(2, 16000)).shape
        torch.Size([2, 257, 63])
    """

    def __init__(
        self,
        n_fft: int = 400,
        win_length: int | None = None,
        hop_length: int | None = None,
        pad: int = 0,
        window="hann",
        power: float | None = 2.0,
        normalized: bool | str = False,
        center: bool = True,
        pad_mode: str = "reflect",
        *,
        trainable: bool = False,
        algorithm: str = "auto",
        pad_begin: int = 0,
        pad_end: bool = False,
        window_align: str = "center",
    ):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length, self.pad, window_ = _stft_geometry(
            n_fft, win_length, hop_length, pad, window, window_align
        )
        if isinstance(pad_begin, bool) or not isinstance(pad_begin, int) or pad_begin < 0:
            raise ConfigError(f"pad_begin must be a non-negative integer (samples), got {pad_begin!r}")
        if not isinstance(pad_end, bool):
            raise ConfigError(f"pad_end must be True or False, got {pad_end!r}")
        self.pad_begin, self.pad_end, self.window_align = pad_begin, pad_end, window_align
        # Zeros after the signal: a start-aligned window needs n_fft - win_length of them to keep
        # frames of win_length samples; pad_end needs n_fft - 1 (every sample starts a frame).
        self._pad_after = self.n_fft - 1 if pad_end else (self.n_fft - self.win_length if window_align == "start" else 0)
        self.power = _check_power(power)
        if pad_mode not in PAD_MODES:
            raise ConfigError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        self.center = bool(center)
        self.pad_mode = pad_mode
        self.normalized = normalized
        self.n_freq = self.n_fft // 2 + 1
        self.trainable = bool(trainable)
        self.algorithm = algorithm
        window_ = window_ * _normalization(normalized, window_, self.n_fft)
        self.dft = make_dft(algorithm, self.n_fft, self.hop_length, window_, trainable=self.trainable)

    @property
    def min_length(self) -> int:
        """The fewest samples an input may have."""
        half = self.n_fft // 2
        needed = self.n_fft - 2 * self.pad - (2 * half if self.center else 0) - self.pad_begin - self._pad_after
        if self.center and self.pad_mode == "reflect":
            # Reflection needs more samples than it mirrors.
            needed = max(needed, half + 1 - 2 * self.pad)
        return max(needed, 1)

    def frames(self, length: int) -> int:
        """Frames this module gives for ``length`` input samples."""
        return frame_count(length + self.pad_begin + self._pad_after, self.n_fft, self.hop_length, self.center, self.pad)

    def frames_formula(self, length: str = "time") -> str:
        """:meth:`frames` as text in terms of ``length`` (what export stores as ``audiofront.frames``)."""
        return stft_frames_formula(self.n_fft, self.hop_length, self.center, self.pad, length)

    def input_spec(self) -> InputSpec:
        """Audio ``(batch, [channels,] time)`` with at least :attr:`min_length` samples."""
        return InputSpec(("time",), min_length=self.min_length, values="audio")

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, win_length={self.win_length}, hop_length={self.hop_length}, "
            f"power={self.power}, center={self.center}, pad_mode={self.pad_mode!r}, "
            f"trainable={self.trainable}, algorithm={self.algorithm!r}"
        )

    def _padded(self, waveform: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``(..., time) -> (N, 1, padded time)``, what the DFT module takes, and whether its length is
        a multiple of the DFT's ``input_multiple`` (then the DFT is told ``aligned=True``)."""
        check_waveform(waveform, self.min_length)
        x = to_compute_dtype(waveform, self.dft).reshape(-1, 1, waveform.shape[-1])
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad, self.pad))
        aligned = False
        if self.center:
            half = right = self.n_fft // 2
            multiple = getattr(self.dft, "input_multiple", 1)
            if is_tracing() and multiple > 1 and not (self.pad_begin or self._pad_after) and half >= multiple:
                # The factored graph drops the last time % R samples (no frame reaches them, R divides
                # hop and n_fft); padding that much less spares it a copy of the whole input.
                right = half - x.shape[-1] % multiple
                aligned = True
            x = torch.nn.functional.pad(x, (half, right), mode=self.pad_mode)
        if self.pad_begin or self._pad_after:
            x = torch.nn.functional.pad(x, (self.pad_begin, self._pad_after))
        return x, aligned

    def stft(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., 2, n_freq, frames)``: real parts then imaginary parts."""
        x, aligned = self._padded(waveform)
        y = self.dft(x, **({"aligned": True} if aligned else {}))
        return y.reshape(waveform.shape[:-1] + (2, self.n_freq, y.shape[-1]))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x, aligned = self._padded(waveform)
        return self._from_padded(x, waveform.shape[:-1], aligned)

    def frame_specs(self) -> list[FrameSpec]:
        """Streaming steps: the zero ``pad`` (if any), then the STFT over ``n_fft`` samples every ``hop_length``."""
        specs = []
        if self.pad:
            specs.append(FrameSpec(compute=identity, pad_left=self.pad, pad_right=self.pad, name="pad"))
        half = self.n_fft // 2 if self.center else 0
        mode = {"reflect": "reflect", "constant": "constant", "replicate": "replicate"}[self.pad_mode]
        specs.append(FrameSpec(
            compute=self._frames_of_padded, window=self.n_fft, hop=self.hop_length, pad_left=half, pad_right=half,
            left_mode=mode, right_mode=mode, output_time_axis=-2 if self.power is None else -1, name="stft",
        ))
        return specs

    def _frames_of_padded(self, x: torch.Tensor) -> torch.Tensor:
        """This module on audio ``(..., time)`` that already carries its padding (no centring here)."""
        lead = x.shape[:-1]
        return self._from_padded(to_compute_dtype(x, self.dft).reshape(-1, 1, x.shape[-1]), lead)

    def _from_padded(self, x: torch.Tensor, lead, aligned: bool = False) -> torch.Tensor:
        options = {"aligned": True} if aligned else {}
        if self.power is not None and hasattr(self.dft, "energy"):
            # The DFT module's own route to re^2 + im^2 (AutoDFT in eager mode: from torch.stft's
            # complex output; FactoredDFT, also when exported: squares before dropping bins).
            e = self.dft.energy(x, **options)
            energy = e.reshape(lead + e.shape[-2:])
        else:
            y = self.dft(x, **options)
            y = y.reshape(lead + (2, self.n_freq, y.shape[-1]))
            if self.power is None:
                return torch.stack([y.select(-3, 0), y.select(-3, 1)], dim=-1)
            # re^2 + im^2 as one square and one sum over the [re, im] axis: the same numbers, and in
            # onnxruntime a third faster than selecting the halves (two copies) first.
            energy = (y * y).sum(dim=-3)
        if self.power == 2.0:
            return energy
        return torch.sqrt(energy) if self.power == 1.0 else torch.pow(energy, self.power / 2.0)


def _as_real_pairs(spec, name: str) -> torch.Tensor:
    if isinstance(spec, torch.Tensor) and spec.is_complex():
        return torch.view_as_real(spec)
    if not is_tracing():
        if not isinstance(spec, torch.Tensor) or not spec.is_floating_point():
            raise InputError(
                f"{name} must be a float tensor (..., freq, frames, 2) of [real, imag] or a complex tensor, "
                f"got {getattr(spec, 'dtype', type(spec).__name__)}"
            )
        if spec.ndim < 3 or spec.shape[-1] != 2:
            raise InputError(f"{name} must have shape (..., freq, frames, 2), got {tuple(spec.shape)}")
    return spec


class InverseSpectrogram(nn.Module):
    """Inverse STFT by transposed convolution and window-square normalisation (overlap-add).

    Shapes: ``(..., n_fft // 2 + 1, frames, 2)`` (``[real, imag]``, or a complex tensor
    ``(..., n_freq, frames)``) ``-> (..., time)``. Equal to ``librosa.istft`` with the same
    ``n_fft, hop_length, win_length, window, center, length``; inverts :class:`Spectrogram`
    (``power=None``) wherever the window overlap-adds to a non-zero sum.

    Keyword-only, for ``tf.signal.inverse_stft`` (Kapre's ``InverseSTFT``): ``window_align="start"``
    as in :class:`Spectrogram` (the output then ends ``win_length`` samples after the last frame's
    start); ``window_norm="steady_state"`` divides by TF's steady-state window sum
    (:func:`steady_state_window`) instead of the true overlap envelope (``"envelope"``, default):
    the two agree except in the first and last ``win_length - hop_length`` samples.

    Example::

        >>> spec = Spectrogram(n_fft=512, hop_length=128, power=None)
        >>> x = torch.randn(2, 8000)
        >>> torch.allclose(InverseSpectrogram(n_fft=512, hop_length=128)(spec(x), length=8000), x, atol=1e-4)
        True
    """

    def __init__(
        self,
        n_fft: int = 400,
        win_length: int | None = None,
        hop_length: int | None = None,
        pad: int = 0,
        window="hann",
        normalized: bool | str = False,
        center: bool = True,
        *,
        window_align: str = "center",
        window_norm: str = "envelope",
    ):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length, self.pad, window_ = _stft_geometry(
            n_fft, win_length, hop_length, pad, window, window_align
        )
        if window_norm not in ("envelope", "steady_state"):
            raise ConfigError(f"window_norm must be 'envelope' or 'steady_state', got {window_norm!r}")
        self.center = bool(center)
        self.normalized = normalized
        self.window_align, self.window_norm = window_align, window_norm
        self.n_freq = self.n_fft // 2 + 1
        # Samples past the last frame's window (a start-aligned window's zero tail) are cut off.
        self._tail = self.n_fft - self.win_length if window_align == "start" else 0
        synthesis = window_
        if window_norm == "steady_state":
            short = get_window(window, self.win_length)
            left = 0 if window_align == "start" else (self.n_fft - self.win_length) // 2
            synthesis = np.zeros(self.n_fft)
            synthesis[left : left + self.win_length] = steady_state_window(short, self.hop_length)
        real, imag = idft_kernels(self.n_fft, synthesis)
        # Undo the analysis normalisation: scale the spectrum back up before overlap-add.
        scale = 1.0 / _normalization(normalized, window_, self.n_fft)
        real, imag = real * scale, imag * scale
        self.register_buffer("kernel", torch.from_numpy(np.concatenate([real, imag])[:, None, :]).float())
        self.register_buffer("window_square", torch.from_numpy(window_ * window_).float().reshape(1, 1, -1))

    @property
    def _start(self) -> int:
        return self.pad + (self.n_fft // 2 if self.center else 0)

    @property
    def min_frames(self) -> int:
        """The fewest frames that give at least one sample (with ``length=None``)."""
        short = 1 + 2 * self._start - self.n_fft  # samples missing after one frame
        return 1 + max(0, -(-short // self.hop_length))

    def frames_formula(self, length: str = "time") -> str:
        """Samples out for ``length`` frames in (``length=None``), as text."""
        cut = self.n_fft - 2 * self._start
        tail = f" + {cut}" if cut > 0 else (f" - {-cut}" if cut < 0 else "")
        return f"({_length_term(length)} - 1) * {self.hop_length}{tail}"

    def input_spec(self) -> InputSpec:
        """A complex spectrogram ``(batch, [channels,] n_freq, frames, 2)`` of at least :attr:`min_frames` frames."""
        return InputSpec(("bins", "frames", "complex"), min_length=self.min_frames,
                         sizes={"bins": self.n_freq, "complex": 2}, values="real")

    def forward(self, spec: torch.Tensor, length: int | None = None) -> torch.Tensor:
        spec = to_compute_dtype(_as_real_pairs(spec, "spec"), self)
        if not is_tracing():
            if spec.shape[-3] != self.n_freq:
                raise InputError(f"spec has {spec.shape[-3]} frequency bins (dim -3); n_fft={self.n_fft} needs {self.n_freq}")
            if length is not None and (not isinstance(length, int) or length < 1):
                raise InputError(f"length must be a positive integer or None, got {length!r}")
        shape = spec.shape
        z = torch.cat([spec[..., 0], spec[..., 1]], dim=-2).reshape(-1, 2 * self.n_freq, shape[-2])
        y = torch.nn.functional.conv_transpose1d(z, self.kernel, stride=self.hop_length)
        if self.window_norm == "envelope":
            envelope = torch.nn.functional.conv_transpose1d(
                torch.ones_like(z[:1, :1, :]), self.window_square, stride=self.hop_length
            )
            # Where no window overlaps (e.g. its zero ends), leave the samples as overlap-add gave them.
            y = y / torch.where(envelope > 1e-11, envelope, torch.ones_like(envelope))
        start = self.pad + (self.n_fft // 2 if self.center else 0)
        if length is None:
            end = y.shape[-1] - start - self._tail
            y = y[..., start:end]
        else:
            y = y[..., start : start + length]
            if not is_tracing() and y.shape[-1] < length:
                y = torch.nn.functional.pad(y, (0, length - y.shape[-1]))
        return y.reshape(shape[:-3] + (y.shape[-1],))


class Magnitude(nn.Module):
    """``|z| ** power`` of a complex spectrogram: ``(..., freq, frames, 2) -> (..., freq, frames)``.

    Example::

        >>> Magnitude()(Spectrogram(n_fft=64, power=None)(torch.randn(1000))).shape
        torch.Size([33, 32])
    """

    def __init__(self, power: float = 1.0):
        super().__init__()
        self.power = _check_power(power)
        if self.power is None:
            raise ConfigError("power must be a positive number for Magnitude, got None")

    def input_spec(self) -> InputSpec:
        return InputSpec(("bins", "frames", "complex"), sizes={"complex": 2}, values="real")

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        spec = _as_real_pairs(spec, "spec")
        return _complex_to_power(spec[..., 0], spec[..., 1], self.power)

    def frame_specs(self) -> list[FrameSpec]:
        """One frame-wise step (each frame on its own); frames sit at dim -2 of the input."""
        return [FrameSpec(compute=self.forward, time_axis=-2, output_time_axis=-1, name="magnitude")]


def _atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``atan2(y, x)`` spelled out, so the graph has torch's branch cut.

    The ONNX exporter lowers ``torch.atan2`` to ``Atan(y / x)`` plus ``pi`` when ``y > 0`` and
    ``-pi`` otherwise: ``-pi`` for ``y = 0, x < 0`` where torch gives ``+pi``. Here ``y >= 0`` takes
    ``+pi``; ``x = 0`` gives ``+-pi / 2`` by the sign of ``y`` and ``0`` for ``y = 0``.
    """
    safe = torch.where(x == 0, torch.ones_like(x), x)
    base = torch.atan(y / safe)
    left = torch.where(y >= 0, base + math.pi, base - math.pi)
    vertical = torch.where(y > 0, torch.full_like(y, math.pi / 2),
                           torch.where(y < 0, torch.full_like(y, -math.pi / 2), torch.zeros_like(y)))
    return torch.where(x < 0, left, torch.where(x == 0, vertical, base))


class Phase(nn.Module):
    """Phase angle in radians, ``atan2(imag, real)`` in ``[-pi, pi]``: ``(..., freq, frames, 2) -> (..., freq, frames)``.

    An imaginary part within float32 rounding of zero (``|imag| <= 1e-6 * |real|``, ``-0.0``
    included) counts as zero, so a negative real axis gives ``+pi``. That is where the branch cut
    lies: the DC and Nyquist bins of a real signal have an imaginary part that is exactly 0 from
    an FFT and ``+-1e-16``-ish from a DFT convolution, and ``atan2`` would give ``+pi`` for one and
    ``-pi`` for the other. The snap moves an angle by at most ``1e-6`` rad.

    ``approx_atan_terms=n`` computes it without an Atan op, by the ``n``-term continued fraction
    Kapre's ``approx_atan_accuracy`` uses (:func:`audiofront.frontend.approx.atan2_continued_fraction`,
    for runtimes without Atan; exports ``n`` unrolled steps).

    Example::

        >>> Phase()(Spectrogram(n_fft=64, power=None)(torch.randn(1000))).shape
        torch.Size([33, 32])
        >>> round(float(Phase()(torch.tensor([[[-1.0, -0.0]]]))), 4)
        3.1416
    """

    #: Outputs are angles: compare them modulo this period.
    output_period = 2.0 * math.pi

    def input_spec(self) -> InputSpec:
        return InputSpec(("bins", "frames", "complex"), sizes={"complex": 2}, values="real")

    def __init__(self, *, approx_atan_terms: int | None = None):
        super().__init__()
        if approx_atan_terms is not None and (
            isinstance(approx_atan_terms, bool) or not isinstance(approx_atan_terms, int) or approx_atan_terms < 1
        ):
            raise ConfigError(f"approx_atan_terms must be None or an integer >= 1, got {approx_atan_terms!r}")
        self.approx_atan_terms = approx_atan_terms

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        spec = _as_real_pairs(spec, "spec")
        if self.approx_atan_terms:
            return atan2_continued_fraction(spec[..., 1], spec[..., 0], self.approx_atan_terms)
        real, imag = spec[..., 0], spec[..., 1]
        zero = torch.zeros_like(imag)
        imag = torch.where(imag.abs() <= 1e-6 * real.abs(), zero, imag)
        real = torch.where(real == 0, zero, real)  # -0.0 too: atan2(+0, -0) would be pi
        return _atan2(imag, real)

    def frame_specs(self) -> list[FrameSpec]:
        """One frame-wise step (each frame on its own); frames sit at dim -2 of the input."""
        return [FrameSpec(compute=self.forward, time_axis=-2, output_time_axis=-1, name="phase")]
