"""The artifact metadata contract: ``audiofront.*`` keys in an ONNX model's ``metadata_props``.

Every key, kind, layout and the frames law are defined here, once; every writer
(:func:`~audiofront.export.export_onnx`, :func:`~audiofront.export.prepend`,
:func:`~audiofront.export.export_classifier`, :func:`~audiofront.export.to_fp16`, the engine
sidecar) and every reader (the runtime's Pipeline, the Triton repository writer, ``prepend``)
goes through it. All values are stored as strings; :data:`KEYS` gives each key's type and meaning.

Kinds (:data:`KINDS`) and the keys each needs (:data:`REQUIRED`):

- ``frontend``: audio ``(batch, [channels,] time)`` in, features ``(batch, [channels,] bins, frames)`` out;
- ``classifier``: features in the layout ``feature_layout`` in, ``(batch, classes)`` out;
- ``pipeline``: audio windows ``(batch, clip_samples)`` in, ``(batch, classes)`` out.

Layouts name a tensor's axes with ``batch``, ``channels``, ``bins``, ``frames`` and ``1`` (an
added axis of size one); :data:`FEATURE_LAYOUTS` lists the ones a classifier may take and
:func:`canonical_layout` reads other spellings (``"(batch, 1, n_mels, time)"``, ``"NCHW"``).
The frames law: ``frames`` is a formula in ``time`` (:func:`frames_formula`,
:func:`eval_frames`, and its inverse :func:`clip_for_frames`).

A TensorRT engine ``X.engine`` carries the same dict in ``X.engine.json`` plus the
:data:`ENGINE_KEYS`.

Example::

    >>> meta = read_metadata(frontend_onnx)
    >>> meta["audiofront.sample_rate"], meta["audiofront.frames"]
    ('16000', '1 + (time + 2*256 - 512) // 256')
    >>> decode_metadata(meta)["center"], eval_frames(meta["audiofront.frames"], 16000)
    (True, 63)
    >>> check_metadata(meta, kind="frontend", source="fe.onnx")["n_bins"]
    96
"""

from __future__ import annotations

import ast
import json
from typing import Mapping

from audiofront.errors import ConfigError, ExportError, ModelFileError

__all__ = [
    "PREFIX",
    "KINDS",
    "KEYS",
    "INT_KEYS",
    "REQUIRED",
    "ENGINE_KEYS",
    "OUTPUT_KINDS",
    "INPUT_LAYOUTS",
    "FEATURE_LAYOUTS",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "key",
    "read_metadata",
    "write_metadata",
    "decode_metadata",
    "check_metadata",
    "canonical_layout",
    "layout_shape",
    "layout_plan",
    "frames_formula",
    "chain_frames_formula",
    "infer_layout",
    "eval_frames",
    "clip_for_frames",
    "self_fitting_min_samples",
]

PREFIX = "audiofront."
KINDS = ("frontend", "classifier", "pipeline")
OUTPUT_KINDS = ("probabilities", "logits")
INPUT_LAYOUTS = ("batch,time", "batch,channels,time")
FEATURE_LAYOUTS = (
    "batch,bins,frames",
    "batch,1,bins,frames",
    "batch,bins,frames,1",
    "batch,frames,bins",
    "batch,1,frames,bins",
    "batch,frames,bins,1",
)
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000

