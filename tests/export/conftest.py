"""Shared exports for the export tests (each is exported once per session: export takes ~1-3 s)."""

from __future__ import annotations

import warnings

import pytest
import torch

from audiofront.export import export_onnx
from audiofront.frontend import preset


@pytest.fixture(scope="session")
def logmel():
    """A log-mel front-end (16 kHz, 96 HTK mels, top_db 80) in eval mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty mel filters at this geometry are expected
        return preset("kapre-logmel", sample_rate=16000, n_mels=96, top_db=80.0).eval()


@pytest.fixture(scope="session")
def logmel_onnx(logmel, tmp_path_factory):
    """``logmel`` exported with default settings (traced on batch 2 x 16000 samples)."""
    return export_onnx(logmel, tmp_path_factory.mktemp("fe") / "logmel.onnx")


@pytest.fixture()
def unseen_audio():
    """A batch size and length the export never saw: 3 x 12345 samples."""
    gen = torch.Generator().manual_seed(1234)
    return torch.randn(3, 12345, generator=gen) * 0.1


@pytest.fixture(scope="session")
def exported_preset(tmp_path_factory):
    """``exported_preset(name) -> (module, path)``: each preset exported once per session (export is the slow part)."""
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
