"""Every module exports with the dynamo exporter (opset 18, dynamic batch and time) and
onnxruntime CPU gives the torch numbers on a batch size and length other than the traced ones.

Each dynamo export costs about a second of fixed overhead, so the modules that take the same
input layout export together, as the outputs of one graph; every output is still checked on its
own, by name.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tests.frontend.catalogue import CASES, Case

TRACE_BATCH, TRACE_LENGTH = 2, {"wave": 700, "spec": 9, "complex": 9}
RUN_BATCH, RUN_LENGTH = 3, {"wave": 1123, "spec": 17, "complex": 14}
TRAINING_ONLY = {"additive-noise-eval", "spec-augment-eval"}
RANDOM_OPS = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}


class Bundle(nn.Module):
    """Runs several modules on the same input; one output per module."""

    def __init__(self, modules: list[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(part(x) for part in self.parts)


def _groups() -> dict[str, list[Case]]:
    groups: dict[str, list[Case]] = {}
    for case in CASES:
        if not case.export:
            continue
        key = case.kind + ("-channels" if case.channels else "")
        groups.setdefault(key, []).append(case)
    return groups


GROUPS = _groups()


def _output_name(case: Case) -> str:
    # Never a bare buffer name: an output named like an initializer breaks the graph.
    return "out_" + case.name.replace("-", "_")


def _export(cases: list[Case], batch: tuple[int, ...], path) -> tuple[Bundle, onnx.ModelProto]:
    bundle = Bundle([case.module() for case in cases]).eval()
    kind, time_axis = cases[0].kind, cases[0].time_axis
    min_length = max(2, *(case.min_length for case in cases))
    example = cases[0].example(batch, max(min_length, TRACE_LENGTH[kind]))
    dims = {0: torch.export.Dim("batch", min=1, max=1024),
            example.ndim + time_axis: torch.export.Dim("time", min=min_length, max=1_000_000)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(bundle, (example,), dynamo=True, opset_version=18, dynamic_shapes=(dims,),
                                    input_names=["input"], output_names=[_output_name(c) for c in cases],
                                    verbose=False)
    program.save(str(path))
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return bundle, model


def _check_runs_like_torch(cases: list[Case], bundle: Bundle, path, batch: tuple[int, ...]) -> None:
    min_length = max(case.min_length for case in cases)
    x = cases[0].example(batch, max(min_length, RUN_LENGTH[cases[0].kind]), seed=5)
    with torch.no_grad():
        expected = bundle(x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": x.numpy()})))
    for case, want in zip(cases, expected):
        got, want = actual[_output_name(case)], want.numpy()
        assert got.shape == want.shape, case.name
        scale = float(np.abs(want).max()) or 1.0
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=case.name)
        if case.name in TRAINING_ONLY:
            np.testing.assert_array_equal(got, x.numpy(), err_msg=case.name)


@pytest.mark.parametrize("group", list(GROUPS), ids=str)
def test_modules_export_and_run_in_onnxruntime(group, tmp_path):
    cases = GROUPS[group]
    path = tmp_path / f"{group}.onnx"
    bundle, model = _export(cases, (TRACE_BATCH,), path)
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    assert opsets["ai.onnx"] >= 18
    # Dynamic in batch and time, not frozen to the traced sizes.
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[len(dims) + cases[0].time_axis].dim_param
    # Training-only augmentation leaves no random ops behind.
    assert not {node.op_type for node in model.graph.node} & RANDOM_OPS
    _check_runs_like_torch(cases, bundle, path, (RUN_BATCH,))


def test_group_covers_every_module():
    assert sum(len(cases) for cases in GROUPS.values()) == sum(case.export for case in CASES)
    names = {case.name for case in CASES}
    for required in ("spectrogram-power2", "spectrogram-power1", "spectrogram-complex", "inverse-spectrogram",
                     "magnitude", "phase", "mel-spectrogram", "mfcc", "compute-deltas", "amplitude-to-db",
                     "normalize-frequency", "normalize-time", "normalize-channel", "normalize-example",
                     "frozen-normalize", "filterbank-mel", "filterbank-log", "filterbank-linear", "filterbank-random",
                     "kapre-stft", "kapre-logmel", *TRAINING_ONLY):
        assert required in names


def test_batch_channels_time_input_exports(tmp_path):
    cases = [case for case in GROUPS["wave"] if case.name in ("spectrogram-complex", "mel-spectrogram-direct",
                                                              "additive-noise-eval")]
    path = tmp_path / "bct.onnx"
    bundle, _ = _export(cases, (TRACE_BATCH, 2), path)
    _check_runs_like_torch(cases, bundle, path, (RUN_BATCH, 2))

