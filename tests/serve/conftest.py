"""Fixtures for the serving tests: the shared small artifacts (tests/artifacts.py)."""

from tests.artifacts import onnx_parts, pipeline_onnx, torch_parts  # noqa: F401  (fixtures)
