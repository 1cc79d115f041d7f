"""The Article record and the validation of one raw row into it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from .errors import InputError

KNOWN_FIELDS = ("id", "title", "body", "url", "section", "tags", "author", "published_at", "views")


@dataclass(frozen=True)
class Article:
    """One news article. ``meta`` holds every field recsys does not know, returned with hits."""

    id: str
    title: str = ""
    body: str = ""
    url: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    published_at: datetime | None = None
    views: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], *, source: str | None = None,
                  line: int | None = None) -> "Article":
        """Validate a raw row (from JSON, CSV or Python) into an Article; raise InputError naming the field."""
        if not isinstance(row, Mapping):
            raise InputError(f"expected an object, got {type(row).__name__}", source=source, line=line)

        def fail(name: str, message: str) -> InputError:
            return InputError(message, source=source, line=line, field=name)

        article_id = _clean_id(row.get("id"), fail)
        title = _optional_text(row, "title", fail) or ""
        body = _optional_text(row, "body", fail) or ""
        if not title.strip() and not body.strip():
            raise fail("title", "title and body are both empty; at least one is required")
        meta = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
        return cls(
            id=article_id, title=title, body=body,
            url=_optional_text(row, "url", fail),
            section=_optional_text(row, "section", fail),
            tags=_parse_tags(row.get("tags"), fail),
            author=_optional_text(row, "author", fail),
            published_at=_parse_time(row.get("published_at"), fail),
            views=_parse_views(row.get("views"), fail),
            meta=meta,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: known fields first, then the metadata fields."""
        return {
            "id": self.id, "title": self.title, "body": self.body, "url": self.url,
            "section": self.section, "tags": list(self.tags), "author": self.author,
            "published_at": format_time(self.published_at), "views": self.views, **self.meta,
        }


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a 'Z' suffix, or None."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime:
    """Parse an ISO 8601 date or datetime (or a datetime/date object) into an aware UTC datetime.

    A naive time counts as UTC. Raises ValueError with a readable message.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date: {value!r}") from None
    else:
        raise ValueError(f"not an ISO 8601 date: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _clean_id(value: Any, fail) -> str:
    if value is None or value == "":
        raise fail("id", "missing (every article needs a non-empty id)")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail("id", f"must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise fail("id", "missing (every article needs a non-empty id)")
    return text


def _optional_text(row: Mapping[str, Any], name: str, fail) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(name, f"must be a string, got {type(value).__name__}")
    return value if value != "" or name in ("title", "body") else None


def _parse_tags(value: Any, fail) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise fail("tags", f"must be a list of strings or a comma-separated string, got {type(value).__name__}")
    tags = []
    for item in items:
        if not isinstance(item, str):
            raise fail("tags", f"every tag must be a string, got {type(item).__name__}: {item!r}")
        if item.strip() and item.strip() not in tags:
            tags.append(item.strip())
    return tuple(tags)


def _parse_time(value: Any, fail) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise fail("published_at", str(exc)) from None


def _parse_views(value: Any, fail) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise fail("views", f"must be an integer >= 0, got {value!r}")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise fail("views", f"must be an integer >= 0, got {value!r}") from None
    if not isinstance(value, int) or value < 0:
        raise fail("views", f"must be an integer >= 0, got {value!r}")
    return value
