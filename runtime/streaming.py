"""Streams at run time: a streaming front-end graph driven chunk by chunk, and classification per hop.

- :class:`StreamSession` drives a graph from :func:`~audiofront.export.export_streaming_onnx`
  (or a frame-wise pipeline built on one) for a batch of streams: ``push(chunk) -> new frames``,
  ``flush()``, ``reset()``; it re-cuts any chunk sizes into the graph's fixed chunk and follows the
  metadata contract (prefix, pre-roll, ``valid_samples`` at the end), so the frames equal the
  offline front-end's.
- :class:`SlidingWindows` cuts streams into the windows :meth:`Pipeline.classify` would cut from
  the whole clip (``clip_samples`` long, every ``hop``; a short clip zero-padded, or given at its
  own length to a graph that pads it itself; a last window aligned to the end), as they complete.
- :class:`PipelineStream` (``Pipeline.stream()``): windows through the pipeline as they complete,
  probabilities per hop, and at the end the same :class:`Classification` as ``classify``.
  Each window runs the pipeline's own graph: the front-end of an offline-trained classifier pads
  each window's edges (``center=True``), which frames of one continuous stream cannot reproduce,
  so this is the route that answers exactly as offline.

Example (``pipeline`` from ``Pipeline.load``; ``audio`` mono at ``pipeline.sample_rate``)::

    >>> stream = pipeline.stream(hop=pipeline.clip_samples // 2)
    >>> per_hop = [w for i in range(0, len(audio), 1600) for w in stream.push(audio[None, i:i + 1600])]
    >>> per_hop += stream.flush()
    >>> stream.classifications(top_k=1)[0].top == pipeline.classify([audio], top_k=1)[0].top
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from audiofront.errors import ConfigError, InputError, ModelFileError

__all__ = ["StreamSession", "SlidingWindows", "PipelineStream", "WindowResult"]


def _as_batch(chunk, name: str = "chunk") -> tuple[np.ndarray, bool]:
    """``(samples,)`` or ``(batch, samples)`` float audio -> ``(batch, samples)`` float32, was-1-D."""
    if hasattr(chunk, "detach"):
        chunk = chunk.detach().cpu().numpy()
    chunk = np.asarray(chunk)
    if chunk.dtype.kind != "f":
        raise InputError(f"{name} must hold float samples, got dtype {chunk.dtype}")
    if chunk.ndim not in (1, 2):
        raise InputError(f"{name} must have shape (samples,) or (batch, samples), got {chunk.shape}")
    single = chunk.ndim == 1
    chunk = np.ascontiguousarray(chunk.reshape(1, -1) if single else chunk, dtype=np.float32)
    if not np.isfinite(chunk).all():
        raise InputError(f"{name} contains NaN or infinite samples")
    return chunk, single


class StreamSession:
    """Run a streaming graph over a batch of streams: ``(batch, samples)`` chunks in, frames out.

    ``source`` is the graph's path (or a :class:`~audiofront.runtime.Runner` over it, with the
    metadata passed as ``metadata``). ``push(chunk)`` -> ``(batch, bins, new_frames)``;
    ``flush()`` ends every stream and returns the last frames; ``reset()`` starts new streams.
    """

    def __init__(self, source, *, metadata: dict | None = None, threads: int | None = None):
        if isinstance(source, (str, os.PathLike)):
            from audiofront.export.metadata import read_metadata
            from audiofront.runtime.onnxruntime_runner import OnnxRuntimeRunner

            metadata = read_metadata(source) if metadata is None else metadata
            self.runner = OnnxRuntimeRunner(source, intra_op_num_threads=threads)
        else:
            self.runner = source
        if not metadata or metadata.get("audiofront.streaming") != "true":
            raise ModelFileError(f"{source!r} is not a streaming graph (no audiofront.streaming metadata); "
                                 "export one with audiofront.export.export_streaming_onnx")
        get = lambda key: int(metadata[f"audiofront.{key}"])  # noqa: E731
        self.metadata = dict(metadata)
        self.chunk_samples = get("stream_chunk_samples")
        self.hop = get("stream_hop")
        self.frames_per_chunk = get("stream_frames_per_chunk")
        self.first_frame = get("stream_first_frame")
        self.prefix = get("stream_prefix_samples")
        self.state_size = get("stream_state_size")
        self.latency_samples = get("stream_latency_samples")
        self.sample_rate = get("sample_rate")
        from audiofront.export.metadata import eval_frames

        self._frames = lambda samples: max(0, eval_frames(metadata["audiofront.frames"], samples))
        self.runner.activate()
        # "features", or a frame-wise classifier's output when prepend put one after the front-end.
        self.output_name = next(s.name for s in self.runner.output_specs if s.name != "next_state")
        self.reset()

    def reset(self) -> None:
        self._state = self._pending = None
        self._calls = self._total = 0
        self._done = False

    def close(self) -> None:
        self.runner.deactivate()

    def __enter__(self) -> "StreamSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _run(self, block: np.ndarray, valid: int, last: int | None) -> np.ndarray:
        out = self.runner.infer({"audio_chunk": block, "state": self._state,
                                 "valid_samples": np.full(len(block), valid, np.int64)})
        self._state = out["next_state"]
        index = self._calls * self.frames_per_chunk + self.first_frame + np.arange(self.frames_per_chunk)
        self._calls += 1
        keep = (index >= 0) if last is None else (index >= 0) & (index < last)
        return out[self.output_name][..., keep]

    def push(self, chunk) -> np.ndarray:
        """The frames this chunk completes, ``(batch, bins, frames)`` (``frames`` may be 0)."""
        if self._done:
            raise InputError("these streams were flushed; call reset() to start new ones")
        chunk, _ = _as_batch(chunk)
        if self._state is None:
            self._state = np.zeros((len(chunk), self.state_size), np.float32)
            self._pending = np.zeros((len(chunk), self.prefix), np.float32)
        elif len(chunk) != len(self._pending):
            raise InputError(f"chunk has {len(chunk)} streams, these streams started with {len(self._pending)}")
        self._total += chunk.shape[1]
        self._pending = np.concatenate([self._pending, chunk], axis=1)
        parts = []
        while self._pending.shape[1] >= self.chunk_samples:
            parts.append(self._run(self._pending[:, :self.chunk_samples], self.chunk_samples, None))
            self._pending = self._pending[:, self.chunk_samples:]
        if parts:
            return np.concatenate(parts, axis=-1)
        return np.zeros((len(self._pending), int(self.metadata.get("audiofront.n_bins", 0)), 0), np.float32)

    def flush(self) -> np.ndarray:
        """End the streams: the frames still owed, so that everything equals the offline output."""
        if self._state is None or self._done:
            raise InputError("flush() needs a push() first (and only once per stream)")
        self._done = True
        total = self._frames(self._total)
        valid = self._pending.shape[1]
        parts = [self._run(np.pad(self._pending, ((0, 0), (0, self.chunk_samples - valid))), valid, total)]
        while self._calls * self.frames_per_chunk + self.first_frame < total:
            parts.append(self._run(np.zeros((len(self._pending), self.chunk_samples), np.float32), 0, total))
        return np.concatenate(parts, axis=-1)


@dataclass(frozen=True)
class WindowResult:
    """One window's answer: ``stream`` (row), ``start`` (sample), ``probabilities`` ``(n_classes,)``."""

    stream: int
    start: int
    probabilities: np.ndarray


