"""How a :class:`~audiofront.runtime.Pipeline` fits a clip to its model: short clips, long clips.

Two kinds of artifact:

- **A graph that fixes its own length** the way its model's reference extractor does: a reference
  preset's pipeline (``audiofront export --preset ast --classifier ast.onnx``) whose metadata has
  ``audiofront.fixed_frames`` (AST: fbank frames zero-padded or cut to 1024) or
  ``audiofront.fixed_samples`` (Whisper: samples zero-padded or cut to 30 s; CLAP: repeated to
  10 s), and whose audio input has a dynamic time axis. A short clip goes in at its own length,
  so the graph pads it exactly as the extractor does (frames, not audio, for AST; repeats for
  CLAP). A clip shorter than the graph's minimum (the samples its first frame needs, from the
  ``frames`` law: 400 at 16 kHz for AST's 25 ms fbank frames; one sample where the graph pads
  samples before framing, ``fixed_samples``) is zero-padded in samples up to that minimum, so
  its samples still make one frame. (AST's extractor gives no frame at all for it, 1024 padding
  frames, or fails below about 200 samples: there is no reference answer to follow.)
  A long clip is cut to its first ``clip_samples`` (``long_clips="truncate"``, the default
  here): the extractor keeps the first ``max_length`` frames / first 10 s / first 30 s.
- **Any other graph** (a fixed time axis, or no fixed length in its metadata): a short clip is
  zero-padded in samples to ``clip_samples`` (the graph takes only that length, so padding
  samples is all a caller can do); a long clip is cut into windows of ``clip_samples`` every
  ``hop`` samples whose probabilities are averaged (``long_clips="windows"``, the default here;
  see :func:`~audiofront.runtime.audio.frame_windows`).

Either default may be overridden: ``long_clips="windows"`` averages windows over a long clip on
a preset pipeline too (each window then has exactly the model's length), ``"truncate"`` keeps
only the first window of any pipeline.

Clips of different lengths cannot share one call of a graph that takes them unpadded:
:func:`group_by_width` groups them, so an item's result never depends on its batch.

Example::

    >>> policy = LengthPolicy(clip_samples=164080, long_clips="truncate", fixes_own_length=True, min_samples=400)
    >>> policy.fit(np.zeros(16123, np.float32)).shape, policy.fit(np.zeros(170001, np.float32)).shape
    ((1, 16123), (1, 164080))
    >>> policy.fit(np.zeros(100, np.float32)).shape       # under the graph's minimum: zero-padded to it
    (1, 400)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from audiofront.arguments import LONG_CLIPS as _CLI_LONG_CLIPS
from audiofront.errors import ConfigError, InputError
from audiofront.export.metadata import self_fitting_min_samples
from audiofront.runtime.audio import frame_windows

__all__ = ["LONG_CLIPS", "LengthPolicy", "check_long_clips", "length_policy", "group_by_width"]

#: What a Pipeline does with a clip longer than ``clip_samples``: average the probabilities of
#: overlapping windows, or classify only the first ``clip_samples`` (as reference extractors do).
#: (Defined with the CLI's arguments, which must not import numpy.)
LONG_CLIPS = _CLI_LONG_CLIPS


def check_long_clips(value) -> str | None:
    """``None`` (the artifact's default) or one of :data:`LONG_CLIPS`; :class:`ConfigError` otherwise."""
    if value is None or (isinstance(value, str) and value in LONG_CLIPS):
        return value
    raise ConfigError(f"long_clips must be one of {list(LONG_CLIPS)} (or None: the model's default), got {value!r}")


@dataclass(frozen=True)
class LengthPolicy:
    """How clips are fitted to a model taking ``clip_samples`` (see the module doc).

    ``fixes_own_length``: the graph pads/trims to its fixed length itself, so short clips go in
    unpadded (at least ``min_samples``); ``long_clips``: one of :data:`LONG_CLIPS`.
    """

    clip_samples: int
    long_clips: str = "windows"
    fixes_own_length: bool = False
    min_samples: int = 1

    def __post_init__(self):
        if isinstance(self.clip_samples, bool) or not isinstance(self.clip_samples, (int, np.integer)) or self.clip_samples < 1:
            raise ConfigError(f"clip_samples must be a positive integer, got {self.clip_samples!r}")
        if check_long_clips(self.long_clips) is None:
            raise ConfigError(f"long_clips must be one of {list(LONG_CLIPS)}, got None")
        if not isinstance(self.min_samples, (int, np.integer)) or not 1 <= self.min_samples <= self.clip_samples:
            raise ConfigError(f"min_samples must be an integer in [1, clip_samples = {self.clip_samples}], "
                              f"got {self.min_samples!r}")

    def width(self, length: int) -> int:
        """Samples a clip of ``length`` samples goes in with when it fits one window."""
        if not self.fixes_own_length:
            return self.clip_samples
        return min(max(int(length), self.min_samples), self.clip_samples)

    def accepts(self, width: int) -> bool:
        """Whether the model may be fed windows of ``width`` samples."""
        return width == self.clip_samples or (self.fixes_own_length and self.min_samples <= width <= self.clip_samples)

    def describe_widths(self) -> str:
        if not self.fixes_own_length:
            return str(self.clip_samples)
        return f"{self.min_samples} to {self.clip_samples}"

    def pad_short(self, audio: np.ndarray) -> np.ndarray:
        """``(..., length <= clip_samples)`` -> ``(..., width(length))``: zeros appended as needed."""
        width = self.width(audio.shape[-1])
        if audio.shape[-1] > width:
            raise InputError(f"pad_short takes at most {self.clip_samples} samples, got {audio.shape[-1]}")
        pad = [(0, 0)] * (audio.ndim - 1) + [(0, width - audio.shape[-1])]
        return np.pad(np.asarray(audio, np.float32), pad) if width != audio.shape[-1] else np.asarray(audio, np.float32)

    def fit(self, mono: np.ndarray, hop: int | None = None) -> np.ndarray:
        """Mono ``(time,)`` -> the model's input rows ``(n_windows, width)`` float32 (see the module doc)."""
        mono = np.asarray(mono, dtype=np.float32)
        if mono.ndim != 1 or mono.size == 0:
            raise InputError(f"a clip must be non-empty mono audio (time,), got shape {mono.shape}")
        if mono.size > self.clip_samples and self.long_clips == "truncate":
            mono = mono[: self.clip_samples]
        if mono.size <= self.clip_samples:
            return self.pad_short(mono)[np.newaxis, :]
        return frame_windows(mono, self.clip_samples, hop)

    def answer_rows(self, n_windows: int) -> int:
        """How many of a stream's windows, from the first, make its final answer (as :meth:`fit` cuts)."""
        return min(n_windows, 1) if self.long_clips == "truncate" else n_windows


def length_policy(metadata: Mapping[str, str], clip_samples: int, *, time_dim: int | None, long_clips: str | None = None,
                  min_time: int | None = None) -> LengthPolicy:
    """The policy for an artifact: its ``audiofront.*`` ``metadata``, the static size of its audio
    input's time axis (``time_dim``; ``None``: dynamic) and the fewest samples its runner takes
    (``min_time``, e.g. a TensorRT profile's minimum). ``long_clips=None`` picks the default."""
    long_clips = check_long_clips(long_clips)
    base = self_fitting_min_samples(metadata)
    own = base is not None and time_dim is None and (min_time is None or min_time < clip_samples)
    min_samples = min(max(base, min_time or 1), clip_samples) if own else 1
    return LengthPolicy(clip_samples, long_clips or ("truncate" if own else "windows"), own, min_samples)


def group_by_width(rows: Sequence[np.ndarray]) -> dict[int, list[int]]:
    """Indices of ``rows`` (each ``(n, width)``) by width, in first-seen order: one model call per width."""
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(int(r.shape[-1]), []).append(i)
    return groups
