"""Blending similarity with popularity and freshness, filtering candidates, and picking the top k."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ._store import ArticleStore, timestamp
from .config import BlendConfig, duration_seconds
from .errors import ParameterError


def freshness(published: np.ndarray, now: float, blend: BlendConfig) -> np.ndarray:
    """Decay in [0, 1] on article age (Elasticsearch decay functions); unknown dates score 0."""
    scale = duration_seconds(blend.freshness_scale, "freshness_scale")
    offset = duration_seconds(blend.freshness_offset, "freshness_offset")
    distance = np.maximum(np.abs(now - published) - offset, 0.0)
    decay = blend.freshness_decay
    if blend.freshness_function == "gauss":
        value = np.exp(distance ** 2 * np.log(decay) / scale ** 2)
    elif blend.freshness_function == "exp":
        value = np.exp(distance * np.log(decay) / scale)
    else:
        span = scale / (1.0 - decay)
        value = np.maximum((span - distance) / span, 0.0)
    value[np.isnan(value)] = 0.0
    return value


def popularity(views: np.ndarray, max_views: float) -> np.ndarray:
    """log(1 + views) / log(1 + max views), in [0, 1]."""
    if max_views <= 0:
        return np.zeros(len(views))
    return np.log1p(views) / np.log1p(max_views)


@dataclass(frozen=True)
class Filters:
    """Which articles may be listed. Every given condition must hold; ``tags`` matches any of them."""

    section: str | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    published_after: float | None = None
    published_before: float | None = None
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, section: str | None = None, tags: Iterable[str] | str | None = None,
           author: str | None = None, published_after=None, published_before=None,
           exclude: Iterable[str] | str | None = None) -> "Filters":
        """Normalise user-facing filter arguments (strings, lists, ISO dates, datetimes)."""
        return cls(section=section or None, tags=_as_tuple(tags), author=author or None,
                   published_after=_time_or_none(published_after, "published_after"),
                   published_before=_time_or_none(published_before, "published_before"),
                   exclude=_as_tuple(exclude))

    @property
    def restricts_rows(self) -> bool:
        """True if any condition other than ``exclude`` is set."""
        return any((self.section, self.tags, self.author, self.published_after is not None,
                    self.published_before is not None))

    def mask(self, store: ArticleStore, rows: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask over ``rows`` (default: every row) of the articles these filters allow."""
        if rows is None:
            rows = np.arange(len(store))
        keep = np.ones(len(rows), dtype=bool)
        if self.section:
            keep &= store.section[rows] == store.code_of("section", self.section)
        if self.author:
            keep &= store.author[rows] == store.code_of("author", self.author)
        if self.tags:
            keep &= store.rows_with_tags(rows, self.tags)
        if self.published_after is not None or self.published_before is not None:
            published = store.published[rows]
            if self.published_after is not None:
                keep &= published >= self.published_after
            if self.published_before is not None:
                keep &= published <= self.published_before
        if self.exclude:
            excluded = [store.row_of[i] for i in self.exclude if i in store.row_of]
            keep &= ~np.isin(rows, excluded)
        return keep


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first; equal scores keep ascending row order."""
    if len(scores) > 4 * k:
        cut = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[cut].min()
        candidates = np.flatnonzero(scores >= threshold)
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((rows[candidates], -scores[candidates]))
    return candidates[order[:k]]


def mmr_order(scores: np.ndarray, similarity: np.ndarray, k: int, diversity: float) -> tuple[np.ndarray, np.ndarray]:
    """Maximal marginal relevance: pick k items one by one, each maximising
    (1 - diversity) * score - diversity * (its largest similarity to an item already picked).

    ``similarity`` is the items' pairwise similarity matrix. Returns (positions in pick order, the
    penalty each paid). Ties go to the earlier position (callers pass items best first).
    """
    chosen: list[int] = []
    penalties: list[float] = []
    closest = np.zeros(len(scores))
    available = np.ones(len(scores), dtype=bool)
    for _ in range(min(k, len(scores))):
        value = np.where(available, (1.0 - diversity) * scores - diversity * closest, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(pick)
        penalties.append(float(diversity * closest[pick]))
        available[pick] = False
        closest = np.maximum(closest, similarity[pick])
    return np.array(chosen, dtype=np.int64), np.array(penalties)


def shared_terms(query_terms: np.ndarray, query_weights: np.ndarray, terms: np.ndarray, weights: np.ndarray,
                 self_score: float, vocabulary: list[str], n: int = 5) -> list[dict]:
    """The terms an article shares with a query, with each one's share of the similarity, largest first."""
    common, in_query, in_article = np.intersect1d(query_terms, terms, assume_unique=True, return_indices=True)
    contributions = query_weights[in_query] * weights[in_article] / (self_score or 1.0)
    order = np.argsort(-contributions, kind="stable")[:n]
    return [{"term": vocabulary[int(common[i])], "contribution": float(contributions[i])} for i in order]


def now_timestamp(now: datetime | str | float | None) -> float:
    """Epoch seconds of ``now`` (default: the current time)."""
    if now is None or now == "":
        return datetime.now(timezone.utc).timestamp()
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        return float(now)
    return _time_or_none(now, "now")


def _as_tuple(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(v).strip() for v in value if v is not None and str(v).strip())


def _time_or_none(value, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return timestamp(value)
    except ValueError as exc:
        raise ParameterError(f"{name}: {exc}") from None
