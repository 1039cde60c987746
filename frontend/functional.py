"""The math of the front-end as pure functions.

Constant tensors (windows, DFT kernels, filterbanks, DCT and delta kernels) are computed in
float64 with numpy and handed to modules, which store them once as float32 buffers. The
tensor functions (``amplitude_to_db``, ``compute_deltas``...) use only ops that export to
plain ONNX (no STFT/DFT/window ops, no loops).

References: librosa 0.10 (``filters.mel``, ``core.spectrum``, ``feature.delta``) and
torchaudio 2.x ``functional`` for names and defaults.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from audiofront.errors import ConfigError
from audiofront.frontend.windows import TF_WINDOWS

__all__ = [
    "WINDOWS",
    "get_window",
    "pad_window",
    "dft_kernels",
    "idft_kernels",
    "hz_to_mel",
    "mel_to_hz",
    "mel_frequencies",
    "mel_filterbank",
    "log_filterbank",
    "log_normal_filterbank",
    "linear_filterbank",
    "note_filterbank",
    "random_filterbank",
    "create_dct",
    "delta_kernel",
    "amplitude_to_db",
    "compute_deltas",
    "DELTA_PAD_MODES",
    "frame_count",
]

WINDOWS = ("hann", "hamming", "blackman", "rectangular", "vorbis", "kaiser", "kaiser_bessel_derived")
_WINDOW_ALIASES = {"hanning": "hann", "boxcar": "rectangular", "ones": "rectangular", "rect": "rectangular"}


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def get_window(window, win_length: int) -> np.ndarray:
    """A periodic ("fftbins") analysis window of ``win_length`` samples, float64.

    ``window`` is one of :data:`WINDOWS` (``"vorbis"``, ``"kaiser"`` and ``"kaiser_bessel_derived"``
    follow ``tf.signal``, see :mod:`audiofront.frontend.windows`; ``("kaiser", beta)`` sets beta),
    an array/tensor of length ``win_length``, or a
    torchaudio-style ``window_fn`` (a callable such as ``torch.hann_window``, called with
    ``win_length``). Periodic windows are what ``scipy.signal.get_window(..., fftbins=True)``
    (librosa) and ``torch.hann_window(periodic=True)`` (torchaudio) give.
    """
    win_length = _positive_int("win_length", win_length)
    if callable(window) and not isinstance(window, (torch.Tensor, np.ndarray)):
        try:
            window = window(win_length)
        except Exception as exc:
            raise ConfigError(f"window: calling {getattr(window, '__name__', window)!r}({win_length}) failed: {exc}") from exc
    beta = None
    if isinstance(window, tuple) and len(window) == 2 and isinstance(window[0], str):
        # scipy's spelling of a parametrised window: ("kaiser", beta).
        window, beta = window
    if isinstance(window, (torch.Tensor, np.ndarray, list, tuple)):
        w = np.asarray(window.detach().cpu() if isinstance(window, torch.Tensor) else window, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != win_length:
            raise ConfigError(f"window must be 1-D with win_length={win_length} samples, got shape {tuple(w.shape)}")
        if not np.all(np.isfinite(w)):
            raise ConfigError("window must be finite")
        return w
    if not isinstance(window, str):
        raise ConfigError(f"window must be a name in {WINDOWS}, a 1-D tensor or a window function, got {type(window).__name__}")
    name = _WINDOW_ALIASES.get(window.lower(), window.lower())
    if name in TF_WINDOWS:
        # tf.signal's definitions (Kapre's windows): kaiser is symmetric, beta 12 unless given.
        return TF_WINDOWS[name](win_length) if beta is None or name == "vorbis" else TF_WINDOWS[name](win_length, beta)
    if beta is not None:
        raise ConfigError(f"window {window!r} takes no parameter; only 'kaiser' and 'kaiser_bessel_derived' do")
    if name not in WINDOWS:
        raise ConfigError(f"window must be one of {WINDOWS} or a tensor, got {window!r}")
    if win_length == 1:
        # A one-sample window is [1] (scipy, librosa and torch agree); the cosine formulas give 0.
        return np.ones(1)
    n = np.arange(win_length, dtype=np.float64)
    phase = 2.0 * np.pi * n / win_length
    if name == "hann":
        return 0.5 - 0.5 * np.cos(phase)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(phase)
    if name == "blackman":
        return 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
    if name == "rectangular":
        return np.ones(win_length)
    raise ConfigError(f"window must be one of {WINDOWS} or a tensor, got {window!r}")


def pad_window(window: np.ndarray, n_fft: int, align: str = "center") -> np.ndarray:
    """Zero-pad a window to ``n_fft`` samples: centred (``align="center"``, as librosa and torch.stft
    do) or at the start of the buffer (``"start"``, as ``tf.signal.stft`` zero-pads each frame at its end)."""
    win_length = window.shape[0]
    if win_length > n_fft:
        raise ConfigError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
    if align not in ("center", "start"):
        raise ConfigError(f"window_align must be 'center' or 'start', got {align!r}")
    left = (n_fft - win_length) // 2 if align == "center" else 0
    return np.pad(window, (left, n_fft - win_length - left))


def dft_kernels(n_fft: int, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windowed one-sided DFT kernels, each ``(n_fft // 2 + 1, n_fft)`` float64.

    ``real[k] @ frame`` and ``imag[k] @ frame`` are the real and imaginary parts of
    ``rfft(window * frame)[k]`` (sign convention of numpy/librosa: ``exp(-2j pi k n / N)``).
    """
    n_freq = n_fft // 2 + 1
    k = np.arange(n_freq)[:, None]
    n = np.arange(n_fft)[None, :]
    # Reduce k*n modulo n_fft before scaling: keeps the angle small, so cos/sin stay exact.
    angle = 2.0 * np.pi * ((k * n) % n_fft) / n_fft
    return np.cos(angle) * window[None, :], -np.sin(angle) * window[None, :]


