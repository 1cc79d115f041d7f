"""The HTTP face, in-process through the ASGI app: routes, the error shape, auth, limits, events."""

import sqlite3

from functools import partial

import pytest
from fastapi.testclient import TestClient

from recsys.server import Settings, create_app
from brute_force import story

TOKEN = "test-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SHOWN = ["id", "title", "url", "section", "tags", "author", "published_at", "score", "views", "reason"]


@pytest.fixture()
def make_client(start_sample_app, tmp_path):
    return partial(start_sample_app, api_token=TOKEN, admin_token=ADMIN_TOKEN, index_root=tmp_path.parent,
                   public_fields=SHOWN)


@pytest.fixture()
def client(make_client):
    return make_client()


def assert_error(response, status, fragment):
    assert response.status_code == status
    body = response.json()
    assert body["ok"] is False and body["status"] == status and fragment in body["error"]
    assert set(body) == {"ok", "error", "status"}


def test_health_and_ready(client):
    assert client.get("/health").json() == {"ok": True, "status": "alive", "articles": None}
    assert client.get("/ready").json()["articles"] == 60


def test_ready_is_503_without_an_index(tmp_path):
    settings = Settings(index=tmp_path / "missing", events_db=tmp_path / "e.sqlite3")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert_error(client.get("/ready"), 503, "no index")
        assert_error(client.get("/v1/articles/a-001/related"), 503, "no index")


def test_related_shape_and_filters(client, sample_index):
    body = client.get("/v1/articles/a-012/related", params={"k": 3}).json()
    assert body["ok"] is True and body["article_id"] == "a-012"
    assert [r["id"] for r in body["results"]] == [h.id for h in sample_index.related("a-012", k=3)]
    first = body["results"][0]
    assert {"id", "score", "title", "url", "published_at", "section"} <= set(first) and "body" not in first
    filtered = client.get("/v1/articles/a-001/related", params={"section": "business", "k": 5}).json()["results"]
    assert filtered and all(r["section"] == "business" for r in filtered)
    tagged = client.get("/v1/articles/a-003/related", params=[("tag", "unions"), ("tag", "transport")]).json()["results"]
    assert tagged and all({"unions", "transport"} & set(r["tags"]) for r in tagged)


def test_offset_pages_through_the_list(client):
    whole = [r["id"] for r in client.get("/v1/articles/a-001/related", params={"k": 6}).json()["results"]]
    page = [r["id"] for r in client.get("/v1/articles/a-001/related", params={"k": 3, "offset": 3}).json()["results"]]
    assert page == whole[3:]


def test_exclude_accepts_commas(client):
    top = [r["id"] for r in client.get("/v1/articles/a-012/related", params={"k": 3}).json()["results"]]
    rest = client.get("/v1/articles/a-012/related", params={"k": 3, "exclude": ",".join(top[:2])}).json()
    assert rest["results"][0]["id"] == top[2]


@pytest.mark.parametrize("path, status, fragment", [
    ("/v1/articles/nope/related", 404, "unknown article id: 'nope'"),
    ("/v1/articles/nope", 404, "unknown article id"),
    ("/v1/articles/a-001/related?k=101", 422, "k: Input should be less than or equal to 100"),
    ("/v1/articles/a-001/related?offset=101", 422, "offset: Input should be less than or equal to 100"),
    ("/v1/articles/a-001/related?k=0", 422, "k:"),
    ("/v1/articles/a-001/related?published_after=someday", 422, "published_after: Value error, not an ISO 8601"),
    ("/v1/popular?window_hours=-1", 422, "window_hours"),
    ("/no/such/route", 404, "Not Found"),
])
def test_errors_share_one_shape(client, path, status, fragment):
    assert_error(client.get(path), status, fragment)


def test_draft_related(client, sample_index):
    text = "Calder Mutual customers and the data breach"
    body = client.post("/v1/related", json={"text": text, "k": 2}).json()
    ids = [r["id"] for r in body["results"]]
    assert body["ok"] is True and ids == [h.id for h in sample_index.more_like_this(text, k=2)]
    assert len(ids) == 2 and {story(i) for i in ids} <= {"a-028", "a-030", "a-048"}  # the Calder Mutual breach
    assert len({story(i) for i in ids}) == 2  # one hit per story: never an article and its update
    assert_error(client.post("/v1/related", json={"k": 2}), 422, "text")
    assert_error(client.post("/v1/related", json={"text": "x", "colour": "red"}), 422, "colour")


def test_limits_answer_4xx(make_client):
    client = make_client(max_text_chars=50, max_events=2, max_body_bytes=2000)
    assert_error(client.post("/v1/related", json={"text": "word " * 20}), 422, "text: String should have at most 50")
    events = [{"id": f"e{i}", "article_id": "a-001", "type": "view"} for i in range(3)]
    assert_error(client.post("/v1/events", json={"events": events}, headers=AUTH), 422, "events: List should have at most 2")
    assert_error(client.post("/v1/related", content=b"{" + b" " * 3000 + b"}",
                             headers={"Content-Type": "application/json"}), 413, "over the limit")


