"""The app factory: ``create_app(settings)`` wires the index, the event store, limits and routes."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .admin import router as admin_router
from .pages import router as pages_router
from . import stored_lists
from .errors import ServiceError, error_response, install_error_handlers, leaf_routes
from .feedback import RollUps, build_feedback_router
from .ratelimit import RateLimiter
from .metrics import Metrics, MetricsMiddleware
from .public import PublicFields
from .routes import build_router
from .schemas import ErrorResponse
from .settings import Settings
from .state import ServingState

log = logging.getLogger("recsys.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving the index ``settings.index``; state lives on ``app.state``."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        serving = ServingState(settings.index, settings.events_path(), retention_days=settings.events_retention_days)
        try:
            serving.sync()  # opens the index, replays the log, adds views, warms the kernels: then /ready
        except ServiceError as error:
            log.error("%s", error)  # up but not ready; each request tries again (and warms on success)
        app.state.serving = serving
        rollups = RollUps(app.state, settings.rollup_seconds).start()
        yield
        rollups.stop()
        serving.close()

    app = FastAPI(title="recsys", version=_version(), lifespan=lifespan,
                  description="Related-articles and more-like-this lists for news sites.")
    app.state.settings, app.state.serving = settings, None
    app.state.metrics = Metrics(app.state)
    install_error_handlers(app)
    errors = {status: {"model": ErrorResponse, "description": "the one error shape"}
              for status in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
    public = PublicFields(settings.public_fields)
    variants = settings.parsed_variants()
    widget_limit = RateLimiter(settings.widget_rate, per_seconds=60.0)  # one bucket per client for all its reports
    app.include_router(build_router(settings, public, variants, widget_limit), responses=errors)
    feedback_routes, feedback_pages = build_feedback_router(settings, variants, widget_limit)
    app.include_router(feedback_routes, responses=errors)
    app.include_router(feedback_pages)
    app.include_router(admin_router, responses=errors)
    app.include_router(pages_router)
    route = next(r for r in leaf_routes(app.router.routes) if getattr(r, "path", None) == stored_lists.ROUTE)
    app.add_middleware(stored_lists.StoredListLane, public=public, max_k=settings.max_k, route=route)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from RECSYS_* variables."""
    return create_app(Settings())


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` answers 413 before the route reads it."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:  # no body (RFC 9112, 6.3)
            return await self.app(scope, receive, send)
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                return await self._too_large(scope, receive, send)
            return await self.app(scope, receive, send)
        # No declared length (chunked): read the body first, up to the limit, then hand it on.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_large(scope, receive, send)
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)

    async def _too_large(self, scope, receive, send):
        response = error_response(413, f"the request body is over the limit of {self.max_bytes} bytes")
        await response(scope, receive, send)


def _replay(messages: list[dict], then=None):
    """An ASGI receive that gives ``messages`` first, then defers to ``then`` (or waits for nothing)."""
    pending = list(messages)

    async def receive():
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def _version() -> str:
    from .._version import __version__

    return __version__
