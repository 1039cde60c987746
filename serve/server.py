"""``audiofront serve``: an ASGI app (FastAPI) over a runtime :class:`~audiofront.runtime.Pipeline`.

Endpoints:

- ``POST /v1/classify``: the body is an audio file (wav/flac/ogg/mp3; ``Content-Type: audio/*`` or
  ``application/octet-stream``) or raw float32 little-endian PCM (``Content-Type:
  application/x-pcm-f32``, with ``?sample_rate=`` and optional ``&channels=`` for interleaved
  channels). Query: ``top_k`` (default 5), ``probabilities=true`` to get the whole vector.
  Answers ``{"top": [{"label", "probability"}...], "windows", "sample_rate", "duration_s"}``.
- ``GET /healthz``: model facts and queue depth. ``GET /metrics``: Prometheus text.
- ``WS /v1/stream``: live audio, an answer per hop and the offline answer at the end
  (:mod:`audiofront.serve.streaming`).

Requests arriving together are micro-batched (:class:`~audiofront.serve.batching.MicroBatcher`);
each request's probabilities are the mean over its own windows only. A clip is fitted to the model
by ``pipeline.prepare``, as ``Pipeline.classify`` fits it (a preset pipeline takes a short clip at
its own length and a long one's first window: :mod:`audiofront.runtime.lengths`); ``/healthz``
says which (``long_clips``). Limits give clear errors,
all as ``{"error", "status"}`` JSON: 413 (body or clip too large), 415 (media type), 400 (corrupt
audio, bad query), 408 (the body did not arrive within ``body_timeout_s``), 404/405 (no such
endpoint or method), 503 with ``Retry-After`` (more than ``max_queue`` requests in flight). A
client that disconnects mid-body is logged at debug level and gets no answer (there is no one to
answer); it is counted as status 499, as nginx does.

Example::

    >>> app = create_app(Pipeline.load("piano.onnx"), ServeConfig(max_batch=16, max_wait_ms=5))
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations (``Request``)
# as objects, and fastapi is imported inside create_app so this module imports without the serve extra.
import asyncio
import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from audiofront.errors import ConfigError, InputError, InputTooLong
from audiofront.runtime.audio import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from audiofront.serve.batching import MicroBatcher, QueueFull
from audiofront.serve.metrics import ServeMetrics

__all__ = ["ServeConfig", "create_app", "ServerThread", "PCM_MEDIA_TYPE", "FILE_MEDIA_TYPES"]

log = logging.getLogger("audiofront.serve")

PCM_MEDIA_TYPE = "application/x-pcm-f32"
# Media types decoded by soundfile (it sniffs the container, so the exact audio/* subtype is a hint).
FILE_MEDIA_TYPES = ("audio/*", "application/octet-stream")
# Status recorded for a client that closed its connection before its body arrived (nginx's 499).
CLIENT_CLOSED = 499
# Raw PCM bodies up to this size (2 s of mono audio at 32 kHz) are prepared on the event loop.
INLINE_PCM_BYTES = 256 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Batching and limits of one server.

    ``max_batch`` windows per predict call, ``max_wait_ms`` the longest a request waits for
    batch-mates, ``max_queue`` classify requests in flight before 503, ``max_body_mb`` the largest
    body (MiB), ``max_seconds`` the longest clip, ``retry_after_s`` the hint sent with a 503,
    ``body_timeout_s`` the longest a body may take to arrive (then 408: a stalled client must not
    hold one of the ``max_queue`` slots).
    """

    max_batch: int = 16
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_body_mb: float = 32.0
    max_seconds: float = 60.0
    retry_after_s: int = 1
    body_timeout_s: float = 10.0

    def __post_init__(self):
        for name in ("max_batch", "max_queue", "retry_after_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name, high in (("max_wait_ms", 10_000), ("max_body_mb", 4096), ("max_seconds", 86_400),
                           ("body_timeout_s", 3600)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high or (
                name != "max_wait_ms" and value == 0
            ):
                raise ConfigError(f"{name} must be a number in {'[0' if name == 'max_wait_ms' else '(0'}, {high}], "
                                  f"got {value!r}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


def _http_error(status: int, message: str, headers: dict[str, str] | None = None) -> "HTTPException":
    from fastapi import HTTPException

    return HTTPException(status_code=status, detail=message, headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> "JSONResponse":
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def _media_type(request: "Request") -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _validation_message(exc, ranges: dict[str, tuple[int, int]]) -> str:
    """One line per bad query parameter, naming it and its allowed values (FastAPI's own check found it)."""
    parts = []
    for error in exc.errors():
        loc = [str(x) for x in error.get("loc", ())]
        name = loc[-1] if loc else "?"
        got = error.get("input")
        if name in ranges:
            low, high = ranges[name]
            parts.append(f"query parameter {name} must be an integer in [{low}, {high}], got {got!r}")
        elif error.get("type") == "bool_parsing":
            parts.append(f"query parameter {name} must be true or false, got {got!r}")
        else:
            parts.append(f"{' '.join(loc)}: {error.get('msg')} (got {got!r})")
    return "; ".join(parts) or "bad request"


async def _read_body(request: "Request", limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _http_error(413, f"body of {int(declared)} bytes exceeds the limit of {limit} bytes (--max-body-mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # stop reading: a client without Content-Length must not fill our memory
            raise _http_error(413, f"body exceeds the limit of {limit} bytes (--max-body-mb)")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_pcm(body: bytes, sample_rate: int, channels: int, max_seconds: float) -> np.ndarray:
    frame_bytes = 4 * channels
    if len(body) % frame_bytes:
        raise _http_error(400, f"raw PCM body of {len(body)} bytes is not a whole number of float32 frames "
                              f"of {channels} channel(s) ({frame_bytes} bytes each)")
    frames = len(body) // frame_bytes
    if frames / sample_rate > max_seconds:
        raise _http_error(413, f"clip of {frames / sample_rate:.2f} s exceeds the limit of {max_seconds:g} s "
                              f"(--max-seconds)")
    audio = np.frombuffer(body, dtype="<f4").astype(np.float32)
    return audio.reshape(frames, channels)


def _decode_file(body: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    from audiofront.runtime.audio import load_audio

    try:
        audio, sample_rate = load_audio(body, max_seconds=max_seconds)
    except InputTooLong as exc:
        raise _http_error(413, f"{exc} (--max-seconds)") from None
    except InputError as exc:
        raise _http_error(400, f"cannot decode the audio file: {exc}") from None
    return audio.T, int(sample_rate)  # (frames, channels), as raw PCM arrives


def _top(probabilities: np.ndarray, labels: list[str], k: int) -> list[dict]:
    # Stable sort on the negated values: ties keep label order, as a reader would expect.
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"label": labels[i], "probability": float(probabilities[i])} for i in order]


def create_app(pipeline, config: Optional[ServeConfig] = None, *, model_name: str = "model") -> "FastAPI":
    """The FastAPI app over ``pipeline`` (anything with ``prepare``, ``predict``, ``labels``,
    ``sample_rate``, ``clip_samples``, ``backend``). The app does not close the pipeline."""
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect

    config = config or ServeConfig()
    metrics = ServeMetrics()
    batcher = MicroBatcher(pipeline.predict, max_batch=config.max_batch, max_wait_ms=config.max_wait_ms,
                           on_batch=metrics.observe_batch)
    labels = list(pipeline.labels)
    state = {"inflight": 0}
    ranges = {"top_k": (1, len(labels)), "sample_rate": (MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
              "channels": (1, MAX_CHANNELS)}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await batcher.aclose()

    app = FastAPI(title="audiofront serve", version="1", lifespan=lifespan)
    app.state.pipeline, app.state.config, app.state.metrics, app.state.batcher = pipeline, config, metrics, batcher
    endpoints = ("/healthz", "/metrics", "/v1/classify")

    def finish(endpoint: str, started: float, response: Response, request: Request) -> Response:
        metrics.observe_request(endpoint, response.status_code, time.monotonic() - started)
        request_id = request.headers.get("x-request-id")
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id[:200]
        return response

    def endpoint_of(request: Request) -> str:
        # Unknown paths share one label: a scanner must not grow the metrics without bound.
        return request.url.path if request.url.path in endpoints else "(unmatched)"

    # Errors raised before an endpoint runs (unknown path 404, wrong method 405, a query parameter
    # outside its Query(ge=, le=) range) get the same {"error", "status"} JSON as the endpoint's own.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"no endpoint {request.url.path} (there are {', '.join(endpoints)})"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return finish(endpoint_of(request), time.monotonic(), _error(exc.status_code, message, exc.headers), request)

    @app.exception_handler(RequestValidationError)
    async def bad_query(request: Request, exc: RequestValidationError) -> Response:
        return finish(endpoint_of(request), time.monotonic(), _error(400, _validation_message(exc, ranges)), request)

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        started = time.monotonic()
        body = {
            "status": "ok",
            "model": model_name,
            "backend": pipeline.backend,
            "sample_rate": pipeline.sample_rate,
            "clip_samples": pipeline.clip_samples,
            "long_clips": getattr(pipeline, "long_clips", "windows"),
            "classes": len(labels),
            "inflight": state["inflight"],
            "max_batch": config.max_batch,
            "max_queue": config.max_queue,
        }
        return finish("/healthz", started, JSONResponse(body), request)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post("/v1/classify")
    async def classify(
        request: Request,
        top_k: Optional[int] = Query(None, ge=1, le=len(labels)),
        probabilities: bool = Query(False),
        sample_rate: Optional[int] = Query(None, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE),
        channels: int = Query(1, ge=1, le=MAX_CHANNELS),
    ) -> Response:
        started = time.monotonic()
        # Admission first: under overload, answer before reading or decoding anything.
        if state["inflight"] >= config.max_queue:
            response = _error(503, f"server busy: {state['inflight']} requests in flight (--max-queue "
                                   f"{config.max_queue}); retry later",
                              {"Retry-After": str(config.retry_after_s)})
            return finish("/v1/classify", started, response, request)
        state["inflight"] += 1
        metrics.inflight.inc()
        query = (min(5, len(labels)) if top_k is None else top_k, probabilities, sample_rate, channels)
        try:
            response = JSONResponse(await _classify(request, *query))
        except HTTPException as exc:
            response = _error(exc.status_code, exc.detail, exc.headers)
        except ClientDisconnect:
            # The client left mid-body: nobody is there to answer, and it is no server fault.
            log.debug("client disconnected before its body arrived")
            response = Response(status_code=CLIENT_CLOSED)
        except QueueFull as exc:
            response = _error(503, f"server busy: {exc}", {"Retry-After": str(config.retry_after_s)})
        except Exception as exc:  # noqa: BLE001 - one request's failure must never stop the server
            log.exception("classify failed")
            response = _error(500, f"inference failed: {type(exc).__name__}: {exc}")
        finally:
            state["inflight"] -= 1
            metrics.inflight.dec()
        return finish("/v1/classify", started, response, request)

    async def _read_in_time(request: Request) -> bytes:
        try:
            return await asyncio.wait_for(_read_body(request, config.max_body_bytes), config.body_timeout_s)
        except asyncio.TimeoutError:
            # A stalled client would otherwise hold its max_queue slot for as long as it likes.
            raise _http_error(408, f"the request body did not arrive within {config.body_timeout_s:g} s "
                                   f"(--body-timeout-s)", {"Connection": "close"}) from None

    async def _classify(request: Request, top_k: int, want_probabilities: bool, sample_rate: Optional[int],
                        channels: int) -> dict:
        media = _media_type(request)
        is_pcm = media == PCM_MEDIA_TYPE
        if not is_pcm and not (media.startswith("audio/") or media == "application/octet-stream"):
            raise _http_error(415, f"unsupported Content-Type {media or '(none)'!r}: send an audio file as audio/* "
                                   f"or application/octet-stream, or raw float32 little-endian PCM as "
                                   f"{PCM_MEDIA_TYPE} with ?sample_rate=")
        if is_pcm and sample_rate is None:
            raise _http_error(400, f"raw PCM ({PCM_MEDIA_TYPE}) needs the query parameter sample_rate")
        body = await _read_in_time(request)
        if not body:
            raise _http_error(400, "empty body: send audio")
        args = (pipeline, body, is_pcm, sample_rate, channels, config.max_seconds)
        if is_pcm and len(body) <= INLINE_PCM_BYTES:
            # A short raw clip costs microseconds to prepare: a thread hop would cost more, and many
            # threads waking at once (a batch's clients all answer together) fight over the GIL.
            windows, sample_rate, duration = _decode_and_prepare(*args)
        else:
            windows, sample_rate, duration = await asyncio.to_thread(_decode_and_prepare, *args)
        del body
        rows = await batcher.submit(windows)
        # As Pipeline.classify: the mean of the request's own windows, in float64, given as float32.
        probabilities = rows.mean(axis=0, dtype=np.float64).astype(np.float32)
        result = {
            "top": _top(probabilities, labels, top_k),
            "windows": int(windows.shape[0]),
            "sample_rate": int(sample_rate),
            "duration_s": round(duration, 6),
        }
        if want_probabilities:
            result["labels"] = labels
            result["probabilities"] = [float(v) for v in probabilities]
        return result

    from audiofront.serve.streaming import add_stream_route

    add_stream_route(app, pipeline, batcher, config, metrics)
    return app


def _decode_and_prepare(pipeline, body: bytes, is_pcm: bool, sample_rate: int | None, channels: int,
                        max_seconds: float) -> tuple[np.ndarray, int, float]:
    """Body -> ``(windows, sample_rate, duration_s)``; one worker-thread hop for all the CPU work."""
    if is_pcm:
        audio = _decode_pcm(body, sample_rate, channels, max_seconds)
    else:
        audio, file_rate = _decode_file(body, max_seconds)
        if sample_rate is not None and sample_rate != file_rate:
            raise _http_error(400, f"query sample_rate={sample_rate} contradicts the file's {file_rate} Hz "
                                  f"(leave it out for files)")
        sample_rate = file_rate
    try:
        windows = _prepare(pipeline, audio, sample_rate)
    except InputError as exc:
        raise _http_error(400, f"bad audio: {exc}") from None
    return windows, sample_rate, audio.shape[0] / sample_rate


def _prepare(pipeline, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(frames, channels)`` decoded audio -> the pipeline's windows ``(n, clip_samples)``.

    The pipeline takes ``(channels, time)`` and mixes channels as ``Pipeline.classify`` does, so
    a file sent here gets the same windows as the same file classified locally.
    """
    data = audio[:, 0] if audio.shape[1] == 1 else audio.T
    windows = pipeline.prepare(np.ascontiguousarray(data), sample_rate=sample_rate)
    if not isinstance(windows, np.ndarray) or windows.ndim != 2 or windows.shape[0] < 1:
        raise InputError(f"prepare gave windows of shape {getattr(windows, 'shape', None)}")
    return windows


class ServerThread:
    """Run an ASGI app with uvicorn in a background thread on ``host``:``port`` (0: a free port).

    For tests, notebooks and benchmarks; ``audiofront serve`` runs uvicorn in the main thread.

    Example::

        >>> with ServerThread(create_app(pipeline)) as server:
        ...     httpx.get(server.url + "/healthz").json()["status"]
        'ok'
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"):
        import uvicorn

        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = host, self._socket.getsockname()[1]
        # backlog: many clients connect at once under load; the kernel queue must hold them.
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", backlog=2048, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="audiofront-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.url} within {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
