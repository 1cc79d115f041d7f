"""Impressions, clicks, variants and the click-through report over HTTP (in-process, through the ASGI
app, on a real SQLite file), the `recsys report` and `recsys eval` commands on that file, and the
refusal of bad variants at start-up."""

import base64
import json
import sqlite3
import time
from functools import partial

import pytest
from click.testing import CliRunner

import recsys
from recsys.cli import main
from recsys.feedback import FeedbackStore, Variants, report
from recsys.server import Settings, create_app

ADMIN_TOKEN = "admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OWN = {"Origin": "http://testserver"}
VARIANTS = {"control": {}, "fresh": {"freshness_weight": 3.0, "popularity_weight": 0.0},
            "diverse": {"diversity": 0.6}}


@pytest.fixture()
def make_client(start_sample_app):
    return partial(start_sample_app, admin_token=ADMIN_TOKEN, widget_clicks=True, variants=VARIANTS,
                   cors_origins=["https://publisher.example"])


@pytest.fixture()
def client(make_client):
    return make_client()


def raw(client) -> tuple[int, int]:
    """(impressions, clicks) stored in the service's SQLite file, read with plain SQL."""
    with sqlite3.connect(client.app.state.settings.events_path()) as db:
        return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("impressions", "clicks"))


def shown(client, article_id="a-012", variant="fresh", k=5):
    body = client.get(f"/v1/articles/{article_id}/related", params={"k": k, "variant": variant}).json()
    return [hit["id"] for hit in body["results"]]


def impression(ids, impression_id="imp-0123456789abcdef", article_id="a-012", variant="fresh"):
    return {"impression_id": impression_id, "article_id": article_id, "ids": ids, "variant": variant}


def assert_error(response, status, fragment):
    body = response.json()
    assert response.status_code == status, body
    assert body["ok"] is False and body["status"] == status and fragment in body["error"], body


def test_the_related_route_makes_the_list_with_the_variant_and_names_it(client, sample_index):
    for name, overrides in VARIANTS.items():
        body = client.get("/v1/articles/a-012/related", params={"k": 6, "variant": name}).json()
        assert body["variant"] == name
        assert [h["id"] for h in body["results"]] == [h.id for h in sample_index.related("a-012", k=6, **overrides)]
    plain = client.get("/v1/articles/a-012/related", params={"k": 6}).json()
    assert "variant" not in plain
    assert_error(client.get("/v1/articles/a-012/related", params={"variant": "nope"}), 422,
                 "variant: Input should be 'control', 'fresh' or 'diverse'")
    assert client.get("/v1/variants").json() == {"ok": True, "variants": Variants.parse(VARIANTS).public()}


def test_an_impression_then_its_click_are_stored_once(client):
    ids = shown(client)
    assert client.post("/v1/widget/impressions", json=impression(ids), headers=OWN).json()["accepted"] == 1
    assert client.post("/v1/widget/impressions", json=impression(ids), headers=OWN).json()["duplicates"] == 1
    click = {"impression_id": "imp-0123456789abcdef", "article_id": "a-012", "target_id": ids[2], "position": 3,
             "variant": "fresh"}
    # the widget sends its click as text/plain (no preflight while the page unloads)
    sent = client.post("/v1/widget/clicks", content=json.dumps(click),
                       headers={**OWN, "Content-Type": "text/plain;charset=UTF-8"})
    assert sent.json() == {"ok": True, "accepted": 1, "duplicates": 0}
    assert client.post("/v1/widget/clicks", json=click, headers=OWN).json()["duplicates"] == 1
    assert raw(client) == (1, 1)


