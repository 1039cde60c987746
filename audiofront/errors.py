"""One error hierarchy, so callers can catch what they mean.

``ConfigError`` and ``InputError`` are ``ValueError``s and ``BackendUnavailable`` is a
``RuntimeError``, so code that already catches the builtin types keeps working.
"""

__all__ = [
    "AudiofrontError",
    "ConfigError",
    "InputError",
    "BackendUnavailable",
    "ExportError",
    "ModelFileError",
    "RunnerError",
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
