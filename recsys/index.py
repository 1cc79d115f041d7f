"""RelatedIndex: the public index object. Build it from articles, ask it for related lists, save and load it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from . import _embedding, _kernels
from ._checks import check_int
from ._store import ArticleStore, StoreBuilder
from ._vectorize import CountBuilder, Languages, article_texts, weighted_terms
from .article import MAX_VIEWS, Article
from .config import BlendConfig, IndexConfig
from .corpus import iter_input, read_articles, validate_rows
from .errors import InputError, ParameterError, PendingChangesError, UnknownArticleError
from .hits import Hit
from .ranking import Filters, freshness, mmr_order, now_timestamp, popularity, shared_terms, top_k
from .text import Analyzer
from .weighting import bm25_term_weights, bm25_weights, document_frequencies, tfidf_query, tfidf_weights

FLOAT = np.float32
_EVERY_ROW = np.zeros(0, dtype=bool)  # an empty row mask lets every row through
_INT64_MAX = int(np.iinfo(np.int64).max)


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


@dataclass
class IndexData:
    """Everything a RelatedIndex holds; the arrays may be memory-mapped from an index directory."""

    config: IndexConfig
    vocabulary: list[str]
    df: np.ndarray            # documents per term
    idf: np.ndarray           # idf per term (TF-IDF or BM25 flavour, by method)
    avgdl: float              # mean weighted document length (BM25)
    rows: Postings            # CSR weights, one row per article
    query_tf: np.ndarray      # weighted term counts, aligned with rows.data
    columns: Postings         # CSC weights: the postings of each term
    term_max: np.ndarray      # each term's largest weight in any article (bounds its contribution)
    self_scores: np.ndarray   # q_i . W[i] for every article i
    neighbor_rows: np.ndarray  # (n, n_neighbors) precomputed related rows, -1 padded
    neighbor_sims: np.ndarray  # their normalised similarities
    duplicate_group: np.ndarray  # articles whose similarity reaches near_duplicate_threshold share a group
    store: ArticleStore
    editorial: dict = field(default_factory=dict)  # article id -> {"pins": [...], "blocks": [...]}
    embeddings: np.ndarray | None = None  # (n, d) unit rows of the semantic model, when semantic_weight > 0
    lsa_components: np.ndarray | None = None  # (d, n_terms): projects a weight vector into LSA space


class _Scratch(NamedTuple):
    """A live search's working memory (see _kernels._search): zeroed between searches."""

    acc: np.ndarray      # float32 per built row: partial sums
    partial: np.ndarray  # float64 per built row
    touched: np.ndarray  # int32 per built row, and one more
    qdense: np.ndarray   # float64 per term: the query, spread out

    @classmethod
    def of(cls, n_rows: int, n_terms: int) -> "_Scratch":
        return cls(np.zeros(n_rows, np.float32), np.empty(n_rows, np.float64), np.empty(n_rows + 1, np.int32),
                   np.zeros(n_terms, np.float64))


@dataclass(frozen=True)
class _Vector:
    """A query over the index's terms: sorted term ids, query weights, the weights the same text has
    as an article, and its score against itself (which normalises similarities); with the semantic
    channel on, also the text's unit embedding."""

    terms: np.ndarray
    weights: np.ndarray
    own: np.ndarray
    self_score: float
    embedding: np.ndarray | None = None


