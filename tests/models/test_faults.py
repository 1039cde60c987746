"""The shipped model's export cache: a cache path that is not a folder is a clear ConfigError."""

from __future__ import annotations

import pytest

from audiofront.errors import ConfigError
from audiofront.models.piano import cache_dir, pipeline_onnx


@pytest.mark.parametrize("layout", ["file", "file_above"])
def test_a_cache_path_that_is_a_file_is_a_config_error(tmp_path, monkeypatch, layout):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AUDIOFRONT_CACHE", str(blocker if layout == "file" else blocker / "inner"))
    with pytest.raises(ConfigError, match="is not a folder") as info:
        pipeline_onnx()
    assert str(cache_dir()) in str(info.value) and "AUDIOFRONT_CACHE" in str(info.value)
    assert blocker.read_text() == "not a folder"  # left as it was


def test_an_output_path_under_a_file_is_a_config_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="output folder"):
        pipeline_onnx(tmp_path / "f" / "piano.onnx")
