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
    diversity: float = Field(0.0, ge=0, le=1, description="MMR re-ranking strength (0: off).")
    explain: bool = Field(False, description="Add each hit's score parts and shared terms.")
    fallback: bool = Field(False, description="Pad a short list with popular, recent articles.")


class ArticleIn(BaseModel):
    """PUT /v1/articles/{id}: the article's fields; other fields are kept as metadata."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, description="If given, must equal the id in the path.")
    title: str = ""
    body: str = ""
    url: str | None = None
    section: str | None = None
    tags: list[str] | str | None = None
    author: str | None = None
    published_at: str | None = Field(None, description="ISO 8601; a naive time counts as UTC.")
    views: int | None = Field(None, ge=0)


class ArticleChanged(BaseModel):
    ok: Literal[True] = True
    id: str
    created: bool | None = None
    deleted: bool | None = None
    pending_changes: int


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="Index directory to serve from now on (default: the current one).")


class IndexSwapped(BaseModel):
    ok: Literal[True] = True
    path: str
    articles: int
    pending_changes: int


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=200, description="The client's event id (idempotency key).")
    article_id: str = Field(..., min_length=1, max_length=500)
    type: Literal["view", "click"]
    ts: datetime | None = Field(None, description="When it happened (default: when received).")


class WidgetView(BaseModel):
    """POST /v1/widget/views: one page view reported by the widget."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=200)
    article_id: str = Field(..., min_length=1, max_length=500)


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
