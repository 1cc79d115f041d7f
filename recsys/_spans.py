"""Splitting CSR rows (or CSC columns) into consecutive spans of about a given number of entries."""

from __future__ import annotations

import numpy as np


def spans(pointers: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive ranges [first, last) of the rows whose entries start at ``pointers`` (CSR indptr,
    or CSC column pointers), each of about ``size`` entries and at least one row."""
    ranges, first, n = [], 0, len(pointers) - 1
    while first < n:
        last = int(np.searchsorted(pointers, pointers[first] + size, side="right")) - 1
        last = min(n, max(last, first + 1))
        ranges.append((first, last))
        first = last
    return ranges
