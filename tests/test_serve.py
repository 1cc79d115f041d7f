"""A real `recsys serve` (uvicorn on 127.0.0.1): acknowledged events survive kill -9, views of new
articles survive restarts and reloads, and a poison log entry is quarantined, not fatal."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

TOKEN = "durability-token"
ADMIN_TOKEN = "admin-durability-token"
# The tests read view counts and a metadata field back, so the servers show them.
PUBLIC_FIELDS = '["id", "title", "url", "section", "tags", "author", "published_at", "score", "views", "version"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(index_dir, events_db, port, workers=1):
    env = {**os.environ, "RECSYS_API_TOKEN": TOKEN, "RECSYS_ADMIN_TOKEN": ADMIN_TOKEN,
           "RECSYS_PUBLIC_FIELDS": PUBLIC_FIELDS}
    process = subprocess.Popen([sys.executable, "-m", "recsys", "serve", str(index_dir), "--port", str(port),
                                "--events-db", str(events_db), "--workers", str(workers)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120  # generous: a shared CI machine can be slow
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    kill_9(process)
    raise AssertionError("server did not become ready in 120 s")


def kill_9(process) -> None:
    """SIGKILL the server and its workers (its whole process group), as a crash would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


HEADERS = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NEW = {"title": "Ostrander Maritime Museum adds a lighthouse gallery",
       "body": "The Ostrander Maritime Museum opened a lighthouse gallery after its reopening.", "section": "culture"}


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_acknowledged_writes_survive_kill_9_with_two_workers(sample_index, tmp_path):
    index_dir = sample_index.save(tmp_path / "news")
    events_db, port = tmp_path / "events.sqlite3", free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(index_dir, events_db, port, workers=2)
    try:
        before = httpx.get(f"{base}/v1/articles/a-010").json()["article"]["views"]
        acknowledged = 0
        for batch in range(10):
            events = [{"id": f"b{batch}-{i}", "article_id": "a-010", "type": "view"} for i in range(20)]
            reply = httpx.post(f"{base}/v1/events", json={"events": events}, headers=HEADERS, timeout=10).json()
            acknowledged += reply["accepted"]
        assert acknowledged == 200
        assert httpx.put(f"{base}/v1/articles/n-1", json=NEW, headers=HEADERS).json()["created"] is True
        assert httpx.delete(f"{base}/v1/articles/a-012-u", headers=HEADERS).json()["deleted"] is True
        for _ in range(20):  # new connections: both workers answer, and both must know the writes
            with httpx.Client() as fresh:
                assert fresh.get(f"{base}/v1/articles/a-010").json()["article"]["views"] == before + 200
                assert fresh.get(f"{base}/v1/articles/n-1").status_code == 200
                assert fresh.get(f"{base}/v1/articles/a-012-u").status_code == 404
    finally:
        kill_9(server)
    server = start(index_dir, events_db, port)
    try:
        assert httpx.get(f"{base}/v1/articles/a-010").json()["article"]["views"] == before + 200
        assert httpx.get(f"{base}/v1/articles/n-1").json()["article"]["title"] == NEW["title"]
        assert httpx.get(f"{base}/v1/articles/a-012-u").status_code == 404
        retry = [{"id": "b0-0", "article_id": "a-010", "type": "view"}]
        reply = httpx.post(f"{base}/v1/events", json={"events": retry}, headers=HEADERS)
        assert reply.json() == {"ok": True, "accepted": 0, "duplicates": 1}
    finally:
        kill_9(server)


def test_parallel_readers_and_writers_see_no_errors_and_no_torn_reads(sample_index, tmp_path):
    import threading

    index_dir = sample_index.save(tmp_path / "news")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(index_dir, tmp_path / "events.sqlite3", port)
    failures: list[str] = []
    stop = threading.Event()

    def writer(name: str) -> None:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as http:
            for n in range(40):
                body = {"title": f"{name} version {n}", "body": f"Marlow Bay harbour ferry timetable {name} {n}",
                        "section": "politics", "version": n}
                reply = http.put(f"/v1/articles/{name}", json=body)
                if reply.status_code != 200:
                    failures.append(f"PUT {reply.status_code} {reply.text}")
                events = [{"id": f"{name}-{n}-{i}", "article_id": "a-020", "type": "view"} for i in range(5)]
                if http.post("/v1/events", json={"events": events}).status_code != 200:
                    failures.append("events")
                if n % 10 == 9 and http.delete(f"/v1/articles/{name}").status_code != 200:
                    failures.append("DELETE")

    def reader() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                read_once(http)

    def read_once(http) -> None:
        try:
            for name in ("live-1", "live-2"):
                reply = http.get(f"/v1/articles/{name}")
                if reply.status_code == 200:
                    article = reply.json()["article"]
                    if article["title"] != f"{name} version {article['version']}":
                        failures.append(f"torn read: {article}")
                elif reply.status_code != 404:
                    failures.append(f"GET article {reply.status_code}")
            related = http.get("/v1/articles/a-020/related", params={"k": 10})
            draft = http.post("/v1/related", json={"text": "harbour ferry timetable", "k": 5})
            popular = http.get("/v1/popular", params={"k": 5})
            for reply in (related, draft, popular):
                if reply.status_code != 200 or not reply.json()["ok"]:
                    failures.append(f"{reply.request.url} {reply.status_code} {reply.text[:200]}")
        except httpx.HTTPError as error:
            failures.append(f"{type(error).__name__}: {error}")

    try:
        readers = [threading.Thread(target=reader) for _ in range(4)]
        writers = [threading.Thread(target=writer, args=(name,)) for name in ("live-1", "live-2")]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
        assert not failures, failures[:5]
        views = httpx.get(f"{base}/v1/articles/a-020").json()["article"]["views"]
        assert views == sample_index.article("a-020").views + 2 * 40 * 5
    finally:
        kill_9(server)


