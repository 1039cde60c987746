"""The artifact metadata contract: ``audiofront.*`` keys in an ONNX model's ``metadata_props``.

All values are strings. Keys (all prefixed ``audiofront.``):

- ``version``, ``kind`` (``"frontend"`` | ``"pipeline"`` | ``"classifier"``)
- ``sample_rate``, ``n_fft``, ``hop_length`` (ints), ``center`` (``"true"``/``"false"``)
- ``n_mels`` (absent without a mel stage), ``n_bins`` (feature bins the front-end gives)
- ``input_layout`` (``"batch,time"`` | ``"batch,channels,time"``), ``output_layout``
- ``frames``: the frame-count formula, e.g. ``"1 + (time + 2*256 - 512) // 256"``
- pipelines/classifiers: ``labels`` (JSON list), ``clip_samples`` (int), ``output``
  (``"probabilities"`` | ``"logits"``)

A TensorRT engine ``X.engine`` carries the same dict in ``X.engine.json`` plus
``audiofront.onnx_sha256``.

Example::

    >>> meta = read_metadata(frontend_onnx)
    >>> meta["audiofront.sample_rate"], meta["audiofront.frames"]
    ('16000', '1 + (time + 2*256 - 512) // 256')
    >>> decode_metadata(meta)["center"], eval_frames(meta["audiofront.frames"], 16000)
    (True, 63)
"""

from __future__ import annotations

import ast
import json
from typing import Mapping

import onnx

from audiofront.errors import ModelFileError

__all__ = [
    "PREFIX",
    "KINDS",
    "INT_KEYS",
    "read_metadata",
    "write_metadata",
    "decode_metadata",
    "frames_formula",
    "eval_frames",
]

PREFIX = "audiofront."
KINDS = ("frontend", "pipeline", "classifier")
INT_KEYS = ("sample_rate", "n_fft", "hop_length", "n_mels", "n_bins", "clip_samples")


def read_metadata(source) -> dict[str, str]:
    """The ``audiofront.*`` entries of a model's ``metadata_props``, keys as stored.

    ``source`` is a path to an ONNX file or a ``ModelProto``. Other entries are ignored; a model
    without any gives ``{}``. Raises :class:`ModelFileError` for a missing or unreadable file.
    """
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        # Imported here: artifacts imports nothing from this module, but keep the graph acyclic.
        from audiofront.export.artifacts import load_onnx

        model = load_onnx(source, check=False)
    return {p.key: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}


def write_metadata(model: onnx.ModelProto, values: Mapping[str, object], *, replace: bool = False) -> onnx.ModelProto:
    """Set ``audiofront.*`` entries on ``model`` in place (and return it).

    Keys may be given with or without the prefix; ``None`` values remove the key; other values
    become strings (bools as ``"true"``/``"false"``, lists/dicts as JSON). ``replace=True``
    drops every existing ``audiofront.*`` entry first.
    """
    current = {p.key: p.value for p in model.metadata_props}
    if replace:
        current = {k: v for k, v in current.items() if not k.startswith(PREFIX)}
    for key, value in values.items():
        full = key if key.startswith(PREFIX) else PREFIX + key
        if value is None:
            current.pop(full, None)
        else:
            current[full] = _to_string(value)
    del model.metadata_props[:]
    for key, value in current.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
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
    for key, value in meta.items():
        if not key.startswith(PREFIX):
            continue
        short = key[len(PREFIX):]
        try:
            if short in INT_KEYS:
                out[short] = int(value)
            elif short == "center":
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
            raise ModelFileError(f"metadata {key}={value!r} does not parse: {exc}") from None
    return out


def frames_formula(n_fft: int, hop_length: int, center: bool, pad: int = 0) -> str:
    """The frame-count formula as text, in terms of ``time`` (input samples)."""
    total_pad = pad + (n_fft // 2 if center else 0)
    padded = f"time + 2*{total_pad}" if total_pad else "time"
    return f"1 + ({padded} - {n_fft}) // {hop_length}"


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

