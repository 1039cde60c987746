"""Kaldi's filterbank front-end as modules: framing, windows, dither, DC removal, pre-emphasis, mel banks, log.

``KaldiFbank`` equals Kaldi's ``compute-fbank-feats`` (and ``kaldi-native-fbank``,
``torchaudio.compliance.kaldi.fbank``) without energy or VTLN, in audiofront's layout
``(..., num_mel_bins, frames)``. ``KaldiSpectrogram`` folds DC removal, pre-emphasis and the
window into the DFT kernels (they are linear in the frame), so the whole per-frame chain is one
strided convolution that exports to ONNX and TensorRT; the step-by-step modules
(``KaldiFraming``, ``RemoveDCOffset``, ``PreEmphasis``, ``Dither``) give the same numbers and
serve where a frame-level stage is wanted.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend import kaldi_functional as KF
from audiofront.frontend.filterbanks import Filterbank
from audiofront.frontend.framewise import FrameSpec, pointwise
from audiofront.frontend.inputs import check_waveform, is_tracing, to_compute_dtype

__all__ = [
    "KaldiFraming",
    "RemoveDCOffset",
    "PreEmphasis",
    "Dither",
    "KaldiSpectrogram",
    "KaldiMelScale",
    "LogWithFloor",
    "KaldiFbank",
]


def _samples(name: str, ms, sample_frequency: float) -> int:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms > 0 or not math.isfinite(ms):
        raise ConfigError(f"{name} must be a positive number of milliseconds, got {ms!r}")
    # Kaldi: static_cast<int32>(samp_freq * 0.001 * ms), i.e. truncation.
    samples = int(sample_frequency * 0.001 * ms)
    if samples < 1:
        raise ConfigError(f"{name}={ms} ms is less than one sample at {sample_frequency:g} Hz")
    return samples


def _rate(sample_frequency) -> float:
    if isinstance(sample_frequency, bool) or not isinstance(sample_frequency, (int, float)) or not sample_frequency > 0:
        raise ConfigError(f"sample_frequency must be a positive number, got {sample_frequency!r}")
    return float(sample_frequency)


class KaldiFraming(nn.Module):
    """Kaldi frames: ``(..., time) -> (..., frames, frame_length)`` (samples, not milliseconds).

    ``snip_edges=True`` keeps only frames that fit; ``False`` centres frame ``f`` on
    ``frame_shift * (f + 1/2)`` and mirrors the signal at both ends (Kaldi's two framings).

    Example::

        >>> KaldiFraming(400, 160)(torch.randn(2, 16000)).shape
        torch.Size([2, 98, 400])
    """

    def __init__(self, frame_length: int = 400, frame_shift: int = 160, snip_edges: bool = True):
        super().__init__()
        self.frame_length = KF._int("frame_length", frame_length)
        self.frame_shift = KF._int("frame_shift", frame_shift)
        self.snip_edges = bool(snip_edges)

    @property
    def min_length(self) -> int:
        return self.frame_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, self.min_length)
        return KF.frame_signal(waveform, self.frame_length, self.frame_shift, self.snip_edges)


class RemoveDCOffset(nn.Module):
    """Subtract each frame's mean: ``(..., frames, frame_length)`` in and out.

    Example::

        >>> RemoveDCOffset()(torch.ones(3, 400)).abs().max().item()
        0.0
    """

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return KF.remove_dc_offset(frames)


class PreEmphasis(nn.Module):
    """Pre-emphasis with ``coefficient``: Kaldi's per-frame form or the plain waveform form.

    ``per_frame=True``: ``(..., frames, frame_length)``, each frame's first sample uses itself as
    predecessor (Kaldi). ``False``: ``(..., time)``, ``y[0] = x[0]`` (torchaudio's ``preemphasis``).

    Example::

        >>> [round(v, 4) for v in PreEmphasis(0.97, per_frame=False)(torch.ones(3)).tolist()]
        [1.0, 0.03, 0.03]
    """

    def __init__(self, coefficient: float = 0.97, *, per_frame: bool = True):
        super().__init__()
        self.coefficient = KF._coefficient("coefficient", coefficient)
        self.per_frame = bool(per_frame)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_frame:
            return KF.preemphasis_frames(x, self.coefficient)
        return KF.preemphasis(x, self.coefficient)


class Dither(nn.Module):
    """Gaussian dither of standard deviation ``amount``, in training only: any shape in and out.

    In eval mode (and so in every exported graph) it is the identity, as inference in Kaldi
    recipes runs with ``--dither=0``.

    Example::

        >>> d = Dither(1.0).eval()
        >>> x = torch.randn(4, 400)
        >>> bool((d(x) == x).all())
        True
    """

    def __init__(self, amount: float = 1.0):
        super().__init__()
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount >= 0 or not math.isfinite(amount):
            raise ConfigError(f"amount must be a non-negative number, got {amount!r}")
        self.amount = float(amount)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.amount == 0 or is_tracing():
            return x
        return KF.dither(x, self.amount)


class KaldiSpectrogram(nn.Module):
    """Kaldi's power spectrum: ``(..., time) -> (..., n_fft // 2 + 1, frames)``, ``n_fft`` the padded window size.

    Per frame, as Kaldi's ``ProcessWindow``: dither (training only), DC removal, pre-emphasis,
    window, zero-fill to ``n_fft`` (window left-aligned), ``|rfft|**power``. Arguments follow
    ``torchaudio.compliance.kaldi.fbank`` (``frame_length`` / ``frame_shift`` in ms, Kaldi's
    defaults); ``input_scale`` multiplies the waveform first (32768 turns audio in [-1, 1] into
    the int16 values Kaldi recipes use), folded into the kernels for free.

    Example::

        >>> KaldiSpectrogram()(torch.randn(2, 16000)).shape
        torch.Size([2, 257, 98])
    """

    def __init__(self, sample_frequency: float = 16000.0, frame_length: float = 25.0, frame_shift: float = 10.0,
                 window_type: str = "povey", *, round_to_power_of_two: bool = True, snip_edges: bool = True,
                 dither: float = 0.0, preemphasis_coefficient: float = 0.97, remove_dc_offset: bool = True,
                 blackman_coeff: float = 0.42, power: float = 2.0, input_scale: float = 1.0):
        super().__init__()
        self.sample_frequency = _rate(sample_frequency)
        self.win_length = _samples("frame_length", frame_length, self.sample_frequency)
        self.hop_length = _samples("frame_shift", frame_shift, self.sample_frequency)
        self.n_fft = KF.padded_window_size(self.win_length, round_to_power_of_two)
        if self.n_fft < 2:
            raise ConfigError(f"frame_length={frame_length} ms gives {self.win_length} sample(s); need at least 2")
        self.n_freq = self.n_fft // 2 + 1
        self.snip_edges = bool(snip_edges)
        self.center = False
        self.pad = 0
        self.window_type = window_type
        if power not in (1.0, 2.0) or isinstance(power, bool):
            raise ConfigError(f"power must be 1 (magnitude) or 2 (power, Kaldi's use_power), got {power!r}")
        self.power = float(power)
        if isinstance(input_scale, bool) or not isinstance(input_scale, (int, float)) or not input_scale > 0:
            raise ConfigError(f"input_scale must be a positive number, got {input_scale!r}")
        self.input_scale = float(input_scale)
        self.dither = Dither(dither)
        window = KF.kaldi_window(window_type, self.win_length, blackman_coeff=blackman_coeff)
        transform = KF.frame_transform(self.win_length, window=window, preemphasis_coefficient=preemphasis_coefficient,
                                       remove_dc_offset=remove_dc_offset)
        real, imag = KF.kaldi_dft_kernels(self.win_length, self.n_fft, transform)
        kernel = np.concatenate([real, imag])[:, None, :] * self.input_scale
        self.register_buffer("kernel", torch.from_numpy(kernel).float())
        self._offset = KF.kaldi_frame_offset(self.win_length, self.hop_length, self.snip_edges)

    @property
    def min_length(self) -> int:
        """The fewest samples an input may have (one frame)."""
        return self.win_length

    def frames(self, length: int) -> int:
        """Frames this module gives for ``length`` input samples."""
        return KF.kaldi_frame_count(length, self.win_length, self.hop_length, self.snip_edges)

    def frames_formula(self, length: str = "time") -> str:
        """:meth:`frames` as text in terms of ``time`` (the export metadata's ``frames``)."""
        if self.snip_edges:
            return f"1 + ({length} - {self.win_length}) // {self.hop_length}"
        return f"({length} + {self.hop_length // 2}) // {self.hop_length}"

    def extra_repr(self) -> str:
        return (f"sample_frequency={self.sample_frequency:g}, win_length={self.win_length}, hop_length={self.hop_length}, "
                f"n_fft={self.n_fft}, window_type={self.window_type!r}, snip_edges={self.snip_edges}")

    def frame_specs(self) -> list[FrameSpec]:
        """Streaming: one step of ``win_length`` samples every ``hop_length`` (snip-edges framing only:
        ``snip_edges=False`` mirrors samples at both ends, the end unknown until the stream stops)."""
        if not self.snip_edges:
            raise ConfigError("KaldiSpectrogram(snip_edges=False) cannot be streamed: Kaldi mirrors the signal at "
                              "its end, unknown until the stream stops; use snip_edges=True")
        return [FrameSpec(compute=self.forward, window=self.win_length, hop=self.hop_length, name="kaldi-frames")]

    def _mirrored(self, x: torch.Tensor) -> torch.Tensor:
        # snip_edges=False: Kaldi mirrors the signal (edge sample repeated) before the first and
        # after the last sample. A frame needs at most win_length samples past the end.
        if self._offset < 0:
            left = torch.flip(x[..., : -self._offset], dims=[-1])
            x_start = x
        else:
            left, x_start = x[..., :0], x[..., self._offset:]
        right = torch.flip(x[..., -self.win_length:], dims=[-1])
        return torch.cat([left, x_start, right], dim=-1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        check_waveform(waveform, self.min_length)
        shape = waveform.shape
        x = to_compute_dtype(waveform, self).reshape(-1, 1, shape[-1])
        if not self.snip_edges:
            x = self._mirrored(x)
        y = torch.nn.functional.conv1d(x, self.kernel, stride=self.hop_length)
        if not self.snip_edges:
            y = y[..., : (shape[-1] + self.hop_length // 2) // self.hop_length]
        if self.training and self.dither.amount > 0 and not is_tracing():
            # Kaldi dithers each frame on its own: add the noise frames' transforms (linear, so exact).
            noise = torch.randn(y.shape[0], y.shape[-1], self.win_length, dtype=y.dtype, device=y.device)
            y = y + torch.einsum("nfl,cl->ncf", noise * (self.dither.amount / self.input_scale), self.kernel[:, 0, :])
        re, im = y[:, : self.n_freq], y[:, self.n_freq:]
        energy = re * re + im * im
        out = energy if self.power == 2.0 else torch.sqrt(energy)
        return out.reshape(shape[:-1] + out.shape[-2:])


class KaldiMelScale(Filterbank):
    """Kaldi's mel banks over a padded-FFT spectrum: ``(..., n_fft // 2 + 1, frames) -> (..., num_mel_bins, frames)``.

    Triangles linear in Kaldi's mel (``1127 ln(1 + f/700)``) from ``low_freq`` to ``high_freq``
    (``<= 0``: an offset from Nyquist); see :func:`~audiofront.frontend.kaldi_functional.kaldi_mel_banks`.

    Example::

        >>> KaldiMelScale(num_mel_bins=80, n_fft=512)(torch.rand(2, 257, 98)).shape
        torch.Size([2, 80, 98])
    """

    def __init__(self, num_mel_bins: int = 23, sample_frequency: float = 16000.0, n_fft: int = 512,
                 low_freq: float = 20.0, high_freq: float = 0.0):
        weights = KF.kaldi_mel_banks(num_bins=num_mel_bins, n_fft=n_fft, sample_rate=sample_frequency,
                                     low_freq=low_freq, high_freq=high_freq)
        super().__init__(weights)
        self.n_mels = int(num_mel_bins)
        self.sample_rate = sample_frequency
        self.low_freq, self.high_freq = float(low_freq), float(high_freq)


class LogWithFloor(nn.Module):
    """``log(max(x, floor))``: natural log with Kaldi's ``FLT_EPSILON``, or log10 (Whisper, floor 1e-10). Any shape.

    Example::

        >>> LogWithFloor()(torch.tensor([0.0, 1.0])).tolist()
        [-15.942384719848633, 0.0]
    """

    def __init__(self, floor: float = KF.FLT_EPSILON, base: str = "e"):
        super().__init__()
        KF.log_with_floor(torch.ones(1), floor, base)  # validates the arguments
        self.floor = float(floor)
        self.base = base

    def extra_repr(self) -> str:
        return f"floor={self.floor:g}, base={self.base!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return KF.log_with_floor(x, self.floor, self.base)


class KaldiFbank(nn.Module):
    """Kaldi log mel filterbank features: ``(..., time) -> (..., num_mel_bins, frames)``.

    ``KaldiSpectrogram`` then ``KaldiMelScale`` then ``log(max(., FLT_EPSILON))`` (``use_log_fbank``).
    The numbers equal ``kaldi_native_fbank.OnlineFbank`` / ``torchaudio.compliance.kaldi.fbank``
    with the same options (transposed: frames last). No energy term and no VTLN.

    Example::

        >>> KaldiFbank(num_mel_bins=80)(torch.randn(2, 16000)).shape
        torch.Size([2, 80, 98])
    """

    def __init__(self, sample_frequency: float = 16000.0, num_mel_bins: int = 23, frame_length: float = 25.0,
                 frame_shift: float = 10.0, window_type: str = "povey", *, low_freq: float = 20.0,
                 high_freq: float = 0.0, round_to_power_of_two: bool = True, snip_edges: bool = True,
                 dither: float = 0.0, preemphasis_coefficient: float = 0.97, remove_dc_offset: bool = True,
                 blackman_coeff: float = 0.42, use_power: bool = True, use_log_fbank: bool = True,
                 input_scale: float = 1.0):
        super().__init__()
        self.spectrogram = KaldiSpectrogram(
            sample_frequency, frame_length, frame_shift, window_type, round_to_power_of_two=round_to_power_of_two,
            snip_edges=snip_edges, dither=dither, preemphasis_coefficient=preemphasis_coefficient,
            remove_dc_offset=remove_dc_offset, blackman_coeff=blackman_coeff, power=2.0 if use_power else 1.0,
            input_scale=input_scale)
        self.mel_scale = KaldiMelScale(num_mel_bins, sample_frequency, self.spectrogram.n_fft, low_freq, high_freq)
        self.log = LogWithFloor() if use_log_fbank else nn.Identity()
        self.sample_rate = int(sample_frequency) if float(sample_frequency).is_integer() else sample_frequency
        self.n_mels = int(num_mel_bins)

    def frames(self, length: int) -> int:
        return self.spectrogram.frames(length)

    def frame_specs(self) -> list[FrameSpec]:
        """Streaming: the framing of :class:`KaldiSpectrogram`, then mel and log frame by frame."""
        return self.spectrogram.frame_specs() + [pointwise(lambda x: self.log(self.mel_scale(x)), "kaldi-fbank")]

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.log(self.mel_scale(self.spectrogram(waveform)))
