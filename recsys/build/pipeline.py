"""The build pipeline: read -> count -> weigh -> link. Articles in, IndexData out."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import make_read_only
from .._checks import check_int
from ..analysis import embedding
from ..analysis.analyzer import Analyzer
from ..analysis.counting import CountBuilder
from ..config import IndexConfig
from ..documents.article import Article
from ..documents.readers import iter_input, read_articles, validate_rows
from ..errors import InputError
from ..index.columns import ArticleStore, StoreBuilder
from ..index.data import IndexData, usable_terms
from ..index.rows import Rows, let_go
from ..weighting import query_needs_counts, query_weights, weigh
from .columns import impact_columns
from .neighbours import Linker, LinkInputs, LocalLinker, duplicate_groups, neighbour_lists
from .progress import peak_rss_mb, progress_bar, release_freed_memory
from .semantic import channel, semantic_neighbours, uses_minilm
from .term_order import frequency_ordered


PROBE_PREFIX = 50  # see _probe_prefix


@dataclass
class BuildResult:
    """A built index's data, its phases' seconds and this process's peak RSS (MB) after them."""

    data: IndexData
    seconds: dict[str, float]
    peak_rss_mb: dict[str, float | None]


def build(articles: Iterable[Mapping[str, Any] | Article] | str | os.PathLike, config: IndexConfig, *,
          on_error: str = "raise", on_skip: Callable[[InputError], None] | None = None, progress: bool = False,
          n_jobs: int | None = None, known_embeddings: Mapping[str, np.ndarray] | None = None) -> BuildResult:
    """Build from articles (dicts, Articles, or the path of a JSONL/CSV file); see RelatedIndex.build.
    ``known_embeddings`` (article id -> embedding of the same text by the same model) spares
    encoding those articles again."""
    if uses_minilm(config) and known_embeddings is None:
        embedding.require()  # before the work, not after it
    if isinstance(articles, (str, os.PathLike)):
        valid = read_articles(articles, on_error=on_error, on_skip=on_skip)
    else:
        valid = validate_rows(iter_input(articles), source=None, on_error=on_error, on_skip=on_skip)
    started = time.perf_counter()
    stores = StoreBuilder()
    with CountBuilder(Analyzer(config.analyzer), config.field_weights, _jobs(n_jobs),
                      config.language_field) as counts:
        for article in progress_bar(valid, progress, "reading"):
            counts.add(article)
            stores.add(article)
        tf, doc_len, vocabulary = counts.finish()
    release_freed_memory()
    return weighed(config, tf, doc_len, vocabulary, stores.finish(), started, progress,
                   known_embeddings=known_embeddings)


def rebuild(view, config: IndexConfig, *, progress: bool = False, n_jobs: int | None = None) -> BuildResult:
    """A build of a View's live articles (recsys.query.view), reusing their embeddings when the
    semantic model is the same MiniLM."""
    store = view.store
    live_ids = [i for row, i in enumerate(store.ids) if not view.deleted[row]]
    articles = (store.article(store.row_of[i]) for i in live_ids)
    known = None
    if uses_minilm(config) and view.built.vectorizer.semantic and view.config.semantic_model == "minilm":
        built = view.data.embeddings if view.data.encoded is None else view.data.encoded

        def encoded(row: int) -> np.ndarray:
            if row < view.n_built:
                return built[row]
            added = view.appended[row]
            return added.embedding if added.encoded is None else added.encoded

        known = {i: encoded(store.row_of[i]) for i in live_ids}
    return build(articles, config, progress=progress, n_jobs=n_jobs, known_embeddings=known)


def weighed(config: IndexConfig, tf: sp.csr_matrix, doc_len: np.ndarray, vocabulary: list[str],
            store: ArticleStore, started: float, progress: bool, *,
            known_embeddings: Mapping[str, np.ndarray] | None = None, linker: Linker | None = None) -> BuildResult:
    """The index over the counts read since ``started`` (perf_counter), weighted and linked, with its
    build's phase times and peak memory; ``linker`` computes the neighbour lists (default: here)."""
    read = time.perf_counter()
    if progress:
        print(f"weighting {tf.shape[0]} articles, then finding each one's related articles ...",
              file=sys.stderr, flush=True)
    read_peak = peak_rss_mb()
    data, linked, semantic, linked_peak = _weigh_and_link(config, tf, doc_len, vocabulary, store, progress,
                                                          known_embeddings, linker or LocalLinker())
    seconds = {"reading": read - started, "weighting": linked - read,
               "neighbours": time.perf_counter() - linked - semantic, "semantic": semantic}
    return BuildResult(data, seconds, {"reading": read_peak, "neighbours": linked_peak, "total": peak_rss_mb()})


