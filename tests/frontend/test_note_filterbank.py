"""``functional.note_filterbank`` against an independent float64 evaluation of its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiofront.errors import ConfigError
from audiofront.frontend import Filterbank, functional


def _reference(sample_rate, n_fft, f_min, f_max, bins_per_octave, f_ref):
    """The definition, one number at a time: corners by stepping, weights by the piecewise formula."""
    df = sample_rate / n_fft
    crossover = df / (2.0 ** (1.0 / bins_per_octave) - 1.0)
    centres = [f_min]
    while centres[-1] + df < crossover and centres[-1] + df <= f_max:
        centres.append(centres[-1] + df)
    # Notes from far below: keep those at least one bin above the last linear centre, up to f_max.
    first = centres[-1] + df
    k = math.floor(bins_per_octave * math.log2(f_min / f_ref)) - 2
    while f_ref * 2.0 ** (k / bins_per_octave) < first * (1 - 1e-12):
        k += 1
    while f_ref * 2.0 ** (k / bins_per_octave) <= f_max * (1 + 1e-12):
        centres.append(f_ref * 2.0 ** (k / bins_per_octave))
        k += 1
    corners = [max(f_min - df, 0.0)] + centres + [f_ref * 2.0 ** (k / bins_per_octave)]
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    out = np.zeros((len(freqs), len(centres)))
    for j in range(len(centres)):
        lo, c, hi = corners[j], corners[j + 1], corners[j + 2]
        rising, falling = (freqs > lo) & (freqs <= c), (freqs > c) & (freqs < hi)
        out[rising, j] = (freqs[rising] - lo) / (c - lo)
        out[falling, j] = (hi - freqs[falling]) / (hi - c)
    return out


def _grid(count: int, seed: int) -> list[dict]:
    """Odd and even n_fft (small to large), f_min below and above one bin, f_max at Nyquist or below."""
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        sr = int(rng.choice([8000, 16000, 22050, 44100]))
        n_fft = int(rng.integers(32, 2100)) * 2 + (i % 2)  # every other one odd
        df = sr / n_fft
        f_min = float(rng.uniform(0.2, 0.9) * df) if i % 3 == 0 else float(rng.uniform(df, 40 * df))
        f_max = sr / 2 if i % 4 == 1 else float(rng.uniform(f_min + df, sr / 2))
        configs.append({"sample_rate": sr, "n_fft": n_fft, "f_min": f_min, "f_max": f_max,
                        "bins_per_octave": int(rng.choice([1, 6, 12, 24, 36])),
                        "f_ref": float(rng.choice([440.0, 415.3, 27.5]))})
    return configs


CONFIGS = [
    # The shipped piano model's, and its odd-size neighbour.
    {"sample_rate": 16000, "n_fft": 2048, "f_min": 23.0, "f_max": 7600.0, "bins_per_octave": 12, "f_ref": 440.0},
    {"sample_rate": 16000, "n_fft": 2047, "f_min": 23.0, "f_max": 7600.0, "bins_per_octave": 12, "f_ref": 440.0},
    # Crossover above f_max: bin-spaced filters only, the top one closed by the next note.
    {"sample_rate": 16000, "n_fft": 63, "f_min": 100.0, "f_max": 3000.0, "bins_per_octave": 12, "f_ref": 440.0},
    # f_min above the crossover: one filter at f_min, then notes; f_max at Nyquist with odd n_fft.
    {"sample_rate": 8000, "n_fft": 4095, "f_min": 300.0, "f_max": 4000.0, "bins_per_octave": 12, "f_ref": 440.0},
    # The smallest transform, and f_max on a note exactly.
    {"sample_rate": 16000, "n_fft": 2, "f_min": 1000.0, "f_max": 8000.0, "bins_per_octave": 12, "f_ref": 440.0},
    {"sample_rate": 44100, "n_fft": 1024, "f_min": 20.0, "f_max": 3520.0, "bins_per_octave": 12, "f_ref": 440.0},
] + _grid(14, seed=11)


def _id(c):
    return f"sr{c['sample_rate']}-n{c['n_fft']}-b{c['bins_per_octave']}-fmin{c['f_min']:.4g}-fmax{c['f_max']:.5g}"


@pytest.mark.filterwarnings("error:note_filterbank:UserWarning")
@pytest.mark.parametrize("c", CONFIGS, ids=_id)
def test_note_filterbank_is_its_definition(c):
    fb = functional.note_filterbank(**c)
    ref = _reference(**c)
    assert fb.shape == ref.shape and fb.dtype == np.float64
    np.testing.assert_allclose(fb, ref, rtol=1e-9, atol=1e-12)
    assert fb.min() >= 0.0 and fb.max() <= 1.0 + 1e-12
    # Never an empty filter: bin-spaced triangles are two bins wide, note-spaced ones wider.
    assert (fb.max(axis=0) > 0).all()
    # As a module: a float32 buffer of the same numbers.
    np.testing.assert_allclose(Filterbank(fb).fb.numpy(), ref, rtol=1e-6, atol=1e-7)


def test_note_filterbank_centres_are_bins_then_notes():
    sr, n_fft = 16000, 2048
    fb = functional.note_filterbank(sample_rate=sr, n_fft=n_fft, f_min=23.0, f_max=7600.0)
    assert fb.shape == (1025, 84) and (fb.max(axis=0) > 0).all()
    centres = np.argmax(fb, axis=0) * sr / n_fft
    assert np.all(np.diff(centres) > 0)
    # Above the crossover (~131 Hz) every centre is an equal-tempered note, to the 7.8 Hz bin grid.
    upper = centres[centres > 300]
    semitones = 12 * np.log2(upper / 440.0)
    assert np.abs(semitones - np.round(semitones)).max() < 0.25
    # Below it, one filter per bin: neighbours one bin apart.
    np.testing.assert_allclose(np.diff(centres[centres < 120]), sr / n_fft)


@pytest.mark.parametrize("kwargs, match", [
    ({"f_min": 0.0}, "f_min"),
    ({"f_min": -5.0}, "f_min"),
    ({"f_min": 9000.0}, "f_min"),
    ({"f_max": 8000.5}, "f_max"),
    ({"f_max": 20.0}, "f_max"),
    ({"f_max": float("nan")}, "f_max"),
    ({"bins_per_octave": 0}, "bins_per_octave"),
    ({"bins_per_octave": 12.5}, "bins_per_octave"),
    ({"bins_per_octave": True}, "bins_per_octave"),
    ({"f_ref": 0.0}, "f_ref"),
    ({"f_ref": float("inf")}, "f_ref"),
    ({"f_ref": "A4"}, "f_ref"),
    ({"n_fft": 1}, "n_fft"),
    ({"sample_rate": 0}, "sample_rate"),
])
def test_note_filterbank_bad_arguments(kwargs, match):
    args = dict({"sample_rate": 16000, "n_fft": 2048, "f_min": 23.0, "f_max": 7600.0}, **kwargs)
    with pytest.raises(ConfigError, match=match):
        functional.note_filterbank(**args)
