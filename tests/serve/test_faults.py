"""``audiofront serve`` under faults: clients that disconnect or stall mid-body, unknown paths and
methods, bad queries, undecodable and absurdly loud audio. Each fault gets a clear answer, frees
its queue slot, and leaves the server serving; nothing is a 5xx or a traceback in the log.

The socket-level faults run uvicorn on 127.0.0.1 (a free port); the rest go through ASGITransport."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx")
pytest.importorskip("fastapi", reason="audiofront serve needs the serve extra (fastapi, uvicorn)")

from audiofront.runtime import Pipeline  # noqa: E402
from audiofront.serve.server import PCM_MEDIA_TYPE, ServeConfig, ServerThread, create_app  # noqa: E402

from tests.artifacts import LABELS, SAMPLE_RATE, distinct_signals  # noqa: E402

PCM = {"Content-Type": PCM_MEDIA_TYPE}


@pytest.fixture(scope="module")
def pipeline(pipeline_onnx):
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu") as p:
        yield p


def _pcm(audio) -> bytes:
    return np.asarray(audio, dtype="<f4").tobytes()


def _partial_request(port: int, declared: int, sent: bytes) -> socket.socket:
    """A POST that declares ``declared`` body bytes and sends only ``sent`` (then the caller stalls or closes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"POST /v1/classify?sample_rate={SAMPLE_RATE} HTTP/1.1\r\nHost: x\r\nContent-Type: {PCM_MEDIA_TYPE}\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    s.sendall(head + sent)
    return s


def _read_to_close(s: socket.socket) -> str:
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return data.decode("latin-1")


def _status_counts(metrics_text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {s.labels["status"]: s.value for f in text_string_to_metric_families(metrics_text) for s in f.samples
            if s.name == "audiofront_requests_total" and s.labels.get("endpoint") == "/v1/classify"}


def test_a_client_that_disconnects_mid_body_is_no_server_error(pipeline, caplog):
    short = distinct_signals(1, seconds=0.25)[0]
    with caplog.at_level(logging.DEBUG), ServerThread(create_app(pipeline, ServeConfig(max_wait_ms=1))) as server:
        for _ in range(3):
            s = _partial_request(server.port, 64_000, b"\x00" * 1000)
            s.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _status_counts(httpx.get(server.url + "/metrics").text).get("499", 0) < 3:
            time.sleep(0.05)
        ok = httpx.post(f"{server.url}/v1/classify?sample_rate={SAMPLE_RATE}", content=_pcm(short), headers=PCM)
        counts = _status_counts(httpx.get(server.url + "/metrics").text)
    assert ok.status_code == 200, ok.text
    assert counts.get("499") == 3 and not any(code.startswith("5") for code in counts), counts
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not problems, [r.getMessage() for r in problems]


def test_stalled_clients_get_408_and_free_their_queue_slots(pipeline):
    short = distinct_signals(1, seconds=0.25)[0]
    config = ServeConfig(max_queue=2, body_timeout_s=0.5, max_wait_ms=1)
    with ServerThread(create_app(pipeline, config)) as server:
        stalled = [_partial_request(server.port, 64_000, b"\x00" * 100) for _ in range(2)]
        time.sleep(0.1)  # both are admitted and waiting for the rest of their bodies
        url = f"{server.url}/v1/classify?sample_rate={SAMPLE_RATE}"
        busy = httpx.post(url, content=_pcm(short), headers=PCM)
        answers = [_read_to_close(s) for s in stalled]  # blocks until the server answers and closes
        started = time.monotonic()
        ok = httpx.post(url, content=_pcm(short), headers=PCM)
        for s in stalled:
            s.close()
    assert busy.status_code == 503  # the two slots were held...
    for answer in answers:  # ...until the body timeout answered the stalled clients
        assert answer.startswith("HTTP/1.1 408"), answer
        assert '"status":408' in answer and "did not arrive within 0.5 s" in answer
    assert ok.status_code == 200 and time.monotonic() - started < 5


def test_unknown_paths_and_methods_answer_the_documented_json(pipeline):
    async def main():
        app = create_app(pipeline)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [await client.get("/nope"), await client.get("/v1/classify"), await client.delete("/healthz"),
                    await client.post("/v1/classify/extra", content=b"x"), (await client.get("/metrics")).text]

    *answers, metrics = asyncio.run(main())
    for response, status in zip(answers, (404, 405, 405, 404)):
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error", "status"} and body["status"] == status, body
    assert "/v1/classify" in answers[0].json()["error"] and "GET" in answers[1].json()["error"]
    assert 'endpoint="(unmatched)"' in metrics  # unknown paths share one metrics label


@pytest.mark.parametrize("query, names", [
    ("top_k=abc", "top_k must be an integer in [1, 5]"),
    ("top_k=0", "top_k must be an integer in [1, 5]"),
    ("top_k=6", "top_k must be an integer in [1, 5]"),
    ("sample_rate=999", "sample_rate must be an integer in [1000, 768000]"),
    ("sample_rate=16000&channels=0", "channels must be an integer in [1, 64]"),
    ("sample_rate=16000&channels=65", "channels must be an integer in [1, 64]"),
    ("sample_rate=16000&probabilities=maybe", "probabilities must be true or false"),
])
def test_bad_query_parameters_are_400_naming_the_parameter(pipeline, query, names):
    async def main():
        app = create_app(pipeline)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.post(f"/v1/classify?{query}", content=_pcm(np.zeros(100)), headers=PCM)

    response = asyncio.run(main())
    assert response.status_code == 400 and response.json()["status"] == 400
    assert names in response.json()["error"], response.json()


def test_decode_errors_do_not_leak_python_object_reprs(pipeline):
    bodies = [b"RIFF\x00\x00" + bytes(200), b"not audio at all", bytes(range(256)) * 4, b"fLaC" + bytes(100)]

    async def main():
        app = create_app(pipeline)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [await client.post("/v1/classify", content=b, headers={"Content-Type": "audio/wav"}) for b in bodies]

    for response in asyncio.run(main()):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error.startswith("cannot decode the audio file: ") and len(error) > len("cannot decode the audio file: ")
        assert " at 0x" not in error and "<_io" not in error and "object" not in error, error


@pytest.mark.parametrize("peak", [1e17, -3e20, 3.0e38])
def test_huge_finite_samples_are_a_400_and_an_input_error_everywhere(pipeline, peak):
    import soundfile as sf

    from audiofront.errors import InputError

    audio = distinct_signals(1, seconds=0.5)[0].copy()
    audio[100] = peak
    wav = io.BytesIO()
    sf.write(wav, audio, SAMPLE_RATE, format="WAV", subtype="FLOAT")

    async def main():
        app = create_app(pipeline)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [await client.post(f"/v1/classify?sample_rate={SAMPLE_RATE}", content=_pcm(audio), headers=PCM),
                    await client.post("/v1/classify", content=wav.getvalue(), headers={"Content-Type": "audio/wav"})]

    for response in asyncio.run(main()):
        assert response.status_code == 400, response.text
        assert "magnitude" in response.json()["error"] and "nan" not in response.text.lower()
    with pytest.raises(InputError, match="magnitude"):
        pipeline.prepare(audio, SAMPLE_RATE)
    with pytest.raises(InputError, match="magnitude"):
        pipeline.predict(np.full((1, pipeline.clip_samples), peak, np.float32))
    (result,) = pipeline.classify([audio], sample_rate=SAMPLE_RATE)
    assert not result.ok and "magnitude" in result.error
    # Loud but sane audio (clipping-level PCM scaled by mistake) still classifies, finitely.
    (loud,) = pipeline.classify([audio.clip(-1, 1) * 32768], sample_rate=SAMPLE_RATE)
    assert loud.ok and np.isfinite(loud.probabilities).all()


def test_silence_and_clips_shorter_than_a_window_agree_with_the_pipeline(pipeline):
    rng = np.random.default_rng(7)
    clips = {"silence": np.zeros(SAMPLE_RATE, np.float32), "one sample": np.full(1, 0.5, np.float32),
             "10 ms": (0.1 * rng.standard_normal(SAMPLE_RATE // 100)).astype(np.float32),
             "short silence": np.zeros(37, np.float32)}

    async def main():
        app = create_app(pipeline)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return {k: await client.post(f"/v1/classify?sample_rate={SAMPLE_RATE}&probabilities=true",
                                         content=_pcm(v), headers=PCM) for k, v in clips.items()}

    answers = asyncio.run(main())
    for name, audio in clips.items():
        (local,) = pipeline.classify([audio], sample_rate=SAMPLE_RATE)
        assert local.ok and answers[name].status_code == 200, (name, answers[name].text)
        np.testing.assert_allclose(answers[name].json()["probabilities"], local.probabilities, rtol=1e-6, atol=1e-7,
                                   err_msg=name)
        assert answers[name].json()["labels"] == LABELS
