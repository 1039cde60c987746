"""Shared fixtures: one ONNX export of the shipped piano model per test session, in a private cache."""

import pytest


@pytest.fixture(scope="session")
def piano_cache(tmp_path_factory):
    """A cache folder holding the shipped model's pipeline ONNX (exported once per session)."""
    from audiofront.models.piano import pipeline_onnx

    cache = tmp_path_factory.mktemp("audiofront-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("AUDIOFRONT_CACHE", str(cache))
    pipeline_onnx()
    yield cache
    mp.undo()
