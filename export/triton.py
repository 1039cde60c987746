"""Generate an NVIDIA Triton Inference Server model repository from audiofront ONNX artifacts.

Two layouts:

- **single**: one prepended pipeline ONNX (``audiofront.kind=pipeline``: audio in, class scores
  out) as ``repo/NAME/1/model.onnx`` with ``repo/NAME/config.pbtxt`` (onnxruntime backend,
  dynamic batching, instance group) and ``repo/NAME/labels.txt`` (Triton's classification
  extension then answers ``class_count=k`` requests with label names).
- **ensemble**: a front-end ONNX (``kind=frontend``) and a classifier ONNX (``kind=classifier``)
  as ``repo/NAME_frontend`` and ``repo/NAME_classifier``, joined by ``repo/NAME`` (platform
  ``ensemble``), so the two stages can be scaled, placed or replaced separately.

Input dims are fixed to ``clip_samples``: Triton's dynamic batcher only joins requests of equal
shape, and the model takes windows of that length; clients window long audio themselves (see
docs/serving.md). The batch dimension is implicit (``max_batch_size`` > 0).

Example::

    >>> paths = write_model_repository("piano.onnx", "repo", name="piano", max_batch=16)
    >>> validate_config(paths[0].read_text()).max_batch_size
    16
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from audiofront import __version__
from audiofront.errors import ConfigError, ModelFileError
from audiofront.export.metadata import check_metadata, decode_metadata, eval_frames, read_metadata

__all__ = ["TensorConfig", "write_model_repository", "model_config_text", "validate_config", "INSTANCE_KINDS"]

INSTANCE_KINDS = ("KIND_GPU", "KIND_CPU")

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
class TensorConfig:
    """One ``input``/``output`` entry: ``dims`` without the batch dim (-1 for a variable one);
    ``reshape`` the model's own dims when they differ from what the repository passes."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None
    label_filename: str | None = None


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


def _format_dims(dims) -> str:
    return "[ " + ", ".join(str(int(d)) for d in dims) + " ]"


def _tensor_text(t: TensorConfig) -> str:
    lines = [f'    name: "{t.name}"', f"    data_type: {t.data_type}", f"    dims: {_format_dims(t.dims)}"]
    if t.reshape is not None:
        lines.append(f"    reshape: {{ shape: {_format_dims(t.reshape)} }}")
    if t.label_filename:
        lines.append(f'    label_filename: "{t.label_filename}"')
    return "  {\n" + "\n".join(lines) + "\n  }"


