"""Prometheus metrics: request counts and latency per route, index size and event totals."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per app (no process globals), so that tests and several apps stay apart."""

    def __init__(self, app_state) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("recsys_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("recsys_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(app_state))
        self._children: dict[tuple, tuple] = {}  # label values -> (counter, histogram): no lookup per request

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)


class _StateCollector:
    """Gauges read at scrape time from the app's current index and event store."""

    def __init__(self, state) -> None:
        self.state = state

    def collect(self):
        serving = self.state.serving
        index = serving.index if serving is not None else None
        size = GaugeMetricFamily("recsys_index_size", "Index size", labels=["what"])
        if index is not None:
            info = index.info()
            for what in ("articles", "vocabulary", "nonzeros"):
                size.add_metric([what], info[what])
        yield size
        events = GaugeMetricFamily("recsys_events", "Events stored, by type", labels=["type"])
        if serving is not None:
            for kind, count in serving.events.totals().items():
                events.add_metric([kind], count)
        yield events


class MetricsMiddleware:
    """ASGI middleware that counts and times every HTTP request by its route template."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_remember(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_remember)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
