"""Hostile input through real HTTP (the ASGI app, in-process) and the readers: tokens, URLs, ids,
widget reports, private fields, paths, huge numbers and memory. Each test names the hole it closes."""

import json
import logging
import random
import resource
import sqlite3
import string

from functools import partial

import pytest
from fastapi.testclient import TestClient

import recsys
from recsys import InputError, read_articles
from recsys.server import Settings, create_app
from conftest import write_jsonl

WRITE = "write-token-0123456789"
ADMIN = "admin-token-0123456789"
AS_WRITER = {"Authorization": f"Bearer {WRITE}"}
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
GOOD = {"title": "Rail strike spreads", "body": "Northline Rail drivers walk out over pay and staffing."}
HOSTILE_URLS = ["javascript:alert(document.cookie)", " javascript:alert(1)", "JaVaScRiPt:alert(1)",
                "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
                "https://example.com/\nx", "http://", "file:///etc/passwd"]


@pytest.fixture()
def make_client(start_sample_app):
    return partial(start_sample_app, api_token=WRITE, admin_token=ADMIN)


@pytest.fixture()
def client(make_client):
    return make_client()


def logged_changes(tmp_path) -> int:
    return sqlite3.connect(tmp_path / "events.sqlite3").execute("SELECT COUNT(*) FROM article_changes").fetchone()[0]


# ------------------------------------------------------------------ tokens
@pytest.mark.parametrize("token", ["", "   ", "short-token"])
def test_an_empty_or_short_token_counts_as_unset(served_index_dir, tmp_path, monkeypatch, caplog, token):
    monkeypatch.setenv("RECSYS_API_TOKEN", token)
    monkeypatch.setenv("RECSYS_INDEX", str(served_index_dir))
    monkeypatch.setenv("RECSYS_EVENTS_DB", str(tmp_path / "e.sqlite3"))
    with caplog.at_level(logging.WARNING, logger="recsys.server"):
        settings = Settings()
    assert settings.api_token is None
    if token:
        assert "shorter than 16 characters" in caplog.text
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for header in ({"Authorization": "Bearer "}, {"Authorization": f"Bearer {token}"}, {}):
            reply = client.put("/v1/articles/x-1", json=GOOD, headers=header)
            assert reply.status_code == 403 and "set RECSYS_API_TOKEN" in reply.json()["error"]
        assert client.get("/v1/articles/x-1").status_code == 404


def test_write_and_admin_tokens_are_separate(client, sample_articles, tmp_path):
    assert client.put("/v1/articles/x-1", json=GOOD, headers=AS_ADMIN).status_code == 401
    assert client.put("/v1/articles/x-1", json=GOOD, headers=AS_WRITER).status_code == 200
    for route in ("/v1/admin/compact", "/v1/admin/reload"):
        assert client.post(route, headers=AS_WRITER).status_code == 401
    assert client.post("/v1/admin/reload", headers=AS_ADMIN).status_code == 200


def test_admin_routes_are_off_without_an_admin_token(make_client):
    client = make_client(admin_token=None)
    reply = client.post("/v1/admin/compact", headers=AS_WRITER)
    assert reply.status_code == 403 and "RECSYS_ADMIN_TOKEN" in reply.json()["error"]


def test_reload_opens_only_directories_under_the_index_root(make_client, sample_articles, tmp_path):
    root = tmp_path / "root"
    inside = recsys.RelatedIndex.build(sample_articles[:20]).save(root / "smaller")
    outside = recsys.RelatedIndex.build(sample_articles[:10]).save(tmp_path / "elsewhere")
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    client = make_client(index_root=root)
    for path in (outside, root / ".." / "elsewhere", root / "link-out", "/etc"):
        reply = client.post("/v1/admin/reload", json={"path": str(path)}, headers=AS_ADMIN)
        assert reply.status_code == 403 and "index root" in reply.json()["error"], path
        assert client.get("/ready").json()["articles"] == 60
    assert client.post("/v1/admin/reload", json={"path": "x\u0000y"}, headers=AS_ADMIN).status_code == 422
    assert client.post("/v1/admin/reload", json={"path": str(inside)}, headers=AS_ADMIN).json()["articles"] == 20


