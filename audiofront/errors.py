"""One error hierarchy, so callers can catch what they mean; every exception class of the package is here.

``ConfigError`` and ``InputError`` are ``ValueError``s and ``BackendUnavailable`` is a
``RuntimeError``, so code that already catches the builtin types keeps working.
``MissingDependency`` is also an ``ImportError`` (torch or an extra is not installed), and
``InputTooLong`` an ``InputError`` (a clip over a caller's duration limit: HTTP 413 in the service).
"""

__all__ = [
    "AudiofrontError",
    "ConfigError",
    "InputError",
    "BackendUnavailable",
    "ExportError",
    "ModelFileError",
    "RunnerError",
    "MissingDependency",
    "InputTooLong",
    "QueueFull",
]


class AudiofrontError(Exception):
    """Base of every error audiofront raises on purpose."""


class ConfigError(AudiofrontError, ValueError):
    """A constructor or option got an argument outside its allowed range."""


class InputError(AudiofrontError, ValueError):
    """A call got data it cannot process (dtype, rank, length, NaN, unreadable audio)."""


class BackendUnavailable(AudiofrontError, RuntimeError):
    """A backend (TensorRT, a CUDA provider, a GPU) is not usable on this machine."""


class ExportError(AudiofrontError, RuntimeError):
    """Exporting, checking or composing an ONNX graph failed."""


class ModelFileError(AudiofrontError, ValueError):
    """A model file is missing, truncated, or not what its metadata says."""


class RunnerError(AudiofrontError, RuntimeError):
    """A backend failed on an input that passed every check (out of memory, a kernel error...)."""


class MissingDependency(BackendUnavailable, ImportError):
    """An optional dependency (torch, an extra's package) is not installed; the message says how to install it."""


class InputTooLong(InputError):
    """Audio longer than the caller's limit (the service's ``--max-seconds``), found before decoding all of it."""


class QueueFull(AudiofrontError, RuntimeError):
    """The serving batcher already holds ``max_queue`` requests; the caller should retry later (HTTP 503)."""
