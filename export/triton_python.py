"""A Triton python-backend model that runs an ONNX file with onnxruntime (``model.py``).

This file is written, unchanged, as ``repo/NAME/1/model.py`` by ``audiofront triton --backend
python`` (for Triton installs without the onnxruntime backend, such as the pip ``nvidia-pytriton``
server), and serves as ``<backend-dir>/onnxruntime/model.py`` for such a server, so that
repositories written for the onnxruntime backend load there unchanged (Triton runs
``<backend-dir>/<backend>/model.py`` through the python backend when
``libtriton_<backend>.so`` is absent). It runs inside Triton's python stub, so it imports only
numpy, onnxruntime and ``triton_python_backend_utils`` — never audiofront.

What it does as a backend: it loads ``<model folder>/<version>/model.onnx`` once per instance
(CUDA execution provider for a ``KIND_GPU`` instance when onnxruntime has it, else CPU), and for
each ``execute`` call joins the requests of the dynamic batch along the batch axis, runs one
``InferenceSession.run`` and gives each request back its own rows. Config ``reshape`` entries are
applied on the way in (to the model's own dims) and out (to the config's dims).

Tensors cross the stub boundary by DLPack: under numpy >= 2, ``pb_utils.Tensor(name, ndarray)``
sends 0 bytes and ``as_numpy()`` misreads (found with tritonserver 2.51's python backend).

Example (what a model folder holds for ``backend: "python"``)::

    repo/piano/config.pbtxt     # backend: "python", inputs/outputs, dynamic_batching
    repo/piano/1/model.py       # this file
    repo/piano/1/model.onnx
"""

import ctypes
import json
import os

import numpy as np

__all__ = ["TritonPythonModel"]

# Triton data_type names (without TYPE_) -> numpy dtypes.
_DTYPES = {
    "FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT8": np.int8, "INT16": np.int16,
    "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "BOOL": np.bool_,
}


def _to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "__dlpack__"):
        return np.from_dlpack(tensor)
    return tensor.as_numpy()  # python backends older than DLPack support; numpy 1.x only


# The python backend renames a capsule it consumed "used_dlpack", not DLPack's "used_dltensor", so
# numpy's capsule destructor prints a spurious "PyCapsule_GetPointer called with incorrect name"
# for every output. Renaming it as the standard says stops that; the name must outlive the capsule.
_USED_NAME = b"used_dltensor"


def _mark_consumed(capsule) -> None:
    set_name = ctypes.pythonapi.PyCapsule_SetName
    set_name.argtypes, set_name.restype = [ctypes.py_object, ctypes.c_char_p], ctypes.c_int
    set_name(capsule, _USED_NAME)


def _to_tensor(pb_utils, name: str, array: np.ndarray):
    # DLPack refuses read-only and non-contiguous arrays: hand over a fresh contiguous copy.
    array = np.array(array, copy=True, order="C")
    if hasattr(pb_utils.Tensor, "from_dlpack"):
        capsule = array.__dlpack__()  # unversioned: what the python backend reads
        tensor = pb_utils.Tensor.from_dlpack(name, capsule)
        _mark_consumed(capsule)
        return tensor
    return pb_utils.Tensor(name, array)


def _dims(entry: dict) -> list[int]:
    reshape = entry.get("reshape")
    if reshape and reshape.get("shape") is not None:
        return [int(d) for d in reshape["shape"]]
    return [int(d) for d in entry.get("dims", [])]


class TritonPythonModel:
    """The python backend's model class: ``initialize``, ``execute``, ``finalize``."""

    def initialize(self, args: dict) -> None:
        import onnxruntime as ort

        config = json.loads(args["model_config"])
        # model_repository is the model's own folder (repo/NAME), for python models and python-based backends.
        path = os.path.join(args["model_repository"], str(args["model_version"]), "model.onnx")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model {config.get('name')!r}: no ONNX file at {path}")
        providers = ["CPUExecutionProvider"]
        if args.get("model_instance_kind") == "GPU" and "CUDAExecutionProvider" in ort.get_available_providers():
            device = int(args.get("model_instance_device_id", 0) or 0)
            providers = [("CUDAExecutionProvider", {"device_id": device}), "CPUExecutionProvider"]
        options = ort.SessionOptions()
        threads = config.get("parameters", {}).get("intra_op_thread_count", {}).get("string_value")
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(path, sess_options=options, providers=providers)
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.inputs = [(e["name"], _DTYPES[e["data_type"].replace("TYPE_", "")], _dims(e)) for e in config["input"]]
        self.outputs = [(e["name"], [int(d) for d in e.get("dims", [])]) for e in config["output"]]

    def execute(self, requests: list) -> list:
        import triton_python_backend_utils as pb_utils

        if not self.batched and len(requests) > 1:  # without a batch axis, requests cannot be joined
            return [r for request in requests for r in self.execute([request])]
        feeds, counts = {}, [None]
        for name, dtype, dims in self.inputs:
            parts = []
            for request in requests:
                x = _to_numpy(pb_utils.get_input_tensor_by_name(request, name)).astype(dtype, copy=False)
                if self.batched:
                    x = x.reshape(x.shape[0], *dims)  # the config's reshape: client dims -> model dims
                parts.append(x)
            counts = [p.shape[0] for p in parts] if self.batched else [None]
            feeds[name] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        try:
            results = self.session.run([name for name, _ in self.outputs], feeds)
        except Exception as exc:  # noqa: BLE001 - the error goes back to the clients, not the stub
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(f"onnxruntime: {exc}")) for _ in requests]
        responses, offset = [], 0
        for n in counts:
            tensors = []
            for (name, dims), y in zip(self.outputs, results):
                rows = y[offset:offset + n] if self.batched else y
                if self.batched and dims:
                    rows = rows.reshape(rows.shape[0], *dims)
                tensors.append(_to_tensor(pb_utils, name, rows))
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            offset += n or 0
        return responses

    def finalize(self) -> None:
        self.session = None
