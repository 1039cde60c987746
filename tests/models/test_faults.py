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


def test_silence_and_short_clips_get_the_same_answer_from_cli_pipeline_and_service(piano_cache, tmp_path, capsys):
    """``audiofront classify``, ``Pipeline.classify`` and ``audiofront serve`` agree on silence and on
    clips shorter than one window (all three classify them, zero-padded)."""
    import asyncio
    import json

    import numpy as np
    import soundfile as sf

    httpx = pytest.importorskip("httpx", reason="the service part needs httpx")
    pytest.importorskip("fastapi", reason="the service part needs the serve extra")
    from audiofront.cli import main
    from audiofront.models.piano import load_pipeline
    from audiofront.serve.server import create_app

    rng = np.random.default_rng(11)
    clips = {"silence.wav": np.zeros(16000, np.float32), "short.wav": (0.2 * rng.standard_normal(800)).astype(np.float32),
             "one.wav": np.full(1, 0.25, np.float32), "quiet-short.wav": np.zeros(100, np.float32)}
    paths = []
    for name, audio in clips.items():
        sf.write(str(tmp_path / name), audio, 16000, subtype="FLOAT")
        paths.append(str(tmp_path / name))
    assert main(["classify", "--json", "--top-k", "5", "--backend", "onnxruntime-cpu", *paths]) == 0
    cli = {entry["file"]: entry for entry in json.loads(capsys.readouterr().out)["results"]}
    with load_pipeline("onnxruntime-cpu") as pipeline:
        local = dict(zip(paths, pipeline.classify(paths, top_k=5)))

        async def serve():
            app = create_app(pipeline)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                return {p: (await client.post("/v1/classify?top_k=5", content=open(p, "rb").read(),
                                              headers={"Content-Type": "audio/wav"})).json() for p in paths}

        served = asyncio.run(serve())
    for path in paths:
        assert local[path].ok and cli[path]["error"] is None and "top" in served[path], (path, served[path])
        expected = [(label, p) for label, p in local[path].top]
        assert [t["label"] for t in cli[path]["top"]] == [t["label"] for t in served[path]["top"]] == [
            label for label, _ in expected], path
        np.testing.assert_allclose([t["probability"] for t in cli[path]["top"]], [p for _, p in expected], rtol=1e-5)
        np.testing.assert_allclose([t["probability"] for t in served[path]["top"]], [p for _, p in expected], rtol=1e-5)
