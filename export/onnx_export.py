"""Export a front-end module to a clean ONNX graph with ``audiofront.*`` metadata.

``export_onnx(module, path)`` runs ``torch.onnx.export`` (the dynamo exporter) in eval mode
with dynamic batch, channels and length axes, folds constants, runs ``onnx.checker`` (full
check), asserts the opset it wrote, then checks its own work: it runs the graph on onnxruntime
at shapes other than the one it traced (batch 1 and odd batches, the minimum length and one
more, several seconds) against the torch module, and checks the output shapes, the numbers,
the declared output dims and the metadata (:mod:`audiofront.export.metadata`: layouts, the
frames law and ``n_bins``, all derived from the chain). Only then is the file written,
atomically: on any error nothing is left at ``path``.

What a module takes comes from its input spec (:func:`audiofront.frontend.inputs.input_spec`):
audio ``(batch, [channels,] time)``, features ``(batch, [channels,] bins, frames)``, complex
spectrograms ``(batch, [channels,] bins, frames, 2)``. Export traces an example of its own
(batch 3, 2 channels, a length well above the minimum) so no size of the user's sample is
baked into the graph; ``sample_input`` fixes the rank, the sizes of free feature axes and, with
``dynamic_batch=False`` / ``dynamic_time=False``, the batch / length.

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
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from audiofront import __version__
from audiofront.errors import ConfigError, ExportError, InputError
from audiofront.export.artifacts import check_and_save
from audiofront.export.metadata import chain_frames_formula, eval_frames, infer_layout, read_metadata, write_metadata
from audiofront.export.parity import RTOL, compare_outputs, output_period
from audiofront.export.session import make_session
from audiofront.frontend.filterbanks import MelScale, MelSpectrogram
from audiofront.frontend.inputs import InputSpec, input_spec
from audiofront.frontend.stft import InverseSpectrogram, Spectrogram

__all__ = ["export_onnx", "frontend_metadata", "read_metadata", "DEFAULT_OPSET"]

DEFAULT_OPSET = 18

# Sizes of the traced example: none of them 0 or 1 (torch.export specialises those) and all
# different, so no two axes are taken to be the same symbol.
_TRACE_BATCH, _TRACE_CHANNELS = 3, 2
_FREE_BINS = 16
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")



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


def _resolve_sample_rate(module: nn.Module, sample_rate, *, required: bool = True) -> int | None:
    own = _module_sample_rate(module)
    if sample_rate is None:
        if own is None and required:
            raise ConfigError(
                f"sample_rate is needed: {type(module).__name__} does not record one (pass sample_rate=...)"
            )
        return own
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if own is not None and own != sample_rate:
        raise ConfigError(f"sample_rate={sample_rate} disagrees with the module's own sample_rate={own}")
    return sample_rate


def _stft_facts(module: nn.Module) -> dict[str, object]:
    stft = _find(module, (Spectrogram, InverseSpectrogram))
    mel = _find(module, (MelSpectrogram, MelScale))
    facts: dict[str, object] = {"n_fft": None, "hop_length": None, "center": None}
    if stft is not None:
        facts = {"n_fft": stft.n_fft, "hop_length": stft.hop_length, "center": stft.center}
    facts["n_mels"] = None if mel is None else mel.n_mels
    return facts


def frontend_metadata(module: nn.Module, *, sample_rate: int | None, input_rank: int, output_shape,
                      input_layout: str | None = None, output_layout: str | None = None) -> dict[str, object]:
    """The contract's key/values for a front-end (without the ``audiofront.`` prefix).

    ``input_layout`` / ``output_layout`` default to those of an audio front-end of ``input_rank``
    (``export_onnx`` passes the ones it derived from the module and checked); ``n_bins`` is the
    size of the output's ``bins`` axis, ``frames`` the law :func:`chain_frames_formula` composes.
    """
    if input_layout is None:
        input_layout = "batch,channels,time" if input_rank == 3 else "batch,time"
    leading = input_layout.split(",")[:-1] if input_layout.endswith(",time") else ["batch"]
    if output_layout is None:
        complex_out = len(output_shape) == input_rank + 2
        output_layout = ",".join(leading + ["bins", "frames"] + (["complex"] if complex_out else []))
    axes = output_layout.split(",")
    n_bins = int(output_shape[axes.index("bins")]) if "bins" in axes and len(axes) == len(output_shape) else None
    return {
        "version": __version__,
        "kind": "frontend",
        "sample_rate": sample_rate,
        **_stft_facts(module),
        "n_bins": n_bins,
        "input_layout": input_layout,
        "output_layout": output_layout,
        "frames": chain_frames_formula(module),
        # A module that describes itself (a reference preset's FrontEnd: its reference, fixed lengths...).
        **_own_metadata(module, input_rank=input_rank, output_shape=output_shape),
    }


def _own_metadata(module: nn.Module, *, input_rank: int, output_shape) -> dict[str, object]:
    own = getattr(module, "export_metadata", None)
    return dict(own(input_rank=input_rank, output_shape=tuple(output_shape)) or {}) if callable(own) else {}


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs tracebacks for recoverable steps (e.g. a failed opset down-conversion)."""
    names = ("torch.onnx", "onnxscript", "torch.export", "torch._export", "torch._guards", "torch._dynamo",
             "torch.fx.experimental.symbolic_shapes")
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


