"""Live changes to an index: each one makes a new View (recsys.query.view) from the current one,
computing every new value before anything is shared, so a change that fails leaves no trace and a
read in progress keeps the View it started with.

An added article is weighted with the build's vocabulary and idf (terms the build never saw are left
out) and built articles keep their weights, so scores stay comparable; a compaction rebuilds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from ._arrays import read_only
from .documents.article import MAX_VIEWS, Article
from .errors import ParameterError
from .index.data import IndexData
from .query.filters import Filters
from .query.search import candidates, with_feedback
from .query.vectors import Vector
from .query.view import Built, View, added_rows, twins

_INT64_MAX = int(np.iinfo(np.int64).max)


def first_view(data: IndexData) -> View:
    """The View of a built or loaded index, with no live changes."""
    built = Built.of(data)
    n, n_terms = len(data.store), len(data.vocabulary)
    groups = read_only(np.asarray(data.duplicate_group, dtype=np.int32))
    return View(built=built, store=data.store, appended={}, appended_rows=np.zeros(0, np.int64),
                appended_weights=added_rows([], n_terms), deleted=np.zeros(n, dtype=bool), n_deleted=0,
                groups=groups, has_twin=twins(groups), event_views=np.zeros(n, dtype=np.int64),
                max_views=float(data.store.views.max()) if n else 0.0, editorial=dict(data.editorial), changes=0)


def upserted(view: View, article: Article) -> View:
    """``view`` with ``article`` added, or replacing the one with its id (which keeps the larger of
    its old and new view counts); ParameterError for a view count out of range."""
    check_views(article.views, article.id)
    store = view.store
    old = store.row_of.get(article.id)
    if old is not None:
        article = replace(article, views=max(article.views, int(store.views[old])))
    group, vector = _placed(view, view.built.vectorizer.article(article))
    groups = read_only(np.append(view.groups, np.int32(group)))  # as the built groups (recsys._arrays)
    new_store = store.with_row(article)
    row = len(store)
    event_views = np.append(view.event_views, view.event_views[old] if old is not None else 0)
    appended = {**view.appended, row: vector}
    changed = replace(view, store=new_store, groups=groups, has_twin=twins(groups),
                      deleted=np.append(view.deleted, False), event_views=event_views,
                      max_views=max(view.max_views, float(article.views + int(event_views[-1]))),
                      changes=view.changes + 1, **_appended_fields(view, appended))
    return _with_row_deleted(changed, old, keep_id=True) if old is not None else changed


def deleted(view: View, article_id: str) -> View:
    """``view`` without the article ``article_id`` (UnknownArticleError if there is none)."""
    row = view.row(article_id)
    return replace(_with_row_deleted(view, row, keep_id=False), changes=view.changes + 1)


def views_added(view: View, counts: Mapping[str, int]) -> tuple[View, int]:
    """``view`` with view counts (article id -> views) added, and how many were added; unknown ids
    are ignored. ParameterError, before anything is added, for a count that is not an integer from
    0 to MAX_VIEWS, or that would take an article's views past int64."""
    rows: dict[int, int] = {}
    for article_id, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_VIEWS:
            raise ParameterError(f"view counts must be integers from 0 to {MAX_VIEWS}, got {n!r} for {article_id!r}")
        row = view.store.row_of.get(article_id)
        if row is not None and n:
            if int(view.views(row)) + int(n) > _INT64_MAX:
                raise ParameterError(f"view counts: {n} more views of {article_id!r} would exceed {_INT64_MAX}")
            rows[row] = int(n)  # ids are unique keys, and each live id has one row
    if not rows:
        return view, 0
    event_views = view.event_views.copy()
    for row, n in rows.items():
        event_views[row] += n
    touched = np.fromiter(rows, dtype=np.int64)
    max_views = max(view.max_views, float((view.store.views[touched] + event_views[touched]).max()))
    return replace(view, event_views=event_views, max_views=max_views), sum(rows.values())


def editorial_set(view: View, article_id: str, pins: Iterable[str] | None,
                  blocks: Iterable[str] | None) -> tuple[View, dict]:
    """``view`` with one article's editorial rules changed (None keeps a value, an empty list clears
    it), and the article's rules."""
    view.row(article_id)
    rules = dict(view.editorial.get(article_id, {}))
    for name, ids in (("pins", pins), ("blocks", blocks)):
        if ids is not None:
            if isinstance(ids, str):
                raise ParameterError(f"{name} must be a list of article ids, not a string")
            rules[name] = list(dict.fromkeys(str(i) for i in ids))
    rules = {name: ids for name, ids in rules.items() if ids}
    editorial = {a: r for a, r in {**view.editorial, article_id: rules}.items() if r}
    return replace(view, editorial=editorial), rules


def check_views(views: object, article_id: str) -> None:
    """ParameterError unless ``views`` is an integer from 0 to MAX_VIEWS."""
    if isinstance(views, bool) or not isinstance(views, int) or not 0 <= views <= MAX_VIEWS:
        raise ParameterError(f"views of {article_id!r} must be an integer from 0 to {MAX_VIEWS}, got {views!r}")


def _with_row_deleted(view: View, row: int, *, keep_id: bool) -> View:
    """``view`` with ``row`` tombstoned (and its id gone from the store, unless a new row took it)."""
    deleted_rows = view.deleted.copy()
    deleted_rows[row] = True
    changed = replace(view, deleted=deleted_rows, n_deleted=view.n_deleted + 1,
                      store=view.store if keep_id else view.store.without_id(view.store.ids[row]))
    if row in view.appended:
        changed = replace(changed, **_appended_fields(view, {r: v for r, v in view.appended.items() if r != row}))
    return changed


def _appended_fields(view: View, appended: dict[int, Vector]) -> dict:
    """The View fields that hold the live rows added since the build."""
    rows = sorted(appended)
    return {"appended": appended, "appended_rows": np.asarray(rows, dtype=np.int64),
            "appended_weights": added_rows([appended[r] for r in rows], len(view.data.vocabulary))}


def _placed(view: View, vector: Vector) -> tuple[int, Vector]:
    """The near-duplicate group of a new article (its closest article's, if close enough, else a
    new one), and its vector with the semantic feedback (one search gives both)."""
    new_group = int(view.groups.max(initial=-1)) + 1
    threshold = view.config.near_duplicate_threshold
    if threshold is None:
        return new_group, with_feedback(view, vector, view.built.text_terms)
    rows, sims, vector = candidates(view, vector, Filters(), 1, -1, view.built.text_terms)
    if len(rows) and sims.max() >= threshold:
        return int(view.groups[rows[np.argmax(sims)]]), vector
    return new_group, vector
