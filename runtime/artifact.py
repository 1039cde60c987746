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
from audiofront.export.metadata import PREFIX, decode_metadata
from audiofront.runtime.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from audiofront.runtime.runner import TensorSpec

__all__ = ["PipelineInfo", "pipeline_info", "check_model_io", "OUTPUT_KINDS", "INPUT_LAYOUTS", "REQUIRED_KEYS"]

OUTPUT_KINDS = ("probabilities", "logits")
INPUT_LAYOUTS = ("batch,time", "batch,channels,time")
REQUIRED_KEYS = ("kind", "sample_rate", "clip_samples", "labels", "output")


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
    """Validate and decode a pipeline's ``audiofront.*`` metadata; ``source`` names the file in errors."""
    missing = [PREFIX + k for k in REQUIRED_KEYS if PREFIX + k not in meta]
    if missing:
        found = sorted(k for k in meta if k.startswith(PREFIX))
        raise ModelFileError(
            f"{source} is not an audiofront pipeline: metadata lacks {missing} (found {found or 'no audiofront keys'})"
        )
    try:
        values = decode_metadata(meta)
    except ModelFileError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    kind = values["kind"]
    if kind != "pipeline":
        hint = {
            "frontend": "it is a front-end (features out): prepend a classifier first (audiofront.export.prepend)",
            "classifier": "it is a classifier (features in): prepend a front-end first (audiofront.export.prepend)",
        }.get(kind, "")
        raise ModelFileError(f"{source} has audiofront.kind={kind!r}, a Pipeline needs 'pipeline'" + (f"; {hint}" if hint else ""))
    rate, clip = values["sample_rate"], values["clip_samples"]
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ModelFileError(f"{source}: audiofront.sample_rate={rate} is outside [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}]")
    if clip < 1:
        raise ModelFileError(f"{source}: audiofront.clip_samples={clip} must be a positive integer")
    labels = values["labels"]
    if not labels or not all(isinstance(x, str) for x in labels):
        raise ModelFileError(f"{source}: audiofront.labels must be a non-empty JSON list of strings")
    if len(set(labels)) != len(labels):
        raise ModelFileError(f"{source}: audiofront.labels holds duplicates")
    output = values["output"]
    if output not in OUTPUT_KINDS:
        raise ModelFileError(f"{source}: audiofront.output={output!r} must be one of {list(OUTPUT_KINDS)}")
    layout = values.get("input_layout", "batch,time")
    if layout not in INPUT_LAYOUTS:
        raise ModelFileError(f"{source}: audiofront.input_layout={layout!r} must be one of {list(INPUT_LAYOUTS)}")
    return PipelineInfo(rate, clip, tuple(labels), output, layout, {k: v for k, v in meta.items()})


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
