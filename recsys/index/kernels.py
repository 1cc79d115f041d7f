"""Compiled scoring kernels (numba): candidate search over impact-ordered term postings, exact
re-scoring, and the neighbour-of-neighbour refinement of the precomputed lists.

Notation: the index is a document-term weight matrix W, held both as CSR (rows = articles; the
kernels take their term ids as ``terms``, see recsys.index.rows) and as CSC (columns = term
postings, each column sorted by weight, largest first: impact order). A query is a sparse term
vector q. The exact score of article j is the dot product q . W[j].

Candidates are found by visiting, over the query's strongest terms, only the postings whose
contribution q_t * W[j, t] is at least a cut-off chosen per query so that about ``budget`` postings
are visited (the largest contributions first, whatever the corpus size), summing them per article;
the best ``n_candidates`` sums are then re-scored exactly on all query terms. When the query's
postings number no more than ``budget`` every one is visited, and the result is exact.

The build's kernels over every article (recsys.build.kernels) use the same search.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .prefetch import fetch_row, fetch_span, fetch_vector
from .rows import LOW_BITS, row_split


@njit(cache=True, nogil=True)
def strongest_terms(q_terms, q_weights, usable, term_max, max_terms):
    """Positions (into q_terms) of the usable query terms that can add most to any article's score,
    q_weight * (the term's largest weight in any article), best first."""
    n = q_terms.shape[0]
    keys = np.empty(n, np.float64)
    for p in range(n):
        t = q_terms[p]
        keys[p] = -(q_weights[p] * term_max[t]) if usable[t] else np.inf
    order = np.argsort(keys, kind="mergesort")
    count = 0
    while count < n and count < max_terms and keys[order[count]] < 0:
        count += 1
    return order[:count]


@njit(cache=True, nogil=True)
def _visited(w, colptr, colval, t, cutoff):
    """How many of term t's postings (impact order) contribute at least ``cutoff`` with weight w."""
    lo, hi = colptr[t], colptr[t + 1]
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if w * colval[m] >= cutoff:
            a = m + 1
        else:
            b = m
    return a - lo


@njit(cache=True, nogil=True)
def contribution_cutoff(q_terms, q_weights, probe, colptr, colval, term_max, budget):
    """The smallest contribution worth visiting: 0 when the probe terms' postings number at most
    ``budget``, else (bisection) a value at which about ``budget`` postings contribute that much."""
    total = 0
    top = 0.0
    for p in probe:
        t = q_terms[p]
        total += colptr[t + 1] - colptr[t]
        top = max(top, q_weights[p] * term_max[t])
    if total <= budget or top <= 0.0:
        return 0.0
    lo, hi = top * 1e-6, top
    for _ in range(24):
        mid = np.sqrt(lo * hi)
        count = 0
        for p in probe:
            count += _visited(q_weights[p], colptr, colval, q_terms[p], mid)
        if count > budget:
            lo = mid
        else:
            hi = mid
    return hi


@njit(cache=True, nogil=True)
def nth_largest(values, n):
    """The n-th largest of ``values`` (n >= 1), which are reordered (quickselect, Hoare's partition)."""
    lo, hi, k = 0, values.shape[0] - 1, n - 1
    while lo < hi:
        pivot = values[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while values[i] > pivot:
                i += 1
            while values[j] < pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return values[k]


@njit(cache=True, nogil=True)
def _sift_down(heap_scores, heap_items, heap_order, size, at):
    """Restore the heap below position ``at``: each parent is worse than its children (a lower
    score, or the same score and a later order)."""
    while True:
        worst, left = at, 2 * at + 1
        for child in (left, left + 1):
            if child < size and (heap_scores[child] < heap_scores[worst] or (
                    heap_scores[child] == heap_scores[worst] and heap_order[child] > heap_order[worst])):
                worst = child
        if worst == at:
            return
        heap_scores[at], heap_scores[worst] = heap_scores[worst], heap_scores[at]
        heap_items[at], heap_items[worst] = heap_items[worst], heap_items[at]
        heap_order[at], heap_order[worst] = heap_order[worst], heap_order[at]
        at = worst


@njit(cache=True, nogil=True)
def _collect_best(touched, n_touched, acc, n):
    """The n touched rows with the highest sums in ``acc`` (ties: earlier touched first), in no
    particular order, in one pass that also zeroes their sums: a heap of the best so far, whose
    worst a row must beat to enter (n < n_touched)."""
    heap_scores = np.empty(n, np.float32)
    heap_items = np.empty(n, touched.dtype)
    heap_order = np.empty(n, np.int64)
    for c in range(n):
        j = touched[c]
        heap_scores[c], heap_items[c], heap_order[c] = acc[j], j, c
        acc[j] = 0.0
    for at in range(n // 2 - 1, -1, -1):
        _sift_down(heap_scores, heap_items, heap_order, n, at)
    for c in range(n, n_touched):
        j = touched[c]
        score = acc[j]
        acc[j] = 0.0
        if score > heap_scores[0]:  # a later row with an equal sum is worse
            heap_scores[0], heap_items[0], heap_order[0] = score, j, c
            _sift_down(heap_scores, heap_items, heap_order, n, 0)
    return heap_items


ROWS_AT_ONCE = 4  # rows exact scoring reads side by side (8 or 16 were no faster at 100k)
FETCHED_AHEAD = 2 * ROWS_AT_ONCE  # rows exact scoring asks the memory for before it reads them


@njit(cache=True, nogil=True)
def _dot(a, b, split, base, low, high, data, qdense, s):
    """s plus the row entries [a, b) times the query's weights of their terms, in order (``split``
    and ``base``: the row's, see rows.row_split)."""
    for pp in range(a, min(b, split)):
        s += np.float64(qdense[low[pp]]) * data[pp]  # float32 scratch: a float64 sum all the same
    for pp in range(max(a, split), b):
        s += np.float64(qdense[np.int64(low[pp]) | (np.int64(high[base + pp]) << LOW_BITS)]) * data[pp]
    return s


@njit(cache=True, nogil=True)
def _scores(targets, q_terms, q_weights, indptr, terms, data, qdense):
    """Exact scores q . W[j] of the target rows. ``qdense`` (zeroed, size n_terms) is returned zeroed.
    ROWS_AT_ONCE rows go side by side, so that their fetches from main memory overlap (the time
    goes there: the rows, and the query weights of their rarer terms); each row's sum is taken in
    the order of its entries all the same."""
    for p in range(q_terms.shape[0]):
        qdense[q_terms[p]] = q_weights[p]
    low, high, high_ptr = terms
    n, lanes = targets.shape[0], ROWS_AT_ONCE
    exact = np.empty(n, np.float64)
    starts, ends, sums = np.empty(lanes, np.int64), np.empty(lanes, np.int64), np.empty(lanes, np.float64)
    splits, bases = np.empty(lanes, np.int64), np.empty(lanes, np.int64)
    for c in range(min(n, FETCHED_AHEAD)):
        fetch_row(indptr, low, high_ptr, data, targets[c])
    for c in range(0, n - n % lanes, lanes):
        for f in range(c + FETCHED_AHEAD, min(n, c + FETCHED_AHEAD + lanes)):  # the rows after these, meanwhile
            fetch_row(indptr, low, high_ptr, data, targets[f])
        common = rare = np.iinfo(np.int64).max
        for lane in range(lanes):
            row = targets[c + lane]
            starts[lane], ends[lane] = indptr[row], indptr[row + 1]
            splits[lane], bases[lane] = row_split(indptr, high_ptr, row)
            fetch_span(high, bases[lane] + splits[lane], bases[lane] + ends[lane])
            sums[lane] = 0.0
            common = min(common, splits[lane] - starts[lane])
            rare = min(rare, ends[lane] - splits[lane])
        for e in range(common):  # the entries whose terms fit in 16 bits, side by side
            for lane in range(lanes):
                pp = starts[lane] + e
                sums[lane] += np.float64(qdense[low[pp]]) * data[pp]
        for lane in range(lanes):
            sums[lane] = _dot(starts[lane] + common, splits[lane], splits[lane], bases[lane], low, high, data, qdense,
                              sums[lane])
        for e in range(rare):  # then those with upper bits, side by side
            for lane in range(lanes):
                pp = splits[lane] + e
                term = np.int64(low[pp]) | (np.int64(high[bases[lane] + pp]) << LOW_BITS)
                sums[lane] += np.float64(qdense[term]) * data[pp]
        for lane in range(lanes):
            exact[c + lane] = _dot(splits[lane] + rare, ends[lane], splits[lane], bases[lane], low, high, data,
                                   qdense, sums[lane])
    for c in range(n - n % lanes, n):
        row = targets[c]
        split, base = row_split(indptr, high_ptr, row)
        exact[c] = _dot(indptr[row], indptr[row + 1], split, base, low, high, data, qdense, 0.0)
    for p in range(q_terms.shape[0]):
        qdense[q_terms[p]] = 0.0
    return exact


@njit(cache=True, nogil=True)
def rescore(cand, q_terms, q_weights, indptr, terms, data, qdense):
    """Candidate rows and their exact scores, best first, ties by row (cand: ascending rows)."""
    exact = _scores(cand, q_terms, q_weights, indptr, terms, data, qdense)
    order = np.argsort(-exact, kind="mergesort")
    return cand[order], exact[order]


@njit(cache=True, nogil=True)
def probed_search(q_terms, q_weights, probe, cutoff, colptr, rowidx, colval, indptr, terms, data,
            row_mask, skip_row, n_candidates, acc, touched, qdense):
    """Top candidates of one query: (rows, exact scores), best first, ties by row.

    ``probe`` lists the positions of the query terms used to find candidates, and ``cutoff`` the
    smallest contribution visited; ``row_mask`` the rows that may be returned (an empty mask: every
    row). ``acc`` (float32, zeroed, size n_rows), ``touched`` (int32, size n_rows + 1) and
    ``qdense`` (zeroed, size n_terms) are scratch buffers; the zeroed ones are returned zeroed. A
    row is new to ``acc`` while its sum is 0, so zero weights are skipped.
    """
    n_touched = 0
    filtered = row_mask.shape[0] > 0
    for p in probe:
        t = q_terms[p]
        w = np.float32(q_weights[p])
        if w <= 0.0:
            continue
        end = _visited(w, colptr, colval, t, max(cutoff, 1e-30)) + colptr[t]  # impact order: past here, less
        for pp in range(colptr[t], end):
            j = rowidx[pp]
            if filtered and not row_mask[j]:
                continue
            a = acc[j]
            touched[n_touched] = j  # branch-free: kept only when the row is new
            n_touched += a == 0.0
            acc[j] = a + w * colval[pp]
    if skip_row >= 0 and acc[skip_row] != 0.0:
        acc[skip_row] = 0.0
        for c in range(n_touched):
            if touched[c] == skip_row:
                n_touched -= 1
                touched[c] = touched[n_touched]
                break
    if n_touched > n_candidates:
        cand = _collect_best(touched, n_touched, acc, n_candidates)
    else:
        cand = touched[:n_touched].copy()
        for c in range(n_touched):
            acc[cand[c]] = 0.0
    return rescore(np.sort(cand), q_terms, q_weights, indptr, terms, data, qdense)


@njit(cache=True, nogil=True)
def search_one(q_terms, q_weights, usable, term_max, max_query_terms, budget, colptr, rowidx, colval,
               indptr, terms, data, row_mask, skip_row, n_candidates, acc, touched, qdense):
    """Top ``n_candidates`` rows for one query vector, re-scored exactly (see probed_search, which
    describes the scratch buffers: reused across calls, so a query touches no fresh memory)."""
    probe = strongest_terms(q_terms, q_weights, usable, term_max, max_query_terms)
    cutoff = contribution_cutoff(q_terms, q_weights, probe, colptr, colval, term_max, budget)
    return probed_search(q_terms, q_weights, probe, cutoff, colptr, rowidx, colval, indptr, terms, data,
                   row_mask, skip_row, n_candidates, acc, touched, qdense)


@njit(cache=True, nogil=True)
def mark(marks, rows, value):
    """Set each of ``rows``' slots in ``marks`` to ``value`` (marking rows seen in a scratch array)."""
    for c in range(rows.shape[0]):
        marks[rows[c]] = value


@njit(cache=True, nogil=True)
def _linked(rows, neighbor_rows, fan_out, row_mask, skip_row, acc, touched):
    """Ascending rows in the stored lists (first ``fan_out`` entries) of the first ``fan_out`` of
    ``rows``, not among ``rows``, not ``skip_row``, and allowed by ``row_mask`` (empty: every row).
    ``acc`` (zeroed) marks rows already taken and is returned zeroed; ``touched`` is scratch (so
    ``rows`` must not be a view of it)."""
    filtered = row_mask.shape[0] > 0
    mark(acc, rows, 1.0)
    n = 0
    width = min(fan_out, neighbor_rows.shape[1])
    for s in range(min(fan_out, rows.shape[0])):
        for c in range(width):
            j = neighbor_rows[rows[s], c]
            if j < 0 or j == skip_row or acc[j] != 0.0 or (filtered and not row_mask[j]):
                continue
            acc[j] = 1.0
            touched[n] = j
            n += 1
    mark(acc, rows, 0.0)
    linked = np.sort(touched[:n])
    mark(acc, linked, 0.0)
    return linked


@njit(cache=True, nogil=True)
def live_search(q_terms, q_weights, usable, term_max, max_query_terms, budget, colptr, rowidx, colval,
                indptr, terms, data, neighbor_rows, fan_out, row_mask, skip_row, n_candidates,
                acc, touched, qdense):
    """A search of a query that has no stored list: search_one's candidates (rows, exact scores;
    best first), then the rows its first ``fan_out`` candidates list among their first ``fan_out``
    stored neighbours (see _linked) with their exact scores: (rows, scores, linked, linked scores)."""
    rows, scores = search_one(q_terms, q_weights, usable, term_max, max_query_terms, budget, colptr, rowidx,
                              colval, indptr, terms, data, row_mask, skip_row, n_candidates, acc,
                              touched, qdense)
    linked = _linked(rows, neighbor_rows, fan_out, row_mask, skip_row, acc, touched)
    return rows, scores, linked, _scores(linked, q_terms, q_weights, indptr, terms, data, qdense)


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def embedding_dot(a, b):
    """a . b of two embeddings, summed in float64 in SIMD lanes: reassociating the sum lets it run
    about three times faster, and it differs from numpy's by rounding (about 1e-16)."""
    s = 0.0
    for x in range(a.shape[0]):
        s += np.float64(a[x]) * b[x]
    return s


@njit(cache=True, nogil=True)
def cosines(embeddings, rows, embedding):
    """The dot product of ``embedding`` with each of ``rows``' embeddings (embedding_dot), asking
    the memory for the embeddings a few rows ahead of the one being summed."""
    n = rows.shape[0]
    out = np.empty(n)
    for c in range(min(n, FETCHED_AHEAD)):
        fetch_vector(embeddings, rows[c])
    for c in range(n):
        if c + FETCHED_AHEAD < n:
            fetch_vector(embeddings, rows[c + FETCHED_AHEAD])
        out[c] = embedding_dot(embeddings[rows[c]], embedding)
    return out


@njit(cache=True, nogil=True)
def query_scores(q_terms, q_weights, indptr, terms, data, targets, qdense):
    """The exact score q . W[j] of one query vector against each row j of ``targets`` (``qdense``:
    zeroed scratch of size n_terms, returned zeroed)."""
    return _scores(targets, q_terms, q_weights, indptr, terms, data, qdense)
