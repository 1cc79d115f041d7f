"""Term ids in order of document frequency, most frequent first (ties: in the vocabulary's order).

The scoring kernels look a query's weights up by term id in a dense array the vocabulary's size
(4 MB at a million terms), once for every entry of every row they score. Most entries of any row
are of frequent terms, so with those numbered first the lookups stay in a small part of that array,
which the cache holds whatever the vocabulary's size (as search engines number terms by frequency
for locality). The order depends only on the counts, so a Dask build, which merges its partitions'
vocabularies in sorted order, numbers the terms as a local build does."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..weighting import document_frequencies
from . import kernels


def frequency_ordered(counts: sp.csr_matrix,
                      vocabulary: list[str]) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
    """``counts`` (columns in the order of ``vocabulary``) with its columns renumbered in order of
    document frequency, in place (each row's entries sorted again), the vocabulary in that order,
    and the document frequencies (descending)."""
    df = document_frequencies(counts)
    order = np.argsort(-df, kind="stable")
    new_id = np.empty(len(order), np.int32)
    new_id[order] = np.arange(len(order), dtype=np.int32)
    kernels.renumber_columns(counts.indptr, counts.indices, counts.data, new_id)
    return counts, [vocabulary[t] for t in order.tolist()], df[order]
