"""Streaming front-ends: audio in chunks of any size, exactly the frames the offline module gives.

:class:`Streaming` wraps any chain of frame-wise modules (those with ``frame_specs()``, see
:mod:`audiofront.frontend.framewise`): ``push(chunk)`` returns the frames that chunk completes,
``flush()`` the last ones; everything pushed and flushed, concatenated, equals
``frontend(whole_audio)`` frame for frame, for any chunk sizes (1 sample included).

How it works (one algorithm for torch and for the exported graph, :class:`StreamingStep`): each
step keeps the last ``history`` input steps in a state tensor and computes, per chunk, the frames
whose window the chunk completes. Positions are tracked per stream (samples seen, where the stream
ended), so each step's edge padding (centre reflect, delta edge repetition, zeros) is rebuilt by
index arithmetic exactly where the offline module pads. Frames before the stream start (pre-roll)
are dropped by the caller.

``center=True`` with reflect padding: offline frame 0 covers samples ``[-n_fft // 2, n_fft // 2)``
and mirrors samples ``1..n_fft // 2`` into its left half, so at the start a frame needs samples it
does not cover. ``center_start="reflect"`` (default) waits for them and is exact: one sample more
than the window for an even ``n_fft`` (``latency_samples`` says how much in all).
``center_start="zeros"`` pads the start with zeros instead, as a causal front-end would: no wait,
and only the first ``ceil((n_fft // 2) / hop_length)`` frames differ from offline. The end is
exact either way (``flush()`` mirrors the last samples as offline does).

Example::

    >>> from audiofront.frontend import MelSpectrogram
    >>> mel = MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40, center=False)
    >>> stream = Streaming(mel)
    >>> audio = torch.randn(2, 4000)
    >>> parts = [stream.push(audio[:, i:i + 333]) for i in range(0, 4000, 333)] + [stream.flush()]
    >>> torch.allclose(torch.cat(parts, dim=-1), mel(audio), atol=1e-5)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.framewise import FrameSpec, frame_specs_of

__all__ = ["Streaming", "StreamingStep", "StreamPlan", "plan_stream", "CENTER_STARTS"]

CENTER_STARTS = ("reflect", "zeros")

# State slot 1 holds 0 while a stream runs, else (end position relative to samples seen) + _OFFSET.
# Values stay small integers, exact in float32; _BIG stands for "no end yet".
_OFFSET = float(2**22)
_BIG = float(2**21)


@dataclass(frozen=True)
class _Stage:
    spec: FrameSpec
    left_mode: str
    right_mode: str
    hprod: int  # samples per input step of this stage
    offset: int  # position (in input steps) of the chunk's first step, less samples_seen / hprod
    history: int  # input steps kept between chunks
    delay: int  # input steps at the buffer's end read only as look-ahead (reflect at the start)
    skip: int  # buffer index of the first window
    feat_shape: tuple  # non-time dims of the input, time moved last
    state_size: int


@dataclass(frozen=True)
class StreamPlan:
    """The static facts of a streamed chain: steps, hop, state layout, offsets.

    ``hop`` samples give one output frame; chunks must be multiples of it. ``prefix`` zeros go in
    front of the stream so chunk boundaries fall where frames complete. Output frame indices of a
    chunk start at ``samples_seen // hop + first_frame`` (negative: pre-roll, dropped).
    """

    stages: tuple
    hop: int
    prefix: int
    first_frame: int
    samples_cap: int
    state_size: int
    output_shape: tuple  # natural output dims without batch, time dim = 0
    output_time_axis: int

    @property
    def latency_samples(self) -> int:
        """Output frame ``t`` is out once ``t * hop + latency_samples`` samples have arrived."""
        return (1 - self.first_frame) * self.hop - self.prefix

    def frames(self, samples: int) -> int:
        """Output frames of the offline module for ``samples`` samples (0 when too short)."""
        steps = samples
        for stage in self.stages:
            steps = stage.spec.frames(steps)
        return steps

    def describe_state(self) -> list[dict]:
        """The state layout: ``[{"name", "start", "size", "meaning"}, ...]`` along dim 1."""
        out = [
            {"name": "samples_seen", "start": 0, "size": 1, "meaning": f"samples received (capped at {self.samples_cap})"},
            {"name": "end", "start": 1, "size": 1,
             "meaning": f"0 while the stream runs, else its end relative to samples_seen plus {int(_OFFSET)}"},
        ]
        start = 2
        for i, stage in enumerate(self.stages):
            if stage.state_size:
                out.append({"name": f"history.{i}.{stage.spec.name}", "start": start, "size": stage.state_size,
                            "meaning": f"last {stage.history} input steps of step {stage.spec.name!r}, "
                                       f"shape {list(stage.feat_shape) + [stage.history]}"})
                start += stage.state_size
        return out


def _stages_for(specs, center_start: str, prefix: int):
    stages, offset, hprod = [], -prefix, 1
    for spec in specs:
        W, H, pl, pr = spec.window, spec.hop, spec.pad_left, spec.pad_right
        left, right = spec.left_mode, spec.right_mode
        if center_start == "zeros" and hprod == 1 and pl > 0:
            left = "constant"
        need = 0
        if pl and left == "reflect":
            need = 2 * pl + 1 - W  # frame 0 mirrors samples up to pl
        elif pl and left == "replicate":
            need = pl + 1 - W
        need = max(need, 0, pl + H - W + offset)  # frame 0 must come out of the first chunk
        delay = need + (offset - W + pl - need) % H  # windows start on the offline frame grid
        extra = H * math.ceil((pr + 1) / H) if pr and right != "constant" else 0  # mirror at the end
        history = max(0, W - H + delay + extra)
        skip = history - delay - W + H
        stages.append(dict(spec=spec, left_mode=left, right_mode=right, hprod=hprod, offset=offset,
                           history=history, delay=delay, skip=skip))
        offset = (offset - delay - W + H + pl) // H
        hprod *= H
    return stages, offset, hprod


def plan_stream(frontend: nn.Module, *, center_start: str = "reflect") -> StreamPlan:
    """Plan the streaming of ``frontend``; raises :class:`ConfigError` saying why it cannot stream."""
    if center_start not in CENTER_STARTS:
        raise ConfigError(f"center_start must be one of {CENTER_STARTS}, got {center_start!r}")
    specs = frame_specs_of(frontend)
    if not specs:
        raise ConfigError(f"{type(frontend).__name__} has no frame-wise steps: there is nothing to stream")
    _, _, hop = _stages_for(specs, center_start, 0)
    best = None
    for prefix in range(hop):  # the phase of chunk boundaries that gives the least latency
        raw, first, _ = _stages_for(specs, center_start, prefix)
        latency = (1 - first) * hop - prefix
        if best is None or latency < best[0]:
            best = (latency, prefix, raw, first)
    _, prefix, raw, first = best

    # Dry run, one window per step, for the feature shapes the state must hold.
    stages, shape, state_size = [], (), 2
    x = torch.zeros(1, raw[0]["spec"].window)
    for item in raw:
        spec = item["spec"]
        with torch.no_grad():
            xt = x.movedim(spec.time_axis, -1)
            feat = tuple(xt.shape[1:-1])
            if xt.shape[-1] != spec.window:
                xt = xt[..., :1].expand(*xt.shape[:-1], spec.window).contiguous()
            y = spec.compute(xt.movedim(-1, spec.time_axis))
        if y.shape[spec.output_time_axis] != 1:
            raise ConfigError(f"step {spec.name!r}: one window of {spec.window} steps gave "
                              f"{y.shape[spec.output_time_axis]} frames, not 1; its FrameSpec is wrong")
        size = int(math.prod(feat)) * item["history"]
        stages.append(_Stage(feat_shape=feat, state_size=size, **item))
        state_size += size
        x = y
    out_axis = raw[-1]["spec"].output_time_axis
    out_shape = list(x.shape[1:])
    out_shape[out_axis] = 0
    cap = max((st.history - st.offset) * st.hprod for st in stages)
    cap = hop * (max(0, math.ceil(cap / hop)) + 1)
    return StreamPlan(stages=tuple(stages), hop=hop, prefix=prefix, first_frame=first, samples_cap=cap,
                      state_size=state_size, output_shape=tuple(out_shape), output_time_axis=out_axis)


def _edge_map(buf, stage: _Stage, pos, end):
    """Rebuild the offline edge padding inside ``buf`` ``(B, F, N)``: positions before 0 / at or after
    ``end`` become what the step's pad mode puts there (zeros, mirror, edge repeated)."""
    spec, n = stage.spec, buf.shape[-1]
    j = torch.arange(n, dtype=buf.dtype, device=buf.device).unsqueeze(0)
    j0 = stage.history - stage.offset - pos  # buffer index of position 0, (B, 1)
    je = stage.history - stage.offset + end  # buffer index of the end position
    out = buf
    left = spec.pad_left > 0 and stage.left_mode != "constant"
    right = spec.pad_right > 0 and stage.right_mode != "constant"
    if left or right:
        idx = j.expand(buf.shape[0], n)
        if left:
            idx = torch.maximum(idx, j0) if stage.left_mode == "replicate" else torch.where(idx < j0, 2 * j0 - idx, idx)
        if right:
            last = je - 1
            idx = torch.minimum(idx, last) if stage.right_mode == "replicate" else torch.where(idx > last, 2 * last - idx, idx)
        idx = idx.clamp(0, n - 1).to(torch.int64)
        out = torch.gather(buf, 2, idx.unsqueeze(1).expand(-1, buf.shape[1], -1))
    keep = None
    if spec.pad_left > 0 and stage.left_mode == "constant":
        keep = j >= j0
    if spec.pad_right > 0 and stage.right_mode == "constant":
        keep = (j < je) if keep is None else keep & (j < je)
    if keep is not None:
        out = torch.where(keep.unsqueeze(1), out, torch.zeros_like(out))
    return out