def test_a_click_before_its_impression_carries_the_list(client):
    ids = shown(client)
    click = {"impression_id": "imp-early-0123456789", "article_id": "a-012", "target_id": ids[0], "position": 1,
             "variant": "fresh"}
    assert_error(client.post("/v1/widget/clicks", json=click, headers=OWN), 404, "no impression")
    assert_error(client.post("/v1/widget/clicks", json={**click, "ids": ids, "target_id": ids[1]}, headers=OWN),
                 409, "was not shown at position 1")
    assert_error(client.post("/v1/widget/clicks", json={**click, "ids": ["a-012", *ids[1:]]}, headers=OWN),
                 409, "never lists its own article")
    assert raw(client) == (0, 0)
    assert client.post("/v1/widget/clicks", json={**click, "ids": ids}, headers=OWN).json()["accepted"] == 1
    late = client.post("/v1/widget/impressions", json=impression(ids, "imp-early-0123456789"), headers=OWN)
    assert late.json()["duplicates"] == 1
    assert raw(client) == (1, 1)


@pytest.mark.parametrize("change, status, fragment", [
    ({"target_id": "a-001"}, 409, "was not shown at position"),           # an id never shown
    ({"position": 1}, 409, "was not shown at position 1"),                # shown, but elsewhere
    ({"position": 6}, 409, "showed 5 articles, not 6"),                   # past the block's end
    ({"position": 0}, 422, "position"),                                   # out of range
    ({"position": 101}, 422, "position"),                                 # past max_k
    ({"position": "2"}, 422, "position"),
    ({"variant": "nope"}, 422, "variant: Input should be 'control', 'fresh' or 'diverse'"),
    ({"variant": "control"}, 409, "the impression was of variant 'fresh'"),
    ({"article_id": "a-013"}, 409, "the impression was of 'a-012'"),
    ({"impression_id": "imp-never-reported-00"}, 404, "no impression"),
    ({"impression_id": "short"}, 422, "impression_id"),
    ({"extra": 1}, 422, "extra"),
])
def test_a_bad_click_answers_4xx_and_stores_nothing(client, change, status, fragment):
    ids = shown(client)
    client.post("/v1/widget/impressions", json=impression(ids), headers=OWN)
    click = {"impression_id": "imp-0123456789abcdef", "article_id": "a-012", "target_id": ids[1], "position": 2,
             "variant": "fresh", **change}
    assert_error(client.post("/v1/widget/clicks", json=click, headers=OWN), status, fragment)
    assert raw(client) == (1, 0)


@pytest.mark.parametrize("change, status, fragment", [
    ({"variant": "nope"}, 422, "variant: Input should be 'control', 'fresh' or 'diverse'"),
    ({"ids": ["a-001", "a-001"]}, 422, "listed twice"),
    ({"ids": ["a-012", "a-001"]}, 409, "never lists its own article"),
    ({"ids": ["a-001", "no-such-article"]}, 404, "unknown article id: 'no-such-article'"),
    ({"ids": []}, 422, "ids"),
    ({"ids": [f"a-{i:03d}" for i in range(1, 102)]}, 422, "ids"),
    ({"article_id": "no-such-article"}, 404, "unknown article id"),
    ({"impression_id": "has spaces in it 0000"}, 422, "impression_id"),
])
def test_a_bad_impression_answers_4xx_and_stores_nothing(client, change, status, fragment):
    assert_error(client.post("/v1/widget/impressions", json={**impression(["a-001", "a-002"]), **change},
                             headers=OWN), status, fragment)
    assert raw(client) == (0, 0)


def test_reports_need_the_setting_and_an_allowed_origin(make_client):
    ids = ["a-001", "a-002"]
    off = make_client(widget_clicks=False)
    assert_error(off.post("/v1/widget/impressions", json=impression(ids), headers=OWN), 403, "RECSYS_WIDGET_CLICKS")
    on = make_client()
    assert_error(on.post("/v1/widget/impressions", json=impression(ids)), 403, "needs an Origin header")
    assert_error(on.post("/v1/widget/impressions", json=impression(ids), headers={"Origin": "https://evil.example"}),
                 403, "RECSYS_CORS_ORIGINS")
    assert on.post("/v1/widget/impressions", json=impression(ids),
                   headers={"Origin": "https://publisher.example"}).json()["accepted"] == 1
    assert raw(off) == (1, 0)  # the one from the allowed origin (both apps share the test's file)


