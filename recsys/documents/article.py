"""The Article record and the validation of one raw row into it."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from ..errors import InputError

KNOWN_FIELDS = ("id", "title", "body", "url", "section", "tags", "author", "published_at", "views")

MAX_VIEWS = 2**53 - 1  # fits int64 with room for event counts on top, and is exact in JSON and float64
MAX_CHARS = {"id": 256, "title": 2_000, "body": 5_000_000, "url": 4_096, "section": 500, "author": 1_000,
             "tag": 500}
MAX_TAGS = 200
MAX_META_CHARS = 100_000  # the other fields, as JSON

_C, _S, _S_NODOT = r"[^/\\\x00-\x1f\x7f]", r"[^\s/\\\x00-\x1f\x7f]", r"[^\s/\\\x00-\x1f\x7f.]"
ID_PATTERN = rf"^(?:{_S_NODOT}(?:{_C}*{_S})?|\.(?:{_S_NODOT}|{_C}+{_S}))$"
"""An id every route can address: no ``/`` or ``\\``, no control characters, no space at either end,
and not ``.`` or ``..``."""
_U, _HOST, _FIRST = r"[^\s\x00-\x1f\x7f]", r"[^\s/?#\x00-\x1f\x7f]", r"[^\s:/?#\x00-\x1f\x7f]"
URL_PATTERN = rf"^(?:[Hh][Tt][Tt][Pp][Ss]?://{_HOST}+(?:[/?#]{_U}*)?|{_FIRST}*(?:[/?#]{_U}*)?)$"
"""An http(s) URL with a host, or a relative one (no scheme); no white space or control characters."""
_ID, _URL = re.compile(ID_PATTERN), re.compile(URL_PATTERN)


def is_allowed_url(url: str) -> bool:
    """True for what ``url`` may hold: an http(s) URL with a host, or a relative one (URL_PATTERN)."""
    return _URL.fullmatch(url) is not None


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
        return cls(
            id=article_id, title=title, body=body,
            url=_parse_url(row, fail),
            section=_optional_text(row, "section", fail),
            tags=_parse_tags(row.get("tags"), fail),
            author=_optional_text(row, "author", fail),
            published_at=_parse_time(row.get("published_at"), fail),
            views=_parse_views(row.get("views"), fail),
            meta=_parse_meta(row, fail),
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

    A naive time counts as UTC; one that UTC cannot hold (year 1 or 9999 with an offset) is moved to
    the nearest end of the range. Raises ValueError with a readable message.
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
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC: the nearest end
        end = datetime.min if parsed.year == 1 else datetime.max
        return end.replace(tzinfo=timezone.utc)


def _clean_id(value: Any, fail) -> str:
    if value is None or value == "":
        raise fail("id", "missing (every article needs a non-empty id)")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail("id", f"must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise fail("id", "missing (every article needs a non-empty id)")
    if len(text) > MAX_CHARS["id"]:
        raise fail("id", f"longer than {MAX_CHARS['id']} characters")
    if not _ID.fullmatch(text):
        raise fail("id", f"{text!r} cannot be addressed in a URL path: an id may not contain '/', '\\' or "
                         "control characters, nor be '.' or '..'")
    return text


def _optional_text(row: Mapping[str, Any], name: str, fail) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(name, f"must be a string, got {type(value).__name__}")
    if len(value) > MAX_CHARS[name]:
        raise fail(name, f"longer than {MAX_CHARS[name]} characters")
    return value if value != "" or name in ("title", "body") else None


def _parse_url(row: Mapping[str, Any], fail) -> str | None:
    url = _optional_text(row, "url", fail)
    if url is not None and not is_allowed_url(url):
        raise fail("url", f"{url[:80]!r} is not an http(s) URL or a relative path (other schemes, white space "
                          "and control characters are refused)")
    return url


def _parse_meta(row: Mapping[str, Any], fail) -> dict[str, Any]:
    meta = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
    if not meta:
        return meta
    try:
        size = len(json.dumps(meta, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        name = next(iter(meta))
        raise fail(name, f"other fields must be plain JSON values: {exc}") from None
    if size > MAX_META_CHARS:
        raise fail(next(iter(meta)), f"the fields other than the known ones take {size} characters as JSON; "
                                     f"the limit is {MAX_META_CHARS}")
    return meta


def _parse_tags(value: Any, fail) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise fail("tags", f"must be a list of strings or a comma-separated string, got {type(value).__name__}")
    if len(items) > MAX_TAGS:
        raise fail("tags", f"{len(items)} tags; the limit is {MAX_TAGS}")
    tags = []
    for item in items:
        if not isinstance(item, str):
            raise fail("tags", f"every tag must be a string, got {type(item).__name__}: {str(item)[:80]!r}")
        if len(item) > MAX_CHARS["tag"]:
            raise fail("tags", f"a tag is longer than {MAX_CHARS['tag']} characters")
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
        raise fail("views", f"must be an integer from 0 to {MAX_VIEWS}, got {value!r}")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise fail("views", f"must be an integer from 0 to {MAX_VIEWS}, got {value[:40]!r}") from None
    if not isinstance(value, int) or not 0 <= value <= MAX_VIEWS:
        raise fail("views", f"must be an integer from 0 to {MAX_VIEWS}, got {str(value)[:40]}")
    return value