def _exporter_message(exc: BaseException) -> str:
    """The exporter's reason in one plain paragraph: no colour codes, no "next steps" boilerplate."""
    text = _ANSI.sub("", f"{type(exc).__name__}: {exc}")
    if "## Exception summary" in text:
        text = text.split("## Exception summary", 1)[1]
        text = text.split("(Refer to the full stack trace", 1)[0]
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text[:1500]


class _Plan:
    """What to trace and which shapes to check: derived from the module's spec and the user's sample."""

    def __init__(self, module: nn.Module, sample: torch.Tensor | None, *, sample_rate: int | None,
                 dynamic_batch: bool, dynamic_time: bool):
        name = type(module).__name__
        rank = None if sample is None else sample.ndim
        found = input_spec(module, rank)
        if found is None:
            stft = _find(module, Spectrogram)
            if stft is None:
                raise ConfigError(
                    f"{name} holds no Spectrogram and declares no input_spec(): export_onnx cannot tell what it "
                    "takes. Give it an input_spec() method returning audiofront.frontend.inputs.InputSpec"
                )
            spec = stft.input_spec()
            if rank is not None and rank not in (2, 3):
                raise InputError(f"sample_input must have rank 2 (batch, time) or 3 (batch, channels, time), "
                                 f"got shape {tuple(sample.shape)}")
            found = (spec, rank == 3)
        self.spec, self.channels = found
        self.layout = self.spec.layout(self.channels)
        self.length_axis = len(self.layout) - 1 - self.layout[::-1].index(self.spec.length_axis)
        self.sizes = dict(self.spec.sizes)
        if sample is not None:
            shape = tuple(sample.shape)
            for axis, size in zip(self.layout, shape):
                if axis in self.sizes and size != self.sizes[axis]:
                    raise InputError(f"sample_input has shape {shape}: {name} takes {self.spec.describe()} "
                                     f"(its {axis} axis must have {self.sizes[axis]} entries, not {size})")
                if axis not in ("batch", "channels", self.spec.length_axis):
                    self.sizes.setdefault(axis, size)
            if shape[self.length_axis] < self.spec.min_length:
                raise InputError(f"sample_input has shape {shape}, {shape[self.length_axis]} along {self.spec.length_axis}; "
                                 f"{name} needs at least {self.spec.min_length}")
            if any(size < 1 for size in shape):
                raise InputError(f"sample_input has shape {shape}: every axis needs at least one entry")
        for axis in self.layout:
            if axis not in ("batch", "channels", self.spec.length_axis):
                self.sizes.setdefault(axis, _FREE_BINS)
        self.min_length = self.spec.min_length
        self.dynamic_batch, self.dynamic_time = dynamic_batch, dynamic_time
        self.batch = _TRACE_BATCH if dynamic_batch else (sample.shape[0] if sample is not None else 2)
        if dynamic_time:
            # Well above the minimum, and odd: no frame count of 0 or 1 in any stage of the chain.
            self.length = max(4 * self.min_length, self.min_length + 64) + 13
        elif sample is not None:
            self.length = int(sample.shape[self.length_axis])
        elif self.spec.length_axis == "time" and sample_rate:
            self.length = max(sample_rate, self.min_length)
        else:
            raise InputError(f"dynamic_time=False needs a sample_input: it fixes the length of {name}'s input")
        long = 3 * sample_rate if (self.spec.length_axis == "time" and sample_rate) else 50 * self.min_length + 300
        self.long = max(long, self.length + 1)

    def shape(self, batch: int, channels: int, length: int) -> tuple[int, ...]:
        sizes = {"batch": batch if self.dynamic_batch else self.batch, "channels": channels,
                 self.spec.length_axis: length if self.dynamic_time else self.length}
        return tuple(sizes.get(axis, self.sizes.get(axis)) for axis in self.layout)

    def example(self, shape, seed: int) -> torch.Tensor:
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        if self.spec.values == "audio":
            return x * 0.1
        return x * x if self.spec.values == "nonnegative" else x

    def trace_input(self) -> torch.Tensor:
        return self.example(self.shape(self.batch, _TRACE_CHANNELS, self.length), 0)

    def check_shapes(self) -> list[tuple[int, ...]]:
        """Batch 1 and odd batches, 1 and 3 channels, the minimum length and one more, a long input."""
        m, mid = self.min_length, self.length + 17
        runs = [(1, 1, m), (3, 3, m + 1), (1, 2, mid), (2, 1, self.long), (5, 3, 2 * m + 7)]
        return list(dict.fromkeys(self.shape(*run) for run in runs))

    def probes(self) -> dict[str, tuple[int, ...]]:
        """Inputs that each change one axis, for :func:`infer_layout` (eager runs only)."""
        base = (2, 3, self.length)
        out = {"base": base, "batch": (5, 3, self.length), "length": (2, 3, 2 * self.length + 1)}
        if self.channels or "channels" in self.layout:
            out["channels"] = (2, 4, self.length)
        full = {}
        for key, (b, c, n) in out.items():
            sizes = {"batch": b, "channels": c, self.spec.length_axis: n}
            full[key] = tuple(sizes.get(axis, self.sizes.get(axis)) for axis in self.layout)
        return full

    def dynamic_shapes(self) -> dict[int, object]:
        axes: dict[int, object] = {}
        for i, axis in enumerate(self.layout):
            if axis == "batch" and self.dynamic_batch:
                axes[i] = torch.export.Dim("batch", min=1)
            elif axis == "channels":
                axes[i] = torch.export.Dim("channels", min=1)
            elif i == self.length_axis and self.dynamic_time:
                axes[i] = torch.export.Dim(axis, min=max(self.min_length, 2))
        return axes