def test_a_flood_from_one_client_is_cut_off_and_stores_nothing_more(make_client):
    client = make_client(widget_rate=5, widget_views=True)
    answers = [client.post("/v1/widget/impressions", json=impression(["a-001"], f"imp-flood-{i:012d}"),
                           headers=OWN) for i in range(4)]
    answers.append(client.post("/v1/widget/views", json={"article_id": "a-001"}, headers=OWN))  # the same bucket
    assert [a.status_code for a in answers] == [200] * 5
    flood = [client.post("/v1/widget/impressions", json=impression(["a-001"], f"imp-more-{i:013d}"), headers=OWN)
             for i in range(20)]
    assert {a.status_code for a in flood} == {429} and int(flood[0].headers["Retry-After"]) >= 1
    assert_error(flood[0], 429, "too many widget reports")
    assert raw(client) == (4, 0)


def test_stats_route_page_and_cli_report_agree(client, tmp_path):
    rng_ids = shown(client, variant="fresh"), shown(client, variant="control")
    for i in range(30):
        variant = ("fresh", "control")[i % 2]
        ids = rng_ids[i % 2]
        imp_id = f"imp-stats-{i:012d}"
        client.post("/v1/widget/impressions", json=impression(ids, imp_id, variant=variant), headers=OWN)
        if i % 3 == 0:
            position = 1 + i % len(ids)
            client.post("/v1/widget/clicks", json={"impression_id": imp_id, "article_id": "a-012", "position": position,
                                                   "target_id": ids[position - 1], "variant": variant}, headers=OWN)
    assert_error(client.get("/v1/stats"), 401, "bearer token")
    stats = client.get("/v1/stats", headers=ADMIN).json()
    rows = {row["variant"]: row for row in stats["variants"]}
    assert list(rows) == ["control", "fresh", "diverse"]
    assert rows["fresh"]["impressions"] == 15 and rows["control"]["impressions"] == 15
    assert rows["fresh"]["clicks"] + rows["control"]["clicks"] == 10
    store = FeedbackStore(client.app.state.settings.events_path())
    expected = report(store, variants=list(VARIANTS))
    store.close()
    assert {k: v for k, v in stats.items() if k not in ("ok", "from", "to")} == \
           {k: v for k, v in expected.items() if k not in ("from", "to")}
    inverted = client.get("/v1/stats", params={"from": "2026-01-02", "to": "2026-01-01"}, headers=ADMIN).json()
    assert inverted["ranking"] == [] and {r["impressions"] for r in inverted["variants"]} == {0}
    assert_error(client.get("/v1/stats", params={"from": "someday"}, headers=ADMIN), 422, "from")

    result = CliRunner().invoke(main, ["report", str(client.app.state.settings.events_path()), "--json"],
                                env={"RECSYS_VARIANTS": json.dumps(VARIANTS)})
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert [(r["variant"], r["impressions"], r["clicks"]) for r in printed["variants"]] == \
           [(r["variant"], r["impressions"], r["clicks"]) for r in stats["variants"]]
    table = CliRunner().invoke(main, ["report", str(client.app.state.settings.events_path())])
    assert table.exit_code == 0 and "CTR by position" in table.output
    for row in stats["variants"][:2]:
        assert any(line.split()[1:4] == [row["variant"], str(row["impressions"]), str(row["clicks"])]
                   for line in table.output.splitlines() if line.split()), table.output