# ------------------------------------------------------------------ URLs and ids
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_put_refuses_urls_that_are_not_http_and_logs_nothing(client, tmp_path, url):
    reply = client.put("/v1/articles/x-1", json={**GOOD, "url": url}, headers=AS_WRITER)
    assert reply.status_code == 422 and "url" in reply.json()["error"]
    assert logged_changes(tmp_path) == 0
    assert client.get("/v1/articles/x-1").status_code == 404


@pytest.mark.parametrize("url", ["https://news.example.com/a/1?x=2#top", "HTTP://example.com", "/news/a-1",
                                 "a-1.html", "?page=2", "//cdn.example.com/a"])
def test_put_accepts_http_urls_and_relative_paths(client, url):
    assert client.put("/v1/articles/x-1", json={**GOOD, "url": url}, headers=AS_WRITER).status_code == 200
    assert client.get("/v1/articles/x-1").json()["article"]["url"] == url


@pytest.mark.parametrize("url", HOSTILE_URLS[:6])
def test_readers_refuse_hostile_urls_naming_file_line_and_field(tmp_path, url):
    rows = [{"id": "a1", **GOOD}, {"id": "a2", **GOOD, "url": url}]
    with pytest.raises(InputError, match=r"^a\.jsonl:2: url: "):
        list(read_articles(write_jsonl(tmp_path / "a.jsonl", rows)))
    csv = tmp_path / "a.csv"
    csv.write_text("id,title,url\na1,One,https://example.com\na2,Two," + json.dumps(url) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^a\.csv:3: url: "):
        list(read_articles(csv))


@pytest.mark.parametrize("bad_id", ["a/b", "a\\b", ".", "..", "a\u0000b", "tab\there", "x" * 257])
def test_ids_that_a_route_cannot_address_are_refused_at_ingest(tmp_path, bad_id):
    rows = [{"id": "a1", **GOOD}, {"id": bad_id, **GOOD}]
    with pytest.raises(InputError, match=r"^a\.jsonl:2: id: "):
        list(read_articles(write_jsonl(tmp_path / "a.jsonl", rows), on_error="raise"))


def test_every_accepted_id_is_addressable_over_http(client):
    for article_id in ["a.b", "...", "100%", "a?b#c", "ünïcode", "a b", "x" * 256]:
        assert client.put(f"/v1/articles/{_quote(article_id)}", json=GOOD, headers=AS_WRITER).status_code == 200
        assert client.get(f"/v1/articles/{_quote(article_id)}").json()["article"]["id"] == article_id
        related = client.get(f"/v1/articles/{_quote(article_id)}/related", params={"k": 2}).json()
        assert related["article_id"] == article_id and related["results"]


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# ------------------------------------------------------------------ numbers, times, sizes
@pytest.mark.parametrize("fields, where", [
    ({"views": 100000000000000000000}, "views"), ({"views": -1}, "views"), ({"views": 1.5}, "views"),
    ({"title": "x" * 2001}, "title"), ({"tags": ["t"] * 201}, "tags"), ({"published_at": 0}, "published_at"),
({"published_at": "yesterday"}, "published_at"),
    ({"title": "", "body": "  "}, "title")])
def test_a_bad_write_answers_422_logs_nothing_and_the_service_still_serves(make_client, client, tmp_path,
                                                                           fields, where):
    reply = client.put("/v1/articles/p-1", json={**GOOD, **fields}, headers=AS_WRITER)
    assert reply.status_code == 422 and where in reply.json()["error"]
    assert logged_changes(tmp_path) == 0
    assert client.get("/ready").status_code == 200
    assert client.get("/v1/articles/a-003/related").json()["results"]
    restarted = make_client()
    assert restarted.get("/ready").status_code == 200 and restarted.get("/v1/articles/p-1").status_code == 404


def test_the_largest_view_count_is_accepted_and_served(client):
    from datetime import datetime, timezone

    fields = {**GOOD, "views": 2**53 - 1, "published_at": datetime.now(timezone.utc).isoformat()}
    reply = client.put("/v1/articles/p-1", json=fields, headers=AS_WRITER)
    assert reply.status_code == 200
    assert client.get("/v1/popular", params={"k": 1}).json()["results"][0]["id"] == "p-1"


@pytest.mark.parametrize("ts", [0, 1700000000, "yesterday", "2026-13-01T00:00:00Z", True])
def test_events_need_a_real_time(client, ts):
    batch = {"events": [{"id": "e1", "article_id": "a-001", "type": "view", "ts": ts}]}
    reply = client.post("/v1/events", json=batch, headers=AS_WRITER)
    assert reply.status_code == 422 and "ts" in reply.json()["error"]


def test_limits_are_in_the_published_schema(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/v1/articles/{article_id}/related"]["get"]["parameters"]}
    assert params["k"]["maximum"] == 100
    popular = {p["name"]: p["schema"] for p in spec["paths"]["/v1/popular"]["get"]["parameters"]}
    assert popular["k"]["maximum"] == 100
    reply = client.get("/v1/articles/a-001/related", params={"k": 214953})
    assert reply.status_code == 422 and "k" in reply.json()["error"]


# ------------------------------------------------------------------ widget view reports
def test_widget_views_need_an_origin_and_the_server_names_the_event(make_client, tmp_path):
    client = make_client(widget_views=True, cors_origins=["https://publisher.example"])
    assert client.post("/v1/widget/views", json={"article_id": "a-001"}).status_code == 403
    foreign = client.post("/v1/widget/views", json={"article_id": "a-001"}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    with_id = client.post("/v1/widget/views", json={"id": "mine", "article_id": "a-001"},
                          headers={"Origin": "https://publisher.example"})
    assert with_id.status_code == 422
    unknown = client.post("/v1/widget/views", json={"article_id": "nope"}, headers={"Origin": "https://publisher.example"})
    assert unknown.status_code == 404
    for _ in range(2):
        reply = client.post("/v1/widget/views", json={"article_id": "a-001"},
                            headers={"Origin": "https://publisher.example"})
        assert reply.json() == {"ok": True, "accepted": 1, "duplicates": 0}
    ids = [row[0] for row in sqlite3.connect(tmp_path / "events.sqlite3").execute("SELECT id FROM events")]
    assert len(ids) == 2 and len(set(ids)) == 2 and "mine" not in ids


def test_widget_views_are_rate_limited_per_client(make_client, tmp_path):
    client = make_client(widget_views=True, widget_rate=5)
    own = {"Origin": "http://testserver"}
    answers = [client.post("/v1/widget/views", json={"article_id": "a-002"}, headers=own) for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert int(answers[-1].headers["Retry-After"]) >= 1
    stored = sqlite3.connect(tmp_path / "events.sqlite3").execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert stored == 5


# ------------------------------------------------------------------ private fields
def test_reads_return_only_public_fields(client, sample_articles):
    paywalled = next(a for a in sample_articles if a.get("paywalled"))
    article = client.get(f"/v1/articles/{paywalled['id']}").json()["article"]
    assert set(article) <= {"id", "title", "url", "section", "tags", "author", "published_at"}
    assert article["title"] == paywalled["title"]
    for path in ("/v1/articles/a-003/related?k=20&fallback=true", "/v1/popular?k=20"):
        results = client.get(path).json()["results"]
        assert results
        for hit in results:
            assert set(hit) <= {"id", "title", "url", "section", "tags", "author", "published_at", "score"}
    explained = client.get("/v1/articles/a-003/related", params={"k": 2, "explain": True}).json()["results"]
    assert explained and all({"similarity", "popularity", "freshness", "explanation"} <= set(h) for h in explained)
    assert all("body" not in h for h in explained)


def test_a_paywalled_body_never_leaves_even_when_bodies_are_public(make_client, sample_articles):
    client = make_client(public_fields=["id", "title", "body", "paywalled"])
    paywalled = [a for a in sample_articles if a.get("paywalled")]
    free = next(a for a in sample_articles if not a.get("paywalled"))
    assert paywalled
    for row in paywalled:
        shown = client.get(f"/v1/articles/{row['id']}").json()["article"]
        assert shown["paywalled"] is True and shown["body"] is None
    assert client.get(f"/v1/articles/{free['id']}").json()["article"]["body"] == free["body"]
    leaked = [h for h in client.get(f"/v1/articles/{paywalled[0]['id']}/related", params={"k": 30}).json()["results"]
              if h.get("paywalled")]
    assert leaked and all(h["body"] is None for h in leaked)


# ------------------------------------------------------------------ memory
def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def test_drafts_of_new_words_leave_memory_flat(sample_index):
    rng = random.Random(7)

    def draft() -> str:
        return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 12))) for _ in range(60))

    for _ in range(3000):  # fills the bounded caches
        sample_index.more_like_this(draft(), k=5)
    before = _rss_mb()
    for _ in range(5000):  # 300,000 more new words (an unbounded stem cache grows by about 40 MB)
        sample_index.more_like_this(draft(), k=5)
    grown = _rss_mb() - before
    assert grown < 8, f"RSS grew by {grown:.1f} MB over 5,000 drafts of new words"


