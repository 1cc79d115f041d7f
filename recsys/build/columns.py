"""The term postings of a build (CSC: each term's column in impact order, largest weight first,
ties by row), made from the CSR weights a block of columns at a time, in two forms at once:

- every posting, written to temporary files and memory-mapped, for the index's live searches;
- the probe's postings, in memory, for the build's own candidate search: an article is posted
  under its ``prefix`` strongest terms only (as it searches with its strongest terms: prefix
  filtering on both sides, as in Greedy Filtering and L2Knng), and a column keeps at most the
  first ``cap`` of those, as the search never visits more postings than its budget in any one.

So the build never holds a second full copy of the weights in memory (scipy's tocsc would)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .._spans import spans
from ..index.columns import mapped, spilling, temporary_file, write
from ..index.data import FLOAT, Postings
from ..index.kernels import nth_largest
from ..index.rows import Rows, row_split, term_of
from .kernels import impact_order

BLOCK_POSTINGS = 1 << 23  # postings of the columns sorted at a time (8 bytes each)


@dataclass
class TermColumns:
    """A build's term postings (see the module's docstring)."""

    probe: Postings | None  # in memory: each article under its strongest terms, at most ``cap`` per column
    full: Postings          # every posting, memory-mapped from temporary files
    term_max: np.ndarray    # each term's largest weight (0: no postings)


def impact_columns(rows: Rows, counts: np.ndarray, cap: int | None = None, prefix: int | None = None,
                   block: int = BLOCK_POSTINGS) -> TermColumns:
    """The postings of the CSR weights ``rows`` (each row's entries sorted by term), whose columns
    hold ``counts`` postings (the document frequencies), in impact order: every one, and the
    probe's (each row's ``prefix`` strongest entries, ties included; at most ``cap`` of them per
    column; None: no limit)."""
    thresholds = _prefix_thresholds(rows.indptr, rows.data, prefix or 0)
    probed = _prefix_counts(rows.indptr, rows.terms, rows.data, thresholds, len(counts))
    full_ptr, probe_ptr = _pointers(counts), _pointers(probed if cap is None else np.minimum(probed, cap))
    probe = Postings(probe_ptr, np.empty(probe_ptr[-1], np.int32), np.empty(probe_ptr[-1], FLOAT))
    term_max = np.zeros(len(counts), FLOAT)
    with spilling("the term postings"), temporary_file() as indices, temporary_file() as data:
        cursors = rows.indptr[:-1].copy()
        for first, last in spans(full_ptr, block):
            part = _block_columns(rows, full_ptr, first, last, cursors)
            write(indices, part.indices)
            write(data, part.data)
            filled = part.indptr[:-1] < part.indptr[1:]
            term_max[first:last][filled] = part.data[part.indptr[:-1][filled]]
            _copy_probed(part.indptr, part.indices, part.data, thresholds, probe_ptr[first:last + 1], probe.indices,
                         probe.data)
            del part, filled  # before the next block's are made: memory holds one block, not two
        full = Postings(full_ptr, mapped(indices, np.dtype(np.int32), int(full_ptr[-1])),
                        mapped(data, np.dtype(FLOAT), int(full_ptr[-1])))
    return TermColumns(probe, full, term_max)


def _pointers(counts: np.ndarray) -> np.ndarray:
    """Column pointers (int64, len(counts) + 1) of columns that hold ``counts`` postings."""
    pointers = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=pointers[1:])
    return pointers


def _block_columns(rows: Rows, pointers: np.ndarray, first: int, last: int, cursors: np.ndarray) -> Postings:
    """The columns of terms [first, last), impact-ordered, with pointers from 0 (see _fill for ``cursors``)."""
    indptr = pointers[first:last + 1] - pointers[first]
    indices, data = np.empty(indptr[-1], np.int32), np.empty(indptr[-1], FLOAT)
    _fill(rows.indptr, rows.terms, rows.data, cursors, first, last, indptr, indices, data)
    impact_order(indptr, indices, data)
    return Postings(indptr, indices, data)


@njit(cache=True, nogil=True)
def _fill(indptr, terms, data, cursors, first, last, colptr, out_rows, out_data):
    """Each posting of terms [first, last) at its column's next place, rows in ascending order. The
    rows' entries are sorted by term and ``cursors`` holds each row's first entry of a term >= first
    (advanced here past the block's), so the blocks, taken in order, read each entry once."""
    filled = colptr[:-1].copy()
    low, high, high_ptr = terms
    for i in range(indptr.shape[0] - 1):
        p, end = cursors[i], indptr[i + 1]
        split, base = row_split(indptr, high_ptr, i)
        while p < end:
            t = term_of(low, high, p, split, base)
            if t >= last:
                break
            at = filled[t - first]
            out_rows[at], out_data[at] = i, data[p]
            filled[t - first] = at + 1
            p += 1
        cursors[i] = p


@njit(cache=True, nogil=True)
def _prefix_thresholds(indptr, data, prefix):
    """Per row, the weight of its ``prefix``-th strongest entry (-inf: it has no more; prefix 0: no limit)."""
    n = indptr.shape[0] - 1
    thresholds = np.full(n, -np.inf, np.float32)
    if prefix > 0:
        for i in range(n):
            a, b = indptr[i], indptr[i + 1]
            if b - a > prefix:
                thresholds[i] = nth_largest(data[a:b].copy(), prefix)
    return thresholds


@njit(cache=True, nogil=True)
def _prefix_counts(indptr, terms, data, thresholds, n_terms):
    """Per column, how many rows count it among their strongest entries (weight >= the row's threshold)."""
    counts = np.zeros(n_terms, np.int64)
    low, high, high_ptr = terms
    for i in range(indptr.shape[0] - 1):
        split, base = row_split(indptr, high_ptr, i)
        for p in range(indptr[i], indptr[i + 1]):
            if data[p] >= thresholds[i]:
                counts[term_of(low, high, p, split, base)] += 1
    return counts


@njit(cache=True, nogil=True)
def _copy_probed(colptr, rows, data, thresholds, probe_ptr, probe_rows, probe_data):
    """Into the probe's arrays, the first probe_ptr[c + 1] - probe_ptr[c] postings of each column c
    whose row counts it among its strongest entries."""
    for c in range(colptr.shape[0] - 1):
        at, end = probe_ptr[c], probe_ptr[c + 1]
        for p in range(colptr[c], colptr[c + 1]):
            if at == end:
                break
            if data[p] >= thresholds[rows[p]]:
                probe_rows[at], probe_data[at] = rows[p], data[p]
                at += 1
