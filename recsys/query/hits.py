"""The Hit: one entry of a related list, with its score breakdown and the article's fields."""

from __future__ import annotations

from typing import Any

_OWN_FIELDS = frozenset(("id", "score", "similarity", "popularity", "freshness", "title", "body", "url", "section",
                         "tags", "author", "published_at", "views", "reason", "explanation"))
_ARTICLE_FIELDS = ("title", "body", "url", "section", "tags", "author", "published_at")
_SCORE_FIELDS = frozenset(("id", "score", "similarity", "popularity", "freshness", "views", "reason", "explanation"))


class Hit:
    """A recommended article. ``score`` ranks the list; ``similarity``, ``popularity`` and ``freshness``
    are its parts; ``reason`` is "related", "fallback" (padding from the same section) or "pinned"
    (editorial); with explain=True, ``explanation`` holds the score's parts and the shared terms.

    The article's stored fields (``title``, ``body``, ``url``, ``section``, ``tags``, ``author``,
    ``published_at``, and unknown input fields in ``meta``) are read from the index the first time
    one of them is asked for, so a list whose ids and scores are all that is used costs no more.
    """

    __slots__ = ("id", "score", "similarity", "popularity", "freshness", "views", "explanation", "reason",
                 "_record", "_store", "_row")

    def __init__(self, id: str, score: float, similarity: float, popularity: float, freshness: float, *,
                 views: int = 0, explanation: dict[str, Any] | None = None, reason: str = "related",
                 record: dict[str, Any] | None = None, store: Any = None, row: int = -1) -> None:
        self.id, self.score, self.similarity = id, score, similarity
        self.popularity, self.freshness, self.views = popularity, freshness, views
        self.explanation, self.reason = explanation, reason
        self._record, self._store, self._row = record, store, row  # the fields, or where to read them

    def _fields(self) -> dict[str, Any]:
        if self._record is None:  # all but the body, which is large and seldom shown
            self._record = self._store.record(self._row, body=False) if self._store is not None else {}
        return self._record

    @property
    def fields_key(self) -> tuple[Any, int] | None:
        """A key for caches of the article's stored fields: hits whose keys have the same first item
        (the same object: compare with ``is``) and the same row have the same fields. None when the
        fields were given to the hit."""
        if self._store is None:
            return None
        return self._store.appended_records.get(self._row, self._store.records), self._row

    title = property(lambda self: self._fields().get("title") or "", doc="The headline.")
    @property
    def body(self) -> str:
        """The article text."""
        if self._store is not None:
            return self._store.body(self._row)
        return self._fields().get("body") or ""

    url = property(lambda self: self._fields().get("url"))
    section = property(lambda self: self._fields().get("section"))
    tags = property(lambda self: tuple(self._fields().get("tags") or ()))
    author = property(lambda self: self._fields().get("author"))
    published_at = property(lambda self: self._fields().get("published_at"), doc="ISO 8601 UTC, or None.")

    @property
    def meta(self) -> dict[str, Any]:
        """The article's input fields beyond the known ones."""
        return {k: v for k, v in self._fields().items() if k not in _ARTICLE_FIELDS and k not in ("id", "views")}

    def get(self, name: str, default: Any = None) -> Any:
        """One field as ``to_dict`` has it (a score part, an article field or a metadata field), or
        ``default`` when the article has no such field."""
        if name in _SCORE_FIELDS:
            return getattr(self, name)
        if name in _ARTICLE_FIELDS:
            return list(self.tags) if name == "tags" else getattr(self, name)
        return self._fields().get(name, default) if name not in _OWN_FIELDS else default

    def to_dict(self, *, body: bool = True) -> dict[str, Any]:
        """JSON-ready dict: id, score, the breakdown, then the article's fields and metadata."""
        data = {
            **{name: value for name, value in self.meta.items() if name not in _OWN_FIELDS},
            "id": self.id, "score": self.score, "similarity": self.similarity,
            "popularity": self.popularity, "freshness": self.freshness, "title": self.title,
            "url": self.url, "section": self.section, "tags": list(self.tags), "author": self.author,
            "published_at": self.published_at, "views": self.views, "reason": self.reason,
        }
        if body:
            data["body"] = self.body
        if self.explanation is not None:
            data["explanation"] = self.explanation
        return data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hit) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # equal hits compare by value, like the dataclass it was

    def __repr__(self) -> str:
        return (f"Hit(id={self.id!r}, score={self.score:.6g}, similarity={self.similarity:.6g}, "
                f"popularity={self.popularity:.6g}, freshness={self.freshness:.6g}, reason={self.reason!r})")
