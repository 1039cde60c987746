"""Which backends can run on this machine, and which one ``backend="auto"`` picks.

Each backend has a probe that answers ``(usable, reason)`` without side effects beyond importing
its package; the ONNX Runtime GPU probes open a one-node session on the provider, because a
provider listed by ``get_available_providers()`` may still fail to start (no GPU, missing
cuDNN) and ONNX Runtime then silently runs on the CPU.

Auto order (best first): ``tensorrt`` > ``onnxruntime-cuda`` > ``torch-cuda`` >
``onnxruntime-cpu`` > ``torch-cpu``. ``onnxruntime-tensorrt`` (ONNX Runtime's TensorRT
provider) is available by name only: it builds engines on first use, which takes minutes.

Example::

    >>> for status in available_backends():
    ...     print(status.name, status.usable, status.reason)
    >>> choose_backend("auto").name
    'onnxruntime-cpu'
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from audiofront.errors import BackendUnavailable, ConfigError

__all__ = [
    "BACKENDS",
    "AUTO_ORDER",
    "BackendStatus",
    "BackendChoice",
    "available_backends",
    "backend_status",
    "choose_backend",
    "UNSUPPORTED",
]

AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "torch-cuda", "onnxruntime-cpu", "torch-cpu")
BACKENDS = AUTO_ORDER + ("onnxruntime-tensorrt",)

_TORCH_ONLY = "runs torch modules (Pipeline.from_torch), not model files"
# For each kind of pipeline: the backends that cannot run it, and why (auto skips them, naming them fails).
UNSUPPORTED: dict[str, dict[str, str]] = {
    "onnx": {
        "tensorrt": "runs .engine files (build one from this ONNX with audiofront.export.build_engine)",
        "torch-cuda": _TORCH_ONLY,
        "torch-cpu": _TORCH_ONLY,
    },
    "engine": {b: "a TensorRT engine runs on tensorrt only" for b in BACKENDS if b != "tensorrt"},
    "torch": {b: "Pipeline.from_torch runs torch modules" for b in BACKENDS if not b.startswith("torch-")},
}


@dataclass(frozen=True)
class BackendStatus:
    """Whether backend ``name`` can run here; ``reason`` says why not (or what it runs on)."""

    name: str
    usable: bool
    reason: str


@dataclass(frozen=True)
class BackendChoice:
    """The backend picked and why (for auto: why each better one was skipped)."""

    name: str
    reason: str


def _torch_cuda() -> tuple[bool, str]:
    import torch

    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU-only build (no CUDA)"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"


def _probe_torch_cpu() -> tuple[bool, str]:
    import torch

    return True, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def _probe_torch_cuda() -> tuple[bool, str]:
    return _torch_cuda()


def _ort_provider_runs(ort, provider: str) -> tuple[bool, str]:
    """Open a one-node session on ``provider`` and check it is the one running."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the fallback warning is what we report, in words
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=[provider, "CPUExecutionProvider"])
    except Exception as exc:
        return False, f"{provider} failed to start: {type(exc).__name__}: {exc}"
    running = session.get_providers()
    if running[0] != provider:
        return False, (
            f"{provider} is compiled into onnxruntime {ort.__version__} but did not start (no usable GPU, or the "
            f"CUDA/cuDNN libraries failed to load); onnxruntime would silently run {running[0]}"
        )
    return True, f"onnxruntime {ort.__version__} with {provider}"


def _ort_probe(provider: str) -> tuple[bool, str]:
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
    return _ort_provider_runs(ort, provider)


def _probe_ort_cpu() -> tuple[bool, str]:
    return _ort_probe("CPUExecutionProvider")


def _probe_ort_cuda() -> tuple[bool, str]:
    return _ort_probe("CUDAExecutionProvider")


def _probe_ort_tensorrt() -> tuple[bool, str]:
    return _ort_probe("TensorrtExecutionProvider")


