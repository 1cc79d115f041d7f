"""The weight matrix by row (an article's terms and weights), its term ids in 16 bits where they fit.

The terms are numbered by document frequency (build.term_order), so most of a row's entries name one
of the 65,536 most frequent terms (93 % at stories 100k, 96 % on the flat corpus). ``low`` holds every
entry's lower 16 bits, aligned with ``data``; ``high`` the upper 16 bits of the entries whose term is
65,536 or above (they sort last in their row), and ``high_ptr`` where each row's begin in it. An
entry takes about 6.1 bytes instead of 8 (int32 ids and float32 weights).

The compiled kernels take the three as one tuple, ``terms`` (Rows.terms), and unpack it once (an
array taken from a tuple in a loop costs a reference count each time): ``row_split`` says where a
row's entries with upper bits start, ``term_of`` reads one entry's term, ``row_terms`` a whole row's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._arrays import make_read_only
from ..weighting import FLOAT
from .columns import read_into, spilling, temporary_file, write

LOW_BITS = 16
LOW_TERMS = 1 << LOW_BITS  # terms below this have no upper bits
MAX_TERMS = 1 << (2 * LOW_BITS)
BLOCK_ENTRIES = 1 << 23  # term ids read back from the temporary file at a time (Rows.taken)


@dataclass
class Rows:
    """CSR weights, one row per article, each row's entries in term order (see the module's docstring)."""

    indptr: np.ndarray    # int64, n_rows + 1
    low: np.ndarray       # uint16, an entry's term id modulo LOW_TERMS
    high: np.ndarray      # uint16, term id // LOW_TERMS of the entries whose term is >= LOW_TERMS
    high_ptr: np.ndarray  # int64, n_rows + 1: the entries of ``high`` before each row
    data: np.ndarray      # float32 weights

    @classmethod
    def of(cls, matrix: sp.spmatrix) -> "Rows":
        """The rows of a sparse matrix (sharing its weights when they are float32 CSR)."""
        matrix = _sorted_csr(matrix)
        indptr = matrix.indptr.astype(np.int64, copy=False)
        high_ptr = _high_pointers(indptr, matrix.indices)
        low, high = np.empty(matrix.nnz, np.uint16), np.empty(high_ptr[-1], np.uint16)
        _split_block(matrix.indices, 0, low, high, 0)
        return cls(indptr, low, high, high_ptr, matrix.data.astype(FLOAT, copy=False))

    @classmethod
    def taken(cls, matrix: sp.csr_matrix, block: int = BLOCK_ENTRIES) -> "Rows":
        """The rows of a CSR matrix (float32, each row's terms ascending), which is left empty: its
        int32 term ids go to a temporary file and come back ``block`` at a time, so that memory never
        holds them and their 16-bit halves at once (the build's, 1.4 GB at a million articles)."""
        _check_terms(matrix)
        matrix.sort_indices()  # in place (when they are not)
        ids, indptr, data = matrix.indices, matrix.indptr.astype(np.int64, copy=False), matrix.data
        high_ptr = _high_pointers(indptr, ids)
        with spilling("the term ids"), temporary_file() as file:
            write(file, ids)
            let_go(matrix)
            del ids
            file.seek(0)
            low, high = np.empty(len(data), np.uint16), np.empty(high_ptr[-1], np.uint16)
            buffer, h = np.empty(min(block, len(data)), np.int32), 0
            for start in range(0, len(data), block):
                part = buffer[:min(block, len(data) - start)]
                read_into(file, part)
                h = _split_block(part, start, low, high, h)
        return cls(indptr, low, high, high_ptr, data.astype(FLOAT, copy=False))

    @property
    def terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, high, high_ptr): the term ids as the compiled kernels take them."""
        return self.low, self.high, self.high_ptr

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def read_only(self) -> "Rows":
        """These rows, their arrays made read-only (in place)."""
        make_read_only(self.indptr, self.low, self.high, self.high_ptr, self.data)
        return self

    def row_terms(self, row: int) -> np.ndarray:
        """The term ids (int32, ascending) of one row's entries."""
        return row_terms(self.indptr, self.terms, row)

    def term_ids(self) -> np.ndarray:
        """Every entry's term id (int32, aligned with ``data``): 4 bytes an entry, for those who need them all."""
        return _all_ids(self.indptr, self.terms)

    def to_csr(self, n_terms: int) -> sp.csr_matrix:
        """The rows as a scipy CSR matrix with ``n_terms`` columns (sharing ``data``)."""
        return sp.csr_matrix((self.data, self.term_ids(), self.indptr), shape=(self.n_rows, n_terms))


@njit(cache=True, nogil=True)
def row_split(indptr, high_ptr, row):
    """(split, base) of a row: its entries from ``split`` on have upper bits, entry p's at high[base + p]."""
    split = indptr[row + 1] - (high_ptr[row + 1] - high_ptr[row])
    return split, high_ptr[row] - split


@njit(cache=True, nogil=True)
def term_of(low, high, p, split, base):
    """The term id of entry p of a row with this ``split`` and ``base`` (row_split)."""
    t = np.int64(low[p])
    if p >= split:
        t |= np.int64(high[base + p]) << LOW_BITS
    return t


@njit(cache=True, nogil=True)
def row_terms(indptr, terms, row):
    """The term ids (int32) of one row's entries, in order."""
    low, high, high_ptr = terms
    a, b = indptr[row], indptr[row + 1]
    split, base = row_split(indptr, high_ptr, row)
    out = np.empty(b - a, np.int32)
    for p in range(a, b):
        out[p - a] = term_of(low, high, p, split, base)
    return out


@njit(cache=True, nogil=True)
def largest_term(indptr, terms):
    """The largest term id of any entry (-1: none)."""
    low, high, high_ptr = terms
    largest = -1
    for row in range(indptr.shape[0] - 1):
        split, base = row_split(indptr, high_ptr, row)
        for p in range(indptr[row], indptr[row + 1]):
            largest = max(largest, term_of(low, high, p, split, base))
    return largest


@njit(cache=True, nogil=True)
def _all_ids(indptr, terms):
    low, high, high_ptr = terms
    out = np.empty(low.shape[0], np.int32)
    for row in range(indptr.shape[0] - 1):
        split, base = row_split(indptr, high_ptr, row)
        for p in range(indptr[row], indptr[row + 1]):
            out[p] = term_of(low, high, p, split, base)
    return out


def _sorted_csr(matrix: sp.spmatrix) -> sp.csr_matrix:
    """``matrix`` as CSR with each row's terms ascending (a copy only if it is neither)."""
    matrix = sp.csr_matrix(matrix)
    _check_terms(matrix)
    return matrix if matrix.has_sorted_indices else matrix.sorted_indices()


def _check_terms(matrix: sp.spmatrix) -> None:
    if matrix.shape[1] > MAX_TERMS:
        raise ValueError(f"{matrix.shape[1]} terms: at most {MAX_TERMS} can be indexed")


def let_go(matrix: sp.csr_matrix) -> None:
    """Make ``matrix`` an empty one of the same shape, letting go of its arrays (which others may
    still hold: the matrix's own holders keep only the empty one)."""
    matrix.indptr = np.zeros(matrix.shape[0] + 1, matrix.indptr.dtype)
    matrix.indices, matrix.data = np.empty(0, matrix.indices.dtype), np.empty(0, matrix.data.dtype)


@njit(cache=True, nogil=True)
def _high_pointers(indptr, ids):
    """high_ptr of CSR term ids: the entries of a term >= LOW_TERMS before each row."""
    n = indptr.shape[0] - 1
    high_ptr = np.zeros(n + 1, np.int64)
    for row in range(n):
        count = 0
        for p in range(indptr[row], indptr[row + 1]):
            count += ids[p] >= LOW_TERMS
        high_ptr[row + 1] = high_ptr[row] + count
    return high_ptr


@njit(cache=True, nogil=True)
def _split_block(ids, start, low, high, h):
    """The halves of term ids that are entries ``start`` on, into ``low`` and, for those of terms
    >= LOW_TERMS, into ``high`` from its entry h on; returns the next h."""
    for k in range(ids.shape[0]):
        t = np.int64(ids[k])
        low[start + k] = t & (LOW_TERMS - 1)
        if t >= LOW_TERMS:
            high[h] = t >> LOW_BITS
            h += 1
    return h
