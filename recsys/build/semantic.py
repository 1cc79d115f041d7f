"""The semantic channel at build time: static, LSA or MiniLM embeddings of every article, moved
towards their lexical neighbours (feedback), their approximate nearest-neighbour index, and
neighbour lists that blend the embeddings' cosine into the lexical similarity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..analysis import embedding, static_model
from ..analysis.analyzer import Analyzer, AnalyzerConfig
from ..config import IndexConfig
from ..index.columns import ArticleStore, mapped, read_into, spilling, temporary_file, write
from ..index.data import FLOAT, moved, unit_rows
from ..index.rows import Rows
from ..index.dense import DenseIndex
from . import kernels
from .progress import progress_bar, release_freed_memory


CORPUS_DIRECTION_ARTICLES = 100
TERM_BLOCK = 1 << 16  # term vectors made and pooled at a time (32 MB at 128 dimensions)
BLENDED_FAN_OUT = 10  # the blended lists' neighbour-of-neighbour round: 10 x 10 candidates per article


@dataclass
class Channel:
    """What the semantic channel adds to an index."""

    embeddings: np.ndarray          # (n, d) unit rows, after feedback: what cosines are taken of
    projection: np.ndarray | None   # term weights -> embedding: (n_terms, d) for the static model, (d, n_terms) for LSA
    encoded: np.ndarray | None      # MiniLM's own embeddings before feedback (kept: they cost the most to make)
    dense: DenseIndex


def uses_minilm(config: IndexConfig) -> bool:
    """True if the semantic channel is on with the MiniLM model (the optional extra)."""
    return config.semantic_weight > 0 and config.semantic_model == "minilm"


def channel(config: IndexConfig, rows: Rows, vocabulary: list[str], store: ArticleStore, progress: bool,
            known: Mapping[str, np.ndarray], lexical_rows: np.ndarray, lexical_sims: np.ndarray) -> Channel:
    """The semantic channel of an index whose lexical neighbour lists are ``lexical_rows/sims``."""
    projection = encoded = None
    if config.semantic_model == "static":
        embeddings, projection = static(rows, vocabulary, config.analyzer)
    elif config.semantic_model == "lsa":
        embeddings, projection = lsa(rows, len(vocabulary), config.lsa_components)
    else:
        embeddings = encoded = encode_articles(store, progress, known)
    release_freed_memory()  # each step's temporaries, before the next step's
    if config.semantic_feedback > 0:
        embeddings = feedback(embeddings, lexical_rows, lexical_sims, config.feedback_neighbors,
                              config.semantic_feedback, in_place=encoded is None)  # MiniLM's own are kept
        release_freed_memory()
    if encoded is not None and config.semantic_feedback == 0:
        encoded = None  # the same array as the embeddings
    dense = DenseIndex.build(embeddings, config.dense_probes, kernels.threads())
    release_freed_memory()
    return Channel(embeddings, projection, encoded, dense)


def lsa(rows: Rows, n_terms: int, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit LSA embeddings of the articles and the projection (TruncatedSVD of the weight matrix)."""
    from sklearn.decomposition import TruncatedSVD

    matrix = rows.to_csr(n_terms)
    d = max(1, min(n_components, min(matrix.shape) - 1))
    svd = TruncatedSVD(n_components=d, random_state=0).fit(matrix)
    embeddings = svd.transform(matrix)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings / np.where(norms > 0, norms, 1.0)
    return embeddings.astype(FLOAT), svd.components_.astype(FLOAT)


