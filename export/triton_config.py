"""Triton ``config.pbtxt`` as Triton's own ``ModelConfig`` protobuf, and the checks Triton makes at load.

The message class comes from tritonclient (``tritonclient.grpc.model_config_pb2``, generated from
Triton's ``model_config.proto``); configs are built as messages and printed with protobuf's
``text_format``, never assembled from strings. :func:`check_repository` refuses what
tritonserver 2.51 refuses when it loads a model (folder name differs from ``name``, a preferred
batch size above ``max_batch_size``, dims that are neither >= 1 nor -1, a missing label file or
model file, an ensemble step naming a model the repository lacks, ensemble tensors not connected
input to output), with the reason Triton gives, so a repository can be checked without a server.

Example::

    >>> text = model_config_text("m", inputs=[TensorConfig("audio", "TYPE_FP32", (16000,))],
    ...                          outputs=[TensorConfig("probabilities", "TYPE_FP32", (5,))], max_batch=8)
    >>> validate_config(text).max_batch_size
    8
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

from audiofront.errors import BackendUnavailable, ModelFileError

__all__ = [
    "TensorConfig",
    "INSTANCE_KINDS",
    "model_config",
    "model_config_text",
    "validate_config",
    "read_config",
    "check_repository",
    "model_config_pb2",
]

# KIND_AUTO: Triton places the instances on GPUs where the server has some, else on the CPU.
INSTANCE_KINDS = ("KIND_AUTO", "KIND_GPU", "KIND_CPU")
# The file each backend loads from a version folder (Triton's default_model_filename defaults).
MODEL_FILES = {"onnxruntime": "model.onnx", "python": "model.py"}
_PLATFORM_BACKENDS = {"onnxruntime_onnx": "onnxruntime"}


@dataclass(frozen=True)
class TensorConfig:
    """One ``input``/``output`` entry: ``dims`` without the batch dim (-1 for a variable one);
    ``reshape`` the model's own dims when they differ from what the repository passes."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None
    label_filename: str | None = None


_PB2 = None


