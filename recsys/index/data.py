"""IndexData: every array a built index holds (they may be memory-mapped from an index directory),
and what the build and the queries derive from them alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._arrays import make_read_only
from ..config import IndexConfig
from ..weighting import FLOAT
from .columns import ArticleStore
from .dense import DenseIndex
from .rows import Rows


@dataclass
class Postings:
    """A sparse matrix as its three CSR (or CSC) arrays."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, matrix: sp.spmatrix) -> "Postings":
        return cls(matrix.indptr.astype(np.int64, copy=False), matrix.indices.astype(np.int32, copy=False),
                   matrix.data.astype(FLOAT, copy=False))

    def read_only(self) -> "Postings":
        """These postings, their arrays made read-only (in place)."""
        make_read_only(self.indptr, self.indices, self.data)
        return self


@dataclass
class IndexData:
    """Everything a built index holds."""

    config: IndexConfig
    vocabulary: list[str]
    df: np.ndarray            # documents per term
    idf: np.ndarray           # idf per term (TF-IDF or BM25 flavour, by method)
    avgdl: float              # mean weighted document length (BM25)
    rows: Rows                # CSR weights, one row per article, term ids in 16 bits where they fit
    query_tf: np.ndarray | None  # weighted term counts, aligned with rows.data (None: not needed, query_needs_counts)
    columns: Postings         # CSC weights: the postings of each term, each in impact order
    term_max: np.ndarray      # each term's largest weight in any article (bounds its contribution)
    self_scores: np.ndarray   # q_i . W[i] for every article i
    neighbor_rows: np.ndarray  # (n, n_neighbors) precomputed related rows, -1 padded
    neighbor_sims: np.ndarray  # their normalised similarities
    duplicate_group: np.ndarray  # articles whose similarity reaches near_duplicate_threshold share a group
    store: ArticleStore
    editorial: dict = field(default_factory=dict)  # article id -> {"pins": [...], "blocks": [...]}
    embeddings: np.ndarray | None = None  # (n, d) unit rows of the semantic model, when semantic_weight > 0
    projection: np.ndarray | None = None  # a weight vector -> its embedding: static (n_terms, d), LSA (d, n_terms)
    encoded: np.ndarray | None = None     # MiniLM's embeddings before feedback
    dense: "DenseIndex | None" = None     # the nearest-neighbour index of the embeddings

    def read_only(self) -> "IndexData":
        """This index data, every array it holds made read-only (in place), as a loaded index's
        memory-mapped arrays are (its store's always are): the query kernels then compile once
        for a built and a loaded index alike (see recsys._arrays)."""
        make_read_only(self.df, self.idf, self.query_tf, self.term_max, self.self_scores, self.neighbor_rows,
                       self.neighbor_sims, self.duplicate_group, self.embeddings, self.projection, self.encoded)
        self.rows.read_only()
        self.columns.read_only()
        return self


def usable_terms(df: np.ndarray, n_docs: int, config: IndexConfig, min_df: int) -> np.ndarray:
    """Terms a query may use to find candidates: min_df <= df <= max_doc_freq (a count, or a share if <= 1.0)."""
    usable = df >= min_df
    max_df = config.max_doc_freq
    if max_df is not None:
        limit = max_df * n_docs if isinstance(max_df, float) and max_df <= 1.0 else max_df
        usable &= df <= limit
    return usable


def probe_budget(config: IndexConfig, *, live: bool = False) -> int:
    """Postings a candidate search of the build (or, with ``live``, a search at query time) may
    visit (no limit: the largest int64)."""
    budget = config.live_probe_budget if live else config.probe_budget
    return np.iinfo(np.int64).max if budget is None else budget


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` with each row divided by its length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def moved(own: np.ndarray, rows: np.ndarray, sims: np.ndarray, embeddings: np.ndarray, weight: float) -> np.ndarray:
    """Semantic feedback: unit rows of own + weight * sum of ``sims * embeddings[rows]`` (each line of
    rows and sims goes with a line of own; rows < 0 and sims <= 0 count 0). Neighbours count by
    their similarity, so an article whose closest articles are barely similar is barely moved."""
    sims = np.where(rows >= 0, np.maximum(sims, 0.0), 0.0).astype(np.float32)
    neighbours = np.asarray(embeddings[np.maximum(rows, 0)], dtype=np.float32)
    pulled = (sims[:, None, :] @ neighbours)[:, 0, :]
    return unit_rows(own + weight * pulled)
