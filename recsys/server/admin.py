"""Write routes for articles, and the admin routes: reload, compaction, metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..documents.article import Article
from .deps import AdminAccess, SettingsDep, StateDep, WriteAccess
from .errors import ServiceError
from .schemas import ArticleChanged, ArticleIn, IndexSwapped, PathId, ReloadRequest

router = APIRouter()


@router.put("/v1/articles/{article_id}", response_model=ArticleChanged, response_model_exclude_none=True,
            tags=["articles"], dependencies=[WriteAccess])
def put_article(article_id: PathId, fields: ArticleIn, state: StateDep) -> dict:
    """Add or replace an article; it shows in related lists at once, and survives a restart."""
    data = fields.model_dump(exclude_none=True)
    if data.get("id", article_id) != article_id:
        raise ServiceError(409, f"id: the body's id {data['id']!r} differs from the path's {article_id!r}")
    article = Article.from_dict({**data, "id": article_id}, source="request")
    created, pending = state.upsert(article)
    return {"ok": True, "id": article_id, "created": created, "pending_changes": pending}


@router.delete("/v1/articles/{article_id}", response_model=ArticleChanged, response_model_exclude_none=True,
               tags=["articles"], dependencies=[WriteAccess])
def delete_article(article_id: PathId, state: StateDep) -> dict:
    """Remove an article from every list at once; survives a restart."""
    pending = state.delete(article_id)
    return {"ok": True, "id": article_id, "deleted": True, "pending_changes": pending}


@router.post("/v1/admin/reload", response_model=IndexSwapped, tags=["admin"], dependencies=[AdminAccess])
def reload(state: StateDep, settings: SettingsDep, body: ReloadRequest | None = None) -> dict:
    """Serve another (or the rebuilt) index directory, which must lie under the index root
    (RECSYS_INDEX_ROOT). Requests under way finish on the old index; a bad directory is refused and
    the old index keeps serving. Logged article changes are applied."""
    index = state.reload(_under_root(Path(body.path), settings.reload_root()) if body and body.path else None)
    return {"ok": True, "path": str(state.index_path), "articles": len(index),
            "pending_changes": index.pending_changes}


@router.post("/v1/admin/compact", response_model=IndexSwapped, tags=["admin"], dependencies=[AdminAccess])
def compact(state: StateDep) -> dict:
    """Fold the logged article changes into a new generation of the index directory (a rebuild with
    fresh idf, in a separate process), then serve it on every worker. One compaction at a time across
    workers: another request waits for it (and returns at once if nothing new was logged). Reads and
    writes go on meanwhile. A failed rebuild answers 500 with its one-line error; the index served
    before stays."""
    index = state.compact()
    return {"ok": True, "path": str(state.index_path), "articles": len(index),
            "pending_changes": index.pending_changes}


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format: requests, latency, index size, event totals."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _under_root(path: Path, root: Path) -> Path:
    """``path`` with every link resolved, if it lies under ``root``; 403 otherwise (no ``..`` or links out)."""
    try:
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as error:  # a NUL byte, a link loop
        raise ServiceError(422, f"path: not a usable path: {error}") from None
    if not resolved.is_relative_to(root):
        raise ServiceError(403, f"reload may only open index directories under the index root {root}; "
                                "set RECSYS_INDEX_ROOT to allow another")
    return resolved