def idft_kernels(n_fft: int, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernels of the windowed inverse one-sided DFT, each ``(n_fft // 2 + 1, n_fft)``.

    ``frame[n] = window[n] * sum_k (re[k] * real[k, n] + im[k] * imag[k, n])`` is ``irfft``
    followed by the synthesis window: bins other than DC and Nyquist count twice.
    """
    n_freq = n_fft // 2 + 1
    scale = np.full(n_freq, 2.0)
    scale[0] = 1.0
    if n_fft % 2 == 0:
        scale[-1] = 1.0
    k = np.arange(n_freq)[:, None]
    n = np.arange(n_fft)[None, :]
    angle = 2.0 * np.pi * ((k * n) % n_fft) / n_fft
    coef = scale[:, None] / n_fft
    return coef * np.cos(angle) * window[None, :], -coef * np.sin(angle) * window[None, :]


# --- mel scale (librosa.core.convert; Slaney's Auditory Toolbox and HTK) --------------------

_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies, mel_scale: str = "htk") -> np.ndarray:
    """Hz to mels: ``"htk"`` is ``2595 log10(1 + f/700)``; ``"slaney"`` is linear below 1 kHz, log above."""
    f = np.asarray(frequencies, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if mel_scale != "slaney":
        raise ConfigError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    mels = f / _F_SP
    log_region = f >= _MIN_LOG_HZ
    return np.where(log_region, _MIN_LOG_MEL + np.log(np.maximum(f, 1e-300) / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels, mel_scale: str = "htk") -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if mel_scale != "slaney":
        raise ConfigError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_frequencies(n_mels: int, f_min: float, f_max: float, mel_scale: str = "htk") -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``f_min`` to ``f_max``."""
    lo, hi = hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale)
    return mel_to_hz(np.linspace(lo, hi, n_mels), mel_scale)


def _check_band(sample_rate: float, n_fft: int, f_min: float, f_max: float | None) -> tuple[float, int, float, float]:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not sample_rate > 0:
        raise ConfigError(f"sample_rate must be a positive number, got {sample_rate!r}")
    n_fft = _positive_int("n_fft", n_fft, 2)
    nyquist = sample_rate / 2.0
    f_max = nyquist if f_max is None else float(f_max)
    if not 0.0 <= f_min < nyquist:
        raise ConfigError(f"f_min must be in [0, sample_rate/2 = {nyquist:g}), got {f_min!r}")
    if not f_min < f_max <= nyquist:
        raise ConfigError(f"f_max must be in (f_min = {f_min:g}, sample_rate/2 = {nyquist:g}], got {f_max!r}")
    return float(sample_rate), n_fft, float(f_min), f_max


def _bin_frequencies(sample_rate: float, n_fft: int) -> np.ndarray:
    """Centre frequency of each one-sided DFT bin, ``k * sample_rate / n_fft`` (``rfftfreq``).

    Not ``linspace(0, sample_rate / 2, n_freq)``: for odd ``n_fft`` the last bin is below Nyquist.
    """
    return np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)


