"""audiofront: audio front-ends as PyTorch modules that export to clean ONNX graphs.

Subpackages: ``audiofront.frontend`` (the modules), ``audiofront.export`` (ONNX/TensorRT),
``audiofront.runtime`` (one Pipeline over backends), ``audiofront.models`` (classifiers).
"""

from audiofront.errors import (
    AudiofrontError,
    BackendUnavailable,
    ConfigError,
    ExportError,
    InputError,
    InputTooLong,
    MissingDependency,
    ModelFileError,
    QueueFull,
    RunnerError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AudiofrontError",
    "BackendUnavailable",
    "ConfigError",
    "ExportError",
    "InputError",
    "InputTooLong",
    "MissingDependency",
    "ModelFileError",
    "QueueFull",
    "RunnerError",
]
