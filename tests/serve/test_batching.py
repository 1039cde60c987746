"""MicroBatcher: requests share predict calls, each gets exactly its own rows, limits hold."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from audiofront.errors import ConfigError, InputError
from audiofront.serve.batching import MicroBatcher, QueueFull

WEIGHTS = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32)


class RowModel:
    """A row-wise model (each output row depends on its input row only) that records its batches."""

    def __init__(self, delay: float = 0.0, poison: float | None = None):
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.delay, self.poison = delay, poison

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(x.shape[0])
        self.threads.add(threading.current_thread().name)
        if self.poison is not None and (x[:, 0] == self.poison).any():
            raise ValueError("poisoned window")
        time.sleep(self.delay)
        return np.tanh(x @ WEIGHTS)


def _requests(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(1, 5)), 32)).astype(np.float32) for _ in range(n)]


def _submit_all(model, requests, *, max_batch: int = 8, max_wait_ms: float = 20):
    """Submit every request at once to one MicroBatcher; their results in order."""
    async def main():
        batcher = MicroBatcher(model, max_batch=max_batch, max_wait_ms=max_wait_ms)
        try:
            return await asyncio.gather(*(batcher.submit(r) for r in requests))
        finally:
            await batcher.aclose()

    return asyncio.run(main())


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    model = RowModel(delay=0.002)
    requests = _requests(60)
    results = _submit_all(model, requests)
    for request, result in zip(requests, results):
        np.testing.assert_allclose(result, np.tanh(request @ WEIGHTS), rtol=1e-6, atol=1e-6)
    assert sum(model.batches) == sum(len(r) for r in requests)
    assert max(model.batches) <= 8 and len(model.batches) < len(requests)
    assert all(name.startswith("audiofront-predict") for name in model.threads)  # off the event loop


def test_a_request_larger_than_max_batch_is_split_and_reassembled():
    model = RowModel()
    big = np.random.default_rng(1).standard_normal((21, 32)).astype(np.float32)

    async def main():
        batcher = MicroBatcher(model, max_batch=8, max_wait_ms=0)
        try:
            return await batcher.submit(big)
        finally:
            await batcher.aclose()

    np.testing.assert_allclose(asyncio.run(main()), np.tanh(big @ WEIGHTS), rtol=1e-6, atol=1e-6)
    assert model.batches == [8, 8, 5]


def test_a_lone_request_waits_at_most_about_max_wait():
    model = RowModel()

    async def main():
        batcher = MicroBatcher(model, max_batch=64, max_wait_ms=150)
        start = time.monotonic()
        await batcher.submit(_requests(1)[0])
        elapsed = time.monotonic() - start
        await batcher.aclose()
        return elapsed

    elapsed = asyncio.run(main())
    assert 0.14 <= elapsed < 1.0


def test_a_failing_request_does_not_fail_its_batch_mates():
    model = RowModel(poison=123.0)
    requests = _requests(10, seed=3)
    requests[4][0, 0] = 123.0

    async def main():
        batcher = MicroBatcher(model, max_batch=64, max_wait_ms=30)
        try:
            return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
        finally:
            await batcher.aclose()

    results = asyncio.run(main())
    assert isinstance(results[4], ValueError)
    for i, (request, result) in enumerate(zip(requests, results)):
        if i != 4:
            np.testing.assert_allclose(result, np.tanh(request @ WEIGHTS), rtol=1e-6, atol=1e-6)
    assert model.batches[0] == sum(len(r) for r in requests)  # they were batched, then rerun alone


def test_queue_bound_cancellation_and_shutdown():
    model = RowModel(delay=0.05)

    async def main():
        batcher = MicroBatcher(model, max_batch=4, max_wait_ms=0, max_queue=2)
        reqs = _requests(4, seed=5)
        first = asyncio.ensure_future(batcher.submit(reqs[0]))
        second = asyncio.ensure_future(batcher.submit(reqs[1]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="max_queue 2"):
            await batcher.submit(reqs[2])
        second.cancel()  # a client that went away: its windows are skipped, the others still answered
        out = await first
        await asyncio.sleep(0.1)
        assert batcher.pending == 0
        waiting = asyncio.ensure_future(batcher.submit(reqs[3]))
        await asyncio.sleep(0)
        await batcher.aclose()
        with pytest.raises(QueueFull):
            await waiting
        with pytest.raises(QueueFull, match="shut down"):
            await batcher.submit(reqs[3])
        return reqs[0], out

    request, out = asyncio.run(main())
    np.testing.assert_allclose(out, np.tanh(request @ WEIGHTS), rtol=1e-6, atol=1e-6)


def test_arguments_are_checked():
    with pytest.raises(ConfigError, match="max_batch"):
        MicroBatcher(RowModel(), max_batch=0)
    with pytest.raises(ConfigError, match="max_wait_ms"):
        MicroBatcher(RowModel(), max_wait_ms=-1)
    with pytest.raises(ConfigError, match="predict must be callable"):
        MicroBatcher(None)

    async def main():
        batcher = MicroBatcher(RowModel())
        with pytest.raises(InputError, match="windows must be"):
            await batcher.submit(np.zeros(32, np.float32))
        await batcher.aclose()

    asyncio.run(main())


def test_windows_of_other_widths_get_batches_of_their_own():
    # A preset pipeline takes short clips unpadded: requests of different widths must not be concatenated.
    seen: list[tuple[int, int]] = []

    def model(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        return np.tanh(x[:, :32] @ WEIGHTS) + x.shape[1]

    rng = np.random.default_rng(7)
    requests = [rng.standard_normal((int(rng.integers(1, 4)), int(rng.choice([32, 40, 57])))).astype(np.float32)
                for _ in range(30)]

    results = _submit_all(model, requests)
    for request, result in zip(requests, results):
        np.testing.assert_allclose(result, np.tanh(request[:, :32] @ WEIGHTS) + request.shape[1], rtol=1e-6, atol=1e-6)
    assert sum(rows for rows, _ in seen) == sum(len(r) for r in requests) and max(rows for rows, _ in seen) <= 8
    assert len(seen) < len(requests)  # still batched
