"""The related route's fast lane and the JSON every list route writes: the same content as the
library's ``Hit.to_dict()``, field for field and in order, whichever path answers."""

import random

import numpy as np
import orjson
import pytest

import recsys
from recsys.query import lists, rank
from recsys.server import stored_lists
from recsys.server.changelog import ChangeLog
from recsys.server.public import SCORE_PARTS, PublicFields

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FIELDS = ["score", "id", "title", "url", "reason", "section", "tags", "author", "published_at", "views",
          "freshness", "paywalled", "desk"]  # score fields between article fields; metadata fields too
NOW = 1_790_000_000.0  # a fixed clock, so that the library's lists and the service's are the same to the bit


@pytest.fixture()
def fixed_clock(monkeypatch):
    for module in (rank, lists):
        original = module.now_timestamp
        monkeypatch.setattr(module, "now_timestamp", lambda now, original=original: NOW if now is None else original(now))


@pytest.fixture()
def client(start_sample_app, fixed_clock, sample_articles):
    client = start_sample_app(api_token=TOKEN, public_fields=FIELDS)
    for n, source in enumerate(sample_articles[:6]):  # articles added since the build, one of them with metadata
        article = {**source, "id": f"new-{n}", "title": source["title"] + " 100%"}
        article.pop("body") if n == 2 else article.update(desk="night" if n % 2 else "day")
        assert client.put(f"/v1/articles/new-{n}", json=article, headers=AUTH).status_code == 200
    assert client.delete("/v1/articles/a-007", headers=AUTH).status_code == 200
    return client


def expected(hit: recsys.Hit, explain: bool) -> dict:
    """A hit as the service should show it, from ``Hit.to_dict()``: the public fields the hit has, in
    their configured order, then (explain) the score parts not among them."""
    data = hit.to_dict()
    shown = {name: data[name] for name in FIELDS if name in data}
    if explain:
        shown.update((name, data[name]) for name in SCORE_PARTS if data.get(name) is not None)
        if hit.get("paywalled") and shown.get("explanation"):
            shown["explanation"] = {k: v for k, v in shown["explanation"].items() if k != "terms"}
    return shown


def random_query(rng: random.Random, ids: list[str]) -> dict:
    """Query parameters of a related-list request: often plain, otherwise any mix of the options."""
    params = {"k": rng.randint(1, 20)}
    if rng.random() < 0.3:
        params["offset"] = rng.randint(0, 5)
    if rng.random() < 0.5:
        return params
    options = {
        "section": lambda: rng.choice(["business", "politics", "science", "sports", "world", "nowhere"]),
        "tag": lambda: rng.choice(["central bank", "ceasefire", "chips", "awards"]),
        "author": lambda: rng.choice(["Henrik Salgado", "Priya Halvorsen"]),
        "exclude": lambda: ",".join(rng.sample(ids, 2)),
        "published_after": lambda: "2026-09-01",
        "published_before": lambda: "2026-09-20",
        "diversity": lambda: rng.choice([0.3, 0.8]),
        "explain": lambda: "true",
        "fallback": lambda: "true",
    }
    for name in rng.sample(list(options), rng.randint(1, 3)):
        params[name] = options[name]()
    return params


def library_list(index: recsys.RelatedIndex, article_id: str, params: dict) -> list[recsys.Hit]:
    k, offset = params["k"], params.get("offset", 0)
    options = {name: params[name] for name in ("section", "author", "exclude", "published_after",
                                                "published_before") if name in params}
    hits = index.related(article_id, k=k + offset, tags=[params["tag"]] if "tag" in params else None,
                         diversity=params.get("diversity", 0.0), explain="explain" in params,
                         fallback="fallback" in params, **options)
    return hits[offset:]


def test_a_thousand_random_requests_match_the_library(client, monkeypatch):
    served_by_lane = []
    answer = stored_lists.StoredListLane._answer

    def recording(self, scope):
        body = answer(self, scope)
        served_by_lane.append(body is not None)
        return body

    monkeypatch.setattr(stored_lists.StoredListLane, "_answer", recording)
    index = client.app.state.serving.index
    ids = sorted(index.ids)
    rng = random.Random(7)
    for _ in range(1000):
        article_id, params = rng.choice(ids), random_query(rng, ids)
        reply = client.get(f"/v1/articles/{article_id}/related", params=params)
        assert reply.status_code == 200, (article_id, params, reply.text)
        want = [expected(h, "explain" in params) for h in library_list(index, article_id, params)]
        got = reply.json()
        assert got["ok"] is True and got["article_id"] == article_id
        assert [list(r.items()) for r in got["results"]] == [list(r.items()) for r in want], (article_id, params)
    assert 300 < sum(served_by_lane) < 700  # the plain requests the stored lists answer, and not the others


