"""Generate an NVIDIA Triton Inference Server model repository from audiofront ONNX artifacts.

Two layouts:

- **single**: one prepended pipeline ONNX (``audiofront.kind=pipeline``: audio in, class scores
  out) as ``repo/NAME/1/model.onnx`` with ``repo/NAME/config.pbtxt`` (onnxruntime backend,
  dynamic batching, instance group) and ``repo/NAME/labels.txt`` (Triton's classification
  extension then answers ``class_count=k`` requests with label names).
- **ensemble**: a front-end ONNX (``kind=frontend``) and a classifier ONNX (``kind=classifier``)
  as ``repo/NAME_frontend`` and ``repo/NAME_classifier``, joined by ``repo/NAME`` (platform
  ``ensemble``), so the two stages can be scaled, placed or replaced separately.

Either layout runs on Triton's onnxruntime backend (``backend="onnxruntime"``, platform
``onnxruntime_onnx``) or, with ``backend="python"``, on its python backend through a ``model.py``
(export/triton_python.py) that runs the same ``model.onnx`` with onnxruntime: for Triton installs
without the onnxruntime backend, such as the pip ``nvidia-pytriton`` server. Instances default to
``KIND_AUTO`` (the server's GPUs if it has any, else its CPU).

Input dims are fixed to ``clip_samples``: Triton's dynamic batcher only joins requests of equal
shape, and the model takes windows of that length; clients window long audio themselves (see
docs/serving.md). The batch dimension is implicit (``max_batch_size`` > 0).

Example (``piano.onnx``: a pipeline ONNX with labels in its metadata, as ``audiofront.models.piano.pipeline_onnx()``
writes)::

    paths = write_model_repository("piano.onnx", "repo", name="piano", max_batch=16)   # kind auto, onnxruntime
    validate_config(paths[0].read_text()).max_batch_size                               # 16
    check_repository("repo")                                                           # {"piano": ModelConfig}
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from audiofront import __version__
from audiofront.errors import ConfigError, ModelFileError
from audiofront.export.metadata import check_metadata, decode_metadata, eval_frames, read_metadata
from audiofront.export.triton_config import (
    INSTANCE_KINDS,
    TensorConfig,
    check_repository,
    model_config_text,
    validate_config,
)

__all__ = ["TensorConfig", "write_model_repository", "model_config_text", "validate_config", "check_repository",
           "INSTANCE_KINDS", "BACKENDS", "python_model_source"]

# onnxruntime: Triton's onnxruntime backend runs model.onnx. python: Triton's python backend runs
# our model.py (export/triton_python.py), which runs model.onnx with onnxruntime; for Triton
# installs without the onnxruntime backend (the pip server).
BACKENDS = ("onnxruntime", "python")
_KIND_ALIASES = {"auto": "KIND_AUTO", "gpu": "KIND_GPU", "cpu": "KIND_CPU"}

# ONNX element type -> Triton data_type (model_config.proto's DataType enum).
_TRITON_TYPES = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.INT16: "TYPE_INT16",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.UINT8: "TYPE_UINT8",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
}

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class _Onnx:
    path: Path
    model: onnx.ModelProto
    meta: dict

    @property
    def inputs(self) -> list[onnx.ValueInfoProto]:
        initializers = {init.name for init in self.model.graph.initializer}
        return [i for i in self.model.graph.input if i.name not in initializers]

    @property
    def outputs(self) -> list[onnx.ValueInfoProto]:
        return list(self.model.graph.output)


def _load(path, want_kind: str, role: str) -> _Onnx:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{role} {str(path)!r} does not exist")
    try:
        # External data is copied along by file, not loaded: only the graph's signature is read here.
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise ModelFileError(f"{role} {str(path)!r} is not a readable ONNX model: {exc}") from None
    # The metadata contract's check: the kind, its required keys and their values.
    meta = check_metadata(read_metadata(model), kind=want_kind, source=f"{role} {str(path)!r}")
    return _Onnx(path, model, meta)


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _data_type(value: onnx.ValueInfoProto, where: str) -> str:
    elem = value.type.tensor_type.elem_type
    if elem not in _TRITON_TYPES:
        raise ModelFileError(f"{where}: tensor {value.name!r} has ONNX element type "
                             f"{onnx.TensorProto.DataType.Name(elem)}, which this generator does not map")
    return _TRITON_TYPES[elem]


def _batched(value: onnx.ValueInfoProto, where: str) -> list[int | None]:
    dims = _dims(value)
    if not dims:
        raise ModelFileError(f"{where}: tensor {value.name!r} has no shape; export with a (batch, ...) signature")
    if dims[0] is not None and dims[0] != 0:
        raise ModelFileError(f"{where}: tensor {value.name!r} has a fixed first dim {dims[0]}; Triton's dynamic "
                             f"batching needs a dynamic batch axis (export with dynamic_batch=True)")
    return dims[1:]


def _concrete(dims: list[int | None], fill: list[int | None] | None = None) -> tuple[int, ...]:
    """Static dims as they are; dynamic ones from ``fill`` (same rank) or -1."""
    out = []
    for i, d in enumerate(dims):
        if d is not None:
            out.append(int(d))
        elif fill is not None and fill[i] is not None:
            out.append(int(fill[i]))
        else:
            out.append(-1)
    return tuple(out)


def _single_io(model: _Onnx, role: str) -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelFileError(f"{role} {str(model.path)!r} must have one input and one output, has "
                             f"{[i.name for i in model.inputs]} -> {[o.name for o in model.outputs]}")
    return model.inputs[0], model.outputs[0]


def _audio_dims(value: onnx.ValueInfoProto, clip_samples: int, where: str) -> tuple[int, ...]:
    dims = _batched(value, where)
    if len(dims) not in (1, 2):
        raise ModelFileError(f"{where}: audio input {value.name!r} must be (batch, time) or (batch, channels, time), "
                             f"has rank {len(dims) + 1}")
    if dims[-1] is not None and dims[-1] != clip_samples:
        raise ModelFileError(f"{where}: audio input {value.name!r} takes {dims[-1]} samples but "
                             f"audiofront.clip_samples is {clip_samples}")
    fill = [1] * (len(dims) - 1) + [clip_samples]  # a channels axis, if any, is mono
    return _concrete(dims, fill)


def _check_args(name, max_batch, instances, kind, max_wait_ms, backend) -> str:
    """Validate the options; returns ``kind`` as Triton spells it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"name must be a folder-safe model name (letters, digits, _ . -), got {name!r}")
    for arg, value in (("max_batch", max_batch), ("instances", instances)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{arg} must be a positive integer, got {value!r}")
    kind = _KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if kind not in INSTANCE_KINDS:
        raise ConfigError(f"kind must be one of {INSTANCE_KINDS} (or auto, gpu, cpu), got {kind!r}")
    if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or not 0 <= max_wait_ms <= 10_000:
        raise ConfigError(f"max_wait_ms must be a number in [0, 10000], got {max_wait_ms!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return kind


def python_model_source() -> str:
    """The ``model.py`` a ``backend="python"`` model folder gets (export/triton_python.py): runs the
    folder's model.onnx with onnxruntime; also serves as ``<backend-dir>/onnxruntime/model.py`` for a
    Triton without the onnxruntime backend."""
    from audiofront.export import triton_python

    return Path(triton_python.__file__).read_text(encoding="utf-8")


def _member_fields(options: dict) -> dict:
    """model_config_text fields of one runnable model (not the ensemble) for the chosen backend."""
    fields = dict(max_batch=options["max_batch"], instances=options["instances"], kind=options["kind"],
                  max_wait_ms=options["max_wait_ms"])
    if options["backend"] == "python":
        return {**fields, "platform": None, "backend": "python"}
    return {**fields, "platform": "onnxruntime_onnx"}


def _copy_model(src: Path, folder: Path, backend: str) -> Path:
    version = folder / "1"
    version.mkdir(parents=True, exist_ok=True)
    target = version / "model.onnx"
    shutil.copyfile(src, target)
    if backend == "python":
        (version / "model.py").write_text(python_model_source(), encoding="utf-8")
    # Weights stored as external data sit next to the .onnx under the names the graph records.
    model = onnx.load(str(src), load_external_data=False)
    locations = {
        entry.value
        for init in model.graph.initializer
        if init.data_location == onnx.TensorProto.EXTERNAL
        for entry in init.external_data
        if entry.key == "location"
    }
    for location in sorted(locations):
        shutil.copyfile(src.parent / location, version / location)
    return target


def _labels_file(folder: Path, labels: list[str]) -> str:
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
    return "labels.txt"


def _describe(meta: dict) -> str:
    keys = ("sample_rate", "clip_samples", "output", "n_fft", "hop_length", "n_mels")
    facts = ", ".join(f"{k}={meta[k]}" for k in keys if k in meta)
    return f"generated by audiofront {__version__} (audiofront triton)\n{facts}"


def write_model_repository(
    model=None,
    out=".",
    *,
    name: str | None = None,
    max_batch: int = 16,
    instances: int = 1,
    kind: str = "auto",
    max_wait_ms: float = 5.0,
    backend: str = "onnxruntime",
    ensemble: bool = False,
    frontend=None,
    classifier=None,
    overwrite: bool = False,
) -> list[Path]:
    """Write a Triton model repository under ``out``; returns the ``config.pbtxt`` paths written
    (the one clients call first).

    Single layout: ``model`` is a pipeline ONNX. Ensemble layout (``ensemble=True``): ``frontend``
    and ``classifier`` ONNX files (``model``, if given, only names the ensemble). ``name`` defaults
    to the model file's stem. ``max_wait_ms`` becomes ``max_queue_delay_microseconds``.
    ``kind``: ``"auto"`` (``KIND_AUTO``: the server puts the instances on its GPUs if it has any,
    else on the CPU), ``"KIND_GPU"`` or ``"KIND_CPU"``. ``backend``: ``"onnxruntime"`` (Triton's
    onnxruntime backend) or ``"python"`` (our model.py running onnxruntime in Triton's python
    backend). What was written is checked with :func:`check_repository` (Triton's load-time rules).
    Raises :class:`ConfigError` for bad arguments, :class:`ModelFileError` for unusable models,
    and refuses to replace an existing model folder unless ``overwrite``.
    """
    out = Path(out)
    if ensemble:
        if frontend is None or classifier is None:
            raise ConfigError("ensemble=True needs frontend= and classifier= ONNX files (the ensemble runs "
                              "front-end -> classifier as two Triton models)")
        default_name = Path(model).stem if model is not None else Path(classifier).stem
    else:
        if model is None:
            raise ConfigError("model= (a pipeline ONNX) is needed; for separate front-end and classifier "
                              "files use ensemble=True")
        if frontend is not None or classifier is not None:
            raise ConfigError("frontend= and classifier= are for ensemble=True; the single layout takes model=")
        default_name = Path(model).stem
    name = name or re.sub(r"[^A-Za-z0-9_.\-]", "_", default_name)
    kind = _check_args(name, max_batch, instances, kind, max_wait_ms, backend)
    options = dict(max_batch=max_batch, instances=instances, kind=kind, max_wait_ms=max_wait_ms, backend=backend)
    folders = [out / name] + ([out / f"{name}_frontend", out / f"{name}_classifier"] if ensemble else [])
    for folder in folders:
        if folder.exists():
            if not overwrite:
                raise ConfigError(f"{str(folder)!r} exists; pass overwrite=True (--force) to replace it")
            shutil.rmtree(folder)
    try:
        if ensemble:
            paths = _write_ensemble(out, name, _load(frontend, "frontend", "frontend"),
                                    _load(classifier, "classifier", "classifier"), **options)
        else:
            paths = _write_single(out, name, _load(model, "pipeline", "model"), **options)
        check_repository(out, [name])
        return paths
    except BaseException:
        for folder in folders:  # never leave half a repository behind
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _needs(meta: dict, keys: tuple[str, ...], role: str, path: Path) -> None:
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ModelFileError(f"{role} {str(path)!r} lacks metadata {', '.join('audiofront.' + k for k in missing)}")


def _write_single(out: Path, name: str, pipe: _Onnx, **options) -> list[Path]:
    _needs(pipe.meta, ("clip_samples", "labels"), "model", pipe.path)
    where = f"model {str(pipe.path)!r}"
    audio, scores = _single_io(pipe, "model")
    labels = pipe.meta["labels"]
    out_dims = _concrete(_batched(scores, where), [len(labels)])
    if out_dims != (len(labels),):
        raise ModelFileError(f"{where}: output {scores.name!r} has dims {out_dims}, expected ({len(labels)},) "
                             f"for {len(labels)} labels")
    folder = out / name
    _copy_model(pipe.path, folder, options["backend"])
    text = model_config_text(
        name,
        inputs=[TensorConfig(audio.name, _data_type(audio, where), _audio_dims(audio, pipe.meta["clip_samples"], where))],
        outputs=[TensorConfig(scores.name, _data_type(scores, where), out_dims, label_filename=_labels_file(folder, labels))],
        comment=_describe(pipe.meta), **_member_fields(options),
    )
    config = folder / "config.pbtxt"
    config.write_text(text, encoding="utf-8")
    _facts_file(folder, pipe.meta.get("sample_rate"), pipe.meta["clip_samples"], labels, audio.name, scores.name)
    return [config]


def _write_ensemble(out: Path, name: str, front: _Onnx, clf: _Onnx, **options) -> list[Path]:
    _needs(clf.meta, ("clip_samples", "labels"), "classifier", clf.path)
    _needs(front.meta, ("sample_rate", "frames", "n_bins"), "frontend", front.path)
    if "sample_rate" in clf.meta and clf.meta["sample_rate"] != front.meta["sample_rate"]:
        raise ModelFileError(f"frontend runs at {front.meta['sample_rate']} Hz but the classifier was trained at "
                             f"{clf.meta['sample_rate']} Hz")
    fwhere, cwhere = f"frontend {str(front.path)!r}", f"classifier {str(clf.path)!r}"
    clip, labels = clf.meta["clip_samples"], clf.meta["labels"]
    f_in, f_out = _single_io(front, "frontend")
    c_in, c_out = _single_io(clf, "classifier")
    audio_dims = _audio_dims(f_in, clip, fwhere)
    frames = eval_frames(front.meta["frames"], clip)
    f_raw = _batched(f_out, fwhere)
    # Front-end output: (batch, [channels,] bins, frames); the last two are known from metadata.
    feature_dims = _concrete(f_raw, [1] * (len(f_raw) - 2) + [front.meta["n_bins"], frames])
    c_raw = _batched(c_in, cwhere)
    classifier_dims = _concrete(c_raw, [1] * (len(c_raw) - len(feature_dims)) + list(feature_dims))
    if -1 in feature_dims or -1 in classifier_dims or math.prod(feature_dims) != math.prod(classifier_dims):
        raise ModelFileError(f"the front-end gives features {feature_dims} per item but the classifier takes "
                             f"{classifier_dims}; they cannot be chained")
    # A classifier taking (batch, 1, bins, frames) behind a (batch, bins, frames) front-end: Triton
    # reshapes the tensor on the way in, no extra model needed.
    reshape = classifier_dims if classifier_dims != feature_dims else None
    scores_dims = _concrete(_batched(c_out, cwhere), [len(labels)])
    if scores_dims != (len(labels),):
        raise ModelFileError(f"{cwhere}: output {c_out.name!r} has dims {scores_dims}, expected ({len(labels)},)")
    batching = _member_fields(options)
    audio_type, feature_type = _data_type(f_in, fwhere), _data_type(f_out, fwhere)
    if _data_type(c_in, cwhere) != feature_type:
        raise ModelFileError(f"the front-end gives {feature_type} but the classifier takes {_data_type(c_in, cwhere)}")
    score_type = _data_type(c_out, cwhere)

    f_name, c_name = f"{name}_frontend", f"{name}_classifier"
    _copy_model(front.path, out / f_name, options["backend"])
    text = model_config_text(
        f_name, inputs=[TensorConfig(f_in.name, audio_type, audio_dims)],
        outputs=[TensorConfig(f_out.name, feature_type, feature_dims)], comment=_describe(front.meta), **batching)
    (out / f_name / "config.pbtxt").write_text(text, encoding="utf-8")

    _copy_model(clf.path, out / c_name, options["backend"])
    text = model_config_text(
        c_name, inputs=[TensorConfig(c_in.name, feature_type, feature_dims, reshape=reshape)],
        outputs=[TensorConfig(c_out.name, score_type, scores_dims,
                              label_filename=_labels_file(out / c_name, labels))],
        comment=_describe(clf.meta), **batching)
    (out / c_name / "config.pbtxt").write_text(text, encoding="utf-8")

    ensemble_folder = out / name
    (ensemble_folder / "1").mkdir(parents=True, exist_ok=True)  # Triton wants a version folder, even empty
    ensemble_in, ensemble_out = "audio", "probabilities" if clf.meta.get("output") != "logits" else "logits"
    text = model_config_text(
        name, platform="ensemble", max_batch=options["max_batch"],
        inputs=[TensorConfig(ensemble_in, audio_type, audio_dims)],
        outputs=[TensorConfig(ensemble_out, score_type, scores_dims,
                              label_filename=_labels_file(ensemble_folder, labels))],
        steps=[(f_name, {f_in.name: ensemble_in}, {f_out.name: "features"}),
               (c_name, {c_in.name: "features"}, {c_out.name: ensemble_out})],
        comment=_describe({**front.meta, **clf.meta}),
    )
    config = ensemble_folder / "config.pbtxt"
    config.write_text(text, encoding="utf-8")
    _facts_file(ensemble_folder, front.meta["sample_rate"], clip, labels, ensemble_in, ensemble_out)
    return [config, out / f_name / "config.pbtxt", out / c_name / "config.pbtxt"]


def _facts_file(folder: Path, sample_rate, clip_samples: int, labels: list[str], input_name: str,
                output_name: str) -> None:
    # For clients: what to send (rate, window length, tensor names) and what comes back.
    facts = {"sample_rate": sample_rate, "clip_samples": clip_samples, "input": input_name,
             "output": output_name, "labels": labels}
    (folder / "audiofront.json").write_text(json.dumps(facts, indent=1), encoding="utf-8")