def _probe_tensorrt() -> tuple[bool, str]:
    if importlib.util.find_spec("tensorrt") is None:
        return False, "TensorRT is not installed (Python package 'tensorrt' with the TensorRT libraries; needs an NVIDIA GPU)"
    from audiofront.export.engine import import_tensorrt

    try:
        trt = import_tensorrt(min_major=10)
    except BackendUnavailable as exc:
        return False, str(exc)
    ok, why = _torch_cuda()
    if not ok:
        return False, f"TensorRT {trt.__version__} is installed but {why} (the runner keeps buffers in torch CUDA tensors)"
    return True, f"TensorRT {trt.__version__}; {why}"


_PROBES: dict[str, Callable[[], tuple[bool, str]]] = {
    "tensorrt": _probe_tensorrt,
    "onnxruntime-cuda": _probe_ort_cuda,
    "torch-cuda": _probe_torch_cuda,
    "onnxruntime-cpu": _probe_ort_cpu,
    "torch-cpu": _probe_torch_cpu,
    "onnxruntime-tensorrt": _probe_ort_tensorrt,
}


@functools.lru_cache(maxsize=None)
def _cached_status(name: str) -> BackendStatus:
    try:
        usable, reason = _PROBES[name]()
    except Exception as exc:  # a probe must answer, not crash the caller
        usable, reason = False, f"probe failed: {type(exc).__name__}: {exc}"
    return BackendStatus(name, bool(usable), reason)


def backend_status(name: str, *, refresh: bool = False) -> BackendStatus:
    """Probe one backend (cached; ``refresh=True`` probes again)."""
    if name not in _PROBES:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    if refresh:
        _cached_status.cache_clear()
    return _cached_status(name)


def available_backends(*, refresh: bool = False) -> list[BackendStatus]:
    """Every backend in :data:`BACKENDS` order, usable or not, with the reason."""
    if refresh:
        _cached_status.cache_clear()
    return [_cached_status(name) for name in BACKENDS]


def choose_backend(
    requested: str = "auto",
    *,
    unsupported: Mapping[str, str] | None = None,
    statuses: Sequence[BackendStatus] | None = None,
) -> BackendChoice:
    """Pick a backend: ``"auto"`` (best usable in :data:`AUTO_ORDER`) or one by name.

    ``unsupported`` maps backends that cannot run the artifact at hand to why (a TensorRT
    engine runs on ``tensorrt`` only); ``statuses`` overrides the probes (tests, callers that
    probed already). Raises :class:`ConfigError` for an unknown name and
    :class:`BackendUnavailable` (with the reason) when the requested backend, or every backend
    for ``"auto"``, cannot run here.
    """
    unsupported = dict(unsupported or {})
    if statuses is None:
        table = {s.name: s for s in available_backends()}
    else:
        table = {s.name: s for s in statuses}
    if not isinstance(requested, str) or (requested != "auto" and requested not in BACKENDS):
        raise ConfigError(f"backend must be 'auto' or one of {list(BACKENDS)}, got {requested!r}")

    def status(name: str) -> BackendStatus:
        return table.get(name) or BackendStatus(name, False, "not probed")

    if requested != "auto":
        if requested in unsupported:
            raise BackendUnavailable(f"backend {requested!r} cannot run this model: {unsupported[requested]}")
        st = status(requested)
        if not st.usable:
            raise BackendUnavailable(f"backend {requested!r} is not usable here: {st.reason}")
        return BackendChoice(requested, f"{requested} requested explicitly ({st.reason})")

    skipped = []
    for name in AUTO_ORDER:
        if name in unsupported:
            skipped.append(f"{name}: {unsupported[name]}")
            continue
        st = status(name)
        if st.usable:
            why = f"{name}: the best usable backend in the order {' > '.join(AUTO_ORDER)} ({st.reason})"
            return BackendChoice(name, why + ("; skipped " + "; ".join(skipped) if skipped else ""))
        skipped.append(f"{name}: {st.reason}")
    raise BackendUnavailable("no backend can run this model here: " + "; ".join(skipped))
