"""Timing for the benchmarks: contenders run interleaved, warm-up excluded, median and p90.

Every contender is a callable that takes no argument (its input is bound in). Rounds run all
contenders one after the other, so load from other processes falls on all of them alike.

``settle=True`` (what ``audiofront bench`` uses) makes one untimed call of a contender right
before each of its timed calls. Without it, the first call after a switch of library pays for
the previous contender: torch's OpenMP and numpy's OpenBLAS threads keep spinning on the cores
after a call, and its buffers have left the caches. Measured on the 2-core CPU machine
(2026-12-02, every CPU contender of the latency benchmark in one process, interleaved):
audiofront's ONNX graph at 1 x 1 s took 1.11 / 0.89 ms (median / min) as the call after nnAudio's,
0.84 / 0.50 ms after a call of its own; torch eager at 16 x 1 s 16.5 / 9.6 ms against 7.5 / 6.1 ms.
A service calls one front-end over and over: the settled time is the one it sees.

Example::

    >>> times = time_interleaved({"a": lambda: sum(range(1000))}, repeats=5, warmup=1)
    >>> summarize(times["a"])["median_ms"] > 0
    True
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np

__all__ = ["time_interleaved", "time_cuda_events", "summarize", "set_threads"]


def set_threads(threads: int) -> None:
    """Make torch use ``threads`` intra-op threads (ONNX Runtime sessions take theirs at creation)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process; harmless
        pass


def time_interleaved(contenders: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 2,
                     settle: bool = False, progress=None) -> dict[str, list[float]]:
    """Seconds per call of each contender, ``repeats`` rounds after ``warmup`` untimed rounds.

    ``settle=True`` precedes every timed call with an untimed call of the same contender (see the
    module's docstring). ``progress`` (a tqdm bar or None) is advanced once per contender and round.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(warmup + repeats):
        for name, call in contenders.items():
            if settle and round_index >= warmup:
                call()
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                times[name].append(elapsed)
            if progress is not None:
                progress.update(1)
    return times


def time_cuda_events(contenders: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 2,
                     progress=None) -> dict[str, list[float]]:
    """Like :func:`time_interleaved`, but each call is timed by CUDA events on the current stream.

    The device is synchronised before each call, so a call's time runs from its first launch to
    its last kernel's end: what a caller waiting for the result sees, without the host's
    ``synchronize`` overhead. Needs a CUDA device.
    """
    import torch

    times: dict[str, list[float]] = {name: [] for name in contenders}
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for round_index in range(warmup + repeats):
        for name, call in contenders.items():
            torch.cuda.synchronize()
            start.record()
            call()
            end.record()
            end.synchronize()
            if round_index >= warmup:
                times[name].append(start.elapsed_time(end) / 1000.0)  # elapsed_time is in ms
            if progress is not None:
                progress.update(1)
    return times


def summarize(seconds: list[float]) -> dict[str, float]:
    """``{"median_ms", "p90_ms", "min_ms", "runs"}`` of a list of durations in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "min_ms": float(ms.min()),
            "runs": int(ms.size)}
