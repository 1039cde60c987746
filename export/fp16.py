"""fp16 ONNX variant of a pipeline for ONNX Runtime's CUDA provider: front-end fp32, classifier fp16.

The front-end stays fp32 because power spectra overflow fp16 (``|X|**2`` of a full-scale
sine at ``n_fft=512`` is 65,536 > 65,504) and the log of small powers underflows. So
:func:`to_fp16` splits the pipeline at the feature tensor (``onnx.utils.Extractor``), converts
only the classifier part with onnxconverter-common's ``convert_float_to_float16``
(``keep_io_types=True``: it takes and returns float32, casting inside), and joins the parts
again with ``onnx.compose``. The front-end's nodes and weights are untouched.
:func:`compare_fp16` measures what the variant changes on onnxruntime's CPU provider.

Shapes: the same as the pipeline's, ``(batch, time) -> (batch, n_classes)`` float32.

Example (``pipeline_onnx`` comes from :func:`~audiofront.export.prepend`)::

    >>> variant = to_fp16(pipeline_onnx, tmp_path / "pipeline.fp16.onnx")
    >>> audio = np.random.default_rng(0).standard_normal((4, 16000)).astype(np.float32) * 0.1
    >>> compare_fp16(pipeline_onnx, variant, audio)["argmax_agreement"]
    1.0
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnx.compose
import onnx.utils

from audiofront.errors import BackendUnavailable, ConfigError, ExportError
from audiofront.export.artifacts import check_and_save, load_onnx
from audiofront.export.hygiene import graph_inputs
from audiofront.export.metadata import key, read_metadata, write_metadata

__all__ = ["to_fp16", "compare_fp16"]


def _converter():
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise BackendUnavailable(
            "onnxconverter-common is not installed: pip install onnxconverter-common (needed for fp16 ONNX variants)"
        ) from None
    return float16


def to_fp16(pipeline, out: str | os.PathLike) -> Path:
    """Write the fp16 variant of ``pipeline`` (a path or ModelProto from :func:`prepend`) to ``out``.

    Raises :class:`ConfigError` for a bare front-end (it stays fp32: nothing to convert),
    :class:`ModelFileError` for an unreadable file, :class:`BackendUnavailable` without
    onnxconverter-common, :class:`ExportError` when the split or the conversion fails.
    """
    name = "pipeline" if isinstance(pipeline, onnx.ModelProto) else f"pipeline {str(pipeline)!r}"
    model = load_onnx(pipeline, what="pipeline")
    meta = read_metadata(model)
    if meta.get(key("kind")) != "pipeline":
        raise ConfigError(
            f"{name} is a {meta.get(key('kind'), 'non-audiofront model')!r}, not a pipeline: a front-end stays fp32; "
            "prepend it to a classifier first"
        )
    feature = meta.get(key("feature_tensor"))
    if not feature:
        raise ExportError(f"{name} has no audiofront.feature_tensor metadata; build it with audiofront.export.prepend")
    float16 = _converter()
    inputs = [i.name for i in graph_inputs(model)]
    outputs = [o.name for o in model.graph.output]
    try:
        extractor = onnx.utils.Extractor(model)
        front = extractor.extract_model(inputs, [feature])
        back = extractor.extract_model([feature], outputs)
        back16 = float16.convert_float_to_float16(back, keep_io_types=True)
        for part in (front, back16):
            part.ir_version = model.ir_version
            del part.opset_import[:]
            part.opset_import.extend(model.opset_import)
        # The parts share names around the cut (the feature tensor's value_info): prefix the back.
        # (value_info goes first: add_prefix renames a graph output that also has a value_info entry.)
        del back16.graph.value_info[:]
        back16 = onnx.compose.add_prefix(back16, "fp16/", rename_outputs=False)
        merged = onnx.compose.merge_models(front, back16, io_map=[(feature, "fp16/" + feature)], outputs=outputs)
    except Exception as exc:
        raise ExportError(f"cannot make the fp16 variant of {name}: {type(exc).__name__}: {exc}") from exc
    merged.graph.name = model.graph.name
    merged.producer_name, merged.producer_version = model.producer_name, model.producer_version
    write_metadata(merged, {**meta, "precision": "fp16-classifier"}, replace=True)
    return check_and_save(merged, out, what=f"the fp16 variant of {name}")


def compare_fp16(fp32_model, fp16_model, audio: np.ndarray) -> dict[str, float]:
    """Run both on onnxruntime's CPU provider: ``max_abs_diff``, ``max_rel_diff`` (to the fp32
    output's largest magnitude) and ``argmax_agreement`` (fraction of items whose top class agrees)."""
    from audiofront.export.session import make_session

    audio = np.asarray(audio, dtype=np.float32)
    outs = []
    for model in (fp32_model, fp16_model):
        session = make_session(model if not isinstance(model, onnx.ModelProto) else model.SerializeToString())
        outs.append(session.run(None, {session.get_inputs()[0].name: audio})[0].astype(np.float64))
    ref, got = outs
    diff = float(np.abs(ref - got).max())
    return {
        "max_abs_diff": diff,
        "max_rel_diff": diff / max(float(np.abs(ref).max()), 1e-30),
        "argmax_agreement": float(np.mean(ref.argmax(-1) == got.argmax(-1))),
    }
