"""Throughput of ``audiofront serve`` with and without micro-batching, on loopback.

For each ``--max-batch`` value it starts ``audiofront serve`` in a child process on 127.0.0.1 (a
free port), sends ``--requests`` one-window clips from ``--clients`` concurrent clients (httpx,
asyncio) as raw float32 PCM, and prints requests/s, latency percentiles and the mean micro-batch
size read back from ``/metrics``. Every response is checked (status 200, the clip's own window
count); a failed request fails the run.

Usage::

    python -m audiofront.runtime.server_bench --model piano.onnx --max-batch 1 16 --clients 64 --requests 1024
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time

import numpy as np

__all__ = ["run_load", "bench", "main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_load(url: str, bodies: list[bytes], *, sample_rate: int, clients: int, requests: int) -> dict:
    """Send ``requests`` PCM bodies (cycling through ``bodies``) from ``clients`` concurrent clients."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests))

    async def client(http):
        for i in counter:
            start = time.perf_counter()
            r = await http.post(f"/v1/classify?sample_rate={sample_rate}", content=bodies[i % len(bodies)],
                                headers={"Content-Type": "application/x-pcm-f32"})
            latencies.append(time.perf_counter() - start)
            if r.status_code != 200:
                failures.append(f"{r.status_code}: {r.text[:200]}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
        metrics = (await http.get("/metrics")).text
    if failures:
        raise RuntimeError(f"{len(failures)} of {requests} requests failed, e.g. {failures[0]}")
    from prometheus_client.parser import text_string_to_metric_families

    values = {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples if not s.labels}
    lat = np.array(latencies) * 1000
    return {
        "requests_per_s": requests / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "mean_batch": values["audiofront_batch_windows_sum"] / max(values["audiofront_batch_windows_count"], 1),
        # Model time per window inside the server, from /metrics (warm-up included).
        "predict_ms_per_window": 1000 * values["audiofront_predict_duration_seconds_sum"]
        / max(values["audiofront_batch_windows_sum"], 1),
        "seconds": elapsed,
    }


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120.0) -> dict:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"audiofront serve exited with code {process.returncode}")
        try:
            return httpx.get(url + "/healthz", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"audiofront serve did not answer on {url} within {timeout:g} s")


def bench(model: str | None, max_batches: list[int], *, clients: int, requests: int, max_wait_ms: float,
          backend: str, threads: int | None, warmup: int) -> list[dict]:
    rows = []
    for max_batch in max_batches:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "audiofront.cli", "serve", *(["--model", model] if model else []), "--port", str(port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--backend", backend,
               "--max-queue", str(max(256, clients)), "--log-level", "warning"]
        if threads:
            cmd += ["--threads", str(threads)]
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            health = _wait_healthy(url, process)
            rng = np.random.default_rng(0)
            clip = health["clip_samples"]
            # Distinct one-window clips, so no layer of the stack can answer from a cache.
            bodies = [(0.1 * rng.standard_normal(clip)).astype("<f4").tobytes() for _ in range(64)]
            asyncio.run(run_load(url, bodies, sample_rate=health["sample_rate"], clients=clients, requests=warmup))
            result = asyncio.run(run_load(url, bodies, sample_rate=health["sample_rate"], clients=clients,
                                          requests=requests))
            rows.append({"max_batch": max_batch, "backend": health["backend"], **result})
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiofront.runtime.server_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="pipeline artifact (default: the shipped piano model, which "
                                                      "also runs on --backend torch-cpu)")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=128)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads in the server")
    args = parser.parse_args(argv)
    model = args.model
    if model is None:
        from audiofront.models.piano import pipeline_onnx

        if not args.backend.startswith("torch"):
            model = str(pipeline_onnx())  # export once here, not in each server's start-up
    rows = bench(model, args.max_batch, clients=args.clients, requests=args.requests, max_wait_ms=args.max_wait_ms,
                 backend=args.backend, threads=args.threads, warmup=args.warmup)
    print(f"# audiofront serve on loopback: {os.path.basename(model) if model else 'piano88 (torch modules)'}, "
          f"{args.clients} concurrent clients, "
          f"{args.requests} one-window requests (raw PCM), max_wait {args.max_wait_ms:g} ms")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| max_batch | backend | requests/s | p50 latency (ms) | p95 latency (ms) | mean batch (windows) "
          "| predict time per window (ms) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['max_batch']} | {r['backend']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['mean_batch']:.1f} | {r['predict_ms_per_window']:.1f} |")
    if len(rows) > 1:
        print(f"# speed-up of max_batch {rows[-1]['max_batch']} over {rows[0]['max_batch']}: "
              f"{rows[-1]['requests_per_s'] / rows[0]['requests_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
