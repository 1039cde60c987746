"""ONNX Runtime sessions, made in one place: providers, threads, spinning and the fallback check.

ONNX Runtime quietly falls back to the CPU when the CUDA (or TensorRT) provider cannot start —
missing CUDA/cuDNN libraries, no GPU — and only logs a warning. :func:`make_session` checks that
the first provider asked for is the one the session runs (``session.get_providers()[0]``) and
raises :class:`~audiofront.errors.BackendUnavailable` otherwise, so "CUDA" never silently means
"CPU". Every user of ONNX Runtime in the package (the runner, the backend probes, the parity
check, the fp16 comparison, the latency benchmark) opens its sessions here.

``onnxruntime`` is imported on the first call, never at module import.

Example::

    >>> session = make_session(frontend_onnx, intra_op_threads=1, spinning=False)
    >>> session.get_providers()[0]
    'CPUExecutionProvider'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from audiofront.errors import BackendUnavailable, ConfigError, ModelFileError

__all__ = ["PROVIDER_ALIASES", "GPU_PROVIDERS", "import_onnxruntime", "provider_name", "make_session"]

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def import_onnxruntime():
    """``import onnxruntime``, or :class:`BackendUnavailable` saying which extra installs it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(
            f"onnxruntime is not installed ({exc}); install the 'cpu' extra (onnxruntime) or the 'gpu' extra "
            "(onnxruntime-gpu), never both"
        ) from None
    return onnxruntime


def provider_name(provider) -> str:
    """The full provider name of ``"cpu"``/``"cuda"``/``"tensorrt"``, a name, or a ``(name, options)`` tuple."""
    name = provider[0] if isinstance(provider, tuple) else provider
    if not isinstance(name, str):
        raise ConfigError(f"providers must hold provider names or (name, options) tuples, got {provider!r}")
    return PROVIDER_ALIASES.get(name.lower(), name)


def _check_threads(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigError(f"{name} must be a non-negative integer or None, got {value!r}")


def make_session(
    model: str | os.PathLike | bytes,
    providers: Sequence[str | tuple[str, dict[str, Any]]] = ("CPUExecutionProvider",),
    *,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    spinning: bool | None = None,
    device_id: int = 0,
    session_options=None,
    log_severity: int | None = None,
):
    """An ``onnxruntime.InferenceSession`` on ``providers`` (best first), checked to run on the first.

    ``model`` is a path or serialized bytes. ``intra_op_threads`` / ``inter_op_threads`` set the
    thread pools (``None``: ONNX Runtime's choice); ``spinning=False`` stops idle pool threads
    from spinning after each run (they steal the cores of whatever runs next to the session);
    ``device_id`` goes to the GPU providers; ``log_severity`` 4 silences ONNX Runtime's log.

    Raises :class:`BackendUnavailable` when onnxruntime is missing, the first provider is not
    compiled into it, or it did not start (the session fell back); :class:`ModelFileError` when
    the model is missing or onnxruntime cannot load it; :class:`ConfigError` for bad options.
    """
    ort = import_onnxruntime()
    single = isinstance(providers, str) or (
        isinstance(providers, tuple) and len(providers) == 2 and isinstance(providers[1], dict)
    )
    providers = [providers] if single else list(providers)
    if not providers:
        raise ConfigError("providers must name at least one execution provider")
    _check_threads("intra_op_threads", intra_op_threads)
    _check_threads("inter_op_threads", inter_op_threads)
    if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
        raise ConfigError(f"device_id must be a non-negative integer, got {device_id!r}")
    requested = provider_name(providers[0])
    available = ort.get_available_providers()
    if requested not in available:
        hint = (" (install onnxruntime-gpu, the 'gpu' extra, instead of onnxruntime)"
                if requested in GPU_PROVIDERS and "CUDAExecutionProvider" not in available else "")
        raise BackendUnavailable(
            f"{requested} is not in this onnxruntime {ort.__version__} build (available: {', '.join(available)}){hint}"
        )
    if isinstance(model, (bytes, bytearray)):
        model, source = bytes(model), "<bytes>"
    else:
        model = os.fspath(model)
        source = model
        if not Path(model).is_file():
            raise ModelFileError(f"ONNX model file {model!r} does not exist or is not a file")
    options = session_options or ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    if inter_op_threads is not None:
        options.inter_op_num_threads = inter_op_threads
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if log_severity is not None:
        options.log_severity_level = log_severity
    resolved = []
    for p in providers:
        name = provider_name(p)
        opts = dict(p[1]) if isinstance(p, tuple) else {}
        if name in GPU_PROVIDERS:
            opts = {"device_id": device_id, **opts}
        resolved.append((name, opts) if opts else name)
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=resolved)
    except Exception as exc:
        raise ModelFileError(f"onnxruntime cannot load {source!r}: {type(exc).__name__}: {str(exc).strip()}") from None
    running = session.get_providers()
    if not running or running[0] != requested:
        raise BackendUnavailable(
            f"{requested} was requested but onnxruntime {ort.__version__} runs {running} (it fell back silently: no "
            "usable GPU, or the CUDA/cuDNN/TensorRT libraries failed to load)"
        )
    return session
