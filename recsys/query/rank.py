"""Turning candidates into a list: blend similarity with popularity and freshness, one article per
story, the best k (by MMR with diversity on), explanations, and fallback padding."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..config import BlendConfig
from ..errors import ParameterError
from .filters import Filters, now_timestamp
from .hits import Hit
from . import list_kernels
from .scoring import decay, freshness, mmr_order, popularity, shared_terms, top_k
from .search import lexical_similarity, semantic_cosines
from .vectors import Vector
from .view import View, stacked


@dataclass(frozen=True)
class ListOptions:
    """How a list is finished: MMR diversity (0 = off), explanations, fallback padding."""

    diversity: float = 0.0
    explain: bool = False
    fallback: bool = False

    @classmethod
    def of(cls, diversity: Any, explain: Any, fallback: Any = False) -> "ListOptions":
        if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
            raise ParameterError(f"diversity must be a number between 0 and 1, got {diversity!r}")
        return cls(float(diversity), bool(explain), bool(fallback))


def rank(view: View, rows: np.ndarray, sims: np.ndarray, k: int, blend: BlendConfig, now,
         options: ListOptions, query: int | Vector, filters: Filters) -> list[Hit]:
    """Blend, pick the best k (by MMR when diversity is on), make hits, and pad them if asked."""
    diverse = options.diversity > 0 and len(rows) > 1
    rows, scores, sims, pop, fresh, views = list_kernels.ranked(
        rows, sims, blend.min_similarity, view.store.views, view.event_views, view.store.published, view.max_views,
        float(blend.popularity_weight), float(blend.freshness_weight), now_timestamp(now), *decay(blend), view.groups,
        view.has_twin, _own_group(view, query), max(3 * k, k + 10) if diverse else k)
    penalties = np.zeros(len(rows))
    if diverse:
        picked, penalties = mmr_order(scores, _cosines(view, rows), k, options.diversity)
        rows, scores, sims, pop, fresh, views = (a[picked] for a in (rows, scores, sims, pop, fresh, views))
    vector = (view.vector(query) if _is_row(query) else query) if options.explain else None
    hits = []
    for row, score, sim, p, f, n, penalty in zip(rows.tolist(), scores.tolist(), sims.tolist(), pop.tolist(),
                                                 fresh.tolist(), views.tolist(), penalties.tolist()):
        explanation = None
        if vector is not None:
            target = view.vector(row)
            explanation = {
                "similarity": _similarity_parts(view, vector, row, sim), "popularity": p, "freshness": f,
                "penalty": penalty,
                "terms": shared_terms(vector.terms, vector.weights, target.terms, target.doc_weights,
                                      vector.self_score, view.data.vocabulary)}
        hits.append(hit(view, row, score=score, similarity=sim, popularity=p, freshness=f, views=n,
                        explanation=explanation))
    if options.fallback and len(hits) < k:
        hits += _fallback(view, k - len(hits), rows, query, filters, blend, now)
    return hits


def hit(view: View, row: int, *, score: float = 0.0, similarity: float = 0.0, popularity: float = 0.0,
        freshness: float = 0.0, views: int | None = None, reason: str = "related",
        explanation: dict | None = None) -> Hit:
    """The hit for the article at ``row``: its stored fields, current views (unless given) and these scores."""
    store = view.store
    return Hit(store.ids[row], float(score), float(similarity), float(popularity), float(freshness),
               views=int(view.views(row) if views is None else views), explanation=explanation, reason=reason,
               store=store, row=row)


def _similarity_parts(view: View, vector: Vector, row: int, similarity: float) -> dict[str, float]:
    """The similarity of ``row`` to ``vector`` by channel: lexical, and semantic when it is on."""
    if vector.embedding is None:
        return {"lexical": similarity}
    return {"lexical": lexical_similarity(vector, view.vector(row)),
            "semantic": float(semantic_cosines(view, np.array([row]), vector)[0])}


def _fallback(view: View, n: int, listed: np.ndarray, query: int | Vector, filters: Filters,
              blend: BlendConfig, now) -> list[Hit]:
    """Up to n popular, recent articles of the query's section (or the section filter) that the
    filters allow, one per story: none of a listed article's story, nor of the query's own."""
    store = view.store
    section = filters.section
    if section is None and _is_row(query):
        section = store.record(int(query)).get("section")
    allowed = replace(filters, section=section).mask(store) & view.live_rows()
    groups = view.groups[: len(allowed)]
    shown = np.append(groups[listed], groups[query]) if _is_row(query) else groups[listed]
    allowed &= ~np.isin(groups, shown)
    rows = np.flatnonzero(allowed)
    views = view.views(rows)
    fresh = freshness(store.published[rows], now_timestamp(now), blend)
    scores = (np.log1p(views) + 1.0) * (fresh + 1e-6)  # views, decayed by age
    order = _one_per_group(view, top_k(scores, rows, 4 * n), rows, n)
    if len(order) < n < len(rows) and 4 * n < len(rows):  # many twins among the best: look at all
        order = _one_per_group(view, top_k(scores, rows, len(rows)), rows, n)
    pop = popularity(views, view.max_views)
    return [hit(view, int(rows[p]), popularity=pop[p], freshness=fresh[p], views=views[p], reason="fallback")
            for p in order]


def _one_per_group(view: View, order: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """The first n positions of ``order`` (best first) whose rows are of different stories."""
    _, first = np.unique(view.groups[rows[order]], return_index=True)
    return order[np.sort(first)][:n]


def _own_group(view: View, query: int | Vector) -> int:
    """The story a queried article belongs to, whose other members are never listed under it (-1:
    none: a draft, or an article without twins)."""
    return int(view.groups[query]) if _is_row(query) and view.has_twin[query] else -1


def _cosines(view: View, rows: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the articles at ``rows`` (their weight vectors)."""
    matrix = stacked([view.vector(int(r)) for r in rows], len(view.data.vocabulary))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix
    return (matrix @ matrix.T).toarray()


def _is_row(query: int | Vector) -> bool:
    return isinstance(query, (int, np.integer))
