"""One error shape for every JSON response, {"ok": false, "error": ..., "status": ...}, built here only."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..errors import (FeedbackError, IndexFormatError, InputError, ParameterError, RecsysError,
                      UnknownArticleError, UnknownImpressionError)

STATUS_OF = (  # the first matching class decides
    (UnknownArticleError, 404),
    (UnknownImpressionError, 404),
    (FeedbackError, 409),  # a click or impression that conflicts with the stored impression
    (ParameterError, 422),
    (InputError, 422),
    (IndexFormatError, 503),
    (RecsysError, 500),
)


class ServiceError(Exception):
    """An error the service itself raises (auth, limits), with its HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status, headers=headers)


def status_of(error: RecsysError) -> int:
    return next(status for cls, status in STATUS_OF if isinstance(error, cls))


def install_error_handlers(app: FastAPI) -> None:
    """Map library errors, service errors, validation errors and HTTP errors to the one shape."""

    @app.exception_handler(RecsysError)
    async def recsys_error(request: Request, error: RecsysError) -> JSONResponse:
        return error_response(status_of(error), str(error))

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return error_response(error.status, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "; ".join(_describe(e) for e in error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = getattr(error, "headers", None)
        if error.status_code == 405:  # Starlette names the first matching route's methods only
            headers = {**(headers or {}), "Allow": ", ".join(_methods_at(request))}
        return error_response(error.status_code, str(error.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return error_response(500, f"internal error: {type(error).__name__}")


def _methods_at(request: Request) -> list[str]:
    """Every method some route serves at the request's path (the app's routers have no prefixes)."""
    methods: set[str] = set()
    for route in leaf_routes(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= route.methods
    return sorted(methods)


def leaf_routes(routes):
    """The routes themselves, looking inside included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from leaf_routes(inner.routes) if inner is not None else (route,)


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid request")
