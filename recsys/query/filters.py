"""Which articles a list may show: section, tags, author, publication dates, excluded ids; and the
clock freshness is measured from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..documents.article import parse_time
from ..errors import ParameterError
from ..index.columns import ArticleStore


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
        return parse_time(value).timestamp()
    except ValueError as exc:
        raise ParameterError(f"{name}: {exc}") from None
