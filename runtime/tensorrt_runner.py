"""TensorRT backend: ``TensorRTRunner`` runs a serialized engine (``X.engine``) with TensorRT 10.

``tensorrt`` is imported in :meth:`TensorRTRunner.activate`, never at module import, so this
module loads on machines without it; activating there raises
:class:`~audiofront.errors.BackendUnavailable` saying what is missing.

Buffers are torch CUDA tensors (their ``data_ptr()`` is the tensor address TensorRT wants), so no
pycuda/cuda-python dependency: each input is copied to the device once, the engine runs on a
torch CUDA stream with ``execute_async_v3`` and the outputs are copied back.

The engine's sidecar ``X.engine.json`` (the ONNX metadata plus ``audiofront.onnx_sha256``) is
read into :attr:`TensorRTRunner.metadata` when present.

This module is the whole backend: the runner, its probe and its registry entry (:data:`BACKENDS`).

Example::

    >>> with TensorRTRunner("pipeline.engine") as runner:
    ...     out = runner.infer({"audio": np.zeros((1, 32000), np.float32)})
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from audiofront.errors import BackendUnavailable, InputError, ModelFileError
from audiofront.runtime.backends import Backend
from audiofront.runtime.runner import Runner, RunnerError, TensorSpec

__all__ = ["TensorRTRunner", "BACKENDS"]


class TensorRTRunner(Runner):
    """Run the TensorRT engine at ``engine_path`` on CUDA device ``device`` (optimisation profile 0).

    Dynamic dims are ``None`` in the specs; :attr:`profile_shapes` gives each input's
    ``(min, opt, max)`` shapes and :attr:`max_batch_size` the profile's largest batch. A feed
    outside the profile is an :class:`InputError` naming the allowed range. ``infer`` is
    serialised by a lock: one execution context runs one inference at a time.
    """

    backend = "tensorrt"

    def __init__(self, engine_path: str | os.PathLike, *, device: int = 0, name: str | None = None):
        super().__init__(name)
        self.engine_path = Path(engine_path)
        self.device_index = int(device)
        self.metadata: dict[str, str] = {}
        self.profile_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}
        self._trt = None
        self._engine = None
        self._context = None
        self._stream = None
        self._device = None
        self._lock = threading.Lock()

    def _activate(self):
        from audiofront.export.engine import import_tensorrt, read_sidecar, sidecar_path

        trt = import_tensorrt(min_major=10)
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailable(
                "TensorRT is installed but torch sees no CUDA device (TensorRTRunner keeps its buffers in torch CUDA tensors)"
            )
        if not self.engine_path.is_file():
            raise ModelFileError(f"engine file {str(self.engine_path)!r} does not exist or is not a file")
        if sidecar_path(self.engine_path).is_file():
            self.metadata = read_sidecar(self.engine_path, required=True)
        self._device = torch.device("cuda", self.device_index)
        torch.cuda.set_device(self._device)
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise ModelFileError(
                f"TensorRT {trt.__version__} cannot deserialize {str(self.engine_path)!r}: truncated, not an engine, "
                "or built by another TensorRT version or for another GPU (rebuild it here)"
            )
        context = engine.create_execution_context()
        if context is None:
            raise RunnerError(f"TensorRT could not create an execution context for {str(self.engine_path)!r} (GPU memory?)")
        self._engine, self._context = engine, context
        self._stream = torch.cuda.Stream(device=self._device)
        inputs, outputs = [], []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(None if d < 0 else int(d) for d in engine.get_tensor_shape(name))
            spec = TensorSpec(name, shape, np.dtype(trt.nptype(engine.get_tensor_dtype(name))))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                inputs.append(spec)
                if any(d is None for d in shape):
                    lo, opt, hi = engine.get_tensor_profile_shape(name, 0)
                    self.profile_shapes[name] = (tuple(lo), tuple(opt), tuple(hi))
                    if shape and shape[0] is None:
                        batch_max = int(tuple(hi)[0])
                        self.max_batch_size = batch_max if self.max_batch_size is None else min(self.max_batch_size, batch_max)
            else:
                outputs.append(spec)
        return inputs, outputs

    def _check_profile(self, name: str, shape: tuple[int, ...]) -> None:
        if name not in self.profile_shapes:
            return
        lo, _, hi = self.profile_shapes[name]
        if any(s < a or s > b for s, a, b in zip(shape, lo, hi)):
            raise InputError(
                f"input {name!r} has shape {shape}; this engine's optimisation profile takes {tuple(lo)} to {tuple(hi)}"
            )

    def _infer(self, feeds):
        import torch

        with self._lock, torch.cuda.device(self._device):
            context = self._context
            keep = []  # the device buffers must outlive execute_async_v3
            with torch.cuda.stream(self._stream):
                for spec in self._input_specs:
                    host = feeds[spec.name]
                    self._check_profile(spec.name, host.shape)
                    dev = torch.from_numpy(host).to(self._device, non_blocking=False)
                    if not context.set_input_shape(spec.name, tuple(host.shape)):
                        raise InputError(f"TensorRT refused shape {host.shape} for input {spec.name!r}")
                    context.set_tensor_address(spec.name, dev.data_ptr())
                    keep.append(dev)
                unresolved = context.infer_shapes()
                if unresolved:
                    raise RunnerError(f"TensorRT cannot infer the shapes of {list(unresolved)} from the inputs given")
                results = {}
                for spec in self._output_specs:
                    shape = tuple(context.get_tensor_shape(spec.name))
                    out = torch.empty(shape, dtype=_torch_dtype(spec.dtype), device=self._device)
                    context.set_tensor_address(spec.name, out.data_ptr())
                    results[spec.name] = out
                if not context.execute_async_v3(self._stream.cuda_stream):
                    raise RunnerError(f"TensorRT execute_async_v3 failed on {str(self.engine_path)!r}")
            self._stream.synchronize()
            return {name: t.cpu().numpy() for name, t in results.items()}

    def _deactivate(self):
        self._context = None
        self._engine = None
        self._stream = None


def _torch_dtype(dtype: np.dtype):
    import torch

    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


# ----- the registry's entry -------------------------------------------------------------------
def _probe() -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return False, "TensorRT is not installed (Python package 'tensorrt' with the TensorRT libraries; needs an NVIDIA GPU)"
    from audiofront.export.engine import import_tensorrt

    try:
        trt = import_tensorrt(min_major=10)
    except BackendUnavailable as exc:
        return False, str(exc)
    if importlib.util.find_spec("torch") is None:
        return False, f"TensorRT {trt.__version__} is installed but torch is not (the runner keeps buffers in torch CUDA tensors)"
    import torch

    if not torch.cuda.is_available():
        return False, (f"TensorRT {trt.__version__} is installed but torch {torch.__version__} sees no CUDA device "
                       "(the runner keeps buffers in torch CUDA tensors)")
    return True, f"TensorRT {trt.__version__}; torch {torch.__version__} on {torch.cuda.get_device_name(0)}"


def _make_runner(artifact, *, kind="engine", device=None, **_ignored) -> TensorRTRunner:
    index = int(device.split(":")[1]) if isinstance(device, str) and ":" in device else 0
    return TensorRTRunner(artifact, device=index)


BACKENDS = (
    Backend("tensorrt", _probe, _make_runner, ("engine",), rank=10, device="cuda", refuses={
        "onnx": "runs .engine files (build one from this ONNX with audiofront.export.build_engine)",
        "torch": "Pipeline.from_torch runs torch modules",
    }),
)
