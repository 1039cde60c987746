"""The artifact metadata contract: ``audiofront.*`` keys in an ONNX model's ``metadata_props``.

All values are strings. Keys (all prefixed ``audiofront.``):

- ``version``, ``kind`` (``"frontend"`` | ``"pipeline"`` | ``"classifier"``)
- ``sample_rate``, ``n_fft``, ``hop_length`` (ints), ``center`` (``"true"``/``"false"``)
- ``n_mels`` (absent without a mel stage), ``n_bins`` (feature bins the front-end gives)
- ``input_layout``: the input's axes, e.g. ``"batch,time"``, ``"batch,channels,time"``,
  ``"batch,bins,frames"`` (a feature-in module) or ``"batch,bins,frames,complex"``
  (``[real, imag]`` pairs); ``output_layout`` likewise (``"batch,time"`` for audio out)
- ``frames``: the length of the output's dynamic axis (frames, or samples for audio out) as a
  formula of ``time``, the length of the input's dynamic axis (samples, or frames for a
  feature-in module), e.g. ``"1 + (time + 2*256 - 512) // 256"``. Export composes it from the
  chain's modules (:func:`chain_frames_formula`) and checks it against torch.
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
    "chain_frames_formula",
    "infer_layout",
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
    if callable(own):
        return own(length)
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

