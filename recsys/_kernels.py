"""Compiled scoring kernels (numba): candidate search over impact-ordered term postings, exact
re-scoring, and the neighbour-of-neighbour refinement of the precomputed lists.

Notation: the index is a document-term weight matrix W, held both as CSR (rows = articles) and
as CSC (columns = term postings, each column sorted by weight, largest first: impact order). A
query is a sparse term vector q. The exact score of article j is the dot product q . W[j].

Candidates are found by visiting, over the query's strongest terms, only the postings whose
contribution q_t * W[j, t] is at least a cut-off chosen per query so that about ``budget`` postings
are visited (the largest contributions first, whatever the corpus size), summing them per article;
the best ``n_candidates`` sums are then re-scored exactly on all query terms. When the query's
postings number no more than ``budget`` every one is visited, and the result is exact.

The kernels over every article run in chunks on a pool of Python threads (each chunk a compiled
function that releases the GIL) rather than as numba ``parallel=True`` loops: the result is the
same, and they compile in a fraction of the time (numba's parallel lowering took most of the first
build's half minute), with no second OpenMP pool next to torch's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _strongest_terms(q_terms, q_weights, usable, term_max, max_terms):
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
def _cutoff(q_terms, q_weights, probe, colptr, colval, term_max, budget):
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
def _nth_largest(values, n):
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
def _best(items, scores, n):
    """The n items with the highest scores (ties: earlier items first), in no particular order."""
    threshold = _nth_largest(scores.copy(), n)
    chosen = np.empty(n, items.dtype)
    m = 0
    for c in range(scores.shape[0]):
        if scores[c] > threshold:
            chosen[m] = items[c]
            m += 1
    for c in range(scores.shape[0]):
        if m == n:
            break
        if scores[c] == threshold:
            chosen[m] = items[c]
            m += 1
    return chosen


@njit(cache=True, nogil=True)
def _scores(targets, q_terms, q_weights, indptr, indices, data, qdense):
    """Exact scores q . W[j] of the target rows. ``qdense`` (zeroed, size n_terms) is returned zeroed."""
    for p in range(q_terms.shape[0]):
        qdense[q_terms[p]] = q_weights[p]
    exact = np.empty(targets.shape[0], np.float64)
    for c in range(targets.shape[0]):
        j = targets[c]
        s = 0.0
        for pp in range(indptr[j], indptr[j + 1]):
            s += qdense[indices[pp]] * data[pp]
        exact[c] = s
    for p in range(q_terms.shape[0]):
        qdense[q_terms[p]] = 0.0
    return exact


@njit(cache=True, nogil=True)
def _rescore(cand, q_terms, q_weights, indptr, indices, data, qdense):
    """Candidate rows and their exact scores, best first, ties by row (cand: ascending rows)."""
    exact = _scores(cand, q_terms, q_weights, indptr, indices, data, qdense)
    order = np.argsort(-exact, kind="mergesort")
    return cand[order], exact[order]


@njit(cache=True, nogil=True)
def _search(q_terms, q_weights, probe, cutoff, colptr, rowidx, colval, indptr, indices, data,
            row_mask, skip_row, n_candidates, acc, partial, touched, qdense):
    """Top candidates of one query: (rows, exact scores), best first, ties by row.

    ``probe`` lists the positions of the query terms used to find candidates, and ``cutoff`` the
    smallest contribution visited; ``row_mask`` the rows that may be returned (an empty mask: every
    row). ``acc`` (float32, zeroed) and ``partial`` (both of size n_rows), ``touched`` (int32, size
    n_rows + 1) and ``qdense`` (zeroed, size n_terms) are scratch buffers; the zeroed ones are
    returned zeroed. A row is new to ``acc`` while its sum is 0, so zero weights are skipped.
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
    for c in range(n_touched):
        j = touched[c]
        partial[c] = acc[j]
        acc[j] = 0.0
    if n_touched > n_candidates:
        cand = _best(touched[:n_touched], partial[:n_touched], n_candidates)
    else:
        cand = touched[:n_touched].copy()
    return _rescore(np.sort(cand), q_terms, q_weights, indptr, indices, data, qdense)


