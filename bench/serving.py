"""Throughput of ``audiofront serve`` with and without micro-batching, on loopback.

For each ``--max-batch`` value it starts ``audiofront serve`` in a child process on 127.0.0.1 (a
free port). In each of ``--rounds`` rounds it loads every server in turn with ``--requests``
one-window clips (raw float32 PCM) from ``--clients`` concurrent keep-alive connections (a bare
asyncio HTTP/1.1 client, much lighter than httpx), and
prints the median requests/s, its latency percentiles, and the mean micro-batch size and model time
per window that the server's ``/metrics`` report (over the whole run, warm-up included). Every
response must be 200; a failed request fails the run.

Usage::

    python -m audiofront.bench.serving --model piano.onnx --max-batch 1 16 --clients 64 --requests 1024 --rounds 3
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

__all__ = ["run_load", "bench", "bench_batcher", "main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _raw_client(host: str, port: int, path: str, bodies: list[bytes], counter, latencies: list[float],
                      failures: list[str]) -> None:
    # A bare HTTP/1.1 keep-alive client on asyncio streams: a load generator must cost far less CPU
    # than the server it loads, and httpx costs about as much per request as the server does.
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for i in counter:
            body = bodies[i % len(bodies)]
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-pcm-f32\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            payload = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if b" 200 " not in status_line or b'"top"' not in payload:
                failures.append(f"{status_line!r}: {payload[:200]!r}")
    finally:
        writer.close()


async def run_load(url: str, bodies: list[bytes], *, sample_rate: int, clients: int, requests: int) -> dict:
    """Send ``requests`` PCM bodies (cycling through ``bodies``) from ``clients`` concurrent keep-alive
    connections; returns requests/s, client latencies and the server's own counters for this run."""
    import httpx

    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests))
    path = f"/v1/classify?sample_rate={sample_rate}"
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        before = _server_counters((await http.get("/metrics")).text)
        start = time.perf_counter()
        await asyncio.gather(*(_raw_client(host, int(port), path, bodies, counter, latencies, failures)
                               for _ in range(clients)))
        elapsed = time.perf_counter() - start
        after = _server_counters((await http.get("/metrics")).text)
    if failures:
        raise RuntimeError(f"{len(failures)} of {requests} requests failed, e.g. {failures[0]}")
    d = {key: after[key] - before.get(key, 0.0) for key in after}
    lat = np.array(latencies) * 1000
    return {
        "requests_per_s": requests / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        # From the server's /metrics, this run only: where the time goes inside the server.
        "mean_batch": d["windows"] / max(d["batches"], 1),
        "predict_ms_per_window": 1000 * d["predict_s"] / max(d["windows"], 1),
        "predict_busy": d["predict_s"] / elapsed,
        "server_latency_ms": 1000 * d["latency_s"] / max(d["requests"], 1),
        "seconds": elapsed,
    }


