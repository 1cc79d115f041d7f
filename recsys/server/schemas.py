"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    section: str | None = None
    tags: list[str] = Field(default_factory=list)
    author: str | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None
    exclude: list[str] = Field(default_factory=list)


class DraftQuery(Filters):
    """POST /v1/related: more-like-this for a text that is not indexed."""

    text: str = Field(..., description="The draft's body text.")
    title: str | None = None
    k: int = Field(10, ge=1)
    offset: int = Field(0, ge=0)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=200, description="The client's event id (idempotency key).")
    article_id: str = Field(..., min_length=1, max_length=500)
    type: Literal["view", "click"]
    ts: datetime | None = Field(None, description="When it happened (default: when received).")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn]


class Result(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    score: float
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    section: str | None = None


class RelatedResponse(BaseModel):
    ok: Literal[True] = True
    article_id: str | None = None
    results: list[Result]


class ArticleResponse(BaseModel):
    ok: Literal[True] = True
    article: dict[str, Any]


class EventsResponse(BaseModel):
    ok: Literal[True] = True
    accepted: int
    duplicates: int


class Status(BaseModel):
    ok: bool
    status: str
    articles: int | None = None


class ErrorResponse(BaseModel):
    ok: Literal[False] = False
    error: str
    status: int
