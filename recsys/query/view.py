"""A View: an index as reads see it at one moment, the built arrays and the live changes since.

A View is never changed. Every read takes the current View once and works on it to the end; a live
change (recsys.live) makes a new View and swaps it in with one assignment. So reads need no lock,
run side by side (the compiled kernels release the GIL), and never see a change half made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import UnknownArticleError
from ..index.columns import ArticleStore
from ..index.data import IndexData, usable_terms
from ..index.rows import Rows
from .vectors import Vector, Vectorizer


class Scratch(NamedTuple):
    """A live search's working memory (see index.kernels.probed_search): zeroed between searches."""

    acc: np.ndarray      # float32 per built row: partial sums
    touched: np.ndarray  # int32 per built row, and one more
    qdense: np.ndarray   # float32 per term: the query, spread out (float32 like its weights: half the cache)


class ScratchPool:
    """Search buffers lent to one search at a time: memory grows with concurrency, not threads."""

    def __init__(self, n_rows: int, n_terms: int) -> None:
        self.n_rows, self.n_terms = n_rows, n_terms
        self._free: list[Scratch] = []

    @contextmanager
    def lend(self) -> Iterator[Scratch]:
        try:
            buffers = self._free.pop()  # atomic under the GIL: no two searches get the same buffers
        except IndexError:
            buffers = Scratch(np.zeros(self.n_rows, np.float32),
                              np.empty(self.n_rows + 1, np.int32), np.zeros(self.n_terms, np.float32))
        try:
            yield buffers
        finally:
            self._free.append(buffers)


@dataclass(frozen=True)
class Built:
    """What never changes after a build or a load: the arrays, and what is derived from them."""

    data: IndexData
    vectorizer: Vectorizer
    text_terms: np.ndarray     # terms a draft may probe with: any indexed term
    article_terms: np.ndarray  # terms an indexed article may probe with: those another article has too
    scratch: ScratchPool

    @classmethod
    def of(cls, data: IndexData) -> "Built":
        data = data.read_only()
        config, n = data.config, len(data.store)
        return cls(data, Vectorizer(data), usable_terms(data.df, n, config, config.min_doc_freq),
                   usable_terms(data.df, n, config, max(2, config.min_doc_freq)),
                   ScratchPool(n, len(data.vocabulary)))

    @property
    def n_rows(self) -> int:
        return len(self.data.store)


@dataclass(frozen=True)
class View:
    """The built index plus the live changes since the build: rows appended to the store (weighted
    with the build's vocabulary and idf), tombstones, views added, editorial rules."""

    built: Built
    store: ArticleStore                   # the built rows, then the appended ones
    appended: Mapping[int, Vector]        # row -> vector, for live rows added since the build
    appended_rows: np.ndarray             # those rows, ascending
    appended_weights: Rows                # their document-side weights, one row each
    deleted: np.ndarray                   # bool per row: deleted, or replaced by a newer row
    n_deleted: int
    groups: np.ndarray                    # near-duplicate group (story) per row
    has_twin: np.ndarray                  # bool per row: its group has other members
    event_views: np.ndarray               # views added by add_views, per row (never saved)
    max_views: float                      # the largest total view count of any row
    editorial: Mapping[str, dict]         # article id -> {"pins": [...], "blocks": [...]}
    changes: int                          # upserts and deletes since the build

    @property
    def data(self) -> IndexData:
        return self.built.data

    @property
    def config(self):
        return self.built.data.config

    @property
    def n_built(self) -> int:
        return self.built.n_rows

    def row(self, article_id: str) -> int:
        """The row of a live article (UnknownArticleError if there is none)."""
        try:
            return self.store.row_of[article_id]
        except (KeyError, TypeError):
            raise UnknownArticleError(article_id) from None

    def vector(self, row: int) -> Vector:
        """The query vector of the article at ``row``."""
        return self.appended[row] if row >= self.n_built else self.built.vectorizer.built_row(row)

    def views(self, rows):
        """Total views (the articles' own plus those added by add_views) of a row or rows."""
        return self.store.views[rows] + self.event_views[rows]

    def live_rows(self) -> np.ndarray:
        """Boolean mask over every stored row: True unless the article was deleted or replaced."""
        return ~self.deleted[: len(self.store)]


def twins(groups: np.ndarray) -> np.ndarray:
    """True for articles whose near-duplicate group has other members."""
    return np.bincount(groups, minlength=1)[groups] > 1 if len(groups) else np.zeros(0, dtype=bool)


def stacked(vectors: list[Vector], n_terms: int) -> sp.csr_matrix:
    """The document-side weights of ``vectors`` as the rows of one sparse matrix."""
    return sp.csr_matrix((np.concatenate([v.doc_weights for v in vectors] or [np.zeros(0)]),
                          np.concatenate([v.terms for v in vectors] or [np.zeros(0, np.int32)]),
                          np.concatenate([[0], np.cumsum([len(v.terms) for v in vectors], dtype=np.int64)])),
                         shape=(len(vectors), n_terms))


def added_rows(vectors: list[Vector], n_terms: int) -> Rows:
    """The document-side weights of articles added since the build, typed as the built rows are
    (float32 and read-only), so that scoring them uses the kernel compiled for the built index."""
    return Rows.of(stacked(vectors, n_terms)).read_only()