#: Every key (without the prefix): (type, meaning). Types: int, bool, json (a list/object), str.
KEYS: dict[str, tuple[str, str]] = {
    "version": ("str", "audiofront version that wrote the file"),
    "kind": ("str", "frontend | classifier | pipeline"),
    "sample_rate": ("int", "Hz of the audio the model takes (or was trained on)"),
    "n_fft": ("int", "STFT size"),
    "hop_length": ("int", "STFT hop in samples"),
    "center": ("bool", "frames centred (padded by n_fft // 2 each side)"),
    "n_mels": ("int", "mel bands (absent without a mel stage)"),
    "n_bins": ("int", "feature bins the front-end gives (the classifier takes)"),
    "input_layout": ("str", "axes of the audio input: batch,time | batch,channels,time"),
    "output_layout": ("str", "axes of the output: batch,bins,frames[,complex] for a front-end, batch,classes else"),
    "feature_layout": ("str", "axes of the classifier's input, one of FEATURE_LAYOUTS"),
    "feature_tensor": ("str", "name of the features tensor inside a pipeline (where fp16 splits it)"),
    "frames": ("str", "frame count as a formula in time (input samples)"),
    "labels": ("json", "class names, a JSON list of strings"),
    "clip_samples": ("int", "audio samples per window the model takes"),
    "output": ("str", "probabilities | logits"),
    "precision": ("str", "fp16-classifier for an fp16 ONNX variant; fp32/fp16 in an engine sidecar"),
    # A reference preset (audiofront.frontend.preset) says what it equals and how it pads or trims.
    "preset": ("str", "name of the preset the front-end was built from"),
    "win_length": ("int", "STFT window length in samples"),
    "reference": ("str", "the extractor a preset's output equals"),
    "reference_version": ("str", "the version of that extractor it was measured against"),
    "input_scale": ("str", "factor the reference applies to [-1, 1] audio first (32768: int16 values)"),
    "fixed_samples": ("int", "samples the input is padded or trimmed to before framing"),
    "fixed_frames": ("int", "frames the output is padded or trimmed to"),
    "frame_stride": ("int", "frames stacked per output frame (SeamlessM4T)"),
    # A streaming graph (export_streaming_onnx): how to drive it chunk by chunk.
    "streaming": ("bool", "true for a graph export_streaming_onnx wrote (chunk and state in)"),
    **{f"stream_{name}": ("str", f"streaming graph: {text}") for name, text in (
        ("chunk_samples", "samples per chunk (fixed)"), ("hop", "hop between frames in samples"),
        ("frames_per_chunk", "frames each chunk gives"), ("state", "layout and meaning of the state tensor"),
        ("state_size", "entries of the state per stream"), ("steps", "the frame-wise steps the state carries"),
        ("inputs", "input tensor names"), ("outputs", "output tensor names"),
        ("prefix_samples", "samples to push before the audio"), ("first_frame", "pre-roll frames to drop"),
        ("latency_samples", "samples between a frame's start and its output"),
        ("center_start", "how a centred STFT starts: reflect or zeros"),
    )},
}
INT_KEYS = tuple(k for k, (t, _) in KEYS.items() if t == "int")

#: Keys a TensorRT engine's sidecar adds to the ONNX's metadata (all strings).
ENGINE_KEYS = ("onnx_sha256", "engine_key", "tensorrt_version", "gpu", "shapes", "engine_built_by", "fp32_layers")

#: The keys each kind must carry.
REQUIRED: dict[str, tuple[str, ...]] = {
    "frontend": ("kind", "sample_rate", "n_fft", "hop_length", "center", "n_bins", "input_layout", "output_layout",
                 "frames"),
    # export_classifier also writes n_bins and feature_layout; a classifier stamped elsewhere may lack them.
    "classifier": ("kind", "sample_rate", "labels", "clip_samples", "output"),
    "pipeline": ("kind", "sample_rate", "clip_samples", "labels", "output"),
}


def key(short: str) -> str:
    """``"kind"`` -> ``"audiofront.kind"``; :class:`ConfigError` for a key the contract does not define."""
    short = short[len(PREFIX):] if short.startswith(PREFIX) else short
    if short not in KEYS and short not in ENGINE_KEYS:
        raise ConfigError(f"{PREFIX}{short} is not a key of the metadata contract (keys: {', '.join(KEYS)})")
    return PREFIX + short


