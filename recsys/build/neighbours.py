"""Every article's neighbour list: a candidate search per article, then rounds of
neighbour-of-neighbour refinement (NN-descent), each score exact. The loop is here once; a Linker
says where its blocks of rows run (here, on threads; or on a Dask cluster, see build.dask)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from ..config import IndexConfig
from ..index.data import Postings, probe_budget
from ..index.rows import Rows
from . import kernels

CONVERGED = 0.001  # refinement stops once a round changes fewer than this share of the lists' entries (NN-descent's delta)


@dataclass
class LinkInputs:
    """What the neighbour kernels read: each article's query weights (aligned with ``rows.data``),
    the terms it may probe with, each term's largest weight, and the weights by row and by term."""

    article_queries: np.ndarray
    usable: np.ndarray
    term_max: np.ndarray
    rows: Rows
    columns: Postings | None  # None once the search is done (see neighbour_lists)
    n_terms: int
    orders: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)  # see processing_order


class Linker(Protocol):
    """Runs the two neighbour kernels over all rows (see kernels.all_neighbours and kernels.refine)."""

    def search(self, inputs: LinkInputs, config: IndexConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(neighbour rows, similarities, self scores) of every row, by candidate search."""

    def refine(self, inputs: LinkInputs, config: IndexConfig, self_scores: np.ndarray, neighbor_rows: np.ndarray,
               neighbor_sims: np.ndarray, fresh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(neighbour rows, similarities, fresh) of every row after one refinement round."""


class LocalLinker:
    """Runs the kernels in this process, on its threads."""

    def search(self, inputs: LinkInputs, config: IndexConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return search_block(inputs, config, 0, len(inputs.rows.indptr) - 1)

    def refine(self, inputs: LinkInputs, config: IndexConfig, self_scores: np.ndarray, neighbor_rows: np.ndarray,
               neighbor_sims: np.ndarray, fresh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return refine_block(inputs, config, self_scores, neighbor_rows, neighbor_sims, fresh, 0,
                            len(inputs.rows.indptr) - 1)


def neighbour_lists(config: IndexConfig, inputs: LinkInputs,
                    linker: Linker) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every article's n_neighbors best other articles (rows, similarities) and self scores: a
    candidate search per article, then rounds of neighbour-of-neighbour re-scoring until they
    converge (a round changes fewer than CONVERGED of the lists' entries), at most
    ``refine_rounds``. Every similarity is exact; the lists are exact when the budget covers the
    postings. Only the search reads the term postings: ``inputs.columns`` is let go after it (so,
    when the caller holds them nowhere else, their memory is free for the refinement)."""
    neighbor_rows, neighbor_sims, self_scores = linker.search(inputs, config)
    inputs.columns = None
    fresh = neighbor_rows >= 0
    for _ in range(config.refine_rounds):
        if converged(fresh):
            break
        neighbor_rows, neighbor_sims, fresh = linker.refine(inputs, config, self_scores, neighbor_rows,
                                                            neighbor_sims, fresh)
    return neighbor_rows, neighbor_sims, self_scores


def converged(fresh: np.ndarray) -> bool:
    """Whether the lists whose new entries ``fresh`` marks (after the search, every entry is new)
    have converged: fewer than CONVERGED of their entries are new, so another round would change
    next to nothing (and, with none new, nothing)."""
    return np.count_nonzero(fresh) < max(CONVERGED * fresh.size, 1)


def search_block(inputs: LinkInputs, config: IndexConfig, first: int, last: int,
                 n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kernels.all_neighbours for rows [first, last)."""
    rows, columns = inputs.rows, inputs.columns
    return kernels.all_neighbours(inputs.article_queries, inputs.usable, inputs.term_max, config.max_query_terms,
                                  probe_budget(config), columns.indptr, columns.indices, columns.data, rows.indptr,
                                  rows.terms, rows.data, config.n_candidates, config.n_neighbors, first, last,
                                  processing_order(inputs, first, last), n_threads)


def refine_block(inputs: LinkInputs, config: IndexConfig, self_scores: np.ndarray, neighbor_rows: np.ndarray,
                 neighbor_sims: np.ndarray, fresh: np.ndarray, first: int, last: int,
                 n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kernels.refine for rows [first, last)."""
    rows = inputs.rows
    return kernels.refine(inputs.article_queries, rows.indptr, rows.terms, rows.data, inputs.n_terms, self_scores,
                          neighbor_rows, neighbor_sims, fresh, first, last, config.refine_fan_out,
                          config.n_neighbors, processing_order(inputs, first, last), n_threads)


def processing_order(inputs: LinkInputs, first: int, last: int) -> np.ndarray:
    """Rows [first, last) grouped by their lead term (kernels.lead_terms), ascending within a group:
    the order the kernels take them in. Articles of one story come one after another, so the rows
    of their candidates are often still in cache when the next one scores them. The lists do not
    depend on the order."""
    if (first, last) not in inputs.orders:
        rows = inputs.rows
        lead = kernels.lead_terms(inputs.article_queries, inputs.usable, inputs.term_max, rows.indptr, rows.terms,
                                  first, last)
        inputs.orders[first, last] = first + np.argsort(lead, kind="stable")
    return inputs.orders[first, last]


def duplicate_groups(neighbor_rows: np.ndarray, neighbor_sims: np.ndarray, threshold: float | None,
                     block: int = 65_536) -> np.ndarray:
    """Group label per article: connected components of the pairs at least ``threshold`` similar
    (either way round), so an original and its updated copies, however many, share one label.
    None: every article is its own group."""
    from scipy.sparse.csgraph import connected_components

    n = len(neighbor_rows)
    if threshold is None:
        return np.arange(n, dtype=np.int32)
    sources, targets = [np.zeros(0, np.int64)], [np.zeros(0, np.int32)]
    for start in range(0, n, block):  # the masks of a block of lists at a time
        rows, sims = neighbor_rows[start:start + block], neighbor_sims[start:start + block]
        close = (sims >= threshold) & (rows >= 0)
        sources.append(start + np.repeat(np.arange(len(rows)), close.sum(axis=1)))
        targets.append(rows[close])
    sources, targets = np.concatenate(sources), np.concatenate(targets)
    graph = sp.csr_matrix((np.ones(len(sources), dtype=np.int8), (sources, targets)), shape=(n, n))
    return connected_components(graph, directed=True, connection="weak")[1].astype(np.int32)
