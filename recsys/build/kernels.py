"""Compiled kernels over every article of a build: each article's neighbour list by candidate search
(recsys.index.kernels), its refinement by neighbours of neighbours, impact ordering of the postings,
and exact scores of given candidates.

They run in chunks on a pool of Python threads (each chunk a compiled function that releases the
GIL) rather than as numba ``parallel=True`` loops: the result is the same, and they compile in a
fraction of the time (numba's parallel lowering took most of the first build's half minute), with no
second OpenMP pool next to torch's. ``article_queries`` is aligned with ``data``: the query vector of
article i has the same terms as W[i].
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from ..index.kernels import (contribution_cutoff, cosines, nth_largest, probed_search, query_scores, rescore,
                             strongest_terms)
from ..index.rows import row_split, row_terms, term_of

REVERSE_PER_NEIGHBOUR = 5  # refinement: rows that newly list each neighbour, offered too (the most similar first)


@njit(cache=True, nogil=True)
def _keep(i, rows, scores, self_score, n_keep, out_rows, out_sims):
    """Store row i's best ``n_keep`` (rows, scores / self_score), positive scores only."""
    m = 0
    for c in range(rows.shape[0]):
        if m == n_keep or scores[c] <= 0.0:
            break
        out_rows[i, m] = rows[c]
        out_sims[i, m] = scores[c] / self_score
        m += 1
    for c in range(m, n_keep):
        out_rows[i, c] = -1
        out_sims[i, c] = 0.0


