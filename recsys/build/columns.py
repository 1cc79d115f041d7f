"""The term postings of a build (CSC: each term's column in impact order, largest weight first,
ties by row), made from the CSR weights a block of columns at a time, in two forms at once:

- every posting, written to temporary files and memory-mapped, for the index's live searches;
- the first ``cap`` postings of each column, in memory, for the build's own candidate search,
  which never visits more postings than its budget in any one column.

So the build never holds a second full copy of the weights in memory (scipy's tocsc would)."""

from __future__ import annotations

import tempfile

import numpy as np
from numba import njit

from ..index.columns import mapped, spilling, write
from ..index.data import FLOAT, Postings
from .kernels import impact_order

BLOCK_POSTINGS = 1 << 25  # postings of the columns sorted at a time (8 bytes each)


def impact_columns(rows: Postings, counts: np.ndarray, cap: int | None,
                   block: int = BLOCK_POSTINGS) -> tuple[Postings, Postings]:
    """(the first ``cap`` postings of every column, in memory (None: all of them); every posting,
    spilled to temporary files), both in impact order, from the CSR weights ``rows``, whose
    columns hold ``counts`` postings (the document frequencies)."""
    full_ptr = _pointers(counts)
    kept_ptr = full_ptr if cap is None else _pointers(np.minimum(counts, cap))
    kept = Postings(kept_ptr, np.empty(kept_ptr[-1], np.int32), np.empty(kept_ptr[-1], FLOAT))
    with spilling("the term postings"), tempfile.TemporaryFile(buffering=1 << 20) as indices, \
            tempfile.TemporaryFile(buffering=1 << 20) as data:
        for first, last in _term_blocks(full_ptr, block):
            part = _block_columns(rows, full_ptr, first, last)
            write(indices, part.indices)
            write(data, part.data)
            _copy_prefixes(part.indptr, part.indices, part.data, kept_ptr[first:last + 1], kept.indices, kept.data)
        full = Postings(full_ptr, mapped(indices, np.dtype(np.int32), int(full_ptr[-1])),
                        mapped(data, np.dtype(FLOAT), int(full_ptr[-1])))
    return kept, full


def _pointers(counts: np.ndarray) -> np.ndarray:
    """Column pointers (int64, len(counts) + 1) of columns that hold ``counts`` postings."""
    pointers = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=pointers[1:])
    return pointers


def _term_blocks(pointers: np.ndarray, block: int) -> list[tuple[int, int]]:
    """Consecutive term ranges [first, last) of about ``block`` postings each (at least one term)."""
    blocks, first, n_terms = [], 0, len(pointers) - 1
    while first < n_terms:
        last = int(np.searchsorted(pointers, pointers[first] + block, side="right")) - 1
        last = min(n_terms, max(last, first + 1))
        blocks.append((first, last))
        first = last
    return blocks


def _block_columns(rows: Postings, pointers: np.ndarray, first: int, last: int) -> Postings:
    """The columns of terms [first, last), impact-ordered, with pointers from 0."""
    indptr = pointers[first:last + 1] - pointers[first]
    indices, data = np.empty(indptr[-1], np.int32), np.empty(indptr[-1], FLOAT)
    _fill(rows.indptr, rows.indices, rows.data, first, last, indptr, indices, data)
    impact_order(indptr, indices, data)
    return Postings(indptr, indices, data)


@njit(cache=True, nogil=True)
def _fill(indptr, indices, data, first, last, colptr, out_rows, out_data):
    """Each posting of terms [first, last) at its column's next place, rows in ascending order."""
    filled = colptr[:-1].copy()
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            t = indices[p]
            if first <= t < last:
                at = filled[t - first]
                out_rows[at], out_data[at] = i, data[p]
                filled[t - first] = at + 1


@njit(cache=True, nogil=True)
def _copy_prefixes(colptr, rows, data, kept_ptr, kept_rows, kept_data):
    """The first kept_ptr[c + 1] - kept_ptr[c] postings of each column c into the kept arrays."""
    for c in range(colptr.shape[0] - 1):
        a = colptr[c]
        for k in range(kept_ptr[c + 1] - kept_ptr[c]):
            kept_rows[kept_ptr[c] + k] = rows[a + k]
            kept_data[kept_ptr[c] + k] = data[a + k]
