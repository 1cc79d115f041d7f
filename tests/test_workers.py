"""Several workers on one SQLite file: retrying a generation, single-flight compaction with an atomic
switch, kill -9 in the middle of one, warm kernels at start-up, and metrics summed over workers.

The server tests start a real `recsys serve --workers 2` on 127.0.0.1 (see test_serve)."""

import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_serve import ADMIN, ADMIN_TOKEN, HEADERS, free_port, kill_9, start

import recsys
from recsys.index import generations
from recsys.errors import IndexFormatError
from recsys.server.events import Event
from recsys.server.errors import ServiceError
from recsys.server.state import ServingState

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="flock and kill -9 are POSIX")


def article(article_id: str, text: str = "Ostrander harbour lighthouse gallery reopens") -> dict:
    return {"id": article_id, "title": f"{text} ({article_id})", "body": f"{text}. The museum said so.",
            "section": "culture"}


# ---------------------------------------------------------------- in-process: two "workers"
def test_a_worker_that_cannot_open_a_new_generation_keeps_serving_and_retries(sample_index, sample_articles,
                                                                               tmp_path, monkeypatch):
    old = sample_index.save(tmp_path / "news")
    new = recsys.RelatedIndex.build(sample_articles[:20]).save(tmp_path / "smaller")
    db = tmp_path / "events.sqlite3"
    worker_a, worker_b = ServingState(old, db, retry_delay=0), ServingState(old, db, retry_delay=0)
    patient = ServingState(old, db, retry_delay=60)
    try:
        assert len(worker_a.sync()) == len(worker_b.sync()) == len(patient.sync()) == 60
        worker_a.reload(new)
        assert len(worker_a.sync()) == 20
        os.rename(new, tmp_path / "away")  # B's first attempt fails
        assert len(worker_b.sync()) == 60 and len(patient.sync()) == 60  # both keep serving the old index
        worker_a.upsert(recsys.Article.from_dict(article("n-1")))
        assert "n-1" in worker_b.sync()  # and it stays caught up with the log meanwhile
        os.rename(tmp_path / "away", new)
        assert len(worker_b.sync()) == 21  # the next sync opens the new generation
        assert len(patient.sync()) == 61  # not yet: at most one attempt per retry_delay
        later = time.monotonic() + 61
        monkeypatch.setattr("recsys.server.state.time.monotonic", lambda: later)
        assert len(patient.sync()) == 21
    finally:
        for state in (worker_a, worker_b, patient):
            state.close()


def test_a_crash_between_the_switch_and_the_log_truncation_replays_idempotently(sample_index, tmp_path):
    """Steps (a) and (b) of a compaction without (c): the folded entries are replayed on top of the new
    generation, and every article and view is there exactly once."""
    from recsys.server import compaction

    index_dir = sample_index.save(tmp_path / "news")
    db = tmp_path / "events.sqlite3"
    state = ServingState(index_dir, db)
    try:
        state.sync()
        for i in range(5):
            state.upsert(recsys.Article.from_dict(article(f"n-{i}")))
        state.upsert(recsys.Article.from_dict({**article("a-010"), "title": "A new title for a-010"}))
        state.delete("a-001")
        state.add_events([Event(f"e-{i}", article_id, "view", time.time())
                          for i, article_id in enumerate(["n-0"] * 4 + ["a-010"] * 3)])
        expected = {"n-0": 4, "a-010": sample_index.article("a-010").views + 3}
        upto = state.changes.last_seq()
        target = generations.next_directory(index_dir)
        compaction.rebuild(index_dir, db, upto, target)  # (a)
        generations.switch(index_dir, target)  # (b), then "the process dies"
    finally:
        state.close()
    assert len(recsys.RelatedIndex.load(index_dir)) == 64  # what `recsys related` etc. read now
    restarted = ServingState(index_dir, db)
    try:
        index = restarted.sync()
        assert len(index) == 64 and index.pending_changes == 6  # the upserts again; the delete: a no-op
        assert {i: index.article(i).views for i in expected} == expected
        assert index.article("a-010").title == "A new title for a-010" and "a-001" not in index
    finally:
        restarted.close()


