"""Piano-like notes synthesised in numpy: the training data of the shipped piano model.

A note is a sum of partials ``f_n = n * f0 * sqrt(1 + B * n**2)`` (stiff-string inharmonicity
``B``), with amplitudes rolling off as ``n ** -rolloff`` (jittered), each partial decaying
faster the higher it is, an attack ramp, a release, slow vibrato, a random gain and coloured
background noise. Partials at or above ``0.95 * sample_rate / 2`` are dropped (no aliasing).
Everything random comes from one ``np.random.Generator``, so a seed gives the same audio.

Example::

    >>> rng = np.random.default_rng(0)
    >>> audio, midi = random_notes(4, rng=rng)
    >>> audio.shape, audio.dtype, midi.shape
    ((4, 16000), dtype('float32'), (4,))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiofront.errors import ConfigError
from audiofront.models.notes import MIDI_HIGH, MIDI_LOW, note_frequency

__all__ = ["NoteParams", "draw_params", "synthesize", "random_notes", "melody", "MAX_PARTIALS"]

MAX_PARTIALS = 40


@dataclass
class NoteParams:
    """Per-note synthesis parameters, each an array ``(n,)`` (``partial_gain_db`` is ``(n, MAX_PARTIALS)``)."""

    midi: np.ndarray
    detune_cents: np.ndarray
    n_partials: np.ndarray
    rolloff: np.ndarray
    partial_gain_db: np.ndarray
    inharmonicity: np.ndarray
    onset: np.ndarray  # seconds; negative starts the clip inside the note
    duration: np.ndarray  # seconds from onset to release
    attack: np.ndarray
    release: np.ndarray
    t60: np.ndarray  # decay time of the fundamental, seconds
    decay_slope: np.ndarray  # partial n decays (1 + slope * (n - 1)) times faster
    vibrato_rate: np.ndarray
    vibrato_cents: np.ndarray
    gain_db: np.ndarray
    snr_db: np.ndarray
    noise_tilt: np.ndarray  # noise power spectrum ~ f ** -tilt (0 white, 1 pink, 2 brown)


def draw_params(midi, rng: np.random.Generator, *, clip_seconds: float = 1.0) -> NoteParams:
    """Random parameters for the notes ``midi`` (ints in 21..108)."""
    midi = np.asarray(midi, dtype=np.int64).reshape(-1)
    if midi.size and (midi.min() < MIDI_LOW or midi.max() > MIDI_HIGH):
        raise ConfigError(f"midi must lie in [{MIDI_LOW}, {MIDI_HIGH}] (A0..C8), got {midi.min()}..{midi.max()}")
    n = midi.size
    u = rng.uniform
    # Clip starts at the onset most of the time (how demo/classify cut notes); sometimes late or mid-note.
    onset = np.where(u(size=n) < 0.6, u(0.0, 0.03, n), u(-0.4, 0.2, n))
    fundamental_gain = np.where(u(size=n) < 0.2, u(-20.0, 0.0, n), 0.0)
    partial_gain_db = rng.normal(0.0, 3.0, (n, MAX_PARTIALS))
    partial_gain_db[:, 0] += fundamental_gain
    return NoteParams(
        midi=midi,
        detune_cents=u(-10.0, 10.0, n),
        n_partials=rng.integers(6, MAX_PARTIALS + 1, n),
        rolloff=u(0.5, 2.5, n),
        partial_gain_db=partial_gain_db,
        inharmonicity=np.exp(u(np.log(1e-5), np.log(6e-4), n)),
        onset=onset,
        duration=u(0.25, 1.2, n) * clip_seconds,
        attack=np.exp(u(np.log(0.001), np.log(0.04), n)),
        release=u(0.02, 0.2, n),
        t60=np.exp(u(np.log(0.3), np.log(5.0), n)),
        decay_slope=u(0.0, 0.3, n),
        vibrato_rate=u(3.0, 7.0, n),
        vibrato_cents=np.where(u(size=n) < 0.5, u(0.0, 15.0, n), 0.0),
        gain_db=u(-30.0, -1.0, n),
        snr_db=u(10.0, 50.0, n),
        noise_tilt=u(0.0, 2.0, n),
    )


def _noise(rng: np.random.Generator, n: int, n_samples: int, tilt: np.ndarray) -> np.ndarray:
    """Unit-RMS noise ``(n, n_samples)`` with power spectrum ~ ``f ** -tilt``."""
    spectrum = np.fft.rfft(rng.standard_normal((n, n_samples)), axis=-1)
    bins = np.arange(spectrum.shape[-1], dtype=np.float64)
    bins[0] = 1.0
    spectrum *= bins[None, :] ** (-tilt[:, None] / 2.0)
    spectrum[:, 0] = 0.0
    noise = np.fft.irfft(spectrum, n=n_samples, axis=-1)
    return noise / np.maximum(np.sqrt(np.mean(noise * noise, axis=-1, keepdims=True)), 1e-12)


def synthesize(params: NoteParams, rng: np.random.Generator, *, sample_rate: int = 16000,
               n_samples: int = 16000, noise: bool = True) -> np.ndarray:
    """Audio ``(n, n_samples)`` float32 for ``params``; peak level set by ``gain_db``, noise at ``snr_db``."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 8000:
        raise ConfigError(f"sample_rate must be an integer >= 8000, got {sample_rate!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"n_samples must be a positive integer, got {n_samples!r}")
    p = params
    n = p.midi.size
    t = np.arange(n_samples, dtype=np.float64)[None, :] / sample_rate
    t_rel = t - p.onset[:, None]
    sounding = t_rel >= 0.0
    t_pos = np.maximum(t_rel, 0.0)
    f0 = np.array([note_frequency(m) for m in p.midi]) * 2.0 ** (p.detune_cents / 1200.0)
    # Vibrato as a phase warp: instantaneous frequency f * (1 + d sin(2 pi r t)).
    depth = 2.0 ** (p.vibrato_cents / 1200.0) - 1.0
    rate = p.vibrato_rate[:, None]
    warped = t_rel + (depth[:, None] / (2 * np.pi * rate)) * (1.0 - np.cos(2 * np.pi * rate * t_rel))
    base_decay = np.log(1000.0) / p.t60  # amplitude e-folding rate of the fundamental (60 dB in t60)
    # float32 from here: phases stay below ~1e5 rad, where float32 errs by < 0.01 rad.
    fundamental_env = np.exp(-t_pos * base_decay[:, None]).astype(np.float32)
    step_env = np.exp(-t_pos * (base_decay * p.decay_slope)[:, None]).astype(np.float32)
    warped = (2 * np.pi * warped).astype(np.float32)
    nyquist_limit = 0.95 * sample_rate / 2.0
    out = np.zeros((n, n_samples), dtype=np.float32)
    env = fundamental_env
    for k in range(1, MAX_PARTIALS + 1):
        fk = k * f0 * np.sqrt(1.0 + p.inharmonicity * k * k)
        rows = np.flatnonzero((k <= p.n_partials) & (fk < nyquist_limit))
        if rows.size:
            amp = (k ** (-p.rolloff[rows]) * 10.0 ** (p.partial_gain_db[rows, k - 1] / 20.0)).astype(np.float32)
            phase = fk[rows, None].astype(np.float32) * warped[rows]
            phase += rng.uniform(0, 2 * np.pi, rows.size).astype(np.float32)[:, None]
            out[rows] += amp[:, None] * env[rows] * np.sin(phase)
        if k < MAX_PARTIALS:
            env = env * step_env
    attack = np.clip(t_rel / p.attack[:, None], 0.0, 1.0)
    release = np.clip(1.0 - (t_rel - p.duration[:, None]) / p.release[:, None], 0.0, 1.0)
    out = out * np.where(sounding, attack * release, 0.0)
    peak = np.max(np.abs(out), axis=-1, keepdims=True)
    out *= 10.0 ** (p.gain_db[:, None] / 20.0) / np.maximum(peak, 1e-12)
    if noise:
        rms = np.sqrt(np.mean(out * out, axis=-1, keepdims=True))
        out += _noise(rng, n, n_samples, p.noise_tilt) * rms * 10.0 ** (-p.snr_db[:, None] / 20.0)
    return out.astype(np.float32)


def random_notes(batch: int, *, rng: np.random.Generator, sample_rate: int = 16000,
                 n_samples: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` random notes, uniform over A0..C8: ``(audio (batch, n_samples) float32, midi (batch,) int64)``."""
    midi = rng.integers(MIDI_LOW, MIDI_HIGH + 1, batch)
    params = draw_params(midi, rng, clip_seconds=n_samples / sample_rate)
    return synthesize(params, rng, sample_rate=sample_rate, n_samples=n_samples), midi


def melody(midi, *, rng: np.random.Generator, sample_rate: int = 16000, note_seconds: float = 0.5) -> np.ndarray:
    """Notes ``midi`` one after another, each ``note_seconds`` long (attack at its start): ``(len(midi) * n,)``.

    Every note rings for its whole slot and is cut by the next one's attack, like a legato line.
    """
    midi = np.asarray(midi, dtype=np.int64).reshape(-1)
    n_samples = int(round(note_seconds * sample_rate))
    params = draw_params(midi, rng, clip_seconds=note_seconds)
    params.onset[:] = 0.0
    params.duration[:] = note_seconds - 0.03
    params.release[:] = 0.02
    params.gain_db[:] = -6.0
    params.snr_db[:] = 40.0
    return synthesize(params, rng, sample_rate=sample_rate, n_samples=n_samples).reshape(-1)
