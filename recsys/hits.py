"""The Hit: one entry of a related list, with its score breakdown and the article's fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


_OWN_FIELDS = frozenset(("id", "score", "similarity", "popularity", "freshness", "title", "body", "url", "section",
                         "tags", "author", "published_at", "views", "reason", "explanation"))


@dataclass(frozen=True)
class Hit:
    """A recommended article. ``score`` ranks the list; ``similarity``, ``popularity`` and ``freshness``
    are its parts. The article's stored fields follow; unknown input fields are in ``meta``."""

    id: str
    score: float
    similarity: float
    popularity: float
    freshness: float
    title: str = ""
    body: str = ""
    url: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    published_at: str | None = None
    views: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    explanation: dict[str, Any] | None = None  # with explain=True: the score's parts and the shared terms
    reason: str = "related"  # "fallback" (padding from the same section) or "pinned" (editorial)

    @classmethod
    def from_record(cls, record: dict[str, Any], *, score: float, similarity: float, popularity: float,
                    freshness: float, views: int, explanation: dict[str, Any] | None = None,
                    reason: str = "related") -> "Hit":
        known = {name: record.get(name) for name in ("title", "body", "url", "section", "author", "published_at")}
        meta = {k: v for k, v in record.items() if k not in known and k not in ("id", "tags", "views")}
        return cls(id=record["id"], score=score, similarity=similarity, popularity=popularity,
                   freshness=freshness, tags=tuple(record.get("tags") or ()), views=views, meta=meta,
                   explanation=explanation, reason=reason, **{k: v for k, v in known.items() if v is not None})

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
