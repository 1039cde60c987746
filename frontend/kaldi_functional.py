"""The math of Kaldi's filterbank front-end as pure functions (``compute-fbank-feats``).

Constant matrices (windows, the per-frame linear map, DFT kernels, mel banks) are float64 numpy;
the tensor functions use only ops that export to plain ONNX (Gather, Sub, Mul, ReduceMean, Log).

References: Kaldi ``src/feat/feature-window.{h,cc}`` (framing, windows, dither, DC removal,
pre-emphasis), ``src/feat/mel-computations.cc`` (mel banks), ``src/feat/feature-fbank.cc`` (log
with ``FLT_EPSILON`` floor); the names follow ``torchaudio.compliance.kaldi.fbank``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audiofront.errors import ConfigError

__all__ = [
    "KALDI_WINDOWS",
    "FLT_EPSILON",
    "kaldi_window",
    "padded_window_size",
    "kaldi_frame_count",
    "kaldi_frame_offset",
    "frame_signal",
    "remove_dc_offset",
    "preemphasis_frames",
    "preemphasis",
    "dither",
    "frame_transform",
    "kaldi_dft_kernels",
    "kaldi_hz_to_mel",
    "kaldi_mel_to_hz",
    "kaldi_mel_banks",
    "log_with_floor",
]

KALDI_WINDOWS = ("povey", "hanning", "hamming", "blackman", "rectangular", "sine")
#: ``std::numeric_limits<float>::epsilon()``: Kaldi's floor before the log of mel energies.
FLT_EPSILON = 1.1920928955078125e-07


def _int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _coefficient(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def kaldi_window(window_type: str, frame_length: int, *, blackman_coeff: float = 0.42) -> np.ndarray:
    """Kaldi's analysis window of ``frame_length`` samples, float64 (``FeatureWindowFunction``).

    Symmetric windows (``a = 2 pi / (frame_length - 1)``): ``"povey"`` is ``(0.5 - 0.5 cos(a n)) ** 0.85``,
    ``"hanning"`` ``0.5 - 0.5 cos(a n)``, ``"hamming"`` ``0.54 - 0.46 cos(a n)``, ``"blackman"``
    ``blackman_coeff - 0.5 cos(a n) + (0.5 - blackman_coeff) cos(2 a n)``, ``"sine"`` ``sin(a n / 2)``,
    ``"rectangular"`` ones. Unlike :func:`~audiofront.frontend.functional.get_window` these are
    not periodic: both ends are the same sample.

    Example::

        >>> kaldi_window("povey", 400)[[0, 199, 399]].round(4).tolist()
        [0.0, 1.0, 0.0]
    """
    frame_length = _int("frame_length", frame_length)
    if not isinstance(window_type, str) or window_type not in KALDI_WINDOWS:
        raise ConfigError(f"window_type must be one of {KALDI_WINDOWS}, got {window_type!r}")
    if isinstance(blackman_coeff, bool) or not isinstance(blackman_coeff, (int, float)) or not math.isfinite(blackman_coeff):
        raise ConfigError(f"blackman_coeff must be a finite number, got {blackman_coeff!r}")
    if frame_length == 1:
        # a = 2 pi / 0 is undefined; Kaldi would divide by zero. A one-sample frame keeps its sample.
        return np.ones(1)
    n = np.arange(frame_length, dtype=np.float64)
    a = 2.0 * np.pi / (frame_length - 1)
    if window_type == "hanning":
        return 0.5 - 0.5 * np.cos(a * n)
    if window_type == "povey":
        return np.power(np.maximum(0.5 - 0.5 * np.cos(a * n), 0.0), 0.85)
    if window_type == "hamming":
        return 0.54 - 0.46 * np.cos(a * n)
    if window_type == "blackman":
        return blackman_coeff - 0.5 * np.cos(a * n) + (0.5 - blackman_coeff) * np.cos(2.0 * a * n)
    if window_type == "sine":
        return np.sin(0.5 * a * n)
    return np.ones(frame_length)


def padded_window_size(frame_length: int, round_to_power_of_two: bool = True) -> int:
    """The FFT size Kaldi uses: the next power of two ``>= frame_length``, or ``frame_length``."""
    frame_length = _int("frame_length", frame_length)
    if not round_to_power_of_two:
        return frame_length
    return 1 << (frame_length - 1).bit_length()


def kaldi_frame_count(num_samples: int, frame_length: int, frame_shift: int, snip_edges: bool = True) -> int:
    """Frames Kaldi cuts from ``num_samples`` (``NumFrames``).

    ``snip_edges=True``: only frames that fit, ``1 + (num_samples - frame_length) // frame_shift``
    (0 when shorter than a frame). ``False``: ``(num_samples + frame_shift // 2) // frame_shift``
    frames centred on ``frame_shift * (f + 1/2)``, the signal mirrored at both ends.
    """
    num_samples = _int("num_samples", num_samples, 0)
    frame_length = _int("frame_length", frame_length)
    frame_shift = _int("frame_shift", frame_shift)
    if snip_edges:
        return 0 if num_samples < frame_length else 1 + (num_samples - frame_length) // frame_shift
    return (num_samples + frame_shift // 2) // frame_shift


def kaldi_frame_offset(frame_length: int, frame_shift: int, snip_edges: bool = True) -> int:
    """Sample index where frame 0 starts (negative: before the signal, mirrored); ``FirstSampleOfFrame(0)``."""
    return 0 if snip_edges else frame_shift // 2 - frame_length // 2


def _reflect(index: torch.Tensor, length) -> torch.Tensor:
    # Kaldi's mirror: s < 0 -> -s - 1; s >= n -> 2n - 1 - s (the edge sample repeats). One fold is
    # enough for any frame that overlaps the signal by at least half its length.
    index = torch.where(index < 0, -index - 1, index)
    return torch.where(index >= length, 2 * length - 1 - index, index)


def frame_signal(waveform: torch.Tensor, frame_length: int, frame_shift: int, snip_edges: bool = True) -> torch.Tensor:
    """Cut ``(..., time)`` into Kaldi frames ``(..., frames, frame_length)`` (``ExtractWindow``'s framing).

    ``snip_edges`` as :func:`kaldi_frame_count`. One Gather: exports with a dynamic ``time``.

    Example::

        >>> frame_signal(torch.arange(10.0), 4, 3).tolist()
        [[0.0, 1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0], [6.0, 7.0, 8.0, 9.0]]
    """
    length = waveform.shape[-1]
    if snip_edges:
        frames = (length - frame_length) // frame_shift + 1
    else:
        frames = (length + frame_shift // 2) // frame_shift
    offset = kaldi_frame_offset(frame_length, frame_shift, snip_edges)
    starts = torch.arange(frames, device=waveform.device) * frame_shift + offset
    index = starts[:, None] + torch.arange(frame_length, device=waveform.device)[None, :]
    if not snip_edges:
        index = _reflect(index, length)
    return waveform[..., index]


def remove_dc_offset(frames: torch.Tensor) -> torch.Tensor:
    """Subtract each frame's mean: ``(..., frames, frame_length)`` in and out (Kaldi ``remove_dc_offset``)."""
    return frames - frames.mean(dim=-1, keepdim=True)


def preemphasis_frames(frames: torch.Tensor, coefficient: float = 0.97) -> torch.Tensor:
    """Kaldi's per-frame pre-emphasis ``y[i] = x[i] - c x[i-1]``, ``y[0] = x[0] - c x[0]``.

    ``(..., frames, frame_length)`` in and out; each frame is emphasised on its own, so the first
    sample uses itself as its predecessor (``Preemphasize`` in feature-window.cc).
    """
    c = _coefficient("coefficient", coefficient)
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    return frames - c * previous


def preemphasis(waveform: torch.Tensor, coefficient: float = 0.97) -> torch.Tensor:
    """Pre-emphasis of a whole waveform: ``y[t] = x[t] - c x[t-1]``, ``y[0] = x[0]`` (``torchaudio.functional.preemphasis``).

    ``(..., time)`` in and out.
    """
    c = _coefficient("coefficient", coefficient)
    return torch.cat([waveform[..., :1], waveform[..., 1:] - c * waveform[..., :-1]], dim=-1)


def dither(frames: torch.Tensor, amount: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``amount`` to every sample of every frame (Kaldi ``Dither``)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount >= 0 or not math.isfinite(amount):
        raise ConfigError(f"dither must be a non-negative number, got {amount!r}")
    if amount == 0:
        return frames
    noise = torch.randn(frames.shape, generator=generator, dtype=frames.dtype, device=frames.device)
    return frames + amount * noise


def frame_transform(frame_length: int, *, window: np.ndarray, preemphasis_coefficient: float = 0.97,
                    remove_dc_offset: bool = True) -> np.ndarray:
    """The per-frame processing as one ``(frame_length, frame_length)`` float64 matrix ``T``.

    DC removal, pre-emphasis and the window are each linear in the frame, so Kaldi's
    ``ProcessWindow`` (after dither) is ``processed = T @ frame`` with
    ``T = diag(window) @ P @ D``. Folding ``T`` into the DFT kernels makes the whole front-end
    one strided convolution.
    """
    frame_length = _int("frame_length", frame_length)
    c = _coefficient("preemphasis_coefficient", preemphasis_coefficient)
    window = np.asarray(window, dtype=np.float64)
    if window.shape != (frame_length,):
        raise ConfigError(f"window must have frame_length={frame_length} samples, got shape {window.shape}")
    eye = np.eye(frame_length)
    d = eye - 1.0 / frame_length if remove_dc_offset else eye
    p = eye.copy()
    if c:
        p[np.arange(1, frame_length), np.arange(frame_length - 1)] = -c
        p[0, 0] = 1.0 - c
    return window[:, None] * (p @ d)


def kaldi_dft_kernels(frame_length: int, n_fft: int, transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DFT kernels ``(n_fft // 2 + 1, frame_length)`` of the processed frame, left-aligned in ``n_fft``.

    Kaldi puts the ``frame_length`` processed samples at the start of an ``n_fft`` buffer and
    zero-fills the rest, so only the first ``frame_length`` DFT taps matter:
    ``real @ frame = Re(rfft(pad(T @ frame, n_fft)))``.
    """
    frame_length = _int("frame_length", frame_length)
    n_fft = _int("n_fft", n_fft, 2)
    if n_fft < frame_length:
        raise ConfigError(f"n_fft ({n_fft}) must be >= frame_length ({frame_length})")
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(frame_length)[None, :]
    angle = 2.0 * np.pi * ((k * n) % n_fft) / n_fft
    return np.cos(angle) @ transform, -np.sin(angle) @ transform


def kaldi_hz_to_mel(frequencies) -> np.ndarray:
    """Kaldi's mel scale: ``1127 ln(1 + f / 700)`` (``MelScale`` in mel-computations.h)."""
    return 1127.0 * np.log1p(np.asarray(frequencies, dtype=np.float64) / 700.0)


def kaldi_mel_to_hz(mels) -> np.ndarray:
    """Inverse of :func:`kaldi_hz_to_mel`."""
    return 700.0 * np.expm1(np.asarray(mels, dtype=np.float64) / 1127.0)


def kaldi_mel_banks(*, num_bins: int, n_fft: int, sample_rate: float, low_freq: float = 20.0,
                    high_freq: float = 0.0) -> np.ndarray:
    """Kaldi's mel banks ``(n_fft // 2 + 1, num_bins)`` float64 (``MelBanks``, no VTLN).

    Triangles linear in mel (not in Hz): bin ``i`` rises from ``mel_low + i * delta`` to
    ``mel_low + (i + 1) * delta`` and falls to ``mel_low + (i + 2) * delta``, ``delta =
    (mel_high - mel_low) / (num_bins + 1)``; peak 1, no area normalisation. ``high_freq <= 0``
    is an offset from Nyquist (Kaldi's convention: 0 is Nyquist, -200 is Nyquist - 200 Hz).
    The Nyquist bin's row is zero: Kaldi's banks cover FFT bins ``0 .. n_fft / 2 - 1``.

    Example::

        >>> kaldi_mel_banks(num_bins=23, n_fft=512, sample_rate=16000).shape
        (257, 23)
    """
    num_bins = _int("num_bins", num_bins, 1)
    n_fft = _int("n_fft", n_fft, 2)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not sample_rate > 0:
        raise ConfigError(f"sample_rate must be a positive number, got {sample_rate!r}")
    nyquist = 0.5 * sample_rate
    for name, value in (("low_freq", low_freq), ("high_freq", high_freq)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
    high = high_freq if high_freq > 0 else high_freq + nyquist
    if not (0.0 <= low_freq < nyquist and low_freq < high <= nyquist):
        raise ConfigError(
            f"need 0 <= low_freq < high_freq <= Nyquist ({nyquist:g} Hz; high_freq <= 0 counts back from "
            f"Nyquist), got low_freq={low_freq!r}, high_freq={high_freq!r} (= {high:g} Hz)"
        )
    n_freq = n_fft // 2 + 1
    mel = kaldi_hz_to_mel(np.arange(n_fft // 2) * (sample_rate / n_fft))[:, None]
    mel_low, mel_high = kaldi_hz_to_mel(low_freq), kaldi_hz_to_mel(high)
    delta = (mel_high - mel_low) / (num_bins + 1)
    left = mel_low + np.arange(num_bins)[None, :] * delta
    center, right = left + delta, left + 2.0 * delta
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    weights = np.where((mel > left) & (mel < right), np.where(mel <= center, up, down), 0.0)
    out = np.zeros((n_freq, num_bins))
    out[: n_fft // 2] = weights
    return out


def log_with_floor(x: torch.Tensor, floor: float = FLT_EPSILON, base: str = "e") -> torch.Tensor:
    """``log(max(x, floor))``: natural log with Kaldi's ``FLT_EPSILON`` floor, or ``base="10"`` (Whisper: floor 1e-10).

    Any shape in and out.
    """
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not floor > 0:
        raise ConfigError(f"floor must be a positive number, got {floor!r}")
    if base not in ("e", "10"):
        raise ConfigError(f"base must be 'e' or '10', got {base!r}")
    y = torch.clamp(x, min=floor)
    return torch.log(y) if base == "e" else torch.log10(y)