def static(rows: Rows, vocabulary: list[str], analyzer: AnalyzerConfig,
           block: int = TERM_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Unit static-model embeddings of the articles, and the projection (n_terms, d: a row per term) that makes
    them from an article's term weights: each term's static vector (static_model.term_vectors),
    pooled by the article's own weights (its POOLED_TERMS strongest terms), less the direction
    all articles share (removed as SIF does: the first singular vector of the pooled vectors), when
    there are at least CORPUS_DIRECTION_ARTICLES articles to tell it from a topic's. The term
    vectors are made and pooled ``block`` terms at a time, and kept in a temporary file (only
    drafts read them, a few rows each), so memory holds the pooled rows and one block."""
    model = static_model.load()
    state = kernels.pooling(rows.indptr, rows.data, static_model.POOLED_TERMS)
    pooled = np.zeros((len(rows.indptr) - 1, model.vectors.shape[1]), np.float32)
    with spilling("the term vectors"), temporary_file() as file:
        for first, terms in static_model.term_vector_blocks(model, vocabulary, Analyzer(analyzer), block):
            kernels.pooled(rows.indptr, rows.terms, rows.data, terms, first, state, pooled)
            write(file, terms)
        if len(pooled) >= CORPUS_DIRECTION_ARTICLES:
            common = _common_direction(pooled)
            _remove_direction(pooled, common)
            _remove_from_file(file, common, len(vocabulary), block)
        projection = mapped(file, np.dtype(np.float32), len(vocabulary) * pooled.shape[1])
    _make_unit(pooled)
    return pooled, projection.reshape(len(vocabulary), pooled.shape[1])


def _remove_from_file(file, direction: np.ndarray, n_rows: int, block: int) -> None:
    """_remove_direction on the ``n_rows`` float32 rows of ``direction``'s length that ``file``
    holds, in place, ``block`` rows at a time."""
    buffer = np.empty((block, len(direction)), np.float32)
    for first in range(0, n_rows, block):
        part = buffer[:min(block, n_rows - first)]
        file.seek(first * buffer.strides[0])
        read_into(file, part)
        _remove_direction(part, direction)
        file.seek(first * buffer.strides[0])
        write(file, part)


def _remove_direction(vectors: np.ndarray, direction: np.ndarray, block: int = 65_536) -> None:
    """Take from each row of ``vectors`` its component along the unit ``direction``, in place, a
    block of rows at a time (no temporary the size of ``vectors``)."""
    for start in range(0, len(vectors), block):
        part = vectors[start:start + block]
        part -= np.outer(part @ direction, direction)


def _make_unit(vectors: np.ndarray, block: int = 65_536) -> None:
    """unit_rows of ``vectors``, in place, a block of rows at a time (unit_rows of the whole would
    make temporaries its size)."""
    for start in range(0, len(vectors), block):
        vectors[start:start + block] = unit_rows(vectors[start:start + block])


def feedback(embeddings: np.ndarray, neighbor_rows: np.ndarray, neighbor_sims: np.ndarray, neighbors: int,
             weight: float, *, in_place: bool = False, block: int = 8192) -> np.ndarray:
    """Each embedding moved towards its ``neighbors`` most similar articles (by the lexical lists):
    e + weight * the sum of their embeddings times their similarities, made unit again
    (pseudo-relevance feedback, as RM3 expands a query by its top documents). A new array, or with
    ``in_place`` the embeddings themselves, moved; then the moved rows wait in a temporary file
    until every row has been moved (each move reads its neighbours as they were), so memory never
    holds a second array of them."""
    def moved_block(start: int, stop: int) -> np.ndarray:
        return np.ascontiguousarray(moved(embeddings[start:stop], neighbor_rows[start:stop, :neighbors],
                                          neighbor_sims[start:stop, :neighbors], embeddings, weight),
                                    dtype=embeddings.dtype)

    blocks = [(start, min(start + block, len(embeddings))) for start in range(0, len(embeddings), block)]
    if not in_place:
        out = np.empty_like(embeddings)
        for start, stop in blocks:
            out[start:stop] = moved_block(start, stop)
        return out
    with spilling("the moved embeddings"), temporary_file() as file:
        for start, stop in blocks:
            write(file, moved_block(start, stop))
        file.seek(0)
        for start, stop in blocks:
            read_into(file, embeddings[start:stop])
    return embeddings


def _common_direction(vectors: np.ndarray) -> np.ndarray:
    """The unit first right singular vector of ``vectors`` (uncentred), from a sample of at most 100,000 rows."""
    from sklearn.utils.extmath import randomized_svd

    sample = vectors[np.random.default_rng(0).choice(len(vectors), 100_000, replace=False)] \
        if len(vectors) > 100_000 else vectors
    if not np.any(sample):
        return np.zeros(vectors.shape[1], dtype=vectors.dtype)
    _, _, vt = randomized_svd(sample, 1, random_state=0)
    return vt[0].astype(vectors.dtype)


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


def semantic_neighbours(lexical_rows: np.ndarray, lexical_sims: np.ndarray, embeddings: np.ndarray,
                        dense: DenseIndex, weight: float, rows: Rows, article_queries: np.ndarray,
                        self_scores: np.ndarray, n_terms: int, block: int = 8192,
                        fan_out: int = BLENDED_FAN_OUT) -> tuple[np.ndarray, np.ndarray]:
    """Every article's neighbour list with the semantic channel: the candidates are its lexical
    neighbours and as many articles of the closest embeddings (from the dense index); each is
    scored exactly, (1 - w) * lexical + w * cosine (at least 0), and the best are kept, as many as
    before. Then one neighbour-of-neighbour round on those lists (the first ``fan_out`` entries of
    the lists of its first ``fan_out`` neighbours, scored the same way) finds close embeddings the
    dense index's few probed lists missed. Both passes go ``block`` articles at a time, so their
    candidates are never held for all articles at once, in the order of the dense index's lists,
    so that consecutive articles, being alike, score much the same candidates while their rows are
    in cache; the second writes its lists over the lexical ones, which it returns. Between the
    passes the first lists wait in a temporary file, but for the first ``fan_out`` rows of each."""
    n, keep = lexical_rows.shape
    n_dense = min(keep, n - 1)

    def blended(block: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return kernels.blended_lists(article_queries, rows.indptr, rows.terms, rows.data, n_terms, self_scores,
                                     embeddings, lexical_rows, lexical_sims, block,
                                     np.asarray(candidates, np.int32), weight)  # one compiled kernel for both passes

    by_list = dense.rows_by_list()  # consecutive searches scan the same lists, while they are in cache
    blocks = [by_list[start:start + block] for start in range(0, n, block)]
    # the first lists wait in a temporary file, in the order of the blocks; memory holds the part
    # that the second pass links through (their first fan_out rows)
    linking = np.full((n, min(fan_out, keep)), -1, dtype=np.int32)
    with spilling("the blended lists"), temporary_file() as first_lists:
        for block_rows in blocks:
            found = _others(dense.search(embeddings[block_rows], n_dense + 1), block_rows, n_dense)
            first = blended(block_rows, found)[0]
            linking[block_rows] = first[:, :linking.shape[1]]
            write(first_lists, first)
        release_freed_memory()
        first_lists.seek(0)
        for block_rows in blocks:  # a block's lexical lists are read by that block's blend only
            first = np.empty((len(block_rows), keep), dtype=np.int32)
            read_into(first_lists, first)
            # a dense candidate outside the first lists lost to all of them, which stay candidates: leave it out
            candidates = np.concatenate([first, _linked(linking, block_rows, fan_out)], axis=1)
            lexical_rows[block_rows], lexical_sims[block_rows] = blended(block_rows, _distinct(candidates))
    return lexical_rows, lexical_sims


def _linked(neighbor_rows: np.ndarray, rows: np.ndarray, fan_out: int) -> np.ndarray:
    """(len(rows), fan_out ** 2): for each of ``rows``, the first ``fan_out`` rows of the lists of
    its first ``fan_out`` neighbours (-1: none), the row itself left out."""
    width = min(fan_out, neighbor_rows.shape[1])
    first = neighbor_rows[rows, :width]
    linked = np.where(first[:, :, None] >= 0, neighbor_rows[np.maximum(first, 0), :width], -1)
    linked = linked.reshape(len(first), -1)
    return np.where(linked == rows[:, None], -1, linked)


def _distinct(candidates: np.ndarray) -> np.ndarray:
    """Each line's rows once (sorted; repeats and -1 become -1 at the end)."""
    ordered = np.sort(candidates, axis=1)
    repeat = np.zeros_like(ordered, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    ordered[repeat] = -1
    return -np.sort(-ordered, axis=1)  # -1 last; the kernel scores candidates in any order


def _others(found: np.ndarray, own: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows of each line of ``found`` that are not the line's own row (-1 padded)."""
    found = np.where(found == own[:, None], -1, found)
    order = np.argsort(found < 0, axis=1, kind="stable")[:, :n]
    return np.take_along_axis(found, order, axis=1)
