"""Marking arrays read-only. numba compiles a kernel once for each kind of array it is given, and
read-only is a kind of its own: an index's arrays are read-only whether memory-mapped from disk or
built in this process (IndexData.read_only), and so is whatever is made to go beside them, so that
one compiled version of each kernel serves them all."""

from __future__ import annotations

import numpy as np


def make_read_only(*arrays: np.ndarray | None) -> None:
    """Mark each array read-only, in place (None and other values are skipped)."""
    for array in arrays:
        if isinstance(array, np.ndarray):
            array.flags.writeable = False


def read_only(array: np.ndarray) -> np.ndarray:
    """``array``, marked read-only (in place)."""
    array.flags.writeable = False
    return array