def views(base: str, article_id: str) -> int:
    return httpx.get(f"{base}/v1/articles/{article_id}").json()["article"]["views"]


def post_views(base: str, article_id: str, n: int, prefix: str) -> None:
    events = [{"id": f"{prefix}-{i}", "article_id": article_id, "type": "view"} for i in range(n)]
    assert httpx.post(f"{base}/v1/events", json={"events": events}, headers=HEADERS).json()["accepted"] == n


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_a_poison_log_entry_is_quarantined_and_new_articles_keep_their_views_across_restarts(sample_index,
                                                                                             tmp_path):
    """Two start-ups share one server's life, to keep the suite fast: a log entry that cannot be
    replayed is set aside (the server starts, and starts again); views of articles added since the
    build, and views reported before their article existed, survive kill -9 and reload."""
    import json
    import sqlite3

    from recsys import Article
    from recsys.server.changelog import ChangeLog

    index_dir = sample_index.save(tmp_path / "news")
    events_db, port = tmp_path / "events.sqlite3", free_port()
    base = f"http://127.0.0.1:{port}"
    log = ChangeLog(events_db)
    log.append_upsert(Article.from_dict({**NEW, "id": "good-1"}))
    log.close()
    poison = {**NEW, "id": "bad-1", "views": 10**20}  # as an older version could have logged it
    with sqlite3.connect(events_db) as db:
        db.execute("INSERT INTO article_changes (article_id, op, record) VALUES (?, 'upsert', ?)",
                   ("bad-1", json.dumps(poison)))
    log = ChangeLog(events_db)
    log.append_upsert(Article.from_dict({**NEW, "id": "good-2", "title": "Lighthouse gallery opens"}))
    log.append_delete("a-012-u")
    log.close()

    def quarantine_holds() -> None:
        assert httpx.get(f"{base}/ready").status_code == 200
        related = httpx.get(f"{base}/v1/articles/a-012/related", params={"k": 3})
        assert related.status_code == 200 and related.json()["results"]
        assert httpx.get(f"{base}/v1/articles/good-1").status_code == 200  # the entries after it: applied
        assert httpx.get(f"{base}/v1/articles/good-2").json()["article"]["title"] == "Lighthouse gallery opens"
        assert httpx.get(f"{base}/v1/articles/a-012-u").status_code == 404
        assert httpx.get(f"{base}/v1/articles/bad-1").status_code == 404
        assert "recsys_quarantined_changes 1.0" in httpx.get(f"{base}/metrics").text

    server = start(index_dir, events_db, port)
    try:
        quarantine_holds()
        built = views(base, "a-010")
        assert httpx.put(f"{base}/v1/articles/n-1", json=NEW, headers=HEADERS).json()["created"] is True
        post_views(base, "n-1", 7, "new")
        post_views(base, "a-010", 5, "built")
        replaced = {**NEW, "title": "Ostrander Maritime Museum: the new gallery in pictures"}
        assert httpx.put(f"{base}/v1/articles/a-010", json=replaced, headers=HEADERS).json()["created"] is False
        post_views(base, "later-1", 3, "early")  # reported before the article exists
        assert httpx.put(f"{base}/v1/articles/later-1", json=NEW, headers=HEADERS).json()["created"] is True
        expected = {"n-1": 7, "a-010": built + 5, "later-1": 3}
        assert {i: views(base, i) for i in expected} == expected
    finally:
        kill_9(server)
    server = start(index_dir, events_db, port)  # it starts again
    try:
        quarantine_holds()
        assert {i: views(base, i) for i in expected} == expected
        reply = httpx.post(f"{base}/v1/admin/reload", headers=ADMIN, timeout=60)
        assert reply.status_code == 200, reply.text
        assert {i: views(base, i) for i in expected} == expected
        assert httpx.get(f"{base}/v1/articles/a-010").json()["article"]["title"] == replaced["title"]
    finally:
        kill_9(server)
    with sqlite3.connect(events_db) as db:
        rows = db.execute("SELECT seq, article_id, op, record, error FROM dead_letters").fetchall()
        remaining = db.execute("SELECT article_id FROM article_changes ORDER BY seq").fetchall()
    assert [(seq, article_id, op) for seq, article_id, op, _, _ in rows] == [(2, "bad-1", "upsert")]
    assert json.loads(rows[0][3])["views"] == 10**20 and "views" in rows[0][4]
    assert remaining[:3] == [("good-1",), ("good-2",), ("a-012-u",)]
