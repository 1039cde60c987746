"""Inputs and the error measure of the reference-preset parity tests.

Signals: random noise, a chord of random tones, and noise with a silent tail, all in [-1, 1].
The measure is the issue's: in the log domain, over the bins within 80 dB of the item's peak,
relative L2 <= 1e-4 and max abs <= 1e-3.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KINDS", "signal", "batch", "log_domain_errors", "assert_log_close", "DB_PER_NEPER"]

KINDS = ("random", "tonal", "silent-tail")
REL_L2 = 1e-4
MAX_ABS = 1e-3
DB_PER_NEPER = 10.0 / np.log(10.0)  # dB per unit of natural log of power


def signal(kind: str, length: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """One float32 item of ``length`` samples in [-1, 1]."""
    rng = np.random.default_rng([seed, length, KINDS.index(kind)])
    if kind == "random":
        x = rng.standard_normal(length) * 0.25
    elif kind == "tonal":
        # Three tones under a slow tremolo: a perfectly stationary tone makes a bin's log energy
        # constant to 1e-6 over frames, and per-utterance normalisation (Speech2Text, SeamlessM4T)
        # then divides float rounding by that spread -- ill-conditioned in the reference itself.
        t = np.arange(length) / sample_rate
        freqs = rng.uniform(60.0, 0.45 * sample_rate, size=3)
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3.0, 7.0) * t + rng.uniform(0, 2 * np.pi))
        x = envelope * sum(0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    elif kind == "silent-tail":
        x = rng.standard_normal(length) * 0.25
        x[length // 2:] = 0.0
    else:
        raise ValueError(kind)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def batch(length: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """``(3, length)``: one item of each kind."""
    return np.stack([signal(kind, length, sample_rate, seed) for kind in KINDS])


def log_domain_errors(actual, expected, db, *, unit: float = 1.0) -> tuple[float, float]:
    """``(relative L2, max abs)`` of ``actual - expected`` over the bins where ``db >= db.max() - 80``.

    ``unit`` converts the values into the log domain the bar is set in (1/4.343 takes dB to
    natural-log units; 1 keeps the model-input units).
    """
    a = np.asarray(actual, dtype=np.float64) * unit
    b = np.asarray(expected, dtype=np.float64) * unit
    assert a.shape == b.shape, f"shape {a.shape} != reference shape {b.shape}"
    db = np.asarray(db, dtype=np.float64)
    mask = db >= db.max() - 80.0
    diff = (a - b)[mask]
    norm = np.linalg.norm(b[mask])
    rel = float(np.linalg.norm(diff) / norm) if norm > 0 else float(np.linalg.norm(diff))
    return rel, float(np.abs(diff).max()) if diff.size else 0.0


def assert_log_close(actual, expected, db, what: str, *, unit: float = 1.0, max_abs: float = MAX_ABS) -> tuple[float, float]:
    rel, worst = log_domain_errors(actual, expected, db, unit=unit)
    assert rel <= REL_L2 and worst <= max_abs, f"{what}: relative L2 {rel:.3g}, max abs {worst:.3g}"
    return rel, worst
