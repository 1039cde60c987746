"""Piano note names and frequencies: MIDI 21 (A0) .. 108 (C8), equal temperament, A4 = 440 Hz.

Example::

    >>> note_name(69), note_frequency(69), label_text("A4")
    ('A4', 440.0, 'A4 (440.0 Hz)')
"""

from __future__ import annotations

import re

from audiofront.errors import InputError

__all__ = [
    "MIDI_LOW",
    "MIDI_HIGH",
    "N_NOTES",
    "PIANO_LABELS",
    "note_name",
    "note_frequency",
    "midi_from_name",
    "label_frequency",
    "label_text",
]

MIDI_LOW, MIDI_HIGH = 21, 108
N_NOTES = MIDI_HIGH - MIDI_LOW + 1
_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_NAME = re.compile(r"^([A-G])(#?)(-?\d+)$")


def note_name(midi: int) -> str:
    """``"A4"`` for 69; sharps, octave numbers change at C (MIDI 60 is C4)."""
    return f"{_PITCH_CLASSES[int(midi) % 12]}{int(midi) // 12 - 1}"


def note_frequency(midi: float) -> float:
    """Equal-tempered frequency in Hz, ``440 * 2 ** ((midi - 69) / 12)``."""
    return 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)


def midi_from_name(name: str) -> int:
    """Inverse of :func:`note_name`; raises :class:`InputError` for a name like ``"H2"``."""
    match = _NAME.match(str(name))
    if not match or match.group(1) + match.group(2) not in _PITCH_CLASSES:
        raise InputError(f"note name must look like 'A4' or 'C#3', got {name!r}")
    return _PITCH_CLASSES.index(match.group(1) + match.group(2)) + 12 * (int(match.group(3)) + 1)


def label_frequency(label: str) -> float:
    """Frequency of a note label (``"A4"`` -> 440.0)."""
    return note_frequency(midi_from_name(label))


def label_text(label: str) -> str:
    """``"A4 (440.0 Hz)"``: the label with its frequency rounded to 0.1 Hz."""
    return f"{label} ({label_frequency(label):.1f} Hz)"


PIANO_LABELS: list[str] = [note_name(m) for m in range(MIDI_LOW, MIDI_HIGH + 1)]