def _server_counters(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    out = {"windows": 0.0, "batches": 0.0, "predict_s": 0.0, "latency_s": 0.0, "requests": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "audiofront_batch_windows_sum":
                out["windows"] = s.value
            elif s.name == "audiofront_batch_windows_count":
                out["batches"] = s.value
            elif s.name == "audiofront_predict_duration_seconds_sum":
                out["predict_s"] = s.value
            elif s.labels.get("endpoint") == "/v1/classify" and s.name == "audiofront_request_duration_seconds_sum":
                out["latency_s"] = s.value
            elif s.labels.get("endpoint") == "/v1/classify" and s.name == "audiofront_request_duration_seconds_count":
                out["requests"] = s.value
    return out


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


def bench(model: str | None, max_batches: list[int], *, clients: int, requests: int, max_wait_ms: list[float],
          backend: str, threads: int | None, warmup: int, rounds: int = 1) -> list[dict]:
    """One server per setting (each ``max_batch`` with each ``max_wait_ms``; batch 1 never waits, so
    once), all started first; then ``rounds`` rounds that load each server in turn, so a change in
    the machine's background load hits every setting alike. Returns one row per setting with the
    median requests/s over rounds (and its min and max)."""
    settings = [(b, w) for b in max_batches for w in (max_wait_ms if b > 1 else max_wait_ms[:1])]
    servers = []
    try:
        for max_batch, wait in settings:
            port = _free_port()
            cmd = [sys.executable, "-m", "audiofront.cli", "serve", *(["--model", model] if model else []),
                   "--port", str(port), "--max-batch", str(max_batch), "--max-wait-ms", str(wait),
                   "--backend", backend, "--max-queue", str(max(256, clients)), "--log-level", "warning"]
            if threads:
                cmd += ["--threads", str(threads)]
            process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            servers.append(((max_batch, wait), f"http://127.0.0.1:{port}", process))
        results: dict[tuple[int, float], list[dict]] = {setting: [] for setting, _, _ in servers}
        health = {}
        for setting, url, process in servers:
            health[setting] = _wait_healthy(url, process)
        clip, rate = health[settings[0]]["clip_samples"], health[settings[0]]["sample_rate"]
        rng = np.random.default_rng(0)
        # Distinct one-window clips, so no layer of the stack can answer from a cache.
        bodies = [(0.1 * rng.standard_normal(clip)).astype("<f4").tobytes() for _ in range(64)]
        for setting, url, _ in servers:
            asyncio.run(run_load(url, bodies, sample_rate=rate, clients=clients, requests=warmup))
        for _ in range(rounds):
            for setting, url, _ in servers:
                results[setting].append(asyncio.run(run_load(url, bodies, sample_rate=rate, clients=clients,
                                                               requests=requests)))
    finally:
        for _, _, process in servers:
            process.terminate()
        for _, _, process in servers:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    rows = []
    for setting, runs in results.items():
        rps = [r["requests_per_s"] for r in runs]
        median = runs[int(np.argsort(rps)[len(rps) // 2])]  # the median run, with its own latencies
        rows.append({"max_batch": setting[0], "max_wait_ms": setting[1], "backend": health[setting]["backend"], **median,
                     "rps_min": min(rps), "rps_max": max(rps), "rounds": len(runs)})
    return rows


def bench_batcher(pipeline, max_batches: list[int], *, clients: int, requests: int, max_wait_ms: list[float],
                  rounds: int = 1) -> list[dict]:
    """The model stage alone, in this process: ``clients`` coroutines submit one-window requests
    to a :class:`MicroBatcher` over ``pipeline.predict`` (no HTTP, no decoding). Same rows as
    :func:`bench`; shows what batching does to the model's throughput on this machine."""
    from audiofront.serve.batching import MicroBatcher

    rng = np.random.default_rng(0)
    windows = (0.1 * rng.standard_normal((64, pipeline.clip_samples))).astype(np.float32)
    settings = [(b, w) for b in max_batches for w in (max_wait_ms if b > 1 else max_wait_ms[:1])]

    async def run(max_batch, wait, n):
        sizes: list[int] = []
        seconds: list[float] = []
        batcher = MicroBatcher(pipeline.predict, max_batch=max_batch, max_wait_ms=wait,
                               on_batch=lambda rows, reqs, sec: (sizes.append(rows), seconds.append(sec)))
        latencies: list[float] = []
        counter = iter(range(n))

        async def client():
            for i in counter:
                start = time.perf_counter()
                out = await batcher.submit(windows[i % 64:i % 64 + 1])
                latencies.append(time.perf_counter() - start)
                if out.shape != (1, pipeline.n_classes):
                    raise RuntimeError(f"a request got rows of shape {out.shape}")

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
        await batcher.aclose()
        lat = np.array(latencies) * 1000
        return {"requests_per_s": n / elapsed, "p50_ms": float(np.percentile(lat, 50)),
                "p95_ms": float(np.percentile(lat, 95)), "mean_batch": float(np.mean(sizes)),
                "predict_ms_per_window": 1000 * sum(seconds) / max(sum(sizes), 1),
                "predict_busy": sum(seconds) / elapsed, "server_latency_ms": float(np.mean(lat))}

    for setting in settings:
        asyncio.run(run(*setting, max(clients, 32)))  # warm-up
    results = {setting: [] for setting in settings}
    for _ in range(rounds):
        for setting in settings:
            results[setting].append(asyncio.run(run(*setting, requests)))
    rows = []
    for setting, runs in results.items():
        rps = [r["requests_per_s"] for r in runs]
        median = runs[int(np.argsort(rps)[len(rps) // 2])]
        rows.append({"max_batch": setting[0], "max_wait_ms": setting[1], "backend": pipeline.backend, **median,
                     "rps_min": min(rps), "rps_max": max(rps), "rounds": len(runs)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m audiofront.bench.serving`` (the same as ``audiofront bench-serving``)."""
    from audiofront.bench.cli import add_serving_arguments

    parser = argparse.ArgumentParser(prog="python -m audiofront.bench.serving", description=__doc__.split("\n\n")[0])
    add_serving_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The serving benchmark for parsed arguments (see :func:`audiofront.bench.cli.add_serving_arguments`)."""
    model = args.model
    if model is None:
        from audiofront.models.piano import pipeline_onnx

        from audiofront.runtime.backends import runs

        if args.backend == "auto" or not runs(args.backend, "torch"):
            model = str(pipeline_onnx())  # export once here, not in each server's start-up
    if args.in_process:
        from audiofront.runtime import Pipeline

        if model is None:
            from audiofront.models.piano import load_pipeline

            if args.threads:
                import torch

                torch.set_num_threads(args.threads)
            pipeline = load_pipeline(args.backend)
        else:
            pipeline = Pipeline.load(model, backend=args.backend, intra_op_num_threads=args.threads,
                                     max_batch_size=max(32, *args.max_batch))
        with pipeline:
            rows = bench_batcher(pipeline, args.max_batch, clients=args.clients, requests=args.requests,
                                 max_wait_ms=args.max_wait_ms, rounds=args.rounds)
    else:
        rows = bench(model, args.max_batch, clients=args.clients, requests=args.requests,
                     max_wait_ms=args.max_wait_ms, backend=args.backend, threads=args.threads, warmup=args.warmup,
                     rounds=args.rounds)
    where = "MicroBatcher in one process (no HTTP)" if args.in_process else "audiofront serve on loopback"
    print(f"# {where}: {os.path.basename(model) if model else 'piano88 (torch modules)'}, "
          f"{args.clients} concurrent clients, "
          f"{args.requests} one-window requests (raw PCM) per round, "
          f"server threads {args.threads or 'default'}, median of {args.rounds} interleaved rounds")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| max_batch | max_wait (ms) | backend | requests/s (median) | min–max over rounds | client p50 (ms) "
          "| client p95 (ms) | server latency (ms) | mean batch | predict per window (ms) | predict busy |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        wait = f"{r['max_wait_ms']:g}" if r["max_batch"] > 1 else "–"
        print(f"| {r['max_batch']} | {wait} | {r['backend']} | {r['requests_per_s']:.0f} | {r['rps_min']:.0f}–{r['rps_max']:.0f} "
              f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['server_latency_ms']:.1f} | {r['mean_batch']:.1f} "
              f"| {r['predict_ms_per_window']:.1f} | {r['predict_busy']:.0%} |")
    for r in rows[1:]:
        print(f"# max_batch {r['max_batch']}, max_wait {r['max_wait_ms']:g} ms vs max_batch {rows[0]['max_batch']}: "
              f"{r['requests_per_s'] / rows[0]['requests_per_s']:.2f}x requests/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