def test_writes_need_the_token(client, served_index_dir, tmp_path):
    batch = {"events": [{"id": "e1", "article_id": "a-001", "type": "view"}]}
    assert_error(client.post("/v1/events", json=batch), 401, "bearer token")
    assert_error(client.post("/v1/events", json=batch, headers={"Authorization": "Bearer wrong"}), 401, "bearer")
    settings = Settings(index=served_index_dir, events_db=tmp_path / "other.sqlite3")
    with TestClient(create_app(settings)) as no_token:
        assert_error(no_token.post("/v1/events", json=batch, headers=AUTH), 403, "set RECSYS_API_TOKEN")


def test_events_are_idempotent_durable_and_move_popularity(client, tmp_path):
    before = client.get("/v1/articles/a-040").json()["article"]["views"]
    batch = {"events": [{"id": f"v{i}", "article_id": "a-040", "type": "view", "ts": "2026-11-20T10:00:00Z"}
                        for i in range(5)] + [{"id": "c1", "article_id": "a-040", "type": "click"}]}
    assert client.post("/v1/events", json=batch, headers=AUTH).json() == {"ok": True, "accepted": 6, "duplicates": 0}
    assert client.post("/v1/events", json=batch, headers=AUTH).json() == {"ok": True, "accepted": 0, "duplicates": 6}
    assert client.get("/v1/articles/a-040").json()["article"]["views"] == before + 5
    rows = sqlite3.connect(tmp_path / "events.sqlite3").execute("SELECT type, COUNT(*) FROM events GROUP BY type")
    assert dict(rows.fetchall()) == {"view": 5, "click": 1}


def test_popular_follows_events_in_a_window(client):
    batch = {"events": [{"id": f"p{i}", "article_id": "a-033", "type": "view"} for i in range(3)]}
    client.post("/v1/events", json=batch, headers=AUTH)
    recent = client.get("/v1/popular", params={"window_hours": 1, "k": 3}).json()["results"]
    assert [r["id"] for r in recent] == ["a-033"]
    overall = client.get("/v1/popular", params={"k": 3, "section": "culture"}).json()["results"]
    assert overall and all(r["section"] == "culture" for r in overall)


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/articles/{article_id}/related", "/v1/related", "/v1/popular", "/v1/events"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


NEW = {"title": "Kestrel Athletic sign a striker for the title run-in",
       "body": "Kestrel Athletic signed a striker to replace the injured Ferreira-Holt before the First "
               "Division title decider against Port Hallam United.", "section": "sports", "tags": ["football"]}


def test_put_shows_at_once_and_delete_removes(client):
    reply = client.put("/v1/articles/n-1", json=NEW, headers=AUTH).json()
    assert reply == {"ok": True, "id": "n-1", "created": True, "pending_changes": 1}
    listed = [r["id"] for r in client.get("/v1/articles/a-035/related", params={"k": 5}).json()["results"]]
    assert "n-1" in listed
    assert client.get("/v1/articles/n-1").json()["article"]["title"] == NEW["title"]
    assert client.put("/v1/articles/n-1", json={**NEW, "title": "Changed"}, headers=AUTH).json()["created"] is False
    assert client.get("/v1/articles/n-1").json()["article"]["title"] == "Changed"
    assert client.delete("/v1/articles/n-1", headers=AUTH).json()["deleted"] is True
    assert_error(client.get("/v1/articles/n-1"), 404, "unknown article id")
    listed = [r["id"] for r in client.get("/v1/articles/a-035/related", params={"k": 10}).json()["results"]]
    assert "n-1" not in listed
    assert_error(client.delete("/v1/articles/n-1", headers=AUTH), 404, "unknown article id")


@pytest.mark.parametrize("body, fragment", [
    ({"title": "x", "published_at": "yesterday"}, "published_at: Value error, not an ISO 8601 date"),
    ({"title": "", "body": ""}, "title and body are both empty"),
    ({"title": "x", "views": -1}, "views"),
])
def test_put_validates_fields(client, body, fragment):
    assert_error(client.put("/v1/articles/n-2", json=body, headers=AUTH), 422, fragment)
    assert_error(client.get("/v1/articles/n-2"), 404, "unknown")


def test_put_refuses_a_body_id_that_differs_from_the_path(client):
    assert_error(client.put("/v1/articles/n-2", json={"id": "other", "title": "x"}, headers=AUTH), 409,
                 "differs from the path")
    assert_error(client.get("/v1/articles/n-2"), 404, "unknown")


def test_writes_survive_a_restart(make_client, client):
    client.put("/v1/articles/n-1", json=NEW, headers=AUTH)
    client.delete("/v1/articles/a-001", headers=AUTH)
    again = make_client()  # same index directory and SQLite file, a new app
    assert again.get("/v1/articles/n-1").json()["article"]["title"] == NEW["title"]
    assert_error(again.get("/v1/articles/a-001"), 404, "unknown")