class StreamingStep(nn.Module):
    """One chunk of a stream: ``(chunk (B, C), state (B, S), valid (B,)) -> (frames, next_state)``.

    ``C`` is a multiple of ``plan.hop``; frames are ``(B, ..., C // hop)`` in the front-end's
    output layout. ``valid`` is the samples of the chunk before the stream's end (``C`` while it
    runs; the first call with fewer marks the end; later calls' ``valid`` are ignored). A new
    stream's state is zeros. This module is what :func:`~audiofront.export.export_streaming_onnx`
    exports; :class:`Streaming` drives it in torch.
    """

    def __init__(self, frontend: nn.Module, plan: StreamPlan):
        super().__init__()
        self.frontend = frontend
        self.plan = plan

    def initial_state(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(batch, self.plan.state_size, device=device)

    def forward(self, chunk: torch.Tensor, state: torch.Tensor, valid: torch.Tensor):
        plan = self.plan
        size = chunk.shape[-1]
        seen = state[:, 0:1]
        running = state[:, 1:2] < 0.5
        v = valid.to(state.dtype).reshape(-1, 1)
        rel_end = torch.where(running, torch.where(v < size, v - plan.prefix, torch.full_like(v, _BIG)),
                              state[:, 1:2] - _OFFSET)
        ended = rel_end < _BIG / 2
        end = rel_end
        x = chunk.to(state.dtype)
        new_state = []
        start = 2
        for stage in plan.stages:
            spec = stage.spec
            pos = seen / stage.hprod
            xt = x.movedim(spec.time_axis, -1)
            flat = xt.reshape(xt.shape[0], -1, xt.shape[-1])
            if stage.history:
                hist = state[:, start:start + stage.state_size].reshape(flat.shape[0], flat.shape[1], stage.history)
                start += stage.state_size
                buf = torch.cat([hist, flat], dim=-1)
                new_state.append(buf[..., buf.shape[-1] - stage.history:].reshape(flat.shape[0], -1))
            else:
                buf = flat
            if spec.pad_left or spec.pad_right:
                buf = _edge_map(buf, stage, pos, end)
            n = buf.shape[-1]
            buf = buf[..., stage.skip:n - stage.delay]
            x = spec.compute(buf.reshape(xt.shape[:-1] + (buf.shape[-1],)).movedim(-1, spec.time_axis))
            hprod_next = stage.hprod * spec.hop
            steps = torch.floor((end + spec.pad_left + spec.pad_right - spec.window) / spec.hop) + 1
            end = torch.where(ended, torch.maximum(steps, -seen / hprod_next), torch.full_like(end, _BIG))
        seen_next = torch.clamp(seen + size, max=float(plan.samples_cap))
        end_next = torch.where(ended, torch.clamp(rel_end - size, min=-_BIG) + _OFFSET, torch.zeros_like(rel_end))
        return x, torch.cat([seen_next, end_next] + new_state, dim=1)


class Streaming:
    """Feed audio as it arrives, get exactly the frames ``frontend(whole_audio)`` gives.

    ``push(chunk)``: ``chunk`` ``(samples,)`` or ``(batch, samples)`` (any length, also 0 or 1)
    ``-> (batch, ..., new_frames)`` in the front-end's output layout; ``flush()`` ends the stream
    and returns the last frames; ``reset()`` starts a new stream (also with another batch size).
    Each row of a batch is its own stream. ``latency_samples``: output frame ``t`` comes out once
    ``t * hop + latency_samples`` samples have been pushed (``n_fft`` for a plain STFT with
    ``center=False``; more for look-ahead such as deltas or the reflect wait).

    ``center_start`` (only matters for a centred, reflect-padded STFT): ``"reflect"`` waits for
    the samples the offline mirror needs and is exact; ``"zeros"`` pads the start with zeros (the
    first ``ceil((n_fft // 2) / hop)`` frames differ from offline, no extra latency).

    Raises :class:`ConfigError` for modules that need the whole utterance (per-utterance
    normalisation, ``top_db``), with the reason.

    Example::

        >>> from audiofront.frontend import MelSpectrogram, ComputeDeltas
        >>> fe = torch.nn.Sequential(MelSpectrogram(n_fft=512, hop_length=160, n_mels=40), ComputeDeltas())
        >>> stream, audio = Streaming(fe), torch.randn(8000)
        >>> out = torch.cat([stream.push(audio[:5000]), stream.push(audio[5000:]), stream.flush()], dim=-1)
        >>> torch.allclose(out, fe(audio), atol=1e-4), stream.latency_samples
        (True, 577)
    """

    def __init__(self, frontend: nn.Module, *, center_start: str = "reflect"):
        self.frontend = frontend
        self.center_start = center_start
        self.plan = plan_stream(frontend, center_start=center_start)
        self.step = StreamingStep(frontend, self.plan)
        self.reset()

    @property
    def latency_samples(self) -> int:
        return self.plan.latency_samples

    @property
    def hop_length(self) -> int:
        """Samples per output frame."""
        return self.plan.hop

    def reset(self) -> None:
        """Forget everything: the next push starts a new stream (of any batch size)."""
        self._lead = None
        self._state = None
        self._pending = None
        self._seen = 0  # samples given to the step (prefix included)
        self._total = 0  # real samples pushed
        self._done = False

    def _device(self):
        for t in self.frontend.state_dict().values():
            return t.device
        return torch.device("cpu")

    def _start(self, lead) -> None:
        batch = int(math.prod(lead))
        self._lead = tuple(lead)
        self._state = self.step.initial_state(batch, self._device())
        self._pending = torch.zeros(batch, self.plan.prefix, device=self._state.device)

    def _empty(self) -> torch.Tensor:
        shape = (len(self._pending),) + self.plan.output_shape
        return torch.zeros(shape, device=self._state.device)

    def _finish(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.reshape(self._lead + tuple(frames.shape[1:]))

    def _run(self, chunk: torch.Tensor, valid: int, last: int | None) -> torch.Tensor:
        with torch.no_grad():
            frames, self._state = self.step(chunk, self._state, torch.full((len(chunk),), valid, dtype=torch.int64))
        first = self._seen // self.plan.hop + self.plan.first_frame
        self._seen += chunk.shape[-1]
        count = frames.shape[self.plan.output_time_axis]
        lo = min(count, max(0, -first))
        hi = count if last is None else max(lo, min(count, last - first))
        return frames.narrow(self.plan.output_time_axis % frames.ndim, lo, hi - lo)

    def push(self, chunk: torch.Tensor) -> torch.Tensor:
        """The frames ``chunk`` completes: ``(samples,)`` / ``(batch, samples)`` -> ``(batch, ..., frames)``."""
        if self._done:
            raise InputError("this stream was flushed; call reset() to start a new one")
        if not isinstance(chunk, torch.Tensor) or not chunk.is_floating_point() or chunk.ndim < 1:
            raise InputError(f"chunk must be a float tensor (samples,) or (batch, samples), got "
                             f"{getattr(chunk, 'dtype', type(chunk).__name__)} {tuple(getattr(chunk, 'shape', ()))}")
        lead = tuple(chunk.shape[:-1])
        if self._lead is None:
            self._start(lead)
        elif lead != self._lead:
            raise InputError(f"chunk has leading shape {lead}, but this stream started with {self._lead}; "
                             "call reset() to change the batch")
        flat = chunk.reshape(len(self._pending), chunk.shape[-1]).to(self._state)
        if not torch.isfinite(flat).all():
            raise InputError("chunk contains NaN or infinite samples")
        self._total += flat.shape[-1]
        self._pending = torch.cat([self._pending, flat], dim=-1)
        ready = (self._pending.shape[-1] // self.plan.hop) * self.plan.hop
        if not ready:
            return self._finish(self._empty())
        frames = self._run(self._pending[:, :ready], ready, None)
        self._pending = self._pending[:, ready:]
        return self._finish(frames)

    def flush(self) -> torch.Tensor:
        """End the stream; the frames still owed, so that everything equals the offline output."""
        if self._done:
            raise InputError("this stream was already flushed; call reset() to start a new one")
        if self._lead is None:
            raise InputError("flush() before any push(): the batch shape is unknown")
        self._done = True
        self._check_length()
        total = self.plan.frames(self._total)
        left = self._pending.shape[-1]
        need = total - (self._seen // self.plan.hop + self.plan.first_frame)
        size = self.plan.hop * max(1, math.ceil(left / self.plan.hop), need)
        chunk = torch.nn.functional.pad(self._pending, (0, size - left))
        return self._finish(self._run(chunk, left, total))

    def _check_length(self) -> None:
        steps = self._total
        for stage in self.plan.stages:
            spec = stage.spec
            for pad, mode, side in ((spec.pad_left, stage.left_mode, "left"), (spec.pad_right, stage.right_mode, "right")):
                if pad and mode == "reflect" and steps <= pad and steps > 0:
                    raise InputError(f"the stream ended after {self._total} samples: step {spec.name!r} mirrors {pad} "
                                     f"steps at its {side} edge and needs more than {pad} input steps, got {steps}")
            steps = spec.frames(steps)
