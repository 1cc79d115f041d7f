"""What read routes may show of an article: an allow-list of fields, safe URLs, no paywalled body."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..documents.article import is_allowed_url

SCORE_PARTS = ("similarity", "popularity", "freshness", "reason", "explanation")
_PLAIN_STARTS = ("http://", "https://")  # the common case, safe whatever follows: no need for the pattern
_ABSENT = object()


class PublicFields:
    """Projects hits and articles onto the configured public fields (RECSYS_PUBLIC_FIELDS)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(dict.fromkeys(fields))

    def hit(self, hit, *, explain: bool = False) -> dict[str, Any]:
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
        return self._made_safe(shown, paywalled)

    def hits(self, hits, *, explain: bool = False) -> list[dict[str, Any]]:
        return [self.hit(h, explain=explain) for h in hits]

    def article(self, article) -> dict[str, Any]:
        """The public view of an Article (its stored fields; no score)."""
        data = article.to_dict()
        return self._made_safe({name: data[name] for name in self.fields if name in data}, data.get("paywalled"))

    @staticmethod
    def _made_safe(shown: dict[str, Any], paywalled: Any) -> dict[str, Any]:
        """No URL of another scheme (written by an older version that let any in), no paywalled body."""
        url = shown.get("url")
        if url is not None and not (str(url)[:8].lower().startswith(_PLAIN_STARTS) or is_allowed_url(str(url))):
            shown["url"] = None
        if "body" in shown and paywalled:
            shown["body"] = None
        return shown