@njit(cache=True, nogil=True)
def search_one(q_terms, q_weights, usable, term_max, max_query_terms, budget, colptr, rowidx, colval,
               indptr, indices, data, row_mask, skip_row, n_candidates, acc, partial, touched, qdense):
    """Top ``n_candidates`` rows for one query vector, re-scored exactly (see _search, which
    describes the scratch buffers: reused across calls, so a query touches no fresh memory)."""
    probe = _strongest_terms(q_terms, q_weights, usable, term_max, max_query_terms)
    cutoff = _cutoff(q_terms, q_weights, probe, colptr, colval, term_max, budget)
    return _search(q_terms, q_weights, probe, cutoff, colptr, rowidx, colval, indptr, indices, data,
                   row_mask, skip_row, n_candidates, acc, partial, touched, qdense)


@njit(cache=True, nogil=True)
def _linked(rows, neighbor_rows, fan_out, row_mask, skip_row, acc, touched):
    """Ascending rows in the stored lists (first ``fan_out`` entries) of the first ``fan_out`` of
    ``rows``, not among ``rows``, not ``skip_row``, and allowed by ``row_mask`` (empty: every row).
    ``acc`` (zeroed) marks rows already taken and is returned zeroed; ``touched`` is scratch (so
    ``rows`` must not be a view of it)."""
    filtered = row_mask.shape[0] > 0
    for c in range(rows.shape[0]):
        acc[rows[c]] = 1.0
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
    for c in range(rows.shape[0]):
        acc[rows[c]] = 0.0
    linked = np.sort(touched[:n])
    for c in range(n):
        acc[linked[c]] = 0.0
    return linked


@njit(cache=True, nogil=True)
def live_search(q_terms, q_weights, usable, term_max, max_query_terms, budget, colptr, rowidx, colval,
                indptr, indices, data, neighbor_rows, fan_out, row_mask, skip_row, n_candidates,
                acc, partial, touched, qdense):
    """A search of a query that has no stored list: search_one's candidates (rows, exact scores;
    best first), then the rows its first ``fan_out`` candidates list among their first ``fan_out``
    stored neighbours (see _linked) with their exact scores: (rows, scores, linked, linked scores)."""
    rows, scores = search_one(q_terms, q_weights, usable, term_max, max_query_terms, budget, colptr, rowidx,
                              colval, indptr, indices, data, row_mask, skip_row, n_candidates, acc, partial,
                              touched, qdense)
    linked = _linked(rows, neighbor_rows, fan_out, row_mask, skip_row, acc, touched)
    return rows, scores, linked, _scores(linked, q_terms, q_weights, indptr, indices, data, qdense)


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


def all_neighbours(q_data, usable, term_max, max_query_terms, budget, colptr, rowidx, colval, indptr,
                   indices, data, n_candidates, n_keep, first, last, n_threads=None):
    """For every row i in [first, last), its ``n_keep`` best other rows by q_i . W[j] / q_i . W[i].

    ``q_data`` is aligned with ``data`` (the query vector of row i has the same terms as W[i]).
    Returns (rows int32 (last - first, n_keep), padded with -1; normalised scores float32; self
    scores float64).
    """
    n_out = last - first
    out_rows = np.full((n_out, n_keep), -1, np.int32)
    out_sims = np.zeros((n_out, n_keep), np.float32)
    self_scores = np.zeros(n_out, np.float64)
    _in_chunks(_neighbours_chunk, n_out, n_threads, q_data, usable, term_max, max_query_terms, budget, colptr,
               rowidx, colval, indptr, indices, data, n_candidates, n_keep, first, out_rows, out_sims, self_scores)
    return out_rows, out_sims, self_scores


@njit(cache=True, nogil=True)
def _neighbours_chunk(q_data, usable, term_max, max_query_terms, budget, colptr, rowidx, colval, indptr, indices,
                      data, n_candidates, n_keep, first, out_rows, out_sims, self_scores, lo, hi):
    """all_neighbours for output rows [lo, hi) (article rows first + lo ...), written in place."""
    n_rows = indptr.shape[0] - 1
    every_row = np.zeros(0, np.bool_)
    acc = np.zeros(n_rows, np.float32)
    partial = np.empty(n_rows, np.float64)
    touched = np.empty(n_rows + 1, np.int32)
    qdense = np.zeros(usable.shape[0], np.float64)
    for o in range(lo, hi):
        i = first + o
        a, b = indptr[i], indptr[i + 1]
        q_terms = indices[a:b]
        q_weights = q_data[a:b]
        self_score = 0.0
        for p in range(b - a):
            self_score += q_weights[p] * data[a + p]
        self_scores[o] = self_score
        if self_score <= 0.0:
            continue
        probe = _strongest_terms(q_terms, q_weights, usable, term_max, max_query_terms)
        cutoff = _cutoff(q_terms, q_weights, probe, colptr, colval, term_max, budget)
        rows, scores = _search(q_terms, q_weights, probe, cutoff, colptr, rowidx, colval, indptr,
                               indices, data, every_row, i, n_candidates, acc, partial, touched, qdense)
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


