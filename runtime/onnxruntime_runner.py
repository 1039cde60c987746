"""ONNX Runtime backend: ``OnnxRuntimeRunner`` runs an ONNX file on the CPU, CUDA or TensorRT provider.

ONNX Runtime quietly falls back to the CPU when the CUDA (or TensorRT) provider cannot start —
missing CUDA/cuDNN libraries, no GPU — and only logs a warning. This runner checks that the
first provider asked for is the one the session runs (``session.get_providers()[0]``) and
raises :class:`~audiofront.errors.BackendUnavailable` otherwise, so "CUDA" never silently
means "CPU".

On a GPU provider the runner uses I/O binding: each input is copied to the device once, the
whole graph runs there, and only the outputs come back.

Example::

    >>> with OnnxRuntimeRunner("pipeline.onnx") as runner:   # CPUExecutionProvider
    ...     out = runner.infer({"audio": np.zeros((1, 16000), np.float32)})
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audiofront.errors import BackendUnavailable, ConfigError, ModelFileError
from audiofront.runtime.runner import Runner, TensorSpec

__all__ = ["OnnxRuntimeRunner", "PROVIDER_ALIASES", "ort_dtype"]

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
_BACKEND_NAMES = {
    "CPUExecutionProvider": "onnxruntime-cpu",
    "CUDAExecutionProvider": "onnxruntime-cuda",
    "TensorrtExecutionProvider": "onnxruntime-tensorrt",
}
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def ort_dtype(type_string: str) -> np.dtype:
    """numpy dtype of an ONNX Runtime type string such as ``"tensor(float)"``."""
    if type_string not in _ORT_TYPES:
        raise ModelFileError(f"unsupported ONNX tensor type {type_string!r}")
    return np.dtype(_ORT_TYPES[type_string])


def _import_ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(
            f"onnxruntime is not installed ({exc}); install the 'cpu' extra (onnxruntime) or the 'gpu' extra "
            "(onnxruntime-gpu), never both"
        ) from None
    return onnxruntime


def _provider_name(provider) -> str:
    name = provider[0] if isinstance(provider, tuple) else provider
    if not isinstance(name, str):
        raise ConfigError(f"providers must hold provider names or (name, options) tuples, got {provider!r}")
    return PROVIDER_ALIASES.get(name.lower(), name)


def _spec(node_arg) -> TensorSpec:
    shape = None if node_arg.shape is None else tuple(
        d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None) for d in node_arg.shape
    )
    return TensorSpec(node_arg.name, shape, ort_dtype(node_arg.type))


class OnnxRuntimeRunner(Runner):
    """Run an ONNX model (a path, or serialized bytes) with ONNX Runtime.

    ``providers`` lists provider names (``"CPUExecutionProvider"``, ``"CUDAExecutionProvider"``,
    ``"TensorrtExecutionProvider"``, or the aliases ``"cpu"``, ``"cuda"``, ``"tensorrt"``) or
    ``(name, options)`` tuples, best first; later ones take the nodes the first cannot run.
    ``io_binding`` defaults to True on a GPU provider (copy inputs once, keep the graph on the
    device) and False on the CPU. ``session_options`` is an ``onnxruntime.SessionOptions``;
    ``intra_op_num_threads`` sets its thread count when given.

    Raises :class:`ModelFileError` for a missing or invalid model, :class:`BackendUnavailable`
    when the first provider is not compiled into this onnxruntime or did not start.
    """

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        providers: Sequence[str | tuple[str, dict[str, Any]]] = ("CPUExecutionProvider",),
        *,
        io_binding: bool | None = None,
        device_id: int = 0,
        session_options=None,
        intra_op_num_threads: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        single = isinstance(providers, str) or (
            isinstance(providers, tuple) and len(providers) == 2 and isinstance(providers[1], dict)
        )
        providers = [providers] if single else list(providers)
        if not providers:
            raise ConfigError("providers must name at least one execution provider")
        self.providers = [
            (_provider_name(p), p[1]) if isinstance(p, tuple) else _provider_name(p) for p in providers
        ]
        self.requested_provider = _provider_name(self.providers[0])
        self.backend = _BACKEND_NAMES.get(self.requested_provider, f"onnxruntime-{self.requested_provider}")
        if isinstance(model, (bytes, bytearray)):
            self._model: str | bytes = bytes(model)
            self.source = "<bytes>"
        else:
            self._model = os.fspath(model)
            self.source = self._model
        if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
            raise ConfigError(f"device_id must be a non-negative integer, got {device_id!r}")
        if intra_op_num_threads is not None and (
            isinstance(intra_op_num_threads, bool) or not isinstance(intra_op_num_threads, int) or intra_op_num_threads < 0
        ):
            raise ConfigError(f"intra_op_num_threads must be a non-negative integer or None, got {intra_op_num_threads!r}")
        self.device_id = device_id
        self.on_gpu = self.requested_provider in _GPU_PROVIDERS
        self.io_binding = self.on_gpu if io_binding is None else bool(io_binding)
        self._session_options = session_options
        self._threads = intra_op_num_threads
        self.session = None
        self.metadata: dict[str, str] = {}

    def _activate(self):
        ort = _import_ort()
        available = ort.get_available_providers()
        if self.requested_provider not in available:
            hint = " (install onnxruntime-gpu, the 'gpu' extra, instead of onnxruntime)" if self.on_gpu else ""
            raise BackendUnavailable(
                f"{self.requested_provider} is not in this onnxruntime {ort.__version__} build "
                f"(available: {', '.join(available)}){hint}"
            )
        if isinstance(self._model, str) and not Path(self._model).is_file():
            raise ModelFileError(f"ONNX model file {self._model!r} does not exist or is not a file")
        options = self._session_options or ort.SessionOptions()
        if self._threads is not None:
            options.intra_op_num_threads = self._threads
        providers = [
            (p[0], {"device_id": self.device_id, **p[1]}) if isinstance(p, tuple) and p[0] in _GPU_PROVIDERS
            else ((p, {"device_id": self.device_id}) if p in _GPU_PROVIDERS else p)
            for p in self.providers
        ]
        try:
            session = ort.InferenceSession(self._model, sess_options=options, providers=providers)
        except Exception as exc:
            raise ModelFileError(
                f"onnxruntime cannot load {self.source!r}: {type(exc).__name__}: {str(exc).strip()}"
            ) from None
        running = session.get_providers()
        if not running or running[0] != self.requested_provider:
            raise BackendUnavailable(
                f"{self.requested_provider} was requested but onnxruntime runs {running} (it fell back "
                "silently: no usable GPU, or the CUDA/cuDNN/TensorRT libraries failed to load)"
            )
        self.session = session
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        return [_spec(a) for a in session.get_inputs()], [_spec(a) for a in session.get_outputs()]

    def _infer(self, feeds):
        names = [spec.name for spec in self._output_specs]
        if not self.io_binding:
            return dict(zip(names, self.session.run(names, feeds)))
        binding = self.session.io_binding()
        device = "cuda" if self.on_gpu else "cpu"
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)  # one host-to-device copy per input
        for name in names:
            binding.bind_output(name, device, self.device_id)
        self.session.run_with_iobinding(binding)
        return dict(zip(names, binding.copy_outputs_to_cpu()))

    def _deactivate(self):
        self.session = None
