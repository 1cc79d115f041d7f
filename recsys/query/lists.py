"""The lists a View answers: an article's related list (editorial pins first), a draft's list, the
popular list, and whether a related list comes from the stored list alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from ..config import BlendConfig
from .filters import Filters, now_timestamp
from .hits import Hit
from .rank import ListOptions, hit, rank
from .scoring import freshness, popularity, top_k
from .search import (
    appended_candidates,
    blended,
    candidates,
    lexical_similarity,
    stored_list,
)
from .vectors import Vector
from .view import View


APPENDED_SCORED_WITH_STORED_LISTS = 200
"""The most articles added since the build that a stored list's answer also scores (brute force, some
microseconds each); with more, ``related_from_stored_list`` leaves the list to ``related``."""


def related(view: View, article_id: str, k: int, filters: Filters, blend: BlendConfig, now,
            options: ListOptions) -> list[Hit]:
    """The k articles most related to ``article_id``: its editorial pins, then the ranked list."""
    return _related(view, article_id, k, filters, blend, now, options, live=True)


def related_from_stored_list(view: View, article_id: str, k: int, blend: BlendConfig, now) -> list[Hit] | None:
    """The unfiltered ``related`` list of k when the article's pins and stored list make it, with
    the articles added since the build if they are few (no live search); None when they do not."""
    return _related(view, article_id, k, Filters(), blend, now, ListOptions(), live=False)


def _related(view: View, article_id: str, k: int, filters: Filters, blend: BlendConfig, now,
             options: ListOptions, *, live: bool) -> list[Hit] | None:
    row = view.row(article_id)
    pins, filters = _editorial_filters(view, article_id, filters)
    pinned = [hit(view, view.store.row_of[p], reason="pinned") for p in pins[:k]]
    if len(pinned) == k:
        return pinned
    found = _related_candidates(view, row, k - len(pinned), filters, blend, live)
    if found is None:
        return None
    return pinned + rank(view, *found, k - len(pinned), blend, now, options, row, filters)


def served_from_stored_list(view: View, article_id: str, k: int) -> bool:
    """True if an unfiltered ``related`` list of k would come from the article's pins and stored list
    alone: no live search, no scoring of articles added since the build, no fallback padding."""
    row = view.row(article_id)
    pins, filters = _editorial_filters(view, article_id, Filters())
    if len(pins) >= k:
        return True
    if row >= view.n_built or view.appended:
        return False
    return stored_list(view, row, filters, view.config.blend.min_similarity)[2] >= k - len(pins)


def draft(view: View, vector: Vector, k: int, filters: Filters, blend: BlendConfig, now,
          options: ListOptions) -> list[Hit]:
    """The k articles most similar to a draft's vector."""
    rows, sims, vector = candidates(view, vector, filters, k, -1, view.built.text_terms)
    return rank(view, rows, sims, k, blend, now, options, vector, filters)


def popular(view: View, k: int, section: str | None, views: Mapping[str, int] | None, blend: BlendConfig,
            now) -> list[Hit]:
    """The k most viewed live articles (of ``section``), views decayed by age unless freshness is off;
    ``views`` (article id -> count) replaces the stored counts."""
    store = view.store
    if views is None:
        counts = view.views(slice(None)).astype(np.float64)
    else:
        counts = np.zeros(len(store))
        for article_id, n in views.items():
            row = store.row_of.get(article_id)
            if row is not None:
                counts[row] = n
    rows = np.flatnonzero(view.live_rows())
    if section:
        rows = rows[Filters.of(section=section).mask(store, rows)]
    fresh = (freshness(store.published[rows], now_timestamp(now), blend) if blend.freshness_weight
             else np.ones(len(rows)))
    scores = counts[rows] * fresh
    best = [p for p in top_k(scores, rows, k) if scores[p] > 0]
    pop = popularity(counts[rows[best]], counts.max() if len(counts) else 0.0)
    return [hit(view, int(rows[p]), score=scores[p], popularity=q, freshness=fresh[p]) for p, q in zip(best, pop)]


def similarity(view: View, article_id: str, other_id: str) -> float:
    """How similar ``other_id`` is to ``article_id``, as its related list scores it before the blend."""
    other = view.row(other_id)
    query = view.vector(view.row(article_id))
    lexical = lexical_similarity(query, view.vector(other))
    return float(blended(view, np.array([other]), np.array([lexical]), query)[0])


def _related_candidates(view: View, row: int, k: int, filters: Filters, blend: BlendConfig,
                        live: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows and similarities to rank for a related list of k: the stored list (and the articles
    added since the build), or a live search when the stored list runs out. Without ``live``, None
    instead of a live search, or of scoring more than APPENDED_SCORED_WITH_STORED_LISTS added articles."""
    if row >= view.n_built:  # added since the build: no stored list
        return candidates(view, view.appended[row], filters, k, row, view.built.text_terms)[:2] if live else None
    rows, sims, shown, list_is_complete = stored_list(view, row, filters, blend.min_similarity)
    if shown < k and not list_is_complete:
        return candidates(view, view.vector(row), filters, k, row, view.built.article_terms)[:2] if live else None
    if view.appended:
        if not live and len(view.appended) > APPENDED_SCORED_WITH_STORED_LISTS:
            return None
        more_rows, more_sims = appended_candidates(view, view.vector(row), row)
        allowed = filters.mask(view.store, more_rows)
        rows, sims = np.concatenate([rows, more_rows[allowed]]), np.concatenate([sims, more_sims[allowed]])
    return rows, sims


def _editorial_filters(view: View, article_id: str, filters: Filters) -> tuple[list[str], Filters]:
    """The article's pins that can show (in order), and ``filters`` that also exclude its pins and blocks."""
    rules = view.editorial.get(article_id, {})
    blocked = set(rules.get("blocks", ())) | set(filters.exclude)
    pins = [p for p in dict.fromkeys(rules.get("pins", ()))
            if p in view.store.row_of and p != article_id and p not in blocked]
    if blocked or pins:
        filters = replace(filters, exclude=tuple(blocked | set(pins)))
    return pins, filters
