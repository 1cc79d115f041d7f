"""Shared state and checks that routes depend on: the index, the event store, settings, the token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from ..index import RelatedIndex
from .errors import ServiceError
from .settings import Settings
from .state import ServingState


async def get_settings(request: Request) -> Settings:  # async: no thread hop for a lookup
    return request.app.state.settings


async def get_state(request: Request) -> ServingState:
    return request.app.state.serving


def get_ready_index(request: Request) -> RelatedIndex:
    """The current index, caught up with every worker's writes (503 until one is loaded)."""
    return request.app.state.serving.sync()


async def require_token(settings: Annotated[Settings, Depends(get_settings)],
                  authorization: Annotated[str | None, Header()] = None) -> None:
    """Write routes need ``Authorization: Bearer <RECSYS_API_TOKEN>``; without a configured token they are off."""
    if settings.api_token is None:
        raise ServiceError(403, "writes are disabled: set RECSYS_API_TOKEN on the server to enable them")
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.api_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise ServiceError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})


def check_k(k: int, offset: int, settings: Settings) -> None:
    if k + offset > settings.max_k:
        raise ServiceError(422, f"k + offset must be <= {settings.max_k}, got {k + offset}")


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadyDep = Annotated[RelatedIndex, Depends(get_ready_index)]
StateDep = Annotated[ServingState, Depends(get_state)]
WriteAccess = Depends(require_token)
