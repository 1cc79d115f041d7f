"""Finding candidates: an article's stored list, or a live search over the postings (with the
semantic channel's own candidates, and the articles added since the build), and their similarities."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._arrays import read_only
from ..index import kernels
from ..index.data import moved, probe_budget
from . import list_kernels, semantic_kernels
from .filters import Filters
from .vectors import Vector
from .view import View

EVERY_ROW = NOTHING = np.zeros(0, dtype=bool)  # an empty row mask lets every row through
SCANNED_ROWS = 5_000  # a filter that allows at most this many rows: its dense candidates by comparing with each


def stored_list(view: View, row: int, filters: Filters,
                min_similarity: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """The precomputed neighbours of a built row that are live, allowed by ``filters`` and more
    similar than ``min_similarity`` (rows, similarities); how many stories they show (near
    duplicates and the article's own story count once, or not at all); and whether the stored
    list is complete (shorter than n_neighbors, so scoring live would find no more)."""
    data = view.data
    listed = data.neighbor_rows[row]
    allowed = filters.mask(view.store, listed[listed >= 0]) if filters.restricts_rows or filters.exclude else NOTHING
    rows, sims, shown = list_kernels.stored_neighbours(listed, data.neighbor_sims[row], allowed,
                                                  view.deleted if view.n_deleted else NOTHING, min_similarity,
                                                  view.groups, view.has_twin, row)
    is_complete = len(listed) == 0 or listed[-1] < 0
    return rows, sims, shown, is_complete


def candidates(view: View, vector: Vector, filters: Filters, k: int, skip_row: int,
               usable: np.ndarray) -> tuple[np.ndarray, np.ndarray, Vector]:
    """Rows and similarities of the best matches of ``vector`` among all articles the filters allow
    (scored live: no precomputed list); ``usable`` marks the terms it may probe with. Also returns
    ``vector`` with its semantic feedback, which the similarities use (see with_feedback)."""
    if vector.self_score <= 0 and vector.embedding is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0), vector
    filtered = filters.restricts_rows or bool(filters.exclude)
    allowed = filters.mask(view.store) if filtered else None
    if view.n_deleted:
        live = view.live_rows()
        allowed = live if allowed is None else allowed & live
    built_mask = EVERY_ROW if allowed is None else allowed[: view.n_built]
    n_candidates = max(view.config.live_candidates, 2 * k)
    built_skip = skip_row if skip_row < view.n_built else -1
    if filtered or n_candidates != view.config.live_candidates:
        vector = with_feedback(view, vector, usable)  # the same embedding whatever the filters and k
    rows, scores, linked, linked_scores = _search_built(view, vector, usable, built_mask, built_skip, n_candidates)
    vector = _fed_back(view, vector, rows, scores)
    if vector.embedding is None:
        rows = np.concatenate([rows, linked]).astype(np.int64)
        scores = np.concatenate([scores, linked_scores])
        sims = scores / vector.self_score if vector.self_score > 0 else np.zeros(len(rows))
    else:  # the semantic channel's own candidates (as many as the build takes), scored lexically too
        rows, sims = _with_dense(view, vector, rows, scores, linked, linked_scores, built_mask, built_skip,
                                 max(view.config.n_neighbors, 2 * k))
    if view.appended:
        more_rows, more_sims = appended_candidates(view, vector, skip_row)
        if allowed is not None:
            keep = allowed[more_rows]
            more_rows, more_sims = more_rows[keep], more_sims[keep]
        rows, sims = np.concatenate([rows, more_rows]), np.concatenate([sims, more_sims])
    return rows, sims, vector


def with_feedback(view: View, vector: Vector, usable: np.ndarray) -> Vector:
    """``vector`` with its embedding moved towards its closest live built articles by the unfiltered
    lexical search, as the build moves every article's (semantic_feedback, feedback_neighbors);
    unchanged when it has no embedding or had its feedback already."""
    if not _awaits_feedback(view, vector):
        return vector
    live = view.live_rows()[: view.n_built] if view.n_deleted else EVERY_ROW
    rows, scores = _best_built(view, vector, usable, live, view.config.live_candidates)
    return _fed_back(view, vector, rows, scores)


def _awaits_feedback(view: View, vector: Vector) -> bool:
    """Whether ``vector`` has an embedding that the index's semantic feedback has not moved yet."""
    return vector.embedding is not None and not vector.fed_back and view.config.semantic_feedback > 0


def _fed_back(view: View, vector: Vector, rows: np.ndarray, scores: np.ndarray) -> Vector:
    """``vector`` with its feedback from the lexical search's best ``rows`` (best first, unnormalised ``scores``)."""
    config = view.config
    if not _awaits_feedback(view, vector):
        return vector
    if vector.self_score <= 0:
        return replace(vector, fed_back=True)
    top = rows[:config.feedback_neighbors]
    sims = scores[:config.feedback_neighbors] / vector.self_score
    embedding = moved(vector.embedding[None, :], top[None, :], sims[None, :], view.data.embeddings,
                      config.semantic_feedback)[0]
    return replace(vector, embedding=embedding.astype(np.float64), encoded=vector.embedding, fed_back=True)


def appended_candidates(view: View, vector: Vector, skip_row: int) -> tuple[np.ndarray, np.ndarray]:
    """Every live article added since the build, scored against ``vector`` (brute force: few)."""
    rows, weights = view.appended_rows, view.appended_weights
    if vector.self_score > 0:
        with view.built.scratch.lend() as buffers:
            lexical = kernels.query_scores(vector.terms, _kernel_weights(vector), weights.indptr, weights.terms,
                                           weights.data, np.arange(len(rows)), buffers.qdense) / vector.self_score
    else:
        lexical = np.zeros(len(rows))
    keep = rows != skip_row
    return rows[keep], blended(view, rows[keep], np.asarray(lexical)[keep], vector)


def blended(view: View, rows: np.ndarray, lexical: np.ndarray, vector: Vector) -> np.ndarray:
    """Similarity with the semantic channel blended in: (1 - w) * lexical + w * the embeddings'
    cosine (negative cosines count as 0); the lexical similarity alone when the channel is off."""
    if vector.embedding is None or not len(rows):
        return lexical
    weight = view.config.semantic_weight
    return (1.0 - weight) * lexical + weight * semantic_cosines(view, rows, vector)


def semantic_cosines(view: View, rows: np.ndarray, vector: Vector) -> np.ndarray:
    """The cosine of ``vector``'s embedding with each row's, at least 0."""
    return np.maximum(_embeddings(view, rows) @ vector.embedding, 0.0)


def lexical_similarity(query: Vector, target: Vector) -> float:
    """The lexical similarity of ``target`` to ``query`` (cosine for TF-IDF; BM25 over the query's self score)."""
    if query.self_score <= 0:
        return 0.0
    _, ours, theirs = np.intersect1d(query.terms, target.terms, assume_unique=True, return_indices=True)
    return float(np.dot(query.weights[ours], target.doc_weights[theirs]) / query.self_score)


def _search_built(view: View, vector: Vector, usable: np.ndarray, mask: np.ndarray, skip_row: int,
                  n_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The built rows a live search finds for ``vector`` (see kernels.live_search): its best
    candidates (rows, unnormalised scores; best first), then rows their stored lists add (ascending)."""
    data, config = view.data, view.config
    with view.built.scratch.lend() as buffers:
        return kernels.live_search(*_probe(view, vector, usable), data.neighbor_rows, config.refine_fan_out, mask,
                                   skip_row, n_candidates, *buffers)


def _best_built(view: View, vector: Vector, usable: np.ndarray, mask: np.ndarray,
                n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """_search_built's best candidates (rows, unnormalised scores; best first), without the rows
    their stored lists add."""
    with view.built.scratch.lend() as buffers:
        return kernels.search_one(*_probe(view, vector, usable), mask, -1, n_candidates, *buffers)


def _probe(view: View, vector: Vector, usable: np.ndarray) -> tuple:
    """The arguments a compiled search of ``vector`` over the built rows starts with (kernels.search_one)."""
    data, config = view.data, view.config
    return (vector.terms, _kernel_weights(vector), usable, data.term_max, config.max_query_terms,
            probe_budget(config, live=True), data.columns.indptr, data.columns.indices, data.columns.data,
            data.rows.indptr, data.rows.terms, data.rows.data)


def _kernel_weights(vector: Vector) -> np.ndarray:
    """``vector``'s query weights as the kernels take them: float32 and read-only, as an indexed
    article's are at build time (one compiled kernel serves both)."""
    return read_only(np.asarray(vector.weights, np.float32))


def _with_dense(view: View, vector: Vector, rows: np.ndarray, scores: np.ndarray, linked: np.ndarray,
                linked_scores: np.ndarray, mask: np.ndarray, skip_row: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A live search's candidates (its best ``rows``, then the ``linked`` rows of their stored lists;
    unnormalised lexical ``scores``) with the (at most n) built rows, among those ``mask`` allows (an
    empty mask: every row), whose embeddings are closest to ``vector``'s, all of them with a positive
    cosine; and each one's blended similarity (see semantic_kernels.joined)."""
    data = view.data
    with view.built.scratch.lend() as buffers:
        return semantic_kernels.joined(rows, scores, linked, linked_scores, _dense_found(view, vector.embedding, mask, n),
                                       skip_row, n, data.embeddings, np.asarray(vector.embedding, np.float64),
                                       view.config.semantic_weight, vector.self_score, vector.terms,
                                       _kernel_weights(vector), data.rows.indptr, data.rows.terms,
                                       data.rows.data, buffers.qdense, buffers.acc)


def _dense_found(view: View, embedding: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Built rows to pick the n closest embeddings from, among those ``mask`` allows (an empty mask:
    every row): twice as many as the nearest-neighbour index finds (it compares a byte per
    dimension; the cosines that choose among them are exact) when there is one and no mask that
    allows only a few rows, else every row allowed."""
    dense = view.data.dense
    allowed = np.flatnonzero(mask) if len(mask) else None
    if dense is not None and (allowed is None or len(allowed) > SCANNED_ROWS):
        return dense.search(embedding[None, :], 2 * n + 1, None if allowed is None else mask)[0]
    return np.arange(len(view.data.embeddings)) if allowed is None else allowed


def _embeddings(view: View, rows: np.ndarray) -> np.ndarray:
    """Embeddings of rows, built or added since the build."""
    built = view.data.embeddings
    rows = np.asarray(rows, dtype=np.int64)
    if not view.appended:
        return np.asarray(built[rows], dtype=np.float64)
    out = np.empty((len(rows), built.shape[1]), dtype=np.float64)
    old = rows < view.n_built
    out[old] = built[rows[old]]
    for p in np.flatnonzero(~old):
        out[p] = view.appended[int(rows[p])].embedding
    return out
