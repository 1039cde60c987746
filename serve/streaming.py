"""``WS /v1/stream``: live audio over a WebSocket, an answer per hop, and at the end the offline answer.

Protocol (one stream per connection):

- connect to ``/v1/stream`` with query ``top_k`` (default 5), ``hop`` (window hop in samples,
  default the pipeline's), ``probabilities=true`` (whole vectors), ``sample_rate`` (optional; must
  be the model's: streams are not resampled);
- send binary messages of float32 little-endian mono PCM, any length each;
- the server sends ``{"type": "window", "start", "start_s", "top": [...]}`` for each window as it
  completes (the windows ``POST /v1/classify`` would cut from the whole clip);
- send the text ``{"type": "end"}`` (or ``end``): the server sends the last windows, then
  ``{"type": "result", "top", "windows", "sample_rate", "duration_s"}`` — what ``POST
  /v1/classify`` answers for the same audio (for a pipeline that truncates long clips, the first
  window's answer: every window is still answered as it completes) — and closes;
- a bad message gets ``{"type": "error", "message"}`` and close code 1008 (1009: too long).

Windows go through the server's micro-batcher, with the classify requests.

Example (``websockets`` client)::

    >>> async with websockets.connect("ws://127.0.0.1:8000/v1/stream?top_k=1") as ws:
    ...     await ws.send(audio[:1600].astype("<f4").tobytes())
    ...     await ws.send('{"type": "end"}')
    ...     print([json.loads(m) async for m in ws][-1]["top"])
"""

import json

import numpy as np

from audiofront.errors import AudiofrontError
from audiofront.runtime.streaming import SlidingWindows

__all__ = ["add_stream_route", "STREAM_PATH"]

STREAM_PATH = "/v1/stream"


def add_stream_route(app, pipeline, batcher, config, metrics=None) -> None:
    """Add ``WS /v1/stream`` to ``app`` (see the module doc); windows go through ``batcher``."""
    import time

    from fastapi import WebSocket
    from starlette.websockets import WebSocketDisconnect

    from audiofront.serve.server import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, _top

    labels = list(pipeline.labels)
    rate = int(pipeline.sample_rate)

    @app.websocket(STREAM_PATH)
    async def stream(websocket: WebSocket):
        started = time.monotonic()
        await websocket.accept()

        async def fail(message: str, code: int = 1008):
            await websocket.send_json({"type": "error", "message": message})
            await websocket.close(code=code)

        try:
            top_k = _query_int(websocket, "top_k", min(5, len(labels)), 1, len(labels))
            hop = _query_int(websocket, "hop", getattr(pipeline, "hop", None), 1, pipeline.clip_samples)
            want_probabilities = _query_bool(websocket, "probabilities")
            asked_rate = _query_int(websocket, "sample_rate", rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
        except _BadParameter as exc:
            return await fail(str(exc))
        if asked_rate != rate:
            return await fail(f"sample_rate must be the model's {rate} Hz for a stream (streams are not resampled), "
                              f"got {asked_rate}")
        # The pipeline's length policy: a short stream padded as POST /v1/classify pads it.
        windows = SlidingWindows(pipeline.clip_samples, hop, lengths=getattr(pipeline, "lengths", None))
        rows: list[np.ndarray] = []
        max_samples = int(config.max_seconds * rate)

        async def answer(cut) -> None:
            if not cut:
                return
            probs = await batcher.submit(np.concatenate([w for _, w in cut]))
            for (start, _), p in zip(cut, probs):
                rows.append(p)
                message = {"type": "window", "start": int(start), "start_s": round(start / rate, 6),
                           "top": _top(p, labels, top_k)}
                if want_probabilities:
                    message["probabilities"] = [float(v) for v in p]
                await websocket.send_json(message)

        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data, text = message.get("bytes"), message.get("text")
                if data is not None:
                    if len(data) % 4:
                        return await fail(f"binary messages must be float32 little-endian PCM (a multiple of 4 bytes), "
                                          f"got {len(data)} bytes")
                    audio = np.frombuffer(data, dtype="<f4").astype(np.float32)
                    if windows.total + audio.size > max_samples:
                        return await fail(f"the stream is longer than {config.max_seconds:g} s (--max-seconds)", 1009)
                    await answer(windows.push(audio[None, :]))
                elif text is not None:
                    try:
                        kind = text.strip() if text.strip() == "end" else json.loads(text).get("type")
                    except (ValueError, AttributeError):
                        kind = None
                    if kind != "end":
                        return await fail(f'text messages must be {{"type": "end"}}, got {text[:100]!r}')
                    break
            await answer(windows.flush())
        except WebSocketDisconnect:
            return
        except AudiofrontError as exc:
            return await fail(str(exc))
        # As POST /v1/classify: the mean of the stream's windows (the first only where the pipeline
        # truncates long clips), in float64, given as float32.
        rows = rows[: windows.lengths.answer_rows(len(rows))]
        probabilities = np.stack(rows).mean(axis=0, dtype=np.float64).astype(np.float32)
        result = {"type": "result", "top": _top(probabilities, labels, top_k), "windows": len(rows),
                  "sample_rate": rate, "duration_s": round(windows.total / rate, 6)}
        if want_probabilities:
            result["labels"] = labels
            result["probabilities"] = [float(v) for v in probabilities]
        await websocket.send_json(result)
        await websocket.close()
        if metrics is not None:
            metrics.observe_request(STREAM_PATH, 200, time.monotonic() - started)


class _BadParameter(ValueError):
    """A query parameter of the stream's URL that does not parse or is out of range."""


def _query_int(websocket, name: str, default, low: int, high: int):
    """Query parameter ``name`` as an int in [low, high] (``default`` when absent), as the POST endpoint checks it."""
    raw = websocket.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise _BadParameter(f"{name} must be an integer in [{low}, {high}], got {raw!r}")
    return value


def _query_bool(websocket, name: str) -> bool:
    raw = websocket.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false", "1", "0"):
        raise _BadParameter(f"{name} must be true or false, got {raw!r}")
    return raw.lower() in ("true", "1")