def test_the_stats_page_needs_the_admin_token_and_draws_the_plots(client):
    ids = shown(client)
    client.post("/v1/widget/impressions", json=impression(ids), headers=OWN)
    assert_error(client.get("/stats"), 401, "admin token")
    assert client.get("/stats").headers["WWW-Authenticate"].startswith("Basic")
    basic = base64.b64encode(f"anyone:{ADMIN_TOKEN}".encode()).decode()
    wrong = base64.b64encode(b"anyone:not-the-token-at-all").decode()
    assert client.get("/stats", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    for headers in (ADMIN, {"Authorization": f"Basic {basic}"}):
        page = client.get("/stats", headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert 'id="ctr-over-time"' in page.text and 'id="ctr-by-position"' in page.text
        assert "<script" not in page.text


def test_stats_need_an_admin_token_configured(start_sample_app):
    client = start_sample_app()
    assert_error(client.get("/v1/stats", headers=ADMIN), 403, "RECSYS_ADMIN_TOKEN")
    assert_error(client.get("/stats", headers=ADMIN), 403, "RECSYS_ADMIN_TOKEN")


def test_hostile_names_are_escaped_on_the_page(start_sample_app, tmp_path):
    client = start_sample_app(admin_token=ADMIN_TOKEN)
    store = FeedbackStore(client.app.state.settings.events_path())
    store.add_impression("imp-hostile-000000001", "a-001", "<script>alert(1)</script>", ["a-002"])
    store.close()
    page = client.get("/stats", headers=ADMIN).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_bad_variants_stop_the_service_at_start_up(served_index_dir, tmp_path, monkeypatch):
    issue_example = {"control": {}, "semantic": {"semantic_weight": 0.3}}
    with pytest.raises(ValueError, match="variant 'semantic': semantic_weight is a build parameter"):
        create_app(Settings(index=served_index_dir, events_db=tmp_path / "e.sqlite3", variants=issue_example))
    monkeypatch.setenv("RECSYS_VARIANTS", json.dumps(issue_example))
    result = CliRunner().invoke(main, ["serve", str(served_index_dir)])
    assert result.exit_code == 2
    assert result.output.startswith("error: variant 'semantic': semantic_weight is a build parameter")


def test_rollups_run_in_the_service(make_client):
    client = make_client(rollup_seconds=0.2)
    client.post("/v1/widget/impressions", json=impression(shown(client)), headers=OWN)
    path = client.app.state.settings.events_path()
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(path) as db:
            rolled = db.execute("SELECT COALESCE(SUM(impressions), 0) FROM feedback_variants_hourly").fetchone()[0]
        if rolled == 1:
            break
        assert time.monotonic() < deadline, "no roll-up ran"
        time.sleep(0.1)


def test_eval_reads_the_services_click_log(client, sample_index, tmp_path):
    """`recsys eval DIR EVENTS_DB` gives what the same impressions and clicks give as a JSONL click log."""
    log = []
    for n, article_id in enumerate(["a-001", "a-012", "a-020", "a-033"]):
        for round_ in range(3):
            ids = shown(client, article_id, "control")
            imp_id = f"imp-eval-{n}-{round_:09d}"
            client.post("/v1/widget/impressions", json=impression(ids, imp_id, article_id, "control"), headers=OWN)
            position = 1 + (n + round_) % 3
            client.post("/v1/widget/clicks", json={"impression_id": imp_id, "article_id": article_id, "variant": "control",
                                                   "target_id": ids[position - 1], "position": position}, headers=OWN)
            log.append({"id": article_id, "impressions": ids, "clicks": [ids[position - 1]]})
    jsonl = tmp_path / "clicks.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in log), encoding="utf-8")
    events = client.app.state.settings.events_path()
    from_events = recsys.evaluate(sample_index, events, k=5)
    assert from_events == recsys.evaluate(sample_index, jsonl, k=5)
    assert from_events["queries"] == 4
    result = CliRunner().invoke(main, ["eval", str(client.app.state.settings.index), str(events), "-k", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ndcg@5"] == pytest.approx(from_events["ndcg@5"])
