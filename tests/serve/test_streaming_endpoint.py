"""``WS /v1/stream``: a clip sent in random chunk sizes gets, per window, the offline window's answer, and
at the end what ``POST /v1/classify`` answers for the same audio; bad streams get clear errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx")
pytest.importorskip("fastapi", reason="audiofront serve needs the serve extra (fastapi, uvicorn)")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from fastapi.testclient import TestClient  # noqa: E402

from audiofront.runtime import Pipeline, window_starts  # noqa: E402
from audiofront.serve.server import PCM_MEDIA_TYPE, create_app  # noqa: E402
from tests.artifacts import CLIP_SAMPLES, LABELS, SAMPLE_RATE, distinct_signals  # noqa: E402


@pytest.fixture(scope="module")
def pipeline(pipeline_onnx):
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu", max_batch_size=64) as p:
        yield p


def _post(client, audio, top_k: int = 5):
    response = client.post(f"/v1/classify?sample_rate={SAMPLE_RATE}&top_k={top_k}&probabilities=true",
                           content=audio.astype("<f4").tobytes(), headers={"content-type": PCM_MEDIA_TYPE})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("seconds", [0.4, 2.3])
def test_stream_in_random_chunks_answers_as_offline(pipeline, seconds):
    audio = distinct_signals(3, seconds=seconds, seed=int(seconds * 10))[2]
    rng = np.random.default_rng(11)
    app = create_app(pipeline)
    with TestClient(app) as client:
        offline = _post(client, audio)
        with client.websocket_connect("/v1/stream?top_k=5&probabilities=true") as ws:
            start = 0
            while start < audio.size:
                size = int(rng.choice([1, int(rng.integers(2, 400)), int(rng.integers(400, 9000))]))
                ws.send_bytes(audio[start:start + size].astype("<f4").tobytes())
                start += size
            ws.send_text(json.dumps({"type": "end"}))
            messages = []
            while not messages or messages[-1]["type"] != "result":
                messages.append(ws.receive_json())
    result = messages[-1]
    assert [t["label"] for t in result["top"]] == [t["label"] for t in offline["top"]]
    np.testing.assert_allclose(result["probabilities"], offline["probabilities"], rtol=1e-5, atol=1e-6)
    assert result["windows"] == offline["windows"] and result["labels"] == LABELS
    windows = [m for m in messages if m["type"] == "window"]
    assert [m["start"] for m in windows] == window_starts(audio.size, CLIP_SAMPLES, pipeline.hop)
    np.testing.assert_allclose([m["probabilities"] for m in windows], pipeline.predict(pipeline.prepare(audio)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query,send,message", [
    ("?sample_rate=8000", None, "sample_rate must be the model's 16000"),
    ("?top_k=0", None, "top_k"),
    ("", b"\x00\x00\x80", "multiple of 4 bytes"),
    ("", "hello", "type"),
    ("", '{"type": "end"}', "push at least one sample"),
])
def test_bad_streams_get_clear_errors(pipeline, query, send, message):
    with TestClient(create_app(pipeline)) as client, client.websocket_connect("/v1/stream" + query) as ws:
        if isinstance(send, bytes):
            ws.send_bytes(send)
        elif send is not None:
            ws.send_text(send)
        reply = ws.receive_json()
    assert reply["type"] == "error" and message in reply["message"]


def test_a_preset_like_pipeline_serves_what_classify_answers(fixed_length_parts):
    # A graph that pads its own frames: short clips go in unpadded, long ones truncated, over POST
    # and over the stream, as Pipeline.classify.
    from tests.artifacts import FIXED_CLIP

    clips = [distinct_signals(4, seconds=s, seed=k)[k] for k, s in enumerate((0.05, 0.15, FIXED_CLIP / SAMPLE_RATE, 0.5))]
    with Pipeline.load(fixed_length_parts[0], backend="onnxruntime-cpu") as pipe:
        offline = pipe.classify(clips, top_k=4)
        with TestClient(create_app(pipe)) as client:
            assert client.get("/healthz").json()["long_clips"] == "truncate"
            posted = [_post(client, clip, top_k=4) for clip in clips]
            with client.websocket_connect("/v1/stream?top_k=4&probabilities=true") as ws:
                for start in range(0, clips[-1].size, 1000):
                    ws.send_bytes(clips[-1][start:start + 1000].astype("<f4").tobytes())
                ws.send_text("end")
                messages = []
                while not messages or messages[-1]["type"] != "result":
                    messages.append(ws.receive_json())
    for got, want in zip(posted, offline):
        np.testing.assert_allclose(got["probabilities"], want.probabilities, rtol=0, atol=1e-6)
        assert got["windows"] == want.windows == 1
    np.testing.assert_allclose(messages[-1]["probabilities"], offline[-1].probabilities, rtol=0, atol=1e-6)
    assert messages[-1]["windows"] == 1 and len(messages) > 2  # every window answered, the first one kept