def test_a_failed_rebuild_answers_its_one_line_error_and_the_old_index_stays(sample_index, tmp_path):
    index_dir = sample_index.save(tmp_path / "news")
    state = ServingState(index_dir, tmp_path / "events.sqlite3")
    try:
        state.sync()
        state.upsert(recsys.Article.from_dict(article("n-1")))
        (index_dir / "manifest.json").write_text("{not json", encoding="utf-8")  # the child cannot load it
        with pytest.raises(ServiceError) as caught:
            state.compact()
        assert caught.value.status == 500
        message = str(caught.value)
        assert "compaction failed" in message and "manifest.json" in message and "not valid JSON" in message
        assert "Traceback" not in message and "\n" not in message
        assert len(state.sync()) == 61 and not (index_dir / "CURRENT").exists()
    finally:
        state.close()


def test_the_pointer_may_not_lead_out_of_the_index_directory(sample_index, tmp_path):
    index_dir = sample_index.save(tmp_path / "news")
    assert generations.current(index_dir) == index_dir  # no pointer: the directory itself
    outside = sample_index.save(tmp_path / "outside")
    (index_dir / "generations").mkdir()
    (index_dir / "generations" / "7").symlink_to(outside)
    for pointer in ("../outside", str(outside), "generations/7", "", "generations/../../outside"):
        (index_dir / "CURRENT").write_text(pointer + "\n", encoding="utf-8")
        with pytest.raises(IndexFormatError, match="CURRENT"):
            recsys.RelatedIndex.load(index_dir)
    (index_dir / "CURRENT").unlink()
    (index_dir / "CURRENT").symlink_to(tmp_path / "pointer")
    (tmp_path / "pointer").write_text("generations/1\n", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="symbolic link"):
        generations.current(index_dir)