def read_metadata(source) -> dict[str, str]:
    """The ``audiofront.*`` entries of a model's ``metadata_props``, keys as stored.

    ``source`` is a path to an ONNX file or a ``ModelProto``. Other entries are ignored; a model
    without any gives ``{}``. Raises :class:`ModelFileError` for a missing or unreadable file.
    A file is read without the onnx package (see :func:`_scan_metadata`): importing onnx costs
    more than the rest of ``audiofront classify``'s start-up.
    """
    if hasattr(source, "metadata_props"):
        return {p.key: p.value for p in source.metadata_props if p.key.startswith(PREFIX)}
    from pathlib import Path

    path = Path(source)
    name = f"model file {str(path)!r}"
    if not path.is_file():
        raise ModelFileError(f"{name} does not exist or is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{name} cannot be read: {exc}") from None
    if not data:
        raise ModelFileError(f"{name} is empty")
    try:
        props = _scan_metadata(data)
    except ValueError as exc:
        raise ModelFileError(f"{name} is not an ONNX model or is truncated ({exc})") from None
    return {k: v for k, v in props.items() if k.startswith(PREFIX)}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("a varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes):
    """``(field number, wire type, value)`` of a protobuf message, one level deep (LEN values as bytes)."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("a field runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            pos, value = pos + (8 if wire == 1 else 4), None
        else:
            raise ValueError(f"wire type {wire} is not protobuf's")
        if pos > len(data) or number == 0:
            raise ValueError("a field runs past the end")
        yield number, wire, value


def _scan_metadata(data: bytes) -> dict[str, str]:
    """``ModelProto.metadata_props`` (field 14: ``StringStringEntryProto`` key = 1, value = 2) of serialized bytes.

    Only the top level is walked and the graph (field 7) is skipped by its length, so this reads
    a model's metadata without parsing its weights or importing onnx. A model must have a graph.
    """
    props, has_graph = {}, False
    for number, wire, value in _fields(data):
        if number == 7 and wire == 2:
            has_graph = True
        elif number == 14 and wire == 2:
            entry = {n: v for n, w, v in _fields(value) if w == 2}
            props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
    if not has_graph:
        raise ValueError("no graph")
    return props


def write_metadata(model, values: Mapping[str, object], *, replace: bool = False):
    """Set ``audiofront.*`` entries on ``model`` (a ``ModelProto``) in place, and return it.

    Keys may be given with or without the prefix and must be contract keys (:class:`ConfigError`
    otherwise); ``None`` values remove the key; other values become strings (bools as
    ``"true"``/``"false"``, lists/dicts as JSON) and must decode back (:func:`decode_metadata`).
    ``replace=True`` drops every existing ``audiofront.*`` entry first.
    """
    current = {p.key: p.value for p in model.metadata_props}
    if replace:
        current = {k: v for k, v in current.items() if not k.startswith(PREFIX)}
    for name, value in values.items():
        full = key(name)
        if value is None:
            current.pop(full, None)
        else:
            current[full] = _to_string(value)
    try:
        decode_metadata(current)
    except ModelFileError as exc:
        raise ConfigError(f"cannot write metadata: {exc}") from None
    del model.metadata_props[:]
    for name, value in current.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = name, value
    return model


def _to_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)


def decode_metadata(meta: Mapping[str, str]) -> dict[str, object]:
    """Typed values without the prefix: ints for :data:`INT_KEYS`, bool ``center``, list ``labels``.

    Raises :class:`ModelFileError` when a value does not parse (the file was edited or is foreign).
    """
    out: dict[str, object] = {}
    for full, value in meta.items():
        if not full.startswith(PREFIX):
            continue
        short = full[len(PREFIX):]
        kind = KEYS.get(short, ("str", ""))[0]
        try:
            if kind == "int":
                out[short] = int(value)
            elif kind == "bool":
                if value not in ("true", "false"):
                    raise ValueError("expected 'true' or 'false'")
                out[short] = value == "true"
            elif short == "labels":
                labels = json.loads(value)
                if not isinstance(labels, list):
                    raise ValueError("expected a JSON list")
                out[short] = labels
            else:
                out[short] = value
        except ValueError as exc:
            raise ModelFileError(f"metadata {full}={value!r} does not parse: {exc}") from None
    return out


def check_metadata(meta: Mapping[str, str], *, kind: str | None = None, source: str = "model") -> dict[str, object]:
    """Decode ``meta`` and check it against the contract; returns the typed values.

    ``kind``: the kind the caller needs (``None``: whatever the file says it is). Checks the
    required keys of the kind, ``sample_rate`` in [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`],
    positive ``clip_samples``/``n_bins``/``n_fft``/``hop_length``, non-empty distinct string
    ``labels``, ``output`` in :data:`OUTPUT_KINDS`, the layouts, and that ``frames`` parses.
    Raises :class:`ModelFileError` naming ``source``, the key and the allowed values.
    """
    found = sorted(k for k in meta if k.startswith(PREFIX))
    if PREFIX + "kind" not in meta:
        raise ModelFileError(f"{source} carries no audiofront metadata kind (found {found or 'no audiofront keys'})")
    try:
        values = decode_metadata(meta)
    except ModelFileError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    have = values["kind"]
    if have not in KINDS:
        raise ModelFileError(f"{source}: audiofront.kind={have!r} must be one of {list(KINDS)}")
    if kind is not None and have != kind:
        raise ModelFileError(f"{source} has audiofront.kind={have!r}; {kind!r} is needed here")
    missing = [PREFIX + k for k in REQUIRED[have] if k not in values]
    if missing:
        raise ModelFileError(f"{source} (kind {have}) lacks metadata {missing} (found {found})")
    if "sample_rate" in values and not MIN_SAMPLE_RATE <= values["sample_rate"] <= MAX_SAMPLE_RATE:
        raise ModelFileError(
            f"{source}: audiofront.sample_rate={values['sample_rate']} is outside [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}]"
        )
    for name in ("clip_samples", "n_bins", "n_fft", "hop_length", "n_mels"):
        if name in values and values[name] < 1:
            raise ModelFileError(f"{source}: audiofront.{name}={values[name]} must be a positive integer")
    if "labels" in values:
        labels = values["labels"]
        if not labels or not all(isinstance(x, str) for x in labels):
            raise ModelFileError(f"{source}: audiofront.labels must be a non-empty JSON list of strings")
        if len(set(labels)) != len(labels):
            raise ModelFileError(f"{source}: audiofront.labels holds duplicates")
    if "output" in values and values["output"] not in OUTPUT_KINDS:
        raise ModelFileError(f"{source}: audiofront.output={values['output']!r} must be one of {list(OUTPUT_KINDS)}")
    if "input_layout" in values and values["input_layout"] not in INPUT_LAYOUTS:
        raise ModelFileError(
            f"{source}: audiofront.input_layout={values['input_layout']!r} must be one of {list(INPUT_LAYOUTS)}"
        )
    if "feature_layout" in values and canonical_layout(values["feature_layout"]) not in FEATURE_LAYOUTS:
        raise ModelFileError(
            f"{source}: audiofront.feature_layout={values['feature_layout']!r} must be one of {list(FEATURE_LAYOUTS)}"
        )
    if "frames" in values:
        eval_frames(values["frames"], 1 << 16)
    return values


# ----- layouts ------------------------------------------------------------------------------------
# Other spellings users write for the same axes, and the image-style shorthands.
_AXIS_ALIASES = {"n_mels": "bins", "mels": "bins", "mel": "bins", "n_bins": "bins", "freq": "bins", "frequency": "bins",
                 "n_freq": "bins", "f": "bins", "time": "frames", "n_frames": "frames", "t": "frames", "n": "batch",
                 "b": "batch", "c": "channels", "channel": "channels"}
_SHORTHANDS = {"nchw": "batch,1,bins,frames", "nhwc": "batch,bins,frames,1", "ncw": "batch,bins,frames"}


def canonical_layout(layout: str) -> str:
    """``"(batch, 1, n_mels, frames)"`` -> ``"batch,1,bins,frames"``; ``"NCHW"`` (H = bins, W = frames) too."""
    if not isinstance(layout, str) or not layout.strip():
        raise ConfigError(f"layout must be 'auto', one of {FEATURE_LAYOUTS} or a similar axis list, got {layout!r}")
    text = layout.strip().lower()
    if text in ("auto", *_SHORTHANDS):
        return _SHORTHANDS.get(text, text)
    tokens = [t.strip() for t in text.strip("()[] ").split(",")]
    return ",".join(_AXIS_ALIASES.get(t, t) for t in tokens)


def layout_shape(source_tokens: list[str], source_dims: list, layout: str) -> list:
    """The dims the front-end output takes after rearranging to ``layout`` (``1`` for added axes)."""
    target = [t.strip() for t in layout.split(",")]
    kept = [t for t in target if t != "1"]
    if sorted(kept) != sorted(source_tokens):
        raise ConfigError(
            f"layout {layout!r} must name each of the front-end's axes {','.join(source_tokens)} once, "
            "plus '1' for added axes"
        )
    by_name = dict(zip(source_tokens, source_dims))
    return [1 if t == "1" else by_name[t] for t in target]


def layout_plan(source_tokens: list[str], layout: str) -> tuple[list[int], list[int]]:
    """How to rearrange features from ``source_tokens`` to ``layout``: ``(perm, unsqueeze_axes)``.

    Transpose by ``perm`` first, then insert size-one axes at ``unsqueeze_axes`` (ONNX
    ``Unsqueeze`` or torch ``unsqueeze`` in that order).
    """
    layout_shape(source_tokens, list(range(len(source_tokens))), layout)  # checks the names
    target = [t.strip() for t in layout.split(",")]
    perm = [source_tokens.index(t) for t in target if t != "1"]
    return perm, [i for i, t in enumerate(target) if t == "1"]


# ----- the frames law -----------------------------------------------------------------------------
def frames_formula(n_fft: int, hop_length: int, center: bool, pad: int = 0) -> str:
    """The STFT's frame-count formula as text, in terms of ``time`` (input samples)."""
    total_pad = pad + (n_fft // 2 if center else 0)
    padded = f"time + 2*{total_pad}" if total_pad else "time"
    return f"1 + ({padded} - {n_fft}) // {hop_length}"


def chain_frames_formula(module, length: str = "time") -> str:
    """The output length of ``module`` as a formula of ``length``, composed through the chain.

    A module that changes the length says how with a ``frames_formula(length: str) -> str``
    method (``Spectrogram``, ``InverseSpectrogram``, frame stacking...); a module without one is
    taken to keep it, or to be a container whose children run in order (``nn.Sequential``,
    ``MelSpectrogram``, ``MFCC``). Export checks the result against torch's output shapes.

    Example::

        >>> from audiofront.frontend import MelSpectrogram
        >>> chain_frames_formula(MelSpectrogram(n_fft=512, hop_length=256))
        '1 + (time + 2*256 - 512) // 256'
    """
    own = getattr(module, "frames_formula", None)
    formula = own(length) if callable(own) else None
    if formula is not None:  # None: the module composes its children like a container
        return formula
    for child in module.children():
        length = chain_frames_formula(child, length)
    return length


def infer_layout(probes, *, leading: int) -> list[str]:
    """Names for the axes of a module's output from its shapes under varied inputs.

    ``probes`` maps ``"base"``, ``"batch"``, ``"channels"`` and ``"length"`` to the output shape
    when that one input axis (none for ``"base"``) was changed. An axis that follows the batch is
    ``"batch"``, the channels ``"channels"``, the length ``"frames"`` (``"time"`` when it is the
    only axis after batch and channels: audio out). Fixed axes: ``"1"`` for size 1, ``"complex"``
    for size 2 after the length axis, the first other one ``"bins"``, further ones ``"d<i>"``.
    ``leading`` is how many axes the input has before its core axes (batch, channels).
    Raises :class:`ValueError` when an axis follows two input axes or the rank changes.

    Example::

        >>> infer_layout({"base": (2, 64, 10), "batch": (3, 64, 10), "length": (2, 64, 17)}, leading=1)
        ['batch', 'bins', 'frames']
    """
    base = tuple(probes["base"])
    follows: list[set[str]] = [set() for _ in base]
    for name, shape in probes.items():
        if name == "base":
            continue
        if len(shape) != len(base):
            raise ValueError(f"the output's rank changes with the input's {name} ({base} vs {tuple(shape)})")
        for i, (a, b) in enumerate(zip(base, shape)):
            if a != b:
                follows[i].add(name)
    names: list[str] = []
    dynamic = [i for i, f in enumerate(follows) if f]
    leading_out = sum(1 for f in follows if f & {"batch", "channels"})
    length_axes = [i for i, f in enumerate(follows) if f == {"length"}]
    for i, f in enumerate(follows):
        if len(f) > 1:
            raise ValueError(f"output axis {i} changes with the input's {' and '.join(sorted(f))}")
        if f:
            kind = next(iter(f))
            names.append("frames" if kind == "length" else kind)
        elif base[i] == 1:
            names.append("1")
        elif base[i] == 2 and length_axes and i > length_axes[-1] and i == len(base) - 1:
            names.append("complex")
        elif "bins" not in names:
            names.append("bins")
        else:
            names.append(f"d{i}")
    if len(length_axes) == 1 and len(base) == leading_out + 1 and dynamic:
        names[length_axes[0]] = "time"
    return names


_ALLOWED = (ast.Expression, ast.BinOp, ast.Constant, ast.Name, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv,
            ast.UnaryOp, ast.USub, ast.Load)


def eval_frames(formula: str, time: int) -> int:
    """Evaluate a ``frames`` formula for ``time`` samples (integers, ``+ - * //`` and parentheses only)."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError:
        raise ModelFileError(f"frames formula {formula!r} is not an arithmetic expression") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED) or (isinstance(node, ast.Name) and node.id != "time") or (
            isinstance(node, ast.Constant) and not isinstance(node.value, int)
        ):
            raise ModelFileError(f"frames formula {formula!r} may use only integers, 'time', + - * // and ()")
    return int(eval(compile(tree, "<frames>", "eval"), {"__builtins__": {}}, {"time": int(time)}))


def clip_for_frames(formula: str, frames: int) -> int:
    """Fewest samples that give exactly ``frames`` frames (the inverse of :func:`eval_frames`)."""
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ConfigError(f"frames must be a positive integer, got {frames!r}")
    lo, hi = 1, 1
    while eval_frames(formula, hi) < frames:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if eval_frames(formula, mid) >= frames:
            hi = mid
        else:
            lo = mid + 1
    if eval_frames(formula, lo) != frames:
        raise ExportError(f"no audio length gives exactly {frames} frames with frames = {formula}")
    return lo


def self_fitting_min_samples(meta: Mapping[str, str]) -> int | None:
    """For a graph that pads or trims to its model's fixed length itself (``fixed_frames`` or
    ``fixed_samples`` in its ``audiofront.*`` metadata, not a streaming graph): the fewest samples
    it takes, i.e. one frame's worth where it pads frames, 1 where it pads samples before framing.
    ``None`` for any other graph. The Pipeline and TensorRT's default profile both go by it."""
    if PREFIX + "fixed_frames" not in meta and PREFIX + "fixed_samples" not in meta:
        return None
    if meta.get(PREFIX + "streaming") == "true":
        return None
    formula = meta.get(PREFIX + "frames")
    if PREFIX + "fixed_samples" in meta or formula is None:
        return 1
    return clip_for_frames(formula, 1)
