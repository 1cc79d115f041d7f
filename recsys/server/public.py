"""What read routes may show of an article: an allow-list of fields, safe URLs, no paywalled body;
and the JSON of a list of hits, written directly (orjson), each article's part of it kept ready."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson

from ..documents.article import is_allowed_url
from ..query.hits import Hit

SCORE_PARTS = ("similarity", "popularity", "freshness", "reason", "explanation")
SCORES = frozenset(("score", "similarity", "popularity", "freshness", "views", "reason", "explanation"))  # per hit
_PLAIN_STARTS = ("http://", "https://")  # the common case, safe whatever follows: no need for the pattern
_ABSENT = object()


class PublicFields:
    """Projects hits and articles onto the configured public fields (RECSYS_PUBLIC_FIELDS).

    A hit's JSON object has the public fields in their configured order. All but its score fields
    (score, its parts, views, reason) are the same wherever the article is listed, so they are
    written once per article into a template that the hit's score fields complete, and kept (up to
    ``cache_size`` articles)."""

    def __init__(self, fields: Iterable[str], *, cache_size: int = 100_000) -> None:
        self.fields = tuple(dict.fromkeys(fields))
        self._per_hit = tuple(name for name in self.fields if name in SCORES)
        self._templates: dict[tuple[int, int], tuple[Any, bytes]] = {}
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._built: Any = None  # the records of the index whose articles the templates are of

    def hit(self, hit: Hit, *, explain: bool = False) -> dict[str, Any]:
        """The public view of a Hit; with ``explain``, its score parts too."""
        shown = {}
        for name in self.fields:
            value = hit.get(name, _ABSENT)
            if value is not _ABSENT:
                shown[name] = value
        paywalled = hit.get("paywalled")
        if explain:
            parts = {name: hit.get(name) for name in SCORE_PARTS}
            shown.update((name, value) for name, value in parts.items() if value is not None)
            if paywalled and shown.get("explanation"):  # its shared terms are words of its body
                shown["explanation"] = {k: v for k, v in shown["explanation"].items() if k != "terms"}
        return _made_safe(shown, paywalled)

    def article(self, article) -> dict[str, Any]:
        """The public view of an Article (its stored fields; no score)."""
        data = article.to_dict()
        return _made_safe({name: data[name] for name in self.fields if name in data}, data.get("paywalled"))

    def list_response(self, hits: Sequence[Hit], *, explain: bool = False, article_id: str | None = None,
                      variant: str | None = None) -> bytes:
        """The JSON body of a list route, {"ok": true, ["article_id": ...,] ["variant": ...,] "results":
        [the hits' public views]}, as ``hit`` has them."""
        head = b'{"ok":true,' + (b'"article_id":' + orjson.dumps(article_id) + b"," if article_id is not None else b"")
        if variant is not None:
            head += b'"variant":' + orjson.dumps(variant) + b","
        results = [orjson.dumps(self.hit(h, explain=True)) for h in hits] if explain else [self._json(h) for h in hits]
        return head + b'"results":[' + b",".join(results) + b"]}"

    def _json(self, hit: Hit) -> bytes:
        """``hit(hit)`` as JSON: the article's template, completed with the hit's score fields."""
        key = hit.fields_key
        if key is None:
            return orjson.dumps(self.hit(hit))
        owner, row = key
        found = self._templates.get((id(owner), row))
        if found is not None and found[0] is owner:
            template = found[1]
        else:
            template = self._template(hit)
            with self._cache_lock:
                if isinstance(owner, np.ndarray) and owner is not self._built:  # another index: start afresh,
                    self._templates.clear()  # so that the old one's memory-mapped records can be let go
                    self._built = owner
                while len(self._templates) >= self._cache_size:
                    del self._templates[next(iter(self._templates))]  # the oldest
                self._templates[(id(owner), row)] = (owner, template)  # owner kept: its id is not reused
        return template % tuple([orjson.dumps(getattr(hit, name)) for name in self._per_hit])

    def _template(self, hit: Hit) -> bytes:
        """The JSON of ``hit(hit)`` with a bytes-formatting slot (%s) for each score field."""
        parts = [orjson.dumps(name) + b":" + (b"%s" if name in SCORES else orjson.dumps(value).replace(b"%", b"%%"))
                 for name, value in self.hit(hit).items()]
        return b"{" + b",".join(parts) + b"}"


def _made_safe(shown: dict[str, Any], paywalled: Any) -> dict[str, Any]:
    """No URL of another scheme (written by an older version that let any in), no paywalled body."""
    url = shown.get("url")
    if url is not None and not (str(url)[:8].lower().startswith(_PLAIN_STARTS) or is_allowed_url(str(url))):
        shown["url"] = None
    if "body" in shown and paywalled:
        shown["body"] = None
    return shown
