"""What a pipeline artifact must say about itself, and the check that it is what it says.

A pipeline artifact (a prepended ``.onnx``, or an ``.engine`` with its sidecar) carries the
metadata contract's ``audiofront.*`` keys. :func:`pipeline_info` reads the ones a
:class:`~audiofront.runtime.Pipeline` needs (``kind`` = ``pipeline``, ``sample_rate``,
``clip_samples``, ``labels``, ``output``; ``input_layout`` when present) and
:func:`check_model_io` compares them with the inputs and outputs the loaded model declares.
A disagreement is a :class:`~audiofront.errors.ModelFileError` naming the file, the key and
both values.

Example::

    >>> info = pipeline_info(read_metadata("piano.onnx"), "piano.onnx")
    >>> info.sample_rate, info.clip_samples, len(info.labels), info.output
    (16000, 16000, 88, 'logits')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from audiofront.errors import ModelFileError
from audiofront.export.metadata import INPUT_LAYOUTS, OUTPUT_KINDS, PREFIX, REQUIRED, check_metadata
from audiofront.runtime.runner import TensorSpec

__all__ = ["PipelineInfo", "pipeline_info", "read_pipeline_metadata", "check_model_io", "OUTPUT_KINDS",
           "INPUT_LAYOUTS", "REQUIRED_KEYS"]

REQUIRED_KEYS = REQUIRED["pipeline"]


@dataclass(frozen=True)
class PipelineInfo:
    """The facts a Pipeline runs by: audio in at ``sample_rate`` in windows of ``clip_samples``
    samples, one score per label out (``output`` says whether they are probabilities or logits)."""

    sample_rate: int
    clip_samples: int
    labels: tuple[str, ...]
    output: str
    input_layout: str = "batch,time"
    metadata: dict[str, str] = field(default_factory=dict)


def pipeline_info(meta: Mapping[str, str], source: str) -> PipelineInfo:
    """Validate and decode a pipeline's ``audiofront.*`` metadata (the contract's
    :func:`~audiofront.export.metadata.check_metadata`); ``source`` names the file in errors."""
    kind = meta.get(PREFIX + "kind")
    if kind is not None and kind != "pipeline":
        hint = {
            "frontend": "it is a front-end (features out): prepend a classifier first (audiofront.export.prepend)",
            "classifier": "it is a classifier (features in): prepend a front-end first (audiofront.export.prepend)",
        }.get(kind, "")
        raise ModelFileError(f"{source} has audiofront.kind={kind!r}, a Pipeline needs 'pipeline'" + (f"; {hint}" if hint else ""))
    missing = [PREFIX + k for k in REQUIRED_KEYS if PREFIX + k not in meta]
    if missing:
        found = sorted(k for k in meta if k.startswith(PREFIX))
        raise ModelFileError(
            f"{source} is not an audiofront pipeline: metadata lacks {missing} (found {found or 'no audiofront keys'})"
        )
    values = check_metadata(meta, kind="pipeline", source=source)
    return PipelineInfo(values["sample_rate"], values["clip_samples"], tuple(values["labels"]), values["output"],
                        values.get("input_layout", "batch,time"), dict(meta))


def read_pipeline_metadata(path) -> tuple[dict[str, str], str]:
    """``(metadata, kind)`` of a model file: an ``X.engine``'s sidecar (kind ``"engine"``) or an ONNX's
    ``metadata_props`` (kind ``"onnx"``). Raises :class:`ModelFileError` when it cannot be read."""
    from pathlib import Path

    from audiofront.runtime.backends import artifact_kind

    path = Path(path)
    kind = artifact_kind(path)
    if kind == "engine":
        from audiofront.export.engine import read_sidecar

        if not path.is_file():
            raise ModelFileError(f"engine file {str(path)!r} does not exist or is not a file")
        return read_sidecar(path, required=True), kind
    from audiofront.export.metadata import read_metadata

    return read_metadata(path), kind


def check_model_io(inputs: list[TensorSpec], outputs: list[TensorSpec], info: PipelineInfo, source: str) -> tuple[str, str]:
    """Check the model's declared inputs/outputs against ``info``; return ``(input name, output name)``.

    The model must take one float32 audio input of the layout's rank whose time dim (if fixed)
    is ``clip_samples`` and channel dim (if fixed) is 1, and give a ``(batch, classes)`` output
    (the first, if several) whose class dim (if fixed) is ``len(labels)``.
    """
    if len(inputs) != 1:
        raise ModelFileError(f"{source} has inputs {[s.name for s in inputs]}; a pipeline takes exactly one (the audio)")
    audio = inputs[0]
    rank = len(info.input_layout.split(","))
    if audio.rank is not None and audio.rank != rank:
        raise ModelFileError(
            f"{source}: input {audio.name!r} has shape {audio.describe_shape()} but audiofront.input_layout="
            f"{info.input_layout!r} needs rank {rank}"
        )
    if audio.dtype.kind != "f" or audio.dtype.itemsize != 4:
        raise ModelFileError(f"{source}: input {audio.name!r} is {audio.dtype}; a pipeline takes float32 audio")
    if audio.rank is not None:
        time = audio.static_dim(rank - 1)
        if time is not None and time != info.clip_samples:
            raise ModelFileError(
                f"{source}: input {audio.name!r} takes {time} samples but audiofront.clip_samples={info.clip_samples}"
            )
        if rank == 3 and audio.static_dim(1) not in (None, 1):
            raise ModelFileError(
                f"{source}: input {audio.name!r} takes {audio.static_dim(1)} channels; Pipeline feeds one "
                "(mixed or selected) channel"
            )
    if not outputs:
        raise ModelFileError(f"{source} declares no outputs")
    out = outputs[0]
    if out.rank is not None and out.rank != 2:
        raise ModelFileError(f"{source}: output {out.name!r} has shape {out.describe_shape()}, a pipeline gives (batch, classes)")
    if out.rank is not None:
        classes = out.static_dim(1)
        if classes is not None and classes != len(info.labels):
            raise ModelFileError(
                f"{source}: output {out.name!r} has {classes} classes but audiofront.labels names {len(info.labels)}"
            )
    return audio.name, out.name
