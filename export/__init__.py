"""ONNX export, graph checks, composition with classifiers, TensorRT engines, fp16 variants.

Data flows ``frontend -> export``: this package imports the front-end modules, never the runtime.

Example (``frontend_onnx`` is a file :func:`export_onnx` wrote)::

    >>> from audiofront.export import check_graph, check_tensorrt, read_metadata
    >>> read_metadata(frontend_onnx)["audiofront.kind"]
    'frontend'
    >>> check_graph(frontend_onnx).ok, check_tensorrt(frontend_onnx).ok
    (True, True)
"""

from audiofront.export.compose import LAYOUTS, prepend
from audiofront.export.config import frontend_from_config
from audiofront.export.engine import build_engine, engine_cache_key, read_sidecar
from audiofront.export.fp16 import compare_fp16, to_fp16
from audiofront.export.hygiene import GraphReport, assert_clean_graph, check_graph
from audiofront.export.artifacts import atomic_write_bytes, load_onnx, sha256_file
from audiofront.export.metadata import decode_metadata, eval_frames, read_metadata, write_metadata
from audiofront.export.onnx_export import export_onnx
from audiofront.export.streaming import export_streaming_onnx
from audiofront.export.parity import ParityResult, torch_parity
from audiofront.export.tensorrt_ops import TensorRTReport, check_tensorrt, tensorrt_table

__all__ = [
    "export_onnx",
    "export_streaming_onnx",
    "prepend",
    "LAYOUTS",
    "check_graph",
    "assert_clean_graph",
    "GraphReport",
    "check_tensorrt",
    "TensorRTReport",
    "tensorrt_table",
    "build_engine",
    "engine_cache_key",
    "read_sidecar",
    "frontend_from_config",
    "to_fp16",
    "compare_fp16",
    "torch_parity",
    "ParityResult",
    "read_metadata",
    "write_metadata",
    "decode_metadata",
    "eval_frames",
    "load_onnx",
    "atomic_write_bytes",
    "sha256_file",
]
