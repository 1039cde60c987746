"""Approximations for runtimes that lack an op: ``atan2`` without Atan.

TFLite has no Atan; Kapre's ``Phase(approx_atan_accuracy=n)`` and ``PhaseTflite`` compute the
phase with a continued fraction instead. :func:`atan2_continued_fraction` is that computation,
step for step, so a ported model gives the same (approximate) phases.

Reference: the continued fraction ``atan(x) = x / (1 + x^2 / (3 + 4x^2 / (5 + 9x^2 / ...)))``
(functions.wolfram.com/ElementaryFunctions/ArcTan/10/), as kapre/tflite_compatible_stft.py
evaluates it, from the last term up.
"""

from __future__ import annotations

import math

import torch

from audiofront.errors import ConfigError

__all__ = ["atan_continued_fraction", "atan2_continued_fraction"]


def _terms(n_terms) -> int:
    if isinstance(n_terms, bool) or not isinstance(n_terms, int) or n_terms < 1:
        raise ConfigError(f"n_terms must be an integer >= 1, got {n_terms!r}")
    return n_terms


def atan_continued_fraction(x: torch.Tensor, n_terms: int) -> torch.Tensor:
    """``atan(x)`` by the ``n_terms``-term continued fraction: ``(...) -> (...)``.

    Exact to float32 for ``|x| <= 1`` from about 20 terms; slow to converge for large ``|x|``
    (Kapre's caveat). Exports as ``n_terms`` unrolled Mul/Add/Div steps (no loop, no Atan).

    Example::

        >>> x = torch.linspace(-1, 1, 5)
        >>> bool(torch.allclose(atan_continued_fraction(x, 30), torch.atan(x)))
        True
    """
    n_terms = _terms(n_terms)
    x2 = x * x
    d = torch.full_like(x, float(2 * n_terms + 1))
    for k in range(n_terms, 0, -1):
        d = (2.0 * k - 1.0) + (k * k) * x2 / d
    return x / d


def atan2_continued_fraction(y: torch.Tensor, x: torch.Tensor, n_terms: int) -> torch.Tensor:
    """``atan2(y, x)`` from :func:`atan_continued_fraction` of ``y / x`` with Kapre's quadrant rules.

    ``(...), (...) -> (...)``. ``x == 0`` gives ``+pi`` for ``y > 0`` and ``-pi`` for ``y < 0``
    (Kapre's ``atan2_tflite`` does so, not ``+-pi/2``), and 0 where both are 0.

    Example::

        >>> y, x = torch.tensor([1.0, -1.0, 0.5]), torch.tensor([-1.0, -1.0, 2.0])
        >>> bool(torch.allclose(atan2_continued_fraction(y, x, 40), torch.atan2(y, x)))
        True
    """
    atan = atan_continued_fraction(y / x, n_terms)
    pi = torch.full_like(atan, math.pi)
    zero = torch.zeros_like(atan)
    out = torch.where((x < 0) & (y >= 0), atan + pi, atan)
    out = torch.where((x < 0) & (y < 0), atan - pi, out)
    out = torch.where((x == 0) & (y > 0), pi, out)
    out = torch.where((x == 0) & (y < 0), -pi, out)
    return torch.where((x == 0) & (y == 0), zero, out)