def test_the_kernels_are_warm_before_the_service_is_ready(index_dir_60):
    """In a fresh interpreter: once the app has started (the lifespan ran), the live search kernel is
    compiled, before any request."""
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from recsys.index import kernels as _kernels\n"
        "from recsys.server import Settings, create_app\n"
        "settings = Settings(index=sys.argv[1], events_db=sys.argv[2])\n"
        "with TestClient(create_app(settings)):\n"
        "    print(len(_kernels.live_search.signatures), len(_kernels.query_scores.signatures))\n")
    done = subprocess.run([sys.executable, "-c", script, str(index_dir_60), str(index_dir_60.parent / "w.sqlite3")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) >= 1


def test_read_in_thread_runs_the_query_in_the_thread_pool(index_dir_60):
    import asyncio

    state = ServingState(index_dir_60, index_dir_60.parent / "t.sqlite3")
    try:
        state.sync()

        async def both():
            return (await state.read(lambda index: threading.get_ident()),
                    await state.read_in_thread(lambda index: (threading.get_ident(), len(index))))

        loop_thread = threading.get_ident()
        on_loop, (in_pool, articles) = asyncio.run(both())
        assert on_loop == loop_thread and in_pool != loop_thread and articles == 60
    finally:
        state.close()


@pytest.fixture(scope="module")
def index_dir_60(sample_index, tmp_path_factory):
    return sample_index.save(tmp_path_factory.mktemp("warm") / "news")


# ---------------------------------------------------------------- a real server with two workers
@pytest.fixture(scope="module")
def two_workers(sample_index, tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    index_dir = sample_index.save(root / "news")
    port = free_port()
    server = start(index_dir, root / "events.sqlite3", port, workers=2)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "index": index_dir, "db": root / "events.sqlite3"}
    finally:
        kill_9(server)


def watch_loadable(path, failures: list, stop: threading.Event) -> threading.Thread:
    """Load the index at ``path`` again and again until ``stop``; every failure is noted."""
    def loop():
        loads = 0
        while not stop.is_set() or not loads:
            try:
                recsys.RelatedIndex.load(path)
                loads += 1
            except Exception as error:  # noqa: BLE001
                failures.append(f"{type(error).__name__}: {error}")
            time.sleep(0.002)  # leave the CPU to the compaction
        failures.append(loads)

    thread = threading.Thread(target=loop)
    thread.start()
    return thread


@POSIX
def test_concurrent_compactions_on_two_workers_keep_every_write_exactly_once(two_workers):
    base, index_dir = two_workers["base"], two_workers["index"]
    with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as http:
        for i in range(20):
            assert http.put(f"/v1/articles/w-{i:02d}", json=article(f"w-{i:02d}")).status_code == 200
        deleted = [f"a-{i:03d}" for i in range(1, 6)]
        for article_id in deleted:
            assert http.delete(f"/v1/articles/{article_id}").status_code == 200
        events = [{"id": f"v-{i}", "article_id": "w-00", "type": "view"} for i in range(6)]
        assert http.post("/v1/events", json={"events": events}).json()["accepted"] == 6
    replies, failures, stop = [], [], threading.Event()
    watcher = watch_loadable(index_dir, failures, stop)

    def compact():
        with httpx.Client(base_url=base, timeout=120) as fresh:  # own connection: either worker
            replies.append(fresh.post("/v1/admin/compact", headers=ADMIN))

    threads = [threading.Thread(target=compact) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    stop.set()
    watcher.join(timeout=30)
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    assert all(r.json()["articles"] == 75 for r in replies)
    loads = failures.pop()
    assert not failures and loads > 0  # `indexes/news` was a loadable index at every moment
    assert sorted(os.listdir(index_dir / "generations")) == ["1"]  # one rebuild: the other one waited
    assert generations.current(index_dir) == index_dir / "generations" / "1"
    on_disk = recsys.RelatedIndex.load(index_dir)
    assert len(on_disk) == 75 and on_disk.pending_changes == 0
    with sqlite3.connect(two_workers["db"]) as db:
        assert db.execute("SELECT COUNT(*) FROM article_changes").fetchone()[0] == 0
        recorded = db.execute("SELECT value FROM serving WHERE key = 'index_path'").fetchone()[0]
    assert Path(recorded).resolve() == index_dir.resolve()  # the configured path stays the one served
    for _ in range(6):  # fresh connections: both workers serve the new generation
        with httpx.Client(base_url=base, timeout=30) as fresh:
            assert fresh.get("/ready").json()["articles"] == 75
            assert all(fresh.get(f"/v1/articles/w-{i:02d}").status_code == 200 for i in range(20))
            assert all(fresh.get(f"/v1/articles/{i}").status_code == 404 for i in deleted)
            assert fresh.get("/v1/articles/w-00").json()["article"]["views"] == 6


@POSIX
def test_metrics_count_the_requests_of_every_worker(two_workers):
    import http.client

    base = two_workers["base"]
    port = int(base.rsplit(":", 1)[1])
    for _ in range(200):  # a new connection each time, so both workers answer some
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
        connection.close()
    counts = set()
    for _ in range(8):
        text = httpx.get(f"{base}/metrics").text
        counts.add(next(sample.value for family in text_string_to_metric_families(text)
                        if family.name == "recsys_http_requests" for sample in family.samples
                        if sample.name == "recsys_http_requests_total"
                        and sample.labels == {"method": "GET", "route": "/health", "status": "200"}))
    assert len(counts) == 1 and counts.pop() >= 200, counts


# ---------------------------------------------------------------- kill -9 in the middle of a compaction
N_SYNTHETIC = 2000  # the rebuild process takes a few seconds


def synthetic_articles(n: int, seed: int = 7) -> list[dict]:
    """A corpus big enough that a rebuild takes a few seconds: made-up words, 40 topics."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ren", "tas", "vu", "pel", "dor", "sin", "ga", "bri", "om", "tel", "ux"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(6000)]
    topics = [rng.sample(vocabulary, 300) for _ in range(40)]
    rows = []
    for i in range(n):
        words = [rng.choice(topics[i % 40]) if rng.random() < 0.5 else rng.choice(vocabulary) for _ in range(180)]
        rows.append({"id": f"s-{i:05d}", "title": " ".join(words[:8]), "body": " ".join(words),
                     "section": "world", "views": i % 50})
    return rows


def send_compaction(port: int) -> socket.socket:
    """Send POST /v1/admin/compact and return without waiting for the answer."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST /v1/admin/compact HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                 "Content-Length: 0\r\n\r\n".encode())
    return sock


@POSIX
def test_kill_9_during_a_compaction_loses_no_acknowledged_write(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in synthetic_articles(N_SYNTHETIC)), encoding="utf-8")
    index_dir = recsys.RelatedIndex.build(corpus).save(tmp_path / "news")
    db, port = tmp_path / "events.sqlite3", free_port()
    base = f"http://127.0.0.1:{port}"
    present, gone, views = {f"s-{i:05d}" for i in range(N_SYNTHETIC)}, set(), {}

    def write(round_: int) -> None:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as http:
            for i in range(8):
                new = f"r{round_}-{i}"
                assert http.put(f"/v1/articles/{new}", json=article(new, "kalo tasvu mipel dorsin")).status_code == 200
                present.add(new)
            for i in range(3):
                old = f"s-{round_ * 3 + i:05d}"
                assert http.delete(f"/v1/articles/{old}").status_code == 200
                present.discard(old)
                gone.add(old)
            events = [{"id": f"r{round_}-v{i}", "article_id": f"r{round_}-0", "type": "view"}
                      for i in range(round_ + 2)]
            assert http.post("/v1/events", json={"events": events}).json()["accepted"] == round_ + 2
            views[f"r{round_}-0"] = round_ + 2

    def check() -> None:
        assert len(recsys.RelatedIndex.load(index_dir)) >= N_SYNTHETIC - len(gone)  # loadable after the crash
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/ready").json() == {"ok": True, "status": "ready", "articles": len(present)}
            assert all(http.get(f"/v1/articles/{i}").status_code == 200 for i in present if not i.startswith("s-"))
            assert all(http.get(f"/v1/articles/{i}").status_code == 404 for i in gone)
            assert {i: http.get(f"/v1/articles/{i}").json()["article"]["views"] for i in views} == views

    def generation_being_written() -> bool:  # (or just written, if the polling misses that moment)
        folder = index_dir / "generations"
        return folder.is_dir() and any(True for _ in folder.iterdir())

    # Kill right after the request is sent (one worker), then while the new generation is being
    # written (two workers and the rebuild process); one-worker servers are quicker to start.
    server = start(index_dir, db, port)
    try:
        for round_, (wait_until, workers) in enumerate([(lambda: True, 2), (generation_being_written, 1)]):
            write(round_)
            sock = send_compaction(port)
            deadline = time.monotonic() + 60
            while not wait_until() and time.monotonic() < deadline:
                time.sleep(0.01)
            kill_9(server)
            sock.close()
            server = start(index_dir, db, port, workers=workers)
            check()
        write(2)  # and a compaction now completes: no stale lock, and the orphans are removed
        reply = httpx.post(f"{base}/v1/admin/compact", headers=ADMIN, timeout=120)
        assert reply.status_code == 200, reply.text
        assert reply.json()["articles"] == len(present) and reply.json()["pending_changes"] == 0
        check()
        assert len(os.listdir(index_dir / "generations")) <= 2  # the killed compactions' orphans are gone
    finally:
        kill_9(server)
