"""The semantic channel at build time: LSA or MiniLM embeddings of every article, and neighbour
lists that blend the embeddings' cosine into the lexical similarity."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from ..analysis import embedding
from ..config import IndexConfig
from ..index.columns import ArticleStore
from ..index.data import FLOAT, Postings
from . import kernels
from .progress import progress_bar


def uses_minilm(config: IndexConfig) -> bool:
    """True if the semantic channel is on with the MiniLM model (the optional extra)."""
    return config.semantic_weight > 0 and config.semantic_model == "minilm"


def lsa(rows: Postings, n_terms: int, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit LSA embeddings of the articles and the projection (TruncatedSVD of the weight matrix)."""
    from sklearn.decomposition import TruncatedSVD

    matrix = sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(rows.indptr) - 1, n_terms))
    d = max(1, min(n_components, min(matrix.shape) - 1))
    svd = TruncatedSVD(n_components=d, random_state=0).fit(matrix)
    embeddings = svd.transform(matrix)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings / np.where(norms > 0, norms, 1.0)
    return embeddings.astype(FLOAT), svd.components_.astype(FLOAT)


def encode_articles(store: ArticleStore, progress: bool, known: Mapping[str, np.ndarray],
                     block: int = 512) -> np.ndarray:
    """Unit MiniLM embeddings of every article's title and body; those in ``known`` are taken from there."""
    embeddings = np.zeros((len(store), embedding.DIMENSIONS), dtype=FLOAT)
    todo = []
    for row, article_id in enumerate(store.ids):
        if article_id in known:
            embeddings[row] = known[article_id]
        else:
            todo.append(row)
    for start in progress_bar(range(0, len(todo), block), progress, f"embedding (x{block})"):
        rows = todo[start:start + block]
        records = [store.record(row) for row in rows]
        embeddings[rows] = embedding.encode([embedding.article_text(r.get("title"), r.get("body")) for r in records])
    return embeddings


def semantic_neighbours(lexical_rows: np.ndarray, embeddings: np.ndarray, weight: float, rows: Postings,
                         article_queries: np.ndarray, self_scores: np.ndarray, n_terms: int,
                         block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Every article's neighbour list with the semantic channel: the candidates are its lexical
    neighbours and as many articles of the closest embeddings; each is scored (1 - w) * lexical +
    w * cosine (at least 0), and the best are kept, as many as before."""
    n, keep = lexical_rows.shape
    n_dense = min(keep, n - 1)
    candidates = np.full((n, keep + n_dense), -1, dtype=np.int32)
    cosines = np.zeros(candidates.shape, dtype=np.float64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        block_cosines = embeddings[start:stop] @ embeddings.T
        block_cosines[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        dense = np.argpartition(-block_cosines, n_dense - 1, axis=1)[:, :n_dense] if n_dense else \
            np.zeros((stop - start, 0), dtype=np.int64)
        union = np.sort(np.concatenate([lexical_rows[start:stop], dense], axis=1), axis=1)
        union[:, 1:][union[:, 1:] == union[:, :-1]] = -1  # a row in both lists once
        candidates[start:stop] = union
        cosines[start:stop] = np.take_along_axis(block_cosines, np.maximum(union, 0), axis=1)
    scores = kernels.candidate_scores(article_queries, rows.indptr, rows.indices, rows.data, n_terms, candidates)
    with np.errstate(divide="ignore", invalid="ignore"):
        lexical = np.where(self_scores[:, None] > 0, scores / self_scores[:, None], 0.0)
    valid = candidates >= 0
    mixed = np.where(valid, (1 - weight) * lexical + weight * np.maximum(cosines, 0.0), -np.inf)
    order = np.lexsort((np.where(valid, candidates, np.iinfo(np.int32).max), -mixed), axis=1)[:, :keep]
    best_rows = np.take_along_axis(candidates, order, axis=1)
    best_sims = np.take_along_axis(mixed, order, axis=1)
    kept = best_rows >= 0
    return np.where(kept, best_rows, -1).astype(np.int32), np.where(kept, best_sims, 0.0).astype(np.float32)

