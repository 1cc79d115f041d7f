"""RelatedIndex: the public index object. Build it from articles, ask it for related lists, change
it live, save and load it. A facade: the work is done in recsys.build, recsys.query and recsys.live."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import live
from ._checks import check_int
from .build import pipeline
from .config import BlendConfig, IndexConfig
from .documents.article import Article
from .errors import InputError, ParameterError, PendingChangesError
from .index import persist
from .index.data import IndexData
from .query import lists
from .query.filters import Filters
from .query.hits import Hit
from .query.rank import ListOptions


class RelatedIndex:
    """An in-memory related-articles index over a corpus of news articles.

    Build it with ``RelatedIndex.build(articles)``, query it with ``related(id)`` and
    ``more_like_this(text)``, persist it with ``save(dir)`` / ``RelatedIndex.load(dir)``. Reads are
    safe from many threads at once, and alongside live changes (each change swaps in a new
    snapshot); live changes from several threads need a lock of the caller's.
    """

    def __init__(self, data: IndexData) -> None:
        self._view = live.first_view(data)
        self.config = data.config
        self.build_seconds: dict[str, float] = {}  # phase -> seconds, for an index built in this process
        self.build_peak_rss_mb: dict[str, float | None] = {}  # this process's peak RSS at the end of a phase

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
        config = IndexConfig.from_params(**{**params, **({} if method is None else {"method": method})})
        return cls._of(pipeline.build(articles, config, on_error=on_error, on_skip=on_skip, progress=progress,
                                      n_jobs=n_jobs))

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
        from .build.dask import build_on_dask

        config = IndexConfig.from_params(**{**params, **({} if method is None else {"method": method})})
        return cls._of(build_on_dask(path, address, config, format=format, on_error=on_error, on_skip=on_skip,
                                     progress=progress, n_workers=n_workers, partition_bytes=partition_bytes,
                                     timeout=timeout))

    @classmethod
    def _of(cls, built: pipeline.BuildResult) -> "RelatedIndex":
        index = cls(built.data)
        index.build_seconds, index.build_peak_rss_mb = built.seconds, built.peak_rss_mb
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
        view = self._view
        view.row(article_id)
        k, options = check_int("k", k), ListOptions.of(diversity, explain, fallback)
        filters = Filters.of(section=section, tags=tags, author=author, published_after=published_after,
                             published_before=published_before, exclude=exclude)
        return lists.related(view, article_id, k, filters, self._blend(blend), now, options)

    def related_from_stored_list(self, article_id: str, k: int = 10, **blend: Any) -> list[Hit] | None:
        """``related(article_id, k, **blend)`` (no filters, diversity, explanations or fallback) when the
        article's pins and precomputed list answer it, with the articles added since the build if
        they are few (up to 200): no live search, so a server may answer it on its event loop.
        None when ``related`` would search or score more. UnknownArticleError as ``related``."""
        view = self._view
        view.row(article_id)
        return lists.related_from_stored_list(view, article_id, check_int("k", k), self._blend(blend), None)

    def served_from_stored_list(self, article_id: str, k: int) -> bool:
        """True if ``related(article_id, k)`` without filters, diversity or explanations would be answered
        from the article's precomputed list alone (and its pins): no live search, no scoring of articles
        added since the build, no fallback padding. Costs microseconds; UnknownArticleError as ``related``."""
        view = self._view
        view.row(article_id)
        return lists.served_from_stored_list(view, article_id, check_int("k", k))

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
        view = self._view
        k, options = check_int("k", k), ListOptions.of(diversity, explain, fallback)
        filters = Filters.of(section=section, tags=tags, author=author, published_after=published_after,
                             published_before=published_before, exclude=exclude)
        blend_config = self._blend(blend)
        vector = view.built.vectorizer.draft(text, title, language)
        return lists.draft(view, vector, k, filters, blend_config, now, options)

    def similarity(self, article_id: str, other_id: str) -> float:
        """How similar ``other_id`` is to ``article_id``, as ``related(article_id)`` scores it before
        the blend (cosine for TF-IDF; BM25 over the first article's self score)."""
        return lists.similarity(self._view, article_id, other_id)

    def popular(self, k: int = 10, *, section: str | None = None, views: Mapping[str, int] | None = None,
                now=None, **blend: Any) -> list[Hit]:
        """The k most viewed articles, each article's views decayed by its age (the freshness decay;
        ``freshness_weight=0`` turns the decay off). ``views`` replaces the stored counts, e.g. with
        the views of the last hours."""
        return lists.popular(self._view, check_int("k", k), section, views, self._blend(blend), now)

    # ----------------------------------------------------------------- live changes
    def add_views(self, counts: Mapping[str, int]) -> int:
        """Add view counts (article id -> views) on top of the articles' own, so popularity reflects them
        at once. They live in memory only: ``save`` and ``compacted`` keep the articles' own counts, so an
        event log can be applied again without counting twice. Unknown ids are ignored; returns how many
        views were added. A count that is not an integer from 0 to MAX_VIEWS, or that would take an
        article's views past int64, raises ParameterError before any count is added."""
        self._view, added = live.views_added(self._view, counts)
        return added

    def upsert(self, article: Mapping[str, Any] | Article) -> None:
        """Add an article, or replace the one with its id, at once and without a rebuild (see
        recsys.live: the build's idf weighs it; ``compacted()`` rebuilds with fresh statistics). A
        replaced article keeps the larger of its old and new view counts. An upsert that raises
        leaves the index as it was."""
        article = article if isinstance(article, Article) else Article.from_dict(article)
        self._view = live.upserted(self._view, article)

    def delete(self, article_id: str) -> None:
        """Remove an article from every list at once (UnknownArticleError if there is none)."""
        self._view = live.deleted(self._view, article_id)

    def set_editorial(self, article_id: str, *, pins: Iterable[str] | None = None,
                      blocks: Iterable[str] | None = None) -> dict:
        """Editorial control of one article's related list: ``pins`` always show first, in this order;
        ``blocks`` never show. None keeps the current value; an empty list clears it. Kept with the
        index (``save_editorial`` writes just that, no rebuild); returns the article's rules."""
        self._view, rules = live.editorial_set(self._view, article_id, pins, blocks)
        return rules

    def editorial(self, article_id: str) -> dict:
        """The editorial rules of one article: {"pins": [...], "blocks": [...]} (empty if none)."""
        return dict(self._view.editorial.get(article_id, {}))

    def save_editorial(self, path: str | os.PathLike) -> None:
        """Write only the editorial rules into the index directory at ``path`` (atomically)."""
        persist.save_editorial(dict(self._view.editorial), Path(path))

    @property
    def pending_changes(self) -> int:
        """Upserts and deletes since the build (``compacted()`` folds them in)."""
        return self._view.changes

    def compacted(self, *, progress: bool = False, n_jobs: int | None = None, **params: Any) -> "RelatedIndex":
        """A new index built from the current articles (changes folded in, fresh idf), with the same
        parameters but those given in ``params``. Embeddings of the semantic model are reused, not
        computed again, unless the model changes. Views added by ``add_views`` are not carried over
        (see there)."""
        config = IndexConfig.from_params(**{**self.config.flat(), **params})
        index = self._of(pipeline.rebuild(self._view, config, progress=progress, n_jobs=n_jobs))
        editorial = {a: r for a, r in self._view.editorial.items() if a in index}
        index._view = replace(index._view, editorial=editorial)
        return index

    # ----------------------------------------------------------------- inspection
    def __len__(self) -> int:
        return len(self._view.store) - self._view.n_deleted

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._view.store.row_of

    @property
    def ids(self) -> list[str]:
        """Article ids in index order (articles added since the build last)."""
        view = self._view
        if not view.n_deleted:
            return list(view.store.ids)
        return [article_id for row, article_id in enumerate(view.store.ids) if not view.deleted[row]]

    @property
    def vocabulary_size(self) -> int:
        return len(self._view.data.vocabulary)

    def article(self, article_id: str) -> Article:
        """The stored article with this id (its current view count included)."""
        view = self._view
        row = view.row(article_id)
        return replace(view.store.article(row), views=int(view.views(row)))

    def info(self) -> dict[str, Any]:
        """Counts and parameters, as ``recsys info`` prints them."""
        view = self._view
        data = view.data
        return {"articles": len(self), "vocabulary": self.vocabulary_size,
                "nonzeros": int(len(data.rows.data)), "neighbors_per_article": int(data.neighbor_rows.shape[1]),
                "method": self.config.method, "pending_changes": view.changes, "config": self.config.to_dict()}

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike, *, compact: bool = False) -> Path:
        """Write the index to a directory (atomically: a crash never leaves a half-written index there).

        ``compact`` says what to do with pending changes (upserts and deletes, see ``pending_changes``):
        True writes ``compacted()``, a rebuild with them folded in (this index stays as it is); False,
        the default, raises PendingChangesError if there are any.
        """
        view = self._view
        if view.changes and not compact:
            raise PendingChangesError(f"the index has {view.changes} pending change(s) (upserts or deletes); "
                                      "call compacted() first, or save(path, compact=True)")
        if view.changes:
            return self.compacted().save(path)
        return persist.save_index(replace(view.data, editorial=dict(view.editorial)), Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> "RelatedIndex":
        """Open an index directory written by ``save``; arrays are memory-mapped unless ``mmap=False``.
        ``verify`` checks every file's checksum; the arrays' shapes, types and index ranges are checked
        always (IndexFormatError names the file)."""
        return cls(persist.load_index(Path(path), mmap=mmap, verify=verify))

    def _blend(self, overrides: dict[str, Any]) -> BlendConfig:
        if not overrides:
            return self.config.blend
        try:
            return replace(self.config.blend, **overrides).validate()
        except TypeError:
            raise ParameterError(f"unknown parameter(s) {sorted(overrides)}; blend parameters are "
                                 f"{sorted(BlendConfig.__dataclass_fields__)}") from None
