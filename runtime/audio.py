"""Audio in: read files, check arrays, pick or mix channels, resample, cut into model windows.

Conventions:

- An array is ``(time,)`` mono or ``(channels, time)`` (torchaudio/librosa order). soundfile's
  ``(frames, channels)`` is transposed by :func:`load_audio`; a 2-D array with more than
  :data:`MAX_CHANNELS` rows is refused as probably ``(frames, channels)``.
- Samples are floats (float16/32/64; float32 out), finite, and within ±:data:`MAX_ABS_SAMPLE`
  (nominally [-1, 1]; far louder samples are finite but their power overflows float32, so they
  would come out as NaN probabilities). Integer PCM is refused unless
  ``allow_int=True``, which scales it by its full scale (int16 / 32768, as soundfile does):
  an int array is as often a bug (labels, indices) as audio, so converting is opt-in.
  bool, complex and object arrays are always refused.
- Sample rates are integers in [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`] (the metadata
  contract's bounds); a caller may narrow them (a piano model needs 8 kHz or more).
- Files are decoded here and nowhere else (the CLI, the service and Pipeline all call
  :func:`load_audio`); ``max_seconds`` refuses a long file from its header, before decoding it.
- Resampling uses soxr (``"HQ"``), never a hand-written filter.
- A clip shorter than the model window is zero-padded at the end; a longer one is cut into
  windows of ``clip_samples`` every ``hop`` samples (default half a window), the last window
  aligned with the clip's end so every sample is seen and no window is mostly padding.
  (A pipeline whose graph pads or trims like its model's extractor fits clips otherwise:
  :mod:`audiofront.runtime.lengths`.)

Every problem is an :class:`~audiofront.errors.InputError` that says what was expected.

Example::

    >>> windows = prepare_audio(np.zeros(48000, np.float32), 48000, target_rate=32000, clip_samples=16000)
    >>> windows.shape                                   # 1 s at 48 kHz -> 32000 samples -> 3 windows
    (3, 16000)
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Union

import numpy as np

from audiofront.errors import ConfigError, InputError, InputTooLong
from audiofront.export.metadata import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = [
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MAX_CHANNELS",
    "AudioSource",
    "is_torch_tensor",
    "check_sample_rate",
    "check_channels",
    "check_sample_range",
    "MAX_ABS_SAMPLE",
    "as_audio_array",
    "load_audio",
    "select_channels",
    "resample",
    "window_starts",
    "frame_windows",
    "prepare_mono",
    "prepare_audio",
]

MAX_CHANNELS = 64
# The largest |sample| taken. A power spectrum sums n_fft squared samples: at 1e15 and n_fft 16384
# that is about 3e38, float32's limit (3.4e38); 1e17 overflows already at n_fft 512.
MAX_ABS_SAMPLE = 1e15

# What :func:`prepare_audio` and :func:`load_audio` take as a file: a path, bytes, or a binary file object.
AudioSource = Union[str, os.PathLike, bytes, bytearray, io.IOBase]

_INT_SCALE = {np.dtype(np.int8): 128.0, np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0,
              np.dtype(np.int64): 9223372036854775808.0}


def is_torch_tensor(value) -> bool:
    """True for a ``torch.Tensor``, told by its type's module so that torch is never imported here."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def check_sample_rate(sample_rate, *, name: str = "sample_rate", low: int = MIN_SAMPLE_RATE,
                      high: int = MAX_SAMPLE_RATE) -> int:
    """Return ``sample_rate`` as an int, or raise :class:`InputError` unless it is an integer in [low, high].

    Floats with an integral value (``44100.0``) are accepted.
    """
    if isinstance(sample_rate, bool) or sample_rate is None:
        raise InputError(f"{name} must be an integer in [{low}, {high}] Hz, got {sample_rate!r}")
    if isinstance(sample_rate, (float, np.floating)) and float(sample_rate).is_integer():
        sample_rate = int(sample_rate)
    if not isinstance(sample_rate, (int, np.integer)):
        raise InputError(f"{name} must be an integer in [{low}, {high}] Hz, got {sample_rate!r}")
    sample_rate = int(sample_rate)
    if not low <= sample_rate <= high:
        raise InputError(f"{name}={sample_rate} Hz is not supported: it must be in [{low}, {high}] Hz")
    return sample_rate


