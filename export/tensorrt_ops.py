"""Static check of an ONNX graph against TensorRT's ONNX operator support table.

The table is data (``data/tensorrt_ops.json``), transcribed from onnx/onnx-tensorrt
``docs/operators.md`` with its source and TensorRT version. Each node is checked for: the op
being listed and supported; its data type among the listed types; and the machine-checkable
restrictions (inputs that must be build-time constants, allowed attribute values such as
Resize modes, pooling rank, unsupported extra outputs, static shapes). Restrictions that are
only text are shown as notes. Nothing here needs TensorRT installed.

Example::

    >>> report = check_tensorrt(frontend_onnx)
    >>> report.ok, report.tensorrt_version, report.rows["Conv"].status
    (True, '10.15', 'ok')
    >>> print(report.table())  # doctest: +ELLIPSIS
    op...count  status  notes
    ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import onnx
from onnx import TensorProto

from audiofront.export.artifacts import load_onnx
from audiofront.export.hygiene import DEFAULT_DOMAINS

__all__ = ["TensorRTReport", "OpRow", "check_tensorrt", "tensorrt_table"]

_TYPE_NAMES = {
    TensorProto.FLOAT: "FP32", TensorProto.FLOAT16: "FP16", TensorProto.BFLOAT16: "BF16",
    TensorProto.INT32: "INT32", TensorProto.INT64: "INT64", TensorProto.BOOL: "BOOL",
    TensorProto.UINT8: "UINT8", TensorProto.INT8: "INT8", TensorProto.DOUBLE: "DOUBLE",
}
# Ops whose listed types describe what they produce rather than their first input.
_OUTPUT_TYPED = {"Constant", "ConstantOfShape", "RandomNormal", "RandomUniform", "Range"}


@lru_cache(maxsize=1)
def tensorrt_table() -> dict:
    """The support table: ``source``, ``tensorrt_version``, ``opset_min/max``, ``operators``."""
    text = resources.files("audiofront.export").joinpath("data/tensorrt_ops.json").read_text()
    return json.loads(text)


@dataclass
class OpRow:
    """One op type of the graph: how many nodes, status ``ok`` | ``note`` | ``FAIL``, and why."""

    op_type: str
    count: int = 0
    status: str = "ok"
    notes: list[str] = field(default_factory=list)

    def add(self, status: str, note: str) -> None:
        order = {"ok": 0, "note": 1, "FAIL": 2}
        if order[status] > order[self.status]:
            self.status = status
        if note not in self.notes:
            self.notes.append(note)


@dataclass
class TensorRTReport:
    """Per-op rows plus graph-level problems; ``ok`` when nothing failed."""

    name: str
    tensorrt_version: str
    source: str
    rows: dict[str, OpRow] = field(default_factory=dict)
    graph_problems: list[str] = field(default_factory=list)

    @property
    def unsupported(self) -> list[str]:
        return [row.op_type for row in self.rows.values() if row.status == "FAIL"]

    @property
    def ok(self) -> bool:
        return not self.unsupported and not self.graph_problems

    def table(self) -> str:
        width = max([len(r.op_type) for r in self.rows.values()] + [7])
        lines = [f"{'op':<{width}}  count  status  notes", f"{'-' * width}  -----  ------  -----"]
        for row in sorted(self.rows.values(), key=lambda r: ({"FAIL": 0, "note": 1, "ok": 2}[r.status], r.op_type)):
            lines.append(f"{row.op_type:<{width}}  {row.count:>5}  {row.status:<6}  {'; '.join(row.notes)}".rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        verdict = "supported" if self.ok else f"NOT supported ({len(self.unsupported)} op type(s) fail)"
        head = f"TensorRT {self.tensorrt_version} op check of {self.name}: {verdict}\n(table: {self.source})"
        problems = "".join(f"\nPROBLEM: {p}" for p in self.graph_problems)
        return f"{head}{problems}\n{self.table()}"


def _constant_names(model: onnx.ModelProto) -> set[str]:
    """Tensors known at build time: initializers, Constant outputs, and what only they feed."""
    const = {i.name for i in model.graph.initializer}
    changed = True
    while changed:
        changed = False
        for node in model.graph.node:
            if node.op_type == "Shape" or not node.output or node.output[0] in const:
                continue
            if node.op_type == "Constant" or (node.input and all(not i or i in const for i in node.input)):
                const.update(o for o in node.output if o)
                changed = True
    return const


def _types(model: onnx.ModelProto) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        inferred = model
    out = {i.name: i.data_type for i in inferred.graph.initializer}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            out[vi.name] = vi.type.tensor_type.elem_type
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    out[node.output[0]] = attr.t.data_type
    return out, inferred


def _ranks(inferred: onnx.ModelProto) -> dict[str, list]:
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    return out


def _attr(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _run_check(check: dict, node, const: set, shapes: dict) -> str | None:
    """The failure text of one machine-checkable restriction, or None when it holds."""
    kind = check["kind"]
    if kind == "constant_input":
        idx = check["index"]
        if idx >= len(node.input) or not node.input[idx]:
            return None if check.get("optional") or idx >= len(node.input) else f"input {check['name']} missing"
        if node.input[idx] not in const:
            return f"input `{check['name']}` must be a build-time constant (initializer), is computed at run time"
    elif kind == "attribute_in":
        value = _attr(node, check["name"], check.get("default"))
        if value not in check["values"]:
            why = f" ({check['why']})" if "why" in check else ""
            return f"attribute {check['name']}={value!r} not in {check['values']}{why}"
    elif kind == "attribute_all_ones":
        value = _attr(node, check["name"], [])
        if any(v != 1 for v in value):
            return f"attribute {check['name']}={list(value)} must be empty or all ones"
    elif kind == "max_outputs":
        used = [o for o in node.output if o]
        if len(used) > check["count"]:
            return f"output(s) {check['name']} unsupported"
    elif kind == "input_rank_in":
        dims = shapes.get(node.input[check["index"]])
        if dims is not None and len(dims) not in check["values"]:
            spatial = "/".join(f"{v - 2}D" for v in check["values"])
            return f"input rank {len(dims)} not in {check['values']} (only {spatial})"
    elif kind == "static_input_shape":
        dims = shapes.get(node.input[check["index"]])
        if dims is None or any(d is None for d in dims):
            return "input must have static dimensions"
    return None


def check_tensorrt(model, *, table: dict | None = None) -> TensorRTReport:
    """Check every node of ``model`` (path or ``ModelProto``) against TensorRT's ONNX support table.

    Fails (``FAIL`` rows / ``graph_problems``) on: ops the table marks unsupported or does not
    list, non-default domains, data types outside an op's list, violated restrictions, and an
    opset outside the table's range. Returns the report; never raises for an unsupported graph.
    """
    table = table or tensorrt_table()
    name = model.graph.name if isinstance(model, onnx.ModelProto) else str(model)
    model = load_onnx(model, what="model", check=False)
    report = TensorRTReport(name=name, tensorrt_version=table["tensorrt_version"], source=table["source"])
    opset = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), None)
    if opset is not None and not table["opset_min"] <= opset <= table["opset_max"]:
        report.graph_problems.append(
            f"opset {opset} outside TensorRT {table['tensorrt_version']}'s range [{table['opset_min']}, {table['opset_max']}]"
        )
    types, inferred = _types(model)
    shapes = _ranks(inferred)
    const = _constant_names(model)
    ops = table["operators"]
    for node in model.graph.node:
        key = node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"
        row = report.rows.setdefault(key, OpRow(key))
        row.count += 1
        if node.domain not in DEFAULT_DOMAINS:
            row.add("FAIL", f"domain {node.domain!r} needs a TensorRT plugin")
            continue
        entry = ops.get(node.op_type)
        if entry is None:
            row.add("FAIL", "not in the transcribed support table")
            continue
        if not entry["supported"]:
            row.add("FAIL", "unsupported by TensorRT's ONNX parser")
            continue
        tensor = node.output[0] if node.op_type in _OUTPUT_TYPED or not node.input else node.input[0]
        dtype = types.get(tensor)
        names = [_TYPE_NAMES.get(dtype, TensorProto.DataType.Name(dtype))] if dtype else []
        if node.op_type == "Cast" and node.output and types.get(node.output[0]):
            names.append(_TYPE_NAMES.get(types[node.output[0]], TensorProto.DataType.Name(types[node.output[0]])))
        for type_name in names:
            if type_name == "DOUBLE":
                row.add("note", "DOUBLE is cast down to FP32 by TensorRT")
            elif type_name not in entry["types"]:
                row.add("FAIL", f"type {type_name} not in {','.join(entry['types'])}")
        checks = entry.get("checks", [])
        for check in checks:
            failure = _run_check(check, node, const, shapes)
            if failure:
                row.add("FAIL", failure)
        if entry["restrictions"] and not checks:
            row.add("note", entry["restrictions"])
    return report
