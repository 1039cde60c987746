"""Fixtures shared across test folders (imports inside them: collecting tests must not load torch)."""

from __future__ import annotations

import warnings

import pytest


@pytest.fixture(scope="session")
def exported_preset(tmp_path_factory):
    """``exported_preset(name) -> (module, path)``: each preset exported once per session.

    Export is the slow part (seconds per preset); tests/export and tests/frontend share it.
    """
    from audiofront.export import export_onnx
    from audiofront.frontend import preset

    cache: dict[str, tuple] = {}
    folder = tmp_path_factory.mktemp("presets")

    def get(name: str):
        if name not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = preset(name).eval()
            cache[name] = (module, export_onnx(module, folder / f"{name}.onnx"))
        return cache[name]

    return get
