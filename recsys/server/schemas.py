"""Request and response bodies of the JSON API. The limits that settings choose (k, text size, batch
size) are set per app by ``request_models(settings)``, so that the published schema states them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from ..documents.article import ID_PATTERN, MAX_CHARS, MAX_TAGS, MAX_VIEWS, URL_PATTERN, parse_time

ArticleId = Annotated[str, Field(min_length=1, max_length=MAX_CHARS["id"], pattern=ID_PATTERN,
                                 description="An article id: no '/', '\\' or control characters.")]
PathId = Annotated[str, Path(min_length=1, max_length=MAX_CHARS["id"], pattern=ID_PATTERN)]
_NOT_BLANK = {"type": "string", "pattern": r"\S"}


def _utc(value: Any) -> datetime:
    """An RFC 3339 time or date (text, not a number) as an aware UTC datetime; a naive one counts as UTC."""
    if not isinstance(value, (str, datetime)):
        raise ValueError("expected an RFC 3339 date or time as text")
    return parse_time(value)


def _whole(value: Any) -> Any:
    """26.0 is the integer 26, as JSON Schema has it; strings and booleans stay errors."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(low: int, high: int) -> Any:
    """An integer from ``low`` to ``high`` (constraints first, so that the schema states them)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole)]


UtcTime = Annotated[datetime, BeforeValidator(_utc), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]})]


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    section: str | None = None
    tags: list[str] = Field(default_factory=list)
    author: str | None = None
    published_after: UtcTime | None = None
    published_before: UtcTime | None = None
    exclude: list[str] = Field(default_factory=list)


class ArticleIn(BaseModel):
    """PUT /v1/articles/{id}: the article's fields; other fields are kept as metadata. A title or a
    body with some text is required."""

    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra={"anyOf": [
        {"required": ["title"], "properties": {"title": _NOT_BLANK}},
        {"required": ["body"], "properties": {"body": _NOT_BLANK}}]})

    id: ArticleId | None = Field(None, description="If given, must equal the id in the path.")
    title: str = Field("", max_length=MAX_CHARS["title"])
    body: str = Field("", max_length=MAX_CHARS["body"])
    url: str | None = Field(None, max_length=MAX_CHARS["url"], pattern=URL_PATTERN,
                            description="An http(s) URL or a relative path; other schemes are refused.")
    section: str | None = Field(None, max_length=MAX_CHARS["section"])
    tags: (list[Annotated[str, Field(max_length=MAX_CHARS["tag"])]] | Annotated[str, Field(max_length=MAX_CHARS["tag"])]
           | None) = Field(None, max_length=MAX_TAGS)
    author: str | None = Field(None, max_length=MAX_CHARS["author"])
    published_at: UtcTime | None = Field(None, description="RFC 3339 time or date; a naive one counts as UTC.")
    views: whole_number(0, MAX_VIEWS) | None = None


class ArticleChanged(BaseModel):
    ok: Literal[True] = True
    id: str
    created: bool | None = None
    deleted: bool | None = None
    pending_changes: int


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    path: str | None = Field(None, min_length=1, max_length=4096, pattern=r"^[^\x00]+$",
                             description="Index directory to serve from now on (default: the current one); "
                                         "it must lie under the index root.")


class IndexSwapped(BaseModel):
    ok: Literal[True] = True
    path: str
    articles: int
    pending_changes: int


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(..., min_length=1, max_length=200, description="The client's event id (idempotency key).")
    article_id: ArticleId
    type: Literal["view", "click"]
    ts: UtcTime | None = Field(None, description="When it happened, RFC 3339 (default: when received).")


class WidgetView(BaseModel):
    """POST /v1/widget/views: one page view reported by the widget (the server names the event)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    article_id: ArticleId


ImpressionId = Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="The widget's random id of one impression (its idempotency key).")]


def _json_text(value: Any) -> Any:
    """A body sent as text/plain (the widget's clicks, so that no CORS preflight is needed while the
    page unloads) arrives as bytes: read it as the JSON it holds."""
    if isinstance(value, (bytes, str)):
        import json

        try:
            return json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("the body is not JSON") from None
    return value