def _sample(sample_input) -> torch.Tensor | None:
    if sample_input is None:
        return None
    if not isinstance(sample_input, torch.Tensor) or not sample_input.is_floating_point():
        raise InputError(
            f"sample_input must be a float tensor (batch, time) or (batch, channels, time), "
            f"got {getattr(sample_input, 'dtype', type(sample_input).__name__)}"
        )
    return sample_input.detach().to(torch.float32)


def _run_torch(module: nn.Module, x: torch.Tensor, what: str) -> np.ndarray:
    try:
        with torch.no_grad():
            y = module(x)
    except Exception as exc:  # the module's own error, or torch's: either way its spec promised this shape
        raise ExportError(f"{what}: the torch module fails on an input of shape {tuple(x.shape)} that its input spec "
                          f"allows ({type(exc).__name__}: {exc}); fix the module or its input_spec()") from exc
    if not isinstance(y, torch.Tensor):
        raise ExportError(f"{what}: the module returns {type(y).__name__}, not one tensor")
    return y.detach().to(torch.float32).numpy()


def _describe(module: nn.Module, plan: _Plan, what: str) -> tuple[list[str], str | None]:
    """The output's axis names and its length law, from eager runs that each change one input axis."""
    shapes = {key: _run_torch(module, plan.example(shape, 1), what).shape for key, shape in plan.probes().items()}
    try:
        names = infer_layout(shapes, leading=1 + int(plan.channels))
    except ValueError as exc:
        raise ExportError(f"{what}: cannot describe the output: {exc}") from None
    law = chain_frames_formula(module) if ("frames" in names or "time" in names) else None
    return names, law


