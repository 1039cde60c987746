"""ONNX export, graph checks, composition with classifiers, TensorRT engines, fp16 variants.

Data flows ``frontend -> export``: this package imports the front-end modules, never the runtime.
Names load on first use (PEP 562 ``__getattr__``): the runtime reads the metadata contract, the
engine sidecars and ONNX Runtime sessions from here without importing torch, which only the
torch-facing parts (:func:`export_onnx`, :func:`export_classifier`, :func:`torch_parity`,
:func:`frontend_from_config`) need.

Example (``frontend_onnx`` is a file :func:`export_onnx` wrote)::

    >>> from audiofront.export import check_graph, check_tensorrt, read_metadata
    >>> read_metadata(frontend_onnx)["audiofront.kind"]
    'frontend'
    >>> check_graph(frontend_onnx).ok, check_tensorrt(frontend_onnx).ok
    (True, True)
"""

from __future__ import annotations

from audiofront.lazy import lazy_exports

_EXPORTS = {
    "export_onnx": "onnx_export",
    "export_streaming_onnx": "streaming",
    "prepend": "compose",
    "LAYOUTS": "compose",
    "export_classifier": "classifier",
    "FrontEndClassifier": "classifier",
    "check_graph": "hygiene",
    "assert_clean_graph": "hygiene",
    "GraphReport": "hygiene",
    "check_tensorrt": "tensorrt_ops",
    "TensorRTReport": "tensorrt_ops",
    "tensorrt_table": "tensorrt_ops",
    "build_engine": "engine",
    "engine_cache_key": "engine",
    "read_sidecar": "engine",
    "frontend_from_config": "config",
    "to_fp16": "fp16",
    "compare_fp16": "fp16",
    "torch_parity": "parity",
    "ParityResult": "parity",
    "make_session": "session",
    "read_metadata": "metadata",
    "write_metadata": "metadata",
    "decode_metadata": "metadata",
    "check_metadata": "metadata",
    "eval_frames": "metadata",
    "load_onnx": "artifacts",
    "atomic_write_bytes": "artifacts",
    "sha256_file": "artifacts",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