def model_config_pb2():
    """tritonclient's generated ``model_config_pb2`` module (needs only protobuf, not grpcio)."""
    global _PB2
    if _PB2 is not None:
        return _PB2
    try:
        _PB2 = importlib.import_module("tritonclient.grpc.model_config_pb2")
        return _PB2
    except (ImportError, RuntimeError):
        # tritonclient without its [grpc] extra refuses to import tritonclient.grpc, but the
        # generated module inside it needs only protobuf: load that file alone.
        pass
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable("Triton configs need tritonclient (pip install 'audiofront[serve]'), which ships "
                                 "Triton's ModelConfig protobuf")
    path = Path(list(spec.submodule_search_locations)[0]) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("audiofront_triton_model_config_pb2", path)
    if module_spec is None or not path.is_file():
        raise BackendUnavailable(f"tritonclient has no {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    _PB2 = module
    return module


def _tensor(entry, t: TensorConfig, pb2) -> None:
    entry.name = t.name
    entry.data_type = pb2.DataType.Value(t.data_type)
    entry.dims.extend(int(d) for d in t.dims)
    if t.reshape is not None:
        entry.reshape.shape.extend(int(d) for d in t.reshape)
    if t.label_filename:
        entry.label_filename = t.label_filename


def model_config(
    name: str,
    *,
    inputs: list[TensorConfig],
    outputs: list[TensorConfig],
    max_batch: int,
    platform: str | None = "onnxruntime_onnx",
    backend: str | None = None,
    instances: int = 1,
    kind: str = "KIND_AUTO",
    max_wait_ms: float = 5.0,
    steps: list[tuple[str, dict[str, str], dict[str, str]]] | None = None,
):
    """One model's ``ModelConfig`` message.

    ``platform="ensemble"`` with ``steps`` = ``[(model_name, input_map, output_map), ...]`` (maps
    from the step model's tensor names to ensemble tensor names) fills ``ensemble_scheduling``
    instead of batching and instances (an ensemble has neither; its members do). ``backend``
    (e.g. ``"python"``) names a backend instead of a platform.
    """
    pb2 = model_config_pb2()
    config = pb2.ModelConfig(name=name, max_batch_size=max_batch)
    if platform:
        config.platform = platform
    if backend:
        config.backend = backend
    for t in inputs:
        _tensor(config.input.add(), t, pb2)
    for t in outputs:
        _tensor(config.output.add(), t, pb2)
    if platform == "ensemble":
        for model_name, input_map, output_map in steps or []:
            step = config.ensemble_scheduling.step.add(model_name=model_name, model_version=-1)
            step.input_map.update(input_map)
            step.output_map.update(output_map)
    else:
        config.instance_group.add(count=instances, kind=pb2.ModelInstanceGroup.Kind.Value(kind))
        config.dynamic_batching.max_queue_delay_microseconds = int(round(max_wait_ms * 1000))
    return config


def model_config_text(name: str, *, comment: str = "", **fields) -> str:
    """:func:`model_config` printed as ``config.pbtxt`` (protobuf text format); ``comment`` lines
    become ``#`` comments at the top."""
    from google.protobuf import text_format

    head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    return head + text_format.MessageToString(model_config(name, **fields))


def validate_config(text: str):
    """Parse ``config.pbtxt`` text with Triton's ``ModelConfig`` protobuf; returns the message.
    Raises ``google.protobuf.text_format.ParseError`` on a bad config and
    :class:`~audiofront.errors.BackendUnavailable` without tritonclient."""
    from google.protobuf import text_format

    return text_format.Parse(text, model_config_pb2().ModelConfig())


def read_config(folder) -> object:
    """``folder/config.pbtxt`` parsed; :class:`ModelFileError` naming the file when it is not valid."""
    from google.protobuf import text_format

    path = Path(folder) / "config.pbtxt"
    if not path.is_file():
        raise ModelFileError(f"{str(path)!r} does not exist: a Triton model folder needs a config.pbtxt")
    try:
        return validate_config(path.read_text(encoding="utf-8"))
    except text_format.ParseError as exc:
        raise ModelFileError(f"{str(path)!r} is not a valid Triton ModelConfig: {exc}") from None


def _backend(config) -> str:
    return config.backend or _PLATFORM_BACKENDS.get(config.platform, config.platform)


def _check_model(folder: Path, config) -> None:
    """What Triton checks for one model before its backend loads it (messages as tritonserver 2.51's)."""
    name = config.name
    if name != folder.name:
        raise ModelFileError(f"{str(folder / 'config.pbtxt')!r}: unexpected directory name '{folder.name}' for "
                             f"model '{name}', directory name must equal model name")
    if config.max_batch_size < 0:
        raise ModelFileError(f"model '{name}': max_batch_size must be >= 0, got {config.max_batch_size}")
    for role, entries in (("input", config.input), ("output", config.output)):
        if not entries:
            raise ModelFileError(f"model '{name}' must specify one or more '{role}'s")
        for entry in entries:
            for dims in (list(entry.dims), list(entry.reshape.shape) if entry.HasField("reshape") else []):
                if any(d < 1 and d != -1 for d in dims):
                    raise ModelFileError(f"model {role} '{entry.name}' dimension must be integer >= 1, or -1 to "
                                         f"indicate a variable-size dimension for {name} (got {dims})")
            if entry.HasField("reshape") and -1 not in entry.dims and -1 not in entry.reshape.shape:
                if math.prod(entry.dims) != math.prod(entry.reshape.shape):
                    raise ModelFileError(f"model '{name}', tensor '{entry.name}': reshape {list(entry.reshape.shape)} "
                                         f"holds a different number of elements than dims {list(entry.dims)}")
            label = getattr(entry, "label_filename", "")
            if label and not (folder / label).is_file():
                raise ModelFileError(f"model '{name}', output '{entry.name}': failed to open text file for read "
                                     f"{folder / label}: No such file or directory (its label_filename)")
    if config.HasField("dynamic_batching"):
        if config.max_batch_size == 0:
            raise ModelFileError(f"dynamic batching is enabled for model '{name}' but its max_batch_size is 0")
        for size in config.dynamic_batching.preferred_batch_size:
            if size < 1 or size > config.max_batch_size:
                raise ModelFileError(f"dynamic batching preferred size must be <= max batch size for {name} "
                                     f"(preferred {size}, max_batch_size {config.max_batch_size}; and >= 1)")
    versions = [p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise ModelFileError(f"model '{name}': no version folder (such as {str(folder / '1')!r}) in {str(folder)!r}")
    if config.platform != "ensemble":
        filename = config.default_model_filename or MODEL_FILES.get(_backend(config), "model.onnx")
        for version in versions:
            if not (version / filename).is_file():
                raise ModelFileError(f"model '{name}' version {version.name}: {filename} is missing from "
                                     f"{str(version)!r}")


def _check_ensemble(config, models: dict) -> None:
    name = config.name
    steps = config.ensemble_scheduling.step
    if not steps:
        raise ModelFileError(f"ensemble '{name}' must have at least one step")
    missing = [s.model_name for s in steps if s.model_name not in models]
    if missing:
        raise ModelFileError(f"ensemble {name} contains models that are not available or ambiguous: "
                             f"{', '.join(missing)} (not in the repository)")
    available = {t.name for t in config.input}
    for step in steps:
        member = models[step.model_name]
        member_inputs, member_outputs = {t.name for t in member.input}, {t.name for t in member.output}
        for key, tensor in step.input_map.items():
            if key not in member_inputs:
                raise ModelFileError(f"in ensemble '{name}', input_map key '{key}' of step '{step.model_name}' is "
                                     f"not an input of that model (it has {sorted(member_inputs)})")
            if tensor not in available:
                output = _dependent_output(config, step, tensor)
                raise ModelFileError(f"output '{output}' for ensemble '{name}' is not written: at least one of its "
                                     f"depending tensors, '{tensor}', is not connected (step '{step.model_name}' "
                                     f"reads it; no ensemble input or earlier step writes it)")
        unfed = member_inputs - set(step.input_map)
        if unfed:
            raise ModelFileError(f"in ensemble '{name}', step '{step.model_name}' leaves its input(s) "
                                 f"{sorted(unfed)} unmapped")
        for key, tensor in step.output_map.items():
            if key not in member_outputs:
                raise ModelFileError(f"in ensemble '{name}', output_map key '{key}' of step '{step.model_name}' is "
                                     f"not an output of that model (it has {sorted(member_outputs)})")
            available.add(tensor)
    for out in config.output:
        if out.name not in available:
            raise ModelFileError(f"in ensemble '{name}', ensemble output '{out.name}' is not produced by any step "
                                 f"(the ensemble tensors are not connected from input to output)")
    used = {tensor for step in steps for tensor in step.input_map.values()}
    unused = sorted({t.name for t in config.input} - used)
    if unused:
        raise ModelFileError(f"in ensemble '{name}', ensemble input(s) {unused} are not used by any step")


def _dependent_output(config, broken, tensor: str) -> str:
    """The first ensemble output that the unconnected ``tensor`` (read by step ``broken``) feeds."""
    tainted = set(broken.output_map.values())
    for step in config.ensemble_scheduling.step:
        if tainted & set(step.input_map.values()):
            tainted |= set(step.output_map.values())
    hit = [o.name for o in config.output if o.name in tainted]
    return hit[0] if hit else (config.output[0].name if config.output else tensor)


def check_repository(repo, models=None) -> dict:
    """Check a model repository as Triton does at load: ``models`` (names; default: every folder
    with a ``config.pbtxt``) and the ensembles' member models. Returns ``{name: ModelConfig}``;
    raises :class:`ModelFileError` with the reason."""
    repo = Path(repo)
    if not repo.is_dir():
        raise ModelFileError(f"model repository {str(repo)!r} is not a folder")
    folders = {p.name: p for p in sorted(repo.iterdir()) if (p / "config.pbtxt").is_file()}
    wanted = list(folders) if models is None else list(models)
    configs: dict = {}
    while wanted:
        name = wanted.pop(0)
        if name in configs:
            continue
        if name not in folders:
            raise ModelFileError(f"model '{name}' is not found in the repository {str(repo)!r}")
        config = read_config(folders[name])
        _check_model(folders[name], config)
        configs[name] = config
        if config.platform == "ensemble":
            wanted += [s.model_name for s in config.ensemble_scheduling.step if s.model_name in folders]
    for config in configs.values():
        if config.platform == "ensemble":
            _check_ensemble(config, configs)
    return configs