def test_drafts_and_popular_match_the_library(client):
    index = client.app.state.serving.index
    rng = random.Random(3)
    for _ in range(50):
        text = " ".join(index.article(rng.choice(index.ids)).body.split()[:40])
        explain = rng.random() < 0.5
        body = {"text": text, "k": rng.randint(1, 10), "explain": explain}
        got = client.post("/v1/related", json=body).json()["results"]
        want = [expected(h, explain) for h in index.more_like_this(text, k=body["k"], explain=explain)]
        assert [list(r.items()) for r in got] == [list(r.items()) for r in want]
    got = client.get("/v1/popular", params={"k": 7, "section": "politics"}).json()["results"]
    assert [list(r.items()) for r in got] == [list(expected(h, False).items())
                                             for h in index.popular(7, section="politics")]


@pytest.mark.parametrize("query, status", [
    ("k=0", 422), ("k=abc", 422), ("k=1&k=2", 200), ("k=101", 422), ("offset=-1", 422), ("k=%35", 200),
    ("k=5&unknown=1", 200), ("fallback=true", 200), ("k=+5", 200),
])
def test_requests_the_lane_leaves_to_the_route_get_its_answers(client, query, status):
    reply = client.get(f"/v1/articles/a-003/related?{query}")
    assert reply.status_code == status, reply.text
    if status == 422:
        assert reply.json()["ok"] is False and reply.json()["status"] == 422


def test_the_lane_answers_errors_as_the_route_does(client):
    for path, status in [("/v1/articles/no-such-id/related", 404), ("/v1/articles/a-007/related", 404),
                         ("/v1/articles/%20a-003/related", 422), ("/v1/articles/" + "x" * 300 + "/related", 422)]:
        reply = client.get(path)
        assert reply.status_code == status and set(reply.json()) == {"ok", "error", "status"}, (path, reply.text)
    assert client.post("/v1/articles/a-003/related").status_code == 405
    assert client.head("/v1/articles/a-003/related").status_code == 405


def test_the_lane_answers_like_the_route_with_cors_and_metrics(start_sample_app):
    client = start_sample_app(cors_origins=["https://news.example"])
    origin = {"Origin": "https://news.example"}
    fast = client.get("/v1/articles/a-003/related?k=4", headers=origin)
    slow = client.get("/v1/articles/a-003/related?k=4&unknown=1", headers=origin)  # the route
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["access-control-allow-origin"] == slow.headers["access-control-allow-origin"]
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert [r["id"] for r in fast.json()["results"]] == [r["id"] for r in slow.json()["results"]]
    text = client.get("/metrics").text
    assert 'route="/v1/articles/{article_id}/related",status="200"} 2.0' in text


def test_the_lane_waits_for_an_index_that_has_something_to_catch_up(client):
    """A write seen by another worker: the shared file changed, so the route catches up first."""
    state = client.app.state.serving
    other_worker = ChangeLog(state.db_path)
    other_worker.append_delete("a-005")
    other_worker.close()
    assert not state.up_to_date()
    ids = [r["id"] for r in client.get("/v1/articles/a-004/related?k=59").json()["results"]]
    assert "a-005" not in ids and state.up_to_date()


class _OldStore:
    """A store as an older version wrote it, before URLs were checked: one article with a script URL,
    a paywalled body and a title made to break a template (``%s``)."""

    records = np.zeros(1, dtype=np.uint8)
    appended_records: dict = {}
    fields = {"id": "old-1", "title": "100%s sure %d", "url": " javascript:alert(1)", "paywalled": True,
              "section": None, "tags": [], "author": None, "published_at": None, "views": 0}

    def record(self, row, *, body=True):
        return {**self.fields, **({"body": "secret words"} if body else {})}

    def body(self, row):
        return "secret words"


@pytest.mark.parametrize("explain", [False, True])
def test_written_json_never_carries_a_stored_script_url_or_a_paywalled_body(explain):
    public = PublicFields(["id", "title", "url", "body", "score", "explanation"])
    hit = recsys.Hit("old-1", 0.5, 0.5, 0.0, 0.0, explanation={"terms": ["secret"], "penalty": 0.0} if explain else None,
                     store=_OldStore(), row=0)
    for _ in range(2):  # the template is written, then reused
        shown = orjson.loads(public.list_response([hit], explain=explain))["results"][0]
        assert shown["url"] is None and shown["body"] is None and shown["title"] == "100%s sure %d"
        assert shown["explanation"] == ({"penalty": 0.0} if explain else None)
