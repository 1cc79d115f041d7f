"""Term weighting: TF-IDF (scikit-learn's) and BM25 (rank-bm25's Okapi formula), the document side
(count matrices of articles) and the query side (an article or a text as a query) together."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from ._spans import spans
from .config import IndexConfig

FLOAT = np.float32  # the dtype of the weights an index stores
BLOCK_ENTRIES = 1 << 21  # entries of the rows weighed at a time (a few copies of them are the scratch memory)


def document_frequencies(counts: sp.csr_matrix, block: int = 1 << 24) -> np.ndarray:
    """Number of documents containing each term (counted ``block`` entries at a time: bincount
    copies int32 indices to int64, which for the whole matrix is twice its indices' memory)."""
    df = np.zeros(counts.shape[1], dtype=np.int64)
    for start in range(0, counts.nnz, block):
        df += np.bincount(counts.indices[start:start + block], minlength=counts.shape[1])
    return df


def tfidf_weights(counts: sp.csr_matrix, *, sublinear_tf: bool = False, copy: bool = True,
                  block: int = BLOCK_ENTRIES, df: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """L2-normalised TF-IDF rows (in the dtype of ``counts`` if floating, else float64; in place if
    ``copy`` is False and it is floating) and the idf vector, as scikit-learn's TfidfTransformer
    computes them. It transforms rows of about ``block`` entries at a time (each row's weights
    depend only on it and the idf), so its scratch memory is a block's, not the matrix's. ``df``:
    the document frequencies, if already counted."""
    dtype = counts.dtype if counts.dtype in (np.float32, np.float64) else np.float64  # as scikit-learn's
    transformer = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=sublinear_tf)
    df = document_frequencies(counts) if df is None else df
    transformer.idf_ = _smooth_idf(df, counts.shape[0], dtype)
    weights = sp.csr_matrix(counts, dtype=dtype, copy=copy or dtype != counts.dtype)
    for start, stop in spans(weights.indptr, block):
        part = transformer.transform(weights[start:stop])  # a copy of the block's rows, same entries
        weights.data[weights.indptr[start]:weights.indptr[stop]] = part.data
    return weights, transformer.idf_.astype(np.float64)


def _smooth_idf(df: np.ndarray, n_docs: int, dtype) -> np.ndarray:
    """What TfidfTransformer(smooth_idf=True).fit learns from these document frequencies, step by
    step in ``dtype`` (its fit counts them with one bincount of the whole matrix's indices, which
    copies them to int64)."""
    idf = np.full(len(df), n_docs + 1, dtype=dtype)
    idf /= df.astype(dtype) + 1.0
    np.log(idf, out=idf)
    idf += 1.0
    return idf


def tfidf_query(terms: np.ndarray, tf: np.ndarray, idf: np.ndarray, *, sublinear_tf: bool) -> np.ndarray:
    """TF-IDF weights of one query (its term ids and counts), L2-normalised like the documents."""
    tf = tf.astype(np.float64)
    if sublinear_tf:
        tf = np.log(tf) + 1.0
    weights = tf * idf[terms]
    norm = np.sqrt(np.dot(weights, weights))
    return weights / norm if norm > 0 else weights


def bm25_idf(df: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    """Okapi idf, ln(n - df + 0.5) - ln(df + 0.5); negative values are floored at epsilon * mean idf (rank-bm25)."""
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    floor = epsilon * idf.mean() if idf.size else 0.0
    return np.where(idf < 0, floor, idf)


def bm25_term_weights(tf: np.ndarray, doc_len: np.ndarray, idf_of_term: np.ndarray, *, k1: float, b: float,
                      avgdl: float) -> np.ndarray:
    """Per-entry BM25 weight: idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))."""
    norm = k1 * (1.0 - b + b * doc_len / avgdl)
    return idf_of_term * (tf * (k1 + 1.0)) / (tf + norm)


def bm25_weights(counts: sp.csr_matrix, doc_len: np.ndarray, *, k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25, dtype=np.float64, df: np.ndarray | None = None, copy: bool = True,
                 block: int = BLOCK_ENTRIES) -> tuple[sp.csr_matrix, np.ndarray, float]:
    """The BM25 document-term weight matrix, the idf vector and the average document length.

    The BM25 score of a query with term counts qtf against document d is ``qtf . W[d]``, which is
    exactly rank_bm25.BM25Okapi.get_scores on the same tokens. ``df``: the document frequencies,
    if already counted. The weights replace the counts in place if ``copy`` is False and the counts
    are of ``dtype``; they are computed for rows of about ``block`` entries at a time, so the
    scratch memory is a block's.
    """
    n_docs = counts.shape[0]
    idf = bm25_idf(document_frequencies(counts) if df is None else df, n_docs, epsilon)
    avgdl = float(doc_len.mean())
    in_place = not copy and counts.dtype == dtype
    data = counts.data if in_place else np.empty(counts.nnz, dtype)
    typed_idf, indptr = idf.astype(dtype), counts.indptr
    for first, last in spans(indptr, block):
        start, stop = indptr[first], indptr[last]
        row_len = np.repeat((doc_len[first:last] / avgdl).astype(dtype), np.diff(indptr[first:last + 1]))
        data[start:stop] = bm25_term_weights(counts.data[start:stop].astype(dtype), row_len,
                                             typed_idf[counts.indices[start:stop]], k1=k1, b=b, avgdl=1.0)
    weights = sp.csr_matrix((data, counts.indices, indptr), shape=counts.shape)
    return weights, idf, avgdl


def weigh(config: IndexConfig, counts: sp.csr_matrix, doc_len: np.ndarray,
          df: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, float]:
    """The document-side weights of a count matrix by the config's method (in place of the counts),
    the document frequencies, the idf and the average document length. ``df``: the document
    frequencies, if already counted."""
    df = document_frequencies(counts) if df is None else df
    if config.method == "tfidf":
        weights, idf = tfidf_weights(counts, sublinear_tf=config.sublinear_tf, copy=False, df=df)
        return weights, df, idf, float(doc_len.mean())
    weights, idf, avgdl = bm25_weights(counts, doc_len, k1=config.k1, b=config.b, epsilon=config.epsilon, dtype=FLOAT,
                                       df=df, copy=False)
    return weights, df, idf, avgdl


def query_needs_counts(config: IndexConfig) -> bool:
    """Whether the query side of indexed articles reads their term counts (BM25, or a min_term_freq
    to apply); TF-IDF's otherwise is the document side itself, and an index keeps no counts."""
    return config.method != "tfidf" or config.min_term_freq > 1


def query_weights(config: IndexConfig, doc_weights: np.ndarray, tf: np.ndarray | None,
                  terms: np.ndarray | Callable[[], np.ndarray], df: np.ndarray) -> np.ndarray:
    """The query side of indexed articles: their TF-IDF weights or BM25 term counts (aligned with
    ``terms``, the entries' term ids, or a function that makes them when min_doc_freq needs them),
    with the entries min_term_freq and min_doc_freq rule out set to zero. ``tf`` may be None when
    the config does not need it (query_needs_counts)."""
    q = doc_weights if config.method == "tfidf" else tf
    ruled_out = None
    if config.min_term_freq > 1:  # every present term occurs at least once
        ruled_out = tf < config.min_term_freq
    rare = df < config.min_doc_freq
    if rare.any():
        terms = terms() if callable(terms) else terms
        ruled_out = rare[terms] if ruled_out is None else ruled_out | rare[terms]
    if ruled_out is None or not ruled_out.any():
        return q  # shared, not copied: at build time this array is the size of the whole index
    q = np.array(q, dtype=FLOAT)
    q[ruled_out] = 0.0
    return q


def text_weights(config: IndexConfig, idf: np.ndarray, avgdl: float, terms: np.ndarray, tf: np.ndarray,
                 length: float) -> tuple[np.ndarray, np.ndarray]:
    """(query side, document side) of a text with these term ids, counts and length. The document
    side is the text's full vector; the query side leaves out the terms min_term_freq rules out, as
    for indexed articles."""
    if config.method == "tfidf":
        doc_side = tfidf_query(terms, tf, idf, sublinear_tf=config.sublinear_tf)
        query = doc_side
    else:
        doc_side = bm25_term_weights(tf, np.full(len(tf), length), idf[terms], k1=config.k1, b=config.b, avgdl=avgdl)
        query = tf
    if config.min_term_freq > 1:  # every present term occurs at least once
        query = np.where(tf >= config.min_term_freq, query, 0.0)
    return query, doc_side