class Result(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    score: float | None = None
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    section: str | None = None


class RelatedResponse(BaseModel):
    ok: Literal[True] = True
    article_id: str | None = None
    variant: str | None = Field(None, description="The variant the list was made with (when one was asked for).")
    results: list[Result]


class VariantShare(BaseModel):
    name: str
    share: float


class VariantsResponse(BaseModel):
    ok: Literal[True] = True
    variants: list[VariantShare]


class PositionRate(BaseModel):
    position: int
    impressions: int
    clicks: int
    ctr: float | None
    ctr_low: float | None
    ctr_high: float | None


class VersusControl(BaseModel):
    difference: float
    z: float
    p_value: float


class VariantReport(BaseModel):
    variant: str
    impressions: int
    clicks: int
    ctr: float | None
    ctr_low: float | None
    ctr_high: float | None
    vs_control: VersusControl | None
    by_position: list[PositionRate]


class PeriodRate(BaseModel):
    start: str
    variant: str
    impressions: int
    clicks: int
    ctr: float | None
    ctr_low: float | None
    ctr_high: float | None


class StatsResponse(BaseModel):
    ok: Literal[True] = True
    from_: str = Field(..., alias="from")
    to: str
    confidence: float
    control: str
    variants: list[VariantReport]
    ranking: list[str] = Field(..., description="Variants with impressions, by CTR, best first.")
    bucket: Literal["hour", "day"]
    over_time: list[PeriodRate]


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


def feedback_models(max_k: int, variants: list[str]) -> tuple[type[BaseModel], type[BaseModel]]:
    """(WidgetImpression, WidgetClick) with this app's largest k and variants in their schema."""
    Variant = Annotated[Literal[tuple(variants)], Field(description="A variant of RECSYS_VARIANTS "
                                                                    "(`control` when none are set).")]

    class WidgetImpression(BaseModel):
        """POST /v1/widget/impressions: the related block of ``article_id`` was seen, showing ``ids`` in
        this order, made with ``variant``."""

        model_config = ConfigDict(extra="forbid", strict=True)

        impression_id: ImpressionId
        article_id: ArticleId
        ids: list[ArticleId] = Field(..., min_length=1, max_length=max_k, json_schema_extra={"uniqueItems": True},
                                     description="The ids shown, in order (each once).")
        variant: Variant

        _text = model_validator(mode="before")(_json_text)

    class WidgetClick(BaseModel):
        """POST /v1/widget/clicks: a reader followed the link at ``position`` (1 is the first) of an
        impression. Also accepted as text/plain (the widget sends it so, while the page unloads)."""

        model_config = ConfigDict(extra="forbid", strict=True)

        impression_id: ImpressionId
        article_id: ArticleId
        target_id: ArticleId
        position: whole_number(1, max_k)
        variant: Variant
        ids: list[ArticleId] | None = Field(None, min_length=1, max_length=max_k,
                                            json_schema_extra={"uniqueItems": True},
                                            description="The ids the impression showed, for a block clicked before "
                                                        "it was reported seen: the impression is stored with the "
                                                        "click if it is not yet.")

        _text = model_validator(mode="before")(_json_text)

    return WidgetImpression, WidgetClick


def request_models(max_k: int, max_text_chars: int, max_events: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """(DraftQuery, EventBatch) with this app's limits in their schema."""

    class DraftQuery(Filters):
        """POST /v1/related: more-like-this for a text that is not indexed."""

        text: str = Field(..., max_length=max_text_chars, description="The draft's body text.")
        title: str | None = Field(None, max_length=max_text_chars)
        k: whole_number(1, max_k) = 10
        offset: whole_number(0, max_k) = 0
        diversity: float = Field(0.0, ge=0, le=1, description="MMR re-ranking strength (0: off).")
        explain: bool = Field(False, description="Add each hit's score parts and shared terms.")
        fallback: bool = Field(False, description="Pad a short list with popular, recent articles.")

    class EventBatch(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

        events: list[EventIn] = Field(..., max_length=max_events)

    return DraftQuery, EventBatch
