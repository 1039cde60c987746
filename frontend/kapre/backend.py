"""``kapre.backend`` in torch: filterbanks, decibels, mu-law and window names, with Kapre's arguments.

Each function takes Kapre's argument names and defaults and gives Kapre 0.4.1's numbers
(checked against the real Kapre in tests/frontend/kapre); the math is audiofront's own
(:mod:`audiofront.frontend.functional`, :mod:`~audiofront.frontend.companding`).
"""

from __future__ import annotations

import math

import torch

from audiofront.errors import ConfigError
from audiofront.frontend import functional as F
from audiofront.frontend.companding import mu_law_decoding as _mu_decode
from audiofront.frontend.companding import mu_law_encoding as _mu_encode

__all__ = [
    "CH_FIRST",
    "CH_LAST",
    "WINDOW_NAMES",
    "resolve_data_format",
    "window_name_to_audiofront",
    "get_window_fn",
    "filterbank_mel",
    "filterbank_log",
    "magnitude_to_decibel",
    "mu_law_encoding",
    "mu_law_decoding",
]

CH_FIRST, CH_LAST = "channels_first", "channels_last"

# tf.signal window functions Kapre accepts by name -> audiofront's names (same definitions).
WINDOW_NAMES = {
    "hann_window": "hann",
    "hamming_window": "hamming",
    "vorbis_window": "vorbis",
    "kaiser_window": "kaiser",
    "kaiser_bessel_derived_window": "kaiser_bessel_derived",
}


def resolve_data_format(data_format: str, name: str = "data_format") -> str:
    """``'default'`` is ``'channels_last'`` (Keras' default ``image_data_format``); others pass through."""
    if data_format == "default":
        return CH_LAST
    if data_format not in (CH_FIRST, CH_LAST):
        raise ConfigError(f"{name} must be 'default', 'channels_first' or 'channels_last', got {data_format!r}")
    return data_format


def window_name_to_audiofront(window_name: str | None) -> str:
    """Kapre's ``window_name`` (``None`` is ``'hann_window'``) -> the name :func:`functional.get_window` takes."""
    if window_name is None:
        return "hann"
    if window_name not in WINDOW_NAMES:
        raise ConfigError(f"window_name must be None or one of {sorted(WINDOW_NAMES)}, got {window_name!r}")
    return WINDOW_NAMES[window_name]


def get_window_fn(window_name: str | None = None):
    """A callable ``length -> (length,) float32 tensor``, like ``tf.signal.hann_window`` (periodic).

    Example::

        >>> get_window_fn("hann_window")(4).tolist()
        [0.0, 0.5, 1.0, 0.5]
    """
    name = window_name_to_audiofront(window_name)
    return lambda length: torch.from_numpy(F.get_window(name, length)).float()


def filterbank_mel(sample_rate: int, n_freq: int, n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
                   htk: bool = False, norm="slaney") -> torch.Tensor:
    """Mel filterbank ``(n_freq, n_mels)`` float32: ``librosa.filters.mel(n_fft=(n_freq - 1) * 2, ...).T``.

    Kapre's defaults: Slaney's mel scale (``htk=False``) and Slaney's area normalisation; ``norm``
    may be ``None`` or a p-norm order. ``n_fft`` is always ``2 * (n_freq - 1)``, as in Kapre.

    Example::

        >>> filterbank_mel(sample_rate=16000, n_freq=257, n_mels=40).shape
        torch.Size([257, 40])
    """
    if isinstance(n_freq, bool) or not isinstance(n_freq, int) or n_freq < 2:
        raise ConfigError(f"n_freq must be an integer >= 2, got {n_freq!r}")
    weights = F.mel_filterbank(sample_rate=sample_rate, n_fft=(n_freq - 1) * 2, n_mels=n_mels, f_min=f_min,
                               f_max=f_max, norm=norm, mel_scale="htk" if htk else "slaney")
    return torch.from_numpy(weights).float()


def filterbank_log(sample_rate: int, n_freq: int, n_bins: int = 84, bins_per_octave: int = 12,
                   f_min: float | None = None, spread: float = 0.125) -> torch.Tensor:
    """Kapre's log-frequency filterbank ``(n_freq, n_bins)`` float32 (see :func:`functional.log_normal_filterbank`).

    ``f_min=None`` is C1, 32.70319566 Hz (Kapre's constant).

    Example::

        >>> filterbank_log(sample_rate=22050, n_freq=1025).shape
        torch.Size([1025, 84])
    """
    if isinstance(n_freq, bool) or not isinstance(n_freq, int) or n_freq < 2:
        raise ConfigError(f"n_freq must be an integer >= 2, got {n_freq!r}")
    weights = F.log_normal_filterbank(sample_rate=sample_rate, n_fft=(n_freq - 1) * 2, n_bins=n_bins,
                                      bins_per_octave=bins_per_octave,
                                      f_min=32.70319566 if f_min is None else f_min, spread=spread)
    return torch.from_numpy(weights).float()


def check_db_args(ref_value, amin, dynamic_range) -> tuple[float, float, float]:
    for name, value in (("ref_value", ref_value), ("amin", amin), ("dynamic_range", dynamic_range)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
            raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(ref_value), float(amin), float(dynamic_range)


def magnitude_to_decibel(x: torch.Tensor, ref_value: float = 1.0, amin: float = 1e-5,
                         dynamic_range: float = 80.0) -> torch.Tensor:
    """Kapre's decibels: ``10 * log10(max(x, amin)) - 10 * log10(max(amin, ref_value))``, floored at peak - range.

    Note the 10 (not 20) although Kapre applies it to magnitudes. The peak is per item over every
    dim but the first (batch), so jointly over time, frequency and channels; a 1-D ``x`` is one
    item. ``(batch, ...) -> (batch, ...)``.

    Example::

        >>> magnitude_to_decibel(torch.tensor([[1.0, 1e-12]])).round(decimals=4).tolist()
        [[0.0, -50.0]]
    """
    ref_value, amin, dynamic_range = check_db_args(ref_value, amin, dynamic_range)
    dims = tuple(range(1, x.ndim)) if x.ndim > 1 else (0,)
    return F.amplitude_to_db(x, 10.0, amin, math.log10(max(amin, ref_value)), dynamic_range, dims)


def mu_law_encoding(signal: torch.Tensor, quantization_channels: int) -> torch.Tensor:
    """Kapre's mu-law encoding: float ``[-1, 1]`` -> int32 ``0..quantization_channels - 1`` (same shape)."""
    return _mu_encode(signal, quantization_channels)


def mu_law_decoding(signal_mu: torch.Tensor, quantization_channels: int) -> torch.Tensor:
    """Kapre's mu-law decoding: codes -> float32 in ``[-1, 1]`` (same shape)."""
    return _mu_decode(signal_mu, quantization_channels)