class RelatedIndex:
    """An in-memory related-articles index over a corpus of news articles.

    Build it with ``RelatedIndex.build(articles)``, query it with ``related(id)`` and
    ``more_like_this(text)``, persist it with ``save(dir)`` / ``RelatedIndex.load(dir)``.
    """

    def __init__(self, data: IndexData) -> None:
        self._data = data
        self.config = data.config
        self._analyzer = Analyzer(data.config.analyzer)
        self._languages = Languages(self._analyzer, data.config.language_field)
        self._term_of = {term: i for i, term in enumerate(data.vocabulary)}
        self._event_views = np.zeros(len(data.store), dtype=np.int64)  # added by add_views, never saved
        self._max_views = float(data.store.views.max()) if len(data.store) else 0.0
        self.build_seconds: dict[str, float] = {}  # phase -> seconds, for an index built in this process
        self.build_peak_rss_mb: dict[str, float | None] = {}  # this process's peak RSS at the end of a phase
        # Terms a query may probe with: any indexed term for a text, and for an indexed article only
        # terms some other article has too.
        self._text_terms = _usable_terms(data.df, len(data.store), self.config, self.config.min_doc_freq)
        self._article_terms = _usable_terms(data.df, len(data.store), self.config, max(2, self.config.min_doc_freq))
        # Live changes since the build: rows appended to the store, and tombstones. New articles are
        # weighted with the build's vocabulary and idf (see upsert); compaction rebuilds.
        self._n_built = len(data.store)
        self._deleted = np.zeros(self._n_built, dtype=bool)
        self._n_deleted = 0
        self._changes = 0
        self._appended: dict[int, _Vector] = {}
        self._appended_matrix: tuple[np.ndarray, sp.csr_matrix] | None = None
        self._groups = np.asarray(data.duplicate_group, dtype=np.int32)
        self._twinned = self._twins_of(self._groups)
        # The semantic channel: blended into every similarity, and a source of candidates of its own.
        self._semantic = bool(data.config.semantic_weight > 0 and data.embeddings is not None)
        self._scratch_pool: list[_Scratch] = []  # see _scratch

    # ----------------------------------------------------------------- building
    @classmethod
    def build(cls, articles: Iterable[Mapping[str, Any] | Article] | str | os.PathLike,
              method: str | None = None, *, on_error: str = "raise",
              on_skip: Callable[[InputError], None] | None = None, progress: bool = False,
              n_jobs: int | None = None, **params: Any) -> "RelatedIndex":
        """Build an index from articles (dicts, Articles, or the path of a JSONL/CSV file).

        ``method`` is "tfidf" or "bm25"; ``params`` are IndexConfig / AnalyzerConfig / BlendConfig
        fields (``k1``, ``b``, ``sublinear_tf``, ``field_weights``, ``stemmer``, ``max_query_terms``,
        ``popularity_weight``, ...). Bad rows raise InputError, or with ``on_error="skip"`` are passed
        to ``on_skip`` and left out. ``n_jobs`` processes tokenise large inputs (default: one per
        core); the index is the same whatever ``n_jobs`` is.
        """
        if method is not None:
            params["method"] = method
        config = IndexConfig.from_params(**params)
        if _uses_minilm(config):
            _embedding.require()  # before the work, not after it
        if isinstance(articles, (str, os.PathLike)):
            valid = read_articles(articles, on_error=on_error, on_skip=on_skip)
        else:
            valid = validate_rows(iter_input(articles), source=None, on_error=on_error, on_skip=on_skip)
        return cls._build(valid, config, progress=progress, n_jobs=n_jobs)

    @classmethod
    def build_on_dask(cls, path: str | os.PathLike, address: Any = "local", method: str | None = None, *,
                      format: str | None = None, on_error: str = "raise",
                      on_skip: Callable[[InputError], None] | None = None, progress: bool = False,
                      n_workers: int = 2, partition_bytes: int | None = None, timeout: float = 30.0,
                      **params: Any) -> "RelatedIndex":
        """Build the index of a JSONL or CSV file on Dask distributed (needs recsys[dask]); the
        index is the one ``build`` makes, with the same ``method``, ``params`` and error handling.

        ``address`` is a scheduler address ("tcp://host:8786"), a ``distributed.Client``, or
        "local" for a LocalCluster of ``n_workers`` processes started and closed here. Workers read
        the file at the same path (use shared storage), in partitions of about ``partition_bytes``
        (default: up to 64 MB, a few per worker); each worker computes the neighbour lists of its
        blocks of rows. ``timeout`` (seconds) bounds the wait for the scheduler and for a worker.
        """
        from ._dask_build import build_on_dask

        return build_on_dask(path, address, method, format=format, on_error=on_error, on_skip=on_skip,
                             progress=progress, n_workers=n_workers, partition_bytes=partition_bytes,
                             timeout=timeout, **params)

    @classmethod
    def _build(cls, valid: Iterable[Article], config: IndexConfig, *, progress: bool = False,
               n_jobs: int | None = None, known_embeddings: Mapping[str, np.ndarray] | None = None) -> "RelatedIndex":
        """Build from validated articles; ``known_embeddings`` (article id -> embedding of the same
        text by the same model) spares encoding those articles again."""
        started = time.perf_counter()
        stores = StoreBuilder()
        with CountBuilder(Analyzer(config.analyzer), config.field_weights, _jobs(n_jobs),
                          config.language_field) as counts:
            for article in _progress(valid, progress, "reading"):
                counts.add(article)
                stores.add(article)
            tf, doc_len, vocabulary = counts.finish()
        return cls._weighed(config, tf, doc_len, vocabulary, stores.finish(), started, progress,
                            known_embeddings=known_embeddings)

    @classmethod
    def _weighed(cls, config: IndexConfig, tf: sp.csr_matrix, doc_len: np.ndarray, vocabulary: list[str],
                 store: ArticleStore, started: float, progress: bool, *,
                 known_embeddings: Mapping[str, np.ndarray] | None = None,
                 link: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None) -> "RelatedIndex":
        """The index over the counts read since ``started`` (perf_counter), weighted and linked
        (see _weigh_and_link), with its build's phase times and peak memory."""
        read = time.perf_counter()
        if progress:
            print(f"weighting {tf.shape[0]} articles, then finding each one's related articles ...",
                  file=sys.stderr, flush=True)
        read_peak = _peak_rss_mb()
        data, linked = _weigh_and_link(config, tf, doc_len, vocabulary, store, progress, known_embeddings, link=link)
        index = cls(data)
        index.build_seconds = {"reading": read - started, "weighting": linked - read,
                               "neighbours": time.perf_counter() - linked}
        index.build_peak_rss_mb = {"reading": read_peak, "total": _peak_rss_mb()}
        return index

    # ----------------------------------------------------------------- queries
    def related(self, article_id: str, k: int = 10, *, section: str | None = None,
                tags: Iterable[str] | str | None = None, author: str | None = None,
                published_after=None, published_before=None, exclude: Iterable[str] | str | None = None,
                now=None, diversity: float = 0.0, explain: bool = False, fallback: bool = False,
                **blend: Any) -> list[Hit]:
        """The k articles most related to ``article_id`` (never itself), best first.

        Filters restrict what may be listed; ``blend`` overrides BlendConfig fields for this call
        (e.g. ``popularity_weight=0``). ``now`` fixes the clock freshness is measured from.
        ``diversity`` in [0, 1] re-ranks by maximal marginal relevance (0: off); ``explain`` adds to
        each hit its score's parts and the terms it shares with the article. With ``fallback``, a list
        shorter than k is padded with popular, recent articles of the article's section that the
        filters allow, marked ``reason="fallback"``. Editorial pins of the article come first
        (``reason="pinned"``) and its blocks never show (see ``set_editorial``).
        """
        row = self._row(article_id)
        k = _check_k(k)
        options = _ListOptions.of(diversity, explain, fallback)
        filters = Filters.of(section=section, tags=tags, author=author, published_after=published_after,
                             published_before=published_before, exclude=exclude)
        blend_config = self._blend(blend)
        pins, filters = self._editorial_filters(article_id, filters)
        pinned = [self._hit(self._data.store.row_of[p], reason="pinned") for p in pins[:k]]
        if len(pinned) == k:
            return pinned
        return pinned + self._related_hits(row, k - len(pinned), filters, blend_config, now, options)

    def served_from_stored_list(self, article_id: str, k: int) -> bool:
        """True if ``related(article_id, k)`` without filters, diversity or explanations would be answered
        from the article's precomputed list alone (and its pins): no live search, no scoring of articles
        added since the build, no fallback padding. Costs microseconds; UnknownArticleError as ``related``."""
        row = self._row(article_id)
        k = _check_k(k)
        pins, filters = self._editorial_filters(article_id, Filters())
        if len(pins) >= k:
            return True
        if row >= self._n_built or self._appended:
            return False
        shown = self._stored_list(row, filters, self.config.blend.min_similarity)[2]
        return shown >= k - len(pins)

    def _editorial_filters(self, article_id: str, filters: Filters) -> tuple[list[str], Filters]:
        """The article's pins that can show (in order), and ``filters`` that also exclude its pins and blocks."""
        rules = self._data.editorial.get(article_id, {})
        blocked = set(rules.get("blocks", ())) | set(filters.exclude)
        pins = [p for p in dict.fromkeys(rules.get("pins", ())) if p in self and p != article_id and p not in blocked]
        if blocked or pins:
            filters = replace(filters, exclude=tuple(blocked | set(pins)))
        return pins, filters

    def _related_hits(self, row: int, k: int, filters: Filters, blend_config: BlendConfig, now,
                      options: "_ListOptions") -> list[Hit]:
        if row >= self._n_built:  # added since the build: no precomputed list
            rows, sims = self._candidates(self._appended[row], filters, k, row, self._text_terms)
            keep = sims > blend_config.min_similarity
            return self._rank(rows[keep], sims[keep], k, blend_config, now, options, row, filters)
        rows, sims, shown, list_is_complete = self._stored_list(row, filters, blend_config.min_similarity)
        if shown < k and not list_is_complete:  # the stored list runs out: score live
            rows, sims = self._candidates(self._row_vector(row), filters, k, row, self._article_terms)
        elif self._appended:
            more_rows, more_sims = self._appended_candidates(self._row_vector(row), row)
            allowed = filters.mask(self._data.store, more_rows)
            rows = np.concatenate([rows, more_rows[allowed]])
            sims = np.concatenate([sims, more_sims[allowed]])
        keep = sims > blend_config.min_similarity
        return self._rank(rows[keep], sims[keep], k, blend_config, now, options, row, filters)

    def _stored_list(self, row: int, filters: Filters,
                     min_similarity: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
        """The precomputed neighbours of a built row that are live, allowed by ``filters`` and more
        similar than ``min_similarity`` (rows, similarities); how many stories they show (near
        duplicates and the article's own story count once, or not at all); and whether the stored
        list is complete (shorter than n_neighbors, so scoring live would find no more)."""
        data = self._data
        rows = data.neighbor_rows[row]
        rows = rows[rows >= 0]
        sims = np.asarray(data.neighbor_sims[row][: len(rows)], dtype=np.float64)
        is_complete = len(rows) < data.neighbor_rows.shape[1]
        keep = filters.mask(data.store, rows) & (sims > min_similarity)
        if self._n_deleted:
            keep &= ~self._deleted[rows]
        rows, sims = rows[keep], sims[keep]
        if self._twinned[rows].any() or self._twinned[row]:  # count what the list can show: stories
            shown = len(set(self._groups[rows].tolist()) - {int(self._groups[row])})
        else:
            shown = len(rows)
        return rows, sims, shown, is_complete

    def more_like_this(self, text: str, k: int = 10, *, title: str | None = None, section: str | None = None,
                       tags: Iterable[str] | str | None = None, author: str | None = None,
                       published_after=None, published_before=None,
                       exclude: Iterable[str] | str | None = None, now=None, diversity: float = 0.0,
                       explain: bool = False, fallback: bool = False, language: str | None = None,
                       **blend: Any) -> list[Hit]:
        """The k articles most similar to a text that is not in the index (a draft), best first;
        the options are those of ``related``. ``language`` ("de", "french", ...) analyses a draft
        that is not in the corpus's main language."""
        if not isinstance(text, str):
            raise ParameterError(f"text must be a string, got {type(text).__name__}")
        k = _check_k(k)
        options = _ListOptions.of(diversity, explain, fallback)
        filters = Filters.of(section=section, tags=tags, author=author, published_after=published_after,
                             published_before=published_before, exclude=exclude)
        blend_config = self._blend(blend)
        weights = self.config.field_weights
        language = self._languages.normalize(language, strict=True)
        vector = self._text_vector([(text, weights.get("body", 1.0) or 1.0), (title or "", weights.get("title", 0.0))],
                                   language, _embedding.article_text(title, text))
        rows, sims = self._candidates(vector, filters, k, -1, self._text_terms)
        keep = sims > blend_config.min_similarity
        return self._rank(rows[keep], sims[keep], k, blend_config, now, options, vector, filters)

    def similarity(self, article_id: str, other_id: str) -> float:
        """How similar ``other_id`` is to ``article_id``, as ``related(article_id)`` scores it before
        the blend (cosine for TF-IDF; BM25 over the first article's self score)."""
        other = self._row(other_id)
        query = self._row_vector(self._row(article_id))
        lexical = self._lexical(query, self._row_vector(other))
        return float(self._mixed(np.array([other]), np.array([lexical]), query)[0])

    def popular(self, k: int = 10, *, section: str | None = None, views: Mapping[str, int] | None = None,
                now=None, **blend: Any) -> list[Hit]:
        """The k most viewed articles, each article's views decayed by its age (the freshness decay;
        ``freshness_weight=0`` turns the decay off). ``views`` replaces the stored counts, e.g. with
        the views of the last hours."""
        k = _check_k(k)
        blend_config = self._blend(blend)
        store = self._data.store
        if views is None:
            counts = self._views(slice(None)).astype(np.float64)
        else:
            counts = np.zeros(len(store))
            for article_id, n in views.items():
                row = store.row_of.get(article_id)
                if row is not None:
                    counts[row] = n
        rows = np.flatnonzero(self._live_rows())
        if section:
            rows = rows[Filters.of(section=section).mask(store, rows)]
        fresh = (freshness(store.published[rows], now_timestamp(now), blend_config) if blend_config.freshness_weight
                 else np.ones(len(rows)))
        scores = counts[rows] * fresh
        best = [p for p in top_k(scores, rows, k) if scores[p] > 0]
        max_views = counts.max() if len(counts) else 0.0
        pop = popularity(counts[rows[best]], max_views)
        return [self._hit(int(rows[p]), score=scores[p], popularity=q, freshness=fresh[p]) for p, q in zip(best, pop)]

    def add_views(self, counts: Mapping[str, int]) -> int:
        """Add view counts (article id -> views) on top of the articles' own, so popularity reflects them
        at once. They live in memory only: ``save`` and ``compacted`` keep the articles' own counts, so an
        event log can be applied again without counting twice. Unknown ids are ignored; returns how many
        views were added. A count that is not an integer from 0 to MAX_VIEWS, or that would take an
        article's views past int64, raises ParameterError before any count is added."""
        rows = self._view_additions(counts)
        for row, n in rows.items():  # all checked: nothing below can fail halfway
            self._event_views[row] += n
            self._max_views = max(self._max_views, float(self._views(row)))
        return sum(rows.values())

    def _view_additions(self, counts: Mapping[str, int]) -> dict[int, int]:
        """Row -> views to add, for the known ids among ``counts``; ParameterError (before anything
        changes) for a count that is not an integer from 0 to MAX_VIEWS, or would take an article's
        views past what int64 holds."""
        store = self._data.store
        rows = {}
        for article_id, n in counts.items():
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_VIEWS:
                raise ParameterError(f"view counts must be integers from 0 to {MAX_VIEWS}, "
                                     f"got {n!r} for {article_id!r}")
            row = store.row_of.get(article_id)
            if row is not None and n:
                if int(self._views(row)) + int(n) > _INT64_MAX:
                    raise ParameterError(f"view counts: {n} more views of {article_id!r} would exceed {_INT64_MAX}")
                rows[row] = int(n)
        return rows

    # ----------------------------------------------------------------- live changes
    def upsert(self, article: Mapping[str, Any] | Article) -> None:
        """Add an article, or replace the one with its id, at once and without a rebuild.

        IDF drift: an added article is weighted with the vocabulary and idf of the build (terms the
        build never saw are left out), and built articles keep their weights, so scores stay
        comparable; ``compacted()`` rebuilds with fresh statistics. A replaced article keeps the
        larger of its old and new view counts. An upsert that raises leaves the index as it was. Not
        safe to run alongside other calls on this index from other threads (queries included): the
        service holds a lock around both.
        """
        article = article if isinstance(article, Article) else Article.from_dict(article)
        _check_views(article.views, article.id)
        store = self._data.store
        old = store.row_of.get(article.id)
        if old is not None:
            article = replace(article, views=max(article.views, int(store.views[old])))
        # Every new value first, then only assignments: a change that fails leaves no trace.
        vector = self._text_vector(article_texts(article, self.config.field_weights),
                                   self._languages.language_of(article), _embedding.article_text(article.title, article.body))
        groups = np.append(self._groups, self._group_of(vector))
        twinned = self._twins_of(groups)
        deleted = np.append(self._deleted, False)
        event_views = np.append(self._event_views, self._event_views[old] if old is not None else 0)
        new_row = store.new_row(article)
        max_views = max(self._max_views, float(int(new_row.columns["views"][-1]) + int(event_views[-1])))
        row = store.apply(new_row)
        self._groups, self._twinned, self._deleted, self._event_views = groups, twinned, deleted, event_views
        self._appended[row] = vector
        self._appended_matrix = None
        if old is not None:
            self._mark_deleted(old)
        self._max_views = max_views
        self._changes += 1

    def delete(self, article_id: str) -> None:
        """Remove an article from every list at once (UnknownArticleError if there is none)."""
        row = self._row(article_id)
        del self._data.store.row_of[article_id]
        self._mark_deleted(row)
        self._changes += 1

    def set_editorial(self, article_id: str, *, pins: Iterable[str] | None = None,
                      blocks: Iterable[str] | None = None) -> dict:
        """Editorial control of one article's related list: ``pins`` always show first, in this order;
        ``blocks`` never show. None keeps the current value; an empty list clears it. Kept with the
        index (``save_editorial`` writes just that, no rebuild); returns the article's rules."""
        self._row(article_id)
        rules = dict(self._data.editorial.get(article_id, {}))
        for name, ids in (("pins", pins), ("blocks", blocks)):
            if ids is not None:
                if isinstance(ids, str):
                    raise ParameterError(f"{name} must be a list of article ids, not a string")
                rules[name] = list(dict.fromkeys(str(i) for i in ids))
        rules = {name: ids for name, ids in rules.items() if ids}
        editorial = {**self._data.editorial, article_id: rules}
        self._data.editorial = {a: r for a, r in editorial.items() if r}
        return rules

    def editorial(self, article_id: str) -> dict:
        """The editorial rules of one article: {"pins": [...], "blocks": [...]} (empty if none)."""
        return dict(self._data.editorial.get(article_id, {}))

    def save_editorial(self, path: str | os.PathLike) -> None:
        """Write only the editorial rules into the index directory at ``path`` (atomically)."""
        from .storage import save_editorial

        save_editorial(self._data.editorial, Path(path))

    @property
    def pending_changes(self) -> int:
        """Upserts and deletes since the build (``compacted()`` folds them in)."""
        return self._changes

    def compacted(self, *, progress: bool = False, n_jobs: int | None = None, **params: Any) -> "RelatedIndex":
        """A new index built from the current articles (changes folded in, fresh idf), with the same
        parameters but those given in ``params``. Embeddings of the semantic model are reused, not
        computed again, unless the model changes. Views added by ``add_views`` are not carried over
        (see there)."""
        config = IndexConfig.from_params(**{**self.config.flat(), **params})
        store = self._data.store
        live = validate_rows(iter_input(store.article(store.row_of[i]) for i in self.ids), source=None)
        known = None
        if _uses_minilm(config):
            known = self._known_embeddings() if self._semantic and self.config.semantic_model == "minilm" else None
            if known is None:
                _embedding.require()
        index = RelatedIndex._build(live, config, progress=progress, n_jobs=n_jobs, known_embeddings=known)
        index._data.editorial = {a: r for a, r in self._data.editorial.items() if a in index}
        return index

    def _known_embeddings(self) -> dict[str, np.ndarray]:
        """Article id -> its current embedding, for every live article."""
        row_of, built = self._data.store.row_of, self._data.embeddings
        return {article_id: built[row] if row < self._n_built else self._appended[row].embedding
                for article_id, row in ((i, row_of[i]) for i in self.ids)}

    # ----------------------------------------------------------------- inspection
    def __len__(self) -> int:
        return len(self._data.store) - self._n_deleted

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._data.store.row_of

    @property
    def ids(self) -> list[str]:
        """Article ids in index order (articles added since the build last)."""
        ids = self._data.store.ids
        if not self._n_deleted:
            return list(ids)
        return [article_id for row, article_id in enumerate(ids) if not self._deleted[row]]

    @property
    def vocabulary_size(self) -> int:
        return len(self._data.vocabulary)

    def article(self, article_id: str) -> Article:
        """The stored article with this id (its current view count included)."""
        row = self._row(article_id)
        return replace(self._data.store.article(row), views=int(self._views(row)))

    def info(self) -> dict[str, Any]:
        """Counts and parameters, as ``recsys info`` prints them."""
        data = self._data
        return {"articles": len(self), "vocabulary": self.vocabulary_size,
                "nonzeros": int(len(data.rows.data)), "neighbors_per_article": int(data.neighbor_rows.shape[1]),
                "method": self.config.method, "pending_changes": self._changes, "config": self.config.to_dict()}

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, *, compact: bool = False) -> Path:
        """Write the index to a directory (atomically: a crash never leaves a half-written index there).

        ``compact`` says what to do with pending changes (upserts and deletes, see ``pending_changes``):
        True writes ``compacted()``, a rebuild with them folded in (this index stays as it is); False,
        the default, raises PendingChangesError if there are any.
        """
        from .storage import save_index

        if self._changes and not compact:
            raise PendingChangesError(f"the index has {self._changes} pending change(s) (upserts or deletes); "
                                      "call compacted() first, or save(path, compact=True)")
        if self._changes:
            return self.compacted().save(path)
        return save_index(self._data, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> "RelatedIndex":
        """Open an index directory written by ``save``; arrays are memory-mapped unless ``mmap=False``.
        ``verify`` checks every file's checksum; the arrays' shapes, types and index ranges are checked
        always (IndexFormatError names the file)."""
        from .storage import load_index

        return cls(load_index(Path(path), mmap=mmap, verify=verify))

    # ----------------------------------------------------------------- internals
    def _row(self, article_id: str) -> int:
        try:
            return self._data.store.row_of[article_id]
        except (KeyError, TypeError):
            raise UnknownArticleError(article_id) from None

    def _blend(self, overrides: dict[str, Any]) -> BlendConfig:
        if not overrides:
            return self.config.blend
        try:
            return replace(self.config.blend, **overrides).validate()
        except TypeError:
            raise ParameterError(f"unknown parameter(s) {sorted(overrides)}; blend parameters are "
                                 f"{sorted(BlendConfig.__dataclass_fields__)}") from None

    def _weights_of(self, terms: np.ndarray, tf: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
        """(query weights, document-side weights) of a text with these term counts and length. The
        document side is the text's full vector; the query side leaves out terms min_term_freq rules
        out, as for built articles."""
        config = self.config
        if config.method == "tfidf":
            own = tfidf_query(terms, tf, self._data.idf, sublinear_tf=config.sublinear_tf)
            query = own
        else:
            own = bm25_term_weights(tf, np.full(len(tf), length), self._data.idf[terms], k1=config.k1, b=config.b,
                                    avgdl=self._data.avgdl)
            query = tf
        if config.min_term_freq > 1:  # every present term occurs at least once
            query = np.where(tf >= config.min_term_freq, query, 0.0)
        return query, own

    def _text_vector(self, texts: list[tuple[str, float]], language: str | None = None,
                     plain_text: str = "") -> "_Vector":
        """The vector of (text, field weight) pairs over the build's vocabulary; with the semantic
        channel on, also the embedding (of ``plain_text`` for a language model)."""
        counts, length = weighted_terms(texts, self._languages.analyzer_for(language))
        terms = np.array(sorted(self._term_of[t] for t in counts if t in self._term_of), dtype=np.int32)
        vocabulary = self._data.vocabulary
        tf = np.array([counts[vocabulary[t]] for t in terms], dtype=np.float64)
        weights, own = self._weights_of(terms, tf, length)
        vector = _Vector(terms, weights, own, float(np.dot(weights, own)))
        if not self._semantic:
            return vector
        if self.config.semantic_model == "lsa":
            return replace(vector, embedding=self._lsa_embedding(vector))
        return replace(vector, embedding=_embedding.encode([plain_text])[0].astype(np.float64))

    def _row_vector(self, row: int) -> "_Vector":
        """The query vector of an indexed article."""
        if row >= self._n_built:
            return self._appended[row]
        data = self._data
        start, end = data.rows.indptr[row], data.rows.indptr[row + 1]
        terms = np.asarray(data.rows.indices[start:end])
        own = np.asarray(data.rows.data[start:end], dtype=np.float64)
        weights = _query_weights(self.config, own, np.asarray(data.query_tf[start:end]), terms, data.df)
        embedding = np.asarray(data.embeddings[row], dtype=np.float64) if self._semantic else None
        return _Vector(terms, np.asarray(weights, dtype=np.float64), own, float(data.self_scores[row]), embedding)

    def _search(self, vector: "_Vector", usable: np.ndarray, mask: np.ndarray, skip_row: int,
                n_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The built rows a live search finds for ``vector`` (see _kernels.live_search): its best
        candidates (rows, unnormalised scores; best first), then rows their stored lists add (ascending)."""
        data = self._data
        with self._scratch() as buffers:
            return _kernels.live_search(vector.terms, np.asarray(vector.weights, np.float32), usable, data.term_max,
                                        self.config.max_query_terms, _budget(self.config), data.columns.indptr,
                                        data.columns.indices, data.columns.data, data.rows.indptr, data.rows.indices,
                                        data.rows.data, data.neighbor_rows, self.config.refine_fan_out, mask, skip_row,
                                        n_candidates, *buffers)

    @contextmanager
    def _scratch(self) -> Iterator["_Scratch"]:
        """Search buffers for one live search, lent from a pool: a search writes to them, so
        concurrent searches hold different ones, and memory grows with concurrency, not threads."""
        try:
            buffers = self._scratch_pool.pop()
        except IndexError:
            buffers = _Scratch.of(self._n_built, len(self._data.vocabulary))
        try:
            yield buffers
        finally:
            self._scratch_pool.append(buffers)

    def _candidates(self, vector: "_Vector", filters: Filters, k: int, skip_row: int,
                    usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and similarities of the best matches of ``vector`` among all articles the filters allow
        (scored live: no precomputed list)."""
        if vector.self_score <= 0 and vector.embedding is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        allowed = None
        if filters.restricts_rows or filters.exclude:
            allowed = filters.mask(self._data.store)
        if self._n_deleted:
            live = self._live_rows()
            allowed = live if allowed is None else allowed & live
        built_mask = _EVERY_ROW if allowed is None else allowed[: self._n_built]
        n_candidates = max(self.config.n_candidates, 2 * k)
        built_skip = skip_row if skip_row < self._n_built else -1
        rows, scores, more, more_scores = self._search(vector, usable, built_mask, built_skip, n_candidates)
        if vector.embedding is not None:  # the semantic channel's own candidates, scored lexically too
            dense = self._dense_candidates(vector.embedding, built_mask, built_skip, n_candidates)
            dense = np.setdiff1d(dense, np.concatenate([rows, more]))
            more = np.concatenate([more, dense])
            more_scores = np.concatenate([more_scores, self._lexical_scores(vector, dense)])
            order = np.argsort(more, kind="stable")
            more, more_scores = more[order], more_scores[order]
        rows = np.concatenate([rows, more]).astype(np.int64)
        scores = np.concatenate([scores, more_scores])
        lexical = scores / vector.self_score if vector.self_score > 0 else np.zeros(len(rows))
        sims = self._mixed(rows, lexical, vector)
        if self._appended:
            more_rows, more_sims = self._appended_candidates(vector, skip_row)
            if allowed is not None:
                keep = allowed[more_rows]
                more_rows, more_sims = more_rows[keep], more_sims[keep]
            rows, sims = np.concatenate([rows, more_rows]), np.concatenate([sims, more_sims])
        return rows, sims

    def _dense_candidates(self, embedding: np.ndarray, mask: np.ndarray, skip_row: int, n: int) -> np.ndarray:
        """The (at most n) built rows whose embeddings are closest to ``embedding``, among those
        ``mask`` allows (an empty mask: every row), all of them with a positive cosine."""
        cosines = np.asarray(self._data.embeddings @ embedding.astype(FLOAT), dtype=np.float64)
        if len(mask):
            cosines[~mask] = -np.inf
        if 0 <= skip_row < len(cosines):
            cosines[skip_row] = -np.inf
        if n < len(cosines):
            best = np.argpartition(-cosines, n - 1)[:n]
        else:
            best = np.arange(len(cosines))
        return np.sort(best[cosines[best] > 0])

    def _lexical_scores(self, vector: "_Vector", rows: np.ndarray) -> np.ndarray:
        """The unnormalised lexical score of built ``rows`` against ``vector`` (what the search returns)."""
        data = self._data
        with self._scratch() as buffers:
            return _kernels.query_scores(vector.terms, np.asarray(vector.weights, np.float32), data.rows.indptr,
                                         data.rows.indices, data.rows.data, rows.astype(np.int64), buffers.qdense)

    def _appended_candidates(self, vector: "_Vector", skip_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Every live article added since the build, scored against ``vector`` (brute force: few)."""
        if self._appended_matrix is None:
            appended = sorted(self._appended.items())
            rows = np.array([row for row, _ in appended], dtype=np.int64)
            self._appended_matrix = (rows, self._stacked([vector for _, vector in appended]))
        rows, matrix = self._appended_matrix
        query = np.zeros(matrix.shape[1])
        query[vector.terms] = vector.weights
        sims = matrix @ query / vector.self_score if vector.self_score > 0 else np.zeros(len(rows))
        keep = rows != skip_row
        return rows[keep], self._mixed(rows[keep], np.asarray(sims)[keep], vector)

    def _mixed(self, rows: np.ndarray, lexical: np.ndarray, vector: "_Vector") -> np.ndarray:
        """Similarity with the semantic channel blended in: (1 - w) * lexical + w * the embeddings' cosine
        (negative cosines count as 0)."""
        if vector.embedding is None or not len(rows):
            return lexical
        weight = self.config.semantic_weight
        return (1.0 - weight) * lexical + weight * self._semantic_cosines(rows, vector)

    def _semantic_cosines(self, rows: np.ndarray, vector: "_Vector") -> np.ndarray:
        """The cosine of ``vector``'s embedding with each row's, at least 0."""
        return np.maximum(self._embeddings(rows) @ vector.embedding, 0.0)

    def _lsa_embedding(self, vector: "_Vector") -> np.ndarray:
        """A vector's unit LSA embedding (its weights projected into the LSA space)."""
        components = self._data.lsa_components
        embedding = np.asarray(components[:, vector.terms], dtype=np.float64) @ np.asarray(vector.own, np.float64)
        norm = np.linalg.norm(embedding)
        return embedding / norm if norm > 0 else embedding

    def _embeddings(self, rows: np.ndarray) -> np.ndarray:
        """Embeddings of rows, built or added since the build."""
        built = self._data.embeddings
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), built.shape[1]), dtype=np.float64)
        old = rows < self._n_built
        out[old] = built[rows[old]]
        for p in np.flatnonzero(~old):
            out[p] = self._appended[int(rows[p])].embedding
        return out

    def _live_rows(self) -> np.ndarray:
        """Boolean mask over every stored row: True unless the article was deleted or replaced."""
        return ~self._deleted[: len(self._data.store)]

    def _views(self, rows):
        """Total views (the articles' own plus those added by add_views) of a row or rows."""
        return self._data.store.views[rows] + self._event_views[rows]

    def _group_of(self, vector: "_Vector") -> int:
        """The near-duplicate group of a new article: its closest article's, if close enough."""
        threshold = self.config.near_duplicate_threshold
        rows, sims = self._candidates(vector, Filters(), 1, -1, self._text_terms) if threshold is not None else ([], [])
        if len(rows) and sims.max() >= threshold:
            return int(self._groups[rows[np.argmax(sims)]])
        return int(self._groups.max(initial=-1)) + 1

    def _mark_deleted(self, row: int) -> None:
        self._deleted[row] = True
        self._n_deleted += 1
        if self._appended.pop(row, None) is not None:
            self._appended_matrix = None

    def _rank(self, rows: np.ndarray, sims: np.ndarray, k: int, blend: BlendConfig, now,
              options: "_ListOptions", query: "int | _Vector", filters: Filters) -> list[Hit]:
        """Blend, pick the best k (by MMR when diversity is on), make hits, and pad them if asked.
        ``query`` is the queried article's row or the draft's vector."""
        store = self._data.store
        views = self._views(rows)
        pop = popularity(views, self._max_views) if blend.popularity_weight else np.zeros(len(rows))
        fresh = (freshness(store.published[rows], now_timestamp(now), blend) if blend.freshness_weight
                 else np.zeros(len(rows)))
        scores = sims * (1.0 + blend.popularity_weight * pop + blend.freshness_weight * fresh)
        keep = self._one_per_story(rows, scores, query)
        rows, sims, scores, pop, fresh, views = rows[keep], sims[keep], scores[keep], pop[keep], fresh[keep], views[keep]
        if options.diversity > 0 and len(rows) > 1:
            pool = top_k(scores, rows, max(3 * k, k + 10))
            picked, penalties = mmr_order(scores[pool], self._cosines(rows[pool]), k, options.diversity)
            best = pool[picked]
        else:
            best = top_k(scores, rows, k)
            penalties = np.zeros(len(best))
        vector = (self._row_vector(query) if isinstance(query, (int, np.integer)) else query) if options.explain else None
        hits = []
        for p, penalty in zip(best, penalties):
            row = int(rows[p])
            explanation = None
            if vector is not None:
                target = self._row_vector(row)
                explanation = {
                    "similarity": self._similarity_parts(vector, row, float(sims[p])), "popularity": float(pop[p]),
                    "freshness": float(fresh[p]), "penalty": float(penalty),
                    "terms": shared_terms(vector.terms, vector.weights, target.terms, target.own,
                                          vector.self_score, self._data.vocabulary)}
            hits.append(self._hit(row, score=scores[p], similarity=sims[p], popularity=pop[p], freshness=fresh[p],
                                  views=views[p], explanation=explanation))
        if options.fallback and len(hits) < k:
            hits += self._fallback(k - len(hits), rows[best], query, filters, blend, now)
        return hits

    def _similarity_parts(self, vector: "_Vector", row: int, similarity: float) -> dict[str, float]:
        """The similarity of ``row`` to ``vector`` by channel: lexical, and semantic when it is on."""
        if vector.embedding is None:
            return {"lexical": similarity}
        return {"lexical": self._lexical(vector, self._row_vector(row)),
                "semantic": float(self._semantic_cosines(np.array([row]), vector)[0])}

    @staticmethod
    def _lexical(query: "_Vector", target: "_Vector") -> float:
        """The lexical similarity of ``target`` to ``query`` (cosine for TF-IDF; BM25 over the query's self score)."""
        if query.self_score <= 0:
            return 0.0
        _, ours, theirs = np.intersect1d(query.terms, target.terms, assume_unique=True, return_indices=True)
        return float(np.dot(query.weights[ours], target.own[theirs]) / query.self_score)

    def _fallback(self, n: int, listed: np.ndarray, query: "int | _Vector", filters: Filters,
                  blend: BlendConfig, now) -> list[Hit]:
        """Up to n popular, recent articles of the query's section (or the section filter) that the
        filters allow, one per story: none of a listed article's story, nor of the query's own."""
        store = self._data.store
        section = filters.section
        if section is None and isinstance(query, (int, np.integer)):
            section = self.article(store.ids[query]).section
        allowed = replace(filters, section=section).mask(store) & self._live_rows()
        groups = self._groups[: len(allowed)]
        shown = groups[listed] if not isinstance(query, (int, np.integer)) else np.append(groups[listed], groups[query])
        allowed &= ~np.isin(groups, shown)
        rows = np.flatnonzero(allowed)
        views = self._views(rows)
        fresh = freshness(store.published[rows], now_timestamp(now), blend)
        scores = (np.log1p(views) + 1.0) * (fresh + 1e-6)  # views, decayed by age
        order = self._one_per_group(top_k(scores, rows, 4 * n), rows, n)
        if len(order) < n < len(rows) and 4 * n < len(rows):  # many twins among the best: look at all
            order = self._one_per_group(top_k(scores, rows, len(rows)), rows, n)
        pop = popularity(views, self._max_views)
        return [self._hit(int(rows[p]), popularity=pop[p], freshness=fresh[p], views=views[p], reason="fallback")
                for p in order]

    def _one_per_group(self, order: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
        """The first n positions of ``order`` (best first) whose rows are of different stories."""
        _, first = np.unique(self._groups[rows[order]], return_index=True)
        return order[np.sort(first)][:n]

    def _hit(self, row: int, *, score: float = 0.0, similarity: float = 0.0, popularity: float = 0.0,
             freshness: float = 0.0, views: int | None = None, reason: str = "related",
             explanation: dict | None = None) -> Hit:
        """The hit for the article at ``row``: its stored fields, current views (unless given) and these scores."""
        store = self._data.store
        return Hit(store.ids[row], float(score), float(similarity), float(popularity), float(freshness),
                   views=int(self._views(row) if views is None else views), explanation=explanation, reason=reason,
                   load=partial(store.record, row))

    def _one_per_story(self, rows: np.ndarray, scores: np.ndarray, query: "int | _Vector") -> np.ndarray:
        """Positions to keep: the best-scored article of each near-duplicate group, and none from the
        queried article's own group (a twin is never listed under its original)."""
        is_row = isinstance(query, (int, np.integer))
        if not self._twinned[rows].any() and not (is_row and self._twinned[query]):
            return np.arange(len(rows))  # no article here has a twin: nothing to collapse
        groups = self._groups[rows]
        order = np.lexsort((rows, -scores))
        first = order[np.unique(groups[order], return_index=True)[1]]
        keep = np.zeros(len(rows), dtype=bool)
        keep[first] = True
        if is_row:
            keep &= groups != self._groups[query]
        return np.flatnonzero(keep)

    def _stacked(self, vectors: list["_Vector"]) -> sp.csr_matrix:
        """The document-side weights of ``vectors`` as the rows of one sparse matrix."""
        return sp.csr_matrix((np.concatenate([v.own for v in vectors]), np.concatenate([v.terms for v in vectors]),
                              np.concatenate([[0], np.cumsum([len(v.terms) for v in vectors])])),
                             shape=(len(vectors), len(self._data.vocabulary)))

    @staticmethod
    def _twins_of(groups: np.ndarray) -> np.ndarray:
        """True for articles whose near-duplicate group has other members."""
        return np.bincount(groups, minlength=1)[groups] > 1 if len(groups) else np.zeros(0, dtype=bool)

    def _cosines(self, rows: np.ndarray) -> np.ndarray:
        """Pairwise cosine similarity of the articles at ``rows`` (their weight vectors)."""
        matrix = self._stacked([self._row_vector(int(r)) for r in rows])
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        matrix = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix
        return (matrix @ matrix.T).toarray()


@dataclass(frozen=True)
class _ListOptions:
    """How a list is finished: MMR diversity (0 = off), explanations, fallback padding."""

    diversity: float = 0.0
    explain: bool = False
    fallback: bool = False

    @classmethod
    def of(cls, diversity: Any, explain: Any, fallback: Any = False) -> "_ListOptions":
        if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
            raise ParameterError(f"diversity must be a number between 0 and 1, got {diversity!r}")
        return cls(float(diversity), bool(explain), bool(fallback))


def _query_weights(config: IndexConfig, weights: np.ndarray, tf: np.ndarray, terms: np.ndarray,
                   df: np.ndarray) -> np.ndarray:
    """The query vector of indexed articles: their TF-IDF weights or BM25 term counts (aligned with
    ``terms``), with the entries min_term_freq and min_doc_freq rule out set to zero."""
    q = weights if config.method == "tfidf" else tf
    ruled_out = None
    if config.min_term_freq > 1:  # every present term occurs at least once
        ruled_out = tf < config.min_term_freq
    rare = df < config.min_doc_freq
    if rare.any():
        ruled_out = rare[terms] if ruled_out is None else ruled_out | rare[terms]
    if ruled_out is None or not ruled_out.any():
        return q  # shared, not copied: at build time this array is the size of the whole index
    q = np.array(q, dtype=FLOAT)
    q[ruled_out] = 0.0
    return q


def _weigh_and_link(config: IndexConfig, tf: sp.csr_matrix, doc_len: np.ndarray, vocabulary: list[str],
                    store: ArticleStore, progress: bool = False,
                    known_embeddings: Mapping[str, np.ndarray] | None = None, *,
                    link: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
                    ) -> tuple[IndexData, float]:
    """Weight the count matrix and precompute every article's neighbour list; also returns the
    perf_counter time at which weighting ended and linking began. ``link`` computes the lists
    (default ``_neighbour_lists``; a Dask build passes one that runs on the cluster)."""
    df = document_frequencies(tf)
    query_tf = tf.data.copy()
    if config.method == "tfidf":
        weights, idf = tfidf_weights(tf, sublinear_tf=config.sublinear_tf, copy=False)
        avgdl = float(doc_len.mean())
    else:
        weights, idf, avgdl = bm25_weights(tf, doc_len, k1=config.k1, b=config.b, epsilon=config.epsilon,
                                           dtype=FLOAT)
    del tf
    rows = Postings.of(weights)
    columns = Postings.of(weights.tocsc())
    del weights
    _kernels.impact_order(columns.indptr, columns.indices, columns.data)
    q_data = _query_weights(config, rows.data, query_tf, rows.indices, df)
    usable = _usable_terms(df, len(store), config, max(2, config.min_doc_freq))
    linking = time.perf_counter()
    term_max = _column_max(columns)
    neighbor_rows, neighbor_sims, self_scores = (link or _neighbour_lists)(config, q_data, usable, term_max, rows,
                                                                           columns, len(vocabulary))
    embeddings = components = None
    if config.semantic_weight > 0:
        if config.semantic_model == "lsa":
            embeddings, components = _lsa(rows, len(vocabulary), config.lsa_components)
        else:
            embeddings = _encode_articles(store, progress, known_embeddings or {})
        neighbor_rows, neighbor_sims = _semantic_neighbours(neighbor_rows, embeddings, config.semantic_weight,
                                                            rows, q_data, self_scores, len(vocabulary))
    return IndexData(config=config, vocabulary=vocabulary, df=df, idf=idf, avgdl=avgdl, rows=rows,
                     embeddings=embeddings, lsa_components=components,
                     query_tf=query_tf, columns=columns, term_max=term_max, self_scores=self_scores, neighbor_rows=neighbor_rows,
                     neighbor_sims=neighbor_sims, store=store,
                     duplicate_group=_duplicate_groups(neighbor_rows, neighbor_sims,
                                                       config.near_duplicate_threshold)), linking


def _neighbour_lists(config: IndexConfig, q_data: np.ndarray, usable: np.ndarray, term_max: np.ndarray,
                     rows: Postings, columns: Postings, n_terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every article's n_neighbors best other articles (rows, similarities) and self scores: a
    candidate search per article, then ``refine_rounds`` rounds of neighbour-of-neighbour
    re-scoring. Every similarity is exact; the lists are exact when the budget covers the postings."""
    n = len(rows.indptr) - 1
    neighbor_rows, neighbor_sims, self_scores = _kernels.all_neighbours(
        q_data, usable, term_max, config.max_query_terms, _budget(config), columns.indptr, columns.indices,
        columns.data, rows.indptr, rows.indices, rows.data, config.n_candidates, config.n_neighbors, 0, n)
    fresh = neighbor_rows >= 0
    for _ in range(config.refine_rounds):
        neighbor_rows, neighbor_sims, fresh = _kernels.refine(
            q_data, rows.indptr, rows.indices, rows.data, n_terms, self_scores, neighbor_rows, neighbor_sims, fresh,
            0, n, config.refine_fan_out, config.n_neighbors)
    return neighbor_rows, neighbor_sims, self_scores


def _budget(config: IndexConfig) -> int:
    """Postings a candidate search may visit (no limit: the largest int64)."""
    return np.iinfo(np.int64).max if config.probe_budget is None else config.probe_budget


def _lsa(rows: Postings, n_terms: int, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit LSA embeddings of the articles and the projection (TruncatedSVD of the weight matrix)."""
    from sklearn.decomposition import TruncatedSVD

    matrix = sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(rows.indptr) - 1, n_terms))
    d = max(1, min(n_components, min(matrix.shape) - 1))
    svd = TruncatedSVD(n_components=d, random_state=0).fit(matrix)
    embeddings = svd.transform(matrix)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings / np.where(norms > 0, norms, 1.0)
    return embeddings.astype(FLOAT), svd.components_.astype(FLOAT)


def _encode_articles(store: ArticleStore, progress: bool, known: Mapping[str, np.ndarray],
                     block: int = 512) -> np.ndarray:
    """Unit MiniLM embeddings of every article's title and body; those in ``known`` are taken from there."""
    embeddings = np.zeros((len(store), _embedding.DIMENSIONS), dtype=FLOAT)
    todo = []
    for row, article_id in enumerate(store.ids):
        if article_id in known:
            embeddings[row] = known[article_id]
        else:
            todo.append(row)
    for start in _progress(range(0, len(todo), block), progress, f"embedding (x{block})"):
        rows = todo[start:start + block]
        records = [store.record(row) for row in rows]
        embeddings[rows] = _embedding.encode([_embedding.article_text(r.get("title"), r.get("body")) for r in records])
    return embeddings


def _semantic_neighbours(lexical_rows: np.ndarray, embeddings: np.ndarray, weight: float, rows: Postings,
                         q_data: np.ndarray, self_scores: np.ndarray, n_terms: int,
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
    scores = _kernels.candidate_scores(q_data, rows.indptr, rows.indices, rows.data, n_terms, candidates)
    with np.errstate(divide="ignore", invalid="ignore"):
        lexical = np.where(self_scores[:, None] > 0, scores / self_scores[:, None], 0.0)
    valid = candidates >= 0
    mixed = np.where(valid, (1 - weight) * lexical + weight * np.maximum(cosines, 0.0), -np.inf)
    order = np.lexsort((np.where(valid, candidates, np.iinfo(np.int32).max), -mixed), axis=1)[:, :keep]
    best_rows = np.take_along_axis(candidates, order, axis=1)
    best_sims = np.take_along_axis(mixed, order, axis=1)
    kept = best_rows >= 0
    return np.where(kept, best_rows, -1).astype(np.int32), np.where(kept, best_sims, 0.0).astype(np.float32)


def _duplicate_groups(neighbor_rows: np.ndarray, neighbor_sims: np.ndarray, threshold: float | None) -> np.ndarray:
    """Group label per article: connected components of the pairs at least ``threshold`` similar
    (either way round), so an original and its updated copies, however many, share one label.
    None: every article is its own group."""
    from scipy.sparse.csgraph import connected_components

    n = len(neighbor_rows)
    if threshold is None:
        return np.arange(n, dtype=np.int32)
    close = (neighbor_sims >= threshold) & (neighbor_rows >= 0)
    sources = np.repeat(np.arange(n), close.sum(axis=1))
    graph = sp.csr_matrix((np.ones(len(sources), dtype=np.int8), (sources, neighbor_rows[close])), shape=(n, n))
    return connected_components(graph, directed=True, connection="weak")[1].astype(np.int32)


def _column_max(columns: Postings) -> np.ndarray:
    """The largest value in each column of a CSC matrix (0 for an empty column)."""
    lengths = np.diff(columns.indptr)
    result = np.zeros(len(lengths), dtype=FLOAT)
    filled = lengths > 0
    if filled.any():
        result[filled] = np.maximum.reduceat(columns.data, columns.indptr[:-1][filled])
    return result


def _usable_terms(df: np.ndarray, n_docs: int, config: IndexConfig, min_df: int) -> np.ndarray:
    """Terms a query may use to find candidates: min_df <= df <= max_doc_freq (a count, or a share if <= 1.0)."""
    usable = df >= min_df
    max_df = config.max_doc_freq
    if max_df is not None:
        limit = max_df * n_docs if isinstance(max_df, float) and max_df <= 1.0 else max_df
        usable &= df <= limit
    return usable


def _peak_rss_mb() -> float | None:
    """This process's peak resident set size so far, in MB (None where the platform cannot tell)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _uses_minilm(config: IndexConfig) -> bool:
    """True if the semantic channel is on with the MiniLM model (the optional extra)."""
    return config.semantic_weight > 0 and config.semantic_model == "minilm"


def _jobs(n_jobs: int | None) -> int:
    if n_jobs is None:
        return os.cpu_count() or 1
    return check_int("n_jobs", n_jobs, optional=True)
    return n_jobs


def _check_views(views: Any, article_id: str) -> None:
    if isinstance(views, bool) or not isinstance(views, int) or not 0 <= views <= MAX_VIEWS:
        raise ParameterError(f"views of {article_id!r} must be an integer from 0 to {MAX_VIEWS}, got {views!r}")


def _check_k(k: Any) -> int:
    return check_int("k", k)


def _progress(items, enabled: bool, label: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit=" articles", mininterval=0.5)
