"""A per-client token bucket for the token-free routes (widget reports), and their gate."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from .errors import ServiceError


class RateLimiter:
    """At most ``rate`` requests per ``per_seconds`` for each client key, with bursts up to ``rate``.
    Keeps the ``max_clients`` most recently seen clients (a flood of new keys cannot grow it)."""

    def __init__(self, rate: int, *, per_seconds: float = 60.0, max_clients: int = 100_000) -> None:
        self.capacity, self.refill = float(rate), rate / per_seconds
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one request of ``key``: 0 if allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, when = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - when) * self.refill)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.refill


def check_widget_report(request, limiter: RateLimiter, cors_origins: list[str], *, enabled: bool, setting: str,
                        what: str) -> None:
    """The gate of every token-free widget report (views, impressions, clicks): it must be enabled
    (``setting``), come from the service's own origin or a CORS origin (browsers send the Origin
    header), and stay within the client's rate (one bucket per client for all its reports)."""
    if not enabled:
        raise ServiceError(403, f"widget {what} reports are off: set {setting}=true to accept them")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is None:
        raise ServiceError(403, f"a {what} report needs an Origin header (browsers send one)")
    if origin != own and origin not in cors_origins:
        raise ServiceError(403, f"this origin may not report {what}s; allow it in RECSYS_CORS_ORIGINS")
    wait = limiter.take(request.client.host if request.client else "")
    if wait:
        raise ServiceError(429, f"too many widget reports from this client; retry in {wait:.0f} s",
                           {"Retry-After": str(max(1, round(wait)))})
