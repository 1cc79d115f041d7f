"""Prometheus metrics: request counts and latency per route, index size, event totals, quarantined changes.

With ``--workers N`` each worker counts its own requests; ``recsys serve`` sets PROMETHEUS_MULTIPROC_DIR
(a fresh directory per run), and then the counters live in files there and every scrape, whichever
worker answers, sums all workers' counts (prometheus-client's multiprocess mode). Without it the
counters live in a registry of the app's own (no process globals), so several apps in one process
stay apart. The gauges are read at scrape time from the answering worker and the SQLite file.
"""

from __future__ import annotations

import logging
import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("recsys.server")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per app (no process globals), so that tests and several apps stay apart."""

    def __init__(self, app_state) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = _multiprocess_directory() is not None
        if self.multiprocess:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry)  # every worker's counters, from the shared directory
        owner = None if self.multiprocess else self.registry  # multiprocess: the values live in files
        self.requests = Counter("recsys_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=owner)
        self.latency = Histogram("recsys_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=owner)
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
        quarantined = GaugeMetricFamily("recsys_quarantined_changes",
                                        "Logged article changes that could not be applied (table dead_letters)")
        if serving is not None:
            quarantined.add_metric([], serving.changes.quarantined())
        yield quarantined


def _multiprocess_directory() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, if set to a directory and prometheus-client writes its values there."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory or not os.path.isdir(directory):
        return None
    if values.ValueClass is values.MutexValue:  # prometheus_client was imported before the variable was set
        log.warning("PROMETHEUS_MULTIPROC_DIR was set too late; /metrics shows this worker's requests only")
        return None
    return directory


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
