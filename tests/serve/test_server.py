"""``audiofront serve``'s app: classify over HTTP, every limit's status, metrics, micro-batching.

Unit tests go through httpx's ASGITransport; the load test runs uvicorn on 127.0.0.1 (a free port)."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx")
pytest.importorskip("fastapi", reason="audiofront serve needs the serve extra (fastapi, uvicorn)")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from audiofront.runtime import Pipeline  # noqa: E402
from audiofront.serve.server import PCM_MEDIA_TYPE, ServeConfig, ServerThread, create_app  # noqa: E402

from tests.artifacts import LABELS, SAMPLE_RATE, distinct_signals  # noqa: E402


@pytest.fixture(scope="module")
def pipeline(pipeline_onnx):
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu", max_batch_size=64) as p:
        yield p


def _solo(pipeline, audio, sample_rate=SAMPLE_RATE):
    """What the request should get: its own windows alone through predict, averaged as classify does."""
    return pipeline.predict(pipeline.prepare(audio, sample_rate)).mean(axis=0, dtype=np.float64).astype(np.float32)


def _pcm(audio: np.ndarray) -> bytes:
    return np.asarray(audio, dtype="<f4").tobytes()


def _client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _run(coro):
    return asyncio.run(coro)


def _metrics(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_classify_pcm_and_files_match_the_pipeline(pipeline):
    import soundfile as sf

    audio = distinct_signals(3, seconds=2.5)[2]
    stereo = np.stack([audio, 0.5 * audio[::-1]])  # (channels, time), mixed by the pipeline

    async def main():
        app = create_app(pipeline, ServeConfig(max_wait_ms=1))
        async with _client(app) as client:
            r_pcm = await client.post(f"/v1/classify?sample_rate={SAMPLE_RATE}&probabilities=true&top_k=3",
                                      content=_pcm(audio), headers={"Content-Type": PCM_MEDIA_TYPE})
            interleaved = _pcm(stereo.T.copy())
            r_stereo = await client.post(f"/v1/classify?sample_rate={SAMPLE_RATE}&channels=2&probabilities=true",
                                         content=interleaved, headers={"Content-Type": PCM_MEDIA_TYPE})
            files = {}
            for fmt, media in (("WAV", "audio/wav"), ("FLAC", "audio/flac"), ("OGG", "audio/ogg"),
                               ("MP3", "application/octet-stream")):
                buf = io.BytesIO()
                sf.write(buf, audio, 22050 if fmt == "FLAC" else SAMPLE_RATE, format=fmt,
                         subtype="FLOAT" if fmt == "WAV" else None)
                files[fmt] = (buf.getvalue(), await client.post("/v1/classify?probabilities=true",
                                                                 content=buf.getvalue(),
                                                                 headers={"Content-Type": media}))
            health = await client.get("/healthz")
        return r_pcm, r_stereo, files, health

    r_pcm, r_stereo, files, health = _run(main())
    assert r_pcm.status_code == 200, r_pcm.text
    body = r_pcm.json()
    expected = _solo(pipeline, audio)
    np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-5, atol=1e-6)
    assert body["labels"] == LABELS and body["windows"] == pipeline.prepare(audio, SAMPLE_RATE).shape[0] == 4
    order = np.argsort(-expected, kind="stable")[:3]
    assert [t["label"] for t in body["top"]] == [LABELS[i] for i in order]
    np.testing.assert_allclose(r_stereo.json()["probabilities"], _solo(pipeline, stereo), rtol=1e-5, atol=1e-6)
    for fmt, (raw, response) in files.items():
        assert response.status_code == 200, (fmt, response.text)
        (reference,) = pipeline.classify([raw])  # the same bytes, classified locally
        assert reference.ok
        np.testing.assert_allclose(response.json()["probabilities"], reference.probabilities, rtol=1e-5, atol=1e-6,
                                   err_msg=fmt)
    assert files["FLAC"][1].json()["sample_rate"] == 22050
    assert health.json()["classes"] == len(LABELS) and health.json()["backend"] == "onnxruntime-cpu"


def test_every_limit_answers_its_status_and_the_server_keeps_serving(pipeline):
    import soundfile as sf

    config = ServeConfig(max_body_mb=64 / 1024, max_seconds=1.5, max_wait_ms=1)  # 64 KiB bodies, 1.5 s clips
    short = distinct_signals(1, seconds=0.5)[0]
    long_flac = io.BytesIO()
    sf.write(long_flac, np.zeros(SAMPLE_RATE * 20, np.float32), SAMPLE_RATE, format="FLAC")  # 20 s, a few KiB
    pcm = {"Content-Type": PCM_MEDIA_TYPE}
    rate = f"?sample_rate={SAMPLE_RATE}"
    cases = [
        ("body over the limit", f"/v1/classify{rate}", _pcm(np.zeros(20_000, np.float32)), pcm, 413, "limit of 65536 bytes"),
        ("clip over max_seconds", f"/v1/classify?sample_rate=8000", _pcm(np.zeros(16_000, np.float32)), pcm, 413,
         "2.00 s exceeds the limit of 1.5 s"),
        ("long file, small body", "/v1/classify", long_flac.getvalue(), {"Content-Type": "audio/flac"}, 413,
         "20.00 s exceeds"),
        ("text body", "/v1/classify", b"hello", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type"),
        ("json body", "/v1/classify", b"{}", {"Content-Type": "application/json"}, 415, "application/x-pcm-f32"),
        ("corrupt wav", "/v1/classify", b"RIFF\x00\x00" + bytes(200), {"Content-Type": "audio/wav"}, 400,
         "cannot decode"),
        ("NaN samples", f"/v1/classify{rate}", _pcm(np.full(1000, np.nan, np.float32)), pcm, 400, "NaN"),
        ("ragged PCM", f"/v1/classify{rate}", b"\x00" * 1001, pcm, 400, "whole number of float32 frames"),
        ("PCM without rate", "/v1/classify", _pcm(short), pcm, 400, "sample_rate"),
        ("bad top_k", f"/v1/classify{rate}&top_k=99", _pcm(short), pcm, 400, f"top_k must be an integer in [1, {len(LABELS)}]"),
        ("empty body", f"/v1/classify{rate}", b"", pcm, 400, "empty body"),
    ]

    async def main():
        app = create_app(pipeline, config)
        async with _client(app) as client:
            answers = [await client.post(url, content=body, headers=headers) for _, url, body, headers, _, _ in cases]
            # A client that streams a body without Content-Length is cut off at the limit too.
            async def chunks():
                for _ in range(100):
                    yield b"\x00" * 4096

            streamed = await client.post(f"/v1/classify{rate}", content=chunks(), headers=pcm)
            ok = await client.post(f"/v1/classify{rate}", content=_pcm(short), headers=pcm)
            metrics = (await client.get("/metrics")).text
        return answers, streamed, ok, metrics

    answers, streamed, ok, metrics = _run(main())
    for (what, *_, status, message), response in zip(cases, answers):
        assert response.status_code == status, (what, response.text)
        assert message in response.json()["error"], (what, response.json())
    assert streamed.status_code == 413
    assert ok.status_code == 200 and ok.json()["windows"] == 1
    counts = _metrics(metrics)
    for status in (200, 400, 413, 415):
        expected = sum(1 for *_, s, _ in cases if s == status) + (status == 200) + (status == 413)
        assert counts[("audiofront_requests_total", (("endpoint", "/v1/classify"), ("status", str(status))))] == expected


def test_overload_answers_503_with_retry_after(pipeline):
    # One admitted request waits in the batcher (max_wait 400 ms for batch-mates that never come);
    # with max_queue 1 the next one is refused at once instead of queueing.
    config = ServeConfig(max_queue=1, max_batch=8, max_wait_ms=400, retry_after_s=2)
    audio = distinct_signals(1)[0]

    async def main():
        app = create_app(pipeline, config)
        async with _client(app) as client:
            post = lambda: client.post(f"/v1/classify?sample_rate={SAMPLE_RATE}", content=_pcm(audio),  # noqa: E731
                                       headers={"Content-Type": PCM_MEDIA_TYPE})
            first = asyncio.ensure_future(post())
            await asyncio.sleep(0.15)
            second = await post()
            return await first, second, await post()

    first, second, third = _run(main())
    assert second.status_code == 503 and second.headers["Retry-After"] == "2"
    assert "server busy" in second.json()["error"]
    assert first.status_code == 200 and third.status_code == 200


def test_two_hundred_concurrent_clients_each_get_their_own_answer(pipeline):
    n = 200
    signals = distinct_signals(n, seconds=1.0, seed=7)
    expected = np.stack([_solo(pipeline, x) for x in signals])
    # The signals must be told apart by their answers, or matching proves nothing.
    gaps = np.abs(expected[:, None, :] - expected[None, :, :]).max(axis=-1) + np.eye(n)
    assert gaps.min() > 1e-4

    app = create_app(pipeline, ServeConfig(max_batch=16, max_wait_ms=5, max_queue=n))

    async def client(http, i):
        r = await http.post(f"/v1/classify?sample_rate={SAMPLE_RATE}&probabilities=true", content=_pcm(signals[i]),
                            headers={"Content-Type": PCM_MEDIA_TYPE, "X-Request-ID": f"client-{i}"})
        return i, r

    async def main(url):
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            results = await asyncio.wait_for(asyncio.gather(*(client(http, i) for i in range(n))), 60)
            metrics = (await http.get("/metrics")).text
        return results, metrics

    with ServerThread(app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        results, metrics = _run(main(server.url))
    assert len(results) == n
    for i, response in results:
        assert response.status_code == 200, (i, response.text)
        assert response.headers["X-Request-ID"] == f"client-{i}"
        got = np.asarray(response.json()["probabilities"])
        np.testing.assert_allclose(got, expected[i], rtol=1e-5, atol=1e-6, err_msg=f"client {i}")
        assert np.abs(expected - got).max(axis=1).argmin() == i  # closest to its own request, no other
    counts = _metrics(metrics)
    batches = counts[("audiofront_batch_windows_count", ())]
    windows = counts[("audiofront_batch_windows_sum", ())]
    assert windows == n  # every window ran exactly once
    assert batches < n  # requests arriving together shared predict calls
    assert counts[("audiofront_batch_windows_bucket", (("le", "16.0"),))] == batches  # never above max_batch
    assert counts[("audiofront_requests_total", (("endpoint", "/v1/classify"), ("status", "200")))] == n


def test_bench_load_generator_sends_every_request_and_reads_the_servers_counters(pipeline):
    from audiofront.bench.serving import run_load

    bodies = [_pcm(x) for x in distinct_signals(5)]
    app = create_app(pipeline, ServeConfig(max_batch=8, max_wait_ms=2))
    with ServerThread(app) as server:
        out = asyncio.run(run_load(server.url, bodies, sample_rate=SAMPLE_RATE, clients=8, requests=40))
        with pytest.raises(RuntimeError, match="of 6 requests failed"):  # a 400 is a failure, not a result
            asyncio.run(run_load(server.url, [b"\x00" * 7], sample_rate=SAMPLE_RATE, clients=2, requests=6))
        metrics = _metrics(httpx.get(server.url + "/metrics").text)
    assert metrics[("audiofront_requests_total", (("endpoint", "/v1/classify"), ("status", "200")))] == 40
    assert metrics[("audiofront_batch_windows_sum", ())] == 40
    assert 1 <= out["mean_batch"] <= 8 and out["requests_per_s"] > 0 and out["server_latency_ms"] > 0
