"""The widget script and the demo page."""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from .deps import SettingsDep, StateDep
from .errors import ServiceError

router = APIRouter()


@router.get("/widget.js", tags=["widget"], response_class=Response)
def widget() -> Response:
    """The dependency-free script that renders <div data-recsys-related="ID"> blocks."""
    script = (resources.files("recsys.server") / "static" / "widget.js").read_text(encoding="utf-8")
    return Response(script, media_type="application/javascript", headers={"Cache-Control": "public, max-age=300"})


@router.get("/", tags=["widget"], response_class=HTMLResponse, include_in_schema=False)  # a demo, not API
def demo_page(state: StateDep, settings: SettingsDep) -> HTMLResponse:
    """A page listing every article with its related list, rendered by the widget (demo only)."""
    if not settings.demo_page:
        raise ServiceError(404, "Not Found")
    with state.reading() as index:
        articles = [index.article(article_id) for article_id in index.ids]
    items = []
    for article in articles:
        article_id = article.id
        date = article.published_at.date().isoformat() if article.published_at else ""
        items.append(f"""<article class="story" id="{html.escape(article_id)}">
  <h2>{html.escape(article.title or article_id)}</h2>
  <p class="meta">{html.escape(article.section or "")} &middot; {date} &middot; {html.escape(article_id)}</p>
  <div data-recsys-related="{html.escape(article_id)}"></div>
</article>""")
    events = ' data-events-url="/v1/widget/views"' if settings.widget_views else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>recsys demo</title>
<style>
body {{ font: 16px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }}
.story {{ border-bottom: 1px solid #ddd; padding: 1rem 0; }} .meta {{ color: #666; margin: 0; }}
.recsys-related {{ background: #f6f7f9; padding: .5rem 1rem; margin-top: .5rem; }}
.recsys-related__title {{ font-size: 1rem; margin: .25rem 0; }} .recsys-related__date {{ color: #777; }}
</style></head>
<body><h1>recsys demo: {len(articles)} articles and their related lists</h1>
{"".join(items)}
<script src="/widget.js" data-k="4"{events}></script>
</body></html>"""
    return HTMLResponse(page)