# ------------------------------------------------------------------ the event loop
def test_only_the_stored_list_path_runs_on_the_event_loop(client, monkeypatch):
    import asyncio

    calls = []

    def recording(name):
        method = getattr(recsys.RelatedIndex, name)

        def call(self, *args, **kwargs):
            try:
                asyncio.get_running_loop()
                calls.append((name, "loop"))
            except RuntimeError:  # a thread of the pool
                calls.append((name, "pool"))
            return method(self, *args, **kwargs)
        return call

    for name in ("related", "related_from_stored_list"):
        monkeypatch.setattr(recsys.RelatedIndex, name, recording(name))
    slow = [{"section": "business"}, {"tag": "unions"}, {"exclude": "a-012"}, {"diversity": 0.5},
            {"explain": True}, {"published_after": "2026-09-01"}]
    for params in [{}] + slow:
        assert client.get("/v1/articles/a-003/related", params=params).status_code == 200
    assert calls == [("related_from_stored_list", "loop")] + [("related", "pool")] * len(slow)
    calls.clear()  # a list longer than the stored one: tried on the loop, then searched in the pool
    assert client.get("/v1/articles/a-003/related", params={"k": 60}).status_code == 200
    assert calls[-2:] == [("related_from_stored_list", "loop"), ("related", "pool")]
    assert ("related", "loop") not in calls


def test_an_unknown_setting_variable_is_named_in_a_warning(served_index_dir, monkeypatch, caplog):
    monkeypatch.setenv("RECSYS_MAX_TEXT_BYTES", "50")  # renamed to RECSYS_MAX_TEXT_CHARS
    with caplog.at_level(logging.WARNING, logger="recsys.server"):
        Settings(index=served_index_dir)
    assert "RECSYS_MAX_TEXT_BYTES is not a recsys setting" in caplog.text


def test_explanations_do_not_show_the_words_of_a_paywalled_body(client, sample_articles):
    paywalled = {a["id"] for a in sample_articles if a.get("paywalled")}
    hits = [h for a in sorted(paywalled) for h in
            client.get(f"/v1/articles/{a}/related", params={"k": 10, "explain": True}).json()["results"]]
    shown = [h for h in hits if h["id"] in paywalled]
    assert shown and all("terms" not in h["explanation"] and "similarity" in h["explanation"] for h in shown)
    assert any(h["explanation"].get("terms") for h in hits if h["id"] not in paywalled)
