"""An asyncio micro-batcher: requests that arrive together share one ``predict`` call.

Each request hands in its windows ``(n, clip_samples)``; the batcher concatenates the windows
of the requests waiting (up to ``max_batch`` rows, waiting at most ``max_wait_ms`` after the
first one arrived), runs ``predict`` on a worker thread, and gives every request back the rows
that came from its own windows, ``(n, n_classes)``. Because ``predict`` is batch-invariant
(``Pipeline.predict`` is), a request's result does not depend on its batch-mates.

Example::

    >>> batcher = MicroBatcher(pipeline.predict, max_batch=16, max_wait_ms=5)
    >>> probs = await batcher.submit(pipeline.prepare(audio, sample_rate=sr))   # (n, n_classes)
    >>> await batcher.aclose()
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from audiofront.errors import ConfigError, InputError, QueueFull

__all__ = ["MicroBatcher", "QueueFull"]


@dataclass
class _Job:
    windows: np.ndarray
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


class MicroBatcher:
    """Batch concurrent ``submit`` calls into ``predict(windows) -> rows`` calls.

    ``predict`` takes ``(batch, clip_samples)`` float32 and returns ``(batch, ...)``, one row per
    window (requests whose windows have another width, such as a short clip that a preset
    pipeline takes unpadded, go in batches of their own width); it runs on one worker thread, so the event loop keeps accepting requests while a batch
    runs (and those requests form the next batch). A request with more than ``max_batch`` windows
    is split over several batches. ``max_queue`` bounds the requests inside the batcher (``None``:
    unbounded); past it ``submit`` raises :class:`QueueFull`. ``on_batch(rows, requests, seconds)``
    is called after each ``predict`` (metrics).

    If a batch of several requests fails, each of its requests is run alone, so one bad request
    cannot fail the others; the error reaches only the request whose windows raised it.
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], np.ndarray],
        *,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
        max_queue: int | None = None,
        on_batch: Callable[[int, int, float], None] | None = None,
    ):
        if not callable(predict):
            raise ConfigError(f"predict must be callable, got {type(predict).__name__}")
        self.max_batch = _positive_int("max_batch", max_batch)
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)) or not 0 <= max_wait_ms <= 10_000:
            raise ConfigError(f"max_wait_ms must be a number in [0, 10000], got {max_wait_ms!r}")
        self.max_wait_ms = float(max_wait_ms)
        self.max_queue = None if max_queue is None else _positive_int("max_queue", max_queue)
        self._predict = predict
        self._on_batch = on_batch
        self._jobs: collections.deque[_Job] = collections.deque()
        self._running: list[_Job] = []
        self._queued_rows = 0
        self._pending = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Requests inside the batcher now (queued or in a running batch)."""
        return self._pending

    async def submit(self, windows: np.ndarray) -> np.ndarray:
        """Run ``windows`` ``(n, clip_samples)`` through ``predict`` in some batch; returns its ``n`` rows."""
        if self._closed:
            raise QueueFull("the batcher is shut down")
        if not isinstance(windows, np.ndarray) or windows.ndim != 2 or windows.shape[0] < 1:
            shape = getattr(windows, "shape", None)
            raise InputError(f"windows must be a (n >= 1, clip_samples) numpy array, got shape {shape}")
        if self.max_queue is not None and self._pending >= self.max_queue:
            raise QueueFull(f"{self._pending} requests are waiting (max_queue {self.max_queue})")
        self._start()
        loop = self._loop
        futures = []
        for start in range(0, windows.shape[0], self.max_batch):
            chunk = windows[start:start + self.max_batch]
            job = _Job(chunk, loop.create_future())
            self._jobs.append(job)
            self._queued_rows += chunk.shape[0]
            futures.append(job.future)
        self._pending += 1
        self._wakeup.set()
        try:
            parts = await asyncio.gather(*futures)
        finally:
            self._pending -= 1
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audiofront-predict")
            self._task = loop.create_task(self._run(), name="audiofront-microbatcher")
        elif self._loop is not loop:
            raise RuntimeError("a MicroBatcher serves the event loop it started on; create one per loop")

    async def _run(self) -> None:
        while True:
            while not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
            # The first job's arrival starts the clock: a job that waited behind a running batch
            # goes out at once, one that arrived on an idle batcher waits max_wait_ms for company.
            deadline = self._jobs[0].arrived + self.max_wait_ms / 1000
            while self._queued_rows < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take_batch()
            if batch:
                self._running = batch
                await self._run_batch(batch)
                self._running = []

    def _take_batch(self) -> list[_Job]:
        batch: list[_Job] = []
        rows = 0
        while self._jobs:
            job = self._jobs[0]
            n = job.windows.shape[0]
            if batch and rows + n > self.max_batch:
                break
            # Windows of another width (a short clip a graph pads itself) cannot share the call:
            # they go first in the next batch, so the queue stays in arrival order.
            if batch and job.windows.shape[1:] != batch[0].windows.shape[1:]:
                break
            self._jobs.popleft()
            self._queued_rows -= n
            if job.future.done():  # its request was cancelled (client went away)
                continue
            batch.append(job)
            rows += n
        return batch

    async def _run_batch(self, batch: list[_Job]) -> None:
        loop = self._loop
        started = time.monotonic()
        try:
            x = batch[0].windows if len(batch) == 1 else np.concatenate([job.windows for job in batch], axis=0)
            y = await loop.run_in_executor(self._executor, self._predict, x)
            if getattr(y, "shape", (None,))[0] != x.shape[0]:
                raise RuntimeError(f"predict returned {getattr(y, 'shape', None)} rows for a batch of {x.shape[0]}")
        except Exception as exc:  # noqa: BLE001 - the error belongs to the requests, not the loop
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            for job in batch:  # find the culprit: each request alone
                await self._run_batch([job])
            return
        if self._on_batch is not None:
            self._on_batch(x.shape[0], len(batch), time.monotonic() - started)
        offset = 0
        for job in batch:
            n = job.windows.shape[0]
            if not job.future.done():
                # A copy, so a request never holds a view into its batch-mates' memory.
                job.future.set_result(np.array(y[offset:offset + n], copy=True))
            offset += n

    async def aclose(self) -> None:
        """Stop the worker; requests still queued get :class:`QueueFull`."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for job in [*self._running, *self._jobs]:
            if not job.future.done():
                job.future.set_exception(QueueFull("the batcher shut down before this request ran"))
        self._jobs.clear()
        self._running = []
        self._queued_rows = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
