"""Graph hygiene: what an exported front-end graph may and may not contain.

A clean graph uses the default ONNX domain only; has no STFT/DFT/MelWeightMatrix or window
ops (the DFT is a Conv with constant kernels), no control flow or sequences (Loop, Scan, If,
Sequence*), no random ops (augmentation is gone in eval mode); and its batch and time axes are
dynamic. :func:`check_graph` returns a report; :func:`assert_clean_graph` raises on problems.

Example::

    >>> report = check_graph(frontend_onnx)
    >>> report.ok, report.inputs["audio"], report.outputs["features"]
    (True, ['batch', 'time'], ['batch', 96, 'frames'])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import onnx

from audiofront.errors import ExportError
from audiofront.export.artifacts import load_onnx

__all__ = ["value_dims", "graph_inputs", "GraphReport", "check_graph", "assert_clean_graph", "FORBIDDEN_OPS", "DEFAULT_DOMAINS"]

DEFAULT_DOMAINS = ("", "ai.onnx")

#: Forbidden op types and why.
FORBIDDEN_OPS: dict[str, str] = {
    **{op: "spectral op (TensorRT lacks it; the DFT must be a Conv)" for op in ("STFT", "DFT", "MelWeightMatrix")},
    **{op: "window op (windows must be folded into constant kernels)"
       for op in ("HannWindow", "HammingWindow", "BlackmanWindow")},
    **{op: "control flow (graphs must be straight-line)" for op in ("Loop", "Scan", "If")},
    **{op: "random op (augmentation must be gone in eval mode)"
       for op in ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial")},
    **{op: "sequence op (graphs must use tensors only)"
       for op in ("SplitToSequence", "ConcatFromSequence")},
}


def _forbidden(op_type: str) -> str | None:
    if op_type in FORBIDDEN_OPS:
        return FORBIDDEN_OPS[op_type]
    if op_type.startswith("Sequence"):
        return "sequence op (graphs must use tensors only)"
    if op_type.startswith("Random"):
        return "random op (augmentation must be gone in eval mode)"
    return None


def value_dims(value_info: onnx.ValueInfoProto) -> list[str | int | None]:
    """Each dim as its int size, its symbolic name, or None when unknown."""
    out: list[str | int | None] = []
    for dim in value_info.type.tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            out.append(dim.dim_value)
        elif dim.HasField("dim_param"):
            out.append(dim.dim_param)
        else:
            out.append(None)
    return out


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The inputs a caller feeds: ``graph.input`` minus initializers (older exporters list weights as inputs)."""
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


@dataclass
class GraphReport:
    """What :func:`check_graph` found. ``problems`` is empty for a clean graph."""

    name: str
    opset: int | None
    op_counts: Counter = field(default_factory=Counter)
    inputs: dict[str, list] = field(default_factory=dict)
    outputs: dict[str, list] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"graph {self.name}: opset {self.opset}, {sum(self.op_counts.values())} nodes"]
        lines += [f"  input  {k}: {v}" for k, v in self.inputs.items()]
        lines += [f"  output {k}: {v}" for k, v in self.outputs.items()]
        lines.append("  ops: " + ", ".join(f"{op} x{n}" for op, n in sorted(self.op_counts.items())))
        lines += [f"  PROBLEM: {p}" for p in self.problems] or ["  clean"]
        return "\n".join(lines)


def _walk(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _walk(sub)


def check_graph(model, *, dynamic_batch: bool = True, dynamic_time: bool = True, time_axis: int = -1) -> GraphReport:
    """Check ``model`` (path or ``ModelProto``) against the hygiene rules; never raises on a dirty graph.

    ``dynamic_batch`` / ``dynamic_time`` require axis 0 / ``time_axis`` of every input and axis 0
    of every output to be symbolic.
    """
    name = model.graph.name if isinstance(model, onnx.ModelProto) else str(model)
    model = load_onnx(model, what="graph", check=False)
    opset = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), None)
    report = GraphReport(name=name, opset=opset)
    report.inputs = {i.name: value_dims(i) for i in graph_inputs(model)}
    report.outputs = {o.name: value_dims(o) for o in model.graph.output}
    for imp in model.opset_import:
        if imp.domain not in DEFAULT_DOMAINS:
            report.problems.append(f"imports non-default domain {imp.domain!r} (version {imp.version})")
    if model.functions:
        report.problems.append(f"holds {len(model.functions)} local function(s): " +
                               ", ".join(sorted({f"{f.domain}::{f.name}" for f in model.functions})))
    for node in _walk(model.graph):
        report.op_counts[node.op_type] += 1
        if node.domain not in DEFAULT_DOMAINS:
            report.problems.append(f"node {node.name or node.op_type!r} uses domain {node.domain!r} ({node.op_type})")
        why = _forbidden(node.op_type)
        if why:
            report.problems.append(f"node {node.name or node.op_type!r} is {node.op_type}: {why}")

    def symbolic(dims, axis):
        try:
            return isinstance(dims[axis], str)
        except IndexError:
            return False

    for kind, table in (("input", report.inputs), ("output", report.outputs)):
        for io_name, dims in table.items():
            if not dims:
                report.problems.append(f"{kind} {io_name!r} has no shape (rank unknown)")
                continue
            if dynamic_batch and not isinstance(dims[0], str):
                report.problems.append(f"{kind} {io_name!r} has a fixed batch axis: {dims}")
            if kind == "input" and dynamic_time and not symbolic(dims, time_axis):
                report.problems.append(f"input {io_name!r} has a fixed time axis ({time_axis}): {dims}")
    return report


def assert_clean_graph(model, **kwargs) -> GraphReport:
    """:func:`check_graph`, raising :class:`ExportError` that lists every problem found."""
    report = check_graph(model, **kwargs)
    if not report.ok:
        raise ExportError(f"graph {report.name} is not clean:\n  " + "\n  ".join(report.problems))
    return report
