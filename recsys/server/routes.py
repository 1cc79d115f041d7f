"""The JSON routes: health, related lists, drafts, popular, articles and events. ``build_router``
puts the app's limits (k, text size, batch size) into the routes, so that the schema states them
(no ``from __future__ import annotations`` here: FastAPI reads the local annotations)."""


import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..feedback import Variants
from .events import Event
from .deps import ReadyDep, StateDep, WriteAccess
from .errors import ServiceError
from .public import PublicFields
from .ratelimit import RateLimiter, check_widget_report
from .schemas import (ArticleResponse, EventsResponse, PathId, RelatedResponse, Status, UtcTime, WidgetView,
                      request_models)
from .settings import Settings

def _split(values: list[str]) -> list[str]:
    """Repeated and comma-separated query values, flattened."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _json(body: bytes) -> Response:
    """A response of JSON written already (the route's response_model documents its shape)."""
    return Response(body, media_type="application/json")


def build_router(settings: Settings, public: PublicFields, variants: Variants, widget_limit: RateLimiter) -> APIRouter:
    """The JSON routes of one app, with ``settings``' limits, showing ``public``'s fields of articles;
    ``widget_limit`` is the per-client rate of every widget report."""
    router = APIRouter()
    DraftQuery, EventBatch = request_models(settings.max_k, settings.max_text_chars, settings.max_events)
    K = Annotated[int, Query(ge=1, le=settings.max_k)]
    Variant = Literal[tuple(variants.names)]  # the schema lists the configured variants
    Offset = Annotated[int, Query(ge=0, le=settings.max_k)]

    @router.get("/health", response_model=Status, tags=["service"])
    def health() -> dict:
        """Liveness: the process answers."""
        return {"ok": True, "status": "alive"}

    @router.get("/ready", response_model=Status, tags=["service"])
    def ready(index: ReadyDep) -> dict:
        """Readiness: 200 once an index is loaded (503 before)."""
        return {"ok": True, "status": "ready", "articles": len(index)}

    @router.get("/v1/articles/{article_id}/related", response_model=RelatedResponse, tags=["related"])
    async def related(article_id: PathId, state: StateDep, k: K = 10, offset: Offset = 0,
                      section: str | None = None, tag: Annotated[list[str], Query()] = [],  # noqa: B006
                      author: str | None = None, published_after: UtcTime | None = None,
                      published_before: UtcTime | None = None,
                      exclude: Annotated[list[str], Query()] = [],  # noqa: B006
                      diversity: Annotated[float, Query(ge=0, le=1)] = 0.0, explain: bool = False,
                      fallback: bool = False, variant: Annotated[Variant | None, Query()] = None) -> Response:
        """The articles related to one article, best first (never the article itself). ``diversity``
        re-ranks by maximal marginal relevance; ``explain`` adds each hit's score parts and shared terms;
        ``fallback`` pads a short list with popular, recent articles of the same section. ``variant``
        makes the list with that A/B variant's parameters (RECSYS_VARIANTS), and the answer names it."""
        n = k + offset
        blend: dict = {}
        if variant is not None:
            chosen = variants[variant]
            blend = chosen.blend
            diversity = diversity or chosen.diversity or 0.0
        plain = not (section or tag or author or published_after or published_before or exclude or diversity
                     or explain)

        def query(index):
            return index.related(article_id, k=n, section=section, tags=_split(tag), author=author,
                                 published_after=published_after, published_before=published_before,
                                 exclude=_split(exclude), diversity=diversity, explain=explain, fallback=fallback,
                                 **blend)

        def stored(index):  # the hot path: microseconds, so it runs on the event loop
            return index.related_from_stored_list(article_id, n, **blend)

        hits = await state.read(stored) if plain else None
        if hits is None or (fallback and len(hits) < n):  # a live search, MMR, explanations, padding: the pool
            hits = await state.read_in_thread(query)
        return _json(public.list_response(hits[offset:], explain=explain, article_id=article_id, variant=variant))

    @router.post("/v1/related", response_model=RelatedResponse, tags=["related"])
    def related_to_draft(query: DraftQuery, state: StateDep) -> Response:
        """More like this, for a draft that is not indexed."""
        with state.reading() as index:
            hits = index.more_like_this(query.text, k=query.k + query.offset, title=query.title,
                                        section=query.section, tags=query.tags, author=query.author,
                                        published_after=query.published_after,
                                        published_before=query.published_before, exclude=query.exclude,
                                        diversity=query.diversity, explain=query.explain,
                                        fallback=query.fallback)
        return _json(public.list_response(hits[query.offset:], explain=query.explain))

    @router.get("/v1/popular", response_model=RelatedResponse, tags=["related"])
    def popular(state: StateDep, k: K = 10, section: str | None = None,
                window_hours: Annotated[float | None, Query(gt=0, le=24 * 366 * 100)] = None) -> Response:
        """The most viewed articles, decayed by age; with ``window_hours``, views of that window only."""
        views = state.events.view_counts(since=time.time() - window_hours * 3600) if window_hours else None
        with state.reading() as index:
            return _json(public.list_response(index.popular(k, section=section, views=views)))

    @router.get("/v1/articles/{article_id}", response_model=ArticleResponse, tags=["articles"])
    def article(article_id: PathId, state: StateDep) -> dict:
        """An article's public fields (RECSYS_PUBLIC_FIELDS)."""
        with state.reading() as index:
            return {"ok": True, "article": public.article(index.article(article_id))}

    @router.post("/v1/widget/views", response_model=EventsResponse, tags=["events"])
    def widget_view(view: WidgetView, request: Request, index: ReadyDep, state: StateDep) -> dict:
        """A page view from the widget: no token, but only when enabled, only from the service's own
        origin or a CORS origin (the Origin header is required), at most RECSYS_WIDGET_RATE a minute
        per client, and only of an indexed article. The server names the event."""
        check_widget_report(request, widget_limit, settings.cors_origins, enabled=settings.widget_views,
                            setting="RECSYS_WIDGET_VIEWS", what="view")
        if view.article_id not in index:
            raise ServiceError(404, f"unknown article id: {view.article_id!r}")
        event = Event(f"w-{uuid.uuid4().hex}", view.article_id, "view", time.time())
        accepted, duplicates = state.add_events([event])
        return {"ok": True, "accepted": accepted, "duplicates": duplicates}

    @router.post("/v1/events", response_model=EventsResponse, tags=["events"], dependencies=[WriteAccess])
    def post_events(batch: EventBatch, _ready: ReadyDep, state: StateDep) -> dict:
        """Record view and click events; idempotent by event id, durable before the answer."""
        now = time.time()
        accepted, duplicates = state.add_events(
            [Event(e.id, e.article_id, e.type, e.ts.timestamp() if e.ts else now) for e in batch.events])
        return {"ok": True, "accepted": accepted, "duplicates": duplicates}

    return router