class SlidingWindows:
    """Cut ``(batch, samples)`` streams into ``Pipeline.classify``'s windows as they complete.

    ``push(chunk) -> [(start, windows (batch, clip_samples)), ...]``; ``flush()`` gives the windows
    offline adds at the end (a short clip zero-padded, a last window aligned to the end).
    ``lengths`` (a pipeline's :class:`~audiofront.runtime.lengths.LengthPolicy`) says how a short
    clip is padded (``None``: zeros to ``clip_samples``); the windows of a long one are always all
    given (a policy that truncates keeps the first for its answer: ``lengths.answer_rows``).
    """

    def __init__(self, clip_samples: int, hop: int | None = None, *, lengths=None):
        from audiofront.runtime.audio import _check_hop
        from audiofront.runtime.lengths import LengthPolicy

        if isinstance(clip_samples, bool) or not isinstance(clip_samples, int) or clip_samples < 1:
            raise ConfigError(f"clip_samples must be a positive integer, got {clip_samples!r}")
        if lengths is None:
            lengths = LengthPolicy(clip_samples)
        elif not isinstance(lengths, LengthPolicy) or lengths.clip_samples != clip_samples:
            raise ConfigError(f"lengths must be a LengthPolicy for clip_samples={clip_samples}, got {lengths!r}")
        self.clip_samples = clip_samples
        self.lengths = lengths
        self.hop = _check_hop(hop, clip_samples)
        self.reset()

    def reset(self) -> None:
        self._buffer = None
        self._origin = 0  # stream sample at self._buffer[:, 0]
        self._next = 0  # start of the next window
        self.total = 0
        self.done = False

    def push(self, chunk) -> list[tuple[int, np.ndarray]]:
        if self.done:
            raise InputError("this stream was flushed; call reset() to start a new one")
        chunk, _ = _as_batch(chunk)
        if self._buffer is None:
            self._buffer = np.zeros((len(chunk), 0), np.float32)
        elif len(chunk) != len(self._buffer):
            raise InputError(f"chunk has {len(chunk)} streams, this stream started with {len(self._buffer)}")
        self._buffer = np.concatenate([self._buffer, chunk], axis=1)
        self.total += chunk.shape[1]
        out = []
        while self._next + self.clip_samples <= self.total:
            at = self._next - self._origin
            out.append((self._next, self._buffer[:, at:at + self.clip_samples].copy()))
            self._next += self.hop
        # Keep what later windows, and the end-aligned last one, may still need.
        keep_from = min(self._next, max(0, self.total - self.clip_samples))
        self._buffer = self._buffer[:, keep_from - self._origin:]
        self._origin = keep_from
        return out

    def flush(self) -> list[tuple[int, np.ndarray]]:
        if self.done or self._buffer is None or self.total == 0:
            raise InputError("flush() needs audio: push at least one sample first (and flush once)")
        self.done = True
        if self.total < self.clip_samples:
            return [(0, self.lengths.pad_short(self._buffer))]
        last = self._next - self.hop  # start of the last window given
        if self.total > self.clip_samples and last + self.clip_samples < self.total:
            start = self.total - self.clip_samples
            return [(start, self._buffer[:, start - self._origin:].copy())]
        return []


