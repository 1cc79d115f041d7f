"""Shared state and checks that routes depend on: the index, the event store, settings, the tokens."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from pydantic import SecretStr

from ..related_index import RelatedIndex
from .errors import ServiceError
from .settings import MIN_TOKEN_LENGTH, Settings
from .state import ServingState


async def get_settings(request: Request) -> Settings:  # async: no thread hop for a lookup
    return request.app.state.settings


async def get_state(request: Request) -> ServingState:
    return request.app.state.serving


def get_ready_index(request: Request) -> RelatedIndex:
    """The current index, caught up with every worker's writes (503 until one is loaded)."""
    return request.app.state.serving.sync()


def _check_bearer(expected: SecretStr | None, authorization: str | None, variable: str, what: str) -> None:
    """403 when the token is not configured; 401 unless the header carries it (compared in constant time)."""
    if expected is None:
        raise ServiceError(403, f"{what} are disabled: set {variable} (at least {MIN_TOKEN_LENGTH} characters) "
                                "on the server to enable them")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             expected.get_secret_value().encode()):
        raise ServiceError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})


async def require_token(settings: Annotated[Settings, Depends(get_settings)],
                        authorization: Annotated[str | None, Header()] = None) -> None:
    """Write routes need ``Authorization: Bearer <RECSYS_API_TOKEN>``; without a configured token they are off."""
    _check_bearer(settings.api_token, authorization, "RECSYS_API_TOKEN", "writes")


async def require_admin(settings: Annotated[Settings, Depends(get_settings)],
                        authorization: Annotated[str | None, Header()] = None) -> None:
    """Admin routes need ``Authorization: Bearer <RECSYS_ADMIN_TOKEN>``; without a configured token they are off."""
    _check_bearer(settings.admin_token, authorization, "RECSYS_ADMIN_TOKEN", "admin routes")


async def require_admin_page(settings: Annotated[Settings, Depends(get_settings)],
                             authorization: Annotated[str | None, Header()] = None) -> None:
    """Admin pages (GET /stats) take the admin token as a bearer token, or as the password of HTTP Basic
    authentication (any user name), so that a browser can ask for it: 401 asks with a Basic challenge.
    The token never goes in a URL."""
    if settings.admin_token is None:
        _check_bearer(None, authorization, "RECSYS_ADMIN_TOKEN", "admin pages")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            password = base64.b64decode(given.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            password = ""
        if hmac.compare_digest(password.encode(), settings.admin_token.get_secret_value().encode()):
            return
    elif scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                             settings.admin_token.get_secret_value().encode()):
        return
    raise ServiceError(401, "missing or wrong admin token", {"WWW-Authenticate": 'Basic realm="recsys admin", '
                                                                              'charset="UTF-8"'})


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadyDep = Annotated[RelatedIndex, Depends(get_ready_index)]
StateDep = Annotated[ServingState, Depends(get_state)]
WriteAccess = Depends(require_token)
AdminAccess = Depends(require_admin)
AdminPageAccess = Depends(require_admin_page)
