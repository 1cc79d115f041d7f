"""What read routes may show of an article: an allow-list of fields, safe URLs, no paywalled body."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..article import URL_PATTERN

SCORE_PARTS = ("similarity", "popularity", "freshness", "reason", "explanation")
_SAFE_URL = re.compile(URL_PATTERN)


class PublicFields:
    """Projects hits and articles onto the configured public fields (RECSYS_PUBLIC_FIELDS)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(dict.fromkeys(fields))

    def hit(self, hit, *, explain: bool = False) -> dict[str, Any]:
        """The public view of a Hit; with ``explain``, its score parts too."""
        data = hit.to_dict(body="body" in self.fields)
        shown = self._project(data)
        if explain:
            shown.update((name, data[name]) for name in SCORE_PARTS if name in data)
        return shown

    def hits(self, hits, *, explain: bool = False) -> list[dict[str, Any]]:
        return [self.hit(h, explain=explain) for h in hits]

    def article(self, article) -> dict[str, Any]:
        """The public view of an Article (its stored fields; no score)."""
        return self._project(article.to_dict())

    def _project(self, data: dict[str, Any]) -> dict[str, Any]:
        shown = {name: data.get(name) for name in self.fields if name in data}
        if "url" in shown and shown["url"] is not None and not _SAFE_URL.fullmatch(str(shown["url"])):
            shown["url"] = None  # written by an older version that let any scheme in
        if "body" in shown and data.get("paywalled"):
            shown["body"] = None
        return shown