def _check_law(law: str | None, names: list[str], pairs, what: str) -> None:
    """The composed law gives the output length torch gives, for every (input length, output shape)."""
    if law is None:
        return
    axis = names.index("frames") if "frames" in names else names.index("time")
    for length, shape in pairs:
        if eval_frames(law, length) != shape[axis]:
            raise ExportError(
                f"{what}: the frames law {law!r} composed from the chain gives {eval_frames(law, length)} for an input "
                f"length of {length}, torch gives {shape[axis]}: a module changes the length without a "
                "frames_formula(length) method saying how"
            )


def _self_check(model: onnx.ModelProto, module: nn.Module, plan: _Plan, names: list[str], law: str | None,
                input_name: str, what: str) -> None:
    """Run the written graph on onnxruntime at shapes it did not trace and compare with torch."""
    session = make_session(model.SerializeToString())
    declared = [d.dim_value if d.HasField("dim_value") else None for d in model.graph.output[0].type.tensor_type.shape.dim]
    period = output_period(module)
    traced = plan.shape(plan.batch, _TRACE_CHANNELS, plan.length)
    hint = (f". The graph was traced at {traced}: the module's forward depends on an input size in a way the trace "
            "fixed (a Python branch or size computed outside torch); make it shape-generic, or pass "
            "dynamic_batch=False / dynamic_time=False to fix those axes to the sample's")
    pairs = []
    for seed, shape in enumerate(plan.check_shapes(), start=10):
        x = plan.example(shape, seed)
        want = _run_torch(module, x, what)
        try:
            got = session.run(None, {input_name: x.numpy()})[0]
        except Exception as exc:
            raise ExportError(f"{what}: the graph fails on onnxruntime for an input of shape {shape}: "
                              f"{_exporter_message(exc)}") from None
        if got.shape != want.shape:
            raise ExportError(f"{what}: for an input of shape {shape} the graph gives {got.shape}, torch "
                              f"{want.shape}{hint}")
        if len(declared) != want.ndim or any(d is not None and d != w for d, w in zip(declared, want.shape)):
            raise ExportError(f"{what}: the graph declares output dims {declared}, but torch gives {want.shape} "
                              f"for an input of shape {shape}{hint}")
        diff, scale = compare_outputs(got, want, period=period)
        if not diff <= RTOL * max(1.0, scale):
            raise ExportError(f"{what}: for an input of shape {shape} the graph differs from torch by {diff:.3g} "
                              f"(outputs up to {scale:.3g}){hint}")
        pairs.append((shape[plan.length_axis], want.shape))
    _check_law(law, names, pairs, what)


def _name_dims(model: onnx.ModelProto, names: list[str], plan: _Plan) -> None:
    """Output dims named for what they are; a dynamic axis keeps a symbol, a fixed one its size."""
    dynamic = {"batch": plan.dynamic_batch, "channels": True, "frames": plan.dynamic_time, "time": plan.dynamic_time}
    dims = model.graph.output[0].type.tensor_type.shape.dim
    if len(dims) != len(names):
        return
    for dim, name in zip(dims, names):
        if dynamic.get(name) and (dim.HasField("dim_param") or not dim.HasField("dim_value")):
            dim.dim_param = name


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


