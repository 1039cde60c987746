"""Prometheus metrics of ``audiofront serve``: requests by status, latency, batch sizes.

Every :class:`ServeMetrics` owns its own ``CollectorRegistry``, so several apps in one process
(tests, benchmarks) never share counters. ``render()`` gives the text exposition format that
Prometheus scrapes from ``GET /metrics``.

Example::

    >>> m = ServeMetrics()
    >>> m.observe_request("/v1/classify", 200, 0.012)
    >>> body, content_type = m.render()
"""

from __future__ import annotations

__all__ = ["ServeMetrics", "LATENCY_BUCKETS", "BATCH_BUCKETS"]

# Seconds; from a single small window on a GPU (~1 ms) to a long clip queued behind others.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Windows per predict call; powers of two up to the largest --max-batch anyone should use.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """The counters and histograms of one server.

    - ``audiofront_requests_total{endpoint, status}``: requests answered, by HTTP status.
    - ``audiofront_request_duration_seconds{endpoint}``: time from arrival to response.
    - ``audiofront_batch_windows``: windows per ``predict`` call (the micro-batch size).
    - ``audiofront_batch_requests``: requests sharing one ``predict`` call.
    - ``audiofront_predict_duration_seconds``: time of one ``predict`` call.
    - ``audiofront_inflight_requests``: classify requests admitted and not yet answered.
    """

    def __init__(self) -> None:
        # Imported here: this module imports without the serve extra (prometheus-client).
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("audiofront_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("audiofront_request_duration_seconds", "Time from request arrival to response.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_windows = Histogram("audiofront_batch_windows", "Windows per predict call (micro-batch size).",
                                       buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_requests = Histogram("audiofront_batch_requests", "Requests sharing one predict call.",
                                        buckets=BATCH_BUCKETS, registry=self.registry)
        self.predict_seconds = Histogram("audiofront_predict_duration_seconds", "Time of one predict call.",
                                         buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inflight = Gauge("audiofront_inflight_requests", "Classify requests admitted and not yet answered.",
                              registry=self.registry)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(int(status))).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def observe_batch(self, windows: int, requests: int, seconds: float) -> None:
        self.batch_windows.observe(windows)
        self.batch_requests.observe(requests)
        self.predict_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """``(body, content_type)`` in the Prometheus text exposition format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
