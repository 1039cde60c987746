"""``audiofront serve`` beside Triton (the pip ``nvidia-pytriton`` server, CPU) under the same load.

Both serve the same pipeline ONNX on 127.0.0.1 with the same batching (``--max-batch``,
``--max-wait-ms``) and onnxruntime threads; Triton runs it through the onnxruntime stand-in of
:mod:`audiofront.serve.tritonserver` (our model.py in Triton's python backend). In each of
``--rounds`` rounds, for each client count, each server in turn gets ``--requests`` one-window
requests from that many concurrent keep-alive connections (a bare asyncio HTTP/1.1 client, far
lighter than the servers): raw float32 PCM to ``/v1/classify``, and the KServe v2 binary tensor
protocol (request body built by tritonclient) to ``/v2/models/NAME/infer``. Every answer must be
200. Prints requests/s and client latency percentiles, medians over rounds.

Usage::

    python -m audiofront.serve.loadtest --clients 1 8 32 --requests 256 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["run_load", "compare", "main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(port: int, requests: list[bytes], counter, latencies: list[float], failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in counter:
            start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            await writer.drain()
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not status.startswith(b"HTTP/1.1 200"):
                failures.append(status.decode("latin-1").strip())
    finally:
        writer.close()


async def run_load(port: int, requests: list[bytes], *, clients: int, count: int) -> dict:
    """Send ``count`` of the prepared raw HTTP ``requests`` from ``clients`` connections; requests/s and latencies."""
    counter = iter(range(count))  # shared: each connection takes the next request number
    latencies: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, requests, counter, latencies, failures) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} of {count} requests failed, e.g. {failures[0]}")
    ms = np.asarray(latencies) * 1000
    return {"requests_per_s": count / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99))}


def _serve_requests(windows: list[np.ndarray], sample_rate: int) -> list[bytes]:
    out = []
    for w in windows:
        body = w.astype("<f4").tobytes()
        out.append((f"POST /v1/classify?sample_rate={sample_rate} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Content-Type: application/x-pcm-f32\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    return out


def _triton_requests(windows: list[np.ndarray], model: str, input_name: str, output_name: str) -> list[bytes]:
    import tritonclient.http as httpclient

    out = []
    for w in windows:
        tensor = httpclient.InferInput(input_name, [1, w.size], "FP32")
        tensor.set_data_from_numpy(w[np.newaxis].astype(np.float32), binary_data=True)
        wanted = httpclient.InferRequestedOutput(output_name, binary_data=True)
        body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor], outputs=[wanted])
        head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"Inference-Header-Content-Length: {json_size}\r\nContent-Length: {len(body)}\r\n\r\n")
        out.append(head.encode() + body)
    return out


def _start_serve(model: str, port: int, args) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "audiofront.cli", "serve", "--model", model, "--port", str(port),
           "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms), "--backend", "onnxruntime-cpu",
           "--max-queue", "1024", "--log-level", "warning", "--threads", str(args.threads)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"audiofront serve exited with code {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("audiofront serve did not start within 120 s")


def _write_repository(model: str, repo: Path, args) -> None:
    from google.protobuf import text_format

    from audiofront.export.triton import validate_config, write_model_repository

    (config_path,) = write_model_repository(model, repo, name="model", max_batch=args.max_batch,
                                            max_wait_ms=args.max_wait_ms, kind="KIND_CPU")
    config = validate_config(config_path.read_text())
    # The same onnxruntime thread count as the other server (a parameter Triton's onnxruntime backend reads too).
    config.parameters["intra_op_thread_count"].string_value = str(args.threads)
    config_path.write_text(text_format.MessageToString(config))


def compare(args) -> list[dict]:
    from audiofront.runtime import Pipeline
    from audiofront.serve.tritonserver import TritonServer

    model = args.model
    if model is None:
        from audiofront.models.piano import pipeline_onnx

        model = str(pipeline_onnx())
    with Pipeline.load(model, backend="onnxruntime-cpu") as pipeline:
        clip, rate = pipeline.clip_samples, pipeline.sample_rate
        input_name, output_name = pipeline.input_name, pipeline.output_name
    rng = np.random.default_rng(0)
    windows = [(0.1 * rng.standard_normal(clip)).astype(np.float32) for _ in range(64)]  # distinct: no caching
    with tempfile.TemporaryDirectory(prefix="audiofront-loadtest-") as tmp:
        _write_repository(model, Path(tmp), args)
        port = _free_port()
        serve = _start_serve(model, port, args)
        triton = TritonServer(tmp, models=["model"]).start()
        try:
            targets = {"audiofront serve": (port, _serve_requests(windows, rate)),
                       "Triton (pip, CPU)": (triton.http_port, _triton_requests(windows, "model", input_name,
                                                                                  output_name))}
            for target_port, requests in targets.values():  # warm-up
                asyncio.run(run_load(target_port, requests, clients=8, count=args.requests // 4))
            runs: dict[tuple[str, int], list[dict]] = {}
            for _ in range(args.rounds):
                for clients in args.clients:
                    for name, (target_port, requests) in targets.items():
                        runs.setdefault((name, clients), []).append(
                            asyncio.run(run_load(target_port, requests, clients=clients, count=args.requests)))
        finally:
            triton.stop()
            serve.terminate()
            serve.wait(20)
    rows = []
    for (name, clients), results in runs.items():
        rps = [r["requests_per_s"] for r in results]
        median = results[int(np.argsort(rps)[len(rps) // 2])]
        rows.append({"server": name, "clients": clients, **median, "rps_min": min(rps), "rps_max": max(rps)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiofront.serve.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="pipeline ONNX (default: the shipped piano model)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=256, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads in both servers")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rows = compare(args)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
          f"max_batch {args.max_batch}, max_wait {args.max_wait_ms:g} ms, {args.threads} onnxruntime threads, "
          f"{args.requests} one-window requests per run, median of {args.rounds} rounds")
    print("| server | clients | requests/s (median) | min–max | p50 (ms) | p95 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["clients"], r["server"])):
        print(f"| {r['server']} | {r['clients']} | {r['requests_per_s']:.0f} | {r['rps_min']:.0f}–{r['rps_max']:.0f} | "
              f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