def model_config_text(
    name: str,
    *,
    inputs: list[TensorConfig],
    outputs: list[TensorConfig],
    max_batch: int,
    platform: str = "onnxruntime_onnx",
    instances: int = 1,
    kind: str = "KIND_GPU",
    max_wait_ms: float = 5.0,
    steps: list[tuple[str, dict[str, str], dict[str, str]]] | None = None,
    comment: str = "",
) -> str:
    """The ``config.pbtxt`` text of one model (protobuf text format of Triton's ``ModelConfig``).

    ``platform="ensemble"`` with ``steps`` = ``[(model_name, input_map, output_map), ...]`` (maps
    from the step model's tensor names to ensemble tensor names) writes ``ensemble_scheduling``
    instead of batching and instances (an ensemble has neither; its members do).
    """
    parts = [f"# {line}" for line in comment.splitlines()] if comment else []
    parts += [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {max_batch}"]
    parts.append("input [\n" + ",\n".join(_tensor_text(t) for t in inputs) + "\n]")
    parts.append("output [\n" + ",\n".join(_tensor_text(t) for t in outputs) + "\n]")
    if platform == "ensemble":
        step_texts = []
        for model_name, input_map, output_map in steps or []:
            maps = [f'      input_map {{ key: "{k}" value: "{v}" }}' for k, v in input_map.items()]
            maps += [f'      output_map {{ key: "{k}" value: "{v}" }}' for k, v in output_map.items()]
            step_texts.append(f'    {{\n      model_name: "{model_name}"\n      model_version: -1\n'
                              + "\n".join(maps) + "\n    }")
        parts.append("ensemble_scheduling {\n  step [\n" + ",\n".join(step_texts) + "\n  ]\n}")
    else:
        parts.append(f"instance_group [\n  {{\n    count: {instances}\n    kind: {kind}\n  }}\n]")
        parts.append(f"dynamic_batching {{\n  max_queue_delay_microseconds: {int(round(max_wait_ms * 1000))}\n}}")
    return "\n".join(parts) + "\n"


def _load_model_config_pb2():
    try:
        return importlib.import_module("tritonclient.grpc.model_config_pb2")
    except ImportError:
        pass
    except RuntimeError:
        # tritonclient without its [grpc] extra refuses to import tritonclient.grpc, but the
        # generated model_config_pb2 module inside it needs only protobuf: load that file alone.
        pass
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tritonclient is not installed (pip install 'audiofront[serve]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("audiofront_triton_model_config_pb2", path)
    if module_spec is None or not path.is_file():
        raise ImportError(f"tritonclient has no {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


_PB2 = None


def validate_config(text: str):
    """Parse ``config.pbtxt`` text with Triton's own ``ModelConfig`` protobuf (from tritonclient);
    returns the message. Raises ``google.protobuf.text_format.ParseError`` on a bad config and
    ``ImportError`` when tritonclient is missing."""
    global _PB2
    from google.protobuf import text_format

    if _PB2 is None:
        _PB2 = _load_model_config_pb2()
    return text_format.Parse(text, _PB2.ModelConfig())


def _check_args(name, max_batch, instances, kind, max_wait_ms) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"name must be a folder-safe model name (letters, digits, _ . -), got {name!r}")
    for arg, value in (("max_batch", max_batch), ("instances", instances)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{arg} must be a positive integer, got {value!r}")
    if kind not in INSTANCE_KINDS:
        raise ConfigError(f"kind must be one of {INSTANCE_KINDS}, got {kind!r}")
    if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or not 0 <= max_wait_ms <= 10_000:
        raise ConfigError(f"max_wait_ms must be a number in [0, 10000], got {max_wait_ms!r}")


def _copy_model(src: Path, folder: Path) -> Path:
    version = folder / "1"
    version.mkdir(parents=True, exist_ok=True)
    target = version / "model.onnx"
    shutil.copyfile(src, target)
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
    kind: str = "KIND_GPU",
    max_wait_ms: float = 5.0,
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
    _check_args(name, max_batch, instances, kind, max_wait_ms)
    folders = [out / name] + ([out / f"{name}_frontend", out / f"{name}_classifier"] if ensemble else [])
    for folder in folders:
        if folder.exists():
            if not overwrite:
                raise ConfigError(f"{str(folder)!r} exists; pass overwrite=True (--force) to replace it")
            shutil.rmtree(folder)
    try:
        if ensemble:
            return _write_ensemble(out, name, _load(frontend, "frontend", "frontend"),
                                   _load(classifier, "classifier", "classifier"),
                                   max_batch=max_batch, instances=instances, kind=kind, max_wait_ms=max_wait_ms)
        return _write_single(out, name, _load(model, "pipeline", "model"), max_batch=max_batch,
                             instances=instances, kind=kind, max_wait_ms=max_wait_ms)
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
    _copy_model(pipe.path, folder)
    text = model_config_text(
        name,
        inputs=[TensorConfig(audio.name, _data_type(audio, where), _audio_dims(audio, pipe.meta["clip_samples"], where))],
        outputs=[TensorConfig(scores.name, _data_type(scores, where), out_dims, label_filename=_labels_file(folder, labels))],
        max_batch=options["max_batch"], instances=options["instances"], kind=options["kind"],
        max_wait_ms=options["max_wait_ms"], comment=_describe(pipe.meta),
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
    n_features = 1
    for d in feature_dims:
        n_features *= d
    n_classifier = 1
    for d in classifier_dims:
        n_classifier *= d
    if -1 in feature_dims or -1 in classifier_dims or n_features != n_classifier:
        raise ModelFileError(f"the front-end gives features {feature_dims} per item but the classifier takes "
                             f"{classifier_dims}; they cannot be chained")
    # A classifier taking (batch, 1, bins, frames) behind a (batch, bins, frames) front-end: Triton
    # reshapes the tensor on the way in, no extra model needed.
    reshape = classifier_dims if classifier_dims != feature_dims else None
    scores_dims = _concrete(_batched(c_out, cwhere), [len(labels)])
    if scores_dims != (len(labels),):
        raise ModelFileError(f"{cwhere}: output {c_out.name!r} has dims {scores_dims}, expected ({len(labels)},)")
    batching = dict(max_batch=options["max_batch"], instances=options["instances"], kind=options["kind"],
                    max_wait_ms=options["max_wait_ms"])
    audio_type, feature_type = _data_type(f_in, fwhere), _data_type(f_out, fwhere)
    if _data_type(c_in, cwhere) != feature_type:
        raise ModelFileError(f"the front-end gives {feature_type} but the classifier takes {_data_type(c_in, cwhere)}")
    score_type = _data_type(c_out, cwhere)

    f_name, c_name = f"{name}_frontend", f"{name}_classifier"
    _copy_model(front.path, out / f_name)
    text = model_config_text(
        f_name, inputs=[TensorConfig(f_in.name, audio_type, audio_dims)],
        outputs=[TensorConfig(f_out.name, feature_type, feature_dims)], comment=_describe(front.meta), **batching)
    (out / f_name / "config.pbtxt").write_text(text, encoding="utf-8")

    _copy_model(clf.path, out / c_name)
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
