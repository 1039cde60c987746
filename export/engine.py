"""TensorRT engines from audiofront ONNX graphs, cached by what determines them.

:func:`build_engine` parses the ONNX with TensorRT's ``OnnxParser``, adds one optimisation
profile (min/opt/max for batch and audio length), sets the workspace, reuses and updates a
timing cache file, and with ``precision="fp16"`` keeps every layer of the front-end in fp32
(the log of small powers overflows fp16) while the classifier may run in fp16 (per-layer
precision + ``OBEY_PRECISION_CONSTRAINTS``). TensorRT is imported only when an engine is built;
without it, :class:`~audiofront.errors.BackendUnavailable` says so.

Engines are keyed by (ONNX sha256, TensorRT version, GPU name, precision, shapes): an existing
engine whose sidecar ``X.engine.json`` holds the same key is reused, as is ``<key>.engine`` in
``cache_dir``. Every file is written atomically (temporary file + ``os.replace``). The sidecar
holds the ONNX's ``audiofront.*`` metadata plus ``audiofront.onnx_sha256`` and the build facts.

Example (needs TensorRT and a GPU, so it is not run as a doctest)::

    build_engine("pipeline.onnx", "pipeline.engine", precision="fp16",
                 shapes={"batch": (1, 8, 32), "time": (16000, 16000, 16000)},
                 timing_cache="trt.timing", cache_dir="engines/")
    read_sidecar("pipeline.engine")["audiofront.onnx_sha256"]
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from audiofront import __version__
from audiofront.errors import BackendUnavailable, ConfigError, ExportError, ModelFileError
from audiofront.export.artifacts import atomic_write_bytes, load_onnx, sha256_bytes
from audiofront.export.hygiene import graph_inputs, value_dims
from audiofront.export.metadata import decode_metadata, key, read_metadata, self_fitting_min_samples

__all__ = [
    "PRECISIONS",
    "build_engine",
    "default_shapes",
    "normalize_shapes",
    "profile_shapes",
    "engine_cache_key",
    "sidecar_path",
    "read_sidecar",
    "write_engine",
    "cached_engine_valid",
    "frontend_layer_indices",
    "import_tensorrt",
]

PRECISIONS = ("fp32", "fp16")
_ENGINE_KEY = key("engine_key")
_AXES = ("batch", "time")


def import_tensorrt(min_major: int = 0):
    """``import tensorrt``, or :class:`BackendUnavailable` saying why it is not usable.

    ``min_major``: the oldest TensorRT major version the caller's API needs (the runner's tensor
    API needs 10; engine building also takes older ones).
    """
    try:
        import tensorrt
    except ImportError:
        raise BackendUnavailable(
            "TensorRT is not installed (Python package 'tensorrt', which needs an NVIDIA GPU and the TensorRT "
            "libraries); ONNX export and check_tensorrt work without it"
        ) from None
    except Exception as exc:  # a broken install: libnvinfer missing or the wrong CUDA
        raise BackendUnavailable(f"import tensorrt failed: {type(exc).__name__}: {exc}") from None
    version = getattr(tensorrt, "__version__", "0")
    if int(version.split(".")[0] or 0) < min_major:
        raise BackendUnavailable(f"TensorRT {version} is too old: this needs TensorRT {min_major} or newer")
    return tensorrt


def _gpu_name() -> str:
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("no CUDA GPU is visible (torch.cuda.is_available() is False): TensorRT needs one")
    return torch.cuda.get_device_name(torch.cuda.current_device())


def default_shapes(meta: Mapping[str, str]) -> dict[str, tuple[int, int, int]]:
    """Profile shapes when none are given: batch (1, 8, 32); time fixed at ``clip_samples`` for a
    pipeline, from its fewest samples up to ``clip_samples`` for a pipeline that pads or trims to
    its model's length itself (a reference preset's: the Pipeline then feeds short clips unpadded),
    else from ``n_fft`` samples through one second (opt) to 30 seconds."""
    info = decode_metadata(meta)
    rate = info.get("sample_rate", 16000)
    if info.get("kind") == "pipeline" and "clip_samples" in info:
        clip = info["clip_samples"]
        fewest = self_fitting_min_samples(meta)
        time = (min(fewest, clip) if fewest is not None else clip, clip, clip)
    else:
        time = (info.get("n_fft", 1), rate, 30 * rate)
    return {"batch": (1, 8, 32), "time": time}


def normalize_shapes(shapes: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, int, int]]:
    """Check ``{"batch": (min, opt, max), "time": (min, opt, max)}``: positive ints, min <= opt <= max."""
    if not isinstance(shapes, Mapping) or set(shapes) != set(_AXES):
        raise ConfigError(f"shapes must be a dict with keys {_AXES}, each (min, opt, max); got {shapes!r}")
    out = {}
    for axis in _AXES:
        value = tuple(shapes[axis])
        if len(value) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
            raise ConfigError(f"shapes[{axis!r}] must be three positive integers (min, opt, max), got {shapes[axis]!r}")
        if not value[0] <= value[1] <= value[2]:
            raise ConfigError(f"shapes[{axis!r}] must satisfy min <= opt <= max, got {value}")
        out[axis] = value
    return out


def profile_shapes(input_dims: Sequence, shapes: Mapping[str, tuple[int, int, int]]) -> tuple[tuple, tuple, tuple]:
    """(min, opt, max) full input shapes: axis 0 is batch, the last axis time, fixed axes kept.

    A fixed batch or time axis must lie inside its range (it is then used for all three).
    """
    if len(input_dims) < 2:
        raise ConfigError(f"the audio input must be (batch, [channels,] time), has dims {list(input_dims)}")
    result = ([], [], [])
    for axis, dim in enumerate(input_dims):
        name = "batch" if axis == 0 else "time" if axis == len(input_dims) - 1 else None
        if isinstance(dim, int):
            if name and not shapes[name][0] <= dim <= shapes[name][2]:
                raise ConfigError(f"the input's {name} axis is fixed at {dim}, outside shapes[{name!r}]={shapes[name]}")
            for r in result:
                r.append(dim)
        elif name is None:
            raise ConfigError(f"the input's axis {axis} is dynamic ({dim!r}); only batch and time may be")
        else:
            for r, v in zip(result, shapes[name]):
                r.append(v)
    return tuple(tuple(r) for r in result)


def engine_cache_key(onnx_sha256: str, tensorrt_version: str, gpu_name: str, precision: str,
                     shapes: Mapping[str, Sequence[int]]) -> str:
    """Hex key of everything that decides an engine's bytes; the same inputs give the same key."""
    canonical = json.dumps(
        {"onnx_sha256": onnx_sha256, "tensorrt": str(tensorrt_version), "gpu": gpu_name, "precision": precision,
         "shapes": {k: list(v) for k, v in sorted(shapes.items())}},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def sidecar_path(engine: str | os.PathLike) -> Path:
    """``X.engine`` -> ``X.engine.json``."""
    return Path(os.fspath(engine) + ".json")


def read_sidecar(engine: str | os.PathLike, *, required: bool = False) -> dict[str, str]:
    """The sidecar's key/value dict (a JSON object of strings).

    A missing or malformed sidecar gives ``{}`` (a cache miss), or with ``required=True`` a
    :class:`ModelFileError` naming the file and what is wrong.
    """
    side = sidecar_path(engine)
    if not side.is_file():
        problem = f"engine {str(engine)!r} has no sidecar {str(side)!r} (audiofront.export.build_engine writes one)"
    else:
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            problem = f"sidecar {str(side)!r} is not readable JSON: {exc}"
        else:
            if isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
                return data
            problem = f"sidecar {str(side)!r} must hold a JSON object of string keys and string values"
    if required:
        raise ModelFileError(problem)
    return {}


def write_engine(engine: str | os.PathLike, data: bytes, sidecar: Mapping[str, str]) -> Path:
    """Write engine bytes then its sidecar, each atomically.

    The sidecar goes last: a crash in between leaves a sidecar whose key does not match, so the
    engine is rebuilt rather than trusted.
    """
    engine = Path(engine)
    try:
        sidecar_path(engine).unlink()
    except FileNotFoundError:
        pass
    atomic_write_bytes(engine, data)
    for name in sidecar:
        key(name)  # the contract's keys only
    atomic_write_bytes(sidecar_path(engine), json.dumps(dict(sidecar), indent=1, sort_keys=True).encode())
    return engine


def cached_engine_valid(engine: str | os.PathLike, key: str) -> bool:
    """True when ``engine`` exists and its sidecar records ``key``."""
    return Path(engine).is_file() and read_sidecar(engine).get(_ENGINE_KEY) == key


def frontend_layer_indices(layers: Sequence[tuple[Sequence[str], Sequence[str]]], feature_tensor: str | None) -> set[int]:
    """Indices of the layers that compute ``feature_tensor`` (the front-end), given each layer's
    (input names, output names) in network order. ``None`` (a bare front-end): every layer."""
    if feature_tensor is None:
        return set(range(len(layers)))
    producer = {}
    for index, (_, outputs) in enumerate(layers):
        for name in outputs:
            producer[name] = index
    if feature_tensor not in producer:
        raise ExportError(f"no layer produces the feature tensor {feature_tensor!r}; cannot keep the front-end fp32")
    found, stack = set(), [producer[feature_tensor]]
    while stack:
        index = stack.pop()
        if index in found:
            continue
        found.add(index)
        stack.extend(producer[name] for name in layers[index][0] if name in producer)
    return found


def _keep_frontend_fp32(trt, network, feature_tensor: str | None) -> int:
    layers = [network.get_layer(i) for i in range(network.num_layers)]

    def names(layer, count, get):
        return [t.name for t in (get(j) for j in range(count)) if t is not None]

    described = [(names(layer, layer.num_inputs, layer.get_input), names(layer, layer.num_outputs, layer.get_output))
                 for layer in layers]
    floats = (trt.float32, trt.float16)
    kept = 0
    for index in frontend_layer_indices(described, feature_tensor):
        layer = layers[index]
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        # Shape arithmetic (int64/bool layers) has no float precision to pin.
        if not outputs or any(out.dtype not in floats for out in outputs):
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        kept += 1
    return kept


def build_engine(
    onnx_path: str | os.PathLike,
    engine: str | os.PathLike,
    *,
    precision: str = "fp32",
    shapes: Mapping[str, Sequence[int]] | None = None,
    workspace: int = 1 << 30,
    timing_cache: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Build (or reuse) a TensorRT engine for ``onnx_path`` and write it to ``engine`` + sidecar.

    ``shapes``: ``{"batch": (min, opt, max), "time": (min, opt, max)}`` in items and samples
    (default :func:`default_shapes`). ``workspace``: bytes of scratch memory TensorRT may use.
    ``timing_cache``: a file read before and rewritten after the build (faster rebuilds).
    ``cache_dir``: a folder of engines named by their key, shared between outputs.

    Raises :class:`ConfigError` for bad arguments, :class:`ModelFileError` for an unreadable
    ONNX, :class:`BackendUnavailable` without TensorRT or a GPU, :class:`ExportError` when
    TensorRT rejects the graph (naming the file and the parser's errors).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if isinstance(workspace, bool) or not isinstance(workspace, int) or workspace < (1 << 20):
        raise ConfigError(f"workspace must be an integer number of bytes >= 1 MiB, got {workspace!r}")
    onnx_path = Path(onnx_path)
    model = load_onnx(onnx_path, what="ONNX")
    data = model.SerializeToString()
    meta = read_metadata(model)
    shapes = normalize_shapes(shapes if shapes is not None else default_shapes(meta))
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise ExportError(f"{str(onnx_path)!r} must have one input (audio), has {[i.name for i in inputs]}")
    profile = profile_shapes(value_dims(inputs[0]), shapes)

    trt = import_tensorrt()
    gpu = _gpu_name()
    onnx_sha = sha256_bytes(data)
    engine_key = engine_cache_key(onnx_sha, trt.__version__, gpu, precision, shapes)
    sidecar = {
        **meta, key("onnx_sha256"): onnx_sha, key("engine_key"): engine_key,
        key("tensorrt_version"): trt.__version__, key("gpu"): gpu, key("precision"): precision,
        key("shapes"): json.dumps({k: list(v) for k, v in shapes.items()}),
        key("engine_built_by"): __version__,
    }
    if cached_engine_valid(engine, engine_key):
        return Path(engine)
    cached = Path(cache_dir) / f"{engine_key}.engine" if cache_dir is not None else None
    if cached is not None and cached_engine_valid(cached, engine_key):
        return write_engine(engine, cached.read_bytes(), sidecar)

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:  # explicit batch is the only mode from TensorRT 10 on
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT {trt.__version__} cannot parse {str(onnx_path)!r}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    trt_profile = builder.create_optimization_profile()
    trt_profile.set_shape(network.get_input(0).name, *profile)
    config.add_optimization_profile(trt_profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        feature = meta.get(key("feature_tensor")) if meta.get(key("kind")) == "pipeline" else None
        sidecar[key("fp32_layers")] = str(_keep_frontend_fp32(trt, network, feature))
    cache_bytes = Path(timing_cache).read_bytes() if timing_cache is not None and Path(timing_cache).is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(
            f"TensorRT {trt.__version__} failed to build an engine from {str(onnx_path)!r} (see its log above)"
        )
    engine_bytes = bytes(serialized)
    if timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    if cached is not None:
        write_engine(cached, engine_bytes, sidecar)
    return write_engine(engine, engine_bytes, sidecar)

