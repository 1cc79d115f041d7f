"""A real `recsys serve` (uvicorn on 127.0.0.1): acknowledged events survive kill -9."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

TOKEN = "durability-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(index_dir, events_db, port, workers=1):
    env = {**os.environ, "RECSYS_API_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "recsys", "serve", str(index_dir), "--port", str(port),
                                "--events-db", str(events_db), "--workers", str(workers)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    kill_9(process)
    raise AssertionError("server did not become ready in 60 s")


def kill_9(process) -> None:
    """SIGKILL the server and its workers (its whole process group), as a crash would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


HEADERS = {"Authorization": f"Bearer {TOKEN}"}
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
