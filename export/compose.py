"""Prepend an exported front-end to any classifier ONNX: one graph, raw audio in, classifier output out.

:func:`prepend` checks the classifier's single input (rank, fixed sizes, dtype) against the
front-end's output and the metadata both carry (sample rate, n_mels), inserts the Transpose /
Unsqueeze a layout needs, and joins the graphs with ``onnx.compose.merge_models``. Layouts name
the classifier input's axes with the front-end's words plus ``1`` for an added axis:

- ``"batch,bins,frames"``: as the front-end gives it (rank 3);
- ``"batch,1,bins,frames"``: an image with one channel, NCHW (rank 4, the usual CNN);
- ``"batch,bins,frames,1"``: NHWC (Keras/TensorFlow);
- ``"batch,frames,bins"`` / ``"batch,1,frames,bins"`` / ``"batch,frames,bins,1"``: time first;
- with a ``(batch, channels, time)`` front-end, ``channels`` appears too, e.g. ``"batch,channels,bins,frames"``.

The layouts, their spellings and the frames law are the metadata contract's
(:mod:`audiofront.export.metadata`). Other spellings mean the same (:func:`canonical_layout`): ``"(batch, 1, n_mels, frames)"``
(``n_mels``/``freq`` for bins, ``time`` for frames, brackets and spaces ignored), ``"NCHW"``
(= ``"batch,1,bins,frames"``) and ``"NHWC"``.

``layout="auto"`` picks the first of these whose fixed sizes fit the classifier's input and
that puts the front-end's bins on an axis the classifier fixes to that size.
A classifier with a fixed number of frames fixes ``clip_samples`` (the audio it takes).

Example (``classifier_onnx`` takes ``(n, 1, 96, t)`` and gives ``(n, 10)``)::

    >>> out = prepend(frontend_onnx, classifier_onnx, tmp_path / "pipeline.onnx", labels=list("abcdefghij"))
    >>> meta = read_metadata(out)
    >>> meta["audiofront.kind"], meta["audiofront.feature_layout"]
    ('pipeline', 'batch,1,bins,frames')
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import onnx.compose
import onnx.version_converter
from onnx import TensorProto, helper

from audiofront import __version__
from audiofront.errors import ConfigError, ExportError, ModelFileError
from audiofront.export.artifacts import check_and_save, load_onnx
from audiofront.export.hygiene import DEFAULT_DOMAINS, graph_inputs, value_dims
from audiofront.export.metadata import (
    FEATURE_LAYOUTS,
    OUTPUT_KINDS,
    canonical_layout,
    check_metadata,
    clip_for_frames,
    decode_metadata,
    eval_frames,
    key,
    layout_plan,
    layout_shape,
    read_metadata,
    write_metadata,
)

__all__ = ["prepend", "LAYOUTS", "layout_shape", "canonical_layout"]

LAYOUTS = FEATURE_LAYOUTS

_CLASSIFIER_PREFIX = "classifier/"
_ADAPTER_PREFIX = "layout/"


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), 0)


def _fmt(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _fits(expected: list, actual: list) -> str | None:
    """Why ``actual`` (classifier input dims) cannot take ``expected``; None when it can."""
    if len(expected) != len(actual):
        return f"rank {len(actual)} != {len(expected)}"
    for axis, (e, a) in enumerate(zip(expected, actual)):
        if isinstance(e, int) and isinstance(a, int) and e != a:
            return f"axis {axis}: {a} != {e}"
    return None


def _adapter(in_name: str, out_name: str, source_tokens: list[str], source_dims: list, layout: str, opset: int,
             ir_version: int, squeeze: list[int] = (), input_dims: list | None = None):
    """A model rearranging the features to ``layout``: Squeeze of the front-end's size-one axes
    ``squeeze`` (if any), Transpose (if needed), then Unsqueeze (if needed). ``source_tokens`` /
    ``source_dims`` describe the features after the squeeze; ``input_dims`` before it."""
    perm, axes = layout_plan(source_tokens, layout)
    nodes, inits = [], []
    current = in_name
    if squeeze:
        inits.append(helper.make_tensor("squeeze_axes", TensorProto.INT64, [len(squeeze)], list(squeeze)))
        nodes.append(helper.make_node("Squeeze", [current, "squeeze_axes"], ["squeezed"], name="squeeze"))
        current = "squeezed"
    if perm != list(range(len(perm))):
        nodes.append(helper.make_node("Transpose", [current], ["transposed"], perm=perm, name="transpose"))
        current = "transposed"
    if axes:
        inits.append(helper.make_tensor("unsqueeze_axes", TensorProto.INT64, [len(axes)], axes))
        nodes.append(helper.make_node("Unsqueeze", [current, "unsqueeze_axes"], ["unsqueezed"], name="unsqueeze"))
        current = "unsqueezed"
    nodes.append(helper.make_node("Identity", [current], [out_name], name="identity"))
    graph = helper.make_graph(
        nodes, "layout",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, source_dims if input_dims is None else input_dims)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, layout_shape(source_tokens, source_dims, layout))],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def _align_opsets(fe: onnx.ModelProto, cls: onnx.ModelProto, fe_name: str, cls_name: str):
    target = max(_opset(fe), _opset(cls))
    out = []
    for model, name in ((fe, fe_name), (cls, cls_name)):
        if _opset(model) != target:
            try:
                model = onnx.version_converter.convert_version(model, target)
            except Exception as exc:
                raise ExportError(
                    f"cannot bring {name} from opset {_opset(model)} to opset {target} (the other model's): {exc}; "
                    f"export both at the same opset"
                ) from None
        out.append(model)
    ir = max(out[0].ir_version, out[1].ir_version)
    for model in out:
        model.ir_version = ir
    return out[0], out[1], target, ir


def _is_softmax_output(model: onnx.ModelProto, output: str) -> bool:
    for node in model.graph.node:
        if output in node.output:
            return node.op_type == "Softmax"
    return False


def prepend(
    frontend_onnx,
    classifier_onnx,
    out: str | os.PathLike,
    *,
    layout: str = "auto",
    labels: list[str] | None = None,
    clip_samples: int | None = None,
    output: str | None = None,
    sample_rate: int | None = None,
    output_layout: str | None = None,
) -> Path:
    """Write ``frontend -> layout adapter -> classifier`` as one ONNX graph to ``out``.

    ``frontend_onnx`` comes from :func:`~audiofront.export.export_onnx` (paths or ModelProtos).
    ``labels``, ``clip_samples`` and ``output`` ("logits" | "probabilities") default to the
    classifier's ``audiofront.*`` metadata, then to: class indices as strings; the samples that
    give the classifier's fixed frame count (one second when it takes any length); "probabilities"
    when its output comes from a Softmax, else "logits". ``sample_rate`` (optional) is the rate the
    classifier was trained at and must equal the front-end's.

    Shapes: ``(batch, time) -> classifier output``, e.g. ``(batch, n_classes)``.

    Raises :class:`ModelFileError` for unreadable files or a front-end without metadata and
    :class:`ExportError` when the classifier cannot take the features (naming both shapes).
    """
    fe_name = f"front-end {str(frontend_onnx)!r}" if not isinstance(frontend_onnx, onnx.ModelProto) else "front-end"
    cls_name = f"classifier {str(classifier_onnx)!r}" if not isinstance(classifier_onnx, onnx.ModelProto) else "classifier"
    fe = load_onnx(frontend_onnx, what="front-end")
    cls = load_onnx(classifier_onnx, what="classifier")
    fe_meta, cls_meta = read_metadata(fe), read_metadata(cls)
    if fe_meta.get(key("kind")) != "frontend":
        raise ModelFileError(
            f"{fe_name} has no audiofront front-end metadata (audiofront.kind={fe_meta.get(key('kind'))!r}); "
            "export it with audiofront.export.export_onnx"
        )
    fe_info = check_metadata(fe_meta, kind="frontend", source=fe_name)
    cls_info = decode_metadata(cls_meta)  # hints only: a classifier from elsewhere may carry none

    # Metadata the classifier was trained with must match what the front-end produces.
    rate = fe_info["sample_rate"]
    for source, claimed in ((f"{cls_name} metadata", cls_info.get("sample_rate")), ("sample_rate argument", sample_rate)):
        if claimed is not None and claimed != rate:
            raise ExportError(f"sample-rate mismatch: {fe_name} runs at {rate} Hz but the {source} says {claimed} Hz")
    for name in ("n_mels", "n_bins", "n_fft", "hop_length"):
        if name in cls_info and name in fe_info and cls_info[name] != fe_info[name]:
            raise ExportError(f"{name} mismatch: {fe_name} has {fe_info[name]} but {cls_name} metadata says {cls_info[name]}")

    # A streaming front-end (export_streaming_onnx) also gives next_state: it passes through, so a
    # frame-wise classifier runs chunk by chunk with it.
    streaming = fe_meta.get("audiofront.streaming") == "true"
    passed = [o.name for o in fe.graph.output if streaming and o.name == "next_state"]
    fe_outputs = [o for o in fe.graph.output if o.name not in passed]
    if len(fe_outputs) != 1:
        raise ModelFileError(f"{fe_name} must have one output, has {[o.name for o in fe.graph.output]}")
    fe_out = fe_outputs[0]
    fe_dims = value_dims(fe_out)
    source_tokens = fe_info["output_layout"].split(",")
    if len(source_tokens) != len(fe_dims) or "complex" in source_tokens:
        raise ExportError(f"{fe_name} gives {fe_info['output_layout']} {_fmt(fe_dims)}: prepend needs real features "
                          "(batch, [channels,] bins, frames)")
    # A front-end giving a size-one axis already (PANNs, CLAP: batch,1,frames,bins): the adapter
    # squeezes it, then lays the features out as the classifier takes them (often the same).
    input_dims = fe_dims
    squeeze = [i for i, t in enumerate(source_tokens) if t == "1"]
    if squeeze:
        source_tokens = [t for t in source_tokens if t != "1"]
        fe_dims = [d for i, d in enumerate(fe_dims) if i not in squeeze]
    cls_inputs = graph_inputs(cls)
    if len(cls_inputs) != 1:
        raise ExportError(f"{cls_name} must take exactly one input (the features), takes {[i.name for i in cls_inputs]}")
    cls_in = cls_inputs[0]
    cls_dims = value_dims(cls_in)
    cls_type = cls_in.type.tensor_type.elem_type
    if cls_type != fe_out.type.tensor_type.elem_type:
        raise ExportError(
            f"{cls_name} input {cls_in.name!r} {_fmt(cls_dims)} is {TensorProto.DataType.Name(cls_type)}, but {fe_name} "
            f"gives {TensorProto.DataType.Name(fe_out.type.tensor_type.elem_type)} {_fmt(fe_dims)}"
        )

    layout = canonical_layout(layout)
    if layout == "auto" and cls_info.get("feature_layout"):  # the classifier says what it takes
        layout = canonical_layout(cls_info["feature_layout"])
    if layout == "auto":
        if "channels" in source_tokens:
            candidates = [fe_info["output_layout"], "batch,channels,frames,bins", "batch,bins,frames,channels"]
        else:
            candidates = [fe_info["output_layout"]] + list(LAYOUTS)
        chosen = None
        for cand in dict.fromkeys(candidates):
            try:
                expected = layout_shape(source_tokens, fe_dims, cand)
            except ConfigError:
                continue
            # Classifiers know their feature bins: auto only picks a layout that puts them on a fixed axis.
            bins_axis = [t.strip() for t in cand.split(",")].index("bins")
            if _fits(expected, cls_dims) is None and cls_dims[bins_axis] == fe_info["n_bins"]:
                chosen = cand
                break
        if chosen is None:
            raise ExportError(
                f"{cls_name} input {cls_in.name!r} has shape {_fmt(cls_dims)}, which no layout of the {fe_name} output "
                f"{fe_info['output_layout']} {_fmt(fe_dims)} fits (tried {', '.join(dict.fromkeys(candidates))})"
            )
        layout = chosen
    expected = layout_shape(source_tokens, fe_dims, layout)
    why = _fits(expected, cls_dims)
    if why:
        raise ExportError(
            f"{cls_name} input {cls_in.name!r} has shape {_fmt(cls_dims)} but {fe_name} gives {_fmt(fe_dims)} "
            f"({fe_info['output_layout']}), i.e. {_fmt(expected)} as {layout}: {why}"
        )

    # A classifier with a fixed frame count fixes the audio window.
    frames_axis = [t.strip() for t in layout.split(",")].index("frames")
    fixed_frames = cls_dims[frames_axis] if isinstance(cls_dims[frames_axis], int) else None
    if clip_samples is None and streaming:
        clip_samples = int(fe_meta["audiofront.stream_chunk_samples"])
        fixed_frames = None  # frames per chunk, not per clip: the frames formula does not apply
    if clip_samples is None:
        clip_samples = cls_info.get("clip_samples")
    if clip_samples is None:
        clip_samples = clip_for_frames(fe_meta[key("frames")], fixed_frames) if fixed_frames else rate
    if isinstance(clip_samples, bool) or not isinstance(clip_samples, int) or clip_samples < 1:
        raise ConfigError(f"clip_samples must be a positive integer, got {clip_samples!r}")
    if fixed_frames is not None and eval_frames(fe_meta[key("frames")], clip_samples) != fixed_frames:
        raise ExportError(
            f"clip_samples={clip_samples} gives {eval_frames(fe_meta['audiofront.frames'], clip_samples)} frames, "
            f"but {cls_name} takes exactly {fixed_frames}"
        )

    fe, cls, opset, ir = _align_opsets(fe, cls, fe_name, cls_name)
    cls = onnx.compose.add_prefix(cls, _CLASSIFIER_PREFIX, rename_outputs=False)  # a copy
    # Its audiofront.* keys were read above; merge_models refuses keys both parts carry with other values.
    write_metadata(cls, {}, replace=True)
    cls_outputs = [o.name for o in cls.graph.output]
    try:
        adapter = _adapter("in", "out", source_tokens, fe_dims, layout, opset, ir, squeeze, input_dims)
        adapter = onnx.compose.add_prefix(adapter, _ADAPTER_PREFIX)
        head = onnx.compose.merge_models(fe, adapter, io_map=[(fe_out.name, _ADAPTER_PREFIX + "in")])
        merged = onnx.compose.merge_models(
            head, cls, io_map=[(_ADAPTER_PREFIX + "out", _CLASSIFIER_PREFIX + cls_in.name)],
            outputs=cls_outputs + passed, producer_name="audiofront", producer_version=__version__,
        )
        # The classifier's outputs first, as for an offline pipeline; next_state after them.
        ordered = sorted(merged.graph.output, key=lambda o: o.name in passed)
        del merged.graph.output[:]
        merged.graph.output.extend(ordered)
    except Exception as exc:
        raise ExportError(f"cannot compose {fe_name} with {cls_name}: {exc}") from exc
    merged.graph.name = "audiofront_pipeline"
    # merge_models concatenates opset imports; keep one entry per domain.
    imports = {(o.domain or ""): o.version for o in merged.opset_import}
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in imports.items())
    batch_name = value_dims(merged.graph.input[0])[0]
    for graph_output in merged.graph.output:
        dims = graph_output.type.tensor_type.shape.dim
        if isinstance(batch_name, str) and dims and dims[0].HasField("dim_param"):
            dims[0].dim_param = batch_name  # the classifier's own name for it ("n", "N"...) means the same axis

    out_dims = value_dims(cls.graph.output[0])
    # The classes axis: last, unless output_layout names it (a frame-wise "batch,classes,frames").
    tokens = [t.strip() for t in output_layout.split(",")] if isinstance(output_layout, str) else []
    n_classes = None
    if out_dims and len(tokens) == len(out_dims):
        n_classes = out_dims[tokens.index("classes")] if "classes" in tokens else None
    elif out_dims:
        n_classes = out_dims[-1]
    n_classes = n_classes if isinstance(n_classes, int) else None
    if labels is None:
        labels = cls_info.get("labels")
    if labels is None:
        labels = [str(i) for i in range(n_classes)] if n_classes else []
    labels = [str(label) for label in labels]
    if n_classes is not None and labels and len(labels) != n_classes:
        raise ConfigError(f"labels has {len(labels)} names but {cls_name} gives {n_classes} classes {_fmt(out_dims)}")
    if output is None:
        output = cls_info.get("output") or ("probabilities" if _is_softmax_output(cls, cls_outputs[0]) else "logits")
    if output not in OUTPUT_KINDS:
        raise ConfigError(f"output must be one of {list(OUTPUT_KINDS)}, got {output!r}")
    if output_layout is None:
        if len(out_dims) != 2:
            raise ConfigError(f"{cls_name} output has rank {len(out_dims)} {_fmt(out_dims)}: pass output_layout=...")
        output_layout = "batch,classes"

    meta = dict(fe_meta)
    meta.update({
        "audiofront.version": __version__, "audiofront.kind": "pipeline", "audiofront.output_layout": output_layout,
        "audiofront.feature_layout": layout, "audiofront.feature_tensor": fe_out.name,
        "audiofront.labels": labels, "audiofront.clip_samples": clip_samples,
        "audiofront.output": output,
    })
    write_metadata(merged, meta, replace=True)
    return check_and_save(merged, out, what=f"composed graph of {fe_name} and {cls_name}")
