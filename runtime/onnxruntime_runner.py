"""ONNX Runtime backend: ``OnnxRuntimeRunner`` runs an ONNX file on the CPU, CUDA or TensorRT provider.

Sessions come from :func:`audiofront.export.session.make_session`, which checks that the first
provider asked for is the one the session runs: ONNX Runtime quietly falls back to the CPU when
the CUDA (or TensorRT) provider cannot start, so "CUDA" never silently means "CPU" here.

On a GPU provider the runner uses I/O binding: each input is copied to the device once, the
whole graph runs there, and only the outputs come back.

This module is the whole backend: the runner, the probes and the registry entries
(:data:`BACKENDS`) for ``onnxruntime-cpu``, ``onnxruntime-cuda`` and ``onnxruntime-tensorrt``.

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
from audiofront.export.session import GPU_PROVIDERS, PROVIDER_ALIASES, make_session, provider_name
from audiofront.runtime.backends import Backend
from audiofront.runtime.runner import Runner, TensorSpec

__all__ = ["OnnxRuntimeRunner", "PROVIDER_ALIASES", "ort_dtype", "BACKENDS"]

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
            (provider_name(p), p[1]) if isinstance(p, tuple) else provider_name(p) for p in providers
        ]
        self.requested_provider = provider_name(self.providers[0])
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
        self.on_gpu = self.requested_provider in GPU_PROVIDERS
        self.io_binding = self.on_gpu if io_binding is None else bool(io_binding)
        self._session_options = session_options
        self._threads = intra_op_num_threads
        self.session = None
        self.metadata: dict[str, str] = {}

    def _activate(self):
        session = make_session(
            self._model, self.providers, intra_op_threads=self._threads, device_id=self.device_id,
            session_options=self._session_options,
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


# ----- the registry's entries -----------------------------------------------------------------
def _identity_model() -> bytes:
    """A one-node (Identity) ONNX model for the GPU probes."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()


def _probe(provider: str) -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        extra = "'gpu' extra (onnxruntime-gpu)" if provider != "CPUExecutionProvider" else "'cpu' extra (onnxruntime)"
        return False, f"onnxruntime is not installed (install the {extra})"
    try:
        import onnxruntime as ort
    except Exception as exc:
        return False, f"import onnxruntime failed: {type(exc).__name__}: {exc}"
    available = ort.get_available_providers()
    if provider not in available:
        hint = "" if provider == "CPUExecutionProvider" else (
            "; onnxruntime-gpu is not installed (the 'gpu' extra, in place of onnxruntime)"
            if "CUDAExecutionProvider" not in available else ""
        )
        return False, f"onnxruntime {ort.__version__} has no {provider} (providers: {', '.join(available)}){hint}"
    if provider == "CPUExecutionProvider":
        return True, f"onnxruntime {ort.__version__}"
    # Compiled in is not enough: open a one-node session and check the provider is the one running.
    try:
        make_session(_identity_model(), [provider, "CPUExecutionProvider"], log_severity=4)
    except BackendUnavailable as exc:
        return False, f"{provider} is compiled into onnxruntime {ort.__version__} but did not start: {exc}"
    except Exception as exc:
        return False, f"{provider} failed to start: {type(exc).__name__}: {exc}"
    return True, f"onnxruntime {ort.__version__} with {provider}"


_PROVIDER_CHAINS = {
    "onnxruntime-cpu": ["CPUExecutionProvider"],
    "onnxruntime-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "onnxruntime-tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
_ONNX_ONLY = {"engine": "a TensorRT engine runs on tensorrt only", "torch": "Pipeline.from_torch runs torch modules"}


def _factory(backend: str):
    def make_runner(artifact, *, kind="onnx", threads=None, device=None, **_ignored) -> OnnxRuntimeRunner:
        index = int(device.split(":")[1]) if isinstance(device, str) and ":" in device else 0
        return OnnxRuntimeRunner(artifact, _PROVIDER_CHAINS[backend], intra_op_num_threads=threads, device_id=index)

    return make_runner


BACKENDS = (
    Backend("onnxruntime-cuda", lambda: _probe("CUDAExecutionProvider"), _factory("onnxruntime-cuda"), ("onnx",),
            rank=20, device="cuda", refuses=_ONNX_ONLY),
    Backend("onnxruntime-cpu", lambda: _probe("CPUExecutionProvider"), _factory("onnxruntime-cpu"), ("onnx",),
            rank=40, device="cpu", refuses=_ONNX_ONLY),
    # By name only: ONNX Runtime's TensorRT provider builds its engines on first use, which takes minutes.
    Backend("onnxruntime-tensorrt", lambda: _probe("TensorrtExecutionProvider"), _factory("onnxruntime-tensorrt"),
            ("onnx",), rank=None, device="cuda", refuses=_ONNX_ONLY),
)
