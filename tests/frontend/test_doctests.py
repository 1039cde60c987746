"""The docstring examples of frontend/ and models/ run as doctests, and every public module has one."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import warnings

import pytest
import torch
from torch import nn

import audiofront.frontend
import audiofront.models

MODULES = sorted(
    info.name
    for package in (audiofront.frontend, audiofront.models)
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
) + ["audiofront.frontend", "audiofront.models"]


# Examples may write files under ``tmp_path`` (a fresh folder), as pytest's doctests do.
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. empty mel filters in an example's settings
        for test in finder.find(module, name, globs={"torch": torch, "tmp_path": tmp_path, **vars(module)}):
            runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} doctest examples failed in {name}"


def test_examples_exist():
    # Every public nn.Module class of these packages shows its shapes in an example.
    missing = []
    for package in (audiofront.frontend, audiofront.models):
        for name in package.__all__:
            obj = getattr(package, name)
            if inspect.isclass(obj) and issubclass(obj, nn.Module) and ">>>" not in (obj.__doc__ or ""):
                missing.append(name)
    assert not missing, f"public modules without a docstring example: {missing}"