def _weigh_and_link(config: IndexConfig, tf: sp.csr_matrix, doc_len: np.ndarray, vocabulary: list[str],
                    store: ArticleStore, progress: bool, known_embeddings: Mapping[str, np.ndarray] | None,
                    linker: Linker) -> tuple[IndexData, float, float, float | None]:
    """Weight the count matrix and precompute every article's neighbour list; also returns the
    perf_counter time at which weighting ended and linking began, the seconds of linking that
    the semantic channel took, and the peak RSS (MB) before it."""
    tf, vocabulary, df = frequency_ordered(tf, vocabulary)
    query_tf = tf.data.copy() if query_needs_counts(config) else None
    weights, df, idf, avgdl = weigh(config, tf, doc_len, df)
    if tf is not weights:  # weighed in place: the callers still hold the counts, whose arrays these are
        let_go(tf)
    del tf
    # read-only from here on, as the index's arrays are at query time: the kernels the build and the
    # queries share then compile once (see recsys._arrays)
    rows = Rows.taken(weights).read_only()
    del weights
    # the build's probe finds an article by its strongest terms, and reads at most its budget of any
    # column's postings; the index keeps them all, on disk
    columns = impact_columns(rows, df, _column_cap(config), _probe_prefix(config))
    columns.full.read_only()
    columns.probe.read_only()
    make_read_only(columns.term_max)
    release_freed_memory()
    article_queries = query_weights(config, rows.data, query_tf, rows.term_ids, df)
    make_read_only(article_queries)
    usable = usable_terms(df, len(store), config, max(2, config.min_doc_freq))
    linking = time.perf_counter()
    term_max = columns.term_max
    inputs = LinkInputs(article_queries, usable, term_max, rows, columns.probe, len(vocabulary))
    columns.probe = None  # neighbour_lists lets them go once its search is done
    neighbor_rows, neighbor_sims, self_scores = neighbour_lists(config, inputs, linker)
    del inputs
    release_freed_memory()
    linked_peak, semantic, semantic_started = peak_rss_mb(), None, time.perf_counter()
    if config.semantic_weight > 0:
        semantic = channel(config, rows, vocabulary, store, progress, known_embeddings or {}, neighbor_rows,
                           neighbor_sims)
        neighbor_rows, neighbor_sims = semantic_neighbours(neighbor_rows, neighbor_sims, semantic.embeddings,
                                                           semantic.dense, config.semantic_weight, rows,
                                                           article_queries, self_scores, len(vocabulary))
    semantic_seconds = time.perf_counter() - semantic_started
    groups = duplicate_groups(neighbor_rows, neighbor_sims, config.near_duplicate_threshold)
    return IndexData(config=config, vocabulary=vocabulary, df=df, idf=idf, avgdl=avgdl, rows=rows,
                     embeddings=semantic and semantic.embeddings, projection=semantic and semantic.projection,
                     encoded=semantic and semantic.encoded, dense=semantic and semantic.dense,
                     query_tf=query_tf, columns=columns.full,
                     term_max=term_max, self_scores=self_scores, neighbor_rows=neighbor_rows,
                     neighbor_sims=neighbor_sims, store=store, duplicate_group=groups), linking, semantic_seconds, \
        linked_peak


def _probe_prefix(config: IndexConfig) -> int:
    """Strongest terms of an article under which the build's probe finds it: as many as a query
    searches with, and at least PROBE_PREFIX (so that a narrow query still meets a broad article)."""
    return max(config.max_query_terms, PROBE_PREFIX)


def _column_cap(config: IndexConfig) -> int | None:
    """Postings of each column the build's probe may read: one more than its budget, so that a
    capped column alone is over the budget, as it is in full (see index.kernels.contribution_cutoff)."""
    return None if config.probe_budget is None else config.probe_budget + 1


def _jobs(n_jobs: int | None) -> int:
    if n_jobs is None:
        return os.cpu_count() or 1
    return check_int("n_jobs", n_jobs)
