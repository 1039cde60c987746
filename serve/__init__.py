"""audiofront.serve: the HTTP classification service over :class:`audiofront.runtime.Pipeline`.

FastAPI + uvicorn (the ``serve`` extra) with an asyncio micro-batcher and Prometheus metrics;
``audiofront serve`` and ``audiofront triton`` are its commands. Nothing here is imported by the
packages below it (frontend, export, runtime, models).

- :func:`audiofront.serve.server.create_app`, :class:`audiofront.serve.server.ServeConfig` (:mod:`.server`)
- :class:`audiofront.serve.batching.MicroBatcher` (:mod:`.batching`), :class:`~.metrics.ServeMetrics` (:mod:`.metrics`)
"""

__all__: list[str] = []
