"""Export an audio front-end to a clean ONNX graph with ``audiofront.*`` metadata.

``export_onnx(module, path)`` runs ``torch.onnx.export`` (the dynamo exporter) in eval mode
with dynamic batch and time axes, folds constants, runs ``onnx.checker`` (full check), asserts
the opset it wrote and stores the metadata contract (see :mod:`audiofront.export.metadata`).
The file appears atomically: on any error nothing is left at ``path``.

Shapes: input ``(batch, time)`` or ``(batch, channels, time)`` float32 audio named ``audio``;
output ``(batch, [channels,] bins, frames)`` named ``features``.

Example::

    >>> from audiofront.frontend import MelSpectrogram
    >>> mel = MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=64, algorithm="direct")
    >>> path = export_onnx(mel, tmp_path / "mel.onnx")
    >>> read_metadata(path)["audiofront.n_mels"], read_metadata(path)["audiofront.output_layout"]
    ('64', 'batch,bins,frames')
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from audiofront import __version__
from audiofront.errors import ConfigError, ExportError, InputError
from audiofront.export.artifacts import check_and_save
from audiofront.export.metadata import frames_formula, read_metadata, write_metadata
from audiofront.frontend.filterbanks import MelScale, MelSpectrogram
from audiofront.frontend.stft import Spectrogram

__all__ = ["export_onnx", "frontend_metadata", "read_metadata", "DEFAULT_OPSET"]

DEFAULT_OPSET = 18


def _find(module: nn.Module, kind) -> nn.Module | None:
    for sub in module.modules():
        if isinstance(sub, kind):
            return sub
    return None


def _module_sample_rate(module: nn.Module) -> int | None:
    for sub in module.modules():
        rate = getattr(sub, "sample_rate", None)
        if isinstance(rate, int) and not isinstance(rate, bool):
            return rate
    return None


def _resolve_sample_rate(module: nn.Module, sample_rate) -> int:
    own = _module_sample_rate(module)
    if sample_rate is None:
        if own is None:
            raise ConfigError(
                f"sample_rate is needed: {type(module).__name__} does not record one (pass sample_rate=...)"
            )
        return own
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if own is not None and own != sample_rate:
        raise ConfigError(f"sample_rate={sample_rate} disagrees with the module's own sample_rate={own}")
    return sample_rate


def frontend_metadata(module: nn.Module, *, sample_rate: int, input_rank: int, output_shape) -> dict[str, object]:
    """The contract's key/values for an audio front-end (without the ``audiofront.`` prefix).

    A module with an ``export_metadata(input_rank=, output_shape=)`` method (a
    :class:`~audiofront.frontend.FrontEnd`) adds or overrides keys, and needs no Spectrogram.
    """
    own = getattr(module, "export_metadata", None)
    own = (own(input_rank=input_rank, output_shape=tuple(output_shape)) or None) if callable(own) else None
    spec = _find(module, Spectrogram)
    if spec is None and own is not None:
        return {"version": __version__, "kind": "frontend", "sample_rate": sample_rate, **own}
    if spec is None:
        raise ConfigError(
            f"{type(module).__name__} holds no Spectrogram: export_onnx exports audio front-ends "
            "(audio in, features out)"
        )
    mel = _find(module, (MelSpectrogram, MelScale))
    complex_out = len(output_shape) == input_rank + 2
    leading = "batch,channels" if input_rank == 3 else "batch"
    bins_dim = input_rank - 1
    return {
        "version": __version__,
        "kind": "frontend",
        "sample_rate": sample_rate,
        "n_fft": spec.n_fft,
        "hop_length": spec.hop_length,
        "center": spec.center,
        "n_mels": None if mel is None else mel.n_mels,
        "n_bins": int(output_shape[bins_dim]),
        "input_layout": f"{leading},time",
        "output_layout": f"{leading},bins,frames" + (",complex" if complex_out else ""),
        "frames": frames_formula(spec.n_fft, spec.hop_length, spec.center, spec.pad),
        **(own or {}),
    }


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs tracebacks for recoverable steps (e.g. a failed opset down-conversion)."""
    names = ("torch.onnx", "onnxscript", "torch.export", "torch._export")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _sample(sample_input, sample_rate: int) -> torch.Tensor:
    if sample_input is None:
        return torch.randn(2, sample_rate, generator=torch.Generator().manual_seed(0)) * 0.1
    if not isinstance(sample_input, torch.Tensor) or not sample_input.is_floating_point():
        raise InputError(
            f"sample_input must be a float tensor (batch, time) or (batch, channels, time), "
            f"got {getattr(sample_input, 'dtype', type(sample_input).__name__)}"
        )
    if sample_input.ndim not in (2, 3):
        raise InputError(
            "sample_input must have rank 2 (batch, time) or 3 (batch, channels, time), "
            f"got shape {tuple(sample_input.shape)}"
        )
    return sample_input.detach().to(torch.float32)