def threads() -> int:
    """Threads the whole-index kernels use: NUMBA_NUM_THREADS, by default the machine's cores."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def _in_chunks(kernel, n: int, n_threads: int | None, *args) -> None:
    """Call ``kernel(*args, lo, hi)`` over [0, n) cut in up to 64 chunks, on ``n_threads`` threads."""
    n_chunks = max(1, min(n, 64))
    size = (n + n_chunks - 1) // n_chunks
    bounds = [(lo, min(n, lo + size)) for lo in range(0, n, size)] if n else []
    n_threads = min(n_threads or threads(), len(bounds))
    if n_threads <= 1:
        for lo, hi in bounds:
            kernel(*args, lo, hi)
        return
    with ThreadPoolExecutor(n_threads) as pool:
        for done in [pool.submit(kernel, *args, lo, hi) for lo, hi in bounds]:
            done.result()


def all_neighbours(article_queries, usable, term_max, max_query_terms, budget, colptr, rowidx, colval, indptr,
                   terms, data, n_candidates, n_keep, first, last, order, n_threads=None):
    """For every row i in [first, last), its ``n_keep`` best other rows by q_i . W[j] / q_i . W[i],
    searched for in ``order`` (those rows, each once; see lead_terms).

    ``article_queries`` is aligned with ``data`` (the query vector of row i has the same terms as W[i]).
    Returns (rows int32 (last - first, n_keep), padded with -1; normalised scores float32; self
    scores float64).
    """
    n_out = last - first
    out_rows = np.full((n_out, n_keep), -1, np.int32)
    out_sims = np.zeros((n_out, n_keep), np.float32)
    self_scores = np.zeros(n_out, np.float64)
    _in_chunks(_neighbours_chunk, n_out, n_threads, article_queries, usable, term_max, max_query_terms, budget, colptr,
               rowidx, colval, indptr, terms, data, n_candidates, n_keep, first, order, out_rows, out_sims,
               self_scores)
    return out_rows, out_sims, self_scores


@njit(cache=True, nogil=True)
def _neighbours_chunk(article_queries, usable, term_max, max_query_terms, budget, colptr, rowidx, colval, indptr, terms,
                      data, n_candidates, n_keep, first, order, out_rows, out_sims, self_scores, lo, hi):
    """all_neighbours for the rows order[lo:hi], written in place (row i at output row i - first)."""
    n_rows = indptr.shape[0] - 1
    every_row = np.zeros(0, np.bool_)
    acc = np.zeros(n_rows, np.float32)
    touched = np.empty(n_rows + 1, np.int32)
    qdense = np.zeros(usable.shape[0], np.float32)  # the queries are float32: half the cache of float64
    for c in range(lo, hi):
        i = order[c]
        o = i - first
        a, b = indptr[i], indptr[i + 1]
        q_terms = row_terms(indptr, terms, i)
        q_weights = article_queries[a:b]
        self_score = 0.0
        for p in range(b - a):
            self_score += q_weights[p] * data[a + p]
        self_scores[o] = self_score
        if self_score <= 0.0:
            continue
        probe = strongest_terms(q_terms, q_weights, usable, term_max, max_query_terms)
        cutoff = contribution_cutoff(q_terms, q_weights, probe, colptr, colval, term_max, budget)
        rows, scores = probed_search(q_terms, q_weights, probe, cutoff, colptr, rowidx, colval, indptr,
                               terms, data, every_row, i, n_candidates, acc, touched, qdense)
        _keep(o, rows, scores, self_score, n_keep, out_rows, out_sims)


@njit(cache=True, nogil=True)
def _merge_keep(o, old_rows, old_sims, rows, sims, n_keep, out_rows, out_sims, out_fresh):
    """Row o of the outputs: the best ``n_keep`` of a row's old list (rows, sims; best first) and of
    newly scored candidates (rows, sims; best first, none in the old list), ties by row; positive
    similarities only. ``out_fresh`` marks the entries that come from the new candidates."""
    a = b = m = 0
    while m < n_keep:
        take_old = a < old_rows.shape[0] and old_rows[a] >= 0 and old_sims[a] > 0.0
        take_new = b < rows.shape[0] and sims[b] > 0.0
        if take_old and take_new:
            if sims[b] > old_sims[a] or (sims[b] == old_sims[a] and rows[b] < old_rows[a]):
                take_old = False
        if take_old:
            out_rows[o, m], out_sims[o, m], out_fresh[o, m] = old_rows[a], old_sims[a], False
            a += 1
        elif take_new:
            out_rows[o, m], out_sims[o, m], out_fresh[o, m] = rows[b], sims[b], True
            b += 1
        else:
            break
        m += 1
    for c in range(m, n_keep):
        out_rows[o, c] = -1
        out_sims[o, c] = 0.0
        out_fresh[o, c] = False


def refine(article_queries, indptr, terms, data, n_terms, self_scores, nb_rows, nb_sims, fresh, first, last, fan_out,
           n_keep, order, n_threads=None):
    """One round of refinement for rows [first, last): each row's new candidates are the first
    ``fan_out`` entries of the lists of its first ``fan_out`` neighbours (NN-descent), up to
    ``fan_out`` rows whose lists newly hold it (reverse edges) and, for each of those neighbours,
    up to REVERSE_PER_NEIGHBOUR rows whose lists newly hold the neighbour (NN-descent's reverse
    neighbours), re-scored exactly and merged into its list. ``nb_rows``, ``nb_sims`` (n_rows,
    n_keep) hold every row's current list and ``fresh`` marks the entries that joined it in the
    previous step: a pair reached through two entries that are not fresh was scored in an earlier
    round, and is skipped. The rows go in ``order`` (as in all_neighbours). Returns new (rows,
    normalised scores, fresh) for rows [first, last)."""
    n_out = last - first
    out_rows = np.full((n_out, n_keep), -1, np.int32)
    out_sims = np.zeros((n_out, n_keep), np.float32)
    out_fresh = np.zeros((n_out, n_keep), np.bool_)
    offer_ptr, offer_rows = reverse_offers(nb_rows, nb_sims, fresh, fan_out)
    _in_chunks(_refine_chunk, n_out, n_threads, article_queries, indptr, terms, data, n_terms, self_scores, nb_rows,
               nb_sims, fresh, offer_ptr, offer_rows, first, order, fan_out, n_keep, out_rows, out_sims, out_fresh)
    return out_rows, out_sims, out_fresh


@njit(cache=True, nogil=True)
def reverse_offers(nb_rows, nb_sims, fresh, cap, block=1 << 18):
    """Reverse edges as CSR (indptr, rows): for each row i, up to ``cap`` rows j whose lists newly
    hold i (fresh entries), the most similar first (ties: the lower j). For each ``block`` of rows
    at a time (so the scratch is a block's offers, not all of them), the fresh entries that name
    them are laid out by the row they name, j ascending (a counting sort), then each row's are
    sorted by similarity and the first ``cap`` kept."""
    n, k = nb_rows.shape
    counts = np.zeros(n, np.int64)
    for j in range(n):
        for c in range(k):
            if nb_rows[j, c] >= 0 and fresh[j, c]:
                counts[nb_rows[j, c]] += 1
    indptr = np.zeros(n + 1, np.int64)
    for t in range(n):
        indptr[t + 1] = indptr[t] + min(counts[t], cap)
    offers = np.empty(indptr[n], np.int32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        starts = np.zeros(hi - lo + 1, np.int64)
        for t in range(lo, hi):
            starts[t - lo + 1] = starts[t - lo] + counts[t]
        sources = np.empty(starts[hi - lo], np.int32)
        sims = np.empty(starts[hi - lo], np.float32)
        filled = starts[:hi - lo].copy()
        for j in range(n):
            for c in range(k):
                t = nb_rows[j, c]
                if lo <= t < hi and fresh[j, c]:
                    sources[filled[t - lo]], sims[filled[t - lo]] = j, nb_sims[j, c]
                    filled[t - lo] += 1
        for t in range(lo, hi):
            a, b = starts[t - lo], starts[t - lo + 1]
            kept = indptr[t + 1] - indptr[t]
            if kept == 0:
                continue
            order = np.argsort(-sims[a:b], kind="mergesort")[:kept]  # stable: the lower j first on ties
            for c in range(kept):
                offers[indptr[t] + c] = sources[a + order[c]]
    return indptr, offers


@njit(cache=True, nogil=True)
def _offer(rows, i, seen, cand, m):
    """Append to ``cand[:m]`` those of ``rows`` not yet offered to row i (``seen[j] == i`` for those
    offered, these now included); returns the new m."""
    for j in rows:
        if seen[j] != i:
            seen[j] = i
            cand[m] = j
            m += 1
    return m


@njit(cache=True, nogil=True)
def _refine_chunk(article_queries, indptr, terms, data, n_terms, self_scores, nb_rows, nb_sims, fresh, offer_ptr,
                  offer_rows, first, order, fan_out, n_keep, out_rows, out_sims, out_fresh, lo, hi):
    """refine for the rows order[lo:hi], written in place (row i at output row i - first)."""
    n_rows = indptr.shape[0] - 1
    width = min(fan_out, nb_rows.shape[1])
    seen = np.full(n_rows, -1, np.int64)
    qdense = np.zeros(n_terms, np.float32)
    cand = np.empty(width * (width + REVERSE_PER_NEIGHBOUR) + fan_out, np.int32)
    for oc in range(lo, hi):
        i = order[oc]
        o = i - first
        if self_scores[i] <= 0.0:
            continue
        seen[i] = i
        for c in range(nb_rows.shape[1]):
            if nb_rows[i, c] >= 0:
                seen[nb_rows[i, c]] = i  # already scored
        m = 0
        for c in range(width):
            j = nb_rows[i, c]
            if j < 0:
                break
            for c2 in range(width):
                j2 = nb_rows[j, c2]
                if j2 < 0:
                    break
                if seen[j2] != i and (fresh[i, c] or fresh[j, c2]):
                    seen[j2] = i
                    cand[m] = j2
                    m += 1
            # rows that newly list a neighbour of i (NN-descent's reverse neighbours)
            m = _offer(offer_rows[offer_ptr[j]:min(offer_ptr[j + 1], offer_ptr[j] + REVERSE_PER_NEIGHBOUR)], i,
                       seen, cand, m)
        m = _offer(offer_rows[offer_ptr[i]:offer_ptr[i + 1]], i, seen, cand, m)  # rows that newly list i
        a, b = indptr[i], indptr[i + 1]
        rows, scores = rescore(np.sort(cand[:m]), row_terms(indptr, terms, i), article_queries[a:b], indptr, terms,
                               data, qdense)
        sims = (scores / self_scores[i]).astype(np.float32)
        _merge_keep(o, nb_rows[i], nb_sims[i], rows, sims, n_keep, out_rows, out_sims, out_fresh)


def lead_terms(article_queries, usable, term_max, indptr, terms, first, last):
    """For rows [first, last), the usable term through which each can add most to any article's
    score (q_weight * the term's largest weight, as strongest_terms ranks them; the first such
    on ties; -1: none). Articles that share it are often of one story."""
    out = np.full(last - first, -1, np.int64)
    _in_chunks(_lead_chunk, last - first, None, article_queries, usable, term_max, indptr, terms, first, out)
    return out


@njit(cache=True, nogil=True)
def _lead_chunk(article_queries, usable, term_max, indptr, terms, first, out, lo, hi):
    """lead_terms for output rows [lo, hi), written in place."""
    low, high, high_ptr = terms
    for o in range(lo, hi):
        best = 0.0
        split, base = row_split(indptr, high_ptr, first + o)
        for p in range(indptr[first + o], indptr[first + o + 1]):
            t = term_of(low, high, p, split, base)
            key = article_queries[p] * term_max[t]
            if usable[t] and key > best:
                best, out[o] = key, t


def renumber_columns(indptr, indices, data, new_id, n_threads=None) -> None:
    """Move every entry of a CSR matrix to column ``new_id[its column]``, in place, each row's
    entries sorted again by column (a row's columns are distinct)."""
    _in_chunks(_renumber_chunk, indptr.shape[0] - 1, n_threads, indptr, indices, data, new_id)


@njit(cache=True, nogil=True)
def _renumber_chunk(indptr, indices, data, new_id, lo, hi):
    """renumber_columns for rows [lo, hi)."""
    for i in range(lo, hi):
        a, b = indptr[i], indptr[i + 1]
        columns = np.empty(b - a, indices.dtype)
        for c in range(b - a):
            columns[c] = new_id[indices[a + c]]
        _write_in_order(np.argsort(columns), columns, data[a:b], indices, data, a)


def impact_order(colptr, rowidx, colval, n_threads=None) -> None:
    """Sort every column of a CSC matrix in place by value, largest first (ties: lower row first)."""
    _in_chunks(_impact_order_chunk, colptr.shape[0] - 1, n_threads, colptr, rowidx, colval)


@njit(cache=True, nogil=True)
def _impact_order_chunk(colptr, rowidx, colval, lo, hi):
    """impact_order for columns [lo, hi)."""
    for t in range(lo, hi):
        a, b = colptr[t], colptr[t + 1]
        if b - a < 2:
            continue
        order = np.argsort(-colval[a:b].astype(np.float64), kind="mergesort")  # the float64 sort others use
        _write_in_order(order, rowidx[a:b], colval[a:b], rowidx, colval, a)


@njit(cache=True, nogil=True)
def _write_in_order(order, keys, values, out_keys, out_values, start):
    """Write keys[order] and values[order] to out_keys and out_values from position ``start`` on
    (copied first, so keys and values may be views of the outputs; then element by element: a
    slice assignment compiles its error path, seconds)."""
    keys, values = keys[order], values[order]
    for c in range(order.shape[0]):
        out_keys[start + c] = keys[c]
        out_values[start + c] = values[c]


def pooling(indptr, data, max_terms, n_threads=None):
    """Where ``pooled`` starts from, per CSR row: which of its entries it adds (those above the
    float32 floor, and the first at_floor equal to it: its ``max_terms`` largest weights, ties: the
    lower term id) and its next entry (the row's first). Returns (floors, at_floors, cursors),
    which ``pooled`` advances."""
    n = len(indptr) - 1
    floors, at_floors = np.full(n, -np.inf, np.float32), np.zeros(n, np.int64)
    _in_chunks(_floors_chunk, n, n_threads, indptr, data, max_terms, floors, at_floors)
    return floors, at_floors, np.array(indptr[:-1], dtype=np.int64)


@njit(cache=True, nogil=True)
def _floors_chunk(indptr, data, max_terms, floors, at_floors, lo, hi):
    """The floors and at_floors of ``pooling`` for rows [lo, hi), written in place."""
    for i in range(lo, hi):
        a, b = indptr[i], indptr[i + 1]
        at_floors[i] = b - a
        if b - a > max_terms:
            floors[i] = nth_largest(data[a:b].copy(), max_terms)
            at_floors[i] = max_terms - np.sum(data[a:b] > floors[i])


def pooled(indptr, terms, data, vectors, first_term, state, out, n_threads=None):
    """Add to ``out`` (n_rows, d) float32, in place, each CSR row's sum of ``vectors[term -
    first_term] * weight`` over the entries ``state`` (from ``pooling``) selects whose term is one
    of the ``len(vectors)`` from ``first_term`` on. Call it for consecutive blocks of terms from the
    first (each row's terms ascending): each entry is read once, and the sums are the same, bit
    for bit, as those of all the terms at once."""
    floors, at_floors, cursors = state
    _in_chunks(_pooled_chunk, len(out), n_threads, indptr, terms, data, vectors, first_term, floors, at_floors,
               cursors, out)


@njit(cache=True, nogil=True)
def _pooled_chunk(indptr, terms, data, vectors, first_term, floors, at_floors, cursors, out, lo, hi):
    """pooled for rows [lo, hi), added in place to ``out``; advances their at_floors and cursors."""
    last_term = first_term + vectors.shape[0]
    low, high, high_ptr = terms
    for i in range(lo, hi):
        floor, at_floor, p, end = floors[i], at_floors[i], cursors[i], indptr[i + 1]
        split, base = row_split(indptr, high_ptr, i)
        while p < end and term_of(low, high, p, split, base) < last_term:
            weight = data[p]
            if weight > floor or (weight == floor and at_floor > 0):
                if weight == floor:
                    at_floor -= 1
                term = term_of(low, high, p, split, base)
                for c in range(vectors.shape[1]):
                    out[i, c] += np.float32(weight) * vectors[term - first_term, c]
            p += 1
        at_floors[i], cursors[i] = at_floor, p


def blended_lists(article_queries, indptr, terms, data, n_terms, self_scores, embeddings, lexical_rows,
                  lexical_sims, rows, candidates, weight, n_threads=None):
    """For each of ``rows`` (int64): its best ``lexical_rows.shape[1]`` candidates by
    (1 - weight) * lexical + weight * max(cosine, 0), exactly. The candidates are its lexical list
    (``lexical_sims`` already exact) and its line of ``candidates`` (-1: none), scored lexically
    here when the lexical list lacks them; ties go to the lower row. Returns (rows, -1 padded;
    similarities), a line per row of ``rows``."""
    n, keep = len(candidates), lexical_rows.shape[1]
    out_rows = np.full((n, keep), -1, np.int32)
    out_sims = np.zeros((n, keep), np.float32)
    _in_chunks(_blended_chunk, n, n_threads, article_queries, indptr, terms, data, n_terms, self_scores, embeddings,
               lexical_rows, lexical_sims, rows, candidates, weight, out_rows, out_sims)
    return out_rows, out_sims


@njit(cache=True, nogil=True)
def _blended_chunk(article_queries, indptr, terms, data, n_terms, self_scores, embeddings, lexical_rows,
                   lexical_sims, block_rows, candidates, weight, out_rows, out_sims, lo, hi):
    """blended_lists for lines [lo, hi) (rows block_rows[lo:hi]), written in place."""
    qdense = np.zeros(n_terms, np.float32)
    n_lexical, n_other, keep = lexical_rows.shape[1], candidates.shape[1], out_rows.shape[1]
    rows = np.empty(n_lexical + n_other, np.int64)
    sims = np.empty(n_lexical + n_other, np.float64)
    for o in range(lo, hi):
        i = block_rows[o]
        m = 0
        for c in range(n_lexical):
            j = lexical_rows[i, c]
            if j >= 0:
                rows[m], sims[m] = j, (1 - weight) * lexical_sims[i, c]
                m += 1
        listed = m
        for c in range(n_other):
            j = candidates[o, c]
            if j >= 0 and j != i and not _among(rows, listed, j):
                rows[m] = j
                m += 1
        a, b = indptr[i], indptr[i + 1]
        scores = query_scores(row_terms(indptr, terms, i), article_queries[a:b], indptr, terms, data, rows[listed:m],
                              qdense)
        for c in range(listed, m):
            sims[c] = (1 - weight) * (scores[c - listed] / self_scores[i] if self_scores[i] > 0 else 0.0)
        semantic = cosines(embeddings, rows[:m], embeddings[i])
        for c in range(m):
            sims[c] += weight * max(semantic[c], 0.0)
        by_row = np.argsort(rows[:m], kind="mergesort")
        best = by_row[np.argsort(-sims[:m][by_row], kind="mergesort")][:keep]
        for c in range(len(best)):
            out_rows[o, c] = rows[best[c]]
            out_sims[o, c] = sims[best[c]]


@njit(cache=True, nogil=True)
def _among(rows, m, j):
    for c in range(m):
        if rows[c] == j:
            return True
    return False
