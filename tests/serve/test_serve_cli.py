"""The commands as users run them: ``audiofront serve`` in a child process on a free loopback port,
and ``audiofront triton`` writing a repository that parses."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx")
pytest.importorskip("uvicorn", reason="audiofront serve needs the serve extra (fastapi, uvicorn)")

from audiofront.cli import main  # noqa: E402
from audiofront.runtime import Pipeline  # noqa: E402
from audiofront.export.triton import validate_config  # noqa: E402

from tests.artifacts import LABELS, SAMPLE_RATE, distinct_signals  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_answers_on_loopback_and_stops_cleanly(pipeline_onnx):
    import soundfile as sf

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "audiofront.cli", "serve", "--model", str(pipeline_onnx), "--port", str(port),
         "--backend", "onnxruntime-cpu", "--max-batch", "4", "--max-seconds", "5", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                health = httpx.get(url + "/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "audiofront serve did not come up within 60 s"
                time.sleep(0.2)
        assert health["backend"] == "onnxruntime-cpu" and health["max_batch"] == 4
        audio = distinct_signals(2, seconds=3.0)[1]
        wav = io.BytesIO()
        sf.write(wav, audio, SAMPLE_RATE, format="WAV", subtype="FLOAT")
        r = httpx.post(url + "/v1/classify?top_k=2&probabilities=true", content=wav.getvalue(),
                       headers={"Content-Type": "audio/x-wav"}, timeout=30)
        too_long = httpx.post(url + f"/v1/classify?sample_rate={SAMPLE_RATE}",
                              content=np.zeros(SAMPLE_RATE * 6, "<f4").tobytes(),
                              headers={"Content-Type": "application/x-pcm-f32"}, timeout=30)
        metrics = httpx.get(url + "/metrics", timeout=5).text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert r.status_code == 200, r.text
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu") as pipe:
        (reference,) = pipe.classify([wav.getvalue()], top_k=2)
    np.testing.assert_allclose(r.json()["probabilities"], reference.probabilities, rtol=1e-5, atol=1e-6)
    assert [t["label"] for t in r.json()["top"]] == [label for label, _ in reference.top]
    assert too_long.status_code == 413 and "limit of 5 s" in too_long.json()["error"]
    assert 'audiofront_requests_total{endpoint="/v1/classify",status="413"} 1.0' in metrics
    assert process.returncode == 0, stderr
    assert "listening on http://127.0.0.1:" in stderr


def test_triton_command_writes_a_repository(tmp_path, onnx_parts, capsys):
    assert main(["triton", "--model", str(onnx_parts["pipeline"]), "-o", str(tmp_path), "--name", "notes",
                 "--max-batch", "32", "--kind", "KIND_CPU", "--instances", "2"]) == 0
    config = validate_config((tmp_path / "notes" / "config.pbtxt").read_text())
    assert config.max_batch_size == 32 and config.instance_group[0].count == 2
    assert "parses as Triton's ModelConfig" in capsys.readouterr().out
    assert main(["triton", "--ensemble", "--frontend", str(onnx_parts["frontend"]), "--classifier",
                 str(onnx_parts["classifier"]), "-o", str(tmp_path), "--name", "notes2"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"notes", "notes2", "notes2_frontend", "notes2_classifier"}
    assert (tmp_path / "notes2" / "labels.txt").read_text().split() == LABELS
    # An existing folder is not replaced without --force: an error message and exit code 1.
    assert main(["triton", "--model", str(onnx_parts["pipeline"]), "-o", str(tmp_path), "--name", "notes"]) == 1
    assert "exists; pass overwrite=True (--force)" in capsys.readouterr().err
