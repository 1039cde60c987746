"""Windows beyond the cosine family, with ``tf.signal``'s definitions: Vorbis, Kaiser, Kaiser-Bessel-derived.

These are the windows Kapre offers through ``tf.signal`` (``vorbis_window``, ``kaiser_window``,
``kaiser_bessel_derived_window``); each function returns float64 numpy and equals the
TensorFlow function with the same arguments (TF computes in float32).

References: TensorFlow ``tf.signal`` window_ops.py; Princen & Bradley (1986) for the
Vorbis/KBD power-complementary condition; ``numpy.kaiser`` for the Kaiser formula.
"""

from __future__ import annotations

import numpy as np

from audiofront.errors import ConfigError

__all__ = ["vorbis_window", "kaiser_window", "kaiser_bessel_derived_window", "TF_WINDOWS"]


def _length(window_length) -> int:
    if isinstance(window_length, bool) or not isinstance(window_length, (int, np.integer)) or window_length < 1:
        raise ConfigError(f"window_length must be an integer >= 1, got {window_length!r}")
    return int(window_length)


def _beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not np.isfinite(beta) or beta < 0:
        raise ConfigError(f"beta must be a finite number >= 0, got {beta!r}")
    return float(beta)


def vorbis_window(window_length: int) -> np.ndarray:
    """``sin(pi/2 * sin(pi * (n + 0.5) / N) ** 2)``, ``n = 0..N-1`` (``tf.signal.vorbis_window``).

    Power-complementary at hop ``N / 2``: ``w[n]**2 + w[n + N/2]**2 = 1``.

    Example::

        >>> bool(abs(vorbis_window(8)[0] ** 2 + vorbis_window(8)[4] ** 2 - 1) < 1e-12)
        True
    """
    n = np.arange(_length(window_length), dtype=np.float64)
    return np.sin(np.pi / 2.0 * np.sin(np.pi * (n + 0.5) / window_length) ** 2)


def kaiser_window(window_length: int, beta: float = 12.0) -> np.ndarray:
    """Symmetric Kaiser window ``I0(beta * sqrt(1 - (2n/(N-1) - 1)**2)) / I0(beta)`` (``tf.signal.kaiser_window``).

    Symmetric, like ``numpy.kaiser`` and TF (not scipy's periodic ``fftbins`` form); ``beta``
    defaults to TF's 12. A one-sample window is ``[1]``.

    Example::

        >>> bool(np.allclose(kaiser_window(9, 6.0), np.kaiser(9, 6.0)))
        True
    """
    window_length = _length(window_length)
    beta = _beta(beta)
    if window_length == 1:
        return np.ones(1)
    n = np.arange(window_length, dtype=np.float64)
    half = (window_length - 1) / 2.0
    ratio = (n - half) / half
    return np.i0(beta * np.sqrt(np.clip(1.0 - ratio * ratio, 0.0, None))) / np.i0(beta)


def kaiser_bessel_derived_window(window_length: int, beta: float = 12.0) -> np.ndarray:
    """Kaiser-Bessel-derived window (``tf.signal.kaiser_bessel_derived_window``).

    The first half is ``sqrt(cumsum(kaiser(N // 2 + 1, beta))[:-1] / sum(kaiser(N // 2 + 1, beta)))``,
    the second its mirror: power-complementary at hop ``N / 2`` (the MDCT window of AAC).
    Odd ``N`` gives ``2 * (N // 2)`` samples in TF; here an odd length is refused instead.

    Example::

        >>> w = kaiser_bessel_derived_window(16)
        >>> bool(np.allclose(w[:8] ** 2 + w[8:] ** 2, 1.0))
        True
    """
    window_length = _length(window_length)
    if window_length % 2:
        raise ConfigError(f"window_length must be even for the Kaiser-Bessel-derived window, got {window_length}")
    half = window_length // 2
    csum = np.cumsum(kaiser_window(half + 1, beta))
    first = np.sqrt(csum[:-1] / csum[-1])
    return np.concatenate([first, first[::-1]])


# Names ``functional.get_window`` takes for these (Kapre passes only the length: beta is 12).
TF_WINDOWS = {
    "vorbis": vorbis_window,
    "kaiser": kaiser_window,
    "kaiser_bessel_derived": kaiser_bessel_derived_window,
}