def _opset_blockers(model: onnx.ModelProto, opset: int, written: int) -> list[str]:
    """Op types whose definition in the written opset is newer than the one asked for."""
    blockers = set()
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = onnx.defs.get_schema(node.op_type, written)
        except Exception:
            continue
        if schema.since_version > opset:
            blockers.add(f"{node.op_type} (opset {schema.since_version})")
    return sorted(blockers)


def _rename_frames_dim(model: onnx.ModelProto, frames_axis: int) -> None:
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if len(dims) > frames_axis and dims[frames_axis].HasField("dim_param"):
            dims[frames_axis].dim_param = "frames"


def export_onnx(
    module: nn.Module,
    path: str | os.PathLike,
    *,
    sample_input: torch.Tensor | None = None,
    sample_rate: int | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    dynamic_time: bool = True,
    input_name: str = "audio",
    output_name: str = "features",
) -> Path:
    """Export ``module`` (audio in, features out) to ``path``; return the path.

    ``sample_input`` fixes the input rank: ``(batch, time)`` or ``(batch, channels, time)``
    (default: two items of one second of noise at the sample rate). Batch and time stay
    dynamic unless ``dynamic_batch`` / ``dynamic_time`` is False. ``sample_rate`` is needed only
    when the module does not record one, and must agree with it otherwise.

    Raises :class:`ConfigError` for bad arguments, :class:`ExportError` (naming ``path`` and
    the reason) when export fails or cannot reach ``opset``.
    """
    path = Path(path)
    if isinstance(opset, bool) or not isinstance(opset, int) or not 7 <= opset <= onnx.defs.onnx_opset_version():
        raise ConfigError(f"opset must be an integer in [7, {onnx.defs.onnx_opset_version()}], got {opset!r}")
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    if input_name == output_name:
        raise ConfigError(f"input_name and output_name must differ, both are {input_name!r}")
    # A buffer or parameter named like a graph input/output breaks the exported graph (SSA clash).
    taken = set(module.state_dict().keys())
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if value in taken:
            raise ConfigError(f"{name}={value!r} equals the name of one of the module's buffers/parameters; pick another")
    rate = _resolve_sample_rate(module, sample_rate)
    spec = _find(module, Spectrogram)
    # A FrontEnd states its own shortest input (1 where it pads to a fixed length; Kaldi frames...).
    min_length = getattr(module, "min_length", None) if callable(getattr(module, "export_metadata", None)) else None
    if spec is None and min_length is None:
        raise ConfigError(
            f"{type(module).__name__} holds no Spectrogram: export_onnx exports audio front-ends (audio in, features out)"
        )
    min_length = spec.min_length if min_length is None else min_length
    x = _sample(sample_input, rate)
    if x.shape[-1] < min_length:
        raise InputError(f"sample_input has {x.shape[-1]} samples; this front-end needs at least {min_length}")

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            reference = module(x)
        if not isinstance(reference, torch.Tensor):
            raise ExportError(
                f"cannot export to {str(path)!r}: the module returns {type(reference).__name__}, not one tensor"
            )
        meta = frontend_metadata(module, sample_rate=rate, input_rank=x.ndim, output_shape=tuple(reference.shape))
        axes: dict[int, object] = {}
        if dynamic_batch:
            axes[0] = torch.export.Dim("batch", min=1)
        if dynamic_time:
            axes[x.ndim - 1] = torch.export.Dim("time", min=max(min_length, 2))
        try:
            with _quiet_exporter():
                program = torch.onnx.export(
                    module, (x,), dynamo=True, input_names=[input_name], output_names=[output_name],
                    dynamic_shapes=(axes,), opset_version=opset, optimize=True, verbose=False,
                )
            model = program.model_proto
        except Exception as exc:
            raise ExportError(
                f"cannot export {type(module).__name__} to {str(path)!r}: {type(exc).__name__}: {exc}"
            ) from exc
    finally:
        module.train(was_training)

    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        blockers = _opset_blockers(model, opset, written or 0)
        why = f"; op(s) defined only from a later opset: {', '.join(blockers)}" if blockers else ""
        raise ExportError(
            f"cannot export to {str(path)!r} at opset {opset}: the exporter could only produce opset {written}{why}. "
            f"Use opset={written} or newer"
        )
    if [i.name for i in model.graph.input] != [input_name] or [o.name for o in model.graph.output] != [output_name]:
        raise ExportError(
            f"cannot export to {str(path)!r}: graph has inputs {[i.name for i in model.graph.input]} and outputs "
            f"{[o.name for o in model.graph.output]}, expected [{input_name!r}] and [{output_name!r}]"
        )
    if dynamic_time:
        # Output (batch, [channels,] bins, frames[, 2]): frames sits at the input's time axis + 1.
        _rename_frames_dim(model, x.ndim)
    model.producer_name, model.producer_version = "audiofront", __version__
    model.doc_string = f"audiofront front-end {getattr(module, 'name', type(module).__name__)}"
    write_metadata(model, meta, replace=True)
    return check_and_save(model, path, what=f"the graph exported for {str(path)!r}")
