"""The hot route's fast lane: ``GET /v1/articles/{article_id}/related`` with at most ``k`` and
``offset``, answered from the article's stored list without the framework's routing, dependency
solving and parameter validation (most of a request's cost once the list itself takes microseconds).

The lane answers only requests it can answer exactly as the route would: a valid id of an indexed
article, ``k`` and ``offset`` given once each as plain digits within their limits, an index with
nothing to catch up, and a list that the stored list alone makes. Every other request, including
every error, goes on to the route unchanged, which answers it in full (and with the one error shape).
The route and the lane write the list with the same ``PublicFields``.
"""

from __future__ import annotations

import re

from ..documents.article import ID_PATTERN, MAX_CHARS
from ..errors import RecsysError
from .public import PublicFields

ROUTE = "/v1/articles/{article_id}/related"
_PATH = re.compile(r"/v1/articles/([^/]+)/related")
_ID = re.compile(ID_PATTERN)
_HEADERS = (b"content-type", b"application/json")


class StoredListLane:
    """ASGI middleware: answers plain related-list requests from the stored lists (see the module)."""

    def __init__(self, app, public: PublicFields, max_k: int, route=None) -> None:
        self.app, self.public, self.max_k = app, public, max_k
        self.route = route  # put in the scope as the router would, for the request metrics

    async def __call__(self, scope, receive, send):
        body = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            return await self.app(scope, receive, send)
        scope["route"] = self.route
        await send({"type": "http.response.start", "status": 200,
                    "headers": [_HEADERS, (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope) -> bytes | None:
        """The response body, or None to leave the request to the route."""
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        match = _PATH.fullmatch(path)
        if match is None:
            return None
        article_id = match.group(1)
        if len(article_id) > MAX_CHARS["id"] or not _ID.fullmatch(article_id):
            return None
        limits = self._limits(scope["query_string"])
        serving = getattr(scope["app"].state, "serving", None)
        if limits is None or serving is None or not serving.up_to_date():
            return None
        k, offset = limits
        try:
            hits = serving.index.related_from_stored_list(article_id, k + offset)
        except RecsysError:  # an unknown id (or one deleted meanwhile): the route says so
            return None
        return None if hits is None else self.public.list_response(hits[offset:], article_id=article_id)

    def _limits(self, query: bytes) -> tuple[int, int] | None:
        """(k, offset) from a query string of at most those two, given once each as digits; else None."""
        values = {b"k": 10, b"offset": 0}
        seen = set()
        for pair in query.split(b"&") if query else ():
            name, _, value = pair.partition(b"=")
            if name not in values or name in seen or not value.isdigit() or len(value) > 9:
                return None
            seen.add(name)
            values[name] = int(value)
        k, offset = values[b"k"], values[b"offset"]
        return (k, offset) if 1 <= k <= self.max_k and 0 <= offset <= self.max_k else None