def check_channels(channels) -> str | int:
    """Validate a channel option: ``"mix"`` (average all channels) or a channel index >= 0."""
    if channels == "mix" and isinstance(channels, str):
        return "mix"
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 0:
        raise ConfigError(f"channels must be 'mix' or a channel index >= 0, got {channels!r}")
    return int(channels)


def as_audio_array(audio, *, allow_int: bool = False, name: str = "audio") -> np.ndarray:
    """Check ``audio`` (numpy array or torch tensor) and return it as float32 ``(channels, time)``.

    Raises :class:`InputError` for a wrong type, dtype or rank, no samples, or NaN/Inf samples.
    """
    if is_torch_tensor(audio):
        if getattr(audio, "is_complex", lambda: False)():
            raise InputError(f"{name} must be real audio samples, got a complex tensor ({audio.dtype})")
        audio = audio.detach().to("cpu").numpy()
    if isinstance(audio, (list, tuple)):
        raise InputError(f"{name} must be a numpy array or torch tensor, got a {type(audio).__name__} (use np.asarray)")
    if not isinstance(audio, np.ndarray):
        raise InputError(f"{name} must be a numpy array or torch tensor, got {type(audio).__name__}")
    kind = audio.dtype.kind
    if kind in "iu":
        if not allow_int:
            raise InputError(
                f"{name} has integer dtype {audio.dtype}; pass float audio in [-1, 1], or allow_int=True to "
                "scale integer PCM by its full scale"
            )
        if kind == "u":
            if audio.dtype != np.uint8:
                raise InputError(f"{name}: unsigned PCM other than uint8 is not audio, got {audio.dtype}")
            audio = (audio.astype(np.float32) - 128.0) / 128.0
        else:
            audio = (audio.astype(np.float64) / _INT_SCALE[audio.dtype]).astype(np.float32)
    elif kind != "f":
        raise InputError(f"{name} must hold real float samples, got dtype {audio.dtype}")
    if audio.ndim == 1:
        audio = audio[np.newaxis, :]
    elif audio.ndim != 2:
        raise InputError(f"{name} must be (time,) or (channels, time), got shape {audio.shape}")
    if audio.shape[0] > MAX_CHANNELS:
        raise InputError(
            f"{name} has shape {audio.shape}, read as {audio.shape[0]} channels (max {MAX_CHANNELS}); arrays are "
            "(channels, time) — transpose soundfile's (frames, channels) with .T"
        )
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {audio.shape}): no samples to classify")
    audio = np.asarray(audio, dtype=np.float32)
    if not np.isfinite(audio).all():
        bad = int(np.size(audio) - np.count_nonzero(np.isfinite(audio)))
        raise InputError(f"{name} holds {bad} NaN or infinite sample(s)")
    return check_sample_range(audio, name=name)


