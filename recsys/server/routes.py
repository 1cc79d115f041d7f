"""The JSON routes: health, related lists, drafts, popular, articles and events."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ..article import parse_time
from ..events import Event
from .deps import ReadyDep, SettingsDep, StateDep, WriteAccess, check_k
from .errors import ServiceError
from .schemas import (ArticleResponse, DraftQuery, EventBatch, EventsResponse, RelatedResponse, Status,
                      WidgetView)

router = APIRouter()


def _results(hits) -> list[dict]:
    return [hit.to_dict(body=False) for hit in hits]


def _split(values: list[str]) -> list[str]:
    """Repeated and comma-separated query values, flattened."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@router.get("/health", response_model=Status, tags=["service"])
def health() -> dict:
    """Liveness: the process answers."""
    return {"ok": True, "status": "alive"}


@router.get("/ready", response_model=Status, tags=["service"], responses={503: {"description": "no index yet"}})
def ready(index: ReadyDep) -> dict:
    """Readiness: 200 once an index is loaded."""
    return {"ok": True, "status": "ready", "articles": len(index)}


@router.get("/v1/articles/{article_id}/related", response_model=RelatedResponse, tags=["related"])
async def related(article_id: str, state: StateDep, settings: SettingsDep,
                  k: Annotated[int, Query(ge=1)] = 10, offset: Annotated[int, Query(ge=0)] = 0,
                  section: str | None = None, tag: Annotated[list[str], Query()] = [],  # noqa: B006
                  author: str | None = None, published_after: str | None = None,
                  published_before: str | None = None,
                  exclude: Annotated[list[str], Query()] = [],  # noqa: B006
                  diversity: Annotated[float, Query(ge=0, le=1)] = 0.0, explain: bool = False,
                  fallback: bool = False) -> JSONResponse:
    """The articles related to one article, best first (never the article itself). ``diversity``
    re-ranks by maximal marginal relevance; ``explain`` adds each hit's score parts and shared terms;
    ``fallback`` pads a short list with popular, recent articles of the same section."""
    check_k(k, offset, settings)

    def query(index):
        return index.related(article_id, k=k + offset, section=section, tags=_split(tag), author=author,
                             published_after=published_after, published_before=published_before,
                             exclude=_split(exclude), diversity=diversity, explain=explain, fallback=fallback)

    hits = await state.read(query)  # the hot path: served without a thread hop when it can be
    return JSONResponse({"ok": True, "article_id": article_id, "results": _results(hits[offset:])})


@router.post("/v1/related", response_model=RelatedResponse, tags=["related"])
def related_to_draft(query: DraftQuery, state: StateDep, settings: SettingsDep) -> dict:
    """More like this, for a draft that is not indexed."""
    check_k(query.k, query.offset, settings)
    size = len(query.text.encode("utf-8")) + len((query.title or "").encode("utf-8"))
    if size > settings.max_text_bytes:
        raise ServiceError(413, f"the draft is {size} bytes; the limit is {settings.max_text_bytes}")
    with state.reading() as index:
        hits = index.more_like_this(query.text, k=query.k + query.offset, title=query.title,
                                    section=query.section, tags=query.tags, author=query.author,
                                    published_after=query.published_after,
                                    published_before=query.published_before, exclude=query.exclude,
                                    diversity=query.diversity, explain=query.explain, fallback=query.fallback)
        return {"ok": True, "results": _results(hits[query.offset:])}


@router.get("/v1/popular", response_model=RelatedResponse, tags=["related"])
def popular(state: StateDep, settings: SettingsDep, k: Annotated[int, Query(ge=1)] = 10,
            section: str | None = None, window_hours: Annotated[float | None, Query(gt=0)] = None) -> dict:
    """The most viewed articles, decayed by age; with ``window_hours``, views of that window only."""
    check_k(k, 0, settings)
    views = state.events.view_counts(since=time.time() - window_hours * 3600) if window_hours else None
    with state.reading() as index:
        return {"ok": True, "results": _results(index.popular(k, section=section, views=views))}


@router.get("/v1/articles/{article_id}", response_model=ArticleResponse, tags=["articles"])
def article(article_id: str, state: StateDep) -> dict:
    """An article's stored fields and its current view count."""
    with state.reading() as index:
        return {"ok": True, "article": index.article(article_id).to_dict()}


@router.post("/v1/widget/views", response_model=EventsResponse, tags=["events"])
def widget_view(view: WidgetView, request: Request, _ready: ReadyDep, state: StateDep, settings: SettingsDep) -> dict:
    """A page view from the widget: no token, but only when enabled and only from allowed origins."""
    if not settings.widget_views:
        raise ServiceError(403, "widget view reports are off: set RECSYS_WIDGET_VIEWS=true to accept them")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own and origin not in settings.cors_origins:
        raise ServiceError(403, f"origin {origin!r} may not report views; allow it in RECSYS_CORS_ORIGINS")
    accepted, duplicates = state.add_events([Event(view.id, view.article_id, "view", time.time())])
    return {"ok": True, "accepted": accepted, "duplicates": duplicates}


@router.post("/v1/events", response_model=EventsResponse, tags=["events"], dependencies=[WriteAccess])
def post_events(batch: EventBatch, _ready: ReadyDep, state: StateDep, settings: SettingsDep) -> dict:
    """Record view and click events; idempotent by event id, durable before the answer."""
    if len(batch.events) > settings.max_events:
        raise ServiceError(413, f"{len(batch.events)} events in one batch; the limit is {settings.max_events}")
    now = time.time()
    accepted, duplicates = state.add_events(
        [Event(e.id, e.article_id, e.type, parse_time(e.ts).timestamp() if e.ts else now) for e in batch.events])
    return {"ok": True, "accepted": accepted, "duplicates": duplicates}
