"""The feedback routes: the variants a widget assigns readers to, its impression and click reports,
and the click-through report (JSON for operators, and a page with plots). Also the roll-up that runs
in every worker now and then (new raw rows into the hourly roll-ups; old raw rows out)."""

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from ..feedback import Variants, report
from .deps import AdminAccess, AdminPageAccess, ReadyDep, StateDep
from .errors import ServiceError
from .ratelimit import RateLimiter, check_widget_report
from .schemas import EventsResponse, StatsResponse, UtcTime, VariantsResponse, feedback_models
from .settings import Settings
from .stats_page import stats_page

log = logging.getLogger("recsys.server")


def build_feedback_router(settings: Settings, variants: Variants,
                          widget_limit: RateLimiter) -> tuple[APIRouter, APIRouter]:
    """(the JSON routes, the /stats page)."""
    router = APIRouter()
    WidgetImpression, WidgetClick = feedback_models(settings.max_k, variants.names)

    def gate(request: Request, what: str) -> None:
        check_widget_report(request, widget_limit, settings.cors_origins, enabled=settings.widget_clicks,
                            setting="RECSYS_WIDGET_CLICKS", what=what)

    @router.get("/v1/variants", response_model=VariantsResponse, tags=["feedback"])
    def list_variants() -> JSONResponse:
        """The A/B variants and their shares of the traffic, in order (what the widget assigns a reader
        to, from its random visitor key); just `control` when RECSYS_VARIANTS is not set."""
        return JSONResponse({"ok": True, "variants": variants.public()},
                            headers={"Cache-Control": "public, max-age=300"})

    @router.post("/v1/widget/impressions", response_model=EventsResponse, tags=["feedback"])
    def widget_impression(impression: WidgetImpression, request: Request, index: ReadyDep, state: StateDep) -> dict:
        """The related block of an article was seen: the ids it showed, in order, and its variant. No
        token, but only with RECSYS_WIDGET_CLICKS=true, from the service's own origin or a CORS origin,
        within the client's rate (RECSYS_WIDGET_RATE, shared with its other reports), of indexed
        articles and a defined variant. Idempotent by impression_id."""
        gate(request, "impression")
        check_shown(index, impression.article_id, impression.ids)
        new = state.feedback.add_impression(impression.impression_id, impression.article_id, impression.variant,
                                            impression.ids)
        return {"ok": True, "accepted": int(new), "duplicates": int(not new)}

    @router.post("/v1/widget/clicks", response_model=EventsResponse, tags=["feedback"])
    def widget_click(click: WidgetClick, request: Request, index: ReadyDep, state: StateDep) -> dict:
        """A reader followed a link of the block: it must be the id that the impression showed at that
        position (1 is the first), for the same article and variant. An impression counts one click, its
        first: another (or a retry) is a duplicate. With ``ids``, the impression is stored with the
        click if it is not yet (checked as an impression is). The gate is the impressions'."""
        gate(request, "click")
        if click.ids is not None:
            check_shown(index, click.article_id, click.ids)
        new = state.feedback.add_click(click.impression_id, click.article_id, click.target_id, click.position,
                                       click.variant, shown=click.ids)
        return {"ok": True, "accepted": int(new), "duplicates": int(not new)}

    def current_report(state, start, end) -> dict:
        state.feedback.roll_up()
        return report(state.feedback, start, end, variants=variants.names)

    @router.get("/v1/stats", response_model=StatsResponse, tags=["feedback"], dependencies=[AdminAccess])
    def stats(state: StateDep, start: Annotated[UtcTime | None, Query(alias="from")] = None,
              end: Annotated[UtcTime | None, Query(alias="to")] = None) -> dict:
        """Click-through per variant over [from, to) (default: the last 30 days): impressions, clicks,
        CTR with its 95 % Wilson interval, CTR by position and over time, and a two-proportion z-test
        of each variant against control."""
        return {"ok": True, **current_report(state, start, end)}

    pages = APIRouter()  # HTML, its errors in the one JSON shape (documented as such)
    json_errors = {status: {"description": "the one error shape", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}} for status in (401, 403, 422, 503)}

    @pages.get("/stats", tags=["feedback"], response_class=HTMLResponse, dependencies=[AdminPageAccess],
               responses=json_errors)
    def stats_html(state: StateDep, start: Annotated[UtcTime | None, Query(alias="from")] = None,
                   end: Annotated[UtcTime | None, Query(alias="to")] = None) -> HTMLResponse:
        """The report as a page: CTR per variant over time and CTR by position, drawn as inline SVG.
        The admin token goes in the Authorization header (bearer, or a browser's Basic login)."""
        body, headers = stats_page(current_report(state, start, end))
        return HTMLResponse(body, headers=headers)

    return router, pages


def check_shown(index, article_id: str, ids: list[str]) -> None:
    """What a block showed: of an indexed article, indexed ids, each once, never the article itself."""
    if article_id not in index:
        raise ServiceError(404, f"unknown article id: {article_id!r}")
    if len(set(ids)) != len(ids):
        raise ServiceError(422, "ids: an article is listed twice")
    if article_id in ids:  # like a body id that differs from the path's: 409
        raise ServiceError(409, "ids: a block never lists its own article")
    missing = next((i for i in ids if i not in index), None)
    if missing is not None:
        raise ServiceError(404, f"ids: unknown article id: {missing!r}")


class RollUps:
    """A thread that rolls up new impressions and clicks every ``seconds`` (and deletes raw rows past
    the retention), until ``stop``. A failed roll-up is logged and tried again next time."""

    def __init__(self, app_state, seconds: float) -> None:
        self.app_state, self.seconds = app_state, seconds  # app.state: its serving state may be replaced
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recsys-rollups", daemon=True)

    def start(self) -> "RollUps":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.app_state.serving.feedback.roll_up()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.warning("rolling up impressions and clicks failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