def check_sample_range(audio: np.ndarray, *, name: str = "audio") -> np.ndarray:
    """Return ``audio`` unchanged, or raise :class:`InputError` if a sample's magnitude exceeds
    :data:`MAX_ABS_SAMPLE` (finite, but its power overflows float32 in the front-end)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        raise InputError(
            f"{name} holds samples of magnitude up to {peak:.3g}; samples must be within ±{MAX_ABS_SAMPLE:g} "
            "(audio is nominally in [-1, 1]): their power would overflow float32"
        )
    return audio


class _ReadGuard:
    """A binary file for soundfile that keeps the first error its reads or seeks raise.

    soundfile reads file objects through libsndfile callbacks, which cannot pass an exception on:
    a read that raises looks like the end of the file, and the audio comes back silently cut
    short. The guard answers such a read as end of file and :func:`load_audio` raises the kept
    error once soundfile returns.
    """

    def __init__(self, file):
        self._file, self.error, self.bytes_read = file, None, 0

    def _keep(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    def readinto(self, buffer) -> int:
        # libsndfile takes a short read for the end of the file; a raw reader (a socket, an unbuffered
        # file) may return short reads before its end, or fail on the next call: read until the
        # buffer is full, the reader says end of file, or it fails.
        view, total = memoryview(buffer).cast("B"), 0
        while total < len(view):
            try:
                if hasattr(self._file, "readinto"):
                    n = self._file.readinto(view[total:]) or 0
                else:
                    data = self._file.read(len(view) - total)
                    n = len(data)
                    view[total:total + n] = data
            except Exception as exc:  # noqa: BLE001 - any reader failure is an I/O failure here
                self._keep(exc)
                break
            if n == 0:
                break
            total += n
        self.bytes_read += total
        return total

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._file.read(size)
        except Exception as exc:  # noqa: BLE001
            self._keep(exc)
            return b""
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self._file.seek(offset, whence)
        except Exception as exc:  # noqa: BLE001
            self._keep(exc)
            raise

    def tell(self) -> int:
        return self._file.tell()


def load_audio(source: AudioSource, *, max_seconds: float | None = None, min_rate: int = MIN_SAMPLE_RATE,
               max_rate: int = MAX_SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, OGG, MP3... whatever libsndfile reads) with soundfile.

    ``source`` is a path, the file's bytes, or a binary file object. Returns float32
    ``(channels, time)`` and the file's sample rate. Raises :class:`InputError` naming the file
    when it is missing, unreadable, corrupt, empty, holds NaN/Inf, or its rate is outside
    [``min_rate``, ``max_rate``]; :class:`~audiofront.errors.InputTooLong` when its header says
    it lasts more than ``max_seconds`` (checked before decoding: a small compressed file can
    expand to hours).
    """
    import soundfile as sf

    if isinstance(source, (bytes, bytearray)):
        label, handle = f"<{len(source)} bytes>", io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label, handle = repr(str(path)), str(path)
        if not path.exists():
            raise InputError(f"audio file {label} does not exist")
        if not path.is_file():
            raise InputError(f"audio file {label} is not a file")
    elif hasattr(source, "read"):
        label, handle = f"<{type(source).__name__}>", source
    else:
        raise InputError(f"an audio source must be a path, bytes or a binary file object, got {type(source).__name__}")
    guard = None
    try:
        if not isinstance(handle, str):
            handle = guard = _ReadGuard(handle)
        if max_seconds is not None:
            start = handle.tell() if hasattr(handle, "tell") else None
            info = sf.info(handle)
            if start is not None:
                handle.seek(start)
            seconds = info.frames / max(info.samplerate, 1)
            if info.samplerate <= 0 or seconds > max_seconds:
                raise InputTooLong(f"clip of {seconds:.2f} s exceeds the limit of {max_seconds:g} s")
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except InputTooLong:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as exc:
        if guard is not None and guard.error is not None:
            exc = guard.error
        raise InputError(f"cannot read audio file {label}: {_reason(exc)}") from exc
    except OSError as exc:
        raise InputError(f"cannot read audio file {label}: {exc.strerror or exc}") from None
    if guard is not None and guard.error is not None:
        raise InputError(f"cannot read audio file {label}: reading failed after {guard.bytes_read} bytes: "
                         f"{_reason(guard.error)}") from guard.error
    rate = check_sample_rate(rate, name=f"sample rate of {label}", low=min_rate, high=max_rate)
    if max_seconds is not None and data.shape[0] / rate > max_seconds:  # a header that lied
        raise InputTooLong(f"clip of {data.shape[0] / rate:.2f} s exceeds the limit of {max_seconds:g} s")
    return as_audio_array(np.ascontiguousarray(data.T), name=f"audio file {label}"), rate


def _reason(exc: BaseException) -> str:
    # soundfile's messages name the file object ("Error opening <_io.BytesIO object at 0x...>"): an
    # internal detail, so keep libsndfile's own reason and drop object reprs.
    reason = getattr(exc, "error_string", None) or getattr(exc, "strerror", None) or str(exc)
    return re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>:?", "", reason).strip() or type(exc).__name__


def select_channels(audio: np.ndarray, channels: str | int = "mix") -> np.ndarray:
    """``(channels, time) -> (time,)``: the mean of all channels, or channel ``channels``."""
    channels = check_channels(channels)
    if audio.ndim == 1:
        audio = audio[np.newaxis, :]
    if channels == "mix":
        return audio[0] if audio.shape[0] == 1 else audio.mean(axis=0, dtype=np.float32)
    if channels >= audio.shape[0]:
        raise InputError(f"channel {channels} was asked for but the audio has {audio.shape[0]} channel(s)")
    return audio[channels]


