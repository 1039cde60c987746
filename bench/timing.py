"""Timing for the benchmarks: contenders run interleaved, warm-up excluded, median and p90.

Every contender is a callable that takes no argument (its input is bound in). Rounds run all
contenders one after the other, so load from other processes falls on all of them alike.

Example::

    >>> times = time_interleaved({"a": lambda: sum(range(1000))}, repeats=5, warmup=1)
    >>> summarize(times["a"])["median_ms"] > 0
    True
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np

__all__ = ["time_interleaved", "summarize", "set_threads"]


def set_threads(threads: int) -> None:
    """Make torch use ``threads`` intra-op threads (ONNX Runtime sessions take theirs at creation)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process; harmless
        pass


def time_interleaved(contenders: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 2,
                     progress=None) -> dict[str, list[float]]:
    """Seconds per call of each contender, ``repeats`` rounds after ``warmup`` untimed rounds.

    ``progress`` (a tqdm bar or None) is advanced once per call.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(warmup + repeats):
        for name, call in contenders.items():
            start = time.perf_counter()
            call()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                times[name].append(elapsed)
            if progress is not None:
                progress.update(1)
    return times


def summarize(seconds: list[float]) -> dict[str, float]:
    """``{"median_ms", "p90_ms", "min_ms", "runs"}`` of a list of durations in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "min_ms": float(ms.min()),
            "runs": int(ms.size)}