class PipelineStream:
    """Classify streams per hop with a :class:`~audiofront.runtime.Pipeline` (see the module doc).

    ``push(chunk)`` / ``flush()`` -> ``[WindowResult, ...]`` (the windows completed, all streams,
    one ``predict`` call); ``classifications(top_k)`` after ``flush()``: per stream, the mean over
    its windows (the first only where the pipeline's ``long_clips`` is ``"truncate"``), equal to
    ``pipeline.classify`` of the whole clip.
    """

    def __init__(self, pipeline, *, hop: int | None = None, predict: Callable | None = None):
        self.pipeline = pipeline
        self.windows = SlidingWindows(pipeline.clip_samples, hop, lengths=getattr(pipeline, "lengths", None))
        self._predict = predict or pipeline.predict
        self._probs: list[list[np.ndarray]] = []

    @property
    def hop(self) -> int:
        return self.windows.hop

    def reset(self) -> None:
        self.windows.reset()
        self._probs = []

    def _answer(self, cut) -> list[WindowResult]:
        if not cut:
            return []
        batch = len(cut[0][1])
        probs = self._predict(np.concatenate([w for _, w in cut]))
        if not self._probs:
            self._probs = [[] for _ in range(batch)]
        out = []
        for k, (start, _) in enumerate(cut):
            for i in range(batch):
                p = probs[k * batch + i]
                self._probs[i].append(p)
                out.append(WindowResult(i, start, p))
        return out

    def push(self, chunk) -> list[WindowResult]:
        return self._answer(self.windows.push(chunk))

    def flush(self) -> list[WindowResult]:
        return self._answer(self.windows.flush())

    def classifications(self, top_k: int = 5) -> list:
        """Per stream, the :class:`Classification` ``pipeline.classify`` gives for the whole clip."""
        from audiofront.runtime.pipeline import Classification

        if not self.windows.done:
            raise InputError("classifications() comes after flush(): the last windows are not in yet")
        labels = self.pipeline.labels
        out = []
        lengths = self.windows.lengths
        for i, rows in enumerate(self._probs):
            rows = rows[: lengths.answer_rows(len(rows))]
            mean = np.stack(rows).mean(axis=0, dtype=np.float64).astype(np.float32)
            order = np.argsort(-mean, kind="stable")[: min(top_k, len(labels))]
            truncated = self.windows.total > self.windows.clip_samples and lengths.long_clips == "truncate"
            out.append(Classification(f"stream {i}", [(labels[j], float(mean[j])) for j in order], mean, None,
                                      len(rows), truncated))
        return out
