"""Karplus-Strong plucked strings: notes from a generator the training code never uses.

The training notes (:mod:`audiofront.models.synth`) are sums of sinusoids; these come from a
noise burst circulating in a delay loop with a two-tap loss filter (Karplus & Strong 1983,
with Jaffe & Smith's 1983 decay stretching and fractional-delay tuning). The loop runs at
``oversample * sample_rate`` so even C8 has a loop of ~15 samples, then soxr resamples.

Example::

    >>> audio = karplus_strong([69], rng=np.random.default_rng(0))
    >>> audio.shape
    (1, 16000)
"""

from __future__ import annotations

import numpy as np

from audiofront.errors import ConfigError
from audiofront.models.notes import MIDI_HIGH, MIDI_LOW, note_frequency

__all__ = ["karplus_strong", "pluck_string"]


def pluck_string(f0: float, *, rng: np.random.Generator, sample_rate: int = 64000, n_samples: int = 64000,
                 t60: float = 1.5, brightness: float = 1.0) -> np.ndarray:
    """One plucked string at ``f0`` Hz: ``(n_samples,)`` float64, peak 1.

    ``y[n] = x[n] + g * (c0 y[n-M] + c1 y[n-M-1] + c2 y[n-M-2])``: ``c`` is the loss filter
    ``(1-S) + S z^-1`` convolved with a linear-interpolation fractional delay, ``S`` and ``g``
    chosen so the fundamental decays by 60 dB in about ``t60`` seconds. ``brightness`` in (0, 1]
    low-passes the excitation.
    """
    period = sample_rate / f0
    if period < 4:
        raise ConfigError(f"f0={f0} Hz is too high for sample_rate={sample_rate} (loop shorter than 4 samples)")
    w = 2 * np.pi * f0 / sample_rate
    target = 10.0 ** (-3.0 / (t60 * f0))  # loop gain per period at f0
    # Solve |(1-S) + S e^{-jw}|^2 = 1 - 2 S (1-S) (1 - cos w) = target^2 for S <= 0.5.
    need = (1.0 - target * target) / (2.0 * (1.0 - np.cos(w)))
    s = 0.5 if need >= 0.25 else 0.5 * (1.0 - np.sqrt(1.0 - 4.0 * need))
    loss = abs((1 - s) + s * np.exp(-1j * w))
    g = min(target / loss, 0.99999)
    loss_delay = -np.angle((1 - s) + s * np.exp(-1j * w)) / w
    delay = period - loss_delay
    m = int(np.floor(delay))
    frac = delay - m
    taps = g * np.convolve([1 - s, s], [1 - frac, frac])
    excitation = rng.uniform(-1.0, 1.0, m)
    if brightness < 1.0:
        # One-pole low-pass over the burst: duller plucks.
        for i in range(1, m):
            excitation[i] = brightness * excitation[i] + (1 - brightness) * excitation[i - 1]
    excitation -= excitation.mean()
    y = np.zeros(n_samples + m + 2)
    y[2 : 2 + m] = excitation
    # All feedback taps reach at least m samples back, so a block of m samples is one vector step.
    for start in range(2 + m, n_samples + 2, m):
        stop = min(start + m, n_samples + 2)
        n = np.arange(start, stop)
        y[n] = taps[0] * y[n - m] + taps[1] * y[n - m - 1] + taps[2] * y[n - m - 2]
    y = y[2 : n_samples + 2]
    return y / max(np.max(np.abs(y)), 1e-12)


def karplus_strong(midi, *, rng: np.random.Generator, sample_rate: int = 16000, n_samples: int = 16000,
                   oversample: int = 4) -> np.ndarray:
    """Plucked notes ``midi`` (21..108) at ``sample_rate``: ``(len(midi), n_samples)`` float32, peak 0.5.

    Decay time (0.5-3 s) and brightness are drawn from ``rng`` per note.
    """
    import soxr

    midi = np.asarray(midi, dtype=np.int64).reshape(-1)
    if midi.size and (midi.min() < MIDI_LOW or midi.max() > MIDI_HIGH):
        raise ConfigError(f"midi must lie in [{MIDI_LOW}, {MIDI_HIGH}], got {midi.min()}..{midi.max()}")
    fast = sample_rate * oversample
    out = np.zeros((midi.size, n_samples), dtype=np.float32)
    for i, m in enumerate(midi):
        y = pluck_string(note_frequency(m), rng=rng, sample_rate=fast, n_samples=n_samples * oversample,
                         t60=float(rng.uniform(0.5, 3.0)), brightness=float(rng.uniform(0.3, 1.0)))
        y = soxr.resample(y, fast, sample_rate)[:n_samples]
        out[i, : y.size] = 0.5 * y / max(np.max(np.abs(y)), 1e-12)
    return out