def refine(q_data, indptr, indices, data, n_terms, self_scores, nb_rows, nb_sims, fresh, first, last, fan_out,
           n_keep, n_threads=None):
    """One round of neighbour-of-neighbour refinement (NN-descent) for rows [first, last): each row's
    new candidates are the first ``fan_out`` entries of the lists of its first ``fan_out`` neighbours,
    re-scored exactly and merged into its list. ``nb_rows``, ``nb_sims`` (n_rows, n_keep) hold every
    row's current list and ``fresh`` marks the entries that joined it in the previous step: a pair
    reached through two entries that are not fresh was scored in an earlier round, and is skipped.
    Returns new (rows, normalised scores, fresh) for rows [first, last)."""
    n_out = last - first
    out_rows = np.full((n_out, n_keep), -1, np.int32)
    out_sims = np.zeros((n_out, n_keep), np.float32)
    out_fresh = np.zeros((n_out, n_keep), np.bool_)
    _in_chunks(_refine_chunk, n_out, n_threads, q_data, indptr, indices, data, n_terms, self_scores, nb_rows,
               nb_sims, fresh, first, fan_out, n_keep, out_rows, out_sims, out_fresh)
    return out_rows, out_sims, out_fresh


@njit(cache=True, nogil=True)
def _refine_chunk(q_data, indptr, indices, data, n_terms, self_scores, nb_rows, nb_sims, fresh, first, fan_out,
                  n_keep, out_rows, out_sims, out_fresh, lo, hi):
    """refine for output rows [lo, hi) (article rows first + lo ...), written in place."""
    n_rows = indptr.shape[0] - 1
    width = min(fan_out, nb_rows.shape[1])
    seen = np.full(n_rows, -1, np.int64)
    qdense = np.zeros(n_terms, np.float64)
    cand = np.empty(width * width, np.int32)
    for o in range(lo, hi):
        i = first + o
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
        a, b = indptr[i], indptr[i + 1]
        rows, scores = _rescore(np.sort(cand[:m]), indices[a:b], q_data[a:b], indptr, indices, data, qdense)
        sims = (scores / self_scores[i]).astype(np.float32)
        _merge_keep(o, nb_rows[i], nb_sims[i], rows, sims, n_keep, out_rows, out_sims, out_fresh)


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
        rows = rowidx[a:b][order]
        vals = colval[a:b][order]
        for c in range(b - a):  # element by element: a slice assignment compiles its error path, seconds
            rowidx[a + c] = rows[c]
            colval[a + c] = vals[c]


@njit(cache=True, nogil=True)
def query_scores(q_terms, q_weights, indptr, indices, data, targets, qdense):
    """The exact score q . W[j] of one query vector against each row j of ``targets`` (``qdense``:
    zeroed scratch of size n_terms, returned zeroed)."""
    return _scores(targets, q_terms, q_weights, indptr, indices, data, qdense)


def candidate_scores(q_data, indptr, indices, data, n_terms, candidates, n_threads=None):
    """The exact score q_i . W[j] of every row i against each of its candidates j = candidates[i, c]
    (-1: none, scored 0); ``q_data`` is aligned with ``data`` as in all_neighbours."""
    out = np.zeros(candidates.shape, np.float64)
    _in_chunks(_candidate_scores_chunk, candidates.shape[0], n_threads, q_data, indptr, indices, data, n_terms,
               candidates, out)
    return out


@njit(cache=True, nogil=True)
def _candidate_scores_chunk(q_data, indptr, indices, data, n_terms, candidates, out, lo, hi):
    """candidate_scores for rows [lo, hi), written in place to ``out``."""
    qdense = np.zeros(n_terms, np.float64)
    for i in range(lo, hi):
        a, b = indptr[i], indptr[i + 1]
        for p in range(a, b):
            qdense[indices[p]] = q_data[p]
        for c in range(candidates.shape[1]):
            j = candidates[i, c]
            if j < 0:
                continue
            s = 0.0
            for pp in range(indptr[j], indptr[j + 1]):
                s += qdense[indices[pp]] * data[pp]
            out[i, c] = s
        for p in range(a, b):
            qdense[indices[p]] = 0.0
