"""Compiled kernels of a live search's semantic channel (recsys.query.search.candidates): the
embeddings' candidates, chosen by exact cosine, joined to the lexical search's, and every
candidate's similarity with the cosine blended in: one call instead of a dozen numpy steps on
arrays of a few hundred rows, each of which cost more to call than to run."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..index.kernels import cosines, mark, query_scores


@njit(cache=True, nogil=True)
def closest(found, skip_row, n, embeddings, embedding):
    """The (at most n) rows of ``found`` (-1 and ``skip_row`` left out) whose embeddings have the
    largest positive cosine with ``embedding`` (ties: the earlier in ``found``), ascending."""
    rows = found[(found >= 0) & (found != skip_row)].astype(np.int64)
    cos = cosines(embeddings, rows, embedding)
    best = np.argsort(-cos, kind="mergesort")[:n]
    return np.sort(rows[best[cos[best] > 0.0]])


@njit(cache=True, nogil=True)
def _merged(a, a_scores, b, b_scores):
    """Two ascending, disjoint row arrays and their scores as one, ascending."""
    rows = np.empty(a.shape[0] + b.shape[0], np.int64)
    scores = np.empty(rows.shape[0])
    i = j = 0
    for c in range(rows.shape[0]):
        if j == b.shape[0] or (i < a.shape[0] and a[i] < b[j]):
            rows[c], scores[c] = a[i], a_scores[i]
            i += 1
        else:
            rows[c], scores[c] = b[j], b_scores[j]
            j += 1
    return rows, scores


@njit(cache=True, nogil=True)
def joined(rows, scores, linked, linked_scores, found, skip_row, n_dense, embeddings, embedding, weight, self_score,
           q_terms, q_weights, indptr, terms, data, qdense, marks):
    """The candidates of a live search with the semantic channel: its best ``rows``, then, ascending,
    the ``linked`` rows of their stored lists and the ``n_dense`` rows of ``found`` (the dense
    index's, or every allowed row) closest to ``embedding`` that are not among them, with the
    similarity of each: (1 - weight) * its lexical score (``scores``; the dense rows' scored here)
    over ``self_score`` + weight * its cosine (at least 0). ``qdense`` (zeroed, size n_terms) and
    ``marks`` (float32, zeroed, a slot per row) are scratch, returned zeroed."""
    dense = closest(found, skip_row, n_dense, embeddings, embedding)
    mark(marks, rows, 1.0)
    mark(marks, linked, 1.0)
    is_new = np.empty(dense.shape[0], np.bool_)
    for c in range(dense.shape[0]):
        is_new[c] = marks[dense[c]] == 0.0
    mark(marks, rows, 0.0)
    mark(marks, linked, 0.0)
    new = dense[is_new]
    more, more_scores = _merged(linked.astype(np.int64), linked_scores.astype(np.float64), new,
                                query_scores(q_terms, q_weights, indptr, terms, data, new, qdense))
    out = np.concatenate((rows.astype(np.int64), more))
    lexical = np.concatenate((scores.astype(np.float64), more_scores))
    if self_score > 0.0:
        lexical /= self_score
    else:
        lexical[:] = 0.0
    return out, (1.0 - weight) * lexical + weight * np.maximum(cosines(embeddings, out, embedding), 0.0)