def _triangles(fft_freqs: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Triangular filters with corners ``edges[i], edges[i+1], edges[i+2]``: ``(n_freq, len(edges) - 2)``."""
    fdiff = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper)).T


def _warn_empty(weights: np.ndarray, what: str) -> None:
    empty = np.flatnonzero(weights.max(axis=0) <= 0)
    if empty.size:
        warnings.warn(
            f"{what}: {empty.size} of {weights.shape[1]} filters are empty (all zero), e.g. index "
            f"{int(empty[0])}; use fewer filters or a larger n_fft",
            UserWarning,
            stacklevel=3,
        )


def mel_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    n_mels: int = 128,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    mel_scale: str = "htk",
) -> np.ndarray:
    """Triangular mel filterbank ``(n_fft // 2 + 1, n_mels)`` float64, equal to librosa's.

    Same numbers as ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min,
    fmax=f_max, htk=(mel_scale == "htk"), norm=norm).T``. ``norm="slaney"`` divides each
    triangle by its width in Hz (constant energy per channel, Slaney's Auditory Toolbox);
    ``mel_scale`` is ``"htk"`` (O'Shaughnessy's formula, torchaudio's default) or ``"slaney"``.
    Warns when a filter is empty (too many mels for this ``n_fft``).
    """
    sample_rate, n_fft, f_min, f_max = _check_band(sample_rate, n_fft, f_min, f_max)
    n_mels = _positive_int("n_mels", n_mels)
    p_norm = None
    if norm is not None and norm != "slaney":
        if isinstance(norm, bool) or not isinstance(norm, (int, float, np.number)) or not norm > 0:
            raise ConfigError(f"norm must be None, 'slaney' or a p-norm order > 0 (inf allowed), got {norm!r}")
        p_norm = float(norm)
    fft_freqs = _bin_frequencies(sample_rate, n_fft)
    edges = mel_frequencies(n_mels + 2, f_min, f_max, mel_scale)
    weights = _triangles(fft_freqs, edges)
    if norm == "slaney":
        weights = weights * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    elif p_norm is not None:
        weights = _normalize_columns(weights, p_norm)
    _warn_empty(weights, "mel_filterbank")
    return weights


def log_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    f_min: float = 32.70319566257483,
) -> np.ndarray:
    """Triangular filters centred on a log-frequency (constant-Q-like) grid: ``(n_freq, n_bins)``.

    Centre ``i`` is ``f_min * 2 ** (i / bins_per_octave)`` (default ``f_min`` is C1); each
    triangle reaches zero at its neighbours' centres. Peak 1, like an HTK mel filter.
    """
    n_bins = _positive_int("n_bins", n_bins)
    bins_per_octave = _positive_int("bins_per_octave", bins_per_octave)
    sample_rate, n_fft, f_min, _ = _check_band(sample_rate, n_fft, f_min, None)
    edges = f_min * 2.0 ** (np.arange(-1, n_bins + 1) / bins_per_octave)
    if edges[-2] > sample_rate / 2.0:
        raise ConfigError(
            f"n_bins={n_bins} at {bins_per_octave} bins/octave from f_min={f_min:g} Hz puts centres above "
            f"sample_rate/2 = {sample_rate / 2:g} Hz; use fewer bins or a lower f_min"
        )
    weights = _triangles(_bin_frequencies(sample_rate, n_fft), edges)
    _warn_empty(weights, "log_filterbank")
    return weights


def _normalize_columns(weights: np.ndarray, p: float) -> np.ndarray:
    """Each column over its p-norm; columns with a (near) zero norm stay as they are (librosa's ``util.normalize``)."""
    mag = np.abs(weights)
    length = mag.max(axis=0) if np.isinf(p) else np.sum(mag**p, axis=0) ** (1.0 / p)
    length = np.where(length < np.finfo(weights.dtype).tiny, 1.0, length)
    return weights / length[None, :]


def log_normal_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    f_min: float = 32.70319566,
    spread: float = 0.125,
) -> np.ndarray:
    """Kapre's log-frequency filterbank: a log-normal bump per bin, each L1-normalised: ``(n_freq, n_bins)``.

    Filter ``i`` is centred at ``c_i = f_min * 2 ** (i / bins_per_octave)`` with ``sigma = spread /
    bins_per_octave`` octaves: ``exp(-0.5 * ((log2 f - log2 c_i) / sigma) ** 2 - log2 sigma - log2 f)``
    on every bin but DC (which gets 0), then divided by its sum. From librosa 0.4's
    ``filters.logfrequency``, as ``kapre.backend.filterbank_log`` keeps it (its ``f_min`` default is
    Kapre's C1, 32.70319566). Raises when the top centre ``f_min * 2 ** (n_bins / bins_per_octave)``
    passes ``sample_rate // 2``, as Kapre does.
    """
    n_bins = _positive_int("n_bins", n_bins)
    bins_per_octave = _positive_int("bins_per_octave", bins_per_octave)
    sample_rate, n_fft, f_min, _ = _check_band(sample_rate, n_fft, f_min, None)
    if not f_min > 0:
        raise ConfigError(f"f_min must be > 0 for a log-frequency filterbank, got {f_min!r}")
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not spread > 0:
        raise ConfigError(f"spread must be a positive number (a fraction of a bin), got {spread!r}")
    top = f_min * 2.0 ** (n_bins / bins_per_octave)
    if top > sample_rate // 2:
        raise ConfigError(
            f"f_min * 2 ** (n_bins / bins_per_octave) = {top:g} Hz must be <= sample_rate // 2 = {sample_rate // 2:g}; "
            f"use fewer n_bins, more bins_per_octave or a lower f_min"
        )
    sigma = float(spread) / bins_per_octave
    log_freqs = np.log2(_bin_frequencies(sample_rate, n_fft)[1:])
    centres = np.log2(f_min * 2.0 ** (np.arange(n_bins) / bins_per_octave))
    basis = np.zeros((n_fft // 2 + 1, n_bins))
    basis[1:] = np.exp(-0.5 * ((log_freqs[:, None] - centres[None, :]) / sigma) ** 2 - np.log2(sigma) - log_freqs[:, None])
    return _normalize_columns(basis, 1.0)


def linear_filterbank(
    *, sample_rate: float, n_fft: int, n_bins: int = 64, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """Triangular filters evenly spaced in Hz from ``f_min`` to ``f_max``: ``(n_freq, n_bins)``."""
    n_bins = _positive_int("n_bins", n_bins)
    sample_rate, n_fft, f_min, f_max = _check_band(sample_rate, n_fft, f_min, f_max)
    edges = np.linspace(f_min, f_max, n_bins + 2)
    weights = _triangles(_bin_frequencies(sample_rate, n_fft), edges)
    _warn_empty(weights, "linear_filterbank")
    return weights


def note_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    f_min: float,
    f_max: float,
    bins_per_octave: int = 12,
    f_ref: float = 440.0,
) -> np.ndarray:
    """Triangles one FFT bin apart at the bottom, one per note above: ``(n_fft // 2 + 1, n_bins)`` float64.

    Centres step by one bin, ``f_min + i * sample_rate / n_fft``, while that is finer than the
    note grid (below the crossover ``df / (2 ** (1 / bins_per_octave) - 1)``, where a note step
    gets wider than a bin ``df``) and up to ``f_max``; above, they lie on the equal-tempered
    grid ``f_ref * 2 ** (k / bins_per_octave)``, from the first note at least one bin above the
    last linear centre up to the last note <= ``f_max``. Each triangle has peak 1 and reaches
    zero at its neighbours' centres (the lowest at ``max(f_min - df, 0)``, the highest at the
    next note). Low notes are resolved as far as the FFT allows; every note above the
    crossover has its own filter centred on it (the piano model's filterbank). No filter is
    ever empty: the bin-spaced triangles are two bins wide, the note-spaced ones wider.

    The idea of the "logarithmic filterbank with unique filters" of Böck & Schedl, "Polyphonic
    piano note transcription with recurrent neural networks", ICASSP 2012 (madmom's
    ``LogarithmicFilterbank``), which quantises log-spaced centres to FFT bins and drops the
    duplicates; here the bottom part is exactly one bin apart and the notes are not quantised.
    Bin frequencies are ``k * sample_rate / n_fft`` (right for odd ``n_fft`` too).

    Example::

        >>> note_filterbank(sample_rate=16000, n_fft=2048, f_min=23.0, f_max=7600.0).shape
        (1025, 84)
    """
    sample_rate, n_fft, f_min, f_max = _check_band(sample_rate, n_fft, f_min, f_max)
    if not f_min > 0.0:
        raise ConfigError(f"f_min must be > 0 (the bottom filters step up from it), got {f_min!r}")
    bins_per_octave = _positive_int("bins_per_octave", bins_per_octave)
    if isinstance(f_ref, bool) or not isinstance(f_ref, (int, float)) or not 0.0 < f_ref < math.inf:
        raise ConfigError(f"f_ref must be a positive finite frequency in Hz, got {f_ref!r}")
    df = sample_rate / n_fft
    crossover = df / (2.0 ** (1.0 / bins_per_octave) - 1.0)
    # At least f_min itself; more while below the crossover and within f_max.
    n_linear = max(1, math.ceil((crossover - f_min) / df))
    linear = f_min + df * np.arange(n_linear)
    linear = linear[linear <= f_max]
    k0 = int(np.ceil(bins_per_octave * np.log2((linear[-1] + df) / f_ref)))
    k1 = int(np.floor(bins_per_octave * np.log2(f_max / f_ref)))
    # Notes k0..k1 are centres; the next note (k1 + 1, or k0 when none fits) is the top edge.
    notes = f_ref * 2.0 ** (np.arange(k0, max(k0, k1 + 1) + 1) / bins_per_octave)
    edges = np.concatenate([[max(linear[0] - df, 0.0)], linear, notes])
    return _triangles(_bin_frequencies(sample_rate, n_fft), edges)


def random_filterbank(*, n_freq: int, n_bins: int, seed: int = 0) -> np.ndarray:
    """Non-negative random filters ``(n_freq, n_bins)``, columns summing to 1: a trainable start."""
    n_freq = _positive_int("n_freq", n_freq)
    n_bins = _positive_int("n_bins", n_bins)
    weights = np.random.default_rng(seed).uniform(0.0, 1.0, size=(n_freq, n_bins))
    return weights / weights.sum(axis=0, keepdims=True)


def create_dct(n_mfcc: int, n_mels: int, norm: str | None = "ortho") -> np.ndarray:
    """DCT-II matrix ``(n_mels, n_mfcc)`` float64: ``mels @ dct`` is ``scipy.fft.dct(mels, type=2, norm)``.

    ``norm="htk"`` scales every coefficient by ``sqrt(2 / n_mels)`` (HTK's MFCC, and
    ``tf.signal.mfccs_from_log_mel_spectrograms``, Kapre's ``LogmelToMFCC``): like ``"ortho"`` but
    ``c0`` is ``sqrt(2)`` larger.
    """
    n_mels = _positive_int("n_mels", n_mels)
    n_mfcc = _positive_int("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ConfigError(f"n_mfcc ({n_mfcc}) must be <= n_mels ({n_mels})")
    if norm not in (None, "ortho", "htk"):
        raise ConfigError(f"norm must be None, 'ortho' or 'htk', got {norm!r}")
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    dct = 2.0 * np.cos(np.pi / n_mels * (n + 0.5) * k)
    if norm == "htk":
        return dct / math.sqrt(2.0 * n_mels)
    if norm == "ortho":
        dct[:, 0] *= math.sqrt(1.0 / (4.0 * n_mels))
        dct[:, 1:] *= math.sqrt(1.0 / (2.0 * n_mels))
    return dct


def delta_kernel(win_length: int) -> np.ndarray:
    """Regression kernel of a delta over ``win_length`` (odd, >= 3) frames, float64.

    ``sum_n n * x[t + n] / sum_n n**2`` for ``n = -N..N``: the local least-squares slope, the same
    numbers as ``librosa.feature.delta(width=win_length, mode="nearest")`` (a Savitzky-Golay
    first derivative of order 1).
    """
    if isinstance(win_length, bool) or not isinstance(win_length, (int, np.integer)) or win_length < 3 or win_length % 2 == 0:
        raise ConfigError(f"win_length must be an odd integer >= 3, got {win_length!r}")
    half = (win_length - 1) // 2
    n = np.arange(-half, half + 1, dtype=np.float64)
    return n / np.sum(n * n)


def amplitude_to_db(
    x: torch.Tensor,
    multiplier: float,
    amin: float,
    db_multiplier: float,
    top_db: float | None = None,
    peak_dims: tuple[int, ...] = (-2, -1),
) -> torch.Tensor:
    """``multiplier * log10(max(x, amin)) - multiplier * db_multiplier``, clipped to ``top_db`` below the peak.

    ``x`` is ``(..., freq, frames)``; the peak for ``top_db`` is taken per item over ``peak_dims``
    (default its last two dims; ``(-3, -2, -1)`` takes it jointly over channels, as Kapre does), so
    one example never depends on the rest of its batch.
    """
    # One Log and one Mul (log10 would add a Div pass over the whole tensor when exported);
    # the offset only where there is one.
    db = torch.log(torch.clamp(x, min=amin)) * (multiplier / math.log(10.0))
    if db_multiplier != 0.0:
        db = db - multiplier * db_multiplier
    if top_db is not None:
        peak = db.amax(dim=peak_dims, keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


DELTA_PAD_MODES = ("replicate", "symmetric", "reflect", "constant")


def compute_deltas(x: torch.Tensor, kernel: torch.Tensor, mode: str = "replicate") -> torch.Tensor:
    """Deltas along the last dim of ``x`` ``(..., frames)`` with an odd ``kernel``.

    ``mode`` pads the ``half = len(kernel) // 2`` frames beyond each edge: ``"replicate"`` repeats
    the edge frame (librosa ``mode="nearest"``, torchaudio); ``"symmetric"`` mirrors with the edge
    (``[b a | a b c | c b]``) and ``"reflect"`` without it (``[c b | a b c | b a]``), as
    ``numpy.pad`` / ``tf.pad`` (Kapre's ``Delta`` defaults to ``"symmetric"``); ``"constant"``
    pads zeros. ``"symmetric"`` needs ``frames >= half``, ``"reflect"`` ``frames > half``.
    """
    if mode not in DELTA_PAD_MODES:
        raise ConfigError(f"mode must be one of {DELTA_PAD_MODES}, got {mode!r}")
    shape = x.shape
    half = kernel.shape[-1] // 2
    flat = x.reshape(-1, 1, shape[-1])
    # Padding by slicing and concatenation: exports as Slice/Expand/Concat, which every runtime takes.
    if mode == "replicate":
        left = flat[..., :1].expand(-1, -1, half)
        right = flat[..., -1:].expand(-1, -1, half)
    elif mode == "constant":
        left = right = torch.zeros_like(flat[..., :1]).expand(-1, -1, half)
    else:
        skip = 1 if mode == "reflect" else 0
        left = flat[..., skip : skip + half].flip(-1)
        right = flat[..., shape[-1] - half - skip : shape[-1] - skip].flip(-1)
    padded = torch.cat([left, flat, right], dim=-1)
    out = torch.nn.functional.conv1d(padded, kernel.reshape(1, 1, -1))
    return out.reshape(shape)


def frame_count(length: int, n_fft: int, hop_length: int, center: bool, pad: int = 0) -> int:
    """Frames an STFT gives for ``length`` samples: ``1 + (length + 2*pad [+ 2*(n_fft//2)] - n_fft) // hop``."""
    padded = length + 2 * pad + (2 * (n_fft // 2) if center else 0)
    return 1 + (padded - n_fft) // hop_length
