"""The docstring examples of export/ run as doctests, against files made once here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import numpy as np
import pytest
import torch

import audiofront.export
from audiofront.export import export_onnx, prepend
from audiofront.models import KapreConvNet

MODULES = sorted(info.name for info in pkgutil.iter_modules(audiofront.export.__path__, "audiofront.export."))
MODULES = [m for m in MODULES if m != "audiofront.export.cli"] + ["audiofront.export"]


@pytest.fixture(scope="module")
def files(logmel, logmel_onnx, tmp_path_factory):
    folder = tmp_path_factory.mktemp("doctest")
    torch.manual_seed(0)
    cls = folder / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(KapreConvNet(n_classes=10, width=16).eval(), (torch.randn(2, 1, 96, 70),), str(cls),
                          dynamo=False, opset_version=17, input_names=["spec"], output_names=["logits"],
                          dynamic_axes={"spec": {0: "n", 3: "t"}})
    pipeline = prepend(logmel_onnx, cls, folder / "pipeline.onnx")
    return {"frontend": logmel, "frontend_onnx": logmel_onnx, "classifier_onnx": cls, "pipeline_onnx": pipeline}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, files, tmp_path):
    if name == "audiofront.export.fp16":
        pytest.importorskip("onnxconverter_common", reason="onnxconverter-common is not installed")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"torch": torch, "np": np, "tmp_path": tmp_path, "export_onnx": export_onnx, **files, **vars(module)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for test in finder.find(module, name, globs=globs):
            runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} doctest examples failed in {name}"