def export_onnx(
    module: nn.Module,
    path: str | os.PathLike,
    *,
    sample_input: torch.Tensor | None = None,
    sample_rate: int | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    dynamic_time: bool = True,
    input_name: str | None = None,
    output_name: str | None = None,
) -> Path:
    """Export ``module`` to ``path`` after checking the graph on onnxruntime; return the path.

    ``module`` is any front-end piece whose input spec export can find (see
    :func:`audiofront.frontend.inputs.input_spec`): audio in (``Spectrogram``, ``MelSpectrogram``,
    ``MFCC``, a ``FrontEnd`` chain, ``Normalize`` on waveforms), features in (``AmplitudeToDB``,
    ``Normalize``, ``FrozenNormalize``, ``ComputeDeltas``, ``Filterbank``/``MelScale``) or a complex
    spectrogram in (``InverseSpectrogram``, ``Magnitude``, ``Phase``). ``sample_input`` fixes the
    input's rank (with or without a channels axis) and the sizes of free feature axes; batch,
    channels and length stay dynamic unless ``dynamic_batch`` / ``dynamic_time`` is False, when the
    sample's batch / length is fixed (default sample: the spec's own, 1 s of audio at the sample
    rate for a fixed length). ``sample_rate`` is needed only for an STFT module that does not
    record one, and must agree with the module's otherwise. Names default to ``audio`` (audio
    in), ``specgram`` (features in) or ``spec`` (complex in), and ``features`` or ``waveform``
    (audio out).

    Raises :class:`ConfigError` for bad arguments, :class:`InputError` for a sample the module
    does not take, :class:`ExportError` (naming the module, the sample shape, ``path`` and the
    reason) when export fails, cannot reach ``opset``, or the graph does not give torch's
    shapes and numbers at every checked shape. Nothing is written then.
    """
    path = Path(path)
    if isinstance(opset, bool) or not isinstance(opset, int) or not 7 <= opset <= onnx.defs.onnx_opset_version():
        raise ConfigError(f"opset must be an integer in [7, {onnx.defs.onnx_opset_version()}], got {opset!r}")
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    if input_name is not None and input_name == output_name:
        raise ConfigError(f"input_name and output_name must differ, both are {input_name!r}")
    # A buffer or parameter named like a graph input/output breaks the exported graph (SSA clash).
    taken = set(module.state_dict().keys())
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if value in taken:
            raise ConfigError(f"{name}={value!r} equals the name of one of the module's buffers/parameters; pick another")
    rate = _resolve_sample_rate(module, sample_rate, required=_find(module, Spectrogram) is not None)
    sample = _sample(sample_input)
    plan = _Plan(module, sample, sample_rate=rate, dynamic_batch=dynamic_batch, dynamic_time=dynamic_time)
    sample_text = "no sample_input" if sample is None else f"sample_input of shape {tuple(sample.shape)}"
    what = f"export of {type(module).__name__} ({sample_text}) to {str(path)!r}"
    if input_name is None:
        input_name = {"time": "audio"}.get(plan.spec.length_axis, "spec" if "complex" in plan.layout else "specgram")

    was_training = module.training
    module.eval()
    try:
        names, law = _describe(module, plan, what)
        if output_name is None:
            output_name = "waveform" if "time" in names else "features"
            output_name = "output" if output_name == input_name else output_name
        for name, value in (("input_name", input_name), ("output_name", output_name)):
            if value in taken:
                raise ConfigError(f"{name}={value!r} equals the name of one of the module's buffers/parameters; "
                                  "pass another")
        x = plan.trace_input()
        reference = _run_torch(module, x, what)
        try:
            with _quiet_exporter():
                program = torch.onnx.export(
                    module, (x,), dynamo=True, input_names=[input_name], output_names=[output_name],
                    dynamic_shapes=(plan.dynamic_shapes(),), opset_version=opset, optimize=True, verbose=False,
                )
            model = program.model_proto
        except Exception as exc:
            raise ExportError(
                f"cannot {what}: {_exporter_message(exc)}. The module's forward depends on an input size in a way "
                "torch.export cannot keep dynamic; pass dynamic_batch=False / dynamic_time=False to fix those axes, "
                "or make the forward shape-generic"
            ) from None

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
        _name_dims(model, names, plan)
        _self_check(model, module, plan, names, law, input_name, what)
        meta = frontend_metadata(module, sample_rate=rate, input_rank=len(plan.layout), output_shape=reference.shape,
                                 input_layout=",".join(plan.layout), output_layout=",".join(names))
        # A fixed-length output (a preset that pads or trims frames) has no law in the input's length:
        # the preset's own frames formula (before its pad/trim) and its fixed count describe it.
        meta["frames"] = law if law is not None else meta.get("frames")
    finally:
        module.train(was_training)
    model.producer_name, model.producer_version = "audiofront", __version__
    model.doc_string = f"audiofront front-end {getattr(module, 'name', type(module).__name__)}"
    write_metadata(model, meta, replace=True)
    return check_and_save(model, path, what=f"the graph exported for {str(path)!r}")