def test_reload_swaps_and_refuses_a_bad_directory(client, sample_articles, tmp_path):
    import recsys

    smaller = recsys.RelatedIndex.build(sample_articles[:20]).save(tmp_path / "smaller")
    assert client.post("/v1/admin/reload", json={"path": str(smaller)}, headers=ADMIN).json()["articles"] == 20
    assert client.get("/ready").json()["articles"] == 20
    (tmp_path / "broken").mkdir()
    assert_error(client.post("/v1/admin/reload", json={"path": str(tmp_path / "broken")}, headers=ADMIN),
                 422, "refused")
    assert client.get("/ready").json()["articles"] == 20
    assert_error(client.post("/v1/admin/reload", json={}), 401, "bearer")


def test_compaction_folds_changes_in(client, tmp_path, sample_articles):
    import recsys

    served = recsys.RelatedIndex.build(sample_articles).save(tmp_path / "served")
    client.post("/v1/admin/reload", json={"path": str(served)}, headers=ADMIN)
    client.put("/v1/articles/n-1", json=NEW, headers=AUTH)
    reply = client.post("/v1/admin/compact", headers=ADMIN).json()
    assert reply["articles"] == 61 and reply["pending_changes"] == 0
    assert "n-1" in recsys.RelatedIndex.load(served)
    assert "n-1" in [r["id"] for r in client.get("/v1/articles/a-035/related", params={"k": 5}).json()["results"]]


def test_metrics(client):
    client.get("/v1/articles/a-001/related")
    client.post("/v1/events", json={"events": [{"id": "m1", "article_id": "a-001", "type": "click"}]}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'recsys_http_requests_total{method="GET",route="/v1/articles/{article_id}/related",status="200"} 1.0' in text
    assert "recsys_http_request_seconds_bucket" in text
    assert 'recsys_index_size{what="articles"} 60.0' in text and 'recsys_events{type="click"} 1.0' in text


def test_explain_and_diversity_over_http(client, sample_articles):
    paywalled = {a["id"] for a in sample_articles if a.get("paywalled")}
    body = client.get("/v1/articles/a-028/related", params={"k": 3, "explain": "true"}).json()
    assert body["results"] and all({"similarity", "popularity", "freshness", "penalty"} <= set(r["explanation"])
                                   for r in body["results"])
    assert all(("terms" in r["explanation"]) == (r["id"] not in paywalled) for r in body["results"])
    plain = client.get("/v1/articles/a-028/related", params={"k": 3}).json()["results"]
    assert "explanation" not in plain[0]
    diverse = client.get("/v1/articles/a-028/related", params={"k": 3, "diversity": 0.9}).json()["results"]
    assert diverse[0]["id"] == plain[0]["id"] and len(diverse) == 3
    assert_error(client.get("/v1/articles/a-028/related", params={"diversity": 2}), 422, "diversity")
    draft = client.post("/v1/related", json={"text": "Calder Mutual breach", "k": 2, "explain": True}).json()
    assert draft["results"][0]["explanation"]["terms"]


def test_fallback_over_http(client):
    params = {"k": 6, "fallback": "true", "published_before": "2026-09-20"}
    results = client.get("/v1/articles/a-036/related", params=params).json()["results"]
    assert results and {r["reason"] for r in results} <= {"related", "fallback"}
    assert all(r["published_at"] <= "2026-09-20" for r in results)


def test_a_chunked_body_over_the_limit_is_413(make_client):
    client = make_client(max_body_bytes=2000)

    def chunks():
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 100
        yield b'"}'

    reply = client.post("/v1/related", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(reply, 413, "over the limit")
    small = client.post("/v1/related", content=iter([b'{"text": "rail', b' strike"}']),
                        headers={"Content-Type": "application/json"})
    assert small.status_code == 200 and small.json()["ok"] is True


def test_metadata_cannot_overwrite_result_fields(make_client, sample_articles, tmp_path):
    import recsys

    rows = [{**a, "score": 99, "reason": "sneaky"} for a in sample_articles]
    path = recsys.RelatedIndex.build(rows).save(tmp_path / "meta-index")
    client = make_client()
    client.post("/v1/admin/reload", json={"path": str(path)}, headers=ADMIN)
    result = client.get("/v1/articles/a-012/related", params={"k": 1}).json()["results"][0]
    assert result["score"] != 99 and result["reason"] == "related"


def test_naive_event_times_count_as_utc(client, tmp_path):
    batch = {"events": [{"id": "t1", "article_id": "a-001", "type": "view", "ts": "2026-11-20T10:00:00"}]}
    client.post("/v1/events", json=batch, headers=AUTH)
    row = sqlite3.connect(tmp_path / "events.sqlite3").execute("SELECT ts FROM events WHERE id = 't1'").fetchone()
    assert row[0] == 1795168800.0  # 2026-11-20T10:00:00Z
