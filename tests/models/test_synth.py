"""Synthesis and the evaluation generators, checked against numpy FFT peak picking."""

import numpy as np
import pytest

from audiofront.errors import ConfigError, InputError
from audiofront.models.notes import PIANO_LABELS, label_text, midi_from_name, note_frequency, note_name
from audiofront.models.pluck import karplus_strong
from audiofront.models.synth import draw_params, melody, random_notes, synthesize

SR = 16000


def _spectrum(y, n=1 << 19):
    """Magnitude spectrum with a long zero-pad: ~0.03 Hz bins at 16 kHz."""
    spec = np.abs(np.fft.rfft(np.asarray(y, np.float64) * np.hanning(len(y)), n))
    return np.fft.rfftfreq(n, 1 / SR), spec


def _peak(freqs, spec, lo, hi):
    band = (freqs > lo) & (freqs < hi)
    return freqs[band][np.argmax(spec[band])], spec[band].max()


def _plain_note(midi, *, n_partials, inharmonicity, seed=0):
    """One note without vibrato, detuning or noise, sounding the whole second."""
    rng = np.random.default_rng(seed)
    p = draw_params([midi], rng)
    p.detune_cents[:] = 0.0
    p.vibrato_cents[:] = 0.0
    p.n_partials[:] = n_partials
    p.inharmonicity[:] = inharmonicity
    p.rolloff[:] = 1.0
    p.partial_gain_db[:] = 0.0
    p.onset[:] = 0.0
    p.duration[:] = 2.0
    p.t60[:] = 4.0
    p.decay_slope[:] = 0.0
    return synthesize(p, rng, sample_rate=SR, n_samples=SR, noise=False)[0]


def test_note_names_and_frequencies():
    assert PIANO_LABELS[0] == "A0" and PIANO_LABELS[-1] == "C8" and len(PIANO_LABELS) == 88
    assert note_name(60) == "C4" and note_name(61) == "C#4"
    assert all(midi_from_name(note_name(m)) == m for m in range(21, 109))
    assert label_text("A4") == "A4 (440.0 Hz)"
    assert label_text("A0") == "A0 (27.5 Hz)"
    np.testing.assert_allclose(note_frequency(108), 4186.009, atol=1e-3)
    with pytest.raises(InputError, match="'H2'"):
        midi_from_name("H2")


@pytest.mark.parametrize("midi", [33, 57, 69, 81])
def test_partials_sit_where_stiff_string_formula_puts_them(midi):
    b = 4e-4
    y = _plain_note(midi, n_partials=6, inharmonicity=b)
    freqs, spec = _spectrum(y)
    f0 = note_frequency(midi)
    expected = [k * f0 * np.sqrt(1 + b * k * k) for k in range(1, 8)]
    peaks = [_peak(freqs, spec, f * 0.985, f * 1.015) for f in expected]
    for k, (f, (found, _)) in enumerate(zip(expected[:6], peaks[:6]), start=1):
        assert abs(found - f) < 0.2 + 1e-4 * f, f"partial {k}: {found:.2f} Hz, formula {f:.2f} Hz"
    # The fundamental is the strongest component (roll-off 1, no partial gains).
    assert peaks[0][1] == max(p[1] for p in peaks)
    # Partial 7 is absent: n_partials=6.
    assert peaks[6][1] < 1e-3 * peaks[0][1]


def test_partials_above_nyquist_are_dropped():
    y = _plain_note(108, n_partials=20, inharmonicity=1e-4)  # C8: partial 2 would be at ~8.4 kHz
    freqs, spec = _spectrum(y)
    assert spec[freqs > 5000].max() < 1e-3 * spec.max()
    assert abs(_peak(freqs, spec, 4000, 4400)[0] - note_frequency(108)) < 1.0


def test_seeded_and_reproducible():
    a, ma = random_notes(6, rng=np.random.default_rng(5))
    b, mb = random_notes(6, rng=np.random.default_rng(5))
    c, _ = random_notes(6, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and np.isfinite(a).all() and np.abs(a).max() <= 1.0
    assert ((ma >= 21) & (ma <= 108)).all()


def test_melody_and_bad_arguments():
    y = melody([60, 64, 67], rng=np.random.default_rng(0), note_seconds=0.25)
    assert y.shape == (3 * 4000,)
    with pytest.raises(ConfigError, match="midi"):
        draw_params([20], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="sample_rate"):
        random_notes(1, rng=np.random.default_rng(0), sample_rate=4000)


@pytest.mark.parametrize("midi", [21, 45, 69, 93, 108])
def test_karplus_strong_is_in_tune(midi):
    y = karplus_strong([midi], rng=np.random.default_rng(1))[0]
    freqs, spec = _spectrum(y)
    f0 = note_frequency(midi)
    found, _ = _peak(freqs, spec, f0 * 0.95, f0 * 1.05)
    cents = 1200 * np.log2(found / f0)
    assert abs(cents) < 6.0, f"{note_name(midi)}: {found:.2f} Hz is {cents:+.1f} cents off {f0:.2f} Hz"
    assert y.shape == (SR,) and np.abs(y).max() == pytest.approx(0.5, abs=1e-6)