def resample(audio: np.ndarray, orig_rate: int, target_rate: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample ``(time,)`` float audio from ``orig_rate`` to ``target_rate`` with soxr; float32 out."""
    import soxr

    orig_rate = check_sample_rate(orig_rate, name="orig_rate")
    target_rate = check_sample_rate(target_rate, name="target_rate")
    if orig_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(audio, dtype=np.float32), orig_rate, target_rate, quality=quality)
    return np.asarray(out, dtype=np.float32)


def window_starts(length: int, clip_samples: int, hop: int | None = None) -> list[int]:
    """Start sample of each window for a clip of ``length`` samples (see the module doc)."""
    hop = _check_hop(hop, clip_samples)
    if length <= clip_samples:
        return [0]
    starts = list(range(0, length - clip_samples + 1, hop))
    if starts[-1] + clip_samples < length:
        starts.append(length - clip_samples)
    return starts


def _check_hop(hop, clip_samples: int) -> int:
    if hop is None:
        return max(clip_samples // 2, 1)
    if isinstance(hop, bool) or not isinstance(hop, (int, np.integer)) or not 1 <= hop <= clip_samples:
        raise ConfigError(f"hop must be an integer in [1, clip_samples = {clip_samples}], got {hop!r}")
    return int(hop)


def frame_windows(audio: np.ndarray, clip_samples: int, hop: int | None = None) -> np.ndarray:
    """``(time,) -> (n_windows, clip_samples)`` float32: pad a short clip, window a long one."""
    if isinstance(clip_samples, bool) or not isinstance(clip_samples, (int, np.integer)) or clip_samples < 1:
        raise ConfigError(f"clip_samples must be a positive integer, got {clip_samples!r}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise InputError(f"frame_windows takes non-empty mono audio (time,), got shape {audio.shape}")
    if audio.size <= clip_samples:
        out = np.zeros((1, clip_samples), dtype=np.float32)
        out[0, : audio.size] = audio
        return out
    starts = window_starts(audio.size, clip_samples, hop)
    return np.stack([audio[s : s + clip_samples] for s in starts])


def prepare_mono(
    audio,
    sample_rate: int | None,
    *,
    target_rate: int,
    channels: str | int = "mix",
    allow_int: bool = False,
) -> np.ndarray:
    """Any audio -> one mono clip ``(time,)`` float32 at ``target_rate`` (before any padding or windowing).

    ``audio`` is an array/tensor at ``sample_rate`` (``None``: already at ``target_rate``) or a
    file (path, bytes, file object), whose own rate is used. Channels are mixed or selected,
    the result resampled with soxr.
    """
    if isinstance(audio, (str, os.PathLike, bytes, bytearray)) or (hasattr(audio, "read") and not hasattr(audio, "shape")):
        data, rate = load_audio(audio)
    else:
        data = as_audio_array(audio, allow_int=allow_int)
        rate = target_rate if sample_rate is None else check_sample_rate(sample_rate)
    mono = select_channels(data, channels)
    mono = resample(mono, rate, target_rate)
    if mono.size == 0:
        raise InputError(
            f"audio of {data.shape[-1]} sample(s) at {rate} Hz is empty once resampled to {target_rate} Hz"
        )
    return mono


def prepare_audio(
    audio,
    sample_rate: int | None,
    *,
    target_rate: int,
    clip_samples: int,
    hop: int | None = None,
    channels: str | int = "mix",
    allow_int: bool = False,
) -> np.ndarray:
    """Any audio -> model windows ``(n_windows, clip_samples)`` float32 at ``target_rate``.

    :func:`prepare_mono`, then :func:`frame_windows` (a short clip zero-padded, a long one windowed).
    A Pipeline whose graph pads its input itself fits clips by its
    :class:`~audiofront.runtime.lengths.LengthPolicy` instead.
    """
    mono = prepare_mono(audio, sample_rate, target_rate=target_rate, channels=channels, allow_int=allow_int)
    return frame_windows(mono, clip_samples, hop)
